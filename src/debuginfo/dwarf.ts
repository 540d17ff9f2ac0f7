// Source frames for a pc from DWARF: which compile unit covers it
// (.debug_aranges, else each unit's root DIE), its subprogram and inlined
// subroutine DIEs (DWARF 5 §3.3, §3.3.8) and its line table (§6.2). Read
// lazily: the ELF section headers on open, then only the units pcs fall in,
// each parsed once and cached (a few at a time, so memory stays flat).
import { Bytes } from "../core/bytes.ts";
import { lookupLine, parseLineProgram, type LineTable } from "./line.ts";
import { openSections, type DebugSectionName, type Section } from "./sections.ts";
import type { ByteSource } from "./source.ts";
import {
  DW_AT_abstract_origin, DW_AT_addr_base, DW_AT_call_all_calls, DW_AT_call_all_tail_calls, DW_AT_call_column,
  DW_AT_call_file, DW_AT_call_line, DW_AT_call_origin, DW_AT_call_return_pc, DW_AT_call_tail_call, DW_AT_call_target,
  DW_AT_comp_dir, DW_AT_declaration, DW_AT_GNU_addr_base, DW_AT_GNU_all_call_sites, DW_AT_GNU_all_tail_call_sites,
  DW_AT_GNU_call_site_target, DW_AT_GNU_tail_call, DW_TAG_call_site, DW_TAG_GNU_call_site, DW_AT_high_pc, DW_AT_language, DW_AT_linkage_name, DW_AT_low_pc, DW_AT_MIPS_linkage_name, DW_AT_name,
  DW_AT_ranges, DW_AT_rnglists_base, DW_AT_specification, DW_AT_stmt_list, DW_AT_str_offsets_base, DW_TAG_class_type,
  DW_TAG_compile_unit, DW_TAG_inlined_subroutine, DW_TAG_namespace, DW_TAG_skeleton_unit, DW_TAG_structure_type,
  DW_TAG_subprogram, DW_TAG_union_type, DW_UT_compile, DW_UT_partial, DW_UT_skeleton, DW_UT_split_compile,
  MAX_UNIT_HEADER_BYTES, addrAt, decode, fixedSize, initialLength, offsetAt, parseAbbrevs, parseUnitHeader, FormReader,
  type AbbrevTable, type UnitHeader, type Value,
} from "./unit.ts";

export interface SourceFrame {
  /** As gdb prints it (DW_AT_name, through DW_AT_abstract_origin / DW_AT_specification; C++ qualified by namespace and class). */
  function: string | null;
  /** Full path as the line table gives it (include directory joined; comp_dir when relative). */
  file: string | null;
  line: number | null;
  column: number | null;
  /** True for a function gcc inlined into the next frame. */
  inlined: boolean;
}

/** Where a call goes, as gdb's call_site_target: function entry addresses, or a name its symbol tables resolve. */
export type CallTarget =
  | { kind: "addresses"; addresses: bigint[] }
  | { kind: "name"; name: string }
  | { kind: "unknown"; why: string };

/** A DW_TAG_call_site (or DW_TAG_GNU_call_site): pc is its return address (DW_AT_call_return_pc; DW_AT_low_pc in the GNU form). */
export interface CallSite {
  pc: bigint;
  target: CallTarget;
}

/** The concrete function (no inlined one) at a pc, and its tail calls as gdb's TYPE_TAIL_CALL_LIST has them. */
export interface FunctionCalls {
  /** The entry pc: its first range's start (gdb's block entry_pc). */
  entry: bigint;
  /** Its DW_AT_call_tail_call sites, last first (gdb prepends); empty unless the function says its call list is complete. */
  tailCalls: CallSite[];
}

/** Warnings kept at most: the first ones name the problem, more would only grow memory. */
export const MAX_WARNINGS = 64;
/** Units at most in .debug_info: a 1 GiB debug file has ~100k; more is hostile. */
export const MAX_UNITS = 1_000_000;
/** Parsed units kept at most (LRU): a backtrace touches a handful; this bounds memory. */
export const MAX_CACHED_UNITS = 16;
/** Abbreviation tables kept at most (LRU), for the same reason. */
export const MAX_CACHED_ABBREVS = 32;
/** Strings kept at most per section before the cache is dropped. */
const MAX_CACHED_STRINGS = 65536;
/** A string in .debug_str is at most this long (C++ template names run to a few KiB). */
export const MAX_STRING_BYTES = 65536;
/** One unit's bytes at most: gcc's largest CUs (LTO) are tens of MiB. */
export const MAX_UNIT_BYTES = 256 * 1024 * 1024;
/** DIE nesting at most: real code nests < 50 deep (namespaces, classes, blocks, inlines). */
export const MAX_DIE_DEPTH = 1024;
/** Abstract-origin / specification hops at most: gcc makes 2 (concrete → abstract → declaration); more is a cycle. */
export const MAX_ORIGIN_HOPS = 8;
/** Enclosing namespaces/classes at most in a qualified name. */
const MAX_QUALIFY_DEPTH = 32;
/** Entries at most in one range list: gcc's hot/cold splits make a few; more is hostile. */
export const MAX_RANGES = 65536;
/** Address ranges at most in the unit index (.debug_aranges or units' roots). */
export const MAX_INDEX_RANGES = 4_000_000;
/** Reads that need "enough" bytes start with this window and grow 4x up to the section end. */
const FIRST_WINDOW = 4096;
/** An abbreviation table's first window: glibc's run to 5 KiB, C++ units' to 20 KiB; parsing stops at its end. */
const ABBREV_WINDOW = 64 * 1024;

interface IndexRange {
  lo: bigint;
  hi: bigint;
  unit: number;
}

/** What a unit's root DIE says. */
interface UnitRoot {
  header: UnitHeader;
  tag: number;
  name: string | null;
  compDir: string | null;
  stmtList: number | undefined;
  base: bigint;
  ranges: bigint[];
  strOffsetsBase: number | undefined;
  addrBase: number;
  rnglistsBase: number;
  /** A C unit (DW_AT_language C89..C17): there gdb names a function by DW_AT_linkage_name when it has one. */
  c: boolean;
}

/** DW_LANG_C89, C, C99, C11, C17 (DWARF 5 Table 7.17). */
const C_LANGUAGES = new Set([0x01, 0x02, 0x0c, 0x1d, 0x2c]);

/** A subprogram or inlined subroutine that has code. */
interface Scope {
  tag: number;
  die: number;
  parent: number;
  depth: number;
  ranges: bigint[];
  /** Resolved on first use (undefined until then): most scopes of a unit are never on a backtrace. */
  name: string | null | undefined;
  callFile: number;
  callLine: number;
  callColumn: number;
}

/** A call site DIE as the walk saw it. */
interface CallSiteRec {
  pc: bigint;
  tail: boolean;
  /** DW_AT_call_target / DW_AT_GNU_call_site_target is there: a DWARF expression of the caller's registers. */
  targetExpr: boolean;
  target: Ref | undefined;
  /** The innermost scope holding it (an inlined subroutine or the subprogram), -1 at unit level. */
  scope: number;
}

interface UnitData {
  root: UnitRoot;
  scopes: Scope[];
  callSites: CallSiteRec[];
  /** Call sites by return pc, and scopes by DIE offset: made on first use. */
  sitesByPc: Map<bigint, CallSiteRec> | undefined;
  scopesByDie: Map<number, Scope> | undefined;
  /** The DIEs names come through (subprograms, namespaces, classes), by offset. */
  recs: Map<number, DieRec>;
  lines: LineTable | null | undefined;
}

/** A reference to a DIE: in this file's .debug_info, or the supplementary (dwz) file's. */
interface Ref {
  alt: boolean;
  off: number;
}

/** A DIE the name of a scope may come through. */
interface DieRec {
  tag: number;
  parent: number;
  name: Value | undefined;
  linkage: Value | undefined;
  origin: Ref | undefined;
  spec: Ref | undefined;
  /** DW_AT_declaration (a function defined elsewhere: a call to it names it). */
  declaration: boolean;
  /** DW_AT_call_all_calls, DW_AT_call_all_tail_calls or their GNU forms: its list of tail calls is complete. */
  allCalls: boolean;
}

export interface OpenOptions {
  /** The supplementary file named by .gnu_debugaltlink (dwz -m), where shared DIEs and strings live. */
  supplementary?: ByteSource;
}

/** DIEs read attribute by attribute and kept: the ones with code (scopes) or names scopes come through. */
const RECORDED = new Set([DW_TAG_subprogram, DW_TAG_inlined_subroutine, DW_TAG_call_site, DW_TAG_GNU_call_site]);
const CALL_SITES = new Set([DW_TAG_call_site, DW_TAG_GNU_call_site]);
/** A function's flags that say its call sites are all described (DWARF 5 §3.3.1.3; gcc's GNU forms): gdb's TAIL_CALL_LIST_COMPLETE. */
const ALL_CALLS = [DW_AT_call_all_calls, DW_AT_call_all_tail_calls, DW_AT_GNU_all_call_sites, DW_AT_GNU_all_tail_call_sites];
/** Parents that qualify a C++ name (gdb: ns::Class::method). */
const QUALIFIERS = new Set([DW_TAG_namespace, DW_TAG_class_type, DW_TAG_structure_type, DW_TAG_union_type]);
/** The attributes of a recorded DIE that are decoded; the rest are skipped by form. */
const WANTED = new Set([
  DW_AT_name, DW_AT_low_pc, DW_AT_high_pc, DW_AT_ranges, DW_AT_abstract_origin, DW_AT_specification, DW_AT_call_file,
  DW_AT_call_line, DW_AT_call_column, DW_AT_linkage_name, DW_AT_MIPS_linkage_name, DW_AT_declaration, DW_AT_call_return_pc,
  DW_AT_call_origin, DW_AT_call_target, DW_AT_GNU_call_site_target, DW_AT_call_tail_call, DW_AT_GNU_tail_call, ...ALL_CALLS,
]);

export class DwarfInfo {
  private index: IndexRange[] | undefined;
  private indexCovers = new Set<number>();
  private scannedAll = false;
  private headers: UnitHeader[] | undefined;
  private readonly roots = new Map<number, UnitRoot | null>();
  private readonly units = new Map<number, UnitData>();
  private readonly abbrevs = new Map<number, AbbrevTable>();
  private readonly strings = new Map<string, string | null>();
  private readonly info: Section;
  private alt: DwarfInfo | undefined;
  /** .gnu_debugaltlink (dwz): the supplementary file to pass as options.supplementary, by path and build-id. */
  readonly altLink: { path: string; buildId: string } | undefined;

  /** warnings is shared with the sections, which report late (a compressed section inflates on first use). */
  private constructor(private readonly secs: Partial<Record<DebugSectionName, Section>>, altLink: DwarfInfo["altLink"], private readonly warningList: string[]) {
    this.info = secs.info as Section;
    this.altLink = altLink;
  }

  /** Parses the ELF header + section headers from src; undefined when there is no .debug_info (or .zdebug_info). Never throws on hostile data. */
  static open(src: ByteSource, options: OpenOptions = {}): DwarfInfo | undefined {
    const warnings: string[] = [];
    const info = DwarfInfo.openWith(src, warnings);
    if (info && options.supplementary) {
      info.alt = DwarfInfo.openWith(options.supplementary, warnings);
      if (!info.alt) addWarning(warnings, "Cannot read the supplementary file: no .debug_info, ignoring");
    }
    return info;
  }

  private static openWith(src: ByteSource, warnings: string[]): DwarfInfo | undefined {
    try {
      const { sections, altLink } = openSections(src, (m) => addWarning(warnings, m));
      if (!sections.info) return undefined;
      return new DwarfInfo(sections, altLink, warnings);
    } catch (err) {
      if (err instanceof RangeError || err instanceof SyntaxError) return undefined;
      throw err;
    }
  }

  /** Problems met so far (hostile or unsupported data), one line each, ", ignoring" style. */
  get warnings(): readonly string[] {
    return this.warningList;
  }

  /**
   * pc is a link-time address of this file (callers pass return address − 1 for caller frames, as gdb does).
   * Innermost first, as gdb prints them: the innermost inlined function at pc (file:line of pc), then each function it was
   * inlined into (file:line = the call site), ending with the concrete subprogram (inlined: false). [] when no compile unit covers pc.
   */
  frames(pc: bigint): SourceFrame[] {
    try {
      return this.framesAt(BigInt.asUintN(64, pc));
    } catch (err) {
      // hostile data ends as RangeError/SyntaxError; anything else (an I/O error of the source, a bug) must not take
      // the crash report down either: a warning, marked so the fuzz tests see it
      const what = err instanceof RangeError || err instanceof SyntaxError ? err.message : `unexpected ${err instanceof Error ? `${err.name}: ${err.message}` : String(err)}`;
      this.warn(`Cannot read debug info for pc 0x${pc.toString(16)}: ${what}, ignoring`);
      return [];
    }
  }

  private warn(msg: string): void {
    addWarning(this.warningList, msg);
  }

  /** As frames(): hostile data ends as a warning and undefined. */
  private guarded<T>(pc: bigint, fn: () => T): T | undefined {
    try {
      return fn();
    } catch (err) {
      const what = err instanceof RangeError || err instanceof SyntaxError ? err.message : `unexpected ${err instanceof Error ? `${err.name}: ${err.message}` : String(err)}`;
      this.warn(`Cannot read the call sites for pc 0x${pc.toString(16)}: ${what}, ignoring`);
      return undefined;
    }
  }

  /**
   * The call site whose return address is pc (a link-time address of this file), looked up in the unit covering
   * pc − 1, as gdb's call_site_for_pc (a call to a noreturn function may return past its unit's end).
   */
  callSite(pc: bigint): CallSite | undefined {
    return this.guarded(pc, () => {
      const unit = this.unitFor(BigInt.asUintN(64, pc - 1n));
      const data = unit === undefined ? undefined : this.unitData(unit);
      if (!data) return undefined;
      if (!data.sitesByPc) {
        data.sitesByPc = new Map();
        for (const c of data.callSites) if (!data.sitesByPc.has(c.pc)) data.sitesByPc.set(c.pc, c);
      }
      const site = data.sitesByPc.get(pc);
      return site ? { pc: site.pc, target: this.targetOf(site, data) } : undefined;
    });
  }

  /**
   * The concrete function whose code holds pc, its entry pc, and its tail calls, as gdb's func_addr_to_tail_call_list
   * reads them (dwarf2/read.c read_call_site_scope: a tail call is listed only where its function has
   * DW_AT_call_all_calls or DW_AT_call_all_tail_calls, or their GNU forms). undefined: no function there.
   */
  functionAt(pc: bigint): FunctionCalls | undefined {
    return this.guarded(pc, () => {
      const unit = this.unitFor(BigInt.asUintN(64, pc));
      const data = unit === undefined ? undefined : this.unitData(unit);
      if (!data) return undefined;
      let best = -1;
      for (let i = 0; i < data.scopes.length; i++) {
        const s = data.scopes[i] as Scope;
        if (s.tag === DW_TAG_subprogram && (best < 0 || s.depth > (data.scopes[best] as Scope).depth) && inRanges(s.ranges, pc)) best = i;
      }
      const fn = data.scopes[best];
      if (!fn) return undefined;
      const tailCalls: CallSite[] = [];
      if (this.completeCalls(fn.die, data)) {
        for (const c of data.callSites) {
          if (!c.tail || this.subprogramOf(data, c.scope) !== best) continue;
          tailCalls.unshift({ pc: c.pc, target: this.targetOf(c, data) });
        }
      }
      return { entry: fn.ranges[0] as bigint, tailCalls };
    });
  }

  /** The subprogram scope around a scope (through inlined subroutines), as gdb's func_die; -1 when none. */
  private subprogramOf(data: UnitData, scope: number): number {
    for (let i = scope, n = 0; i >= 0 && n <= MAX_DIE_DEPTH; n++) {
      const s = data.scopes[i] as Scope;
      if (s.tag === DW_TAG_subprogram) return i;
      i = s.parent;
    }
    return -1;
  }

  /** Whether the DIE (or what it is an instance or definition of, as gdb's dwarf2_attr follows) has an "all calls" flag. */
  private completeCalls(die: number, data: UnitData): boolean {
    let rec = data.recs.get(die);
    for (let hops = 0; rec && hops <= MAX_ORIGIN_HOPS; hops++) {
      if (rec.allCalls) return true;
      const next = rec.origin ?? rec.spec;
      if (!next || next.alt) return false;
      rec = data.recs.get(next.off);
    }
    return false;
  }

  /** gdb's read_call_site_scope target: an expression needs registers (none for a tail call); a declaration, its name; else the DIE's range starts. */
  private targetOf(site: CallSiteRec, data: UnitData): CallTarget {
    if (site.targetExpr) return { kind: "unknown", why: "DW_AT_call_target is an expression of the caller's registers" };
    const ref = site.target;
    if (!ref) return { kind: "unknown", why: "no DW_AT_call_origin" };
    if (ref.alt) return { kind: "unknown", why: "its DW_AT_call_origin is in the supplementary file" };
    let unit: UnitData | undefined = data;
    if (!unit.recs.has(ref.off)) {
      const h = this.headerAt(ref.off);
      unit = h ? this.unitData(h.offset) : undefined;
    }
    const rec = unit?.recs.get(ref.off);
    if (!unit || !rec) return { kind: "unknown", why: `no function DIE at offset ${ref.off}` };
    if (rec.declaration && !rec.spec) {
      const name = (rec.linkage ? this.str(rec.linkage, unit.root) : null) ?? this.nameOf(ref, unit, 0);
      return name === null ? { kind: "unknown", why: "its declaration has no name" } : { kind: "name", name };
    }
    if (!unit.scopesByDie) {
      unit.scopesByDie = new Map();
      for (const s of unit.scopes) unit.scopesByDie.set(s.die, s);
    }
    const scope = unit.scopesByDie.get(ref.off);
    if (!scope) return { kind: "unknown", why: "the function it calls has no address" };
    const addresses: bigint[] = [];
    for (let i = 0; i + 1 < scope.ranges.length; i += 2) addresses.push(scope.ranges[i] as bigint);
    return { kind: "addresses", addresses };
  }

  private framesAt(pc: bigint): SourceFrame[] {
    const unit = this.unitFor(pc);
    if (unit === undefined) return [];
    const data = this.unitData(unit);
    if (!data) return [];
    let best = -1;
    for (let i = 0; i < data.scopes.length; i++) {
      const s = data.scopes[i] as Scope;
      if ((best < 0 || s.depth > (data.scopes[best] as Scope).depth) && inRanges(s.ranges, pc)) best = i;
    }
    if (data.lines === undefined) data.lines = this.lineTable(data.root);
    const row = data.lines ? lookupLine(data.lines, pc) : undefined;
    const here = { file: row?.file ?? null, line: row?.line || null, column: row?.column || null };
    if (best < 0) return row ? [{ function: null, ...here, inlined: false }] : [];
    const out: SourceFrame[] = [];
    let s = data.scopes[best] as Scope;
    out.push({ function: this.scopeName(data, s), ...here, inlined: s.tag === DW_TAG_inlined_subroutine });
    for (let n = 0; s.tag === DW_TAG_inlined_subroutine && n <= MAX_DIE_DEPTH; n++) {
      const parent = data.scopes[s.parent];
      if (!parent) break;
      const file = data.lines ? (data.lines.files[s.callFile] ?? null) : null;
      out.push({ function: this.scopeName(data, parent), file, line: s.callLine || null, column: s.callColumn || null, inlined: parent.tag === DW_TAG_inlined_subroutine });
      s = parent;
    }
    return out;
  }

  // ---- which unit covers pc

  private unitFor(pc: bigint): number | undefined {
    if (!this.index) this.index = this.buildIndex();
    let hit = findRange(this.index, pc);
    if (hit === undefined && !this.scannedAll) {
      // .debug_aranges may leave units out (assembler units, clang): index the rest from their roots, once
      this.scannedAll = true;
      this.index = this.addUnitRanges(this.index);
      hit = findRange(this.index, pc);
    }
    return hit;
  }

  private buildIndex(): IndexRange[] {
    const aranges = this.secs.aranges;
    if (!aranges) {
      this.scannedAll = true;
      return this.addUnitRanges([]);
    }
    const out: IndexRange[] = [];
    try {
      const b = new Bytes(aranges.read(0, aranges.size));
      let p = 0;
      while (p < b.length && out.length < MAX_INDEX_RANGES) {
        const start = p;
        const [len, q] = initialLength(b, p);
        const offsetSize = q - p === 12 ? 8 : 4;
        const end = q + len;
        const unit = offsetAt(b, q + 2, offsetSize);
        const addrSize = b.u8(q + 2 + offsetSize, "aranges address size");
        if (addrSize !== 4 && addrSize !== 8) throw new SyntaxError(`address size ${addrSize}`);
        let t = q + 4 + offsetSize;
        t += (2 * addrSize - ((t - start) % (2 * addrSize))) % (2 * addrSize); // tuples are aligned to twice the address size
        while (t + 2 * addrSize <= Math.min(end, b.length) && out.length < MAX_INDEX_RANGES) {
          const lo = addrAt(b, t, addrSize);
          const length = addrAt(b, t + addrSize, addrSize);
          t += 2 * addrSize;
          if (lo === 0n && length === 0n) break;
          if (length > 0n) out.push({ lo, hi: lo + length, unit });
        }
        this.indexCovers.add(unit);
        p = end;
      }
    } catch (err) {
      if (!(err instanceof RangeError || err instanceof SyntaxError)) throw err;
      this.warn(`Cannot read .debug_aranges whole: ${err.message}, ignoring the rest`);
    }
    return sortRanges(out);
  }

  private addUnitRanges(index: IndexRange[]): IndexRange[] {
    const out = [...index];
    for (const h of this.unitHeaders()) {
      if (this.indexCovers.has(h.offset)) continue;
      const root = this.rootOf(h);
      if (!root || root.tag !== DW_TAG_compile_unit) continue;
      for (let i = 0; i + 1 < root.ranges.length && out.length < MAX_INDEX_RANGES; i += 2) {
        out.push({ lo: root.ranges[i] as bigint, hi: root.ranges[i + 1] as bigint, unit: h.offset });
      }
    }
    return sortRanges(out);
  }

  private unitHeaders(): UnitHeader[] {
    if (this.headers) return this.headers;
    const out: UnitHeader[] = [];
    let off = 0;
    let skeleton = false;
    while (off < this.info.size) {
      if (out.length >= MAX_UNITS) {
        this.warn(`Cannot index .debug_info past ${MAX_UNITS} units, ignoring the rest`);
        break;
      }
      let h: UnitHeader;
      try {
        h = parseUnitHeader(this.info.read(off, MAX_UNIT_HEADER_BYTES), off);
      } catch (err) {
        if (!(err instanceof RangeError || err instanceof SyntaxError)) throw err;
        this.warn(`Cannot read unit header at offset ${off} of .debug_info: ${err.message}, ignoring the rest`);
        break;
      }
      if (h.unitType === DW_UT_skeleton || h.unitType === DW_UT_split_compile) skeleton = true;
      if (h.unitType === DW_UT_compile || h.unitType === DW_UT_partial || h.version < 5) out.push(h);
      if (h.end > this.info.size) {
        this.warn(`Cannot read unit at offset ${off} of .debug_info whole: it runs past the end, ignoring its end`);
        break;
      }
      off = h.end;
    }
    if (skeleton) this.warn("Cannot read split DWARF (.dwo) units: not supported, ignoring");
    this.headers = out;
    return out;
  }

  /** The unit holding the DIE at offset (or, with start, the unit starting at offset). */
  private headerAt(offset: number, start = false): UnitHeader | undefined {
    const hs = this.unitHeaders();
    let lo = 0;
    let hi = hs.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if ((hs[mid] as UnitHeader).offset <= offset) lo = mid + 1;
      else hi = mid;
    }
    const h = hs[lo - 1];
    if (start) return h && h.offset === offset ? h : undefined;
    return h && offset >= h.dieOffset && offset < h.end ? h : undefined;
  }

  // ---- a unit's root DIE, abbreviations, strings, addresses, ranges

  private abbrevTable(offset: number): AbbrevTable {
    const hit = this.abbrevs.get(offset);
    if (hit) {
      this.abbrevs.delete(offset);
      this.abbrevs.set(offset, hit);
      return hit;
    }
    const sec = this.secs.abbrev;
    if (!sec) throw new SyntaxError("no .debug_abbrev section");
    const table = windowed(sec, offset, (bytes) => parseAbbrevs(bytes), Number.MAX_SAFE_INTEGER, ABBREV_WINDOW);
    if (this.abbrevs.size >= MAX_CACHED_ABBREVS) this.abbrevs.delete(this.abbrevs.keys().next().value as number);
    this.abbrevs.set(offset, table);
    return table;
  }

  private rootOf(h: UnitHeader): UnitRoot | null {
    const hit = this.roots.get(h.offset);
    if (hit !== undefined) return hit;
    let root: UnitRoot | null = null;
    try {
      const abbrevs = this.abbrevTable(h.abbrevOffset);
      root = windowed(this.info, h.offset, (bytes) => this.parseRoot(h, abbrevs, bytes), h.end - h.offset);
    } catch (err) {
      if (!(err instanceof RangeError || err instanceof SyntaxError)) throw err;
      this.warn(`Cannot read the root DIE of the unit at offset ${h.offset}: ${err.message}, ignoring the unit`);
    }
    this.roots.set(h.offset, root);
    return root;
  }

  private parseRoot(h: UnitHeader, abbrevs: AbbrevTable, bytes: Uint8Array): UnitRoot {
    const b = new Bytes(bytes);
    const forms = new FormReader(b, formCtx(h));
    const [code, p0] = b.ulebNumber(h.dieOffset - h.offset);
    const ab = abbrevs.get(code);
    if (!ab) throw new SyntaxError(`abbreviation ${code} is not in its table`);
    const vals = new Map<number, Value>();
    let p = p0;
    for (const a of ab.attrs) {
      const [v, n] = forms.read(p, a);
      p = n;
      if (!vals.has(a.name)) vals.set(a.name, v);
    }
    if (ab.tag === DW_TAG_skeleton_unit) this.warn("Cannot read split DWARF (.dwo) units: not supported, ignoring");
    const num = (v: Value | undefined): number | undefined => (v && (v.k === "sec" || v.k === "const") ? Number(BigInt.asUintN(52, BigInt(v.v))) : undefined);
    const strOffsets = num(vals.get(DW_AT_str_offsets_base));
    const root: UnitRoot = {
      header: h,
      tag: ab.tag,
      name: null,
      compDir: null,
      stmtList: num(vals.get(DW_AT_stmt_list)),
      base: 0n,
      ranges: [],
      // DWARF 5 §7.26: a unit without DW_AT_str_offsets_base (gcc non-split) uses none; the 8-byte table header is the usual one
      strOffsetsBase: strOffsets,
      addrBase: num(vals.get(DW_AT_addr_base) ?? vals.get(DW_AT_GNU_addr_base)) ?? 0,
      rnglistsBase: num(vals.get(DW_AT_rnglists_base)) ?? 0,
      c: C_LANGUAGES.has(num(vals.get(DW_AT_language)) ?? -1),
    };
    root.name = this.str(vals.get(DW_AT_name), root);
    root.compDir = this.str(vals.get(DW_AT_comp_dir), root);
    const low = vals.get(DW_AT_low_pc);
    root.base = low ? (this.address(low, root) ?? 0n) : 0n;
    root.ranges = this.rangesOf(vals, root);
    return root;
  }

  private str(v: Value | undefined, root: UnitRoot): string | null {
    if (!v) return null;
    switch (v.k) {
      case "str": return v.v;
      case "strp": return this.cstring("str", v.v);
      case "line_strp": return this.cstring("line_str", v.v);
      case "altstrp": return this.altFile()?.cstring("str", v.v) ?? null;
      case "strx": {
        const sec = this.secs.str_offsets;
        const size = root.header.offsetSize;
        const at = (root.strOffsetsBase ?? 8) + Number(BigInt.asUintN(32, v.v)) * size;
        if (!sec) throw new SyntaxError("DW_FORM_strx without .debug_str_offsets");
        const b = new Bytes(sec.read(at, size));
        return this.cstring("str", offsetAt(b, 0, size));
      }
      default: return null;
    }
  }

  private cstring(kind: "str" | "line_str", offset: number): string | null {
    const key = `${kind}:${offset}`;
    const hit = this.strings.get(key);
    if (hit !== undefined) return hit;
    const sec = this.secs[kind];
    if (!sec) throw new SyntaxError(`a string in .debug_${kind}, which is missing`);
    if (offset >= sec.size) throw new RangeError(`string offset ${offset} past the end of .debug_${kind} (${sec.size})`);
    let s: string | null = null;
    for (let w = 256; ; w *= 4) {
      const bytes = sec.read(offset, Math.min(w, MAX_STRING_BYTES));
      const nul = bytes.indexOf(0);
      if (nul >= 0) {
        s = decode(bytes.subarray(0, nul));
        break;
      }
      if (bytes.length < Math.min(w, MAX_STRING_BYTES) || w >= MAX_STRING_BYTES) {
        this.warn(`Cannot read string at offset ${offset} of .debug_${kind}: no NUL within ${bytes.length} bytes, ignoring`);
        break;
      }
    }
    if (this.strings.size >= MAX_CACHED_STRINGS) this.strings.clear();
    this.strings.set(key, s);
    return s;
  }

  private address(v: Value, root: UnitRoot): bigint | undefined {
    if (v.k === "addr") return v.v;
    if (v.k !== "addrx") return undefined;
    const sec = this.secs.addr;
    if (!sec) throw new SyntaxError("DW_FORM_addrx without .debug_addr");
    const size = root.header.addrSize;
    const at = root.addrBase + Number(BigInt.asUintN(32, v.v)) * size;
    return addrAt(new Bytes(sec.read(at, size)), 0, size);
  }

  /** The [lo, hi) pairs of a DIE: DW_AT_low_pc + DW_AT_high_pc, or DW_AT_ranges. */
  private rangesOf(vals: Map<number, Value>, root: UnitRoot): bigint[] {
    const ranges = vals.get(DW_AT_ranges);
    if (ranges) return this.rangeList(ranges, root);
    const low = vals.get(DW_AT_low_pc);
    const high = vals.get(DW_AT_high_pc);
    if (!low || !high) return [];
    const lo = this.address(low, root);
    if (lo === undefined) return [];
    // DWARF 4 §2.17.2: a constant-class high_pc is an offset from low_pc
    const hi = high.k === "const" ? lo + high.v : this.address(high, root);
    return hi !== undefined && hi > lo ? [lo, hi] : [];
  }

  private rangeList(v: Value, root: UnitRoot): bigint[] {
    const h = root.header;
    if (h.version < 5) {
      if (v.k !== "sec" && v.k !== "const") return [];
      const sec = this.secs.ranges;
      if (!sec) throw new SyntaxError("DW_AT_ranges without .debug_ranges");
      return windowed(sec, Number(BigInt.asUintN(52, BigInt(v.v))), (bytes) => readRanges(bytes, h.addrSize, root.base));
    }
    const sec = this.secs.rnglists;
    if (!sec) throw new SyntaxError("DW_AT_ranges without .debug_rnglists");
    let offset: number;
    if (v.k === "sec") offset = v.v;
    else if (v.k === "rnglistx") {
      // DWARF 5 §7.28: the offsets table after DW_AT_rnglists_base holds offsets relative to that base
      const at = root.rnglistsBase + Number(BigInt.asUintN(32, v.v)) * h.offsetSize;
      offset = root.rnglistsBase + offsetAt(new Bytes(sec.read(at, h.offsetSize)), 0, h.offsetSize);
    } else return [];
    return windowed(sec, offset, (bytes) => readRnglist(bytes, h.addrSize, root.base, (i) => this.address({ k: "addrx", v: i }, root) ?? 0n));
  }

  private lineTable(root: UnitRoot): LineTable | null {
    const sec = this.secs.line;
    if (root.stmtList === undefined || !sec) return null;
    try {
      const head = new Bytes(sec.read(root.stmtList, 12));
      const [len, p] = initialLength(head, 0);
      if (p + len > MAX_UNIT_BYTES) throw new SyntaxError(`its length ${len} is over ${MAX_UNIT_BYTES}`);
      const bytes = sec.read(root.stmtList, p + len);
      return parseLineProgram(bytes, root.stmtList, {
        compDir: root.compDir,
        string: (kind, off) => this.cstring(kind === "strp" ? "str" : "line_str", off),
        warn: (m) => this.warn(m),
      });
    } catch (err) {
      if (!(err instanceof RangeError || err instanceof SyntaxError)) throw err;
      this.warn(`Cannot read line program at offset ${root.stmtList} of .debug_line: ${err.message}, ignoring`);
      return null;
    }
  }

  // ---- a unit's scopes

  private unitData(offset: number): UnitData | undefined {
    const hit = this.units.get(offset);
    if (hit) {
      this.units.delete(offset);
      this.units.set(offset, hit);
      return hit;
    }
    const h = this.headerAt(offset, true);
    if (!h) {
      this.warn(`Cannot find a unit at offset ${offset} of .debug_info (named by .debug_aranges), ignoring`);
      return undefined;
    }
    const root = this.rootOf(h);
    if (!root) return undefined;
    let walked: { scopes: Scope[]; recs: Map<number, DieRec>; callSites: CallSiteRec[] } = { scopes: [], recs: new Map(), callSites: [] };
    try {
      walked = this.walk(root);
    } catch (err) {
      if (!(err instanceof RangeError || err instanceof SyntaxError)) throw err;
      this.warn(`Cannot read the DIEs of the unit at offset ${h.offset}: ${err.message}, ignoring the unit`);
    }
    const data: UnitData = { root, scopes: walked.scopes, recs: walked.recs, callSites: walked.callSites, sitesByPc: undefined, scopesByDie: undefined, lines: undefined };
    if (this.units.size >= MAX_CACHED_UNITS) this.units.delete(this.units.keys().next().value as number);
    this.units.set(offset, data);
    return data;
  }

  /** Every DIE of the unit once: the scopes that have code, and the DIEs their names come through. */
  private walk(root: UnitRoot): { scopes: Scope[]; recs: Map<number, DieRec>; callSites: CallSiteRec[] } {
    const h = root.header;
    if (h.end - h.offset > MAX_UNIT_BYTES) throw new SyntaxError(`unit length ${h.end - h.offset} is over ${MAX_UNIT_BYTES}`);
    // nothing kept refers into these bytes (strings are decoded, values copied): the section's reused buffer will do
    const bytes = this.info.scratch(h.offset, h.end - h.offset);
    if (bytes.length < h.end - h.offset) this.warn(`Cannot read the unit at offset ${h.offset} whole: truncated, ignoring its end`);
    const abbrevs = this.abbrevTable(h.abbrevOffset);
    const b = new Bytes(bytes);
    const ctx = formCtx(h);
    const forms = new FormReader(b, ctx);
    const recs = new Map<number, DieRec>();
    const scopes: Scope[] = [];
    const callSites: CallSiteRec[] = [];
    // a namespace/class/struct/union on the stack becomes a DieRec only when a subprogram below needs it to be
    // qualified: C's many struct types (and C++'s classes without member functions) cost no record
    const stack: Array<{ die: number; scope: number; depth: number; qualifier: Value | null | undefined; tag: number }> = [];
    const recordAncestors = (): void => {
      for (let i = stack.length - 1; i >= 0; i--) {
        const e = stack[i] as (typeof stack)[number];
        if (e.qualifier === undefined || recs.has(e.die)) continue;
        recs.set(e.die, { tag: e.tag, parent: stack[i - 1]?.die ?? -1, name: e.qualifier ?? undefined, linkage: undefined, origin: undefined, spec: undefined, declaration: false, allCalls: false });
      }
    };
    const sizes = new Map<number, number>();
    let p = h.dieOffset - h.offset;
    try {
      while (p < bytes.length) {
        const die = h.offset + p;
        const [code, p1] = b.ulebNumber(p);
        p = p1;
        if (code === 0) {
          stack.pop();
          if (stack.length === 0) break;
          continue;
        }
        const ab = abbrevs.get(code);
        if (!ab) throw new SyntaxError(`abbreviation ${code} at offset ${die} is not in its table`);
        const keep = RECORDED.has(ab.tag);
        const qualifier = QUALIFIERS.has(ab.tag);
        let size = sizes.get(code);
        if (size === undefined) sizes.set(code, (size = fixedSize(ab, ctx)));
        if (!keep && (!qualifier || !ab.children) && size >= 0) {
          p += size;
          if (ab.children) {
            if (stack.length >= MAX_DIE_DEPTH) throw new SyntaxError(`DIEs nest deeper than ${MAX_DIE_DEPTH}`);
            const top = stack[stack.length - 1];
            stack.push({ die, scope: top?.scope ?? -1, depth: top?.depth ?? 0, qualifier: undefined, tag: ab.tag });
          } else if (stack.length === 0) break;
          continue;
        }
        if (!keep) {
          // a qualifier with children (its DW_AT_name only), or a DIE of variable size: skipped attribute by attribute
          let name: Value | null = null;
          for (const a of ab.attrs) {
            if (qualifier && a.name === DW_AT_name && name === null) [name, p] = forms.read(p, a);
            else p = forms.skip(p, a);
          }
          if (ab.children) {
            if (stack.length >= MAX_DIE_DEPTH) throw new SyntaxError(`DIEs nest deeper than ${MAX_DIE_DEPTH}`);
            const top = stack[stack.length - 1];
            stack.push({ die, scope: top?.scope ?? -1, depth: top?.depth ?? 0, qualifier: qualifier ? name : undefined, tag: ab.tag });
          } else if (stack.length === 0) break;
          continue;
        }
        const vals = new Map<number, Value>();
        for (const a of ab.attrs) {
          if (!WANTED.has(a.name)) {
            p = forms.skip(p, a);
            continue;
          }
          const [v, n] = forms.read(p, a);
          p = n;
          if (!vals.has(a.name)) vals.set(a.name, v);
        }
        const top = stack[stack.length - 1];
        let scopeIndex = top?.scope ?? -1;
        let depth = top?.depth ?? 0;
        const flag = (at: number): boolean => {
          const v = vals.get(at);
          return v !== undefined && v.k === "const" && v.v !== 0n;
        };
        if (CALL_SITES.has(ab.tag)) {
          // gdb's read_call_site_scope: the return pc, then the target: DW_AT_call_target (an expression) before DW_AT_call_origin
          const at = vals.get(DW_AT_call_return_pc) ?? vals.get(DW_AT_low_pc);
          const pc = at ? this.address(at, root) : undefined;
          if (pc !== undefined) {
            callSites.push({
              pc,
              tail: flag(DW_AT_call_tail_call) || flag(DW_AT_GNU_tail_call),
              targetExpr: vals.has(DW_AT_call_target) || vals.has(DW_AT_GNU_call_site_target),
              target: refOf(vals.get(DW_AT_call_origin) ?? vals.get(DW_AT_abstract_origin)),
              scope: scopeIndex,
            });
          }
        } else if (keep) {
          recordAncestors();
          recs.set(die, {
            tag: ab.tag,
            parent: top?.die ?? -1,
            name: vals.get(DW_AT_name),
            linkage: vals.get(DW_AT_linkage_name) ?? vals.get(DW_AT_MIPS_linkage_name),
            origin: refOf(vals.get(DW_AT_abstract_origin)),
            spec: refOf(vals.get(DW_AT_specification)),
            declaration: flag(DW_AT_declaration),
            allCalls: ALL_CALLS.some(flag),
          });
          if (ab.tag === DW_TAG_subprogram || ab.tag === DW_TAG_inlined_subroutine) {
            let ranges: bigint[] = [];
            try {
              ranges = this.rangesOf(vals, root);
            } catch (err) {
              if (!(err instanceof RangeError || err instanceof SyntaxError)) throw err;
              this.warn(`Cannot read the address ranges of the DIE at offset ${die}: ${err.message}, ignoring`);
            }
            if (ranges.length > 0) {
              const num = (at: number): number => {
                const v = vals.get(at);
                return v && v.k === "const" ? Number(BigInt.asUintN(32, v.v)) : 0;
              };
              depth++;
              const scope: Scope = { tag: ab.tag, die, parent: scopeIndex, depth, ranges, name: undefined, callFile: num(DW_AT_call_file), callLine: num(DW_AT_call_line), callColumn: num(DW_AT_call_column) };
              scopeIndex = scopes.length;
              scopes.push(scope);
            }
          }
        }
        if (ab.children) {
          if (stack.length >= MAX_DIE_DEPTH) throw new SyntaxError(`DIEs nest deeper than ${MAX_DIE_DEPTH}`);
          stack.push({ die, scope: scopeIndex, depth, qualifier: undefined, tag: ab.tag });
        } else if (stack.length === 0) break; // a root without children
      }
    } catch (err) {
      if (!(err instanceof RangeError || err instanceof SyntaxError)) throw err;
      this.warn(`Cannot read the DIEs of the unit at offset ${h.offset} to its end: ${err.message}, ignoring the rest`);
    }
    return { scopes, recs, callSites };
  }

  private scopeName(data: UnitData, scope: Scope): string | null {
    if (scope.name === undefined) scope.name = this.nameOf({ alt: false, off: scope.die }, data, 0);
    return scope.name;
  }

  private altFile(): DwarfInfo | undefined {
    if (!this.alt) {
      const link = this.altLink ? ` (.gnu_debugaltlink "${this.altLink.path}", build-id ${this.altLink.buildId})` : "";
      this.warn(`Cannot read names in the supplementary file${link}: it was not given, ignoring`);
    }
    return this.alt;
  }

  /** The name gdb shows for the DIE: its own DW_AT_name, else through its abstract origin or specification; qualified. */
  private nameOf(ref: Ref, here: UnitData | undefined, hops: number): string | null {
    if (hops > MAX_ORIGIN_HOPS) {
      this.warn(`Cannot name the DIE at offset ${ref.off}: over ${MAX_ORIGIN_HOPS} abstract origin/specification hops (a cycle?), ignoring`);
      return null;
    }
    if (ref.alt) return this.altFile()?.nameOf({ alt: false, off: ref.off }, undefined, hops) ?? null;
    let unit = here;
    if (!unit?.recs.has(ref.off)) {
      // another unit (DW_FORM_ref_addr: LTO, dwz partial units): walked like any other, and cached
      const h = this.headerAt(ref.off);
      if (!h) {
        this.warn(`Cannot find the DIE at offset ${ref.off} of .debug_info: no unit holds it, ignoring`);
        return null;
      }
      unit = this.unitData(h.offset);
    }
    const rec = unit?.recs.get(ref.off);
    if (!unit || !rec) return null;
    // C: glibc's hidden aliases are asm renames (raise → __GI_raise), and gdb shows the linkage name
    if (unit.root.c && rec.linkage) {
      const linkage = this.str(rec.linkage, unit.root);
      if (linkage !== null) return linkage;
    }
    if (rec.name) {
      const name = this.str(rec.name, unit.root);
      if (name !== null) return this.qualify(name, rec, unit.recs, unit.root);
    }
    for (const next of [rec.origin, rec.spec]) {
      if (next === undefined) continue;
      const n = this.nameOf(next, unit, hops + 1);
      if (n !== null) return n;
    }
    return rec.linkage ? this.str(rec.linkage, unit.root) : null;
  }

  private qualify(name: string, rec: DieRec, recs: Map<number, DieRec>, root: UnitRoot): string {
    const parts = [name];
    let at = rec.parent;
    for (let i = 0; i < MAX_QUALIFY_DEPTH; i++) {
      const p = recs.get(at);
      if (!p || !QUALIFIERS.has(p.tag)) break;
      const n = p.name ? this.str(p.name, root) : null;
      parts.unshift(n ?? (p.tag === DW_TAG_namespace ? "(anonymous namespace)" : "{unnamed}"));
      at = p.parent;
    }
    return demangledSpelling(parts.join("::"));
  }
}

function refOf(v: Value | undefined): Ref | undefined {
  if (v?.k === "ref") return { alt: false, off: v.v };
  if (v?.k === "altref") return { alt: true, off: v.v };
  return undefined;
}

function addWarning(list: string[], msg: string): void {
  if (list.length < MAX_WARNINGS && !list.includes(msg)) list.push(msg);
}

function formCtx(h: UnitHeader): { version: number; offsetSize: number; addrSize: number; unitOffset: number } {
  return { version: h.version, offsetSize: h.offsetSize, addrSize: h.addrSize, unitOffset: h.offset };
}

function inRanges(r: bigint[], pc: bigint): boolean {
  for (let i = 0; i + 1 < r.length; i += 2) if (pc >= (r[i] as bigint) && pc < (r[i + 1] as bigint)) return true;
  return false;
}

function sortRanges(r: IndexRange[]): IndexRange[] {
  return r.sort((x, y) => (x.lo < y.lo ? -1 : x.lo > y.lo ? 1 : 0));
}

/** The unit whose range holds pc; ranges sorted by lo, overlapping ones looked at a few back. */
function findRange(r: IndexRange[], pc: bigint): number | undefined {
  let lo = 0;
  let hi = r.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if ((r[mid] as IndexRange).lo <= pc) lo = mid + 1;
    else hi = mid;
  }
  for (let i = lo - 1; i >= 0 && i >= lo - 16; i--) {
    const e = r[i] as IndexRange;
    if (pc < e.hi) return e.unit;
  }
  return undefined;
}

/** Run fn over a window of the section at offset; a RangeError before the section's end retries with a 4x window. */
function windowed<T>(sec: Section, offset: number, fn: (bytes: Uint8Array) => T, limit = Number.MAX_SAFE_INTEGER, first = FIRST_WINDOW): T {
  const max = Math.min(limit, sec.size - offset, MAX_UNIT_BYTES);
  if (offset < 0 || offset >= sec.size) throw new RangeError(`offset ${offset} is past the end of ${sec.name} (${sec.size})`);
  for (let w = first; ; w *= 4) {
    const n = Math.min(w, max);
    try {
      return fn(sec.read(offset, n));
    } catch (err) {
      if (!(err instanceof RangeError) || n >= max) throw err;
    }
  }
}

/** A .debug_ranges list (DWARF 4 §2.17.3): address pairs, (0, 0) ends, (max, base) selects a base. */
function readRanges(bytes: Uint8Array, addrSize: number, base: bigint): bigint[] {
  const b = new Bytes(bytes);
  const max = addrSize === 8 ? (1n << 64n) - 1n : 0xffffffffn;
  const out: bigint[] = [];
  for (let p = 0, n = 0; n < MAX_RANGES; n++, p += 2 * addrSize) {
    const lo = addrAt(b, p, addrSize);
    const hi = addrAt(b, p + addrSize, addrSize);
    if (lo === 0n && hi === 0n) return out;
    if (lo === max) base = hi;
    else if (hi > lo) out.push(base + lo, base + hi);
  }
  throw new SyntaxError(`range list over ${MAX_RANGES} entries`);
}

/** A .debug_rnglists list (DWARF 5 §2.17.3, §7.25: DW_RLE_* entries). */
function readRnglist(bytes: Uint8Array, addrSize: number, base: bigint, addrx: (i: bigint) => bigint): bigint[] {
  const b = new Bytes(bytes);
  const out: bigint[] = [];
  let p = 0;
  const push = (lo: bigint, hi: bigint): void => {
    if (hi > lo) out.push(lo, hi);
  };
  for (let n = 0; n < MAX_RANGES; n++) {
    const kind = b.u8(p++, "DW_RLE kind");
    switch (kind) {
      case 0: return out; // end_of_list
      case 1: { const [i, q] = b.uleb(p); base = addrx(i); p = q; break; } // base_addressx
      case 2: { const [i, q] = b.uleb(p); const [j, r] = b.uleb(q); push(addrx(i), addrx(j)); p = r; break; } // startx_endx
      case 3: { const [i, q] = b.uleb(p); const [l, r] = b.uleb(q); const lo = addrx(i); push(lo, lo + l); p = r; break; } // startx_length
      case 4: { const [a, q] = b.uleb(p); const [z, r] = b.uleb(q); push(base + a, base + z); p = r; break; } // offset_pair
      case 5: base = addrAt(b, p, addrSize); p += addrSize; break; // base_address
      case 6: push(addrAt(b, p, addrSize), addrAt(b, p + addrSize, addrSize)); p += 2 * addrSize; break; // start_end
      case 7: { const lo = addrAt(b, p, addrSize); const [l, q] = b.uleb(p + addrSize); push(lo, lo + l); p = q; break; } // start_length
      default: throw new SyntaxError(`range list entry kind ${kind} is unknown`);
    }
  }
  throw new SyntaxError(`range list over ${MAX_RANGES} entries`);
}

/**
 * gcc's and clang's spellings of types in template arguments (DW_AT_name), as the demangler, addr2line and gdb
 * (from the linkage name) spell them: "long unsigned int" → "unsigned long"; clang's "T *const *" → "T* const*".
 */
const TYPE_SPELLINGS: ReadonlyArray<[RegExp, string]> = [
  [/\blong long unsigned int\b/g, "unsigned long long"],
  [/\blong long int\b/g, "long long"],
  [/\blong unsigned int\b/g, "unsigned long"],
  [/\bshort unsigned int\b/g, "unsigned short"],
  [/\blong int\b/g, "long"],
  [/\bshort int\b/g, "short"],
  [/ ([*&]+)/g, "$1"],
  [/([*&])const\b/g, "$1 const"],
];

function demangledSpelling(name: string): string {
  if (!name.includes("<")) return name;
  let s = name;
  for (const [re, to] of TYPE_SPELLINGS) s = s.replace(re, to);
  return s;
}

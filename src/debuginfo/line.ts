// .debug_line: the line-number program of one compile unit (DWARF 5 §6.2;
// DWARF 4 §6.2 for the version 2-4 header and file table), run into a table
// of rows, then looked up by address.
import { Bytes } from "../core/bytes.ts";
import { FormReader, initialLength, offsetAt, type AttrSpec, type Value } from "./unit.ts";

/** Rows at most per program: a 1 MiB program makes ~300k; more is hostile (each costs ~40 bytes). */
export const MAX_LINE_ROWS = 4_000_000;
/** Directory and file entries at most per header: big CUs name a few thousand headers. */
export const MAX_LINE_FILES = 100_000;
/**
 * Overlapping sequences looked back over at most, from the last one starting at or
 * below a pc: compilers do not overlap them (gcc: one per section; discarded
 * functions at 0 are short), and a hostile table must not make every lookup linear.
 */
export const MAX_SEQUENCE_LOOKBACK = 8;
/** Entry-format descriptions at most per table (DWARF 5 defines 5 content types). */
const MAX_ENTRY_FORMATS = 32;

const DW_LNCT_path = 1;
const DW_LNCT_directory_index = 2;

export interface LineRow {
  file: string | null;
  line: number;
  column: number;
}

export interface LineTable {
  /** Full paths by file index (DWARF 5: from 0; DWARF 4: from 1, index 0 unused). */
  files: (string | null)[];
  /** Sequences sorted by start: [start, end) and the rows [first, last) that belong to it. */
  seqStart: BigUint64Array;
  seqEnd: BigUint64Array;
  seqFirst: Uint32Array;
  seqLast: Uint32Array;
  addr: BigUint64Array;
  file: Uint32Array;
  line: Uint32Array;
  column: Uint32Array;
  /** 1 where the row is a recommended breakpoint location (is_stmt). */
  stmt: Uint8Array;
}

export interface LineContext {
  /** The unit's DW_AT_comp_dir: relative directories are joined to it. */
  compDir: string | null;
  /** A string of .debug_str (strp) or .debug_line_str (line_strp) at an offset. */
  string(kind: "strp" | "line_strp", offset: number): string | null;
  warn(msg: string): void;
}

/** Run the line program at the start of bytes (section offset `at`). RangeError/SyntaxError on a broken header. */
export function parseLineProgram(bytes: Uint8Array, at: number, ctx: LineContext): LineTable {
  const b = new Bytes(bytes);
  const [length, p0] = initialLength(b, 0);
  const offsetSize = p0 === 12 ? 8 : 4;
  const end = Math.min(bytes.length, p0 + length);
  if (p0 + length > bytes.length) ctx.warn(`Cannot read line program at offset ${at} whole: truncated, ignoring its end`);
  let p = p0;
  const version = b.u16(p, "line version");
  p += 2;
  if (version < 2 || version > 5) throw new SyntaxError(`Cannot read line program at offset ${at} "version ${version}": unsupported`);
  let addrSize = 8;
  if (version >= 5) {
    addrSize = b.u8(p, "line address size");
    p += 2; // address_size, segment_selector_size
  }
  const headerLength = offsetAt(b, p, offsetSize);
  p += offsetSize;
  const programAt = p + headerLength;
  const minInst = b.u8(p++, "minimum_instruction_length");
  if (version >= 4) p++; // maximum_operations_per_instruction: VLIW only, treated as 1
  const defaultIsStmt = b.u8(p++, "default_is_stmt") !== 0;
  const lineBase = (b.u8(p++, "line_base") << 24) >> 24;
  const lineRange = b.u8(p++, "line_range");
  const opcodeBase = b.u8(p++, "opcode_base");
  if (lineRange === 0) throw new SyntaxError(`Cannot read line program at offset ${at}: line_range 0`);
  const opLengths: number[] = [];
  for (let i = 1; i < opcodeBase; i++) opLengths.push(b.u8(p++, "standard_opcode_lengths"));
  const forms = new FormReader(b, { version: 5, offsetSize, addrSize, unitOffset: 0 });
  const str = (v: Value): string | null => {
    if (v.k === "str") return v.v;
    if (v.k === "strp" || v.k === "line_strp") return ctx.string(v.k, v.v);
    return null;
  };
  const join = (dir: string | null, name: string | null): string | null => {
    if (name === null) return null;
    if (name.startsWith("/") || dir === null || dir === "") return name;
    return `${dir}/${name}`;
  };
  const abs = (dir: string | null): string | null => (dir !== null && !dir.startsWith("/") && ctx.compDir ? join(ctx.compDir, dir) : dir);
  const files: (string | null)[] = [];
  if (version >= 5) {
    const readTable = (what: string): Array<{ path: string | null; dir: number }> => {
      const nFormats = b.u8(p++, `${what} entry format count`);
      if (nFormats > MAX_ENTRY_FORMATS) throw new SyntaxError(`Cannot read ${what} table: ${nFormats} entry formats`);
      // an entry format is (content type, form): read like an abbreviation's (attribute, form)
      const formats: AttrSpec[] = [];
      for (let i = 0; i < nFormats; i++) {
        const [type, q1] = b.ulebNumber(p);
        const [f, q2] = b.ulebNumber(q1);
        formats.push({ name: type, form: f, implicit: 0n });
        p = q2;
      }
      const [count, q] = b.uleb(p);
      p = q;
      if (count > BigInt(MAX_LINE_FILES)) throw new SyntaxError(`Cannot read ${what} table: ${count} entries, over ${MAX_LINE_FILES}`);
      const out: Array<{ path: string | null; dir: number }> = [];
      for (let i = 0; i < Number(count); i++) {
        let path: string | null = null;
        let dir = 0;
        for (const f of formats) {
          if (f.name !== DW_LNCT_path && f.name !== DW_LNCT_directory_index) {
            p = forms.skip(p, f);
            continue;
          }
          const [v, n] = forms.read(p, f);
          p = n;
          if (f.name === DW_LNCT_path) path = str(v);
          else if (v.k === "const") dir = Number(v.v & 0xffffffffn);
        }
        out.push({ path, dir });
      }
      return out;
    };
    // DWARF 5: directory 0 is the compilation directory, file 0 the primary source file
    const dirs = readTable("directory").map((d) => abs(d.path));
    for (const f of readTable("file name")) files.push(join(dirs[f.dir] ?? null, f.path));
  } else {
    // DWARF 2-4: directory 0 (implicit) is the compilation directory; files count from 1
    const dirs: (string | null)[] = [ctx.compDir];
    for (;;) {
      const [s, n] = b.cstr(p, 4096, "include_directories");
      p = n;
      if (s === "") break;
      if (dirs.length > MAX_LINE_FILES) throw new SyntaxError(`Cannot read directory table: over ${MAX_LINE_FILES} entries`);
      dirs.push(abs(s));
    }
    files.push(null);
    for (;;) {
      const [s, n] = b.cstr(p, 4096, "file_names");
      p = n;
      if (s === "") break;
      const [dir, q1] = b.uleb(p);
      const [, q2] = b.uleb(q1);
      const [, q3] = b.uleb(q2);
      p = q3;
      if (files.length > MAX_LINE_FILES) throw new SyntaxError(`Cannot read file table: over ${MAX_LINE_FILES} entries`);
      files.push(join(dirs[Number(dir & 0xffffffffn)] ?? null, s));
    }
  }

  // The state machine (DWARF 5 §6.2.2, §6.2.5)
  const addr: bigint[] = [];
  const fileCol: number[] = [];
  const lineCol: number[] = [];
  const colCol: number[] = [];
  const stmtCol: number[] = [];
  const seqs: Array<[bigint, bigint, number, number]> = [];
  let address = 0n;
  let file = 1;
  let line = 1;
  let column = 0;
  let isStmt = defaultIsStmt;
  let seqFirst = 0;
  const reset = (): void => {
    address = 0n;
    file = 1;
    line = 1;
    column = 0;
    isStmt = defaultIsStmt;
  };
  const emit = (): void => {
    // gdb drops line-0 rows ("no source line": clang's merged code), so the row before them goes on covering their
    // addresses (gdb dwarf2/read.c lnp_state_machine::record_line, ignore_this_line)
    if (line === 0) return;
    if (addr.length >= MAX_LINE_ROWS) throw new SyntaxError(`Cannot read line program at offset ${at}: over ${MAX_LINE_ROWS} rows`);
    addr.push(address);
    fileCol.push(file);
    lineCol.push(line);
    colCol.push(column);
    stmtCol.push(isStmt ? 1 : 0);
  };
  p = programAt;
  const MASK = (1n << BigInt(addrSize * 8)) - 1n;
  try {
    while (p < end) {
      const op = b.u8(p++, "line opcode");
      if (op >= opcodeBase) {
        const adj = op - opcodeBase;
        address = (address + BigInt(minInst * Math.floor(adj / lineRange))) & MASK;
        line += lineBase + (adj % lineRange);
        emit();
        continue;
      }
      switch (op) {
        case 0: {
          const [len, q] = b.ulebNumber(p);
          const next = q + len;
          if (len === 0) {
            p = q;
            break;
          }
          const sub = b.u8(q, "extended opcode");
          if (sub === 1) {
            // DW_LNE_end_sequence: the row marks the first address past the sequence
            if (addr.length > seqFirst) seqs.push([addr[seqFirst] as bigint, address, seqFirst, addr.length]);
            seqFirst = addr.length;
            reset();
          } else if (sub === 2) {
            address = addrAt(b, q + 1, len - 1);
          }
          // DW_LNE_define_file (3), DW_LNE_set_discriminator (4), vendor opcodes: skipped by their length
          p = next;
          break;
        }
        case 1: emit(); break; // DW_LNS_copy
        case 2: { // DW_LNS_advance_pc
          const [v, q] = b.uleb(p);
          address = (address + BigInt(minInst) * v) & MASK;
          p = q;
          break;
        }
        case 3: { // DW_LNS_advance_line
          const [v, q] = b.slebNumber(p);
          line = (line + v) | 0;
          p = q;
          break;
        }
        case 4: { // DW_LNS_set_file
          const [v, q] = b.ulebNumber(p);
          file = v;
          p = q;
          break;
        }
        case 5: { // DW_LNS_set_column
          const [v, q] = b.ulebNumber(p);
          column = v;
          p = q;
          break;
        }
        case 6: isStmt = !isStmt; break; // DW_LNS_negate_stmt
        case 7: break; // DW_LNS_set_basic_block
        case 8: address = (address + BigInt(minInst * Math.floor((255 - opcodeBase) / lineRange))) & MASK; break; // DW_LNS_const_add_pc
        case 9: address = (address + BigInt(b.u16(p, "fixed_advance_pc"))) & MASK; p += 2; break; // DW_LNS_fixed_advance_pc
        default: { // DW_LNS_set_prologue_end (10), set_epilogue_begin (11), set_isa (12), unknown: skip their operands
          for (let i = 0; i < (opLengths[op - 1] ?? 0); i++) p = b.ulebNumber(p)[1];
        }
      }
    }
  } catch (err) {
    if (!(err instanceof RangeError || err instanceof SyntaxError)) throw err;
    ctx.warn(`Cannot run line program at offset ${at} to its end: ${err.message}, ignoring the rest`);
  }
  seqs.sort((x, y) => (x[0] < y[0] ? -1 : x[0] > y[0] ? 1 : 0));
  return {
    files,
    seqStart: BigUint64Array.from(seqs, (s) => s[0]),
    seqEnd: BigUint64Array.from(seqs, (s) => s[1]),
    seqFirst: Uint32Array.from(seqs, (s) => s[2]),
    seqLast: Uint32Array.from(seqs, (s) => s[3]),
    addr: BigUint64Array.from(addr),
    file: Uint32Array.from(fileCol),
    line: Uint32Array.from(lineCol, (l) => l >>> 0),
    column: Uint32Array.from(colCol),
    stmt: Uint8Array.from(stmtCol),
  };
}

function addrAt(b: Bytes, p: number, size: number): bigint {
  if (size === 8) return b.u64(p, "DW_LNE_set_address");
  if (size === 4) return BigInt(b.u32(p, "DW_LNE_set_address"));
  throw new SyntaxError(`Cannot read DW_LNE_set_address at offset ${p}: ${size}-byte address`);
}

/** The row for pc: in the sequence holding it, the last row at or below pc (a statement row first, as gdb). */
export function lookupLine(t: LineTable, pc: bigint): LineRow | undefined {
  let lo = 0;
  let hi = t.seqStart.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if ((t.seqStart[mid] as bigint) <= pc) lo = mid + 1;
    else hi = mid;
  }
  // sequences may overlap (hostile, or discarded functions at 0): look back a few
  for (let s = lo - 1; s >= 0 && s >= lo - MAX_SEQUENCE_LOOKBACK; s--) {
    if (pc >= (t.seqEnd[s] as bigint)) continue;
    let a = t.seqFirst[s] as number;
    let z = t.seqLast[s] as number;
    while (a < z) {
      const mid = (a + z) >> 1;
      if ((t.addr[mid] as bigint) <= pc) a = mid + 1;
      else z = mid;
    }
    let r = a - 1;
    if (r < (t.seqFirst[s] as number)) continue;
    // several rows at one address (gcc's location views): like gdb (symtab.c find_pc_sect_line), a row that is not
    // a statement gives way to a statement row at the same address before it
    if (!t.stmt[r]) {
      let q = r;
      while (q > (t.seqFirst[s] as number) && t.addr[q - 1] === t.addr[r] && !t.stmt[q]) q--;
      if (t.stmt[q] && t.addr[q] === t.addr[r]) r = q;
    }
    return { file: t.files[t.file[r] as number] ?? null, line: t.line[r] as number, column: t.column[r] as number };
  }
  return undefined;
}

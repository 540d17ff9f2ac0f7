// Test helper: reads what addr2line, eu-addr2line and llvm-symbolizer said
// about each pc of a fixture (test/fixtures/debuginfo/make.sh, `-a -f -i`:
// the address, then a function line and a location line per frame, innermost first).
import { join } from "node:path";
import type { DwarfInfo, SourceFrame } from "../../../src/debuginfo/dwarf.ts";

export const FIXTURES = join(import.meta.dir, "../../fixtures/debuginfo");

export type Tool = "addr2line" | "eu-addr2line" | "llvm-symbolizer";

/** gdb's `info line *PC` for each pc: the line and file (as the line table names it), or null ("No line number information"). */
export function readGdbLines(name: string, pcs: readonly bigint[]): Map<bigint, { line: number; file: string } | null> {
  return parseGdbLines(fixtureText(`${name}.gdb`), pcs);
}

/** gdb -batch output of one `info line *PC` per pc, in order (one output line each). */
export function parseGdbLines(text: string, pcs: readonly bigint[]): Map<bigint, { line: number; file: string } | null> {
  const lines = text.split("\n").filter((l) => /^(Line \d+ of|No line number)/.test(l));
  if (lines.length !== pcs.length) throw new Error(`gdb answered ${lines.length} of ${pcs.length} pcs`);
  const out = new Map<bigint, { line: number; file: string } | null>();
  pcs.forEach((pc, i) => {
    const m = /^Line (\d+) of "(.*)"/.exec(lines[i] ?? "");
    out.set(pc, m ? { line: Number(m[1]), file: m[2] as string } : null);
  });
  return out;
}

export interface RefFrame {
  function: string | null;
  file: string | null;
  line: number | null;
  column: number | null;
}

/** pc → frames, innermost first; a pc the tool knows nothing of has one frame of nulls ("??", "??:0"). */
export function readReference(name: string, tool: Tool): Map<bigint, RefFrame[]> {
  return parseReference(fixtureText(`${name}.${tool}`));
}

const texts = new Map<string, string>();

/** A reference file, stored xz-compressed (make.sh), decompressed once per test process. */
function fixtureText(file: string): string {
  let text = texts.get(file);
  if (text === undefined) {
    const r = Bun.spawnSync(["xz", "-dc", join(FIXTURES, `${file}.xz`)]);
    if (r.exitCode !== 0) throw new Error(`Cannot decompress fixture "${file}.xz": xz failed`);
    text = r.stdout.toString();
    texts.set(file, text);
  }
  return text;
}

export function parseReference(text: string): Map<bigint, RefFrame[]> {
  const lines = text.split("\n");
  const out = new Map<bigint, RefFrame[]>();
  let frames: RefFrame[] = [];
  for (let i = 0; i < lines.length; i++) {
    const l = lines[i] as string;
    if (/^0x[0-9a-f]+$/.test(l)) {
      frames = [];
      out.set(BigInt(l), frames);
      continue;
    }
    if (l === "") continue;
    const loc = lines[++i] ?? "";
    const fn = l.replace(/ inlined at .* in .*$/, ""); // eu-addr2line's first frame names its caller too
    const m = /^(.*?):(\?|\d+)(?::(\d+))?(?: \(discriminator \d+\))?$/.exec(loc);
    const file = m && m[1] !== "??" ? (m[1] as string) : null;
    const line = m && m[2] !== "?" && m[2] !== "0" ? Number(m[2]) : null;
    const column = m && m[3] !== undefined && m[3] !== "0" ? Number(m[3]) : null;
    frames.push({ function: fn === "??" ? null : gdbName(fn), file, line, column });
  }
  return out;
}

/**
 * A demangled name as gdb shows a frame's function: without the parameter list
 * (and const), and without the return type demangling puts before template
 * functions ("void ns::f<int>(int)" → "ns::f<int>").
 */
export function gdbName(n: string): string {
  let s = n;
  if (s.endsWith(") const")) s = s.slice(0, -6);
  if (s.endsWith(")")) {
    let depth = 0;
    for (let i = s.length - 1; i >= 0; i--) {
      if (s[i] === ")") depth++;
      else if (s[i] === "(" && --depth === 0) {
        s = s.slice(0, i);
        break;
      }
    }
  }
  let depth = 0;
  let lastSpace = -1;
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (c === "<" || c === "(") depth++;
    else if (c === ">" || c === ")") depth--;
    else if (c === " " && depth === 0) lastSpace = i;
  }
  return lastSpace >= 0 ? s.slice(lastSpace + 1) : s;
}

/**
 * addr2line and eu-addr2line name a function of an anonymous namespace by its
 * DW_AT_name alone (it has no linkage name to demangle); gdb, and DwarfInfo,
 * qualify it. Compared without the qualifier.
 */
export function view(f: SourceFrame | RefFrame): string {
  return `${f.function?.replaceAll("(anonymous namespace)::", "") ?? "??"} ${f.file ?? "??"}:${f.line ?? 0}`;
}

function withoutTemplateArgs(s: string): string {
  let out = "";
  let depth = 0;
  for (const c of s) {
    if (c === "<") depth++;
    else if (c === ">" && depth > 0) depth--;
    else if (depth === 0) out += c;
  }
  return out;
}

export interface Comparison {
  mismatches: string[];
  /** pcs where DwarfInfo gave inlined frames. */
  inlined: number;
  /** pcs where the reference named a function from the symbol table (padding after a function) and DWARF has no subprogram. */
  symtabOnly: number;
  /**
   * pcs where a C++ name differs only inside template arguments: gcc's
   * DW_AT_name drops default arguments ("std::vector<geo::Point>") that the
   * demangled linkage name addr2line prints spells out; DwarfInfo has no demangler.
   */
  templateSpelling: number;
  /**
   * pcs where several line rows share the address and the tool takes the last
   * while gdb (and DwarfInfo) take the statement row, or the row says line 0,
   * which gdb (and DwarfInfo) drop: the innermost line is gdb's.
   */
  gdbLine: number;
}

/** frames() at every pc of ref; where ref and alt (another tool) disagree, agreeing with either is enough. */
export function compareFrames(
  dwarf: DwarfInfo,
  ref: Map<bigint, RefFrame[]>,
  alt?: Map<bigint, RefFrame[]>,
  gdb?: Map<bigint, { line: number; file: string } | null>,
): Comparison {
  const r: Comparison = { mismatches: [], inlined: 0, symtabOnly: 0, templateSpelling: 0, gdbLine: 0 };
  for (const [pc, want] of ref) {
    const got = dwarf.frames(pc);
    const w0 = want[0];
    const g0 = got[0];
    const g = gdb?.get(pc);
    if (want.length === 1 && w0 && w0.line === null && g && g0 && g0.line === g.line && sameFile(g0.file, g.file)) {
      // a line-0 row (clang): the tool says no line; gdb drops such rows and shows the line before, as we do
      r.gdbLine++;
      continue;
    }
    if (want.length === 1 && w0 && w0.line === null) {
      // the reference has no line here (crt code without DWARF, or line 0): neither may we
      if (got.some((f) => f.line !== null)) r.mismatches.push(`0x${pc.toString(16)}: want no line, got ${got.map(view).join(" < ")}`);
      continue;
    }
    if (got.length > 1) r.inlined++;
    if (want.length === 1 && got.length === 1 && g0 && w0 && g0.function === null && g0.file === w0.file && (g0.line === w0.line || g0.line === g?.line)) {
      r.symtabOnly++;
      continue;
    }
    const a = got.map(view).join(" < ");
    const b = want.map(view).join(" < ");
    const other = alt?.get(pc)?.map(view).join(" < ");
    if (a !== b && g && w0 && g0 && sameFile(g0.file, g.file) && a === [{ ...w0, file: g0.file, line: g.line }, ...want.slice(1)].map(view).join(" < ")) {
      r.gdbLine++;
      continue;
    }
    if (a !== b && a !== other && withoutTemplateArgs(a) === withoutTemplateArgs(b)) r.templateSpelling++;
    else if (a !== b && a !== other) r.mismatches.push(`0x${pc.toString(16)}: want ${b}\n  got ${a}`);
    got.forEach((f, i) => {
      if (f.inlined !== i < got.length - 1) r.mismatches.push(`0x${pc.toString(16)}: frame ${i} inlined=${f.inlined}`);
    });
  }
  return r;
}

/** gdb names a file as the line table does: absolute, or relative to the compilation directory. */
export function sameFile(full: string | null, gdbFile: string): boolean {
  return full !== null && (full === gdbFile || full.endsWith(`/${gdbFile}`));
}

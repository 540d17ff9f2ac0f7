// Test helper: reads what addr2line, eu-addr2line and llvm-symbolizer said
// about each pc of a fixture (test/fixtures/debuginfo/make.sh, `-a -f -i`:
// the address, then a function line and a location line per frame, innermost first).
import { readFileSync } from "node:fs";
import { join } from "node:path";

export const FIXTURES = join(import.meta.dir, "../../fixtures/debuginfo");

export type Tool = "addr2line" | "eu-addr2line" | "llvm-symbolizer";

export interface RefFrame {
  function: string | null;
  file: string | null;
  line: number | null;
  column: number | null;
}

/** pc → frames, innermost first; a pc the tool knows nothing of has one frame of nulls ("??", "??:0"). */
export function readReference(name: string, tool: Tool): Map<bigint, RefFrame[]> {
  const lines = readFileSync(join(FIXTURES, `${name}.${tool}`), "utf8").split("\n");
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

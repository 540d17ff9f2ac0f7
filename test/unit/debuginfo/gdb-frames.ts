// Parses the gdb output stored beside each debug-info fixture (make.sh runs
// `thread apply all bt`, `... frame apply all -q p/x $pc` and `... info frame`
// with every debug file): per frame the pc, function, file:line, and whether
// gdb made it an inlined frame or a tail-call frame (from `info frame`).
import { readFileSync } from "node:fs";

export interface GdbSourceFrame {
  pc: bigint;
  /** null for "??". */
  function: string | null;
  file: string | null;
  line: number | null;
  inlined: boolean;
  /** A frame gdb synthesizes from DW_TAG_call_site for a tail call (no return address on the stack). */
  tailCall: boolean;
  /** gdb's "<signal handler called>": the signal trampoline's frame (function null). */
  signal: boolean;
}

export interface GdbSourceThread {
  lwp: number;
  frames: GdbSourceFrame[];
}

/**
 * A demangled C++ function name as gdb's `bt` prints a frame with debug info: without its parameter list and
 * what follows it (gdb's cp_remove_params): "ns::Klass<int>::method() const" → "ns::Klass<int>::method",
 * "main::{lambda(int)#1}::operator()(int) const" → "main::{lambda(int)#1}::operator()".
 */
export function withoutParameters(name: string): string {
  const s = name.replace(/(?: const| volatile| restrict| &&| &)+$/, "");
  if (!s.endsWith(")")) return name;
  // back from the last ")" to its "(": parentheses are balanced in a demangled name ("void (*)(int)")
  let depth = 0;
  for (let i = s.length - 1; i >= 0; i--) {
    if (s[i] === ")") depth++;
    else if (s[i] === "(" && --depth === 0) return s.slice(0, i);
  }
  return name;
}

export function readGdbFrames(path: string): GdbSourceThread[] {
  const threads = new Map<number, GdbSourceThread>();
  const section = new Map<number, number>(); // lwp → 1 bt, 2 pcs, 3 info frame
  let current: GdbSourceThread | undefined;
  let part = 0;
  let pcIndex = 0;
  let level = -1;
  for (const line of readFileSync(path, "utf8").split("\n")) {
    const head = /^Thread \d+ \(.*?LWP (\d+)\)*\):?$/.exec(line);
    if (head) {
      const lwp = Number(head[1]);
      part = (section.get(lwp) ?? 0) + 1;
      section.set(lwp, part);
      if (!threads.has(lwp)) threads.set(lwp, { lwp, frames: [] });
      current = threads.get(lwp);
      pcIndex = 0;
      continue;
    }
    if (!current) continue;
    if (part === 1) {
      if (/^#\d+\s+<signal handler called>$/.test(line)) {
        current.frames.push({ pc: -1n, function: null, file: null, line: null, inlined: false, tailCall: false, signal: true });
        continue;
      }
      const m = /^#(\d+)\s+(?:0x[0-9a-f]+ in )?(\S+) \(.*?\)(?: at (\S+):(\d+)| from \S+)?$/.exec(line);
      if (m) {
        current.frames.push({
          pc: -1n,
          function: m[2] === "??" ? null : (m[2] as string).replace(/@.*$/, ""),
          file: m[3] ?? null,
          line: m[4] === undefined ? null : Number(m[4]),
          inlined: false,
          tailCall: false,
          signal: false,
        });
      }
    } else if (part === 2) {
      const m = /^\$\d+ = (0x[0-9a-f]+)$/.exec(line);
      const f = m ? current.frames[pcIndex++] : undefined;
      if (m && f) f.pc = BigInt(m[1] as string);
    } else if (part === 3) {
      const lv = /^Stack level (\d+), frame at/.exec(line);
      if (lv) level = Number(lv[1]);
      const f = current.frames[level];
      if (f && /^ inlined into frame \d+/.test(line)) f.inlined = true;
      if (f && /^ tail call frame/.test(line)) f.tailCall = true;
    }
  }
  return [...threads.values()];
}

/** gdb prints the line table's relative name ("records.c", "./nptl/pthread_kill.c"); a full path ending in it is the same file. */
export function sameFile(ours: string | null, gdb: string | null): boolean {
  if (ours === gdb) return true;
  if (ours === null || gdb === null) return false;
  const norm = (p: string): string => p.replace(/\/(\.\/)+/g, "/").replace(/^\.\//, "");
  const o = norm(ours);
  const g = norm(gdb).replace(/^(\.\.\/)+/, "");
  return o === g || o.endsWith("/" + g);
}

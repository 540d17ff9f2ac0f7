// Parses the gdb output stored beside each core fixture (make.sh runs
// `info threads`, `thread apply all bt` and `thread apply all frame apply all -q p/x $pc`).
import { readFileSync } from "node:fs";

export interface GdbFrame {
  pc: bigint;
  /** Function name as gdb printed it, without @version; null for "??". */
  name: string | null;
}

export interface GdbThread {
  lwp: number;
  frames: GdbFrame[];
}

export function readGdbReference(path: string): GdbThread[] {
  const threads = new Map<number, GdbThread>();
  const pcsSeen = new Set<number>();
  let current: GdbThread | undefined;
  let inPcs = false;
  let pcIndex = 0;
  for (const line of readFileSync(path, "utf8").split("\n")) {
    const head = /^Thread \d+ \(.*?LWP (\d+)\)*\):?$/.exec(line) ?? /^Thread \d+ \((?:Thread 0x[0-9a-f]+ \()?LWP (\d+)/.exec(line);
    if (head) {
      const lwp = Number(head[1]);
      if (threads.has(lwp)) {
        inPcs = true;
        pcsSeen.add(lwp);
        pcIndex = 0;
      } else {
        threads.set(lwp, { lwp, frames: [] });
      }
      current = threads.get(lwp);
      continue;
    }
    if (!current) continue;
    if (!inPcs) {
      if (/^#\d+\s+<signal handler called>/.test(line)) {
        current.frames.push({ pc: -1n, name: null });
        continue;
      }
      const m = /^#(\d+)\s+(?:(0x[0-9a-f]+) in )?(\S+) \(/.exec(line);
      if (m) {
        const name = m[3] === "??" ? null : (m[3] as string).replace(/@.*$/, "");
        current.frames.push({ pc: m[2] ? BigInt(m[2]) : -1n, name });
      }
    } else {
      const m = /^\$\d+ = (0x[0-9a-f]+)$/.exec(line);
      if (m) {
        const f = current.frames[pcIndex++];
        if (f) f.pc = BigInt(m[1] as string);
      }
    }
  }
  return [...threads.values()];
}

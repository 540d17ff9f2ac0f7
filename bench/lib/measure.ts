// Whole-process measurements for the benches: commands run directly (no
// shell), interleaved A B C A B C ... so that a shared machine's load falls
// on every command alike, medians of wall time and of CPU time (user+sys
// from wait4's rusage), peak RSS.

export interface Case {
  argv: string[];
  /** Run before each timed run, not timed (e.g. a fresh boot id). */
  setup?: () => void;
  env?: Record<string, string>;
  stdin?: string;
}

export interface Stats {
  /** Median wall time, ms. */
  wall: number;
  /** Median user+sys CPU time, ms. */
  cpu: number;
  /** Median peak RSS, KiB. */
  maxRssKiB: number;
  runs: number;
}

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}

function once(c: Case): { wall: number; cpu: number; rss: number } {
  c.setup?.();
  const t0 = performance.now();
  const p = Bun.spawnSync(c.argv, {
    stdout: "ignore",
    stderr: "pipe",
    ...(c.env ? { env: { ...process.env, ...c.env } } : {}),
    ...(c.stdin ? { stdin: Bun.file(c.stdin) } : {}),
  });
  const wall = performance.now() - t0;
  if (p.exitCode !== 0) throw new Error(`Cannot run "${c.argv.join(" ")}": exit ${p.exitCode}: ${p.stderr.toString().trim()}`);
  const ru = p.resourceUsage;
  const cpu = ru ? Number(ru.cpuTime.user + ru.cpuTime.system) / 1000 : NaN;
  return { wall, cpu, rss: ru ? Number(ru.maxRSS) : NaN };
}

/** Run every case `runs` times, interleaved, after one untimed warm-up round. */
export function interleave<K extends string>(cases: Readonly<Record<K, Case>>, runs: number): Record<K, Stats> {
  const names = Object.keys(cases) as K[];
  for (const n of names) once(cases[n]);
  const samples = new Map<K, Array<{ wall: number; cpu: number; rss: number }>>(names.map((n) => [n, []]));
  for (let i = 0; i < runs; i++) {
    // Rotate the order each round: no command always runs right after the same one.
    for (let j = 0; j < names.length; j++) {
      const n = names[(i + j) % names.length] as K;
      samples.get(n)?.push(once(cases[n]));
    }
  }
  const out = {} as Record<K, Stats>;
  for (const n of names) {
    const xs = samples.get(n) ?? [];
    out[n] = { wall: median(xs.map((x) => x.wall)), cpu: median(xs.map((x) => x.cpu)), maxRssKiB: median(xs.map((x) => x.rss)), runs };
  }
  return out;
}

export function loadAverage(): string {
  try {
    return require("node:fs").readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ");
  } catch {
    return "unknown";
  }
}

export function verdict(ok: boolean): string {
  return ok ? "MET" : "NOT MET";
}

/**
 * A bench input file of `size` bytes (kept when it already has that size):
 * fill → 1 MiB blocks each marked with its index (a copy's offset errors
 * show), else a sparse file (ftruncate).
 */
export function makeFile(path: string, size: number, fill: boolean): void {
  const { closeSync, existsSync, ftruncateSync, openSync, statSync, writeSync } = require("node:fs") as typeof import("node:fs");
  const MiB = 1024 * 1024;
  if (existsSync(path) && statSync(path).size === size) return;
  const fd = openSync(path, "w");
  try {
    if (fill) {
      const block = new Uint8Array(MiB);
      for (let i = 0; i < size / MiB; i++) {
        block.fill(i & 0xff);
        block[0] = (i >> 8) & 0xff;
        writeSync(fd, block);
      }
    } else ftruncateSync(fd, size);
  } finally {
    closeSync(fd);
  }
}

// Fault injection into the compiled binary with strace(1) (strace 5.3+:
// `-e inject=SYSCALL:error=ERRNO:when=N` and `:signal=SIGKILL:when=N`, see
// strace(1) "Tampering"): no test hook in the product. The injection
// counter is per traced thread: "the Nth call" is the Nth of each thread
// (crashkeep makes its calls from the main thread, but for the pipe
// handler's gzip stream). Not --seccomp-bpf: with it strace 6.1 stops
// counting the calls it filters out of the trace, and never injects.
import { readFileSync, rmSync } from "node:fs";
import { availableParallelism } from "node:os";

/** The calls that move evidence (issue 14), by their x86_64 names. */
export const SWEPT_SYSCALLS = ["pwrite64", "write", "fsync", "fdatasync", "rename", "renameat", "renameat2", "unlink", "unlinkat", "openat"] as const;
export type SweptSyscall = (typeof SWEPT_SYSCALLS)[number];

export type Fault = "kill" | "EIO" | "ENOSPC";
export const FAULTS: readonly Fault[] = ["kill", "EIO", "ENOSPC"];

export interface Run {
  code: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
}

export interface Invocation {
  argv: string[];
  env: Record<string, string>;
  cwd: string;
  /** A file fed to stdin (the pipe handler's core), else /dev/null. */
  stdin?: string | undefined;
}

/** strace gives up on a tracee that runs this long: a hung run is a failure, not a stuck suite. */
const RUN_TIMEOUT_MS = 60_000;

export async function run(inv: Invocation, prefix: string[] = []): Promise<Run> {
  const proc = Bun.spawn([...prefix, ...inv.argv], {
    cwd: inv.cwd,
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", ...inv.env },
    stdin: inv.stdin ? Bun.file(inv.stdin) : "ignore",
    stdout: "pipe",
    stderr: "pipe",
    timeout: RUN_TIMEOUT_MS,
  });
  const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  return { code: proc.signalCode ? null : code, signal: proc.signalCode ? String(proc.signalCode) : null, stdout, stderr };
}

export interface CallCounts {
  /**
   * Calls of each swept syscall, per thread, the largest: the injection
   * counter is per thread, so `when=N` hits the Nth call of every thread
   * that makes N (the pipe handler's gzip writes run on Bun's worker threads).
   */
  counts: Map<SweptSyscall, number>;
  /**
   * Of the main thread's calls, those made before the first one that
   * touches the system tree (`root`): the runtime's own start-up (loader,
   * libc, Bun reading /proc/self/maps, cgroups), the same for every command.
   */
  startup: Map<SweptSyscall, number>;
  /** Swept calls made by threads other than the main one. */
  otherThreads: number;
  run: Run;
}

/** How many times each thread makes each swept call, from one fault-free traced run. */
export async function countCalls(inv: Invocation, log: string, root: string): Promise<CallCounts> {
  const result = await run(inv, ["strace", "-f", "-qq", "-o", log, "-e", `trace=${SWEPT_SYSCALLS.join(",")}`, "--"]);
  const lines = readFileSync(log, "utf8").split("\n");
  rmSync(log, { force: true });
  let main: string | undefined;
  let ownCode = false;
  const perThread = new Map<string, Map<SweptSyscall, number>>();
  const startup = new Map<SweptSyscall, number>();
  let otherThreads = 0;
  for (const line of lines) {
    // "1234  write(1, ..." or "1234  <... write resumed>": count the start of each call only.
    const m = /^(\d+)\s+([a-z0-9_]+)\(/.exec(line);
    if (!m || !m[1] || !m[2]) continue;
    main ??= m[1];
    const name = m[2] as SweptSyscall;
    const mine = perThread.get(m[1]) ?? new Map<SweptSyscall, number>();
    perThread.set(m[1], mine);
    mine.set(name, (mine.get(name) ?? 0) + 1);
    if (m[1] !== main) {
      otherThreads++;
      continue;
    }
    if (line.includes(`"${root}/`)) ownCode = true;
    if (!ownCode) startup.set(name, (startup.get(name) ?? 0) + 1);
  }
  const counts = new Map<SweptSyscall, number>();
  for (const calls of perThread.values()) for (const [name, n] of calls) counts.set(name, Math.max(n, counts.get(name) ?? 0));
  return { counts, startup, otherThreads, run: result };
}

/** Run with the Nth call of `syscall` failed with errno, or the process killed there. */
export function runFaulted(inv: Invocation, syscall: SweptSyscall, n: number, fault: Fault): Promise<Run> {
  const action = fault === "kill" ? `signal=SIGKILL` : `error=${fault}`;
  return run(inv, ["strace", "-f", "-qq", "-o", "/dev/null", "-e", `trace=${syscall}`, "-e", `inject=${syscall}:${action}:when=${n}`, "--"]);
}

/** Run jobs on every core (the machine's own count): strace makes each run slower, not busier. */
export async function pool<T>(jobs: Array<() => Promise<T>>, width = Math.max(1, availableParallelism())): Promise<T[]> {
  const results: T[] = new Array(jobs.length);
  let next = 0;
  const worker = async () => {
    for (let i = next++; i < jobs.length; i = next++) {
      const job = jobs[i];
      if (job) results[i] = await job();
    }
  };
  await Promise.all(Array.from({ length: Math.min(width, jobs.length) }, worker));
  return results;
}

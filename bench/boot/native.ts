// bench/boot/native: the boot path on this machine (native, not QEMU), in one
// run, against a compiled Bun hello-world H (built like crashkeep: COMPILE_FLAGS):
//   - before issue 24, two processes: `crashkeep init`, then `crashkeep
//     watch --pidfile` until its pidfile exists;
//   - now one: `crashkeep watch --init --pidfile` until /run/crashkeep/init.json
//     exists (init's work done, the daemon watching): ≤ 1.3 × H;
//   - the CPU time (utime + stime) each path used by then: ≤ 1.3 × H's;
//   - the one process again on a later boot: the config cache written (by
//     `crashkeep config show` in that copy), so zod does not run.
// On the fault sweep's tree of a device that crashed (a pstore record, a
// journal note and log tail of the previous boot: test/integration/fault/paths.ts),
// a fresh copy per run; RUNS runs (default 7) of each, in turn; medians.
// Run: make build && node_modules/.bin/bun bench/boot/native.ts
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { COMPILE_FLAGS } from "../../build/compile.ts";
import { dropScenario, PATHS, scenarioFrom } from "../../test/integration/fault/paths.ts";
import { verdict } from "../verdict.ts";

const REPO = resolve(import.meta.dir, "../..");
const BIN = process.env.CRASHKEEP_BIN ?? join(REPO, "out/crashkeep");
const RUNS = Number(process.env.RUNS ?? 7);
/** Issue 24: the daemon ready, and its CPU time by then, at most this many times H. */
const READY_RATIO = 1.3;

if (!existsSync(BIN)) throw new Error(`Cannot find "${BIN}": run make build first`);

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] as number;
}

/** Wall and CPU seconds (user + system, getrusage) of a process run to its end. */
function timed(argv: string[], env: Record<string, string>): { wallS: number; cpuS: number } {
  const t0 = performance.now();
  const r = Bun.spawnSync(argv, { env, stdout: "ignore", stderr: "ignore" });
  const wallS = (performance.now() - t0) / 1000;
  if (r.exitCode !== 0 && !argv.includes("init")) throw new Error(`Cannot run ${argv.join(" ")}: exit ${r.exitCode}`);
  return { wallS, cpuS: Number(r.resourceUsage.cpuTime.total) / 1e6 };
}

/** CPU seconds a running process has used, in ns steps (/proc/PID/schedstat: time on a CPU). */
function cpuOf(pid: number): number {
  return Number(readFileSync(`/proc/${pid}/schedstat`, "utf8").split(" ")[0]) / 1e9;
}

/** Start a daemon; wall seconds until `file` exists, and its CPU seconds then; then SIGTERM. */
async function daemonUntil(argv: string[], env: Record<string, string>, file: string): Promise<{ wallS: number; cpuS: number }> {
  const t0 = performance.now();
  const p = Bun.spawn(argv, { env, stdout: "ignore", stderr: "ignore" });
  while (!existsSync(file)) {
    if (p.exitCode !== null || performance.now() - t0 > 60_000) throw new Error(`Cannot see "${file}" (exit ${p.exitCode})`);
    await Bun.sleep(2);
  }
  const wallS = (performance.now() - t0) / 1000;
  const cpuS = cpuOf(p.pid);
  p.kill("SIGTERM");
  await p.exited;
  return { wallS, cpuS };
}

const work = mkdtempSync(join(tmpdir(), "crashkeep-bench-native-boot-"));
const initPath = PATHS.find((p) => p.name.startsWith("init"));
if (!initPath) throw new Error("Cannot find the sweep's init path");
const template = await initPath.template();
try {
  await Bun.write(join(work, "hello.ts"), 'console.log("hello");\n');
  const build = Bun.spawnSync([join(REPO, "node_modules/.bin/bun"), "build", ...COMPILE_FLAGS, join(work, "hello.ts"), "--outfile", join(work, "hello")], { stderr: "pipe" });
  if (build.exitCode !== 0) throw new Error(`Cannot build the Bun hello-world: ${build.stderr.toString().trim()}`);
  const m = {
    hWall: [] as number[], hCpu: [] as number[], twoWall: [] as number[], twoCpu: [] as number[], oneWall: [] as number[], oneCpu: [] as number[],
    warmWall: [] as number[], warmCpu: [] as number[],
  };
  for (let i = 0; i < RUNS; i++) {
    const h = timed([join(work, "hello")], { PATH: process.env.PATH ?? "" });
    m.hWall.push(h.wallS);
    m.hCpu.push(h.cpuS);

    const two = scenarioFrom(template);
    try {
      const env = { PATH: process.env.PATH ?? "", CRASHKEEP_ROOT: two.root };
      rmSync(join(two.root, "run/crashkeep/init.json"), { force: true });
      const init = timed([BIN, "init"], env);
      const watch = await daemonUntil([BIN, "watch", "--pidfile", join(two.root, "watch.pid")], env, join(two.root, "watch.pid"));
      m.twoWall.push(init.wallS + watch.wallS);
      m.twoCpu.push(init.cpuS + watch.cpuS);
    } finally {
      dropScenario(two);
    }

    const one = scenarioFrom(template);
    try {
      const env = { PATH: process.env.PATH ?? "", CRASHKEEP_ROOT: one.root };
      rmSync(join(one.root, "run/crashkeep/init.json"), { force: true });
      const r = await daemonUntil([BIN, "watch", "--init", "--pidfile", join(one.root, "watch.pid")], env, join(one.root, "run/crashkeep/init.json"));
      m.oneWall.push(r.wallS);
      m.oneCpu.push(r.cpuS);
    } finally {
      dropScenario(one);
    }

    const warm = scenarioFrom(template);
    try {
      const env = { PATH: process.env.PATH ?? "", CRASHKEEP_ROOT: warm.root };
      rmSync(join(warm.root, "run/crashkeep/init.json"), { force: true });
      timed([BIN, "config", "show"], env);
      if (!existsSync(join(warm.root, "var/cache/crashkeep/config.json"))) throw new Error("Cannot see the config cache after crashkeep config show");
      const r = await daemonUntil([BIN, "watch", "--init", "--pidfile", join(warm.root, "watch.pid")], env, join(warm.root, "run/crashkeep/init.json"));
      m.warmWall.push(r.wallS);
      m.warmCpu.push(r.cpuS);
    } finally {
      dropScenario(warm);
    }
  }
  const md = Object.fromEntries(Object.entries(m).map(([k, v]) => [k, median(v)])) as Record<keyof typeof m, number>;
  const s = (x: number) => `${(x * 1000).toFixed(0)} ms`;
  const load = readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ");
  console.log(`boot path, native (this machine, load ${load}), ${RUNS} runs each, medians`);
  console.log("| | wall | CPU |\n|---|---|---|");
  console.log(`| Bun hello-world H | ${s(md.hWall)} | ${s(md.hCpu)} |`);
  console.log(`| crashkeep init, then watch until its pidfile (two processes) | ${s(md.twoWall)} | ${s(md.twoCpu)} |`);
  console.log(`| crashkeep watch --init until ready (init.json) | ${s(md.oneWall)} | ${s(md.oneCpu)} |`);
  console.log(`| the same on a later boot (config cache present) | ${s(md.warmWall)} | ${s(md.warmCpu)} |`);
  const ratio = (x: number, h: number) => (x / h).toFixed(2);
  console.log(verdict("native: watch --init ready / H (wall)", `${s(md.oneWall)} / ${s(md.hWall)} = ${ratio(md.oneWall, md.hWall)}× (two processes: ${ratio(md.twoWall, md.hWall)}×)`, `≤ ${READY_RATIO}× H`, md.oneWall / md.hWall <= READY_RATIO));
  console.log(verdict("native: watch --init CPU by ready / H's CPU", `${s(md.oneCpu)} / ${s(md.hCpu)} = ${ratio(md.oneCpu, md.hCpu)}× (two processes: ${ratio(md.twoCpu, md.hCpu)}×)`, `≤ ${READY_RATIO}× H`, md.oneCpu / md.hCpu <= READY_RATIO));
  console.log(verdict("native: watch --init ready / H (wall), later boot", `${s(md.warmWall)} / ${s(md.hWall)} = ${ratio(md.warmWall, md.hWall)}×`, `≤ ${READY_RATIO}× H`, md.warmWall / md.hWall <= READY_RATIO));
  console.log(verdict("native: watch --init CPU by ready / H's CPU, later boot", `${s(md.warmCpu)} / ${s(md.hCpu)} = ${ratio(md.warmCpu, md.hCpu)}×`, `≤ ${READY_RATIO}× H`, md.warmCpu / md.hCpu <= READY_RATIO));
} finally {
  rmSync(work, { recursive: true, force: true });
  rmSync(template, { recursive: true, force: true });
}

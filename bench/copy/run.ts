// bench/copy: the write-up's dd workflows against `crashkeep copy`, in one
// run, as ratios of whole-process wall time (median of RUNS runs, page cache
// warm). Run with `make bench` (needs out/crashkeep).
//   1. the last 64 MiB of a 1 GiB file into a 64 MiB file:
//      crashkeep vs `dd bs=1M` with correct skip/count vs `tail -c | dd`
//   2. the last 1 MiB into a 1 MiB window: crashkeep vs the write-up's `dd bs=1`
import { existsSync, mkdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { verdict } from "../verdict.ts";
import { makeFile } from "../lib/measure.ts";

const RUNS = Number(process.env.RUNS ?? 7);
const root = join(import.meta.dir, "../..");
const dir = join(root, "out/bench/copy");
const bin = process.env.CRASHKEEP_BIN ?? join(root, "out/crashkeep");
const MiB = 1024 * 1024;


function time(cmd: string): number {
  const t0 = performance.now();
  const p = Bun.spawnSync(["sh", "-c", cmd], { stdout: "ignore", stderr: "pipe" });
  const t = performance.now() - t0;
  if (p.exitCode !== 0) throw new Error(`Cannot run "${cmd}": ${p.stderr.toString().trim()}`);
  return t;
}

function median(cmd: string, runs = RUNS): number {
  time(cmd); // warm-up: page cache and binary
  const xs = Array.from({ length: runs }, () => time(cmd)).sort((a, b) => a - b);
  return xs[Math.floor(xs.length / 2)] as number;
}

function check(dest: string, src: string, bytes: number): void {
  const p = Bun.spawnSync(["sh", "-c", `tail -c ${bytes} '${src}' | cmp - '${dest}'`]);
  if (p.exitCode !== 0) throw new Error(`Cannot trust the bench: ${dest} differs from tail -c ${bytes} ${src}`);
}

if (!existsSync(bin)) throw new Error(`Cannot find "${bin}": run make build first`);
mkdirSync(dir, { recursive: true });
const src = join(dir, "src-1g.bin");
const dst = join(dir, "dst-64m.bin");
const dst1 = join(dir, "dst-1m.bin");
makeFile(src, 1024 * MiB, true);
makeFile(dst, 64 * MiB, false);
makeFile(dst1, MiB, false);

const fsize = statSync(src).size;
const cases = {
  crashkeep: `'${bin}' copy --tail '${src}' '${dst}'`,
  ddBs1M: `dd if='${src}' of='${dst}' bs=1M skip=${(fsize - 64 * MiB) / MiB} count=64 conv=notrunc status=none`,
  tailDd: `tail -c ${64 * MiB} '${src}' | dd of='${dst}' bs=1M iflag=fullblock conv=notrunc status=none`,
  crashkeep1M: `'${bin}' copy --tail '${src}' '${dst1}'`,
  ddBs1: `dd if='${src}' of='${dst1}' bs=1 skip=${fsize - MiB} count=${MiB} conv=notrunc status=none`,
};

const results: Record<string, number> = {};
// Process start-up alone, to show how much of each figure is copying.
results.startCrashkeep = median(`'${bin}' --version`);
results.startDd = median(`dd if=/dev/null of=/dev/null count=0 status=none`);
for (const [name, cmd] of Object.entries(cases)) {
  results[name] = median(cmd, name === "ddBs1" ? 3 : RUNS);
  const small = name === "crashkeep1M" || name === "ddBs1";
  check(small ? dst1 : dst, src, small ? MiB : 64 * MiB);
}

const r = (n: number) => n.toFixed(n < 10 ? 2 : 0);
const rows = [
  ["last 64 MiB of 1 GiB → 64 MiB file", "crashkeep copy --tail", r(results.crashkeep as number), "1.00"],
  ["", "dd bs=1M skip/count", r(results.ddBs1M as number), ((results.crashkeep as number) / (results.ddBs1M as number)).toFixed(2)],
  ["", "tail -c | dd bs=1M", r(results.tailDd as number), ((results.crashkeep as number) / (results.tailDd as number)).toFixed(2)],
  ["last 1 MiB → 1 MiB window", "crashkeep copy --tail", r(results.crashkeep1M as number), "1.00"],
  ["", "dd bs=1 (the write-up)", r(results.ddBs1 as number), ((results.crashkeep1M as number) / (results.ddBs1 as number)).toFixed(4)],
];
console.log(`copy benchmark: median of ${RUNS} runs (dd bs=1: 3), whole-process wall time, warm page cache`);
console.log("| case | tool | ms | crashkeep / tool |");
console.log("|---|---|---|---|");
for (const row of rows) console.log(`| ${row.join(" | ")} |`);
const copyCk = (results.crashkeep as number) - (results.startCrashkeep as number);
const copyDd = (results.ddBs1M as number) - (results.startDd as number);
console.log(`\nstart-up alone: crashkeep --version ${r(results.startCrashkeep as number)} ms, dd count=0 ${r(results.startDd as number)} ms`);
console.log(`copying alone (time minus start-up), 64 MiB: crashkeep ${r(copyCk)} ms, dd bs=1M ${r(copyDd)} ms: ratio ${(copyCk / copyDd).toFixed(2)}`);
const vsDd = (results.crashkeep as number) / (results.ddBs1M as number);
const vsBs1 = (results.ddBs1 as number) / (results.crashkeep1M as number);
console.log(`\n${verdict("crashkeep vs dd bs=1M", `${vsDd.toFixed(2)}x the time`, "≤ 1.10x", vsDd <= 1.1)}`);
console.log(verdict("crashkeep vs dd bs=1", `${vsBs1.toFixed(0)}x faster`, "> 1000x", vsBs1 > 1000));

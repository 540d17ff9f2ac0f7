// bench/debuginfo: DwarfInfo.frames() over the same pcs as `eu-addr2line -i`
// and `addr2line -i`, on debug files of ~1, ~10 and ~100 MiB made by gen.sh
// (out/bench/debuginfo, not committed). Whole-process wall time (median of
// RUNS) and peak RSS (/usr/bin/time %M), then whether DwarfInfo's memory stays
// flat in the size of the debug file (MET / NOT MET). Not asserted by tests.
// Usage (from the repository root): node_modules/.bin/bun bench/debuginfo/run.ts
// Env: RUNS (3), PCS (200), UNITS ("8,70,700": compile units per file).
// Needs: gcc, binutils, elfutils, time (/usr/bin/time).
import { mkdirSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";

const RUNS = Number(process.env.RUNS ?? 3);
const PCS = Number(process.env.PCS ?? 200);
const UNITS = (process.env.UNITS ?? "8,70,700").split(",").map(Number);
/** "Flat": DwarfInfo's peak RSS grows by less than this from the smallest file to the largest. */
const FLAT_MIB = 16;
const root = join(import.meta.dir, "../..");
const dir = join(root, "out/bench/debuginfo");
const bun = join(root, "node_modules/.bin/bun");
const MiB = 1024 * 1024;

function run(cmd: string[], stdin?: string): { ms: number; rssMiB: number; out: string } {
  const p = Bun.spawnSync(["/usr/bin/time", "-f", "%e %M", ...cmd], { stdin: stdin === undefined ? "ignore" : Buffer.from(stdin), stdout: "pipe", stderr: "pipe" });
  const err = p.stderr.toString().trim().split("\n");
  const last = (err.at(-1) ?? "").split(" ");
  if (p.exitCode !== 0 && !cmd[0]?.includes("addr2line")) throw new Error(`Cannot run "${cmd.join(" ")}": ${err.join(" ")}`);
  return { ms: Number(last[0]) * 1000, rssMiB: Number(last[1]) / 1024, out: p.stdout.toString() };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] as number;
}

function measure(cmd: string[], stdin?: string): { ms: number; rssMiB: number; out: string } {
  const runs = Array.from({ length: RUNS }, () => run(cmd, stdin));
  return { ms: median(runs.map((r) => r.ms)), rssMiB: median(runs.map((r) => r.rssMiB)), out: runs[0]?.out ?? "" };
}

function textRange(so: string): [bigint, bigint] {
  const out = Bun.spawnSync(["readelf", "-S", "-W", so]).stdout.toString();
  const m = / \.text +PROGBITS +([0-9a-f]+) [0-9a-f]+ ([0-9a-f]+)/.exec(out);
  if (!m) throw new Error(`Cannot find .text in "${so}"`);
  return [BigInt(`0x${m[1]}`), BigInt(`0x${m[2]}`)];
}

mkdirSync(dir, { recursive: true });
const rows: Array<{ units: number; sizeMiB: number; tool: string; ms: number; rssMiB: number; note: string }> = [];
for (const units of UNITS) {
  const gen = Bun.spawnSync([join(import.meta.dir, "gen.sh"), String(units), dir], { stderr: "inherit" });
  if (gen.exitCode !== 0) throw new Error(`Cannot generate a debug file of ${units} units`);
  const debug = gen.stdout.toString().trim();
  const sizeMiB = statSync(debug).size / MiB;
  const [start, size] = textRange(debug.replace(/\.debug$/, ".so"));
  const pcs = Array.from({ length: PCS }, (_, i) => `0x${(start + (size * BigInt(i)) / BigInt(PCS)).toString(16)}`);
  writeFileSync(join(dir, `pcs-${units}`), pcs.join("\n"));
  const ours = measure([bun, join(import.meta.dir, "entry.ts"), debug], pcs.join("\n"));
  const base = measure([bun, join(import.meta.dir, "entry.ts"), debug, "--open-only"], pcs.join("\n"));
  const r = JSON.parse(ours.out) as { frames: number; ms: number };
  rows.push({ units, sizeMiB, tool: "DwarfInfo.frames (bun)", ms: ours.ms, rssMiB: ours.rssMiB, note: `${r.frames} frames, lookups ${r.ms.toFixed(0)} ms; open only: ${base.rssMiB.toFixed(1)} MiB` });
  const eu = measure(["eu-addr2line", "-f", "-i", "-e", debug, ...pcs]);
  rows.push({ units, sizeMiB, tool: "eu-addr2line -f -i", ms: eu.ms, rssMiB: eu.rssMiB, note: "" });
  const bu = measure(["addr2line", "-f", "-i", "-e", debug, ...pcs]);
  rows.push({ units, sizeMiB, tool: "addr2line -f -i", ms: bu.ms, rssMiB: bu.rssMiB, note: "" });
}

console.log(`bench/debuginfo: ${PCS} pcs spread over .text, median of ${RUNS} runs, whole-process wall time and peak RSS`);
console.log("units  debug MiB  tool                      wall ms  peak RSS MiB  note");
for (const r of rows) {
  console.log(`${String(r.units).padStart(5)}  ${r.sizeMiB.toFixed(1).padStart(9)}  ${r.tool.padEnd(24)}  ${r.ms.toFixed(0).padStart(7)}  ${r.rssMiB.toFixed(1).padStart(12)}  ${r.note}`);
}
const ours = rows.filter((r) => r.tool.startsWith("DwarfInfo"));
const first = ours[0];
const last = ours.at(-1);
if (first && last && first !== last) {
  const growth = last.rssMiB - first.rssMiB;
  const verdict = growth < FLAT_MIB ? "MET" : "NOT MET";
  console.log(`memory flat (peak RSS grows < ${FLAT_MIB} MiB from ${first.sizeMiB.toFixed(1)} to ${last.sizeMiB.toFixed(1)} MiB of debug file): ${verdict} (+${growth.toFixed(1)} MiB)`);
}

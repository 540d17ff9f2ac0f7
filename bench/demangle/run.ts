// Bench: what demangling costs (issue 21). 1. demangle() over libstdc++'s 5864
// names and the fixture programs' Rust names (test/fixtures/demangle/names):
// the first pass (cold: the interpreter) and the steady state. 2. `inspect` of
// the C++ core of test/fixtures/demangle (symbol table only, and with the
// debug file) and of a C core (test/fixtures/symbolize records): callgrind
// instructions and user+sys CPU of out/crashkeep, and of BASE=<another
// crashkeep binary> (a build before the demangler) when given.
// Usage: bun bench/demangle/run.ts [RUNS]   (RUNS: CPU-time runs, default 10)
import { existsSync } from "node:fs";
import { join } from "node:path";
import { demangle } from "../../src/demangle/demangle.ts";
import { demangleCores, nameTable } from "../../test/unit/demangle/fixtures.ts";
import { debugFixtures } from "../../test/unit/debuginfo/symbolize-fixtures.ts";

const ROOT = join(import.meta.dir, "../..");
const RUNS = Number(process.argv[2] ?? 10);
const BIN = join(ROOT, "out/crashkeep");
const BASE = process.env.BASE;

for (const table of ["libstdc++", "rust"]) {
  const names = nameTable(table).map((r) => r.mangled);
  let t = performance.now();
  for (const n of names) demangle(n);
  const cold = performance.now() - t;
  t = performance.now();
  for (let i = 0; i < 5; i++) for (const n of names) demangle(n);
  const warm = (performance.now() - t) / 5;
  console.log(`demangle(), ${names.length} ${table} names: first pass ${cold.toFixed(1)} ms, then ${warm.toFixed(1)} ms (${((warm * 1000) / names.length).toFixed(1)} µs a name)`);
}

/** Median of 3 callgrind counts: Bun's GC and JIT threads make one count vary by ±8% under load. */
function instructions(bin: string, args: string[]): number {
  const counts: number[] = [];
  for (let i = 0; i < 3; i++) {
    const p = Bun.spawnSync(["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", bin, ...args], { stdout: "ignore", stderr: "pipe" });
    counts.push(Number(/Collected : (\d+)/.exec(p.stderr.toString())?.[1] ?? NaN));
  }
  return counts.sort((a, b) => a - b)[1] ?? NaN;
}
function cpuMs(bin: string, args: string[]): number {
  const times: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const p = Bun.spawnSync(["/usr/bin/time", "-f", "%U %S", bin, ...args], { stdout: "ignore", stderr: "pipe" });
    const [u, s] = (p.stderr.toString().trim().split("\n").at(-1) ?? "").split(" ").map(Number);
    times.push(((u ?? NaN) + (s ?? NaN)) * 1000);
  }
  return times.sort((a, b) => a - b)[Math.floor(times.length / 2)] ?? NaN;
}

const dm = demangleCores();
const sym = debugFixtures();
const cases: Array<[string, string[]]> = [
  ["C core (records), symbols", ["inspect", sym.cores.find((c) => c.name === "records")!.core, "--sysroot", sym.sysroot]],
  ["C++ core (shapes), symbols", ["inspect", dm.cores.shapes!, "--sysroot", dm.sysroot]],
  ["C++ core (shapes), debug file", ["inspect", dm.cores.shapes!, "--sysroot", dm.sysroot, "--debug-dir", dm.debugDir]],
];
const bins = [["out/crashkeep", BIN], ...(BASE && existsSync(BASE) ? [["BASE", BASE]] : [])] as Array<[string, string]>;
console.log(`\n| inspect | ${bins.map(([n]) => `${n}: M instructions (median of 3) | ${n}: CPU ms (median of ${RUNS})`).join(" | ")} |`);
console.log(`|---|${bins.map(() => "---|---").join("|")}|`);
for (const [what, args] of cases) {
  const cells = bins.map(([, b]) => `${(instructions(b, args) / 1e6).toFixed(1)} | ${cpuMs(b, args).toFixed(0)}`);
  console.log(`| ${what} | ${cells.join(" | ")} |`);
}

// bench/debuginfo/fuzz.ts: the time of each fuzz case of
// test/unit/debuginfo/fuzz.test.ts (a mutated debug file opened and asked its
// pcs), against the clean seed's in the same process, as a ratio: the test's
// old "≤ 2 s per case" as a figure that load does not move. MET / NOT MET, never
// a failure. Usage (from the repository root): node_modules/.bin/bun bench/debuginfo/fuzz.ts
import { DwarfInfo } from "../../src/debuginfo/dwarf.ts";
import { bytesSource } from "../../src/debuginfo/source.ts";
import { fuzzInputs, SEEDS } from "../../test/unit/debuginfo/fuzz-cases.ts";
import { verdict } from "../verdict.ts";

/** A mutant may cost this many times the clean seed, at most: more is a parser gone quadratic (a clean parse is ~1 ms). */
const MAX_RATIO = 200;
/** Clean runs per seed: their median is the unit. */
const CLEAN_RUNS = 9;

function run(input: Uint8Array, alt: Uint8Array | undefined, pcs: readonly bigint[]): number {
  const t0 = performance.now();
  try {
    const d = DwarfInfo.open(bytesSource(input), alt ? { supplementary: bytesSource(alt) } : {});
    if (d) for (const pc of pcs) d.frames(pc);
  } catch {
    // the test's business; here only the time counts
  }
  return performance.now() - t0;
}

let worst = 0;
for (const seed of SEEDS) {
  const { src, alt, pcs, inputs } = fuzzInputs(seed);
  const clean = Array.from({ length: CLEAN_RUNS }, () => run(src, alt, pcs)).sort((a, b) => a - b)[Math.floor(CLEAN_RUNS / 2)] as number;
  const times = [...inputs()].map((input) => run(input, alt, pcs));
  const slowest = Math.max(...times);
  const ratio = slowest / Math.max(clean, 0.01);
  worst = Math.max(worst, ratio);
  console.log(`${seed.name}: clean ${clean.toFixed(2)} ms, ${times.length} mutants, slowest ${slowest.toFixed(2)} ms (${ratio.toFixed(1)}× clean)`);
}
console.log(verdict("slowest fuzz case against its clean seed", `${worst.toFixed(1)}×`, `≤ ${MAX_RATIO}×`, worst <= MAX_RATIO));

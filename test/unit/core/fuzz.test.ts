// Fuzzing the reader and the report with mutated real cores: every input
// gives a report (possibly incomplete) or a RangeError/SyntaxError — never
// another exception, a hang or unbounded memory. A new seed every run
// (printed; FUZZ_SEED=N replays one); a failing input is saved to
// test/fixtures/regressions/ as core-SEED-CASE.core, where
// regressions.test.ts runs it from then on.
import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { CoreReader } from "../../../src/core/reader.ts";
import { fixtures } from "./fixtures.ts";
import { exercise, fuzzSeed, materialize, mulberry32, mutate, saveRegression } from "./mutants.ts";

/** Cases per seed core; 4 cores: 10 000 mutated cores a run. */
const CASES = 2500;
const SEED = fuzzSeed();

describe("fuzz", () => {
  const seeds = fixtures().filter((f) => ["nested", "threads", "handler"].includes(f.name) && f.arch === "x86_64");
  seeds.push(...fixtures().filter((f) => f.name === "abort" && f.arch === "aarch64"));
  test.each(seeds.map((f) => [`${f.arch}/${f.name}`, f] as const))("%s: mutated cores never crash the reader", (_n, f) => {
    const src = new Uint8Array(readFileSync(f.core));
    const headLength = Math.min(src.length, 16384);
    const ranges: Array<[number, number]> = [];
    const clean = new CoreReader();
    for (let w = clean.want(); w; w = clean.want()) {
      ranges.push([w.offset, w.length]);
      clean.feed(src.subarray(w.offset, w.offset + w.length));
    }
    const seed = (SEED ^ src.length) >>> 0;
    console.log(`fuzz ${f.arch}/${f.name}: seed ${SEED} (FUZZ_SEED=${SEED} replays it), ${CASES} mutated cores`);
    const rand = mulberry32(seed);
    const outcomes = new Map<string, number>();
    for (let i = 0; i < CASES; i++) {
      const input = mutate(src, rand, headLength, ranges);
      let outcome: string;
      try {
        outcome = exercise(input, f.sysroot);
      } catch (err) {
        const saved = saveRegression(`core-${SEED}-${f.arch}-${f.name}-${i}.core`, materialize(input));
        throw new Error(`case ${i} of ${f.arch}/${f.name} (seed ${SEED}) failed; saved as ${saved} (commit it with a line in its README): ${err instanceof Error ? err.stack : String(err)}`);
      }
      outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
    }
    // every kind of outcome shows up: the mutations reach past the header checks
    expect(outcomes.get("incomplete") ?? 0).toBeGreaterThan(0);
    expect((outcomes.get("ok") ?? 0) + (outcomes.get("incomplete") ?? 0)).toBeGreaterThan(CASES / 4);
  }, 120_000);
});

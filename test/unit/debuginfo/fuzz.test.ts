// Fuzzing the DWARF reader with mutated real debug files (the fixtures of
// test/fixtures/debuginfo/): bytes of the .debug_* sections changed, counts
// and lengths made huge, files cut short. Every input gives frames (possibly
// fewer) and warnings — never an exception, a hang or unbounded warnings.
// Deterministic (seeded). An input that ever fails goes to test/fixtures/regressions/.
// No time per case is asserted: under load a wall-clock bound says nothing, and
// a case that never returns hangs the run into the test's timeout either way.
// bench/debuginfo/fuzz.ts times the same cases.
import { describe, expect, test } from "bun:test";
import { DwarfInfo, MAX_WARNINGS } from "../../../src/debuginfo/dwarf.ts";
import { bytesSource } from "../../../src/debuginfo/source.ts";
import { CASES, fuzzInputs, PCS, SEEDS } from "./fuzz-cases.ts";

describe("fuzz: mutated debug files", () => {
  test.each(SEEDS.map((s) => [s.name, s] as const))("%s: mutants never crash or hang the reader", (_name, seed) => {
    const { alt, pcs, inputs } = fuzzInputs(seed);
    let warned = 0;
    let framed = 0;
    let i = -1;
    for (const input of inputs()) {
      i++;
      try {
        const d = DwarfInfo.open(bytesSource(input), alt ? { supplementary: bytesSource(alt) } : {});
        if (!d) continue;
        for (const pc of pcs) if (d.frames(pc).length > 0) framed++;
        // the call-site reader (tail-call frames) on the same mutants: a pc as a return address and as a function's
        for (const pc of pcs) {
          d.callSite(pc);
          d.functionAt(pc);
        }
        if (d.warnings.length > 0) warned++;
        expect(d.warnings.length).toBeLessThanOrEqual(MAX_WARNINGS);
        const internal = d.warnings.find((w) => /: unexpected \w*Error: /.test(w));
        if (internal) throw new Error(internal);
      } catch (err) {
        throw new Error(`case ${i} of ${seed.name} failed (save it to test/fixtures/regressions/): ${err instanceof Error ? err.stack : String(err)}`);
      }
    }
    // the mutations reach the parsers (warnings) and leave much readable (frames)
    expect(warned).toBeGreaterThan(CASES / 10);
    expect(framed).toBeGreaterThan(CASES * PCS * seed.framed);
  }, 60_000);
});

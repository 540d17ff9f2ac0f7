// The rollback policy against expectations written apart from the code.
//
// The rules, in plain words (docs/ROLLBACK.md "Rules"):
//   1. A boot of an install on probation is bad when it ended in a kernel
//      panic, a kernel oops or an unexpected reset, or when a critical
//      executable crash-looped in it. A power loss, a clean shutdown and a
//      noted reason never make a boot bad.
//   2. The first boot that ran probationSeconds without a bad verdict passed
//      probation: the install is good from then on, and nothing after it
//      counts (a panic a week later is not the update's probation).
//   3. An install known good (the factory one) is never on probation.
//   4. At the start of a boot: a good install is marked good at once; an
//      install with maxBadBoots bad boots (or more) is rolled back; any other
//      is on probation.
//   5. When this boot reaches probationSeconds: a good install needs nothing;
//      one with maxBadBoots bad boots is rolled back; else it is marked good.
//   6. When a critical executable crash-loops in this boot: nothing for a good
//      install; else this boot is one more bad boot: maxBadBoots reached →
//      rolled back, below → counted (a clean reboot for the next try).
//   7. A rollback once decided is carried out again while the slot runs.
//   8. A fallback by the bootloader alone is reported once, at the start of a
//      boot, and only when no rollback of that install is archived yet; never
//      while a rollback of the booted install is carried out (the switch it
//      made shows as another primary slot until the reboot).
//
// Every sequence of endings up to maxBadBoots + 2 boots long, for
// maxBadBoots 1..3, at each moment, is checked against `expected` below,
// which walks the boots one by one as a device lives them and calls nothing
// of src/rollback but the function under test.
import { describe, expect, test } from "bun:test";
import { decide, type Action, type Ending, type Moment } from "../../../src/rollback/policy.ts";

const ALL: Ending[] = ["kernel-panic", "kernel-oops", "unexpected-reset", "power-loss", "clean", "noted", "crash-loop", "probation-passed"];
const MOMENTS: Moment[] = ["start", "probation-elapsed", "crash-loop"];

function* sequences(maxLength: number): Generator<Ending[]> {
  yield [];
  for (let len = 1; len <= maxLength; len++) {
    const idx = new Array<number>(len).fill(0);
    for (;;) {
      yield idx.map((i) => ALL[i] as Ending);
      let k = len - 1;
      while (k >= 0 && idx[k] === ALL.length - 1) idx[k--] = 0;
      if (k < 0) break;
      idx[k] = (idx[k] ?? 0) + 1;
    }
  }
}

/** The rules above, boot by boot. */
function expected(endings: Ending[], moment: Moment, max: number, knownGood = false): { action: Action; badBoots: number } {
  let bad = 0;
  let good = knownGood;
  for (const e of endings) {
    if (good) break; // rule 2/3: after the install is good nothing counts
    if (e === "probation-passed") good = true;
    else if (e === "kernel-panic" || e === "kernel-oops" || e === "unexpected-reset" || e === "crash-loop") bad += 1;
    // power-loss, clean, noted: nothing
  }
  if (good) return { action: moment === "start" ? "good" : "ignore", badBoots: bad };
  if (bad >= max) return { action: "roll-back", badBoots: bad };
  if (moment === "start") return { action: "on-probation", badBoots: bad };
  if (moment === "probation-elapsed") return { action: "mark-good", badBoots: bad };
  return bad + 1 >= max ? { action: "roll-back", badBoots: bad + 1 } : { action: "count-bad", badBoots: bad + 1 };
}

describe("every sequence of boot endings up to maxBadBoots + 2, maxBadBoots 1..3", () => {
  for (const max of [1, 2, 3]) {
    test(`maxBadBoots ${max}`, () => {
      let checked = 0;
      const wrong: string[] = [];
      for (const endings of sequences(max + 2)) {
        for (const moment of MOMENTS) {
          const got = decide({ endings, knownGood: false, rollbackDecided: false, moment, maxBadBoots: max, fallback: "none" });
          const want = expected(endings, moment, max);
          if (got.action !== want.action || got.badBoots !== want.badBoots || got.reportFallback) {
            if (wrong.length < 10) wrong.push(`${endings.join(",") || "(none)"} at ${moment}: got ${got.action}/${got.badBoots}, want ${want.action}/${want.badBoots}`);
          }
          checked++;
        }
      }
      expect(wrong).toEqual([]);
      // 8^0 + ... + 8^(max+2) sequences, three moments each
      expect(checked).toBe(3 * Array.from({ length: max + 3 }, (_, i) => 8 ** i).reduce((a, b) => a + b, 0));
    });
  }
});

describe("known-good installs, decided rollbacks and fallbacks, on every sequence up to 3 boots", () => {
  test("a known-good install is marked good at start and ignores crash loops, whatever the endings", () => {
    for (const endings of sequences(3)) {
      for (const moment of MOMENTS) {
        const got = decide({ endings, knownGood: true, rollbackDecided: false, moment, maxBadBoots: 1, fallback: "none" });
        expect(got.action).toBe(expected(endings, moment, 1, true).action);
      }
    }
  });

  test("a decided rollback is carried out again at every moment, even for a known-good install, and no fallback is reported meanwhile", () => {
    for (const endings of sequences(3)) {
      for (const moment of MOMENTS) {
        for (const knownGood of [false, true]) {
          expect(decide({ endings, knownGood, rollbackDecided: true, moment, maxBadBoots: 3, fallback: "new" })).toMatchObject({ action: "roll-back", reportFallback: false });
        }
      }
    }
  });

  test("a bootloader fallback is reported at start only, only when new, beside whatever this install's decision is", () => {
    for (const endings of sequences(3)) {
      for (const moment of MOMENTS) {
        for (const fallback of ["none", "new", "reported"] as const) {
          const got = decide({ endings, knownGood: false, rollbackDecided: false, moment, maxBadBoots: 2, fallback });
          expect(got.reportFallback).toBe(moment === "start" && fallback === "new");
          expect(got.action).toBe(expected(endings, moment, 2).action);
        }
      }
    }
  });
});

// A few rows spelled out, as a reader checks the rules by hand (maxBadBoots 2).
const ROWS: Array<[string, Ending[], Moment, Action, number]> = [
  ["a fresh update", [], "start", "on-probation", 0],
  ["a fresh update runs long enough", [], "probation-elapsed", "mark-good", 0],
  ["one panic: still on probation", ["kernel-panic"], "start", "on-probation", 1],
  ["two panics: rolled back", ["kernel-panic", "kernel-panic"], "start", "roll-back", 2],
  ["panic, oops: rolled back", ["kernel-panic", "kernel-oops"], "start", "roll-back", 2],
  ["a power loss between does not count", ["kernel-panic", "power-loss"], "start", "on-probation", 1],
  ["power losses never count", ["power-loss", "power-loss", "power-loss"], "start", "on-probation", 0],
  ["clean and noted never count", ["clean", "noted", "clean"], "start", "on-probation", 0],
  ["a reset without a marker counts", ["unexpected-reset", "unexpected-reset"], "start", "roll-back", 2],
  ["first crash loop: counted, clean reboot", [], "crash-loop", "count-bad", 1],
  ["second crash loop: rolled back at once", ["crash-loop"], "crash-loop", "roll-back", 2],
  ["panic then crash loop: rolled back", ["kernel-panic"], "crash-loop", "roll-back", 2],
  ["passed probation: good, later panics ignored", ["probation-passed", "kernel-panic", "kernel-panic"], "start", "good", 0],
  ["panic, then passed: good", ["kernel-panic", "probation-passed"], "start", "good", 1],
  ["crash loop after the install is good: ignored", ["probation-passed"], "crash-loop", "ignore", 0],
];

test.each(ROWS)("%s", (_what, endings, moment, action, badBoots) => {
  expect(decide({ endings, knownGood: false, rollbackDecided: false, moment, maxBadBoots: 2, fallback: "none" })).toEqual({ action, badBoots, reportFallback: false });
});

test("maxBadBoots below 1 is refused", () => {
  expect(() => decide({ endings: [], knownGood: false, rollbackDecided: false, moment: "start", maxBadBoots: 0, fallback: "none" })).toThrow(RangeError);
});

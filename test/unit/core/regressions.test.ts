// Every input that ever failed a fuzz run (test/unit/core/fuzz.test.ts,
// test/unit/journal/fuzz.test.ts) or crashed a parser lands in
// test/fixtures/regressions/ — the fuzz tests save it there themselves —
// and runs here on every run from then on: a core gives a report or a
// RangeError/SyntaxError; a journal image parses without a throw.
import { describe, expect, test } from "bun:test";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { parseJournal } from "../../../src/journal/journal.ts";
import { fixtures } from "./fixtures.ts";
import { exercise, REGRESSIONS } from "./mutants.ts";

const files = readdirSync(REGRESSIONS).filter((f) => f !== "README.md").sort();
const cores = files.filter((f) => f.endsWith(".core") || f.endsWith(".core.xz"));
const images = files.filter((f) => f.endsWith(".img") || f.endsWith(".img.xz"));

function bytesOf(f: string): Uint8Array {
  const p = join(REGRESSIONS, f);
  return new Uint8Array(f.endsWith(".xz") ? Bun.spawnSync(["xz", "-dc", p]).stdout : readFileSync(p));
}

describe("regression fixtures", () => {
  test("every file is a core or a journal image, and the README says where it came from", () => {
    const readme = readFileSync(join(REGRESSIONS, "README.md"), "utf8");
    expect(files.filter((f) => !cores.includes(f) && !images.includes(f))).toEqual([]);
    expect(files.filter((f) => !readme.includes(f))).toEqual([]);
  });

  const sysroot = (f: string) => fixtures().find((x) => f.includes(`-${x.arch}-`))?.sysroot ?? "";
  test.each(cores)("core %s: a report or a RangeError/SyntaxError", (f) => {
    const src = bytesOf(f);
    expect(["ok", "incomplete", "RangeError", "SyntaxError"]).toContain(exercise({ src, length: src.length, patches: [] }, sysroot(f)));
  });

  test.each(images)("journal image %s: parsed without a throw", (f) => {
    const view = parseJournal(bytesOf(f));
    expect(view.retained || view.records.length === 0).toBe(true);
  });
});

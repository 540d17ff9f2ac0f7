// Fuzzing the journal parser with mutated real images: a journal with
// records (plain and deflated) and a mirrored log tail, then byte patches,
// bit flips, interesting values, zeroed or 0xff-filled runs and cuts.
// parseJournal is a pure function of the bytes: it never throws, and every
// record it returns is one that was written (the CRCs make a forged one a
// 2^-32 event). A new seed every run (printed; FUZZ_SEED=N replays one); a
// failing image is saved to test/fixtures/regressions/journal-SEED-CASE.img.
import { describe, expect, test } from "bun:test";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { appendRecord, parseJournal, type JournalView } from "../../../src/journal/journal.ts";
import { mirrorLog } from "../../../src/journal/mirror.ts";
import { fuzzSeed, mulberry32, saveRegression } from "../core/mutants.ts";
import { smallJournal, text } from "./helpers.ts";

/** Mutated images a run. */
const CASES = 10_000;
const SEED = fuzzSeed();

/** A journal as a device leaves it: records of every size class and a log tail. */
export function journalImage(): Uint8Array {
  const { dev, journal } = smallJournal({ deviceBytes: 64 * 1024 });
  appendRecord(journal, { kind: "note", payload: text("a breadcrumb") });
  appendRecord(journal, { kind: "crash-report", payload: text(JSON.stringify({ comm: "crasher", frames: Array.from({ length: 40 }, (_, i) => `0x${(0x401000 + i * 16).toString(16)} main+${i}`) })) });
  appendRecord(journal, { kind: "note", payload: new Uint8Array(300).map((_, i) => (i * 37) & 0xff) });
  const log = join(mkdtempSync(join(tmpdir(), "crashkeep-jfuzz-")), "messages");
  writeFileSync(log, Array.from({ length: 200 }, (_, i) => `line ${i} of the log\n`).join(""));
  mirrorLog(journal, { area: 0, path: log });
  return dev.image.slice();
}

/** The mutated image and whether the parse kept its promises; throws on anything else. */
export function checkImage(image: Uint8Array, written: JournalView | undefined): void {
  const view = parseJournal(image);
  if (!view.retained && view.records.length > 0) throw new Error("records from a journal that is not retained");
  if (written === undefined) return;
  for (const r of view.records) {
    const w = written.records.find((x) => x.seq === r.seq);
    if (!w || w.kind !== r.kind || !Buffer.from(w.payload).equals(Buffer.from(r.payload))) throw new Error(`record ${r.seq} was never written`);
  }
}

function mutateImage(src: Uint8Array, rand: () => number): Uint8Array {
  const kind = Math.floor(rand() * 6);
  if (kind === 0) return src.slice(0, Math.floor(rand() * src.length)); // cut
  const out = src.slice();
  const n = 1 + Math.floor(rand() * 8);
  for (let i = 0; i < n; i++) {
    // half in the first 16 KiB (control blocks, log headers), half anywhere
    const at = Math.floor(rand() * (rand() < 0.5 ? Math.min(16384, out.length) : out.length));
    if (kind === 1) out[at] = Math.floor(rand() * 256);
    else if (kind === 2) out[at] = (out[at] ?? 0) ^ (1 << Math.floor(rand() * 8));
    else if (kind === 3) new DataView(out.buffer).setUint32(Math.min(at & ~3, out.length - 4), [0, 1, 0xffffffff, 0x7fffffff, 0x80000000, 4096, 65536][Math.floor(rand() * 7)] ?? 0, true);
    else if (kind === 4) out.fill(rand() < 0.5 ? 0 : 0xff, at, Math.min(out.length, at + 1 + Math.floor(rand() * 2048)));
    else out.copyWithin(at, Math.floor(rand() * out.length), Math.floor(rand() * out.length)); // a block written to the wrong place
  }
  return out;
}

describe("journal fuzz", () => {
  test(`${CASES} mutated images: never a throw, never a record that was not written`, () => {
    const src = journalImage();
    const written = parseJournal(src);
    expect(written.records.map((r) => r.kind)).toEqual(["note", "crash-report", "note"]);
    expect(written.logs[0]?.bytes.length).toBeGreaterThan(1000);
    console.log(`journal fuzz: seed ${SEED} (FUZZ_SEED=${SEED} replays it), ${CASES} mutated images`);
    const rand = mulberry32(SEED);
    let retained = 0;
    let someRecords = 0;
    for (let i = 0; i < CASES; i++) {
      const image = mutateImage(src, rand);
      try {
        checkImage(image, written);
      } catch (err) {
        const saved = saveRegression(`journal-${SEED}-${i}.img`, image);
        throw new Error(`case ${i} (seed ${SEED}) failed; saved as ${saved} (commit it with a line in its README): ${err instanceof Error ? err.stack : String(err)}`);
      }
      const view = parseJournal(image);
      if (view.retained) retained++;
      if (view.records.length > 0 && view.records.length < written.records.length) someRecords++;
    }
    // The mutations reach past the control block: most images still parse, some lose a record.
    expect(retained).toBeGreaterThan(CASES / 2);
    expect(someRecords).toBeGreaterThan(0);
  }, 120_000);
});

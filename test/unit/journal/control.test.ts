// The control block through the journal API: torn updates at every byte,
// the boot-hook inputs, new boots and the collected watermark.
import { describe, expect, test } from "bun:test";
import {
  appendRecord,
  markCleanShutdown,
  markCollected,
  parseJournal,
  readJournal,
  setNotedReason,
  startNewBoot,
  formatJournal,
  openJournal,
} from "../../../src/journal/journal.ts";
import { readBootEvidence } from "../../../src/journal/boot-evidence.ts";
import { describeJournal } from "../../../src/journal/describe.ts";
import { computeLayout } from "../../../src/journal/layout.ts";
import { fakeDevice } from "./fake-device.ts";
import { BOOT_A, BOOT_B, recordMap, smallJournal, text, tornPoints, viewAt } from "./helpers.ts";

describe("torn control-block updates", () => {
  test.each([
    ["clean-shutdown marker", (j: Parameters<typeof markCleanShutdown>[0]) => void markCleanShutdown(j, { timeMs: 5_000 })],
    ["new boot", (j: Parameters<typeof markCleanShutdown>[0]) => void startNewBoot(j, { bootId: BOOT_B, timeMs: 6_000 })],
    ["noted reason", (j: Parameters<typeof markCleanShutdown>[0]) => void setNotedReason(j, "firmware update", { timeMs: 7_000 })],
    ["collected watermark", (j: Parameters<typeof markCleanShutdown>[0]) => void markCollected(j, 2)],
  ])("%s: the control block is the old or the new one, records intact", (_name, update) => {
    const { dev, journal } = smallJournal();
    for (let i = 0; i < 3; i++) appendRecord(journal, { kind: "note", payload: text(`r${i}`) });
    setNotedReason(journal, "old reason", { timeMs: 4_000 });
    const before = readJournal(journal);
    dev.mark();
    update(journal);
    const after = readJournal(journal);
    expect(dev.writes.length).toBe(2);
    const strip = (c: typeof before.control) => ({ ...c, generation: 0 });
    for (const [count, torn] of tornPoints(dev)) {
      const view = viewAt(dev, count, torn);
      expect(view.retained).toBe(true);
      const c = strip(view.control);
      const isOld = JSON.stringify(c) === JSON.stringify(strip(before.control));
      const isNew = JSON.stringify(c) === JSON.stringify(strip(after.control));
      expect(isOld || isNew).toBe(true);
      expect(recordMap(view)).toEqual(recordMap(before));
    }
  });
});

describe("boot hook inputs", () => {
  test("a fresh journal: retained, its boot id, no marker, no reason", () => {
    const { journal } = smallJournal();
    const ev = readBootEvidence(journal);
    expect(ev).toMatchObject({ retained: true, bootId: BOOT_A, bootCounter: 1, cleanShutdown: null, notedReason: null, records: [] });
  });

  test("a boot's marker, reason and records, then a new boot clears marker and reason", () => {
    const { journal } = smallJournal();
    appendRecord(journal, { kind: "crash-report", payload: text("{}") }, { timeMs: 10 });
    appendRecord(journal, { kind: "note", payload: text("going down") }, { timeMs: 11, notedReason: "planned upgrade" });
    markCleanShutdown(journal, { timeMs: 12 });
    const ev = readBootEvidence(journal);
    expect(ev.bootId).toBe(BOOT_A);
    expect(ev.cleanShutdown).toEqual({ timeMs: 12 });
    expect(ev.notedReason).toEqual({ text: "planned upgrade", timeMs: 11 });
    expect(ev.records.map((r) => [r.seq, r.kind, r.bootId])).toEqual([
      [1, "crash-report", BOOT_A],
      [2, "note", BOOT_A],
    ]);

    markCollected(journal, 2);
    const c = startNewBoot(journal, { bootId: BOOT_B, timeMs: 20 });
    expect(c).toMatchObject({ bootCounter: 2, currentBootId: BOOT_B, previousBootId: BOOT_A, bootStartMs: 20, cleanShutdownMs: null, notedReason: null, collectedSeq: 2 });
    const next = readBootEvidence(journal);
    expect(next.records).toEqual([]);
    expect(readJournal(journal).records.every((r) => r.collected)).toBe(true);
    const { seq } = appendRecord(journal, { kind: "note", payload: text("new boot") });
    expect(seq).toBe(3);
    expect(readBootEvidence(journal).records.map((r) => r.bootId)).toEqual([BOOT_B]);
  });

  test("starting the same boot twice (init re-run) changes nothing", () => {
    const { journal } = smallJournal();
    startNewBoot(journal, { bootId: BOOT_B, timeMs: 20 });
    setNotedReason(journal, "kept", { timeMs: 21 });
    const again = startNewBoot(journal, { bootId: BOOT_B, timeMs: 30 });
    expect(again).toMatchObject({ bootCounter: 2, currentBootId: BOOT_B, previousBootId: BOOT_A, bootStartMs: 20, notedReason: { text: "kept" } });
  });

  test("the collected watermark never moves back", () => {
    const { journal } = smallJournal();
    markCollected(journal, 5);
    expect(markCollected(journal, 3).collectedSeq).toBe(5);
  });

  test("sequence numbers continue above the watermark", () => {
    const { journal } = smallJournal();
    markCollected(journal, 100);
    expect(appendRecord(journal, { kind: "note", payload: text("x") }).seq).toBe(101);
  });

  test("updates on a journal that is not retained say so", () => {
    const dev = fakeDevice(new Uint8Array(64 * 1024));
    const journal = openJournal(dev, { locking: false });
    expect(() => markCleanShutdown(journal)).toThrow(/^Cannot mark clean shutdown in "\(memory\)": the journal is not formatted/);
    expect(() => appendRecord(journal, { kind: "note", payload: text("x") })).toThrow(/not formatted/);
    expect(readBootEvidence(journal)).toMatchObject({ retained: false, bootId: null, records: [] });
  });

  test("a reason longer than the limit is cut on a character boundary", () => {
    const { journal } = smallJournal();
    setNotedReason(journal, "é".repeat(300));
    const reason = readJournal(journal).control?.notedReason?.text ?? "";
    expect(reason).toBe("é".repeat(128));
  });
});

describe("format", () => {
  test("readers use the stored layout, not the configured one", () => {
    const dev = fakeDevice(new Uint8Array(256 * 1024));
    formatJournal(dev, { locking: false, slotBytes: 2048, logs: [] });
    const j = openJournal(dev, { locking: false });
    appendRecord(j, { kind: "note", payload: text("kept") });
    const view = parseJournal(dev.image);
    expect(view.control?.layout).toEqual(computeLayout(256 * 1024, 4096, { slotBytes: 2048, logs: [] }));
    expect(recordMap(view).get(1)).toBe("kept");
  });

  test("copy B is found when copy A is lost, whatever the erase size", () => {
    const dev = fakeDevice(new Uint8Array(512 * 1024), 65536);
    formatJournal(dev, { locking: false, bootId: BOOT_A });
    dev.image.fill(0, 0, 512);
    const fileCopy = fakeDevice(dev.image.slice()); // a raw copy read back as a regular file (erase size 4096)
    const view = readJournal(openJournal(fileCopy, { locking: false }));
    expect(view.retained).toBe(true);
    expect(view.controlErrors[0]).toMatch(/bad magic/);
    expect(view.control?.layout.controlOffsets).toEqual([0, 65536]);
  });

  test("an interrupted format reads as not retained", () => {
    const dev = fakeDevice(new Uint8Array(64 * 1024));
    dev.mark();
    formatJournal(dev, { locking: false, slotBytes: 1024, logs: [{ path: "/var/log/messages", bytes: 8192 }] });
    const last = dev.writes.length - 1;
    for (let i = 0; i < last; i++) expect(parseJournal(dev.replay(i, 7)).retained).toBe(false);
    expect(parseJournal(dev.replay(last, 100)).retained).toBe(true); // the first control copy is whole
  });

  test("describeJournal gives JSON with times, text payloads and log tails", () => {
    const { journal } = smallJournal();
    appendRecord(journal, { kind: "note", payload: text("hello") }, { timeMs: 0 });
    appendRecord(journal, { kind: "crash-report", payload: new Uint8Array([0xff, 0xfe]) }, { timeMs: 0 });
    const d = describeJournal(journal);
    expect(JSON.parse(JSON.stringify(d))).toEqual(d);
    expect(d.records[0]).toMatchObject({ seq: 1, kind: "note", time: "1970-01-01T00:00:00.000Z", payload: { encoding: "utf-8", data: "hello" } });
    expect(d.records[1]).toMatchObject({ payload: { encoding: "base64", data: "//4=" } });
    expect(d.logs[0]).toMatchObject({ area: 0, path: "/var/log/messages", streamEnd: 0, tail: { data: "" } });
    expect(d.control).toMatchObject({ currentBootId: BOOT_A, bootCounter: 1 });
  });
});

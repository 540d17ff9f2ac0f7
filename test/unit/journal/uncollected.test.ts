// readUncollected (the boot hook's read: only the slots where uncollected
// records can be) against readJournal (every slot): the same uncollected
// records after torn appends at every byte, torn control updates, bit flips,
// a ring wrapped over uncollected records, and with nothing to collect it
// reads one slot header.
import { describe, expect, test } from "bun:test";
import { appendRecord, markCollected, parseJournal, readJournal, readUncollected, type JournalView } from "../../../src/journal/journal.ts";
import { fakeDevice } from "./fake-device.ts";
import { smallJournal, text, tornPoints, untext } from "./helpers.ts";

const uncollected = (view: JournalView) => view.records.filter((r) => !r.collected).map((r) => `${r.seq}:${untext(r.payload)}`);
const journalOf = (image: Uint8Array) => ({ device: fakeDevice(image), lockPath: null, lockTimeoutMs: 0 });

describe("readUncollected", () => {
  test.each([
    ["nothing collected yet", 5, 0],
    ["some collected", 7, 4],
    ["all collected", 6, 6],
    ["wrapped over uncollected records", 100, 10],
    ["wrapped, all collected", 100, 100],
  ])("%s: the same records as a full read", (_name, appended, collectedThrough) => {
    const { dev, journal } = smallJournal();
    for (let i = 1; i <= appended; i++) appendRecord(journal, { kind: "note", payload: text(`note ${i}`) }, { timeMs: 2_000 + i });
    if (collectedThrough > 0) markCollected(journal, collectedThrough);
    const full = readJournal(journal);
    const view = readUncollected(journalOf(dev.image.slice()));
    expect(view.retained).toBe(true);
    expect(uncollected(view)).toEqual(uncollected(full));
    expect(view.corruptRecords).toBe(0);
    expect(view.control).toEqual(full.control);
    expect(view.logs).toEqual(full.logs);
  });

  test("torn appends and control updates at every byte: the same records as a full read", () => {
    const { dev, journal } = smallJournal();
    for (let i = 1; i <= 3; i++) appendRecord(journal, { kind: "note", payload: text(`note ${i}`) });
    markCollected(journal, 2);
    dev.mark();
    appendRecord(journal, { kind: "note", payload: text("four") });
    appendRecord(journal, { kind: "crash-report", payload: text("{}") });
    markCollected(journal, 4);
    let checked = 0;
    for (const [count, torn] of tornPoints(dev)) {
      const image = dev.replay(count, torn);
      expect(uncollected(readUncollected(journalOf(image)))).toEqual(uncollected(parseJournal(image)));
      checked++;
    }
    expect(checked).toBeGreaterThan(1000);
  });

  test("a record written after the control block's hint (torn update) is found", () => {
    const { dev, journal } = smallJournal();
    appendRecord(journal, { kind: "note", payload: text("one") });
    dev.mark();
    appendRecord(journal, { kind: "note", payload: text("two") });
    const image = dev.replay(3, 0); // record whole, neither control copy updated
    expect(parseJournal(image).control?.nextSeq).toBe(2);
    expect(uncollected(readUncollected(journalOf(image)))).toEqual(["1:one", "2:two"]);
  });

  test("a flip in an uncollected record's header is counted and the walk goes on", () => {
    const { dev, journal } = smallJournal();
    for (let i = 1; i <= 4; i++) appendRecord(journal, { kind: "note", payload: text(`note ${i}`) });
    const image = dev.image.slice();
    const { ringOffset, slotBytes } = parseJournal(image).control!.layout;
    const at = ringOffset + 2 * slotBytes + 20;
    image[at] = (image[at] as number) ^ 0x10; // seq 2's header, past the magic
    const view = readUncollected(journalOf(image));
    expect(uncollected(view)).toEqual(["1:note 1", "3:note 3", "4:note 4"]);
    expect(view.corruptRecords).toBe(1);
  });

  test("nothing to collect: one slot header is read", () => {
    const { dev, journal } = smallJournal();
    for (let i = 1; i <= 5; i++) appendRecord(journal, { kind: "note", payload: text(`note ${i}`) });
    markCollected(journal, 5);
    const device = fakeDevice(dev.image.slice());
    const { ringOffset, slotBytes, slotCount } = parseJournal(device.image).control!.layout;
    const reads: number[] = [];
    const readAt = device.readAt;
    device.readAt = (buf, position) => {
      reads.push(position);
      return readAt(buf, position);
    };
    expect(readUncollected({ device, lockPath: null, lockTimeoutMs: 0 }).records).toEqual([]);
    expect(reads.filter((p) => p >= ringOffset && p < ringOffset + slotCount * slotBytes)).toEqual([ringOffset + (6 % slotCount) * slotBytes]);
  });

  test("cold boot: not retained, nothing read from the ring", () => {
    const view = readUncollected(journalOf(new Uint8Array(64 * 1024)));
    expect(view).toMatchObject({ retained: false, records: [], corruptRecords: 0, logs: [] });
  });
});

// Property tests of the report ring: torn appends at every byte, bit flips,
// cold-boot images, and wrapping over thousands of records.
import { describe, expect, test } from "bun:test";
import { appendRecord, markCollected, parseJournal, readJournal } from "../../../src/journal/journal.ts";
import { fakeDevice } from "./fake-device.ts";
import { recordMap, smallJournal, text, tornPoints, untext, viewAt } from "./helpers.ts";

/** A payload that deflate cannot shrink much, so the slot really fills. */
function noisy(seed: number, length: number): string {
  let x = seed * 2654435761 + 1;
  let out = "";
  for (let i = 0; i < length; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    out += String.fromCharCode(33 + (x >>> 16) % 90);
  }
  return out;
}

describe("torn record append", () => {
  test.each([
    ["into an empty slot", 3, 700],
    ["compressed payload", 3, 0],
    ["reusing the oldest slot after a wrap", 60, 500],
  ])("%s: earlier records intact, the torn one whole or absent", (_name, before, length) => {
    const { dev, journal } = smallJournal();
    const payload = (i: number) => (length === 0 ? `note ${i} `.repeat(80) : noisy(i, length));
    for (let i = 0; i < before; i++) appendRecord(journal, { kind: "note", payload: text(payload(i)) }, { timeMs: 2_000 + i });
    const earlier = recordMap(readJournal(journal));
    const slots = readJournal(journal).control?.layout.slotCount ?? 0;
    dev.mark();
    const { seq } = appendRecord(journal, { kind: "note", payload: text(payload(before)) }, { timeMs: 9_000 });
    expect(dev.writes.length).toBe(5); // zero magic, body+payload, magic, control B, control A
    const evicted = seq - slots; // the record whose slot the new one takes
    let checked = 0;
    for (const [count, torn] of tornPoints(dev)) {
      const view = viewAt(dev, count, torn);
      expect(view.retained).toBe(true);
      expect(view.corruptRecords).toBe(0);
      const now = recordMap(view);
      for (const [s, body] of earlier) if (s !== evicted) expect(now.get(s)).toBe(body);
      const torn_ = now.get(seq);
      if (torn_ !== undefined) expect(torn_).toBe(payload(before));
      checked++;
    }
    // Once the magic is written the record is whole.
    expect(recordMap(viewAt(dev, 3, 0)).get(seq)).toBe(payload(before));
    expect(checked).toBeGreaterThan(500);
  });

  test("after a torn append the next append continues the sequence", () => {
    const { dev, journal } = smallJournal();
    appendRecord(journal, { kind: "note", payload: text("one") });
    dev.mark();
    appendRecord(journal, { kind: "note", payload: text("two") });
    // Record written, control update torn: the hint is stale, the ring scan skips past seq 2.
    const image = dev.replay(3, 100);
    const replayed = fakeDevice(image);
    const j2 = { ...journal, device: replayed };
    const { seq } = appendRecord(j2, { kind: "note", payload: text("three") });
    expect(seq).toBe(3);
    expect([...recordMap(readJournal(j2)).values()]).toEqual(["one", "two", "three"]);
  });
});

describe("bit flips", () => {
  test("a flip anywhere in the ring loses at most the record it hits", () => {
    const { dev, journal } = smallJournal();
    for (let i = 0; i < 8; i++) appendRecord(journal, { kind: "crash-report", payload: text(noisy(i, 300 + 40 * i)) });
    const image = dev.image.slice();
    const base = parseJournal(image);
    const all = recordMap(base);
    const { ringOffset, slotBytes } = base.control!.layout;
    // Every bit of slots 1..3 (headers and payloads, written or not).
    for (let byte = ringOffset + slotBytes; byte < ringOffset + 4 * slotBytes; byte++) {
      for (let bit = 0; bit < 8; bit += 3) {
        image[byte] = (image[byte] as number) ^ (1 << bit);
        const view = parseJournal(image);
        image[byte] = (image[byte] as number) ^ (1 << bit);
        const hitSlot = Math.floor((byte - ringOffset) / slotBytes);
        const now = recordMap(view);
        for (const r of base.records) {
          if (r.slot !== hitSlot) expect(now.get(r.seq)).toBe(all.get(r.seq) as string);
        }
        expect(now.size).toBeGreaterThanOrEqual(all.size - 1);
        // A lost record is counted, unless the flip hit the magic (then the slot reads as empty).
        if (now.size < all.size && byte - ringOffset - hitSlot * slotBytes >= 4) expect(view.corruptRecords).toBe(1);
      }
    }
  });

  test("a flip in either control block copy changes nothing", () => {
    const { dev, journal } = smallJournal();
    appendRecord(journal, { kind: "note", payload: text("kept") });
    const image = dev.image.slice();
    const base = parseJournal(image);
    for (const copy of [0, 4096]) {
      for (let byte = copy; byte < copy + 512; byte++) {
        const bit = byte % 8;
        image[byte] = (image[byte] as number) ^ (1 << bit);
        const view = parseJournal(image);
        image[byte] = (image[byte] as number) ^ (1 << bit);
        expect(view.retained).toBe(true);
        expect(view.control).toEqual(base.control);
        expect(recordMap(view)).toEqual(recordMap(base));
      }
    }
  });

  test("random flips across the whole device lose at most one record each", () => {
    const { dev, journal } = smallJournal();
    for (let i = 0; i < 20; i++) appendRecord(journal, { kind: "note", payload: text(noisy(i, 200)) });
    const image = dev.image.slice();
    const all = recordMap(parseJournal(image));
    let x = 12345;
    for (let i = 0; i < 1500; i++) {
      x = (x * 1103515245 + 12345) >>> 0;
      const byte = x % image.length;
      const bit = (x >>> 8) % 8;
      image[byte] = (image[byte] as number) ^ (1 << bit);
      const view = parseJournal(image);
      image[byte] = (image[byte] as number) ^ (1 << bit);
      expect(view.retained).toBe(true);
      const now = recordMap(view);
      expect(now.size).toBeGreaterThanOrEqual(all.size - 1);
      for (const [s, body] of now) expect(body).toBe(all.get(s) as string);
    }
  });
});

describe("damage", () => {
  test("random bursts of garbage never make the parser throw or invent records", () => {
    const { dev, journal } = smallJournal();
    for (let i = 0; i < 30; i++) appendRecord(journal, { kind: "note", payload: text(noisy(i, 100 + i * 10)) });
    const clean = dev.image.slice();
    const all = recordMap(parseJournal(clean));
    let x = 99;
    const next = () => (x = (x * 1103515245 + 12345) >>> 0);
    for (let round = 0; round < 400; round++) {
      const image = clean.slice();
      const start = next() % image.length;
      const length = 1 + (next() % 200);
      for (let i = start; i < Math.min(image.length, start + length); i++) image[i] = next() & 0xff;
      const view = parseJournal(image);
      for (const [s, body] of recordMap(view)) expect(body).toBe(all.get(s) as string);
      expect(view.records.length + view.corruptRecords).toBeLessThanOrEqual(all.size);
    }
  });
});

describe("cold boot", () => {
  test.each([
    ["zeroed", () => new Uint8Array(64 * 1024)],
    ["erased (0xff)", () => new Uint8Array(64 * 1024).fill(0xff)],
    ...[1, 2, 3, 4, 5].map((seed) => [`random #${seed}`, () => crypto.getRandomValues(new Uint8Array(64 * 1024))] as const),
  ])("%s RAM reads as not retained, zero records", (_name, make) => {
    const view = parseJournal(make());
    expect(view.retained).toBe(false);
    expect(view.records).toEqual([]);
    expect(view.logs).toEqual([]);
    expect(view.corruptRecords).toBe(0);
  });

  test("random RAM holding copies of valid records still reads as not retained", () => {
    const { dev, journal } = smallJournal();
    appendRecord(journal, { kind: "note", payload: text("from another life") });
    const image = dev.image.slice();
    image.fill(0x5a, 0, 8192); // both control copies gone, ring intact
    const view = parseJournal(image);
    expect(view.retained).toBe(false);
    expect(view.records).toEqual([]);
  });

  test("records of an earlier format are not shown after a re-format", () => {
    const { dev, journal } = smallJournal();
    appendRecord(journal, { kind: "note", payload: text("old") });
    const ring = dev.image.slice(8192 + 8192);
    const again = smallJournal();
    again.dev.image.set(ring, 8192 + 8192); // stale slots survive a format that did not erase them
    expect(readJournal(again.journal).records).toEqual([]);
  });
});

describe("ring", () => {
  test("wraps correctly over thousands of records", () => {
    const { dev, journal } = smallJournal();
    const slots = readJournal(journal).control!.layout.slotCount;
    const total = 3000;
    for (let i = 1; i <= total; i++) {
      const { seq, slot } = appendRecord(journal, { kind: i % 3 === 0 ? "crash-report" : "note", payload: text(`record ${i}`) }, { timeMs: i });
      expect(seq).toBe(i);
      expect(slot).toBe(i % slots);
      if (i % 500 === 0 || i === slots + 1) {
        const view = readJournal(journal);
        const seqs = view.records.map((r) => r.seq);
        const expected = Array.from({ length: Math.min(i, slots) }, (_, k) => i - Math.min(i, slots) + 1 + k);
        expect(seqs).toEqual(expected);
        expect(view.records.every((r) => untext(r.payload) === `record ${r.seq}` && r.timeMs === r.seq)).toBe(true);
        dev.mark(); // keep the recorded write log small
      }
    }
  });

  test("an append reports the record it overwrote and whether it was collected", () => {
    const { journal } = smallJournal();
    const slots = readJournal(journal).control!.layout.slotCount;
    for (let i = 1; i <= slots; i++) expect(appendRecord(journal, { kind: "note", payload: text(`${i}`) }).evicted).toBeNull();
    expect(appendRecord(journal, { kind: "note", payload: text("next") }).evicted).toEqual({ seq: 1, collected: false });
    markCollected(journal, 2);
    expect(appendRecord(journal, { kind: "note", payload: text("next") }).evicted).toEqual({ seq: 2, collected: true });
  });

  test("a payload too large for a slot is refused, nothing written", () => {
    const { dev, journal } = smallJournal();
    dev.mark();
    const big = crypto.getRandomValues(new Uint8Array(2000));
    expect(() => appendRecord(journal, { kind: "crash-report", payload: big })).toThrow(RangeError);
    expect(dev.writes.length).toBe(0);
  });

  test("binary payloads and compression round-trip", () => {
    const { journal } = smallJournal();
    const bin = crypto.getRandomValues(new Uint8Array(900));
    const text10k = text("frame #0 0x0000ffff in main () at crash.c:10\n".repeat(200));
    appendRecord(journal, { kind: "crash-report", payload: bin });
    const { storedLength } = appendRecord(journal, { kind: "log-snapshot", payload: text10k });
    expect(storedLength).toBeLessThan(960);
    const view = readJournal(journal);
    expect(view.records[0]?.payload).toEqual(bin);
    expect(view.records[1]?.payload).toEqual(text10k);
    expect(view.records[1]?.kind).toBe("log-snapshot");
  });
});

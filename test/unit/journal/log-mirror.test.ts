// Log-mirror areas: following a growing, rotated or truncated file; cost
// per append; torn appends at every byte; bit flips.
import { afterAll, describe, expect, test } from "bun:test";
import { appendFileSync, mkdtempSync, renameSync, rmSync, truncateSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseJournal, readJournal } from "../../../src/journal/journal.ts";
import { mirrorLog } from "../../../src/journal/mirror.ts";
import { logCapacity, LOG_DATA_BYTES } from "../../../src/journal/log-area.ts";
import { smallJournal, tornPoints, untext, viewAt } from "./helpers.ts";
import { fakeDevice } from "./fake-device.ts";
import type { JournalView } from "../../../src/journal/journal.ts";

const dir = mkdtempSync(join(tmpdir(), "crashkeep-mirror-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let fileNo = 0;
const newLog = () => join(dir, `log${fileNo++}`);

/** Deterministic syslog-like lines. */
function lines(from: number, count: number): string {
  let out = "";
  for (let i = from; i < from + count; i++) out += `Nov 26 03:00:${String(i % 60).padStart(2, "0")} host app[${i}]: event number ${i}\n`;
  return out;
}

function tailOf(view: JournalView): { text: string; sourceOffset: number; gaps: number; head: number } {
  const t = view.logs[0]!;
  return { text: untext(t.bytes), sourceOffset: t.header?.sourceOffset ?? -1, gaps: t.gaps.length, head: t.header?.head ?? -1 };
}

describe("mirrorLog", () => {
  test("mirrors new bytes only and keeps the newest that fit", () => {
    const { journal } = smallJournal();
    const capacity = logCapacity(readJournal(journal).control!.layout.logs[0]!);
    const path = newLog();
    let content = lines(0, 10);
    writeFileSync(path, content);
    expect(mirrorLog(journal, { area: 0, path })).toEqual({ appendedBytes: content.length, skippedBytes: 0, rotated: false, sourceMissing: false });
    expect(tailOf(readJournal(journal)).text).toBe(content);
    expect(mirrorLog(journal, { area: 0, path }).appendedBytes).toBe(0);
    for (let round = 1; round < 20; round++) {
      const more = lines(round * 10, 10);
      appendFileSync(path, more);
      content += more;
      expect(mirrorLog(journal, { area: 0, path }).appendedBytes).toBe(more.length);
      const t = tailOf(readJournal(journal));
      expect(t.gaps).toBe(0);
      expect(t.sourceOffset).toBe(content.length);
      expect(content.endsWith(t.text)).toBe(true);
      expect(t.text.length).toBeGreaterThanOrEqual(Math.min(content.length, capacity - LOG_DATA_BYTES));
      expect(t.text.length).toBeLessThanOrEqual(capacity);
    }
  });

  test("a first mirror of a big file reads only the part that fits", () => {
    const { journal } = smallJournal();
    const path = newLog();
    const content = lines(0, 400);
    writeFileSync(path, content);
    const capacity = logCapacity(readJournal(journal).control!.layout.logs[0]!);
    expect(mirrorLog(journal, { area: 0, path }).appendedBytes).toBe(capacity);
    expect(tailOf(readJournal(journal)).text).toBe(content.slice(-capacity));
  });

  test("a burst larger than the area counts the bytes it skips", () => {
    const { journal } = smallJournal();
    const path = newLog();
    writeFileSync(path, lines(0, 5));
    mirrorLog(journal, { area: 0, path });
    const burst = lines(5, 500);
    appendFileSync(path, burst);
    const capacity = logCapacity(readJournal(journal).control!.layout.logs[0]!);
    expect(mirrorLog(journal, { area: 0, path })).toMatchObject({ appendedBytes: capacity, skippedBytes: burst.length - capacity });
    // The window is n − 1 blocks ending in the (partial) head block, so a little less than capacity shows.
    const t = tailOf(readJournal(journal)).text;
    expect((lines(0, 5) + burst).endsWith(t)).toBe(true);
    expect(t.length).toBeGreaterThan(capacity - LOG_DATA_BYTES);
  });

  test("follows a rotated log (new inode) from its start", () => {
    const { journal } = smallJournal();
    const path = newLog();
    writeFileSync(path, "old 1\nold 2\n");
    mirrorLog(journal, { area: 0, path });
    renameSync(path, `${path}.1`);
    writeFileSync(path, "new 1\n");
    expect(mirrorLog(journal, { area: 0, path })).toMatchObject({ appendedBytes: 6, rotated: true });
    const view = readJournal(journal);
    expect(tailOf(view).text).toBe("old 1\nold 2\nnew 1\n");
    expect(view.logs[0]!.header!.rotations).toBe(1);
    appendFileSync(path, "new 2\n");
    expect(mirrorLog(journal, { area: 0, path })).toMatchObject({ appendedBytes: 6, rotated: false });
    expect(tailOf(readJournal(journal)).text).toBe("old 1\nold 2\nnew 1\nnew 2\n");
  });

  test("follows a truncated log (same inode, smaller)", () => {
    const { journal } = smallJournal();
    const path = newLog();
    writeFileSync(path, "first line\nsecond line\n");
    mirrorLog(journal, { area: 0, path });
    truncateSync(path, 0);
    appendFileSync(path, "after\n");
    expect(mirrorLog(journal, { area: 0, path })).toMatchObject({ appendedBytes: 6, rotated: true });
    expect(tailOf(readJournal(journal)).text).toBe("first line\nsecond line\nafter\n");
  });

  test("a missing source changes nothing", () => {
    const { dev, journal } = smallJournal();
    dev.mark();
    expect(mirrorLog(journal, { area: 0, path: join(dir, "absent") })).toMatchObject({ sourceMissing: true, appendedBytes: 0 });
    expect(dev.writes.length).toBe(0);
  });

  test("an unknown area is refused", () => {
    const { journal } = smallJournal();
    const path = newLog();
    writeFileSync(path, "x\n");
    expect(() => mirrorLog(journal, { area: 3, path: path })).toThrow(/has no log area 3/);
  });

  test.each([64 * 1024, 1024 * 1024, 8 * 1024 * 1024])("an append of 100 bytes writes the same few bytes in a %i-byte area", (bytes) => {
    const { dev, journal } = smallJournal({ deviceBytes: bytes + 64 * 1024, logs: [{ path: "/x", bytes }] });
    const path = newLog();
    writeFileSync(path, lines(0, 2000));
    mirrorLog(journal, { area: 0, path });
    appendFileSync(path, "y".repeat(99) + "\n");
    dev.mark();
    mirrorLog(journal, { area: 0, path });
    const written = dev.writes.reduce((sum, w) => sum + w.bytes.length, 0);
    expect(written).toBeLessThanOrEqual(100 + 16 + 256 + 1024); // new bytes, a trailer, a header (or one fresh block)
  });
});

describe("torn log append", () => {
  test.each([
    ["inside the head block", 3, 200],
    ["across several blocks", 3, 2500],
    ["wrapping a full area", 120, 700],
  ])("%s: committed bytes intact, the append whole, partly committed per block, or absent", (_name, before, added) => {
    const { dev, journal } = smallJournal();
    const path = newLog();
    let content = lines(0, before);
    writeFileSync(path, content);
    mirrorLog(journal, { area: 0, path });
    const old = tailOf(readJournal(journal));
    const more = lines(before, 1000).slice(0, added);
    appendFileSync(path, more);
    content += more;
    dev.mark();
    mirrorLog(journal, { area: 0, path });
    let sawOld = false;
    let sawNew = false;
    for (const [count, torn] of tornPoints(dev)) {
      const t = tailOf(viewAt(dev, count, torn));
      expect(t.gaps).toBe(0);
      expect(t.sourceOffset).toBeGreaterThanOrEqual(old.sourceOffset);
      expect(t.sourceOffset).toBeLessThanOrEqual(content.length);
      // What the reader sees is exactly the source bytes just before its committed offset.
      expect(t.text).toBe(content.slice(t.sourceOffset - t.text.length, t.sourceOffset));
      expect(t.text.length).toBeGreaterThanOrEqual(Math.min(old.text.length, 4 * LOG_DATA_BYTES));
      sawOld ||= t.sourceOffset === old.sourceOffset;
      sawNew ||= t.sourceOffset === content.length;
    }
    expect(sawOld && sawNew).toBe(true);
  });
});

describe("an append after a torn append", () => {
  test("a trailer left by an uncommitted append is not trusted over the committed bytes", () => {
    const { dev, journal } = smallJournal();
    const path = newLog();
    writeFileSync(path, "committed line one\n");
    mirrorLog(journal, { area: 0, path }); // a new block: trailer 0
    appendFileSync(path, "two\n");
    mirrorLog(journal, { area: 0, path }); // inside the block: trailer 1 now covers the committed bytes
    appendFileSync(path, "torn append that never commits\n");
    dev.mark();
    mirrorLog(journal, { area: 0, path });
    // Power lost after the data and trailer writes, before the header commit.
    expect(dev.writes.length).toBe(3);
    const replayed = fakeDevice(dev.replay(2, 0));
    const j2 = { ...journal, device: replayed };
    expect(tailOf(parseJournal(replayed.image)).text).toBe("committed line one\ntwo\n");
    // The log is replaced by one with other bytes, so the next append differs from the torn one.
    rmSync(path);
    writeFileSync(path, "different\n");
    replayed.mark();
    expect(mirrorLog(j2, { area: 0, path })).toMatchObject({ rotated: true, appendedBytes: 10 });
    for (const [count, torn] of tornPoints(replayed)) {
      const t = tailOf(viewAt(replayed, count, torn));
      expect(t.gaps).toBe(0);
      expect(["committed line one\ntwo\n", "committed line one\ntwo\ndifferent\n"]).toContain(t.text);
    }
    expect(tailOf(parseJournal(replayed.image)).text).toBe("committed line one\ntwo\ndifferent\n");
  });
});

describe("log area bit flips", () => {
  test("a flip in a data block loses that block only; a flip in a header falls back a step", () => {
    const { dev, journal } = smallJournal();
    const path = newLog();
    const content = lines(0, 80);
    writeFileSync(path, content);
    mirrorLog(journal, { area: 0, path });
    appendFileSync(path, "last line\n");
    mirrorLog(journal, { area: 0, path });
    const all = content + "last line\n";
    const image = dev.image.slice();
    const area = parseJournal(image).control!.layout.logs[0]!;
    const base = tailOf(parseJournal(image));
    for (let byte = area.offset; byte < area.offset + area.bytes; byte += 7) {
      image[byte] = (image[byte] as number) ^ 0x10;
      const t = tailOf(parseJournal(image));
      image[byte] = (image[byte] as number) ^ 0x10;
      const inHeaders = byte < area.offset + 2048;
      if (inHeaders) {
        expect(t.gaps).toBe(0);
        expect(t.text).toBe(all.slice(t.sourceOffset - t.text.length, t.sourceOffset));
      } else {
        expect(t.gaps).toBeLessThanOrEqual(1);
        if (t.gaps === 0) expect(t.text).toBe(base.text);
        else expect(t.text.length).toBeGreaterThanOrEqual(base.text.length - LOG_DATA_BYTES);
      }
    }
  });
});

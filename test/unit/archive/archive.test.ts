import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ArchiveFullError, entryId, listEntries, listEntryIds, newestEntry, readEntry, writeEntry } from "../../../src/archive/archive.ts";

const roots: string[] = [];
function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), "crashkeep-archive-"));
  roots.push(d);
  return d;
}
afterAll(() => {
  for (const d of roots) rmSync(d, { recursive: true, force: true });
});

const LIMITS = { maxBytes: 1 << 20, maxEntries: 3, minFreeBytes: 0 };

function entry(reason: string, endedAt: string) {
  return { archivedAt: "2026-11-26T03:00:00.000Z", endedAt, reason, subreason: undefined, detail: `why ${reason}`, previousBootId: undefined, summary: reason, facts: {} };
}

describe("entryId", () => {
  test.each([
    ["2026-11-26T02:55:00.123Z", "kernel-panic", "20261126T025500Z-kernel-panic"],
    ["2026-01-02T03:04:05.000Z", "../../etc/passwd", "20260102T030405Z-etc-passwd"],
    ["2026-01-02T03:04:05.000Z", "Firmware Update!", "20260102T030405Z-firmware-update"],
    ["2026-01-02T03:04:05.000Z", "", "20260102T030405Z-unknown"],
  ])("%s %p → %s", (iso, reason, id) => {
    expect(entryId(new Date(iso), reason)).toBe(id);
  });
});

describe("writeEntry", () => {
  test("writes the files and entry.json under <time>-<reason>, nothing left in staging", () => {
    const dir = join(tmp(), "archive");
    const src = join(tmp(), "dmesg-ramoops-0");
    writeFileSync(src, "Panic#1 Part1\nlog\n");
    const { entry: e } = writeEntry(dir, entry("kernel-panic", "2026-11-26T02:55:00.000Z"), [
      { name: "dmesg-ramoops-0", kind: "pstore-dmesg", source: src, path: src },
      { name: "note.txt", kind: "note", source: "test", bytes: "hello" },
    ], LIMITS);
    expect(e.id).toBe("20261126T025500Z-kernel-panic");
    expect(readdirSync(dir)).toEqual([e.id]);
    expect(readFileSync(join(dir, e.id, "dmesg-ramoops-0"), "utf8")).toBe("Panic#1 Part1\nlog\n");
    expect(readFileSync(join(dir, e.id, "note.txt"), "utf8")).toBe("hello");
    expect(readEntry(dir, e.id)?.files).toEqual([
      { name: "dmesg-ramoops-0", kind: "pstore-dmesg", bytes: 18, source: src },
      { name: "note.txt", kind: "note", bytes: 5, source: "test" },
    ]);
    expect(readdirSync(join(dir, e.id)).sort()).toEqual(["dmesg-ramoops-0", "entry.json", "note.txt"]);
  });

  test("same time and reason twice get distinct ids", () => {
    const dir = join(tmp(), "archive");
    const a = writeEntry(dir, entry("kernel-panic", "2026-11-26T02:55:00.000Z"), [], LIMITS).entry.id;
    const b = writeEntry(dir, entry("kernel-panic", "2026-11-26T02:55:00.000Z"), [], LIMITS).entry.id;
    const c = writeEntry(dir, entry("kernel-panic", "2026-11-26T02:55:00.000Z"), [], LIMITS).entry.id;
    expect([a, b, c]).toEqual(["20261126T025500Z-kernel-panic", "20261126T025500Z-kernel-panic-2", "20261126T025500Z-kernel-panic-3"]);
  });

  test("maxEntries: the oldest entries go first, newest first in the listing", () => {
    const dir = join(tmp(), "archive");
    for (let i = 1; i <= 5; i++) writeEntry(dir, entry(`r${i}`, `2026-11-2${i}T00:00:00.000Z`), [], LIMITS);
    expect(listEntries(dir).map((e) => e.reason)).toEqual(["r5", "r4", "r3"]);
  });

  test("listEntryIds reads no entry.json; newestEntry skips a newest index that does not parse; pruning counts every indexed directory", () => {
    const dir = join(tmp(), "archive");
    for (let i = 1; i <= 2; i++) writeEntry(dir, entry(`r${i}`, `2026-11-2${i}T00:00:00.000Z`), [], LIMITS);
    // A newer directory whose index is garbage (not ours to parse), one without an index, a staging directory.
    mkdirSync(join(dir, "20261129T000000Z-garbage"));
    writeFileSync(join(dir, "20261129T000000Z-garbage", "entry.json"), "{not json");
    mkdirSync(join(dir, "20261130T000000Z-no-index"));
    mkdirSync(join(dir, ".incoming-20261130T000000Z-x"));
    const ids = listEntryIds(dir);
    expect(ids).toEqual(["20261129T000000Z-garbage", "20261122T000000Z-r2", "20261121T000000Z-r1"]);
    expect(newestEntry(dir, ids)?.reason).toBe("r2");
    expect(listEntries(dir).map((e) => e.reason)).toEqual(["r2", "r1"]);
    // maxEntries 3 with three indexed directories: the oldest goes to make room.
    writeEntry(dir, entry("r9", "2026-11-30T01:00:00.000Z"), [], { ...LIMITS, ids });
    expect(listEntryIds(dir)).toEqual(["20261130T010000Z-r9", "20261129T000000Z-garbage", "20261122T000000Z-r2"]);
  });

  test("two entries of the same second: the one written later is the newer, whatever its reason's name", () => {
    // Stop 28's CI: a boot noted "firmware-update" and reset within the second in which the
    // previous boot (unexpected-reset) was archived; history took the older for the newest.
    const dir = join(tmp(), "archive");
    const older = writeEntry(dir, entry("unexpected-reset", "2026-12-08T03:28:41.013Z"), [], LIMITS).entry.id;
    const newer = writeEntry(dir, entry("firmware-update", "2026-12-08T03:28:41.800Z"), [], LIMITS).entry.id;
    const later = writeEntry(dir, entry("clean", "2026-12-08T03:28:42.000Z"), [], LIMITS).entry.id;
    utimesSync(join(dir, older, "entry.json"), new Date("2026-12-08T03:28:41.013Z"), new Date("2026-12-08T03:28:41.013Z"));
    utimesSync(join(dir, newer, "entry.json"), new Date("2026-12-08T03:28:51.000Z"), new Date("2026-12-08T03:28:51.000Z"));
    expect(listEntryIds(dir)).toEqual([later, newer, older]);
    // Written in the other order, the other way round: the index's time decides, not the name.
    utimesSync(join(dir, older, "entry.json"), new Date("2026-12-08T03:29:00.000Z"), new Date("2026-12-08T03:29:00.000Z"));
    expect(listEntryIds(dir)).toEqual([later, older, newer]);
    rmSync(join(dir, later), { recursive: true });
    expect(newestEntry(dir, listEntryIds(dir))?.reason).toBe("unexpected-reset");
  });

  test("maxBytes: old entries are pruned to make room; an entry larger than the cap is refused", () => {
    const dir = join(tmp(), "archive");
    const limits = { maxBytes: 64 * 1024, maxEntries: 100, minFreeBytes: 0 };
    const big = new Uint8Array(20 * 1024);
    for (let i = 1; i <= 4; i++) writeEntry(dir, entry(`r${i}`, `2026-11-2${i}T00:00:00.000Z`), [{ name: "b", kind: "x", source: "t", bytes: big }], limits);
    expect(listEntries(dir).map((e) => e.reason)).toEqual(["r4", "r3"]);
    expect(() => writeEntry(dir, entry("huge", "2026-11-29T00:00:00.000Z"), [{ name: "b", kind: "x", source: "t", bytes: new Uint8Array(70 * 1024) }], limits)).toThrow(ArchiveFullError);
    expect(listEntries(dir).map((e) => e.reason)).toEqual(["r4", "r3"]);
  });

  test("minFreeBytes larger than the free space: refused before any byte, nothing staged", () => {
    const dir = join(tmp(), "archive");
    const limits = { maxBytes: 1 << 20, maxEntries: 10, minFreeBytes: Number.MAX_SAFE_INTEGER };
    expect(() => writeEntry(dir, entry("kernel-panic", "2026-11-26T00:00:00.000Z"), [{ name: "a", kind: "x", source: "t", bytes: "x" }], limits)).toThrow(/archive.minFreeBytes keeps/);
    expect(readdirSync(dir)).toEqual([]);
  });

  test("garbage in the archive directory is skipped, not trusted", () => {
    const dir = join(tmp(), "archive");
    writeEntry(dir, entry("kernel-panic", "2026-11-26T00:00:00.000Z"), [], LIMITS);
    mkdirSync(join(dir, "20990101T000000Z-fake"));
    writeFileSync(join(dir, "20990101T000000Z-fake", "entry.json"), "{ not json");
    mkdirSync(join(dir, "20990102T000000Z-wrong-id"));
    writeFileSync(join(dir, "20990102T000000Z-wrong-id", "entry.json"), JSON.stringify({ id: "other" }));
    writeFileSync(join(dir, "stray-file"), "x");
    expect(listEntries(dir).map((e) => e.reason)).toEqual(["kernel-panic"]);
    expect(readEntry(dir, "../../etc")).toBeUndefined();
  });
});

describe("a real full disk", () => {
  // A tmpfs with room for only 5 inodes (root, archive, staging, one file):
  // the second file fails with ENOSPC part-way through the entry, after the
  // free-space check passed. The entry must not appear half-written and the
  // staging directory must be gone. Needs root for mount (CI runs as root).
  const isRoot = process.getuid?.() === 0;
  test.skipIf(!isRoot)("ENOSPC part-way leaves no entry and no staging directory", () => {
    const mnt = tmp();
    const m = Bun.spawnSync(["mount", "-t", "tmpfs", "-o", "size=1m,nr_inodes=5", "tmpfs", mnt]);
    if (m.exitCode !== 0) throw new Error(`Cannot mount a tmpfs for the test: ${m.stderr.toString()}`);
    try {
      const dir = join(mnt, "archive");
      const limits = { maxBytes: 1 << 30, maxEntries: 10, minFreeBytes: 0 };
      const files = [
        { name: "a", kind: "x", source: "t", bytes: "first" },
        { name: "b", kind: "x", source: "t", bytes: "second" },
      ];
      expect(() => writeEntry(dir, entry("kernel-panic", "2026-11-26T00:00:00.000Z"), files, limits)).toThrow(/ENOSPC|no space/i);
      expect(readdirSync(dir)).toEqual([]);
    } finally {
      Bun.spawnSync(["umount", mnt]);
    }
  });
});

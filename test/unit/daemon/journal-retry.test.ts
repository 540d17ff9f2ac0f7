// Journal writes that failed (issue 19): the index of reports waiting for the
// journal, their retry (once, oldest first, bounded), and the journal's part:
// the place an append chose, found again by one slot read, and a lock that a
// retrier holds around its check and its append.
import { describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { appendRecord, formatJournal, openJournal, parseJournal, recordAt, withJournalLock, type Journal, type RecordPlace } from "../../../src/journal/journal.ts";
import { markPending, MAX_PENDING_WRITES, MAX_RETRIES_PER_PASS, PENDING_SUBDIR, retryPending, type PendingWrite } from "../../../src/daemon/journal-retry.ts";
import { fakeDevice, type FakeDevice } from "../journal/fake-device.ts";
import { smallJournal, text, untext } from "../journal/helpers.ts";

/** A device whose writes fail with EIO (as a failing MTD write does) while `failing` is set. */
function flaky(dev: FakeDevice): FakeDevice & { failing: boolean; attempts: number } {
  const wrapped = Object.assign(Object.create(dev) as FakeDevice, { failing: false, attempts: 0 });
  wrapped.writeAt = (buf: Uint8Array, position: number) => {
    wrapped.attempts++;
    if (wrapped.failing) throw Object.assign(new Error("EIO: i/o error, write"), { code: "EIO" });
    dev.writeAt(buf, position);
  };
  return wrapped;
}

interface Setup {
  reports: string;
  dev: FakeDevice & { failing: boolean; attempts: number };
  journal: Journal;
}

function setup(): Setup {
  const reports = mkdtempSync(join(tmpdir(), "crashkeep-retry-"));
  const { dev } = smallJournal({ slotBytes: 2048, logs: [] });
  const device = flaky(dev);
  return { reports, dev: device, journal: openJournal(device, { locking: false }) };
}

/** A complete report directory whose journal write failed, and its index entry. */
function waiting(s: Setup, report: string, payload = `{"comm":"${report}"}`, place: RecordPlace | null = null): PendingWrite {
  mkdirSync(join(s.reports, report));
  writeFileSync(join(s.reports, report, "capture.json"), `${JSON.stringify({ journalSeq: null, journalWrittenAt: null, journalPending: true, journalError: "EIO: i/o error, write", core: report })}\n`);
  const write: PendingWrite = { report, timeMs: 5_000, error: "EIO: i/o error, write", place, payload };
  expect(markPending(s.reports, write)).toEqual([]);
  return write;
}

const crashes = (s: Setup) => parseJournal(s.dev.image).records.filter((r) => r.kind === "crash-report");
const pendingFiles = (s: Setup) => (existsSync(join(s.reports, PENDING_SUBDIR)) ? readdirSync(join(s.reports, PENDING_SUBDIR)).sort() : []);
const capture = (s: Setup, report: string) => JSON.parse(readFileSync(join(s.reports, report, "capture.json"), "utf8")) as Record<string, unknown>;

describe("the journal's part", () => {
  test("recordAt finds a record at the place its append chose, and nothing once the place is another record's or another format's", () => {
    const { dev, journal } = smallJournal({ slotBytes: 1024, logs: [] });
    let place: RecordPlace | undefined;
    const writesBefore = dev.writes.length;
    const r = appendRecord(journal, { kind: "crash-report", payload: text("crash") }, {
      beforeWrite: (p) => {
        // Called before the first byte reaches the device.
        expect(dev.writes.length).toBe(writesBefore);
        place = p;
      },
    });
    expect(place?.seq).toBe(r.seq);
    expect(untext(recordAt(journal, place ?? { seq: 0, formatId: 0 })?.payload ?? new Uint8Array())).toBe("crash");
    expect(recordAt(journal, { seq: r.seq + 1, formatId: place?.formatId ?? 0 })).toBeUndefined();
    // Wrapped: the slot holds a newer record.
    const slots = parseJournal(dev.image).control?.layout.slotCount ?? 0;
    for (let i = 0; i < slots; i++) appendRecord(journal, { kind: "note", payload: text(`n${i}`) });
    expect(recordAt(journal, place ?? { seq: 0, formatId: 0 })).toBeUndefined();
    // Formatted afresh: another format id.
    const again = fakeDevice(new Uint8Array(64 * 1024));
    formatJournal(again, { locking: false, logs: [], slotBytes: 1024 });
    const fresh = openJournal(again, { locking: false });
    const second = appendRecord(fresh, { kind: "crash-report", payload: text("crash") });
    expect(recordAt(fresh, { seq: second.seq, formatId: (place?.formatId ?? 0) ^ 1 })).toBeUndefined();
  });

  test("a throw from beforeWrite aborts the append: nothing written", () => {
    const { dev, journal } = smallJournal({ logs: [] });
    const before = dev.image.slice();
    expect(() => appendRecord(journal, { kind: "note", payload: text("x") }, { beforeWrite: () => { throw new Error("Cannot write the index: EIO"); } })).toThrow("EIO");
    expect(Buffer.from(dev.image).equals(Buffer.from(before))).toBe(true);
  });

  test("the lock is re-entrant within a process: an append inside withJournalLock does not wait for itself", () => {
    const runDir = mkdtempSync(join(tmpdir(), "crashkeep-retry-lock-"));
    try {
      const { dev } = smallJournal({ logs: [] });
      const journal = openJournal(dev, { runDir, lockTimeoutMs: 200 });
      const started = Date.now();
      const seq = withJournalLock(journal, () => {
        expect(existsSync(journal.lockPath ?? "")).toBe(true);
        return appendRecord(journal, { kind: "note", payload: text("inside") }).seq;
      });
      expect(Date.now() - started).toBeLessThan(200);
      expect(seq).toBe(1);
      expect(readdirSync(runDir)).toEqual([]);
    } finally {
      rmSync(runDir, { recursive: true, force: true });
    }
  });
});

describe("retryPending", () => {
  test("nothing waiting: no index directory is made, nothing written", () => {
    const s = setup();
    const writes = s.dev.attempts;
    expect(retryPending(s.journal, s.reports)).toEqual({ written: [], left: 0, problems: [] });
    expect(s.dev.attempts).toBe(writes);
    expect(existsSync(join(s.reports, PENDING_SUBDIR))).toBe(false);
  });

  test("a waiting report is written once, with its first attempt's time; capture.json says where; the index entry goes", () => {
    const s = setup();
    waiting(s, "20261207T100000Z-abort-1");
    const now = new Date("2026-12-07T10:05:00Z");
    const r = retryPending(s.journal, s.reports, now);
    expect(r).toEqual({ written: [{ report: "20261207T100000Z-abort-1", seq: 1 }], left: 0, problems: [] });
    expect(crashes(s).map((x) => [x.seq, untext(x.payload), x.timeMs])).toEqual([[1, '{"comm":"20261207T100000Z-abort-1"}', 5_000]]);
    expect(capture(s, "20261207T100000Z-abort-1")).toMatchObject({ journalSeq: 1, journalPending: false, journalWrittenAt: now.toISOString(), journalError: "EIO: i/o error, write" });
    expect(pendingFiles(s)).toEqual([]);
    // A second pass finds nothing to do.
    expect(retryPending(s.journal, s.reports).written).toEqual([]);
    expect(crashes(s).length).toBe(1);
  });

  test("an attempt cut after its record reached the device (the index still waits): found at its place, not written again", () => {
    const s = setup();
    const payload = '{"comm":"abort"}';
    let place: RecordPlace | null = null;
    appendRecord(s.journal, { kind: "crash-report", payload: text(payload) }, { beforeWrite: (p) => (place = p) });
    appendRecord(s.journal, { kind: "note", payload: text("a later note") });
    waiting(s, "20261207T100000Z-abort-1", payload, place);
    const r = retryPending(s.journal, s.reports);
    expect(r.written).toEqual([{ report: "20261207T100000Z-abort-1", seq: 1 }]);
    expect(crashes(s).length).toBe(1);
    expect(pendingFiles(s)).toEqual([]);
  });

  test("a place now holding another record: the report is appended", () => {
    const s = setup();
    appendRecord(s.journal, { kind: "note", payload: text("took the place") });
    waiting(s, "20261207T100000Z-abort-1", '{"comm":"abort"}', { seq: 1, formatId: parseJournal(s.dev.image).control?.formatId ?? 0 });
    expect(retryPending(s.journal, s.reports).written).toEqual([{ report: "20261207T100000Z-abort-1", seq: 2 }]);
    expect(crashes(s).map((x) => x.seq)).toEqual([2]);
  });

  test("a report pruned from the archive, or whose capture.json says written, waits no more; one still being written waits", () => {
    const s = setup();
    waiting(s, "20261207T100000Z-a-1");
    waiting(s, "20261207T100001Z-b-2");
    waiting(s, "20261207T100002Z-c-3");
    rmSync(join(s.reports, "20261207T100000Z-a-1"), { recursive: true });
    writeFileSync(join(s.reports, "20261207T100001Z-b-2", "capture.json"), `${JSON.stringify({ journalSeq: 7, journalPending: false })}\n`);
    rmSync(join(s.reports, "20261207T100002Z-c-3", "capture.json"));
    const r = retryPending(s.journal, s.reports);
    expect(r).toEqual({ written: [], left: 1, problems: [] });
    expect(crashes(s)).toEqual([]);
    expect(pendingFiles(s)).toEqual(["20261207T100002Z-c-3.json"]);
  });

  test("a device that still fails: the first failure ends the pass, everything stays for the next one", () => {
    const s = setup();
    waiting(s, "20261207T100000Z-a-1");
    waiting(s, "20261207T100001Z-b-2");
    s.dev.failing = true;
    const before = s.dev.attempts;
    const r = retryPending(s.journal, s.reports);
    expect(r.written).toEqual([]);
    expect(r.left).toBe(2);
    expect(r.problems).toEqual(['Cannot write the report "20261207T100000Z-a-1" into the journal: EIO: i/o error, write; kept for the next pass']);
    expect(s.dev.attempts - before).toBe(1);
    expect(capture(s, "20261207T100000Z-a-1")).toMatchObject({ journalPending: true, journalSeq: null });
    s.dev.failing = false;
    expect(retryPending(s.journal, s.reports).written.map((w) => w.report)).toEqual(["20261207T100000Z-a-1", "20261207T100001Z-b-2"]);
    expect(crashes(s).length).toBe(2);
  });

  test(`at most ${MAX_RETRIES_PER_PASS} a pass, oldest first`, () => {
    const s = setup();
    const names = Array.from({ length: MAX_RETRIES_PER_PASS + 3 }, (_, i) => `20261207T1000${String(i).padStart(2, "0")}Z-x-${i}`);
    for (const n of names) waiting(s, n, "{}");
    const first = retryPending(s.journal, s.reports);
    expect(first.written.map((w) => w.report)).toEqual(names.slice(0, MAX_RETRIES_PER_PASS));
    expect(first.left).toBe(3);
    expect(retryPending(s.journal, s.reports).written.map((w) => w.report)).toEqual(names.slice(MAX_RETRIES_PER_PASS));
  });

  test("a record that can never fit a slot is dropped from the index, said once", () => {
    const s = setup();
    waiting(s, "20261207T100000Z-big-1", JSON.stringify({ pad: Array.from({ length: 4000 }, (_, i) => i * 7919 % 65521) }));
    const r = retryPending(s.journal, s.reports);
    expect(r.problems.length).toBe(1);
    expect(r.problems[0]).toMatch(/^Cannot write the report "20261207T100000Z-big-1" into the journal: Cannot append crash-report record: .* not tried again$/);
    expect(pendingFiles(s)).toEqual([]);
  });
});

describe("markPending", () => {
  test(`keeps at most ${MAX_PENDING_WRITES} waiting, dropping the oldest and naming it`, () => {
    const s = setup();
    const dir = join(s.reports, PENDING_SUBDIR);
    mkdirSync(dir, { recursive: true });
    for (let i = 0; i < MAX_PENDING_WRITES; i++) writeFileSync(join(dir, `20261207T10${String(i).padStart(4, "0")}Z-x-${i}.json`), "{}");
    const lines = markPending(s.reports, { report: "20261207T200000Z-new-1", timeMs: 1, error: "EIO", place: null, payload: "{}" });
    expect(lines).toEqual([`Cannot keep "20261207T100000Z-x-0" waiting for the journal: more than ${MAX_PENDING_WRITES} reports wait (its report stays in the archive)`]);
    const files = pendingFiles(s);
    expect(files.length).toBe(MAX_PENDING_WRITES);
    expect(files).toContain("20261207T200000Z-new-1.json");
    expect(files).not.toContain("20261207T100000Z-x-0.json");
  });

  test("a new failure without a place keeps the place an earlier attempt wrote down", () => {
    const s = setup();
    waiting(s, "20261207T100000Z-abort-1", "{}", { seq: 9, formatId: 42 });
    markPending(s.reports, { report: "20261207T100000Z-abort-1", timeMs: 1, error: "EIO", place: null, payload: "{}" });
    const kept = JSON.parse(readFileSync(join(s.reports, PENDING_SUBDIR, "20261207T100000Z-abort-1.json"), "utf8")) as PendingWrite;
    expect(kept.place).toEqual({ seq: 9, formatId: 42 });
  });
});

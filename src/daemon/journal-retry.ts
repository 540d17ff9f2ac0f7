// Crash reports whose journal copy could not be written (EIO, a lock held too
// long, a journal not formatted yet): the archive has the report, and a small
// index under <archive.dir>/reports/.journal-pending/ — one file per report,
// holding the record's exact bytes — says what the journal still lacks. The
// next daemon pass, `watch`, `core` or `init` writes it when the device
// answers again, without reading every capture.json nor scanning the journal.
//
// Exactly once (docs/FORMAT.md "Journal writes that failed"): under the
// journal lock the index file is read again (another process may have
// finished it); the place an earlier attempt chose (sequence number and
// format id) is checked, one slot read; only then is the record appended, the
// place written into the index file durably before the first byte reaches the
// device. capture.json is updated next, and the index file removed last: an
// attempt cut anywhere is finished, not repeated, by the next one.
import { existsSync, mkdirSync, readdirSync, readFileSync, unlinkSync } from "node:fs";
import { appendRecord, recordAt, withJournalLock, MAX_RECORD_RAW_BYTES, type Journal, type RecordPlace } from "../journal/journal.ts";
import { fsyncDir, writeDurable } from "../archive/durable.ts";
import { removeStaleTemps } from "../archive/temp-files.ts";
import { errorCode, readFileBounded } from "../system/read-bounded.ts";

/** The index of journal writes still to do, under the reports directory (hidden: not a report). */
export const PENDING_SUBDIR = ".journal-pending";
/** Reports waiting for their journal copy at most: past it the oldest wait no more (their reports stay in the archive). */
export const MAX_PENDING_WRITES = 64;
/** Journal writes retried in one pass at most: the boot hook and the daemon's pass stay short however many wait. */
export const MAX_RETRIES_PER_PASS = 16;
/** Largest index file read back: one record's payload as text, and a few fields. */
const MAX_PENDING_BYTES = MAX_RECORD_RAW_BYTES + 4096;
const PENDING_VERSION = 1;
/** An index file's name: a report directory's name and ".json", never a path nor a temp file. */
const PENDING_NAME = /^[A-Za-z0-9][A-Za-z0-9._+-]*\.json$/;

export interface PendingWrite {
  /** The report directory's name under the reports directory. */
  report: string;
  /** The record's time: when the crash was first written (not the retry's). */
  timeMs: number;
  /** Why the first write failed. */
  error: string;
  /** Where the last attempt put the record, if it got that far (it may be on the device). */
  place: RecordPlace | null;
  /** The compact report, byte for byte what the journal gets. */
  payload: string;
}

export interface RetryResult {
  /** Reports whose journal copy is now written (or was found written), with its sequence number. */
  written: Array<{ report: string; seq: number }>;
  /** Still waiting after this pass. */
  left: number;
  problems: string[];
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** A journal write that failed this way may work later; a record that cannot fit never will. */
export function worthRetrying(err: unknown): boolean {
  return !(err instanceof RangeError || err instanceof SyntaxError);
}

/** The index files waiting in dir, oldest report first (report names start with the crash's time). */
function pendingNames(dir: string): string[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch (err) {
    if (errorCode(err) === "ENOENT") return [];
    throw err;
  }
  // A writer killed between its temp file and the rename left the temp file.
  if (names.some((n) => n.startsWith("."))) removeStaleTemps(dir, /^\..*\.json\.tmp/);
  return names.filter((n) => PENDING_NAME.test(n)).sort();
}

function readPending(file: string): PendingWrite | undefined {
  let value: unknown;
  try {
    value = JSON.parse(readFileBounded(file, MAX_PENDING_BYTES).toString("utf8"));
  } catch (err) {
    if (errorCode(err) === "ENOENT") return undefined;
    if (err instanceof SyntaxError) throw new SyntaxError(`Cannot read "${file}": not JSON`);
    throw err;
  }
  const v = value as Partial<PendingWrite> & { version?: unknown };
  const place = v.place as Partial<RecordPlace> | null | undefined;
  const placeOk = place === null || (typeof place === "object" && Number.isSafeInteger(place?.seq) && Number.isSafeInteger(place?.formatId));
  if (v.version !== PENDING_VERSION || typeof v.report !== "string" || typeof v.payload !== "string" || typeof v.error !== "string" || !Number.isFinite(v.timeMs) || !placeOk) {
    throw new SyntaxError(`Cannot read "${file}": not a pending journal write`);
  }
  return { report: v.report, timeMs: v.timeMs as number, error: v.error, place: (place ?? null) as RecordPlace | null, payload: v.payload };
}

function writePending(dir: string, name: string, write: PendingWrite): void {
  writeDurable(dir, name, `${JSON.stringify({ version: PENDING_VERSION, ...write })}\n`);
}

function remove(dir: string, name: string): void {
  try {
    unlinkSync(`${dir}/${name}`);
  } catch (err) {
    if (errorCode(err) !== "ENOENT") throw err;
  }
  fsyncDir(dir);
}

/**
 * Keep a failed journal write for a retry (the report's directory is
 * `reportsDir/write.report`). At most MAX_PENDING_WRITES wait: the oldest
 * are dropped first, and named in the returned lines.
 */
export function markPending(reportsDir: string, write: PendingWrite): string[] {
  const dir = `${reportsDir}/${PENDING_SUBDIR}`;
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const name = `${write.report}.json`;
  const waiting = pendingNames(dir).filter((n) => n !== name);
  const dropped = waiting.slice(0, Math.max(0, waiting.length - (MAX_PENDING_WRITES - 1)));
  const lines: string[] = [];
  for (const old of dropped) {
    remove(dir, old);
    lines.push(`Cannot keep "${old.slice(0, -".json".length)}" waiting for the journal: more than ${MAX_PENDING_WRITES} reports wait (its report stays in the archive)`);
  }
  // An earlier attempt's place stays known (its record may be on the device) until a new attempt chooses one.
  let place = write.place;
  if (place === null) {
    try {
      place = readPending(`${dir}/${name}`)?.place ?? null;
    } catch {
      // unreadable: no earlier place to keep
    }
  }
  writePending(dir, name, { ...write, place });
  return lines;
}

/** capture.json of a report, rewritten to say where the journal copy is now. */
function captureWritten(reportDir: string, seq: number, now: Date): void {
  const capture = JSON.parse(readFileSync(`${reportDir}/capture.json`, "utf8")) as Record<string, unknown>;
  writeDurable(reportDir, "capture.json", `${JSON.stringify({ ...capture, journalSeq: seq, journalWrittenAt: now.toISOString(), journalPending: false })}\n`);
}

/** What capture.json says: "pending" (retry), "written" (done elsewhere: drop the index file), "incomplete" (wait). */
function captureState(reportDir: string): "pending" | "written" | "incomplete" | "gone" {
  let text: string;
  try {
    text = readFileSync(`${reportDir}/capture.json`, "utf8");
  } catch (err) {
    if (errorCode(err) !== "ENOENT") throw err;
    try {
      readdirSync(reportDir);
      return "incomplete";
    } catch (dirErr) {
      if (errorCode(dirErr) === "ENOENT") return "gone";
      throw dirErr;
    }
  }
  const capture = JSON.parse(text) as { journalPending?: unknown };
  return capture.journalPending === true ? "pending" : "written";
}

/**
 * Write the reports still missing from the journal into it, oldest first, at
 * most MAX_RETRIES_PER_PASS; the first failure ends the pass (the device
 * still fails: the rest wait). A report pruned from the archive, or whose
 * capture.json says its journal copy was written, is no longer waited for.
 */
export function retryPending(journal: Journal, reportsDir: string, now = new Date()): RetryResult {
  const dir = `${reportsDir}/${PENDING_SUBDIR}`;
  const result: RetryResult = { written: [], left: 0, problems: [] };
  // Nothing waiting, the usual case (every boot, every daemon pass): one stat, no failed
  // readdir (whose ENOENT error object costs more than the stat).
  if (!existsSync(dir)) return result;
  let names: string[];
  try {
    names = pendingNames(dir);
  } catch (err) {
    result.problems.push(`Cannot list the reports waiting for the journal in "${dir}": ${message(err)}`);
    return result;
  }
  if (names.length === 0) return result;
  result.left = names.length;
  for (const name of names.slice(0, MAX_RETRIES_PER_PASS)) {
    const file = `${dir}/${name}`;
    try {
      const seen = readPending(file);
      if (seen === undefined || seen.report !== name.slice(0, -".json".length)) {
        if (seen !== undefined) remove(dir, name);
        result.left--;
        continue;
      }
      const reportDir = `${reportsDir}/${seen.report}`;
      const state = captureState(reportDir);
      if (state === "incomplete") continue; // a run of its own will finish it (watch mode: the core waits)
      if (state === "gone" || state === "written") {
        remove(dir, name);
        result.left--;
        continue;
      }
      // Decided and appended in one hold of the lock: a second retrier (the
      // daemon and a pipe handler at once) sees the first one's place.
      const seq = withJournalLock(journal, () => {
        const write = readPending(file);
        if (write === undefined) return undefined;
        const payload = new TextEncoder().encode(write.payload);
        const there = write.place ? recordAt(journal, write.place) : undefined;
        if (there && there.kind === "crash-report" && Buffer.from(payload).equals(there.payload)) return there.seq;
        return appendRecord(journal, { kind: "crash-report", payload }, {
          timeMs: write.timeMs,
          beforeWrite: (place) => writePending(dir, name, { ...write, place }),
        }).seq;
      });
      try {
        if (seq !== undefined) captureWritten(reportDir, seq, now);
        remove(dir, name);
      } catch (err) {
        // The journal has it: the next pass finds it at its place and finishes this.
        result.problems.push(`Cannot mark the report "${seen.report}" as written into the journal (record ${seq}): ${message(err)}; finished at the next pass`);
        break;
      }
      if (seq !== undefined) result.written.push({ report: seen.report, seq });
      result.left--;
    } catch (err) {
      if (err instanceof RangeError || err instanceof SyntaxError) {
        // Never writable (larger than a slot) or not ours to read: not tried again.
        result.problems.push(`Cannot write the report "${name.slice(0, -".json".length)}" into the journal: ${message(err)}; not tried again`);
        try {
          remove(dir, name);
          result.left--;
        } catch {
          // tried again next pass, and dropped then
        }
        continue;
      }
      result.problems.push(`Cannot write the report "${name.slice(0, -".json".length)}" into the journal: ${message(err)}; kept for the next pass`);
      break;
    }
  }
  return result;
}

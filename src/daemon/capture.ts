// One crash → a report in the journal (compact form, survives a panic) and
// in the archive (full JSON and tombstone text, survives a power cut).
// Shared by the watcher (watch mode) and the pipe handler (pipe mode).
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from "node:fs";
import type { Core } from "../core/reader.ts";
import type { Config } from "../config/schema.ts";
import type { Paths } from "../system/paths.ts";
import { appendRecord, readJournal, withJournalLock, type Journal, type RecordPlace } from "../journal/journal.ts";
import type { Report } from "../core/report.ts";
import { compactReport, formatText } from "../core/format.ts";
import { fsyncDir, writeDurable } from "../archive/durable.ts";
import { sanitizeName, stamp } from "./names.ts";
import { RateLimiter } from "./rate-limit.ts";
import { markPending, worthRetrying } from "./journal-retry.ts";
import { reportsDir } from "./reports-dir.ts";
import { queueCrash, queueNote } from "../upload/queue.ts";

/** The rate limiter's state, shared by every pipe-handler process. */
export const RATE_STATE_FILE = "/run/crashkeep/rate.json";

export interface CaptureContext {
  config: Config;
  paths: Paths;
  /** undefined when the journal device is missing: the archive still gets the report. */
  journal: Journal | undefined;
  limiter: RateLimiter;
  /** A critical executable (rollback.criticalExecutables) started a crash loop; its event is in the journal. */
  onCrashLoop?: (exe: string) => void;
}

/**
 * The first crash over cores.reportsPerMinute of a critical executable, with
 * rollback on: a crash-loop event in the journal (the boot is bad, if on
 * probation: docs/ROLLBACK.md). src/rollback is loaded only then.
 */
function recordCrashLoop(ctx: CaptureContext, exe: string, now: Date, windowStart: number): string[] {
  const r = ctx.config.rollback;
  const name = exe.split("/").pop() ?? exe;
  if (!r.enabled || !r.criticalExecutables.includes(name)) return [];
  if (!ctx.journal) return [`Cannot record the crash loop of ${name}: no journal`];
  try {
    const { appendEvent } = require("../rollback/events.ts") as typeof import("../rollback/events.ts");
    appendEvent(ctx.journal, { v: 1, event: "crash-loop", executable: name, crashes: ctx.config.cores.reportsPerMinute + 1, windowStart: new Date(windowStart).toISOString() }, { timeMs: now.getTime() });
  } catch (err) {
    return [`Cannot record the crash loop of ${name}: ${err instanceof Error ? err.message : String(err)}`];
  }
  ctx.onCrashLoop?.(name);
  return [];
}

export interface CaptureResult {
  /** false: suppressed by the rate limit (counted, not reported). */
  reported: boolean;
  reportDir: string | undefined;
  journalSeq: number | undefined;
  /** The journal was there but its write failed (a retry may be waiting: journal-retry.ts). */
  journalFailed: boolean;
  problems: string[];
}

/** Keep the newest archive.maxEntries report directories (and `current`, the one being written). */
function pruneReports(dir: string, keep: number, current: string): void {
  const names = readdirSync(dir).filter((n) => !n.startsWith(".") && n !== current).sort();
  for (const name of names.slice(0, Math.max(0, names.length - keep))) rmSync(`${dir}/${name}`, { recursive: true, force: true });
}

/** A "suppressed N" record for a crash loop's window. */
export function recordSuppressed(ctx: CaptureContext, s: { exe: string; suppressed: number; windowStart: number }, now = new Date()): string[] {
  const text = `suppressed ${s.suppressed} crash report(s) of ${s.exe} in the minute from ${new Date(s.windowStart).toISOString()} (cores.reportsPerMinute = ${ctx.config.cores.reportsPerMinute})`;
  const problems: string[] = [];
  if (!ctx.journal) problems.push(`Cannot record "${text}": no journal`);
  else {
    try {
      appendRecord(ctx.journal, { kind: "note", payload: new TextEncoder().encode(text) });
    } catch (err) {
      problems.push(`Cannot record "${text}": ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  // Upload on: the fleet counts a crash loop by this note (its reports stop
  // at the rate limit). The id is the window's: a second flush of the same
  // window (a run again after a kill) is the same message, de-duplicated.
  problems.push(...queueNote(ctx.config, ctx.paths, { text, time: now, localId: `suppressed-${s.windowStart}-${sanitizeName(s.exe)}` }));
  return problems;
}

/** The executable a core belongs to, without unwinding anything: for the rate limit. */
export function coreExe(core: Core): string {
  const mapped = core.files?.mappings.find((m) => m.offset === 0n && m.path.startsWith("/"))?.path;
  return mapped ?? core.psinfo?.fname ?? "unknown";
}

/** The core a report directory was made for (its capture.json), or undefined while incomplete. */
function reportedCore(dir: string): string | undefined {
  try {
    const value = JSON.parse(readFileSync(`${dir}/capture.json`, "utf8")) as { core?: unknown };
    return typeof value.core === "string" ? value.core : "";
  } catch {
    return undefined;
  }
}

/** The seq of an uncollected crash-report record with exactly these bytes (an earlier attempt's). */
function journalHas(journal: Journal, payload: Uint8Array): number | undefined {
  const bytes = Buffer.from(payload);
  return readJournal(journal).records.find((r) => r.kind === "crash-report" && !r.collected && bytes.equals(r.payload))?.seq;
}

export interface Crash {
  exe: string;
  build: () => Report;
  coreClosedMs?: number;
  /**
   * What makes this crash this crash (the core file's name, size and time;
   * the pipe handler's pid and %t). A run killed half-way and run again
   * finds its own report directory by it, and completes it instead of
   * making a second report.
   */
  id?: string;
}

/**
 * Count the crash; when the rate limit allows, build the report (the
 * expensive part: unwinding) and write it to the journal and the archive.
 */
export function captureReport(crash: Crash, ctx: CaptureContext, now = new Date()): CaptureResult {
  const problems: string[] = [];
  const decision = ctx.limiter.decide(crash.exe, now.getTime());
  if (decision.flush) problems.push(...recordSuppressed(ctx, decision.flush));
  try {
    ctx.limiter.save();
  } catch (err) {
    problems.push(`Cannot save the rate-limit state: ${err instanceof Error ? err.message : String(err)}`);
  }
  if (decision.suppressed === 1) problems.push(...recordCrashLoop(ctx, crash.exe, now, ctx.limiter.windowStart(crash.exe) ?? now.getTime()));
  if (!decision.report) return { reported: false, reportDir: undefined, journalSeq: undefined, journalFailed: false, problems };
  const report = crash.build();

  // The report directory is named for the crash (its time, comm and pid),
  // not for this run: made first, it tells a run again after a kill that an
  // earlier attempt may already have written the journal record.
  let reportDir: string | undefined;
  let retry = false;
  let archiveProblem: string | undefined;
  const base = reportsDir(ctx.config, ctx.paths);
  try {
    mkdirSync(base, { recursive: true, mode: 0o700 });
    const name = `${stamp(new Date(crash.coreClosedMs ?? now.getTime()))}-${sanitizeName(report.comm)}-${report.pid ?? "unknown"}`;
    reportDir = `${base}/${name}`;
    for (let n = 2; ; n++) {
      const done = existsSync(reportDir) ? reportedCore(reportDir) : null;
      if (done === null) break;
      if (crash.id !== undefined && done === crash.id) {
        // Reported whole by an earlier run that died before the core was moved on
        // (perhaps holding the journal lock: taking it once breaks a dead owner's).
        if (ctx.journal) {
          try {
            withJournalLock(ctx.journal, () => undefined);
          } catch (err) {
            problems.push(`Cannot lock the journal: ${err instanceof Error ? err.message : String(err)}`);
          }
        }
        return { reported: true, reportDir, journalSeq: undefined, journalFailed: false, problems };
      }
      if (crash.id !== undefined && done === undefined) {
        retry = true;
        break;
      }
      reportDir = `${base}/${name}-${n}`;
    }
    if (!retry) {
      mkdirSync(reportDir, { mode: 0o700 });
      fsyncDir(base);
    }
    pruneReports(base, ctx.config.archive.maxEntries - 1, reportDir.slice(base.length + 1));
  } catch (err) {
    archiveProblem = `Cannot archive the report: ${err instanceof Error ? err.message : String(err)}`;
    reportDir = undefined;
  }

  // The journal first: it is RAM, it cannot be full, and it survives a panic that follows.
  let journalSeq: number | undefined;
  let journalWrittenMs: number | undefined;
  // A write that failed but may work later (EIO...): kept for a retry (journal-retry.ts) once the report is archived.
  let journalFailed: { error: string; place: RecordPlace | null; payload: string; timeMs: number } | undefined;
  if (ctx.journal) {
    const timeMs = Date.now();
    let text: string | undefined;
    let place: RecordPlace | null = null;
    try {
      text = compactReport(report, ctx.config.limits.reportBytes);
      const payload = new TextEncoder().encode(text);
      // Looked up under the lock: an earlier run killed while holding it leaves a dead owner's lock, broken here.
      const journal = ctx.journal;
      const earlier = retry ? withJournalLock(journal, () => journalHas(journal, payload)) : undefined;
      journalSeq = earlier ?? appendRecord(journal, { kind: "crash-report", payload }, { timeMs, beforeWrite: (p) => (place = p) }).seq;
      journalWrittenMs = Date.now();
    } catch (err) {
      const error = err instanceof Error ? err.message : String(err);
      problems.push(`Cannot write the report into the journal: ${error}`);
      if (text !== undefined && worthRetrying(err)) journalFailed = { error, place, payload: text, timeMs };
    }
  }
  if (archiveProblem !== undefined || reportDir === undefined) {
    problems.push(archiveProblem ?? "Cannot archive the report: no report directory");
    return { reported: true, reportDir: undefined, journalSeq, journalFailed: ctx.journal !== undefined && journalSeq === undefined, problems };
  }
  try {
    writeDurable(reportDir, "report.json", `${JSON.stringify(report, null, 2)}\n`);
    writeDurable(reportDir, "report.txt", formatText(report));
    // The retry's index entry before capture.json: a complete directory that says "pending" always has one.
    let journalPending = false;
    if (journalFailed) {
      try {
        problems.push(...markPending(base, { report: reportDir.slice(base.length + 1), ...journalFailed }));
        journalPending = true;
      } catch (err) {
        problems.push(`Cannot keep the report for a journal retry: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
    // How long the crash took to reach the journal: from the kernel closing the core to the record
    // (null while it is not there: journalPending says a retry will write it, journalError why it failed).
    // Written last: its "core" marks the directory complete (see reportedCore).
    const capture = {
      coreClosedAt: crash.coreClosedMs === undefined ? null : new Date(crash.coreClosedMs).toISOString(),
      journalSeq: journalSeq ?? null,
      journalWrittenAt: journalWrittenMs === undefined ? null : new Date(journalWrittenMs).toISOString(),
      journalPending,
      journalError: journalFailed?.error ?? null,
      core: crash.id ?? null,
    };
    writeDurable(reportDir, "capture.json", `${JSON.stringify(capture)}\n`);
  } catch (err) {
    problems.push(`Cannot archive the report: ${err instanceof Error ? err.message : String(err)}`);
    reportDir = undefined;
  }
  // Then the outbox (upload off: nothing happens); the id is the report directory's name.
  const reportId = reportDir?.split("/").pop() ?? `${stamp(now)}-${sanitizeName(report.comm)}-${report.pid ?? "unknown"}`;
  problems.push(...queueCrash(ctx.config, ctx.paths, { report, reportId, time: now, compact: () => compactReport(report, ctx.config.limits.reportBytes) }));
  return { reported: true, reportDir, journalSeq, journalFailed: ctx.journal !== undefined && journalSeq === undefined, problems };
}

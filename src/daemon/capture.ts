// One crash → a report in the journal (compact form, survives a panic) and
// in the archive (full JSON and tombstone text, survives a power cut).
// Shared by the watcher (watch mode) and the pipe handler (pipe mode).
import { existsSync, mkdirSync, readdirSync, rmSync } from "node:fs";
import type { Core } from "../core/reader.ts";
import type { Config } from "../config/schema.ts";
import type { Paths } from "../system/paths.ts";
import { appendRecord, type Journal } from "../journal/journal.ts";
import type { Report } from "../core/report.ts";
import { compactReport, formatText } from "../core/format.ts";
import { writeDurable } from "../archive/durable.ts";
import { sanitizeName, stamp } from "./names.ts";
import { RateLimiter } from "./rate-limit.ts";
import { queueCrash } from "../upload/queue.ts";

/** Where reports of the running boot go, under archive.dir. */
export const REPORTS_SUBDIR = "reports";
/** The rate limiter's state, shared by every pipe-handler process. */
export const RATE_STATE_FILE = "/run/crashkeep/rate.json";

export interface CaptureContext {
  config: Config;
  paths: Paths;
  /** undefined when the journal device is missing: the archive still gets the report. */
  journal: Journal | undefined;
  limiter: RateLimiter;
}

export interface CaptureResult {
  /** false: suppressed by the rate limit (counted, not reported). */
  reported: boolean;
  reportDir: string | undefined;
  journalSeq: number | undefined;
  problems: string[];
}

export function reportsDir(config: Config, paths: Paths): string {
  return paths.sys(`${config.archive.dir}/${REPORTS_SUBDIR}`);
}

/** Keep the newest archive.maxEntries report directories. */
function pruneReports(dir: string, keep: number): void {
  const names = readdirSync(dir).filter((n) => !n.startsWith(".")).sort();
  for (const name of names.slice(0, Math.max(0, names.length - keep))) rmSync(`${dir}/${name}`, { recursive: true, force: true });
}

/** A "suppressed N" record for a crash loop's window. */
export function recordSuppressed(ctx: CaptureContext, s: { exe: string; suppressed: number; windowStart: number }): string[] {
  const text = `suppressed ${s.suppressed} crash report(s) of ${s.exe} in the minute from ${new Date(s.windowStart).toISOString()} (cores.reportsPerMinute = ${ctx.config.cores.reportsPerMinute})`;
  if (!ctx.journal) return [`Cannot record "${text}": no journal`];
  try {
    appendRecord(ctx.journal, { kind: "note", payload: new TextEncoder().encode(text) });
    return [];
  } catch (err) {
    return [`Cannot record "${text}": ${err instanceof Error ? err.message : String(err)}`];
  }
}

/** The executable a core belongs to, without unwinding anything: for the rate limit. */
export function coreExe(core: Core): string {
  const mapped = core.files?.mappings.find((m) => m.offset === 0n && m.path.startsWith("/"))?.path;
  return mapped ?? core.psinfo?.fname ?? "unknown";
}

/**
 * Count the crash; when the rate limit allows, build the report (the
 * expensive part: unwinding) and write it to the journal and the archive.
 */
export function captureReport(crash: { exe: string; build: () => Report; coreClosedMs?: number }, ctx: CaptureContext, now = new Date()): CaptureResult {
  const problems: string[] = [];
  const decision = ctx.limiter.decide(crash.exe, now.getTime());
  if (decision.flush) problems.push(...recordSuppressed(ctx, decision.flush));
  try {
    ctx.limiter.save();
  } catch (err) {
    problems.push(`Cannot save the rate-limit state: ${err instanceof Error ? err.message : String(err)}`);
  }
  if (!decision.report) return { reported: false, reportDir: undefined, journalSeq: undefined, problems };
  const report = crash.build();

  // The journal first: it is RAM, it cannot be full, and it survives a panic that follows.
  let journalSeq: number | undefined;
  let journalWrittenMs = Date.now();
  if (ctx.journal) {
    try {
      const compact = compactReport(report, ctx.config.limits.reportBytes);
      journalSeq = appendRecord(ctx.journal, { kind: "crash-report", payload: new TextEncoder().encode(compact) }).seq;
      journalWrittenMs = Date.now();
    } catch (err) {
      problems.push(`Cannot write the report into the journal: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  let reportDir: string | undefined;
  try {
    const base = reportsDir(ctx.config, ctx.paths);
    mkdirSync(base, { recursive: true, mode: 0o700 });
    pruneReports(base, ctx.config.archive.maxEntries - 1);
    const name = `${stamp(now)}-${sanitizeName(report.comm)}-${report.pid ?? "unknown"}`;
    reportDir = `${base}/${name}`;
    for (let n = 2; existsSync(reportDir); n++) reportDir = `${base}/${name}-${n}`;
    mkdirSync(reportDir, { mode: 0o700 });
    writeDurable(reportDir, "report.json", `${JSON.stringify(report, null, 2)}\n`);
    writeDurable(reportDir, "report.txt", formatText(report));
    // How long the crash took to reach the journal: from the kernel closing the core to the record.
    const capture = { coreClosedAt: crash.coreClosedMs === undefined ? null : new Date(crash.coreClosedMs).toISOString(), journalSeq: journalSeq ?? null, journalWrittenAt: new Date(journalWrittenMs).toISOString() };
    writeDurable(reportDir, "capture.json", `${JSON.stringify(capture)}\n`);
  } catch (err) {
    problems.push(`Cannot archive the report: ${err instanceof Error ? err.message : String(err)}`);
    reportDir = undefined;
  }
  // Then the outbox (upload off: nothing happens); the id is the report directory's name.
  const reportId = reportDir?.split("/").pop() ?? `${stamp(now)}-${sanitizeName(report.comm)}-${report.pid ?? "unknown"}`;
  problems.push(...queueCrash(ctx.config, ctx.paths, { report, reportId, time: now, compact: () => compactReport(report, ctx.config.limits.reportBytes) }));
  return { reported: true, reportDir, journalSeq, problems };
}

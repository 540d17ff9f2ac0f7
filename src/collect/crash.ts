// A crash payload's report, full or compact, read with the symbolizer's own
// zod-checked reader (src/debuginfo/report-input.ts: the same one `crashkeep
// symbolize` uses), plus the collector's checks on what a device may not send:
// module paths with ".." segments, and build-ids that are not hex, which would
// point debug-file lookups outside the debug directories.
import type { Report } from "../core/report.ts";
import { parseReports } from "../debuginfo/report-input.ts";

const BUILD_ID = /^[0-9a-f]{2,128}$/;

function safePath(path: string | null): boolean {
  return path === null || (!path.includes("\0") && !path.split("/").includes(".."));
}

/** The report a crash payload carries (its `form` says which shape); throws SyntaxError naming the problem. */
export function readCrashReport(form: "full" | "compact", body: Record<string, unknown>): Report {
  // only these two shapes: the reader also takes dumps and archive entries, which a device never sends
  if (form === "full" && !("threads" in body && "version" in body)) throw new SyntaxError("form full, but not a full report (no threads/version)");
  if (form === "compact" && !("v" in body && "signal" in body)) throw new SyntaxError("form compact, but not a compact report (no v/signal)");
  const reports = parseReports(JSON.stringify(body));
  const report = reports[0]?.report;
  if (reports.length !== 1 || report === undefined) throw new SyntaxError(`holds ${reports.length} reports, not one`);
  for (const m of report.modules) {
    if (!safePath(m.path)) throw new SyntaxError(`module path "${m.path.slice(0, 100)}" has ".." segments`);
    if (m.buildId !== null && !BUILD_ID.test(m.buildId)) throw new SyntaxError("a module's build-id is not hex");
  }
  for (const t of report.threads) {
    for (const f of t.frames) {
      if (!safePath(f.module)) throw new SyntaxError(`frame module "${(f.module ?? "").slice(0, 100)}" has ".." segments`);
      if (f.buildId !== null && !BUILD_ID.test(f.buildId)) throw new SyntaxError("a frame's build-id is not hex");
    }
  }
  return report;
}

/** The thread that took the signal: the one marked crashing, else the first. */
export function crashingThread(report: Report): Report["threads"][number] | undefined {
  return report.threads.find((t) => t.crashing) ?? report.threads[0];
}

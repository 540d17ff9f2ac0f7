// A crash payload's report, full or compact, read with the symbolizer's own
// zod-checked reader (src/debuginfo/report-input.ts: the same one `crashkeep
// symbolize` uses), plus the collector's checks on what a device may not send:
// module paths with ".." segments, and build-ids that are not hex, which would
// point debug-file lookups outside the debug directories.
//
// What is stored is rebuilt from the Report's known keys (storedReportSchema:
// zod objects drop unknown keys), so nesting cannot exceed the schema's, and it
// is held to the limits the device itself works under (REPORT_LIMITS): a
// report beyond them did not come from crashkeep's own report builder.
import { z } from "zod";
import { MAX_REPORT_THREADS, type Report } from "../core/report.ts";
import { COMPACT_CRASH_FRAMES, COMPACT_OTHER_FRAMES } from "../core/format.ts";
import { MAX_MODULES } from "../core/modules.ts";
import { MAX_FILE_ENTRIES } from "../core/notes.ts";
import { MAX_THREADS } from "../core/reader.ts";
import { MAX_FRAMES } from "../core/unwind.ts";
import { MAX_INLINED_PER_FRAME } from "../debuginfo/symbolize.ts";
import { parseReports } from "../debuginfo/report-input.ts";
import { MAX_MESSAGE_BYTES as DEVICE_MAX_MESSAGE_BYTES } from "../upload/payload.ts";

/**
 * The device's own limits on one report, named in one place: a device's report
 * builder never goes beyond them, so the collector refuses what does.
 */
export const REPORT_LIMITS = {
  /** Threads a report lists (src/core/reader.ts MAX_THREADS). */
  threads: MAX_THREADS,
  /** Threads that carry frames: only the first MAX_REPORT_THREADS are unwound (src/core/report.ts). */
  unwoundThreads: MAX_REPORT_THREADS,
  /** Frames a thread's unwinder finds (src/core/unwind.ts MAX_FRAMES), not counting inlined frames. */
  frames: MAX_FRAMES,
  /** Inlined frames added per physical frame by symbolization (src/debuginfo/symbolize.ts). */
  inlinedPerFrame: MAX_INLINED_PER_FRAME,
  /** Modules (mapped files) a report lists (src/core/modules.ts MAX_MODULES). */
  modules: MAX_MODULES,
  /** Memory-map entries (NT_FILE entries kept, src/core/notes.ts). */
  mappings: MAX_FILE_ENTRIES,
  /** Frames of the crashing thread in the compact form (src/core/format.ts). */
  compactCrashFrames: COMPACT_CRASH_FRAMES,
  /** Frames of each other thread in the compact form (src/core/format.ts). */
  compactOtherFrames: COMPACT_OTHER_FRAMES,
  /** Registers per thread: aarch64 has 34, x86_64 27 (src/core/arch.ts); room for more. */
  registers: 128,
  /** Warnings a report carries. */
  warnings: 1024,
} as const;

/**
 * Largest stored report (its JSON, and again its symbolized JSON): a full report
 * fits one device message (upload's MAX_MESSAGE_BYTES); a compact one expanded
 * to frames within REPORT_LIMITS (32 + 1023 × 3 frames of ~250 bytes) stays below
 * 1 MiB. A message of one-token frames cannot grow past it (amplification).
 */
export const MAX_STORED_REPORT_BYTES = Math.max(1024 * 1024, 8 * DEVICE_MAX_MESSAGE_BYTES);

const BUILD_ID = /^[0-9a-f]{2,128}$/;
/** Longest single text field kept in a stored report (a path, a symbol, a cmdline). */
const MAX_FIELD_CHARS = 16 * 1024;

const s = z.string().max(MAX_FIELD_CHARS);
const ns = s.nullable();
const num = z.number();
const nnum = num.nullable();

const frameSchema = z.object({
  index: num, pc: s, sp: s, method: z.enum(["context", "cfi", "fp", "scan"]), module: ns, moduleOffset: ns, symbol: ns, symbolOffset: nnum, buildId: ns,
  function: ns, file: ns, line: nnum, column: nnum, inlined: z.boolean(),
});

const threadSchema = z.object({
  tid: num, crashing: z.boolean().catch(false), signal: num.catch(0),
  registers: z.record(z.string().max(32), z.string().max(64)).refine((r) => Object.keys(r).length <= REPORT_LIMITS.registers, `more than ${REPORT_LIMITS.registers} registers`).catch({}),
  frames: z.array(frameSchema).max(REPORT_LIMITS.frames * (1 + REPORT_LIMITS.inlinedPerFrame)),
  stop: s.catch(""),
});

/** The Report as stored: its known keys only, each typed and bounded (z.object drops the rest). */
export const storedReportSchema = z.object({
  version: num, arch: z.enum(["x86_64", "aarch64"]), pid: nnum.catch(null), tid: nnum.catch(null), ppid: nnum.catch(null),
  comm: ns.catch(null), exe: ns.catch(null), cmdline: ns.catch(null), uid: nnum.catch(null), gid: nnum.catch(null),
  signal: z.object({
    number: num, name: s, code: nnum.catch(null), codeName: ns.catch(null), meaning: ns.catch(null), faultAddress: ns.catch(null), summary: s, senderPid: nnum.catch(null),
  }),
  cause: z.object({ kind: z.enum(["null-dereference", "stack-overflow", "abort", "assertion", "divide-by-zero", "bus-error", "illegal-instruction", "unknown"]).catch("unknown"), text: s }),
  threads: z.array(threadSchema).max(REPORT_LIMITS.threads),
  modules: z.array(z.object({ path: s, start: s.catch("0x0"), end: s.catch("0x0"), loadBias: s.catch("0x0"), buildId: ns, problem: ns, debugFile: ns, debugSource: ns })).max(REPORT_LIMITS.modules),
  memoryMap: z.array(z.object({ start: s, end: s, perms: z.string().max(8), offset: s, path: ns })).max(REPORT_LIMITS.mappings).catch([]),
  incomplete: z.boolean().catch(true),
  warnings: z.array(z.string().max(1024)).max(REPORT_LIMITS.warnings).catch([]),
});

function safePath(path: string | null): boolean {
  return path === null || (!path.includes("\0") && !path.split("/").includes(".."));
}

/** A compact body's counts, checked before it is expanded into frames (each one-token frame becomes a ~250-byte object). */
function checkCompactCounts(body: Record<string, unknown>): void {
  const threads = body.threads;
  if (!Array.isArray(threads)) return; // the reader names the problem
  if (threads.length > REPORT_LIMITS.threads) throw new SyntaxError(`${threads.length} threads, more than ${REPORT_LIMITS.threads}`);
  threads.forEach((t: unknown, i) => {
    const frames = (t as { frames?: unknown } | null)?.frames;
    const max = i === 0 ? REPORT_LIMITS.compactCrashFrames : REPORT_LIMITS.compactOtherFrames;
    if (Array.isArray(frames) && frames.length > max) throw new SyntaxError(`thread ${i} has ${frames.length} frames, more than the compact form's ${max}`);
  });
  const modules = body.modules;
  if (Array.isArray(modules) && modules.length > REPORT_LIMITS.modules) throw new SyntaxError(`${modules.length} modules, more than ${REPORT_LIMITS.modules}`);
}

/** A full report's counts, beyond what the schema bounds: unwound threads, physical frames. */
function checkFullCounts(report: Report): void {
  const unwound = report.threads.filter((t) => t.frames.length > 0).length;
  if (unwound > REPORT_LIMITS.unwoundThreads) throw new SyntaxError(`${unwound} threads with frames, more than ${REPORT_LIMITS.unwoundThreads}`);
  report.threads.forEach((t, i) => {
    const physical = t.frames.filter((f) => !f.inlined).length;
    if (physical > REPORT_LIMITS.frames) throw new SyntaxError(`thread ${i} has ${physical} frames, more than ${REPORT_LIMITS.frames}`);
  });
}

/** The report rebuilt from its known keys and checked against REPORT_LIMITS; throws SyntaxError naming the problem. */
export function storedReport(report: Report): Report {
  const r = storedReportSchema.safeParse(report);
  if (!r.success) {
    const issue = r.error.issues[0];
    throw new SyntaxError(`${issue && issue.path.length > 0 ? issue.path.join(".") : "(top)"}: ${issue?.message ?? "invalid"}`);
  }
  const out = r.data as Report;
  checkFullCounts(out);
  return out;
}

/** The report a crash payload carries (its `form` says which shape), rebuilt from known keys; throws SyntaxError naming the problem. */
export function readCrashReport(form: "full" | "compact", body: Record<string, unknown>): Report {
  // only these two shapes: the reader also takes dumps and archive entries, which a device never sends
  if (form === "full" && !("threads" in body && "version" in body)) throw new SyntaxError("form full, but not a full report (no threads/version)");
  if (form === "compact" && !("v" in body && "signal" in body)) throw new SyntaxError("form compact, but not a compact report (no v/signal)");
  if (form === "compact") checkCompactCounts(body);
  if (form === "full" && Array.isArray(body.threads) && body.threads.length > REPORT_LIMITS.threads) throw new SyntaxError(`${body.threads.length} threads, more than ${REPORT_LIMITS.threads}`);
  const reports = parseReports(JSON.stringify(body));
  const read = reports[0]?.report;
  if (reports.length !== 1 || read === undefined) throw new SyntaxError(`holds ${reports.length} reports, not one`);
  const report = storedReport(read);
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

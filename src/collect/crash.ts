// A crash payload's report, full or compact, as one shape: the Report of
// src/core/report.ts. A compact report (docs/REPORT.md, "Compact form") becomes
// a Report holding what the compact form keeps (crashing thread first, frames
// with module, offset and symbol); what it drops is null.
import type { Report, ReportFrame, ReportThread } from "../core/report.ts";

/** Frames taken from one compact thread (the compact form keeps at most 32). */
const MAX_COMPACT_FRAMES = 256;

/** "0x55bc1272c290 m0+0x1290 parse_record+0x12" (module and symbol parts optional). */
const COMPACT_FRAME = /^(0x[0-9a-f]+)(?: m(\d+)\+(0x[0-9a-f]+))?(?: (.+)\+(0x[0-9a-f]+|\d+))?$/;

function str(v: unknown): string | null {
  return typeof v === "string" ? v : null;
}

function num(v: unknown): number | null {
  return typeof v === "number" && Number.isFinite(v) ? v : null;
}

/** The compact form (a JSON string or its object) as a Report; throws SyntaxError when it is not one. */
export function reportFromCompact(input: unknown): Report {
  const c = (typeof input === "string" ? JSON.parse(input) : input) as Record<string, unknown> | null;
  if (c === null || typeof c !== "object" || !Array.isArray(c.threads)) throw new SyntaxError("not a compact report: no threads");
  const modules = Array.isArray(c.modules) ? c.modules : [];
  const moduleAt = (i: number): [string | null, string | null] => {
    const m = modules[i];
    return Array.isArray(m) ? [str(m[0]), str(m[1])] : [null, null];
  };
  const threads: ReportThread[] = c.threads.slice(0, 64).map((t: unknown, ti: number) => {
    const thread = (t ?? {}) as Record<string, unknown>;
    const frames = (Array.isArray(thread.frames) ? thread.frames : []).slice(0, MAX_COMPACT_FRAMES).map((f: unknown, index: number): ReportFrame => {
      const m = typeof f === "string" ? COMPACT_FRAME.exec(f) : null;
      const [module, buildId] = m?.[2] !== undefined ? moduleAt(Number(m[2])) : [null, null];
      return {
        index,
        pc: m?.[1] ?? "0x0",
        sp: "0x0",
        method: "cfi",
        module,
        moduleOffset: m?.[3] ?? null,
        symbol: m?.[4] ?? null,
        symbolOffset: m?.[5] !== undefined ? Number(m[5]) : null,
        buildId,
      };
    });
    return { tid: num(thread.tid) ?? 0, crashing: ti === 0, signal: 0, registers: {}, frames, stop: "compact" };
  });
  const signal = str(c.signal) ?? "unknown signal";
  return {
    version: num(c.v) ?? 1,
    arch: (str(c.arch) ?? "x86_64") as Report["arch"],
    pid: num(c.pid),
    tid: num(c.tid),
    ppid: null,
    comm: str(c.comm),
    exe: str(c.exe),
    cmdline: null,
    uid: null,
    gid: null,
    signal: { number: 0, name: signal.split(" ")[0] ?? signal, code: null, codeName: null, meaning: null, faultAddress: null, summary: signal, senderPid: null },
    cause: { kind: "unknown", text: str(c.cause) ?? "" },
    threads,
    modules: modules.map((m: unknown) => {
      const [path, buildId] = Array.isArray(m) ? [str(m[0]), str(m[1])] : [null, null];
      return { path: path ?? "?", start: "0x0", end: "0x0", loadBias: "0x0", buildId, problem: null };
    }),
    memoryMap: [],
    incomplete: c.incomplete === true,
    warnings: ["from the compact form: registers, other threads' deep frames and the memory map are not kept"],
  };
}

/** A full report as the device sent it, checked enough to be read safely (it is untrusted). */
export function reportFromFull(input: Record<string, unknown>): Report {
  const threads = input.threads;
  if (!Array.isArray(threads)) throw new SyntaxError("not a report: no threads array");
  for (const t of threads) {
    if (t === null || typeof t !== "object" || !Array.isArray((t as { frames?: unknown }).frames)) throw new SyntaxError("not a report: a thread without frames");
    for (const f of (t as { frames: unknown[] }).frames) {
      if (f === null || typeof f !== "object") throw new SyntaxError("not a report: a frame that is not an object");
      const fr = f as Record<string, unknown>;
      for (const k of ["module", "moduleOffset", "symbol", "buildId", "function", "file"]) {
        if (fr[k] !== undefined && fr[k] !== null && typeof fr[k] !== "string") throw new SyntaxError(`not a report: frame ${k} is not a string`);
      }
      if (typeof fr.pc !== "string") throw new SyntaxError("not a report: frame pc is not a string");
      if (typeof fr.index !== "number") throw new SyntaxError("not a report: frame index is not a number");
      if (fr.symbolOffset !== undefined && fr.symbolOffset !== null && typeof fr.symbolOffset !== "number") throw new SyntaxError("not a report: frame symbolOffset is not a number");
    }
  }
  const sig = input.signal as Record<string, unknown> | undefined;
  if (sig === null || typeof sig !== "object") throw new SyntaxError("not a report: signal is not an object");
  if (typeof sig.summary !== "string") throw new SyntaxError("not a report: signal.summary is not a string");
  const cause = input.cause as Record<string, unknown> | undefined;
  if (cause !== undefined && (cause === null || typeof cause !== "object" || typeof cause.text !== "string")) throw new SyntaxError("not a report: cause is not {kind, text}");
  for (const k of ["exe", "comm", "cmdline"]) {
    if (input[k] !== undefined && input[k] !== null && typeof input[k] !== "string") throw new SyntaxError(`not a report: ${k} is not a string`);
  }
  return input as unknown as Report;
}

/** The thread that took the signal: the one marked crashing, else the first. */
export function crashingThread(report: Report): ReportThread | undefined {
  return report.threads.find((t) => t.crashing) ?? report.threads[0];
}

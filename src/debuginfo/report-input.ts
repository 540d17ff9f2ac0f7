// The reports a device hands over, as full Report objects: the archive's
// report JSON (version 1 or 2), the compact form the journal keeps (alone, or
// inside `crashkeep dump --json` records), or an archive entry
// (`history show ID --json`, entry.json) whose crash-report files lie beside it.
// Checked with zod; anything else is refused with the reason.
import { readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { z } from "zod";
import type { Arch } from "../core/elf.ts";
import type { CauseKind, Report, ReportFrame } from "../core/report.ts";

/** A report file read at most: a full report of 64 threads × 256 frames is ~5 MiB. */
export const MAX_REPORT_FILE_BYTES = 64 * 1024 * 1024;
/** Reports taken from one input at most (a dump holds a ring of a few dozen). */
export const MAX_REPORTS_PER_INPUT = 1024;

const hexString = z.string().regex(/^0x[0-9a-f]{1,16}$/);
const nullableString = z.string().nullable();

const frameSchema = z.looseObject({
  index: z.number().int(),
  pc: hexString,
  sp: hexString,
  method: z.enum(["context", "cfi", "fp", "scan"]),
  module: nullableString,
  moduleOffset: hexString.nullable(),
  symbol: nullableString,
  symbolOffset: z.number().nullable(),
  buildId: nullableString,
  // the name `function` was demangled from (docs/REPORT.md): a string when present
  mangled: z.string().optional(),
});

const fullSchema = z.looseObject({
  version: z.number().int().min(1),
  arch: z.enum(["x86_64", "aarch64"]),
  signal: z.looseObject({ number: z.number(), name: z.string(), summary: z.string() }),
  cause: z.looseObject({ kind: z.string(), text: z.string() }),
  threads: z.array(z.looseObject({ tid: z.number(), frames: z.array(frameSchema) })),
  modules: z.array(z.looseObject({ path: z.string(), buildId: nullableString })),
  warnings: z.array(z.string()),
});

const compactSchema = z.looseObject({
  v: z.number().int().min(1),
  arch: z.enum(["x86_64", "aarch64"]),
  pid: z.number().nullable(),
  tid: z.number().nullable(),
  comm: nullableString.optional(),
  exe: nullableString.optional(),
  signal: z.string(),
  cause: z.string(),
  incomplete: z.boolean(),
  modules: z.array(z.tuple([z.string(), nullableString])).optional(),
  threads: z.array(z.looseObject({ tid: z.number(), frames: z.array(z.string()), more: z.number().optional() })).optional(),
});

const dumpSchema = z.looseObject({
  retained: z.boolean(),
  records: z.array(z.looseObject({ seq: z.number(), kind: z.string(), payload: z.looseObject({ encoding: z.string(), data: z.string() }) })),
});

const entrySchema = z.looseObject({
  id: z.string(),
  files: z.array(z.looseObject({ name: z.string(), kind: z.string() })),
});

export interface InputReport {
  /** Where in the input it came from: "", "record 12", "journal-12-crash-report.json". */
  origin: string;
  report: Report;
}

/** The reports in a file; dir is where an archive entry's files are looked for (the file's directory). */
export function readReportFile(path: string): InputReport[] {
  let text: string;
  try {
    const st = statSync(path);
    if (!st.isFile()) throw new Error("not a regular file");
    if (st.size > MAX_REPORT_FILE_BYTES) throw new Error(`larger than ${MAX_REPORT_FILE_BYTES} bytes`);
    text = readFileSync(path, "utf8");
  } catch (err) {
    const code = (err as { code?: string }).code;
    throw new Error(code === "ENOENT" ? "no such file" : code ? `cannot read it (${code})` : err instanceof Error ? err.message : String(err));
  }
  return parseReports(text, { dir: path.includes("/") ? path.slice(0, path.lastIndexOf("/")) || "/" : "." });
}

/** The reports in a JSON text (one of the forms above, or an array of them). */
export function parseReports(text: string, options: { dir?: string } = {}): InputReport[] {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new SyntaxError("not JSON");
  }
  const out: InputReport[] = [];
  collect(value, "", options.dir, out, 0);
  if (out.length === 0) throw new SyntaxError("it holds no crash report");
  return out;
}

function collect(value: unknown, origin: string, dir: string | undefined, out: InputReport[], depth: number): void {
  if (out.length >= MAX_REPORTS_PER_INPUT) return;
  if (Array.isArray(value) && depth === 0) {
    value.forEach((v, i) => collect(v, `item ${i}`, dir, out, depth + 1));
    return;
  }
  if (typeof value !== "object" || value === null) throw new SyntaxError(`${where(origin)}not a report (a JSON ${value === null ? "null" : typeof value})`);
  const o = value as Record<string, unknown>;
  if ("threads" in o && "version" in o) {
    out.push({ origin, report: fromFull(check(fullSchema, o, origin)) });
  } else if ("v" in o && "signal" in o) {
    out.push({ origin, report: fromCompact(check(compactSchema, o, origin)) });
  } else if ("records" in o && "retained" in o) {
    const d = check(dumpSchema, o, origin);
    for (const r of d.records) {
      if (r.kind !== "crash-report") continue;
      if (r.payload.encoding !== "utf-8") throw new SyntaxError(`record ${r.seq}: the payload is not text`);
      let inner: unknown;
      try {
        inner = JSON.parse(r.payload.data);
      } catch {
        throw new SyntaxError(`record ${r.seq}: the payload is not JSON`);
      }
      collect(inner, `record ${r.seq}`, dir, out, depth + 1);
    }
  } else if ("files" in o && "id" in o) {
    const e = check(entrySchema, o, origin);
    for (const f of e.files) {
      if (f.kind !== "journal-crash-report" || f.name.includes("/")) continue;
      if (dir === undefined) throw new SyntaxError(`archive entry "${e.id}" names ${f.name}: read it from a file beside it`);
      const p = join(dir, f.name);
      let inner: string;
      try {
        inner = readFileSync(p, "utf8");
      } catch {
        throw new SyntaxError(`archive entry "${e.id}" names ${f.name}, which is not in ${dir} (copy the whole entry directory)`);
      }
      let parsed: unknown;
      try {
        parsed = JSON.parse(inner);
      } catch {
        throw new SyntaxError(`${f.name}: not JSON`);
      }
      collect(parsed, f.name, dir, out, depth + 1);
    }
  } else {
    throw new SyntaxError(`${where(origin)}not a crash report, a compact report, \`dump --json\` output or an archive entry`);
  }
}

function where(origin: string): string {
  return origin === "" ? "" : `${origin}: `;
}

function check<T extends z.ZodType>(schema: T, value: unknown, origin: string): z.infer<T> {
  const r = schema.safeParse(value);
  if (r.success) return r.data;
  const issue = r.error.issues[0];
  const path = issue && issue.path.length > 0 ? issue.path.join(".") : "(top)";
  throw new SyntaxError(`${where(origin)}${path}: ${issue?.message ?? "invalid"}`);
}

function fromFull(r: z.infer<typeof fullSchema>): Report {
  // version 1 reports lack the version-2 keys; every reader after this sees them
  const report = r as unknown as Report;
  return {
    ...report,
    threads: report.threads.map((t) => ({
      ...t,
      frames: t.frames.map((f) => ({ ...f, function: f.function ?? f.symbol, file: f.file ?? null, line: f.line ?? null, column: f.column ?? null, inlined: f.inlined ?? false })),
    })),
    modules: report.modules.map((m) => ({ ...m, problem: m.problem ?? null, debugFile: m.debugFile ?? null, debugSource: m.debugSource ?? null })),
  };
}

/** "0x55bc1272c290 m0+0x1290 parse_record+0" (format.ts compactReport; " +0x…" when the module table was dropped). */
const COMPACT_FRAME = /^(0x[0-9a-f]{1,16})(?: m(\d+)\+(0x[0-9a-f]{1,16})| \+(0x[0-9a-f]{1,16}))?(?: (\S+)\+(\d+|null))?$/;

function fromCompact(c: z.infer<typeof compactSchema>): Report {
  const modules = c.modules ?? [];
  const threads = (c.threads ?? []).map((t, ti) => {
    const frames: ReportFrame[] = t.frames.map((text, i) => {
      const m = COMPACT_FRAME.exec(text);
      if (!m) throw new SyntaxError(`threads.${ti}.frames.${i}: "${text.slice(0, 80)}" is not a compact frame`);
      const mod = m[2] === undefined ? undefined : modules[Number(m[2])];
      if (m[2] !== undefined && !mod) throw new SyntaxError(`threads.${ti}.frames.${i}: module m${m[2]} is not in the module table`);
      const pc = BigInt(m[1] as string);
      const symbol = m[5] ?? null;
      return {
        index: i,
        pc: "0x" + pc.toString(16).padStart(16, "0"),
        sp: "0x0000000000000000",
        // the compact form does not keep how a frame was found; frame 0 came from the registers
        method: i === 0 ? "context" : "cfi",
        module: mod ? mod[0] : null,
        moduleOffset: m[3] ?? null,
        symbol,
        symbolOffset: symbol !== null && m[6] !== undefined && m[6] !== "null" ? Number(m[6]) : null,
        buildId: mod ? mod[1] : null,
        function: symbol,
        file: null,
        line: null,
        column: null,
        inlined: false,
      };
    });
    return { tid: t.tid, crashing: ti === 0, signal: 0, registers: {}, frames, stop: t.more ? `${t.more} more frames not kept by the journal` : "end" };
  });
  const sigName = /^SIG[A-Z0-9]+/.exec(c.signal)?.[0] ?? codePrefixSignal(c.signal);
  const fault = / at (0x[0-9a-f]+)$/.exec(c.signal)?.[1] ?? null;
  const codeName = /^([A-Z]+_[A-Z0-9]+)/.exec(c.signal)?.[1] ?? /\((SI_[A-Z]+|[A-Z]+_[A-Z0-9]+)\)/.exec(c.signal)?.[1] ?? null;
  const seen = new Set<string>();
  return {
    version: c.v,
    arch: c.arch as Arch,
    pid: c.pid,
    tid: c.tid,
    ppid: null,
    comm: c.comm ?? null,
    exe: c.exe ?? null,
    cmdline: null,
    uid: null,
    gid: null,
    signal: { number: SIGNAL_NUMBERS[sigName] ?? 0, name: sigName, code: null, codeName, meaning: null, faultAddress: fault, summary: c.signal, senderPid: null },
    cause: { kind: causeKind(c.cause), text: c.cause },
    threads,
    modules: modules
      .filter(([p]) => !seen.has(p) && (seen.add(p), true))
      .map(([path, buildId]) => ({ path, start: "0x0000000000000000", end: "0x0000000000000000", loadBias: "0x0000000000000000", buildId, problem: null, debugFile: null, debugSource: null })),
    memoryMap: [],
    incomplete: c.incomplete,
    warnings: [`Cannot show registers, stack pointers or the memory map: the journal's compact form does not keep them${c.omittedThreads ? ` (nor ${String(c.omittedThreads)} of the threads)` : ""}, ignoring`],
  };
}

const SIGNAL_NUMBERS: Readonly<Record<string, number>> = { SIGILL: 4, SIGTRAP: 5, SIGABRT: 6, SIGBUS: 7, SIGFPE: 8, SIGKILL: 9, SIGSEGV: 11, SIGPIPE: 13, SIGTERM: 15, SIGSYS: 31 };

/** "SEGV_MAPERR at 0x10" → SIGSEGV (si_code names carry the signal's name, siginfo.h). */
function codePrefixSignal(summary: string): string {
  const prefix = /^([A-Z]+)_/.exec(summary)?.[1];
  return prefix ? `SIG${prefix}` : "";
}

/** The kind from the cause text report.ts wrote. */
function causeKind(text: string): CauseKind {
  const table: Array<[string, CauseKind]> = [
    ["null pointer dereference", "null-dereference"], ["stack overflow", "stack-overflow"], ["assertion failed", "assertion"],
    ["abort()", "abort"], ["SIGABRT", "abort"], ["integer divide by zero", "divide-by-zero"], ["bus error", "bus-error"], ["illegal instruction", "illegal-instruction"],
  ];
  return table.find(([p]) => text.startsWith(p))?.[1] ?? "unknown";
}

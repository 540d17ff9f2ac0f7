// The two renderings of a Report besides its JSON: the human text form (laid
// out like an Android tombstone, debuggerd/libdebuggerd/tombstone.cpp) and the
// compact form the journal stores (bounded, crashing thread first).
import type { Report, ReportFrame, ReportThread } from "./report.ts";

/** Serialized size of the compact form at most: a journal report slot must hold it. */
export const MAX_COMPACT_BYTES = 4096;
/** Frames of the crashing thread in the compact form before any trimming. */
export const COMPACT_CRASH_FRAMES = 32;
/** Frames of every other thread in the compact form before any trimming. */
export const COMPACT_OTHER_FRAMES = 3;

const SEPARATOR = "*** *** *** *** *** *** *** *** *** *** *** *** *** *** *** ***";

function short(h: string): string {
  return h.replace(/^0x0+(?=[0-9a-f])/, "0x");
}

function frameLine(f: ReportFrame): string {
  const pc = f.moduleOffset ? f.moduleOffset.replace(/^0x/, "").padStart(16, "0") : f.pc.replace(/^0x/, "");
  const where = f.module ?? "<unknown>";
  // reports of version 1 have no function/file/line/inlined keys
  const fn = f.function ?? f.symbol ?? null;
  const offset = fn !== null && fn === f.symbol && f.symbolOffset !== null && !f.inlined ? `+${f.symbolOffset}` : "";
  const sym = fn ? ` (${fn}${offset})` : "";
  const src = f.file ? ` (${f.file}${f.line ? `:${f.line}` : ""})` : "";
  const id = f.buildId ? ` (BuildId: ${f.buildId})` : "";
  return `      #${String(f.index).padStart(2, "0")} pc ${pc}  ${where}${sym}${src}${id} [${f.inlined ? "inlined" : f.tailCall === true ? "tail call" : f.method}]`;
}

function registerLines(t: ReportThread): string[] {
  const skip = new Set(["orig_rax", "cs", "ss", "ds", "es", "fs", "gs", "fs_base", "gs_base"]);
  const regs = Object.entries(t.registers).filter(([n]) => !skip.has(n));
  const lines: string[] = [];
  for (let i = 0; i < regs.length; i += 4) {
    lines.push("    " + regs.slice(i, i + 4).map(([n, v]) => `${n.padStart(6)} ${v.replace(/^0x/, "")}`).join("  "));
  }
  return lines;
}

function threadBlock(r: Report, t: ReportThread): string[] {
  const lines = [`pid: ${r.pid ?? "?"}, tid: ${t.tid}, name: ${r.comm ?? "?"}  >>> ${r.exe ?? "?"} <<<`];
  if (t.crashing) {
    lines.push(`uid: ${r.uid ?? "?"}, gid: ${r.gid ?? "?"}`);
    const s = r.signal;
    const code = s.code === null ? "" : `, code ${s.code} (${s.codeName})`;
    const fault = s.faultAddress ? `, fault addr ${s.faultAddress}` : s.senderPid !== null ? `, sent by pid ${s.senderPid}` : "";
    lines.push(`signal ${s.number} (${s.name})${code}${fault}`);
    lines.push(`Cause: ${r.cause.text}`);
  }
  lines.push(...registerLines(t), "", `backtrace (${t.frames.length} frames${t.stop === "end" ? "" : `, stopped: ${t.stop}`}):`);
  for (const f of t.frames) lines.push(frameLine(f));
  return lines;
}

/** The human text form. */
export function formatText(r: Report): string {
  const lines = [SEPARATOR, `ABI: '${r.arch}'`, `cmdline: ${r.cmdline ?? "?"}`];
  if (r.incomplete) lines.push("Incomplete: the core was truncated or damaged; what follows is partial");
  for (const w of r.warnings) lines.push(`Warning: ${w}`);
  const [crash, ...others] = r.threads;
  if (crash) lines.push(...threadBlock(r, crash));
  for (const t of others) lines.push("", "--- --- --- --- --- --- --- --- --- --- --- --- --- --- --- ---", ...threadBlock(r, t));
  lines.push("", `memory map (${r.memoryMap.length} entries):`);
  for (const m of r.memoryMap) {
    lines.push(`    ${m.start.replace(/^0x/, "")}-${m.end.replace(/^0x/, "")} ${m.perms} ${short(m.offset).padStart(10)}  ${m.path ?? ""}`.trimEnd());
  }
  return lines.join("\n") + "\n";
}

/** The compact form: what the journal keeps of a report. */
export interface CompactReport {
  v: number;
  arch: string;
  pid: number | null;
  tid: number | null;
  comm: string | null;
  exe: string | null;
  signal: string;
  cause: string;
  incomplete: boolean;
  /** module index → [path, build-id]; frames refer to modules by index. */
  modules: Array<[string, string | null]>;
  /** Crashing thread first; frames as "pc m<index>+offset symbol+offset". */
  threads: Array<{ tid: number; frames: string[]; more?: number }>;
  /** Threads left out to stay within MAX_COMPACT_BYTES. */
  omittedThreads: number;
}

/** Build the compact form of a report, serialized, at most MAX_COMPACT_BYTES bytes of UTF-8. */
export function compactReport(r: Report, limit = MAX_COMPACT_BYTES): string {
  const modules: Array<[string, string | null]> = [];
  const moduleIndex = new Map<string, number>();
  const frameText = (f: ReportFrame): string => {
    let where = "";
    if (f.module) {
      let i = moduleIndex.get(f.module);
      if (i === undefined) {
        i = modules.length;
        moduleIndex.set(f.module, i);
        modules.push([f.module, f.buildId]);
      }
      where = ` m${i}+${f.moduleOffset}`;
    }
    return `${short(f.pc)}${where}${f.symbol ? ` ${f.symbol}+${f.symbolOffset}` : ""}`;
  };
  const threads = r.threads.map((t) => {
    const max = t.crashing ? COMPACT_CRASH_FRAMES : COMPACT_OTHER_FRAMES;
    const frames = t.frames.slice(0, max).map(frameText);
    return t.frames.length > max ? { tid: t.tid, frames, more: t.frames.length - max } : { tid: t.tid, frames };
  });
  const c: CompactReport = {
    v: r.version,
    arch: r.arch,
    pid: r.pid,
    tid: r.tid,
    comm: r.comm,
    exe: r.exe,
    signal: r.signal.summary,
    cause: r.cause.text,
    incomplete: r.incomplete,
    modules,
    threads,
    omittedThreads: 0,
  };
  const size = (): number => Buffer.byteLength(JSON.stringify(c));
  // Trim from the least useful end: other threads, then the crashing thread's deepest frames.
  while (size() > limit && c.threads.length > 1) {
    c.threads.pop();
    c.omittedThreads++;
  }
  const crash = c.threads[0];
  while (size() > limit && crash && crash.frames.length > 1) {
    crash.frames.pop();
    crash.more = (crash.more ?? 0) + 1;
  }
  const cut = (s: string | null, n: number): string | null => (s === null || s.length <= n ? s : s.slice(0, n) + "…");
  if (size() > limit) {
    c.exe = cut(c.exe, 128);
    c.cause = cut(c.cause, 128) ?? "";
    c.modules = c.modules.map(([p, id]) => [cut(p, 96) ?? "", id]);
    if (crash) crash.frames = crash.frames.map((f) => cut(f, 160) ?? "");
  }
  while (size() > limit && c.modules.length > 0 && crash) {
    c.modules = [];
    crash.frames = crash.frames.map((f) => f.replace(/ m\d+\+/, " +"));
  }
  let out = JSON.stringify(c);
  if (Buffer.byteLength(out) > limit) {
    // Only a pathological report gets here (huge names): keep the signal and the cause.
    out = JSON.stringify({ v: c.v, arch: c.arch, pid: c.pid, tid: c.tid, signal: cut(c.signal, 200), cause: cut(c.cause, 200), incomplete: true });
  }
  return out;
}

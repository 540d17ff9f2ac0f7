// Symbolization of a report by build-id + module offset: for every frame, the
// function, file:line and the inlined calls at its pc, from the debug
// information found for its module (locate.ts, then debuginfod). Shared by
// `inspect`, `symbolize` and the fleet collector; never prints.
import type { Report, ReportFrame, ReportModule, ReportThread } from "../core/report.ts";
import { REPORT_VERSION } from "../core/report.ts";
import { hex } from "../core/bytes.ts";
import type { DebugElf } from "./debug-elf.ts";
import { fetchFromDebuginfod, type DebuginfodConfig } from "./debuginfod.ts";
import { openSourceInfo, type SourceFrame, type SourceInfo } from "./inline-frames.ts";
import { closeLocated, findByBuildId, locateDebugInfo, openChecked, type DebugSource, type Located, type LocateOptions, type OpenedElf } from "./locate.ts";
import { tailCallFrames, type CallGraph } from "./tail-calls.ts";
import type { CallSite, CallTarget } from "./inline-frames.ts";
import { dirname, join } from "node:path";

/** Places named in a "no debug info" warning: the first ones say enough. */
const MAX_PLACES_NAMED = 3;
/** Inlined frames added per physical frame at most: gcc's inlining depth rarely passes 20. */
export const MAX_INLINED_PER_FRAME = 64;
/**
 * Signal trampolines: the frame above one was interrupted, its pc is exact (not a
 * return address), so it is looked up as is, not minus 1 (glibc x86-64
 * sysdeps/unix/sysv/linux/x86_64/libc_sigaction.c; the arm64 vDSO's sigreturn.S).
 */
const SIGNAL_TRAMPOLINES: ReadonlySet<string> = new Set(["__restore_rt", "__kernel_rt_sigreturn"]);

export interface SymbolizeOptions extends LocateOptions {
  /** A debuginfod client configuration (debuginfodConfig()); none: no network. */
  debuginfod?: DebuginfodConfig | undefined;
}

interface Resolved {
  located: Located;
  /** The dwz supplementary file, when the debug file names one and it was found. */
  supplementary: OpenedElf | undefined;
  symtab: DebugElf | undefined;
  source: SourceInfo | undefined;
  debugFile: string | null;
  debugSource: DebugSource | null;
  problem: string | undefined;
  warnings: string[];
}

/**
 * The report with every frame re-symbolized (version 2): symbols from the debug
 * file's .symtab, function/file/line/column and inlined frames from its DWARF.
 * Frames whose module has no debug info keep what they had; the report's
 * warnings say why. Asynchronous because of debuginfod.
 */
export async function symbolizeReport(report: Report, options: SymbolizeOptions = {}): Promise<Report> {
  const cache = new Map<string, Resolved>();
  const keyOf = (path: string, buildId: string | null): string => `${path}\0${buildId ?? ""}`;
  try {
    // resolve each module a frame falls in, once; all at the same time, so that a
    // debuginfod server that does not answer costs one timeout, not one per module
    const wanted = new Map<string, { path: string; buildId: string | null }>();
    for (const t of report.threads) {
      for (const f of t.frames) {
        if (f.inlined === true || f.tailCall === true || f.module === null || f.moduleOffset === null) continue;
        wanted.set(keyOf(f.module, f.buildId), { path: f.module, buildId: f.buildId });
      }
    }
    const resolved = await Promise.all([...wanted].map(async ([key, mod]) => [key, await resolve(mod, options)] as const));
    for (const [key, r] of resolved) cache.set(key, r);
    const warnings = [...report.warnings];
    for (const r of cache.values()) warnings.push(...r.warnings);
    const graph = callGraph(report, (m) => cache.get(keyOf(m.path, m.buildId)));
    const threads = report.threads.map((t) => symbolizeThread(t, (f) => (f.module === null ? undefined : cache.get(keyOf(f.module, f.buildId))), graph, warnings));
    for (const r of cache.values()) for (const w of r.source?.warnings ?? []) warnings.push(`${w.replace(/, ignoring$/, "")} (in "${r.debugFile}"), ignoring`);
    const modules: ReportModule[] = report.modules.map((m) => {
      const r = cache.get(keyOf(m.path, m.buildId));
      return {
        ...m,
        problem: m.problem ?? r?.problem ?? null,
        debugFile: r?.debugFile ?? m.debugFile ?? null,
        debugSource: r?.debugSource ?? m.debugSource ?? null,
      };
    });
    return { ...report, version: Math.max(REPORT_VERSION, report.version), threads, modules, warnings: dedupe(warnings) };
  } finally {
    for (const r of cache.values()) {
      closeLocated(r.located);
      r.supplementary?.elf.src.close?.();
    }
  }
}

function dedupe(list: string[]): string[] {
  return [...new Set(list)];
}

async function resolve(mod: { path: string; buildId: string | null }, options: SymbolizeOptions): Promise<Resolved> {
  const located = locateDebugInfo(mod, options);
  const extra: string[] = [];
  const cfg = options.debuginfod;
  if (cfg && mod.buildId) {
    if (!located.debug) {
      const got = await fetchFromDebuginfod(cfg, { buildId: mod.buildId, kind: "debuginfo" });
      if (got.path !== undefined) {
        const elf = openChecked(got.path, mod.buildId, located.problems);
        if (elf) located.debug = { path: got.path, elf, source: "debuginfod" };
      } else if (!got.notFound) extra.push(got.problem);
      else located.looked.push(`debuginfod (${cfg.urls.join(" ")})`);
    }
    // the module's own file: its .symtab (names of a file without DWARF) and nothing else
    if (!located.module && !located.debug?.elf.hasSymtab) {
      const got = await fetchFromDebuginfod(cfg, { buildId: mod.buildId, kind: "executable" });
      if (got.path !== undefined) {
        const elf = openChecked(got.path, mod.buildId, located.problems);
        if (elf) located.module = { path: got.path, elf };
      } else if (!got.notFound) extra.push(got.problem);
    }
  }
  const warnings: string[] = [];
  let source: SourceInfo | undefined;
  let supplementary: OpenedElf | undefined;
  if (located.debug) {
    try {
      source = openSourceInfo(located.debug.elf.src);
      const link = source?.altLink;
      if (link) {
        supplementary = await findSupplementary(link, located.debug.path, options, located);
        if (supplementary) source = openSourceInfo(located.debug.elf.src, { supplementary: supplementary.elf.src }) ?? source;
      }
      if (!source) warnings.push(`Cannot read DWARF from debug file "${located.debug.path}" of module "${mod.path}": it has none the reader can use, ignoring`);
    } catch (err) {
      warnings.push(`Cannot read the DWARF of "${located.debug.path}": ${err instanceof Error ? err.message : String(err)}, ignoring`);
    }
  }
  const symtab = located.debug?.elf.hasSymtab ? located.debug.elf : located.module?.elf.hasSymtab ? located.module.elf : undefined;
  const mismatch = located.problems.find((p) => p.includes("has build-id"));
  for (const p of located.problems) warnings.push(`${p}, ignoring`);
  for (const p of extra) warnings.push(`${p}, ignoring`);
  if (!located.debug) {
    const id = mod.buildId ? `build-id ${mod.buildId}` : "no build-id";
    const places = located.looked.length === 0 ? "nowhere to look (no path, no build-id)" : `not in ${located.looked.slice(0, MAX_PLACES_NAMED).join(", ")}${located.looked.length > MAX_PLACES_NAMED ? ` or ${located.looked.length - MAX_PLACES_NAMED} more places` : ""}`;
    // the frames keep the device's addresses and names
    warnings.push(`Cannot find debug info for module "${mod.path}" (${id}): ${places}, ignoring`);
  }
  return {
    located,
    supplementary,
    symtab,
    source,
    debugFile: located.debug?.path ?? null,
    debugSource: located.debug?.source ?? null,
    problem: mismatch,
    warnings,
  };
}

/**
 * The dwz supplementary file a debug file names in .gnu_debugaltlink: at its path
 * (under the sysroot when absolute, else beside the debug file), by its build-id
 * in the debug dirs, then from debuginfod — checked against its build-id.
 */
async function findSupplementary(link: { path: string; buildId: string }, debugPath: string, options: SymbolizeOptions, log: Located): Promise<OpenedElf | undefined> {
  const paths = link.path.startsWith("/") ? [...(options.sysroot ? [join(options.sysroot, link.path)] : []), link.path] : [join(dirname(debugPath), link.path)];
  for (const p of paths) {
    log.looked.push(p);
    const elf = openChecked(p, link.buildId, log.problems);
    if (elf) return { path: p, elf };
  }
  const byId = findByBuildId(link.buildId, options, log);
  if (byId) return byId;
  if (options.debuginfod) {
    const got = await fetchFromDebuginfod(options.debuginfod, { buildId: link.buildId, kind: "debuginfo" });
    const elf = got.path === undefined ? undefined : openChecked(got.path, link.buildId, log.problems);
    if (got.path !== undefined && elf) return { path: got.path, elf };
  }
  return undefined;
}

/** A module of the report with its debug info, by absolute address. */
interface Placed {
  path: string;
  buildId: string | null;
  start: bigint;
  end: bigint;
  bias: bigint;
  r: Resolved;
}

/** The report's modules as tail-calls.ts sees them: the executable first, as gdb orders its objfiles for a name lookup. */
function callGraph(report: Report, resolvedFor: (m: ReportModule) => Resolved | undefined): CallGraph & { moduleAt(pc: bigint): Placed | undefined } {
  const placed: Placed[] = [];
  // the journal's compact form keeps no module extents: there a module's bias comes from its frames (pc − moduleOffset),
  // and it reaches up to the next module's
  const biasOf = new Map<string, bigint>();
  for (const t of report.threads) {
    for (const f of t.frames) if (f.module !== null && f.moduleOffset !== null) biasOf.set(f.module, BigInt(f.pc) - BigInt(f.moduleOffset));
  }
  const compact = report.modules.every((m) => BigInt(m.end) === 0n);
  const bases = compact ? [...biasOf.values()].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)) : [];
  for (const m of report.modules) {
    const r = resolvedFor(m);
    const bias = compact ? biasOf.get(m.path) : BigInt(m.loadBias);
    if (!r || bias === undefined) continue;
    const end = compact ? (bases.find((b) => b > bias) ?? 1n << 64n) : BigInt(m.end);
    const p = { path: m.path, buildId: m.buildId, start: compact ? bias : BigInt(m.start), end, bias, r };
    if (m.path === report.exe) placed.unshift(p);
    else placed.push(p);
  }
  const moduleAt = (pc: bigint): Placed | undefined => placed.find((m) => pc >= m.start && pc < m.end);
  const rebase = (t: CallTarget, bias: bigint): CallTarget => (t.kind === "addresses" ? { kind: "addresses", addresses: t.addresses.map((a) => a + bias) } : t);
  const site = (c: CallSite, bias: bigint): CallSite => ({ pc: c.pc + bias, target: rebase(c.target, bias) });
  return {
    moduleAt,
    callSite(pc) {
      // a call to a noreturn function returns past its caller: the module is the one holding pc − 1
      const m = moduleAt(pc - 1n);
      const c = m?.r.source?.callSite(pc - m.bias);
      return m && c ? site(c, m.bias) : undefined;
    },
    functionAt(pc) {
      const m = moduleAt(pc);
      const f = m?.r.source?.functionAt(pc - m.bias);
      return m && f ? { entry: f.entry + m.bias, tailCalls: f.tailCalls.map((c) => site(c, m.bias)) } : undefined;
    },
    symbolStart(pc) {
      const m = moduleAt(pc);
      const hit = m?.r.symtab?.symbolize(pc - m.bias);
      return hit ? pc - hit.offset : undefined;
    },
    addressOf(name) {
      let local: bigint | undefined;
      for (const m of placed) {
        const a = m.r.symtab?.addressOf(name);
        if (a?.external) return a.value + m.bias;
        if (a && local === undefined) local = a.value + m.bias;
      }
      return local;
    },
  };
}

/**
 * A signal trampoline's frame: named so by the device, or, when the device's copy
 * of the module has no symbol table (Debian's libc.so.6 has none), by the debug
 * file's, at the frame's exact pc (the trampoline's first instruction).
 */
function isTrampoline(f: ReportFrame, r: Resolved | undefined): boolean {
  if (SIGNAL_TRAMPOLINES.has(f.symbol ?? "")) return true;
  if (!r?.symtab || f.moduleOffset === null || !/^0x[0-9a-f]{1,16}$/.test(f.moduleOffset)) return false;
  const hit = r.symtab.symbolize(BigInt(f.moduleOffset));
  return hit !== undefined && hit.offset === 0n && SIGNAL_TRAMPOLINES.has(hit.name);
}

function symbolizeThread(t: ReportThread, resolvedFor: (f: ReportFrame) => Resolved | undefined, graph: ReturnType<typeof callGraph>, warnings: string[]): ReportThread {
  // a version-2 report: its inlined and tail-call frames are derived, drop them and derive them again
  const physical = t.frames.filter((f) => f.inlined !== true && f.tailCall !== true);
  const frames: ReportFrame[] = [];
  const trampoline = physical.map((f) => isTrampoline(f, resolvedFor(f)));
  physical.forEach((f, i) => {
    // frame 0, a frame a signal interrupted and the signal frame itself (the kernel set its pc to the
    // trampoline's first instruction) hold an exact pc; callers hold a return address (gdb's
    // get_frame_address_in_block: pc - 1 only for a normal frame whose callee is a normal frame)
    const exact = i === 0 || f.method === "context" || trampoline[i] === true || trampoline[i - 1] === true;
    const base: ReportFrame = {
      ...f,
      index: frames.length,
      function: f.function ?? f.symbol ?? null,
      file: f.file ?? null,
      line: f.line ?? null,
      column: f.column ?? null,
      inlined: false,
    };
    delete base.tailCall;
    const r = resolvedFor(f);
    if (!r || f.moduleOffset === null || !/^0x[0-9a-f]{1,16}$/.test(f.moduleOffset)) frames.push(base);
    else describe(frames, base, r, exact, warnings);
    // gdb's tail-call frames sit between a frame and the caller its CFI unwound to (dwarf2/frame.c calls the tail-call
    // sniffer); the frame's own module needs no DWARF for it (its function's start may come from its symbols)
    const next = physical[i + 1];
    if (!next || next.method !== "cfi" || trampoline[i] === true || !/^0x[0-9a-f]{1,16}$/.test(f.pc) || !/^0x[0-9a-f]{1,16}$/.test(next.pc)) return;
    const pc = BigInt(f.pc);
    for (const tail of tailCallFrames(graph, BigInt(next.pc), exact || pc === 0n ? pc : pc - 1n)) {
      const m = graph.moduleAt(tail - 1n);
      if (!m) break;
      const frame: ReportFrame = {
        index: frames.length,
        pc: hex(tail),
        sp: next.sp,
        method: next.method,
        module: m.path,
        moduleOffset: hex(tail - m.bias, 0),
        symbol: null,
        symbolOffset: null,
        buildId: m.buildId,
        function: null,
        file: null,
        line: null,
        column: null,
        inlined: false,
        tailCall: true,
      };
      describe(frames, frame, m.r, false, warnings, true);
    }
  });
  return { ...t, frames };
}

/**
 * Push a frame (pc base.moduleOffset) as symbolized from r: the inlined calls at its pc, then the frame itself. A
 * tail-call frame is one frame named by the innermost function at its pc: gdb's tail-call unwinder claims the frame
 * before its inline unwinder would (frame-unwind.c's table order), and get_frame_block starts at the innermost block.
 */
function describe(frames: ReportFrame[], base: ReportFrame, r: Resolved, exact: boolean, warnings: string[], tail = false): void {
  const offset = BigInt(base.moduleOffset as string);
  const lookup = exact || offset === 0n ? offset : offset - 1n;
  const hit = r.symtab?.symbolize(lookup);
  if (hit) {
    base.symbol = hit.name;
    base.symbolOffset = Number(hit.offset) + (lookup === offset ? 0 : 1);
    base.function = hit.name;
  }
  let source: SourceFrame[] = [];
  if (r.source) {
    try {
      source = r.source.frames(lookup);
    } catch (err) {
      warnings.push(`Cannot read the source lines of "${r.debugFile}" at ${base.moduleOffset}: ${err instanceof Error ? err.message : String(err)}, ignoring`);
    }
  }
  const concrete = tail ? source[0] : source[source.length - 1];
  for (const s of tail ? [] : source.slice(0, -1).slice(0, MAX_INLINED_PER_FRAME)) {
    frames.push({ ...base, index: frames.length, symbol: s.function, symbolOffset: null, function: s.function, file: s.file, line: s.line, column: s.column, inlined: true });
  }
  if (concrete) {
    base.function = concrete.function ?? base.function;
    base.file = concrete.file;
    base.line = concrete.line;
    base.column = concrete.column;
    if (base.symbol === null) base.symbol = concrete.function;
  }
  base.index = frames.length;
  frames.push(base);
}

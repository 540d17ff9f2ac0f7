// The crash report: what a core says about the crash, in the JSON layout
// documented in docs/REPORT.md (stored by the journal and the archive).
import { ARCHES } from "./arch.ts";
import { hex } from "./bytes.ts";
import type { Arch } from "./elf.ts";
import { loadModules, type ModuleSet } from "./modules.ts";
import type { Core } from "./reader.ts";
import { FAULT_SIGNALS, codeName, signalName } from "./signals.ts";
import { MAX_FRAMES, unwindThread, type FrameMethod } from "./unwind.ts";

/** 2: frames gained function, file, line, column and inlined frames; modules gained debugFile and debugSource (only additions). */
export const REPORT_VERSION = 2;
/** Threads unwound per report: the crashing thread first; the rest only list their registers beyond this. */
export const MAX_REPORT_THREADS = 64;
/** Fault addresses below this are a null-pointer dereference: Linux's default vm.mmap_min_addr is 65536. */
export const NULL_PAGE_LIMIT = 65536n;
/** A fault this close below the stack pointer is a stack overflow (the kernel's stack_guard_gap is 256 pages = 1 MiB). */
export const STACK_GUARD_DISTANCE = 1024n * 1024n;

export interface ReportFrame {
  index: number;
  /** Absolute address (hex). For caller frames, the return address, as gdb prints it. */
  pc: string;
  sp: string;
  method: FrameMethod;
  module: string | null;
  /** pc minus the module's load bias: the link-time address, as addr2line and eu-addr2line take it. */
  moduleOffset: string | null;
  symbol: string | null;
  symbolOffset: number | null;
  buildId: string | null;
  /** The function as gdb names it: from DWARF when debug info was found (an inlined frame: the inlined function), else `symbol`. */
  function: string | null;
  /** Source position from the line table (a caller frame: of its call); null when unknown. */
  file: string | null;
  line: number | null;
  column: number | null;
  /** An inlined call at the pc of the next non-inlined frame below it (same pc, sp, module); gdb numbers these frames too. */
  inlined: boolean;
  /**
   * A frame a tail call left no trace of on the stack, rebuilt from the DWARF call sites as gdb does (its "tail call
   * frame"): pc is the return address of the jump's call site in it. Present (true) only on such frames.
   */
  tailCall?: boolean;
}

export interface ReportModule {
  path: string;
  start: string;
  end: string;
  loadBias: string;
  buildId: string | null;
  problem: string | null;
  /** The file names and lines came from (the module itself or its separate debug file); null when none was found. */
  debugFile: string | null;
  /** How debugFile was found: "module", "build-id", "debuglink", "debuginfod"; null when none was. */
  debugSource: string | null;
}

export interface ReportThread {
  tid: number;
  crashing: boolean;
  /** pr_cursig of this thread. */
  signal: number;
  registers: Record<string, string>;
  frames: ReportFrame[];
  /** "end" when the outermost frame was reached, "limit" when MAX_FRAMES cut it, else why it stopped. */
  stop: string;
}

export type CauseKind = "null-dereference" | "stack-overflow" | "abort" | "assertion" | "divide-by-zero" | "bus-error" | "illegal-instruction" | "unknown";

export interface Report {
  version: number;
  arch: Arch;
  pid: number | null;
  tid: number | null;
  ppid: number | null;
  comm: string | null;
  exe: string | null;
  cmdline: string | null;
  uid: number | null;
  gid: number | null;
  signal: {
    number: number;
    name: string;
    code: number | null;
    codeName: string | null;
    meaning: string | null;
    /** hex; null when the signal carries no address. */
    faultAddress: string | null;
    /** "SEGV_MAPERR at 0x10". */
    summary: string;
    senderPid: number | null;
  };
  cause: { kind: CauseKind; text: string };
  threads: ReportThread[];
  modules: ReportModule[];
  memoryMap: Array<{ start: string; end: string; perms: string; offset: string; path: string | null }>;
  incomplete: boolean;
  warnings: string[];
}

export interface ReportOptions {
  /** Where the mapped files are looked up (ModuleOptions.sysroot). */
  sysroot?: string | readonly string[] | undefined;
}

export function buildReport(core: Core, options: ReportOptions = {}): Report {
  const mods = loadModules(core, { sysroot: options.sysroot });
  const info = ARCHES[core.arch];
  const sig = core.siginfo;
  const signo = sig?.signo ?? core.threads[0]?.signal ?? 0;
  const crashTid = core.threads[0]?.tid ?? null; // the kernel writes the signalled thread first (binfmt_elf.c)
  const threads: ReportThread[] = [];
  core.threads.forEach((t, i) => {
    const registers: Record<string, string> = {};
    info.prRegNames.forEach((n, k) => {
      registers[n] = hex(t.regs[k] ?? 0n);
    });
    let frames: ReportFrame[] = [];
    let stop = "not unwound: more than " + MAX_REPORT_THREADS + " threads";
    if (i < MAX_REPORT_THREADS) {
      try {
        const r = unwindThread({ arch: core.arch, regs: t.regs }, mods);
        frames = r.frames.map((f, index) => describeFrame(index, f, mods, index > 0 && !r.frames[index - 1]?.signalFrame));
        stop = r.stop;
      } catch (err) {
        stop = `unwinding failed: ${err instanceof Error ? err.message : String(err)}`;
      }
    }
    threads.push({ tid: t.tid, crashing: i === 0, signal: t.signal, registers, frames, stop });
  });
  const [cname, meaning] = sig ? codeName(signo, sig.code) : [null, null];
  const hasAddr = sig !== undefined && FAULT_SIGNALS.has(signo) && sig.code > 0;
  const faultAddress = hasAddr ? hex(sig.addr, 0) : null;
  const ps = core.psinfo;
  const exe = mods.exe ?? null;
  const report: Report = {
    version: REPORT_VERSION,
    arch: core.arch,
    pid: ps?.pid ?? crashTid,
    tid: crashTid,
    ppid: ps?.ppid ?? core.threads[0]?.ppid ?? null,
    comm: ps?.fname ?? null,
    exe,
    cmdline: ps?.psargs ?? null,
    uid: ps?.uid ?? null,
    gid: ps?.gid ?? null,
    signal: {
      number: signo,
      name: signalName(signo),
      code: sig?.code ?? null,
      codeName: cname,
      meaning,
      faultAddress,
      summary: hasAddr ? `${cname} at ${faultAddress}` : `${signalName(signo)}${cname ? ` (${cname})` : ""}`,
      senderPid: sig && !hasAddr && sig.code <= 0 ? sig.senderPid : null,
    },
    cause: { kind: "unknown", text: "" },
    threads,
    modules: [], // filled last, below
    memoryMap: mods.mappings.map((m) => ({ start: hex(m.start), end: hex(m.end), perms: m.perms, offset: hex(m.offset, 8), path: m.path ?? null })),
    incomplete: core.incomplete,
    warnings: [],
  };
  report.cause = probableCause(core, report, mods);
  // last: modules read lazily while unwinding add their problems and warnings
  report.modules = mods.modules.map((m) => ({
    path: m.path,
    start: hex(m.start),
    end: hex(m.end),
    loadBias: hex(m.bias),
    buildId: m.buildId ?? null,
    problem: m.problem ?? null,
    debugFile: null,
    debugSource: null,
  }));
  report.warnings = [...core.warnings, ...mods.warnings];
  return report;
}

function describeFrame(index: number, f: { pc: bigint; sp: bigint; method: FrameMethod }, mods: ModuleSet, caller: boolean): ReportFrame {
  // A return address may point past the end of the calling function (a call to a noreturn
  // function); the caller is found with pc - 1, as gdb's get_frame_address_in_block does.
  const lookup = caller ? f.pc - 1n : f.pc;
  const mod = mods.moduleAt(lookup);
  const sym = mod?.image?.symbolize(lookup - mod.bias);
  return {
    index,
    pc: hex(f.pc),
    sp: hex(f.sp),
    method: f.method,
    module: mod?.path ?? mods.mappingAt(f.pc)?.path ?? null,
    moduleOffset: mod ? hex(f.pc - mod.bias, 0) : null,
    symbol: sym?.name ?? null,
    symbolOffset: sym ? Number(sym.offset + (caller ? 1n : 0n)) : null,
    buildId: mod?.buildId ?? null,
    function: sym?.name ?? null,
    file: null,
    line: null,
    column: null,
    inlined: false,
  };
}

function probableCause(core: Core, r: Report, mods: ModuleSet): Report["cause"] {
  const info = ARCHES[core.arch];
  const sig = core.siginfo;
  const signo = r.signal.number;
  const crashing = r.threads[0];
  const symbols = new Set(crashing?.frames.map((f) => f.symbol).filter((s): s is string => s !== null));
  if (signo === 6) {
    if (symbols.has("__assert_fail") || symbols.has("__assert_perror_fail")) return { kind: "assertion", text: "assertion failed: assert() called abort()" };
    return { kind: "abort", text: symbols.has("abort") ? "abort() was called" : "SIGABRT" };
  }
  if (sig && (signo === 11 || signo === 7) && sig.code > 0) {
    const addr = sig.addr;
    const spSlot = info.dwarfFromPrReg[info.sp] as number;
    const sp = core.threads[0]?.regs[spSlot];
    if (sp !== undefined) {
      // The stack: the writable mapping holding sp, or the one just above it when sp went under.
      const writable = mods.mappings.filter((m) => m.perms.includes("w"));
      const stack = writable.find((m) => sp >= m.start && sp < m.end) ?? writable.find((m) => m.start > sp && m.start - sp < NULL_PAGE_LIMIT);
      const inWritable = writable.some((m) => addr >= m.start && addr < m.end);
      if (stack && !inWritable && addr < stack.start && stack.start - addr <= STACK_GUARD_DISTANCE && (addr > sp ? addr - sp : sp - addr) < NULL_PAGE_LIMIT) {
        return { kind: "stack-overflow", text: `stack overflow: ${r.signal.summary}, just below the stack at ${hex(stack.start, 0)} (sp ${hex(sp, 0)})` };
      }
    }
    if (addr < NULL_PAGE_LIMIT) return { kind: "null-dereference", text: `null pointer dereference: ${r.signal.summary}` };
    if (signo === 7) return { kind: "bus-error", text: `bus error: ${r.signal.summary} (${r.signal.meaning})` };
  }
  if (signo === 8 && sig?.code === 1) return { kind: "divide-by-zero", text: "integer divide by zero" };
  if (signo === 4) return { kind: "illegal-instruction", text: `illegal instruction: ${r.signal.summary}` };
  return { kind: "unknown", text: r.signal.summary };
}

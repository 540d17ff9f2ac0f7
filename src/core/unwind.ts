// Unwinding one thread: CFI first (.eh_frame/.debug_frame of the module that
// holds the pc), frame pointers as fallback, a bounded stack scan last.
// The first frame comes from the thread's registers ("context").
import { ARCHES, type ArchInfo } from "./arch.ts";
import { rowAt, type Rule } from "./cfi.ts";
import { evaluate, type ExprContext } from "./dwarf-expr.ts";
import type { Arch } from "./elf.ts";
import type { ModuleSet } from "./modules.ts";

/** Frames per thread at most: deep enough for any sane program; a stack overflow is cut here. */
export const MAX_FRAMES = 256;
/** Words examined by the stack scan at most for one frame. */
export const MAX_SCAN_WORDS = 2048;
/** aarch64 user addresses fit 48 bits (AArch64 VMSA, 4 KiB pages); PAC and tag bits above are stripped. */
const A64_ADDR_MASK = (1n << 48n) - 1n;

export type FrameMethod = "context" | "cfi" | "fp" | "scan";

export interface RawFrame {
  pc: bigint;
  sp: bigint;
  method: FrameMethod;
  /** The frame was interrupted by a signal (the next frame's pc is exact, not a return address). */
  signalFrame: boolean;
}

export interface UnwindResult {
  frames: RawFrame[];
  /** Why unwinding stopped: "end" (outermost frame), "limit", or what failed. */
  stop: string;
}

type Regs = Array<bigint | undefined>;

export function unwindThread(thread: { arch: Arch; regs: readonly bigint[] }, mods: ModuleSet): UnwindResult {
  const { arch, regs: prRegs } = thread;
  const info = ARCHES[arch];
  let regs: Regs = info.dwarfFromPrReg.map((slot) => (slot >= 0 ? prRegs[slot] : undefined));
  const frames: RawFrame[] = [];
  let method: FrameMethod = "context";
  let exact = true; // frame 0 and frames after a signal frame: pc is the faulting/next instruction
  const mem = (addr: bigint, size: number): bigint | undefined => {
    const b = mods.read(addr, size);
    if (!b) return undefined;
    let v = 0n;
    for (let i = size - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[i] as number);
    return v;
  };
  for (;;) {
    const pc = regs[info.pc];
    const sp = regs[info.sp];
    if (pc === undefined || sp === undefined) return { frames, stop: "the pc or sp is unknown" };
    if (frames.length >= MAX_FRAMES) return { frames, stop: "limit" };
    if (pc === 0n && frames.length > 0) return { frames, stop: "end" };
    const frame: RawFrame = { pc, sp, method, signalFrame: false };
    frames.push(frame);
    const lookup = exact ? pc : pc - 1n;
    let next: Regs | undefined;
    let how: FrameMethod = "cfi";
    let cfiEnd = false;
    const mod = mods.moduleAt(lookup);
    const found = mod?.image ? safe(() => mod.image?.findFde(lookup - mod.bias)) : undefined;
    if (found && mod) {
      const r = safe(() => stepCfi(info, regs, found, lookup - mod.bias, mem));
      if (r === "end") cfiEnd = true;
      else if (r) {
        next = r.regs;
        frame.signalFrame = r.signal;
      }
    }
    if (cfiEnd) return { frames, stop: "end" };
    if (!next && !found) {
      // No CFI: is the pc a signal return trampoline? (glibc's __restore_rt has CFI;
      // a trampoline on the stack, as qemu-user writes, or a libc without CFI has not.)
      next = stepSigreturn(info, regs, mods, mem);
      if (next) {
        frame.signalFrame = true;
        how = "context"; // the caller's registers are a saved context, as for frame 0
      }
    }
    if (!next) {
      next = stepFp(info, regs, mem, frames.length === 1 ? mods : undefined);
      how = "fp";
    }
    if (!next || !plausible(info, regs, next, frame.signalFrame, mods)) {
      next = stepScan(info, regs, mem, mods);
      how = "scan";
    }
    if (!next) return { frames, stop: found ? "the CFI rules give no caller" : "no CFI, frame pointer or return address found" };
    if (arch === "aarch64") {
      const npc = next[info.pc];
      if (npc !== undefined) next[info.pc] = npc & A64_ADDR_MASK;
    }
    exact = frame.signalFrame;
    method = how;
    regs = next;
  }
}

function safe<T>(fn: () => T): T | undefined {
  try {
    return fn();
  } catch {
    return undefined;
  }
}

/** A caller must be above its callee on the stack (gdb: "previous frame inner to this frame"). */
function plausible(info: ArchInfo, cur: Regs, next: Regs, signal: boolean, mods: ModuleSet): boolean {
  const sp = cur[info.sp];
  const nsp = next[info.sp];
  const npc = next[info.pc];
  if (sp === undefined || nsp === undefined || npc === undefined) return false;
  if (npc === 0n) return true; // outermost: the loop ends on it
  // Equal stack pointers are fine for an aarch64 leaf (CFA = sp, return address in x30)
  // as long as the frame changes (gdb compares frame ids: stack address and code address).
  if (!signal && (nsp < sp || (nsp === sp && npc === cur[info.pc]))) return false;
  const map = mods.mappingAt(npc);
  return map !== undefined && map.perms.includes("x");
}

function stepCfi(
  info: ArchInfo,
  regs: Regs,
  found: NonNullable<ReturnType<NonNullable<ModuleSet["modules"][number]["image"]>["findFde"]>>,
  pc: bigint,
  mem: (addr: bigint, size: number) => bigint | undefined,
): { regs: Regs; signal: boolean } | "end" | undefined {
  const row = rowAt(found.fde, pc);
  const ctx: ExprContext = { reg: (n) => regs[n], mem };
  let cfa: bigint | undefined;
  if (row.cfa.type === "reg") {
    const base = regs[row.cfa.reg];
    cfa = base === undefined ? undefined : BigInt.asUintN(64, base + row.cfa.off);
  } else {
    cfa = evaluate(row.cfa.expr, ctx);
  }
  if (cfa === undefined) return undefined;
  const raRule = row.regs.get(found.fde.cie.ra);
  if (raRule?.type === "undefined") return "end";
  const next: Regs = new Array(info.dwarfRegs).fill(undefined);
  const apply = (reg: number, rule: Rule | undefined): bigint | undefined => {
    if (!rule || rule.type === "same") return regs[reg];
    switch (rule.type) {
      case "undefined":
        return undefined;
      case "offset":
        return mem(BigInt.asUintN(64, cfa + rule.off), 8);
      case "val_offset":
        return BigInt.asUintN(64, cfa + rule.off);
      case "register":
        return regs[rule.reg];
      case "expr": {
        const addr = evaluate(rule.expr, { ...ctx, initial: [cfa] });
        return addr === undefined ? undefined : mem(addr, 8);
      }
      case "val_expr":
        return evaluate(rule.expr, { ...ctx, initial: [cfa] });
    }
  };
  for (let r = 0; r < info.dwarfRegs; r++) {
    if (r === info.pc && info.pc !== found.fde.cie.ra) continue;
    next[r] = apply(r, row.regs.get(r));
  }
  if (!row.regs.has(info.sp)) next[info.sp] = cfa;
  const ra = apply(found.fde.cie.ra, raRule);
  if (ra === undefined) return undefined;
  next[info.pc] = ra;
  return { regs: next, signal: found.fde.cie.signalFrame };
}

/** x86-64 `mov $15, %rax; syscall` (rt_sigreturn); aarch64 `mov x8, #139; svc #0`. */
const X86_SIGRETURN = [0x48, 0xc7, 0xc0, 0x0f, 0x00, 0x00, 0x00, 0x0f, 0x05];
const A64_SIGRETURN = [0x68, 0x11, 0x80, 0xd2, 0x01, 0x00, 0x00, 0xd4];
/** sigcontext register slots, x86-64 (arch/x86/include/uapi/asm/sigcontext.h): DWARF number → byte offset. */
const X86_SIGCONTEXT: ReadonlyArray<[number, number]> = [
  [8, 0], [9, 8], [10, 16], [11, 24], [12, 32], [13, 40], [14, 48], [15, 56],
  [5, 64], [4, 72], [6, 80], [3, 88], [1, 96], [0, 104], [2, 112], [7, 120], [16, 128],
];

/**
 * A signal frame without CFI: the interrupted registers are in the sigcontext the
 * kernel saved on the stack. x86-64: sp points at the ucontext (the handler's return
 * popped pretcode), uc_mcontext at +40 (struct rt_sigframe, arch/x86/include/asm/sigframe.h).
 * aarch64: sp points at struct rt_sigframe {siginfo (128 bytes); ucontext}, uc_mcontext at
 * +176 in the ucontext, then fault_address, regs[31], sp, pc (arch/arm64/kernel/signal.c).
 */
function stepSigreturn(info: ArchInfo, regs: Regs, mods: ModuleSet, mem: (a: bigint, n: number) => bigint | undefined): Regs | undefined {
  const pc = regs[info.pc];
  const sp = regs[info.sp];
  if (pc === undefined || sp === undefined) return undefined;
  const want = info.arch === "x86_64" ? X86_SIGRETURN : A64_SIGRETURN;
  const code = mods.read(pc, want.length);
  if (!code || want.some((b, i) => code[i] !== b)) return undefined;
  const next: Regs = new Array(info.dwarfRegs).fill(undefined);
  if (info.arch === "x86_64") {
    const sc = sp + 40n;
    for (const [reg, off] of X86_SIGCONTEXT) next[reg] = mem(sc + BigInt(off), 8);
  } else {
    const sc = sp + 128n + 176n;
    for (let r = 0; r < 31; r++) next[r] = mem(sc + 8n + BigInt(r * 8), 8);
    next[info.sp] = mem(sc + 256n, 8);
    next[info.pc] = mem(sc + 264n, 8);
  }
  return next[info.pc] === undefined || next[info.sp] === undefined ? undefined : next;
}

/**
 * Frame-pointer step. x86-64: [rbp] = caller's rbp, [rbp+8] = return address.
 * aarch64 (AAPCS64 frame record): [x29] = caller's x29, [x29+8] = x30.
 * For frame 0 outside any module (a call through a bad pointer) the return
 * address is taken from [rsp] / x30 first.
 */
function stepFp(info: ArchInfo, regs: Regs, mem: (a: bigint, n: number) => bigint | undefined, first: ModuleSet | undefined): Regs | undefined {
  const next: Regs = new Array(info.dwarfRegs).fill(undefined);
  const pc = regs[info.pc];
  if (first && pc !== undefined && !first.mappingAt(pc)?.perms.includes("x")) {
    const sp = regs[info.sp];
    if (sp === undefined) return undefined;
    if (info.arch === "x86_64") {
      const ra = mem(sp, 8);
      if (ra === undefined) return undefined;
      for (let r = 0; r < info.dwarfRegs; r++) next[r] = regs[r];
      next[info.sp] = sp + 8n;
      next[info.pc] = ra;
    } else {
      for (let r = 0; r < info.dwarfRegs; r++) next[r] = regs[r];
      next[info.pc] = regs[30];
    }
    return next;
  }
  const fp = regs[info.fp];
  if (fp === undefined || fp === 0n) return undefined;
  const savedFp = mem(fp, 8);
  const ra = mem(fp + 8n, 8);
  if (savedFp === undefined || ra === undefined) return undefined;
  next[info.fp] = savedFp;
  next[info.sp] = fp + 16n;
  next[info.pc] = ra;
  return next;
}

/** Last resort: the first stack word above sp that points just after a call instruction. */
function stepScan(info: ArchInfo, regs: Regs, mem: (a: bigint, n: number) => bigint | undefined, mods: ModuleSet): Regs | undefined {
  const sp = regs[info.sp];
  if (sp === undefined) return undefined;
  for (let i = 0; i < MAX_SCAN_WORDS; i++) {
    const slot = sp + BigInt(i * 8);
    const v = mem(slot, 8);
    if (v === undefined) return undefined;
    if (!looksLikeReturn(info, v, mods)) continue;
    const next: Regs = new Array(info.dwarfRegs).fill(undefined);
    next[info.sp] = slot + 8n;
    next[info.pc] = v;
    return next;
  }
  return undefined;
}

/** A return address follows a call: x86-64 `call rel32` (e8) or `call r/m` (ff /2); aarch64 `bl`/`blr`. */
function looksLikeReturn(info: ArchInfo, v: bigint, mods: ModuleSet): boolean {
  const map = mods.mappingAt(v);
  if (!map || !map.perms.includes("x")) return false;
  if (info.arch === "x86_64") {
    const code = mods.read(v - 7n, 7);
    if (!code) return false;
    if (code[2] === 0xe8) return true;
    for (const back of [2, 3, 4, 6, 7]) {
      const at = 7 - back;
      const modrm = code[at + 1];
      if (code[at] === 0xff && modrm !== undefined && ((modrm >> 3) & 7) === 2) return true;
    }
    return false;
  }
  const code = mods.read(v - 4n, 4);
  if (!code) return false;
  const insn = new DataView(code.buffer, code.byteOffset, 4).getUint32(0, true);
  return (insn & 0xfc000000) === 0x94000000 || (insn & 0xfffffc1f) === 0xd63f0000;
}

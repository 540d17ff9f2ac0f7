// Per-architecture register layouts: the pr_reg array of NT_PRSTATUS and the
// DWARF register numbers the CFI uses.
// pr_reg: arch/x86/include/asm/user_64.h (struct user_regs_struct),
//         arch/arm64/include/uapi/asm/ptrace.h (struct user_pt_regs).
// DWARF numbers: System V AMD64 psABI §3.6.2 figure 3.36; AADWARF64 §4.1.
import type { Arch } from "./elf.ts";

export interface ArchInfo {
  arch: Arch;
  /** Names of the pr_reg u64 slots, in order. */
  prRegNames: readonly string[];
  /** Size of the whole NT_PRSTATUS descriptor (kernel-facts.md §5). */
  prstatusSize: number;
  /** Number of DWARF registers tracked by the unwinder (incl. the return-address column). */
  dwarfRegs: number;
  /** DWARF column of the stack pointer. */
  sp: number;
  /** DWARF column holding the return address / pc. */
  pc: number;
  /** DWARF column of the frame pointer. */
  fp: number;
  /** pr_reg slot index for each DWARF register (undefined: not in pr_reg). */
  dwarfFromPrReg: readonly number[];
  /** Names of the DWARF registers, for the report. */
  dwarfNames: readonly string[];
}

const X86_PR = [
  "r15", "r14", "r13", "r12", "rbp", "rbx", "r11", "r10", "r9", "r8", "rax", "rcx", "rdx", "rsi", "rdi",
  "orig_rax", "rip", "cs", "eflags", "rsp", "ss", "fs_base", "gs_base", "ds", "es", "fs", "gs",
];
// psABI: 0 rax, 1 rdx, 2 rcx, 3 rbx, 4 rsi, 5 rdi, 6 rbp, 7 rsp, 8-15 r8-r15, 16 return address (rip).
const X86_DWARF = ["rax", "rdx", "rcx", "rbx", "rsi", "rdi", "rbp", "rsp", "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15", "rip"];

// Written out: Array.from with a mapper costs ~10 ms of cold start in the compiled binary.
const A64_X = [
  "x0", "x1", "x2", "x3", "x4", "x5", "x6", "x7", "x8", "x9", "x10", "x11", "x12", "x13", "x14", "x15",
  "x16", "x17", "x18", "x19", "x20", "x21", "x22", "x23", "x24", "x25", "x26", "x27", "x28", "x29", "x30",
];
const A64_PR = [...A64_X, "sp", "pc", "pstate"];
// AADWARF64: 0-30 x0-x30, 31 sp; we use 32 for the pc (the unwound return address).
const A64_DWARF = [...A64_X, "sp", "pc"];

export const ARCHES: Readonly<Record<Arch, ArchInfo>> = {
  x86_64: {
    arch: "x86_64",
    prRegNames: X86_PR,
    prstatusSize: 336,
    dwarfRegs: 17,
    sp: 7,
    pc: 16,
    fp: 6,
    dwarfFromPrReg: X86_DWARF.map((n) => X86_PR.indexOf(n)),
    dwarfNames: X86_DWARF,
  },
  aarch64: {
    arch: "aarch64",
    prRegNames: A64_PR,
    prstatusSize: 392,
    dwarfRegs: 33,
    sp: 31,
    pc: 32,
    fp: 29,
    dwarfFromPrReg: A64_DWARF.map((n) => A64_PR.indexOf(n)),
    dwarfNames: A64_DWARF,
  },
};

// Parsers for the notes of an ELF core: pure functions of the descriptor bytes.
// Layouts: kernel-facts.md §5, from fs/binfmt_elf.c and include/uapi/linux/elfcore.h
// (struct elf_prstatus, elf_prpsinfo), include/uapi/asm-generic/siginfo.h, fs/binfmt_elf.c fill_files_note.
import { Bytes, decodeText } from "./bytes.ts";
import { ARCHES } from "./arch.ts";
import type { Arch, Note } from "./elf.ts";

export const NT_PRSTATUS = 1;
export const NT_PRFPREG = 2;
export const NT_PRPSINFO = 3;
export const NT_AUXV = 6;
export const NT_SIGINFO = 0x53494749;
export const NT_FILE = 0x46494c45;

/** NT_FILE entries beyond this are dropped: the kernel caps VMAs at 65530 (vm.max_map_count default). */
export const MAX_FILE_ENTRIES = 65536;
/** auxv pairs beyond this are dropped: Linux defines < 64 AT_ types. */
export const MAX_AUXV = 256;

export interface Prstatus {
  /** si_signo at 0; pr_cursig at 12. */
  signal: number;
  tid: number;
  ppid: number;
  pgrp: number;
  sid: number;
  /** The raw pr_reg slots, named by ARCHES[arch].prRegNames. */
  regs: bigint[];
}

export interface Prpsinfo {
  state: number;
  uid: number;
  gid: number;
  pid: number;
  ppid: number;
  fname: string;
  psargs: string;
}

export interface Siginfo {
  signo: number;
  errno: number;
  code: number;
  /** si_addr for SIGSEGV/SIGBUS/SIGFPE/SIGILL/SIGTRAP; si_pid/si_uid otherwise. */
  addr: bigint;
  senderPid: number;
  senderUid: number;
}

export interface FileMapping {
  start: bigint;
  end: bigint;
  /** File offset in bytes (pgoff × page size). */
  offset: bigint;
  path: string;
}

export interface FileNote {
  pageSize: number;
  mappings: FileMapping[];
  incomplete: boolean;
}

export function parsePrstatus(desc: Uint8Array, arch: Arch): Prstatus {
  const info = ARCHES[arch];
  const b = new Bytes(desc);
  b.check(0, 112 + info.prRegNames.length * 8, "NT_PRSTATUS");
  const regs: bigint[] = [];
  for (let i = 0; i < info.prRegNames.length; i++) regs.push(b.u64(112 + i * 8));
  return { signal: b.u16(12), tid: b.i32(32), ppid: b.i32(36), pgrp: b.i32(40), sid: b.i32(44), regs };
}

export function parsePrpsinfo(desc: Uint8Array): Prpsinfo {
  const b = new Bytes(desc);
  b.check(0, 136, "NT_PRPSINFO");
  const text = (at: number, n: number): string => {
    const s = desc.subarray(at, at + n);
    const nul = s.indexOf(0);
    return decodeText(nul < 0 ? s : s.subarray(0, nul));
  };
  return {
    state: b.u8(0),
    uid: b.u32(16),
    gid: b.u32(20),
    pid: b.i32(24),
    ppid: b.i32(28),
    fname: text(40, 16),
    psargs: text(56, 80).trimEnd(),
  };
}

export function parseSiginfo(desc: Uint8Array): Siginfo {
  const b = new Bytes(desc);
  b.check(0, 32, "NT_SIGINFO");
  return {
    signo: b.i32(0),
    errno: b.i32(4),
    code: b.i32(8),
    addr: b.u64(16),
    senderPid: b.i32(16),
    senderUid: b.u32(20),
  };
}

/** NT_AUXV: (type, value) u64 pairs up to AT_NULL. */
export function parseAuxv(desc: Uint8Array): Array<[number, bigint]> {
  const b = new Bytes(desc);
  const out: Array<[number, bigint]> = [];
  for (let o = 0; o + 16 <= desc.length && out.length < MAX_AUXV; o += 16) {
    const type = b.u64(o);
    if (type === 0n) break;
    out.push([Number(BigInt.asUintN(32, type)), b.u64(o + 8)]);
  }
  return out;
}

/** NT_FILE: count, page_size, count × {start, end, pgoff}, then count NUL-terminated names. */
export function parseFileNote(desc: Uint8Array): FileNote {
  const b = new Bytes(desc);
  const count = b.u64(0, "NT_FILE count");
  const pageSize = b.size(8, "NT_FILE page size");
  const n = count > BigInt(MAX_FILE_ENTRIES) ? MAX_FILE_ENTRIES : Number(count);
  let incomplete = BigInt(n) < count;
  const mappings: FileMapping[] = [];
  const tableEnd = 16 + n * 24;
  if (tableEnd > desc.length) {
    return { pageSize, mappings, incomplete: true };
  }
  let at = tableEnd;
  for (let i = 0; i < n; i++) {
    if (at >= desc.length) {
      incomplete = true;
      break;
    }
    const [path, next] = b.cstr(at, 4096, "NT_FILE name");
    at = next;
    const o = 16 + i * 24;
    mappings.push({ start: b.u64(o), end: b.u64(o + 8), offset: b.u64(o + 16) * BigInt(pageSize), path });
  }
  return { pageSize, mappings, incomplete };
}

export type ParsedNote =
  | { kind: "prstatus"; value: Prstatus }
  | { kind: "prpsinfo"; value: Prpsinfo }
  | { kind: "siginfo"; value: Siginfo }
  | { kind: "auxv"; value: Array<[number, bigint]> }
  | { kind: "file"; value: FileNote }
  | { kind: "unknown"; name: string; type: number; size: number };

/** Classify and parse one note; unknown notes (and the other regsets) come back as unknown. */
export function parseNote(note: Note, arch: Arch): ParsedNote {
  if (note.name === "CORE") {
    switch (note.type) {
      case NT_PRSTATUS:
        return { kind: "prstatus", value: parsePrstatus(note.desc, arch) };
      case NT_PRPSINFO:
        return { kind: "prpsinfo", value: parsePrpsinfo(note.desc) };
      case NT_SIGINFO:
        return { kind: "siginfo", value: parseSiginfo(note.desc) };
      case NT_AUXV:
        return { kind: "auxv", value: parseAuxv(note.desc) };
      case NT_FILE:
        return { kind: "file", value: parseFileNote(note.desc) };
    }
  }
  return { kind: "unknown", name: note.name, type: note.type, size: note.desc.length };
}

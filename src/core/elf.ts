// ELF64 little-endian headers, program headers, section headers and notes,
// shared by the core reader and the mapped-file loader.
// Layouts: elf(5), include/uapi/linux/elf.h (Elf64_Ehdr, Elf64_Phdr, Elf64_Shdr, Elf64_Nhdr).
import { Bytes, decodeText } from "./bytes.ts";

export const ELF_HEADER_SIZE = 64;
export const PHDR_SIZE = 56;
export const SHDR_SIZE = 64;
export const ET_EXEC = 2;
export const ET_DYN = 3;
export const ET_CORE = 4;
export const EM_X86_64 = 62;
export const EM_AARCH64 = 183;
export const PT_LOAD = 1;
export const PT_DYNAMIC = 2;
export const PT_NOTE = 4;
export const PT_GNU_EH_FRAME = 0x6474e550;
export const PF_X = 1;
export const PF_W = 2;
export const PF_R = 4;
/** e_phnum value meaning "the count is in section header 0" (elf(5) PN_XNUM). */
export const PN_XNUM = 0xffff;
export const SHT_SYMTAB = 2;
export const SHT_NOTE = 7;
export const SHT_NOBITS = 8;
export const SHT_DYNSYM = 11;
export const STT_FUNC = 2;
export const STT_GNU_IFUNC = 10;
/** sizeof(Elf64_Sym). */
export const SYM_SIZE = 24;

export interface FunctionSymbol {
  value: number;
  size: number;
  /** st_name: the name's offset in the linked string table. */
  nameOff: number;
}

/**
 * The Elf64_Sym at byte o of v when it is one a backtrace can be named by: a
 * defined function (or ifunc) with a non-zero user-space address (link-time
 * addresses fit a double exactly) and a name inside the string table's
 * strSize bytes; else undefined. The one rule of ElfImage (cores' modules)
 * and DebugElf (debug files).
 */
export function functionSymbol(v: DataView, o: number, strSize: number): FunctionSymbol | undefined {
  const type = v.getUint8(o + 4) & 0xf;
  if ((type !== STT_FUNC && type !== STT_GNU_IFUNC) || v.getUint16(o + 6, true) === 0) return undefined;
  const lo = v.getUint32(o + 8, true);
  const hi = v.getUint32(o + 12, true);
  if (hi >= 0x200000 || (lo === 0 && hi === 0)) return undefined;
  const nameOff = v.getUint32(o, true);
  if (nameOff >= strSize) return undefined;
  return { value: hi * 0x100000000 + lo, size: v.getUint32(o + 16, true) + v.getUint32(o + 20, true) * 0x100000000, nameOff };
}

/** Section headers beyond this are ignored: real objects have < 100, a hostile count would cost memory. */
export const MAX_SECTIONS = 4096;

export type Arch = "x86_64" | "aarch64";

export interface ElfHeader {
  type: number;
  machine: number;
  entry: bigint;
  phoff: number;
  shoff: number;
  phentsize: number;
  phnum: number;
  shentsize: number;
  shnum: number;
  shstrndx: number;
}

export interface ProgramHeader {
  type: number;
  flags: number;
  offset: number;
  vaddr: bigint;
  filesz: number;
  memsz: bigint;
}

export interface SectionHeader {
  name: string;
  type: number;
  flags: bigint;
  addr: bigint;
  offset: number;
  size: number;
  link: number;
  entsize: number;
}

export interface Note {
  name: string;
  type: number;
  desc: Uint8Array;
}

export function archOf(machine: number): Arch | undefined {
  return machine === EM_X86_64 ? "x86_64" : machine === EM_AARCH64 ? "aarch64" : undefined;
}

/** Parse the 64-byte ELF header; refuses anything but ELFCLASS64 + ELFDATA2LSB. */
export function parseElfHeader(bytes: Uint8Array): ElfHeader {
  const b = new Bytes(bytes);
  b.check(0, 4, "ELF magic");
  if (bytes[0] !== 0x7f || bytes[1] !== 0x45 || bytes[2] !== 0x4c || bytes[3] !== 0x46) {
    throw new SyntaxError("Cannot read ELF header: bad magic, not an ELF file");
  }
  b.check(0, ELF_HEADER_SIZE, "ELF header");
  const cls = b.u8(4);
  const data = b.u8(5);
  if (cls !== 2) throw new SyntaxError(`Cannot read ELF header "class ${cls}": only ELF64 is supported`);
  if (data !== 1) throw new SyntaxError(`Cannot read ELF header "data ${data}": only little-endian is supported`);
  return {
    type: b.u16(16),
    machine: b.u16(18),
    entry: b.u64(24),
    phoff: b.size(32, "e_phoff"),
    shoff: b.size(40, "e_shoff"),
    phentsize: b.u16(54),
    phnum: b.u16(56),
    shentsize: b.u16(58),
    shnum: b.u16(60),
    shstrndx: b.u16(62),
  };
}

/** Parse n program headers starting at offset within bytes. */
export function parseProgramHeaders(bytes: Uint8Array, offset: number, count: number): ProgramHeader[] {
  const b = new Bytes(bytes);
  b.check(offset, count * PHDR_SIZE, "program headers");
  const out: ProgramHeader[] = [];
  for (let i = 0; i < count; i++) {
    const o = offset + i * PHDR_SIZE;
    out.push({
      type: b.u32(o),
      flags: b.u32(o + 4),
      offset: b.size(o + 8, "p_offset"),
      vaddr: b.u64(o + 16),
      filesz: b.size(o + 32, "p_filesz"),
      memsz: b.u64(o + 40),
    });
  }
  return out;
}

/** Parse the section headers of a whole ELF file; [] when it has none. */
export function parseSectionHeaders(bytes: Uint8Array, h: ElfHeader): SectionHeader[] {
  if (h.shoff === 0 || h.shnum === 0) return [];
  if (h.shentsize !== SHDR_SIZE) throw new SyntaxError(`Cannot read section headers "e_shentsize ${h.shentsize}": expected 64`);
  const count = Math.min(h.shnum, MAX_SECTIONS);
  const b = new Bytes(bytes);
  b.check(h.shoff, count * SHDR_SIZE, "section headers");
  const raw = [];
  for (let i = 0; i < count; i++) {
    const o = h.shoff + i * SHDR_SIZE;
    raw.push({
      nameOff: b.u32(o),
      type: b.u32(o + 4),
      flags: b.u64(o + 8),
      addr: b.u64(o + 16),
      offset: b.size(o + 24, "sh_offset"),
      size: b.size(o + 32, "sh_size"),
      link: b.u32(o + 40),
      entsize: b.size(o + 56, "sh_entsize"),
    });
  }
  const strtab = raw[h.shstrndx];
  return raw.map((s) => {
    let name = "";
    if (strtab && strtab.type !== SHT_NOBITS) {
      const at = strtab.offset + s.nameOff;
      if (s.nameOff < strtab.size && at < bytes.length) name = b.cstr(at, Math.min(256, strtab.size - s.nameOff), "section name")[0];
    }
    return { name, type: s.type, flags: s.flags, addr: s.addr, offset: s.offset, size: s.size, link: s.link, entsize: s.entsize };
  });
}

/** Notes beyond this many in one segment are dropped (a hostile count would cost memory). */
export const MAX_NOTES = 65536;

export interface NoteList {
  notes: Note[];
  /** True when the segment ended inside a note or the count limit was hit. */
  incomplete: boolean;
}

/**
 * Parse a note segment: 12-byte Nhdr (namesz, descsz, type), name and desc
 * each padded to 4 bytes (elf(5) "Notes"; fs/binfmt_elf.c writenote).
 */
export function parseNotes(bytes: Uint8Array): NoteList {
  const b = new Bytes(bytes);
  const notes: Note[] = [];
  let o = 0;
  while (o + 12 <= bytes.length) {
    if (notes.length >= MAX_NOTES) return { notes, incomplete: true };
    const namesz = b.u32(o);
    const descsz = b.u32(o + 4);
    const type = b.u32(o + 8);
    const nameAt = o + 12;
    const descAt = nameAt + pad4(namesz);
    const end = descAt + pad4(descsz);
    if (descAt + descsz > bytes.length) return { notes, incomplete: true };
    const nameBytes = bytes.subarray(nameAt, nameAt + namesz);
    const nul = nameBytes.indexOf(0);
    const name = decodeText(nul < 0 ? nameBytes : nameBytes.subarray(0, nul));
    notes.push({ name, type, desc: bytes.subarray(descAt, descAt + descsz) });
    o = end;
  }
  return { notes, incomplete: o < bytes.length && bytes.subarray(o).some((x) => x !== 0) };
}

function pad4(n: number): number {
  return n + ((4 - (n % 4)) % 4);
}

/** NT_GNU_BUILD_ID (3) in a "GNU" note, as lowercase hex. */
export function buildIdOf(notes: readonly Note[]): string | undefined {
  const n = notes.find((x) => x.name === "GNU" && x.type === 3);
  return n && n.desc.length > 0 && n.desc.length <= 64 ? Buffer.from(n.desc).toString("hex") : undefined;
}

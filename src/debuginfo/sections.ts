// The debug sections of an ELF file read through a ByteSource: the ELF and
// section headers, then each .debug_* section on demand. Uncompressed
// sections are read positionally (only the ranges asked for); compressed ones
// (SHF_COMPRESSED with an Elf64_Chdr, elf(5); or the older .zdebug_* form,
// "ZLIB" + big-endian size, binutils bfd/compress.c) are inflated whole on first use.
import { inflateSync, zstdDecompressSync } from "node:zlib";
import { ELF_HEADER_SIZE, MAX_SECTIONS, SHDR_SIZE, SHT_NOBITS, parseElfHeader, parseSectionHeaders, type SectionHeader } from "../core/elf.ts";
import type { ByteSource } from "./source.ts";

/** A compressed section inflates to at most this: gcc's largest .debug_info seen (chromium) is ~1 GiB, a device's far less. */
export const MAX_DECOMPRESSED_BYTES = 512 * 1024 * 1024;
/** Debug sections compress 3-6x; an output chunk is sized for at most this ratio (more grows by more chunks). */
const MAX_RATIO = 16;
/** A section name is at most this long (".debug_line_str" is 15; longer is not a debug section). */
const MAX_SECTION_NAME = 64;

const SHF_COMPRESSED = 0x800n;
const ELFCOMPRESS_ZLIB = 1;
const ELFCOMPRESS_ZSTD = 2;
const CHDR_SIZE = 24; // Elf64_Chdr: ch_type u32, ch_reserved u32, ch_size u64, ch_addralign u64

/** One debug section: positional reads relative to its start, clipped to its (uncompressed) size. */
export interface Section {
  readonly name: string;
  readonly size: number;
  read(offset: number, length: number): Uint8Array;
  /**
   * The same bytes, possibly in a buffer the section reuses: valid only until its next scratch read. For the one
   * big transient read per unit (its DIEs), so walking many units leaves no garbage behind (flat peak memory).
   */
  scratch(offset: number, length: number): Uint8Array;
}

export type DebugSectionName =
  | "info" | "abbrev" | "line" | "str" | "line_str" | "str_offsets" | "addr" | "aranges" | "ranges" | "rnglists";

const NAMES: readonly DebugSectionName[] = ["info", "abbrev", "line", "str", "line_str", "str_offsets", "addr", "aranges", "ranges", "rnglists"];

export interface DebugSections {
  machine: number;
  sections: Partial<Record<DebugSectionName, Section>>;
  /** .gnu_debugaltlink (dwz): the supplementary file's path and build-id, hex. */
  altLink: { path: string; buildId: string } | undefined;
}

/** .gnu_debugaltlink is a path (< PATH_MAX) and a build-id (< 64 bytes). */
const MAX_ALTLINK_BYTES = 4096 + 64;

/** Reads the headers; throws RangeError/SyntaxError on a bad ELF header. Sections that cannot be used are reported through warn. */
export function openSections(src: ByteSource, warn: (msg: string) => void): DebugSections {
  const header = parseElfHeader(src.read(0, ELF_HEADER_SIZE));
  if (header.shoff === 0 || header.shnum === 0) return { machine: header.machine, sections: {}, altLink: undefined };
  const count = Math.min(header.shnum, MAX_SECTIONS);
  const table = src.read(header.shoff, count * SHDR_SIZE);
  if (table.length < count * SHDR_SIZE) throw new RangeError(`Cannot read section headers at offset ${header.shoff}: the file ends at ${src.size}`);
  // parseSectionHeaders reads names from the whole file; here the table is alone (behind a gap, as shoff 0 means
  // "no sections"), so names come from shstrtab below
  const alone = new Uint8Array(SHDR_SIZE + table.length);
  alone.set(table, SHDR_SIZE);
  const shdrs = parseSectionHeaders(alone, { ...header, shoff: SHDR_SIZE, shnum: count, shstrndx: MAX_SECTIONS });
  const strtab = shdrs[header.shstrndx];
  const names = strtab && strtab.type !== SHT_NOBITS ? src.read(strtab.offset, strtab.size) : new Uint8Array();
  const view = new DataView(table.buffer, table.byteOffset, table.byteLength);
  const sections: Partial<Record<DebugSectionName, Section>> = {};
  let altLink: DebugSections["altLink"];
  shdrs.forEach((sh, i) => {
    const nameOff = view.getUint32(i * SHDR_SIZE, true);
    const name = cstring(names, nameOff);
    if (name === ".gnu_debugaltlink" && sh.type !== SHT_NOBITS && !altLink) {
      // the supplementary file's path, NUL, its build-id (dwz.c write_multifile; gdb dwarf2/read.c)
      const bytes = src.read(sh.offset, Math.min(sh.size, MAX_ALTLINK_BYTES));
      const nul = bytes.indexOf(0);
      if (nul > 0 && nul + 1 < bytes.length) {
        altLink = { path: new TextDecoder().decode(bytes.subarray(0, nul)), buildId: Buffer.from(bytes.subarray(nul + 1)).toString("hex") };
      } else warn(`Cannot read section ".gnu_debugaltlink": no path and build-id, ignoring`);
      return;
    }
    const m = /^\.(z?)debug_(.+)$/.exec(name);
    if (!m) return;
    const key = NAMES.find((n) => n === m[2]);
    if (!key || sections[key]) return;
    if (sh.type === SHT_NOBITS || sh.size === 0) return;
    if (sh.offset + sh.size > src.size) {
      warn(`Cannot read section "${name}": it runs past the end of the file (${sh.offset + sh.size} > ${src.size}), ignoring`);
      return;
    }
    const section = m[1] === "z" || (sh.flags & SHF_COMPRESSED) !== 0n ? compressed(src, sh, name, m[1] === "z", warn) : plain(src, sh, name);
    if (section) sections[key] = section;
  });
  return { machine: header.machine, sections, altLink };
}

function cstring(bytes: Uint8Array, at: number): string {
  if (at >= bytes.length) return "";
  let end = at;
  while (end < bytes.length && end - at < MAX_SECTION_NAME && bytes[end] !== 0) end++;
  return new TextDecoder().decode(bytes.subarray(at, end));
}

function plain(src: ByteSource, sh: SectionHeader, name: string): Section {
  let buffer = new Uint8Array(0);
  const read = (offset: number, length: number): Uint8Array => {
    if (offset >= sh.size || length <= 0) return new Uint8Array();
    return src.read(sh.offset + offset, Math.min(length, sh.size - offset));
  };
  return {
    name,
    size: sh.size,
    read,
    scratch(offset: number, length: number): Uint8Array {
      if (!src.readInto || offset >= sh.size || length <= 0) return read(offset, length);
      const n = Math.min(length, sh.size - offset);
      if (buffer.length < n) buffer = new Uint8Array(Math.max(n, buffer.length * 2));
      return buffer.subarray(0, src.readInto(sh.offset + offset, buffer.subarray(0, n)));
    },
  };
}

/** A compressed section: its header says the inflated size; inflated once on first read (an empty section if that fails). */
function compressed(src: ByteSource, sh: SectionHeader, name: string, zdebug: boolean, warn: (msg: string) => void): Section | undefined {
  const head = src.read(sh.offset, Math.min(sh.size, CHDR_SIZE));
  const view = new DataView(head.buffer, head.byteOffset, head.byteLength);
  let type: number;
  let size: bigint;
  let dataAt: number;
  if (zdebug) {
    // "ZLIB" then the uncompressed size, 8 bytes big-endian (bfd/compress.c)
    if (head.length < 12 || new TextDecoder().decode(head.subarray(0, 4)) !== "ZLIB") {
      warn(`Cannot read section "${name}": no ZLIB header, ignoring`);
      return undefined;
    }
    type = ELFCOMPRESS_ZLIB;
    size = view.getBigUint64(4, false);
    dataAt = 12;
  } else {
    if (head.length < CHDR_SIZE) {
      warn(`Cannot read section "${name}": compression header truncated, ignoring`);
      return undefined;
    }
    type = view.getUint32(0, true);
    size = view.getBigUint64(8, true);
    dataAt = CHDR_SIZE;
  }
  if (type !== ELFCOMPRESS_ZLIB && type !== ELFCOMPRESS_ZSTD) {
    warn(`Cannot read section "${name}": compression type ${type} is not supported, ignoring`);
    return undefined;
  }
  if (size > BigInt(MAX_DECOMPRESSED_BYTES)) {
    warn(`Cannot read section "${name}": it inflates to ${size} bytes, over ${MAX_DECOMPRESSED_BYTES}, ignoring`);
    return undefined;
  }
  const want = Number(size);
  let data: Uint8Array | undefined;
  const load = (): Uint8Array => {
    if (data) return data;
    try {
      const raw = src.read(sh.offset + dataAt, sh.size - dataAt);
      // output chunks of about the announced size (node's 16 KiB default makes inflating glibc's sections 2-3x
      // slower), but no larger than the input could plausibly inflate to: a hostile header costs no big buffer
      const opts = { maxOutputLength: Math.max(1, want), chunkSize: Math.max(64, Math.min(want, raw.length * MAX_RATIO)) };
      const out = type === ELFCOMPRESS_ZLIB ? inflateSync(raw, opts) : zstdDecompressSync(raw, opts);
      data = new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
      if (data.length !== want) warn(`Cannot read section "${name}" whole: it inflated to ${data.length} bytes, not ${want}, ignoring the difference`);
    } catch (err) {
      warn(`Cannot inflate section "${name}": ${err instanceof Error ? err.message : String(err)}, ignoring`);
      data = new Uint8Array();
    }
    return data;
  };
  return {
    name,
    get size(): number {
      return data ? data.length : want;
    },
    read(offset: number, length: number): Uint8Array {
      const d = load();
      if (offset >= d.length || length <= 0) return new Uint8Array();
      return d.subarray(offset, Math.min(d.length, offset + length));
    },
    scratch(offset: number, length: number): Uint8Array {
      return this.read(offset, length);
    },
  };
}

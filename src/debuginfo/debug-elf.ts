// What the debug-file lookup needs of an ELF file (a module or its separate
// debug file), read through positional reads so that a 100 MiB debug file
// costs its headers, its .symtab and the names hit, never its size:
// build-id (SHT_NOTE sections, else PT_NOTE), .gnu_debuglink, whether it has
// DWARF, and its function symbols.
// Layouts: elf(5) (Elf64_Ehdr, Elf64_Shdr, Elf64_Sym); gdb's "Separate Debug
// Files" (.gnu_debuglink: NUL-terminated name, padded to 4, CRC-32 LE).
import { ELF_HEADER_SIZE, MAX_SECTIONS, PT_NOTE, SHDR_SIZE, SHT_NOBITS, SHT_NOTE, SHT_SYMTAB, SYM_SIZE, buildIdOf, functionSymbol, parseElfHeader, parseNotes, parseProgramHeaders, type FunctionSymbol } from "../core/elf.ts";
import { MAX_SYMBOLS } from "../core/elf-image.ts";
import type { ByteSource } from "./source.ts";

/** Section name table read at most: names of ~100 sections take ~1 KiB. */
const MAX_SHSTRTAB_BYTES = 64 * 1024;
/** Note sections read at most (a build-id note is 36 bytes). */
const MAX_NOTE_BYTES = 64 * 1024;
/** A symbol name read at most (C++ names run to a few KiB). */
const MAX_NAME_BYTES = 4096;
/** A string table read whole at most, for a lookup by name (a tail call's target): glibc's is ~100 KiB, large C++ programs' tens of MiB. */
const MAX_STRTAB_BYTES = 64 * 1024 * 1024;
/** elf(5) st_info binding: STB_GLOBAL, STB_WEAK, STB_GNU_UNIQUE (gdb's external minimal symbols). */
const EXTERNAL_BINDINGS = new Set([1, 2, 10]);


interface Section {
  name: string;
  type: number;
  offset: number;
  size: number;
  link: number;
  entsize: number;
}

export interface SymbolHit {
  name: string;
  offset: bigint;
}

export class DebugElf {
  readonly buildId: string | undefined;
  readonly debuglink: { name: string; crc: number } | undefined;
  /** .debug_info with contents (not NOBITS, as in a stripped file's section table). */
  readonly hasDwarf: boolean;
  readonly hasSymtab: boolean;
  private readonly sections: Section[];
  private symbols: { values: Float64Array; sizes: Float64Array; names: Uint32Array; external: Uint8Array; count: number } | undefined;
  private byName: Map<string, { value: bigint; external: boolean }> | undefined;
  private readonly names = new Map<number, string>();

  constructor(readonly src: ByteSource) {
    const head = src.read(0, ELF_HEADER_SIZE);
    const h = parseElfHeader(head);
    this.sections = readSections(src, h.shoff, h.shnum, h.shentsize, h.shstrndx);
    const has = (name: string): Section | undefined => this.sections.find((s) => s.name === name && s.type !== SHT_NOBITS && s.size > 0);
    this.hasDwarf = has(".debug_info") !== undefined;
    this.hasSymtab = this.sections.some((s) => s.type === SHT_SYMTAB && s.size > 0);
    let id: string | undefined;
    for (const s of this.sections) {
      if (s.type !== SHT_NOTE || id || s.size > MAX_NOTE_BYTES) continue;
      id = buildIdOf(parseNotes(src.read(s.offset, s.size)).notes);
    }
    if (!id && h.phnum > 0 && h.phnum <= 4096) {
      const phdrs = parseProgramHeaders(src.read(h.phoff, h.phnum * 56), 0, h.phnum);
      for (const p of phdrs) {
        if (p.type !== PT_NOTE || id || p.filesz > MAX_NOTE_BYTES) continue;
        const bytes = src.read(p.offset, p.filesz);
        if (bytes.length === p.filesz) id = buildIdOf(parseNotes(bytes).notes);
      }
    }
    this.buildId = id;
    const link = has(".gnu_debuglink");
    this.debuglink = link && link.size <= MAX_NAME_BYTES + 8 ? parseDebuglink(src.read(link.offset, link.size)) : undefined;
  }

  /** Function symbols of .symtab, sorted by address; names are read only when hit. */
  private table(): NonNullable<DebugElf["symbols"]> {
    if (this.symbols) return this.symbols;
    const tab = this.sections.find((s) => s.type === SHT_SYMTAB);
    const strs = tab ? this.sections[tab.link] : undefined;
    const empty = { values: new Float64Array(0), sizes: new Float64Array(0), names: new Uint32Array(0), external: new Uint8Array(0), count: 0 };
    if (!tab || !strs || tab.entsize !== SYM_SIZE) return (this.symbols = empty);
    const count = Math.min(Math.floor(tab.size / SYM_SIZE), MAX_SYMBOLS);
    const raw = this.src.read(tab.offset, count * SYM_SIZE);
    const v = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
    const n = Math.floor(raw.length / SYM_SIZE);
    const picked: Array<FunctionSymbol & { external: boolean }> = [];
    for (let o = 0; o < n * SYM_SIZE; o += SYM_SIZE) {
      const sym = functionSymbol(v, o, strs.size);
      if (sym) picked.push({ ...sym, external: EXTERNAL_BINDINGS.has(v.getUint8(o + 4) >> 4) });
    }
    picked.sort((a, b) => a.value - b.value);
    const values = new Float64Array(picked.length);
    const sizes = new Float64Array(picked.length);
    const names = new Uint32Array(picked.length);
    const external = new Uint8Array(picked.length);
    picked.forEach((sym, i) => {
      values[i] = sym.value;
      sizes[i] = sym.size;
      names[i] = sym.nameOff;
      external[i] = sym.external ? 1 : 0;
    });
    this.symbols = { values, sizes, names, external, count: picked.length };
    this.strtab = strs;
    return this.symbols;
  }

  private strtab: Section | undefined;

  private nameAt(off: number): string {
    const cached = this.names.get(off);
    if (cached !== undefined) return cached;
    const strs = this.strtab as Section;
    const bytes = this.src.read(strs.offset + off, Math.min(MAX_NAME_BYTES, strs.size - off));
    const nul = bytes.indexOf(0);
    const name = new TextDecoder().decode(nul < 0 ? bytes : bytes.subarray(0, nul));
    this.names.set(off, name);
    return name;
  }

  /**
   * The link-time address of the function symbol named name, as gdb's lookup_minimal_symbol takes it: a global or
   * weak one before a local one. The string table is read whole on the first call.
   */
  addressOf(name: string): { value: bigint; external: boolean } | undefined {
    if (!this.byName) {
      const t = this.table();
      const map = new Map<string, { value: bigint; external: boolean }>();
      const strs = this.strtab;
      if (strs && t.count > 0 && strs.size <= MAX_STRTAB_BYTES) {
        const bytes = this.src.read(strs.offset, strs.size);
        const decoder = new TextDecoder();
        for (let i = 0; i < t.count; i++) {
          const off = t.names[i] as number;
          const end = bytes.indexOf(0, off);
          const n = decoder.decode(bytes.subarray(off, end < 0 ? bytes.length : end));
          const external = t.external[i] === 1;
          const had = map.get(n);
          if (!had || (external && !had.external)) map.set(n, { value: BigInt(t.values[i] as number), external });
        }
      }
      this.byName = map;
    }
    return this.byName.get(name);
  }

  /**
   * The function symbol covering a link-time address, as ElfImage.symbolize
   * (among aliases the greatest name, as gdb's minimal symbols).
   */
  symbolize(addr: bigint): SymbolHit | undefined {
    if (addr < 0n || addr > BigInt(Number.MAX_SAFE_INTEGER)) return undefined;
    const a = Number(addr);
    const t = this.table();
    let lo = 0;
    let hi = t.count - 1;
    let best = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if ((t.values[mid] as number) <= a) {
        best = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    if (best < 0) return undefined;
    const value = t.values[best] as number;
    let pick: string | undefined;
    for (let j = best; j >= 0 && t.values[j] === value; j--) {
      const size = t.sizes[j] as number;
      if (size !== 0 && a >= value + size) continue;
      const name = this.nameAt(t.names[j] as number);
      if (pick === undefined || name > pick) pick = name;
    }
    return pick === undefined ? undefined : { name: pick, offset: addr - BigInt(value) };
  }
}

function readSections(src: ByteSource, shoff: number, shnum: number, shentsize: number, shstrndx: number): Section[] {
  if (shoff === 0 || shnum === 0) return [];
  if (shentsize !== SHDR_SIZE) throw new SyntaxError(`Cannot read section headers "e_shentsize ${shentsize}": expected 64`);
  const count = Math.min(shnum, MAX_SECTIONS);
  const raw = src.read(shoff, count * SHDR_SIZE);
  if (raw.length < count * SHDR_SIZE) throw new RangeError("Cannot read section headers: the file ends inside them");
  const v = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  const big = (o: number): number => {
    const x = v.getBigUint64(o, true);
    if (x > BigInt(Number.MAX_SAFE_INTEGER)) throw new RangeError(`Cannot read section headers: a value ${x} is out of range`);
    return Number(x);
  };
  const list = [];
  for (let i = 0; i < count; i++) {
    const o = i * SHDR_SIZE;
    list.push({ nameOff: v.getUint32(o, true), type: v.getUint32(o + 4, true), offset: big(o + 24), size: big(o + 32), link: v.getUint32(o + 40, true), entsize: big(o + 56) });
  }
  const strs = list[shstrndx];
  const table = strs && strs.type !== SHT_NOBITS ? src.read(strs.offset, Math.min(strs.size, MAX_SHSTRTAB_BYTES)) : new Uint8Array(0);
  const decoder = new TextDecoder();
  return list.map((s) => {
    let name = "";
    if (s.nameOff < table.length) {
      const rest = table.subarray(s.nameOff);
      const nul = rest.indexOf(0);
      name = decoder.decode(nul < 0 ? rest : rest.subarray(0, nul));
    }
    return { name, type: s.type, offset: s.offset, size: s.size, link: s.link, entsize: s.entsize };
  });
}

function parseDebuglink(bytes: Uint8Array): { name: string; crc: number } | undefined {
  const nul = bytes.indexOf(0);
  if (nul <= 0) return undefined;
  const crcAt = (nul + 4) & ~3;
  if (crcAt + 4 > bytes.length) return undefined;
  const name = new TextDecoder().decode(bytes.subarray(0, nul));
  // a debuglink names a file beside the module: no directories, no way out of it
  if (name.includes("/") || name === "." || name === "..") return undefined;
  return { name, crc: new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(crcAt, true) };
}

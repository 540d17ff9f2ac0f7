// A mapped ELF file (executable, shared object or the vDSO from core memory):
// its load segments, frame sections, symbols and build-id, read lazily.
import { Bytes } from "./bytes.ts";
import {
  PT_GNU_EH_FRAME, PT_LOAD, PT_NOTE, buildIdOf, parseElfHeader, parseNotes, parseProgramHeaders, parseSectionHeaders,
  type ElfHeader, type ProgramHeader, type SectionHeader,
} from "./elf.ts";
import { findInHdr, findInIndex, indexFdes, type Fde, type FdeIndexEntry, type FrameSection } from "./cfi.ts";

/** Symbols read at most from one table: a large C++ binary has ~10^6; beyond that the cost is unreasonable. */
export const MAX_SYMBOLS = 2_000_000;

const SHT_SYMTAB = 2;
const SHT_DYNSYM = 11;
const SHT_NOBITS = 8;
const STT_FUNC = 2;
const STT_GNU_IFUNC = 10;

export interface Sym {
  value: bigint;
  size: bigint;
  name: string;
  bind: number;
}

export interface SymbolHit {
  name: string;
  offset: bigint;
}

export class ElfImage {
  readonly header: ElfHeader;
  readonly phdrs: ProgramHeader[];
  readonly sections: SectionHeader[];
  readonly buildId: string | undefined;
  private symbols: Sym[] | undefined;
  private ehFrame: FrameSection | undefined | null = null;
  private ehFrameHdr: FrameSection | undefined | null = null;
  private debugFrame: FrameSection | undefined | null = null;
  private ehIndex: FdeIndexEntry[] | undefined;
  private debugIndex: FdeIndexEntry[] | undefined;

  constructor(readonly bytes: Uint8Array) {
    this.header = parseElfHeader(bytes);
    this.phdrs = parseProgramHeaders(bytes, this.header.phoff, Math.min(this.header.phnum, 4096));
    let sections: SectionHeader[] = [];
    try {
      sections = parseSectionHeaders(bytes, this.header);
    } catch {
      // in-memory images (the vDSO page) may lack section headers; the phdrs suffice
    }
    this.sections = sections;
    let id: string | undefined;
    for (const p of this.phdrs) {
      if (p.type !== PT_NOTE || id) continue;
      if (p.offset + p.filesz <= bytes.length) id = buildIdOf(parseNotes(bytes.subarray(p.offset, p.offset + p.filesz)).notes);
    }
    this.buildId = id;
  }

  /** The first PT_LOAD: link-time address of the file's start (0 for PIE and shared objects). */
  get firstLoad(): ProgramHeader | undefined {
    return this.phdrs.find((p) => p.type === PT_LOAD);
  }

  /** Link-time address of a file offset, through the PT_LOAD that maps it. */
  vaddrOfOffset(off: bigint): bigint | undefined {
    for (const p of this.phdrs) {
      if (p.type !== PT_LOAD) continue;
      const pageOff = BigInt(p.offset) & ~0xfffn;
      if (off >= pageOff && off < BigInt(p.offset + p.filesz)) return p.vaddr - BigInt(p.offset) + off;
    }
    return undefined;
  }

  /** File bytes at a link-time address, when a PT_LOAD maps it from the file. */
  read(vaddr: bigint, n: number): Uint8Array | undefined {
    for (const p of this.phdrs) {
      if (p.type !== PT_LOAD || vaddr < p.vaddr || vaddr + BigInt(n) > p.vaddr + BigInt(p.filesz)) continue;
      const off = p.offset + Number(vaddr - p.vaddr);
      return off + n <= this.bytes.length ? this.bytes.subarray(off, off + n) : undefined;
    }
    return undefined;
  }

  private section(name: string): SectionHeader | undefined {
    return this.sections.find((s) => s.name === name && s.type !== SHT_NOBITS);
  }

  private frameSection(name: string, kind: FrameSection["kind"]): FrameSection | undefined {
    const s = this.section(name);
    if (!s || s.offset + s.size > this.bytes.length) return undefined;
    return { bytes: this.bytes.subarray(s.offset, s.offset + s.size), vaddr: s.addr, kind };
  }

  private frames(): void {
    if (this.ehFrame !== null) return;
    this.ehFrame = this.frameSection(".eh_frame", "eh_frame");
    this.debugFrame = this.frameSection(".debug_frame", "debug_frame");
    const hdrPh = this.phdrs.find((p) => p.type === PT_GNU_EH_FRAME);
    this.ehFrameHdr = undefined;
    if (hdrPh && hdrPh.offset + hdrPh.filesz <= this.bytes.length) {
      this.ehFrameHdr = { bytes: this.bytes.subarray(hdrPh.offset, hdrPh.offset + hdrPh.filesz), vaddr: hdrPh.vaddr, kind: "eh_frame" };
      if (!this.ehFrame) {
        // No section headers: find .eh_frame through eh_frame_ptr, up to the end of its segment.
        try {
          const b = new Bytes(this.ehFrameHdr.bytes);
          const enc = b.u8(1);
          if (enc === 0x1b) {
            const addr = hdrPh.vaddr + 4n + BigInt(b.i32(4));
            const load = this.phdrs.find((p) => p.type === PT_LOAD && addr >= p.vaddr && addr < p.vaddr + BigInt(p.filesz));
            if (load) {
              const off = load.offset + Number(addr - load.vaddr);
              const end = Math.min(load.offset + load.filesz, this.bytes.length);
              this.ehFrame = { bytes: this.bytes.subarray(off, end), vaddr: addr, kind: "eh_frame" };
            }
          }
        } catch {
          this.ehFrame = undefined;
        }
      }
    }
  }

  /** The FDE covering a link-time pc: .eh_frame (through its header when present), else .debug_frame. */
  findFde(pc: bigint): { fde: Fde; section: FrameSection } | undefined {
    this.frames();
    const eh = this.ehFrame ?? undefined;
    if (eh) {
      let fde: Fde | undefined;
      const hdr = this.ehFrameHdr ?? undefined;
      if (hdr) {
        try {
          fde = findInHdr(hdr, eh, pc);
        } catch {
          fde = undefined;
        }
      }
      if (!fde && (!hdr || this.ehIndex)) {
        this.ehIndex ??= indexFdes(eh);
        fde = findInIndex(eh, this.ehIndex, pc);
      }
      if (fde) return { fde, section: eh };
    }
    const dbg = this.debugFrame ?? undefined;
    if (dbg) {
      this.debugIndex ??= indexFdes(dbg);
      const fde = findInIndex(dbg, this.debugIndex, pc);
      if (fde) return { fde, section: dbg };
    }
    return undefined;
  }

  /** Function symbols of .symtab, else .dynsym, sorted by address. */
  private symbolTable(): Sym[] {
    if (this.symbols) return this.symbols;
    const tab = this.sections.find((s) => s.type === SHT_SYMTAB) ?? this.sections.find((s) => s.type === SHT_DYNSYM);
    const out: Sym[] = [];
    if (tab && tab.entsize === 24) {
      const strs = this.sections[tab.link];
      const b = new Bytes(this.bytes);
      const count = Math.min(Math.floor(tab.size / 24), MAX_SYMBOLS);
      if (strs && tab.offset + count * 24 <= this.bytes.length) {
        for (let i = 0; i < count; i++) {
          const o = tab.offset + i * 24;
          const info = b.u8(o + 4);
          const type = info & 0xf;
          const shndx = b.u16(o + 6);
          if ((type !== STT_FUNC && type !== STT_GNU_IFUNC) || shndx === 0) continue;
          const value = b.u64(o + 8);
          if (value === 0n) continue;
          const nameOff = b.u32(o);
          if (nameOff >= strs.size || strs.offset + nameOff >= this.bytes.length) continue;
          const name = b.cstr(strs.offset + nameOff, Math.min(4096, strs.size - nameOff), "symbol name")[0];
          out.push({ value, size: b.u64(o + 16), name, bind: info >> 4 });
        }
      }
    }
    // By address, then by name: gdb sorts minimal symbols so (minsyms.c compare_minimal_symbols)
    // and takes the last of those at one address, so we match its choice among aliases.
    out.sort((a, b) => (a.value < b.value ? -1 : a.value > b.value ? 1 : a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    this.symbols = out;
    return out;
  }

  /** The function containing a link-time address: symbol + offset (a sized symbol must cover it). */
  symbolize(addr: bigint): SymbolHit | undefined {
    const syms = this.symbolTable();
    let lo = 0;
    let hi = syms.length - 1;
    let best = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if ((syms[mid] as Sym).value <= addr) {
        best = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    if (best < 0) return undefined;
    const top = syms[best] as Sym;
    // the last symbol at that address that covers addr (see the sort above)
    for (let j = best; j >= 0 && (syms[j] as Sym).value === top.value; j--) {
      const s = syms[j] as Sym;
      if (s.size === 0n || addr < s.value + s.size) return { name: s.name, offset: addr - s.value };
    }
    return undefined;
  }
}

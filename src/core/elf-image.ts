// A mapped ELF file (executable, shared object or the vDSO from core memory):
// its load segments, frame sections, symbols and build-id, read lazily.
import { Bytes } from "./bytes.ts";
import {
  PT_GNU_EH_FRAME, PT_LOAD, PT_NOTE, SHT_DYNSYM, SHT_NOBITS, SHT_SYMTAB, SYM_SIZE, buildIdOf, functionSymbol, parseElfHeader, parseNotes,
  parseProgramHeaders, parseSectionHeaders,
  type ElfHeader, type ProgramHeader, type SectionHeader,
} from "./elf.ts";
import { findInHdr, findInIndex, indexFdes, type Fde, type FdeIndex, type FrameSection } from "./cfi.ts";

/** Symbols read at most from one table: a large C++ binary has ~10^6; beyond that the cost is unreasonable. */
export const MAX_SYMBOLS = 2_000_000;


interface Sym {
  value: number;
  size: number;
  nameAt: number;
  nameMax: number;
  name: string | undefined;
}

export interface SymbolHit {
  name: string;
  offset: bigint;
}

export class ElfImage {
  readonly header: ElfHeader;
  readonly phdrs: ProgramHeader[];
  private sectionList: SectionHeader[] | undefined;
  readonly buildId: string | undefined;
  private symbols: Sym[] | undefined;
  private ehFrame: FrameSection | undefined | null = null;
  private ehFrameHdr: FrameSection | undefined | null = null;
  private debugFrame: FrameSection | undefined | null = null;
  private ehIndex: FdeIndex | undefined;
  private debugIndex: FdeIndex | undefined;

  constructor(readonly bytes: Uint8Array) {
    this.header = parseElfHeader(bytes);
    this.phdrs = parseProgramHeaders(bytes, this.header.phoff, Math.min(this.header.phnum, 4096));
    let id: string | undefined;
    for (const p of this.phdrs) {
      if (p.type !== PT_NOTE || id) continue;
      if (p.offset + p.filesz <= bytes.length) id = buildIdOf(parseNotes(bytes.subarray(p.offset, p.offset + p.filesz)).notes);
    }
    this.buildId = id;
  }

  /** Section headers, read on first use (most modules of a process are never on a backtrace). */
  get sections(): SectionHeader[] {
    if (!this.sectionList) {
      try {
        this.sectionList = parseSectionHeaders(this.bytes, this.header);
      } catch {
        // in-memory images (an ELF header page) may lack section headers; the phdrs suffice
        this.sectionList = [];
      }
    }
    return this.sectionList;
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
    this.ehFrame = undefined;
    this.ehFrameHdr = undefined;
    // Through PT_GNU_EH_FRAME first: no section headers needed (and none are read).
    const hdrPh = this.phdrs.find((p) => p.type === PT_GNU_EH_FRAME);
    if (hdrPh && hdrPh.offset + hdrPh.filesz <= this.bytes.length) {
      this.ehFrameHdr = { bytes: this.bytes.subarray(hdrPh.offset, hdrPh.offset + hdrPh.filesz), vaddr: hdrPh.vaddr, kind: "eh_frame" };
      try {
        const b = new Bytes(this.ehFrameHdr.bytes);
        if (b.u8(1) === 0x1b) {
          // eh_frame_ptr encoded pcrel|sdata4 (0x1b), relative to its own field at offset 4 (LSB .eh_frame_hdr)
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
    this.ehFrame ??= this.frameSection(".eh_frame", "eh_frame");
  }

  private debugFrameSection(): FrameSection | undefined {
    if (this.debugFrame === null) this.debugFrame = this.frameSection(".debug_frame", "debug_frame");
    return this.debugFrame;
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
          fde = findInHdr({ hdr, ehFrame: eh }, pc);
        } catch {
          fde = undefined;
        }
      }
      if (!fde && (!hdr || this.ehIndex)) {
        this.ehIndex ??= indexFdes(eh);
        fde = findInIndex(this.ehIndex, pc);
      }
      if (fde) return { fde, section: eh };
    }
    const dbg = this.debugFrameSection();
    if (dbg) {
      this.debugIndex ??= indexFdes(dbg);
      const fde = findInIndex(this.debugIndex, pc);
      if (fde) return { fde, section: dbg };
    }
    return undefined;
  }

  /** Function symbols of .symtab, else .dynsym, sorted by address; names are decoded only when hit. */
  private symbolTable(): Sym[] {
    if (this.symbols) return this.symbols;
    const tab = this.sections.find((s) => s.type === SHT_SYMTAB) ?? this.sections.find((s) => s.type === SHT_DYNSYM);
    const out: Sym[] = [];
    if (tab && tab.entsize === SYM_SIZE) {
      const strs = this.sections[tab.link];
      const count = Math.min(Math.floor(tab.size / SYM_SIZE), MAX_SYMBOLS);
      if (strs && tab.offset + count * SYM_SIZE <= this.bytes.length) {
        // the whole table was bounds-checked above: read it through one DataView (Elf64_Sym, elf(5))
        const v = new DataView(this.bytes.buffer, this.bytes.byteOffset + tab.offset, count * SYM_SIZE);
        const strEnd = Math.min(strs.size, this.bytes.length - strs.offset);
        for (let o = 0; o < count * SYM_SIZE; o += SYM_SIZE) {
          const sym = functionSymbol(v, o, strEnd);
          if (sym) out.push({ value: sym.value, size: sym.size, nameAt: strs.offset + sym.nameOff, nameMax: strs.size - sym.nameOff, name: undefined });
        }
      }
    }
    out.sort((a, b) => a.value - b.value);
    this.symbols = out;
    return out;
  }

  private nameOf(s: Sym): string {
    s.name ??= new Bytes(this.bytes).cstr(s.nameAt, Math.min(4096, s.nameMax), "symbol name")[0];
    return s.name;
  }

  /**
   * The function containing a link-time address: symbol + offset (a sized symbol
   * must cover it). Among aliases at one address, the greatest name wins: gdb
   * sorts minimal symbols by address then name and takes the last
   * (gdb/minsyms.c compare_minimal_symbols, lookup_minimal_symbol_by_pc_section).
   */
  symbolize(addr: bigint): SymbolHit | undefined {
    if (addr < 0n || addr > BigInt(Number.MAX_SAFE_INTEGER)) return undefined;
    const a = Number(addr);
    const syms = this.symbolTable();
    let lo = 0;
    let hi = syms.length - 1;
    let best = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if ((syms[mid] as Sym).value <= a) {
        best = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    if (best < 0) return undefined;
    const value = (syms[best] as Sym).value;
    let pick: Sym | undefined;
    for (let j = best; j >= 0 && (syms[j] as Sym).value === value; j--) {
      const s = syms[j] as Sym;
      if (s.size !== 0 && a >= s.value + s.size) continue;
      if (!pick || this.nameOf(s) > this.nameOf(pick)) pick = s;
    }
    return pick ? { name: this.nameOf(pick), offset: addr - BigInt(pick.value) } : undefined;
  }
}

// The core reader: a push-based state machine that consumes an ELF core in
// file order (STYLE.md rule 8: kernel input is forward-only). It asks for the
// byte ranges it needs, always at increasing offsets: the ELF header, the
// program headers, the note segment, then only the memory a report needs
// (a bounded window of each thread's stack, the vDSO, ELF header pages).
// A file source may seek over the rest; a pipe source reads and discards it.
// Layout: kernel-facts.md §5 (fs/binfmt_elf.c elf_core_dump).
import { ARCHES } from "./arch.ts";
import {
  ELF_HEADER_SIZE, ET_CORE, PF_X, PHDR_SIZE, PN_XNUM, PT_LOAD, PT_NOTE,
  archOf, parseElfHeader, parseNotes, parseProgramHeaders,
  type Arch, type ProgramHeader,
} from "./elf.ts";
import { MemoryImage } from "./memory.ts";
import { parseNote, type FileNote, type Prpsinfo, type Prstatus, type Siginfo } from "./notes.ts";

/** Note bytes kept at most: 1024 threads × ~3.5 KiB of regsets, with room; a hostile p_filesz costs no more. */
export const MAX_NOTE_BYTES = 32 * 1024 * 1024;
/** Threads kept at most (threads per report are bounded again in the report). */
export const MAX_THREADS = 1024;
/** Stack kept above the crashing thread's SP: enough for MAX_FRAMES frames of ordinary size. */
export const STACK_WINDOW_BYTES = 256 * 1024;
/** Stack kept above every other thread's SP: waiting threads are rarely deep, and there may be many. */
export const OTHER_STACK_WINDOW_BYTES = 64 * 1024;
/** Stack kept below SP: the x86-64 red zone is 128 bytes (psABI §3.2.2); a little more for leaf frames. */
export const STACK_BELOW_BYTES = 1024;
/** The vDSO is two or three pages; anything larger is not a vDSO. */
export const MAX_VDSO_BYTES = 64 * 1024;
/** ELF header pages kept (build-ids of modules whose file is missing): one page per mapped file. */
export const MAX_HEADER_PAGES = 512;
/** Without NT_FILE (qemu-user cores) small data segments (.dynamic, r_debug, link_map) are kept; at most this much. */
export const MAX_DATA_BYTES = 16 * 1024 * 1024;
/** ...and only segments up to this size: r_debug and link_map live in small data segments, not in stacks or heaps. */
export const MAX_DATA_SEGMENT_BYTES = 1024 * 1024;
/** Total memory kept from one core, whatever its size: the bound the pipe handler relies on. */
export const MAX_RETAINED_BYTES = 96 * 1024 * 1024;
/** Program headers read at most: e_phnum is a u16 (PN_XNUM escapes are not followed). */
export const MAX_SEGMENTS = 65535;

const AT_SYSINFO_EHDR = 33;

export interface Segment {
  vaddr: bigint;
  memsz: bigint;
  offset: number;
  filesz: number;
  flags: number;
}

export interface Thread extends Prstatus {}

export interface Core {
  arch: Arch;
  threads: Thread[];
  psinfo?: Prpsinfo;
  siginfo?: Siginfo;
  auxv: Array<[number, bigint]>;
  files?: FileNote;
  segments: Segment[];
  memory: MemoryImage;
  unknownNotes: Array<{ name: string; type: number; size: number }>;
  /** Some data was missing or cut (truncated core, note past the end, limit hit). */
  incomplete: boolean;
  warnings: string[];
}

export interface Want {
  offset: number;
  length: number;
}

interface Planned extends Want {
  vaddr: bigint;
}

type Phase = "header" | "phdrs" | "notes" | "memory" | "done";

export class CoreReader {
  private phase: Phase = "header";
  private pos = 0;
  private arch: Arch = "x86_64";
  private phnum = 0;
  private phoff = 0;
  private noteWants: Want[] = [];
  private memWants: Planned[] = [];
  private noteChunks: Uint8Array[] = [];
  private core: Core | undefined;
  private readonly warnings: string[] = [];
  private incomplete = false;
  private segments: Segment[] = [];

  /** The next byte range wanted, at an offset ≥ every earlier one; undefined when done. */
  want(): Want | undefined {
    switch (this.phase) {
      case "header":
        return { offset: 0, length: ELF_HEADER_SIZE };
      case "phdrs":
        return { offset: this.phoff, length: this.phnum * PHDR_SIZE };
      case "notes":
        return this.noteWants[0];
      case "memory":
        return this.memWants[0];
      case "done":
        return undefined;
    }
  }

  /** The bytes of the range want() returned; fewer bytes mean the core ended there. */
  feed(bytes: Uint8Array): void {
    const w = this.want();
    if (!w) return;
    const short = bytes.length < w.length;
    this.pos = w.offset + bytes.length;
    switch (this.phase) {
      case "header": {
        if (bytes.length === 0) throw new RangeError("Cannot read core: empty file");
        const h = parseElfHeader(bytes);
        if (h.type !== ET_CORE) throw new SyntaxError(`Cannot read core "e_type ${h.type}": not a core file (ET_CORE is 4)`);
        const arch = archOf(h.machine);
        if (!arch) throw new SyntaxError(`Cannot read core "e_machine ${h.machine}": only x86_64 (62) and aarch64 (183) are supported`);
        if (h.phentsize !== PHDR_SIZE) throw new SyntaxError(`Cannot read core "e_phentsize ${h.phentsize}": expected 56`);
        if (h.phoff < ELF_HEADER_SIZE) throw new SyntaxError(`Cannot read core "e_phoff ${h.phoff}": program headers overlap the ELF header`);
        if (h.phnum === 0) throw new SyntaxError("Cannot read core: it has no program headers");
        if (h.phnum === PN_XNUM) this.warn("more than 65534 segments (PN_XNUM), reading the first 65535");
        this.arch = arch;
        this.phoff = h.phoff;
        this.phnum = Math.min(h.phnum, MAX_SEGMENTS);
        this.phase = "phdrs";
        return;
      }
      case "phdrs": {
        if (short) throw new RangeError(`Cannot read core program headers: the core ends at ${this.pos}`);
        this.startNotes(parseProgramHeaders(bytes, 0, this.phnum));
        return;
      }
      case "notes": {
        this.noteChunks.push(bytes);
        this.noteWants.shift();
        if (short) this.cut(`note segment at ${w.offset}`);
        if (short || this.noteWants.length === 0) this.finishNotes();
        return;
      }
      case "memory": {
        const p = this.memWants.shift() as Planned;
        this.core?.memory.add(p.vaddr, bytes);
        if (short) {
          this.cut(`segment data at ${w.offset}`);
          this.memWants = [];
        }
        if (this.memWants.length === 0) this.phase = "done";
        return;
      }
    }
  }

  /** The source has no more bytes. */
  end(): void {
    if (this.phase === "header") throw new RangeError("Cannot read core: empty file");
    if (this.phase === "phdrs") throw new RangeError("Cannot read core program headers: the core ends before them");
    if (this.phase === "notes") {
      this.cut("note segment");
      this.finishNotes();
    }
    if (this.phase === "memory") {
      this.cut("segment data");
      this.memWants = [];
      this.phase = "done";
    }
  }

  /** The core read so far (call after want() returned undefined, or after end()). */
  result(): Core {
    if (!this.core) throw new RangeError("Cannot read core: notes were not read");
    this.core.incomplete = this.core.incomplete || this.incomplete;
    return this.core;
  }

  private warn(text: string): void {
    if (this.warnings.length < 64) this.warnings.push(text);
  }

  private cut(what: string): void {
    this.incomplete = true;
    this.warn(`the core ends inside the ${what} (truncated at ${this.pos} bytes)`);
  }

  private startNotes(phdrs: ProgramHeader[]): void {
    this.segments = phdrs
      .filter((p) => p.type === PT_LOAD)
      .map((p) => ({ vaddr: p.vaddr, memsz: p.memsz, offset: p.offset, filesz: p.filesz, flags: p.flags }));
    const notes = phdrs.filter((p) => p.type === PT_NOTE && p.filesz > 0).sort((a, b) => a.offset - b.offset);
    let at = this.pos;
    let budget = MAX_NOTE_BYTES;
    for (const n of notes) {
      if (n.offset < at) {
        this.incomplete = true;
        this.warn(`note segment at ${n.offset} overlaps earlier data, ignoring`);
        continue;
      }
      const length = Math.min(n.filesz, budget);
      if (length < n.filesz) {
        this.incomplete = true;
        this.warn(`note segments exceed ${MAX_NOTE_BYTES} bytes, ignoring the rest`);
      }
      if (length === 0) break;
      this.noteWants.push({ offset: n.offset, length });
      budget -= length;
      at = n.offset + length;
    }
    this.phase = "notes";
    if (this.noteWants.length === 0) {
      this.incomplete = true;
      this.warn("the core has no note segment");
      this.finishNotes();
    }
  }

  private finishNotes(): void {
    const core: Core = {
      arch: this.arch,
      threads: [],
      auxv: [],
      segments: this.segments,
      memory: new MemoryImage(),
      unknownNotes: [],
      incomplete: false,
      warnings: this.warnings,
    };
    this.core = core;
    for (const chunk of this.noteChunks) {
      const list = parseNotes(chunk);
      if (list.incomplete) {
        this.incomplete = true;
        this.warn("a note runs past the end of its segment, ignoring it");
      }
      for (const note of list.notes) {
        let parsed;
        try {
          parsed = parseNote(note, this.arch);
        } catch (err) {
          this.incomplete = true;
          this.warn(`note type 0x${note.type.toString(16)} is malformed (${err instanceof Error ? err.message : String(err)}), ignoring`);
          continue;
        }
        switch (parsed.kind) {
          case "prstatus":
            if (core.threads.length < MAX_THREADS) core.threads.push(parsed.value);
            else this.incomplete = true;
            break;
          case "prpsinfo":
            core.psinfo ??= parsed.value;
            break;
          case "siginfo":
            core.siginfo ??= parsed.value;
            break;
          case "auxv":
            if (core.auxv.length === 0) core.auxv = parsed.value;
            break;
          case "file":
            core.files ??= parsed.value;
            if (parsed.value.incomplete) this.incomplete = true;
            break;
          case "unknown":
            if (core.unknownNotes.length < 256) core.unknownNotes.push({ name: parsed.name, type: parsed.type, size: parsed.size });
            break;
        }
      }
    }
    this.noteChunks = [];
    this.planMemory(core);
  }

  /** Decide which segment bytes to keep, in file order, bounded by MAX_RETAINED_BYTES. */
  private planMemory(core: Core): void {
    const info = ARCHES[this.arch];
    const spSlot = info.dwarfFromPrReg[info.sp] as number;
    const wanted: Planned[] = [];
    const segOf = (addr: bigint): Segment | undefined =>
      this.segments.find((s) => addr >= s.vaddr && addr < s.vaddr + s.memsz);
    const keep = (seg: Segment, from: bigint, to: bigint): void => {
      const lo = from < seg.vaddr ? seg.vaddr : from;
      const fileEnd = seg.vaddr + BigInt(seg.filesz);
      const hi = to > fileEnd ? fileEnd : to;
      if (hi <= lo) return;
      wanted.push({ offset: seg.offset + Number(lo - seg.vaddr), length: Number(hi - lo), vaddr: lo });
    };
    for (const [i, t] of core.threads.entries()) {
      const sp = t.regs[spSlot];
      if (sp === undefined) continue;
      // The window may start below the stack's segment (a stack overflow leaves sp under it).
      const from = sp - BigInt(STACK_BELOW_BYTES);
      const to = sp + BigInt(i === 0 ? STACK_WINDOW_BYTES : OTHER_STACK_WINDOW_BYTES);
      for (const seg of this.segments) {
        if (seg.vaddr < to && seg.vaddr + seg.memsz > from) keep(seg, from, to);
      }
    }
    const vdso = core.auxv.find(([type]) => type === AT_SYSINFO_EHDR)?.[1];
    if (vdso !== undefined) {
      const seg = segOf(vdso);
      if (seg) keep(seg, vdso, vdso + BigInt(MAX_VDSO_BYTES));
    }
    if (core.files) {
      let pages = 0;
      for (const m of core.files.mappings) {
        if (m.offset !== 0n || pages >= MAX_HEADER_PAGES) continue;
        const seg = segOf(m.start);
        if (seg && seg.filesz > 0) {
          keep(seg, m.start, m.start + 4096n);
          pages++;
        }
      }
    } else {
      let budget = MAX_DATA_BYTES;
      for (const seg of this.segments) {
        if (seg.flags & PF_X || seg.filesz === 0 || seg.filesz > MAX_DATA_SEGMENT_BYTES || seg.filesz > budget) continue;
        keep(seg, seg.vaddr, seg.vaddr + BigInt(seg.filesz));
        budget -= seg.filesz;
      }
    }
    // File order, merged, never behind what was already consumed (forward-only).
    wanted.sort((a, b) => a.offset - b.offset);
    const merged: Planned[] = [];
    let total = 0;
    for (const w of wanted) {
      let { offset, length, vaddr } = w;
      const last = merged[merged.length - 1];
      const floor = Math.max(this.pos, last ? last.offset + last.length : 0);
      if (offset < floor) {
        const skip = floor - offset;
        if (skip >= length) continue;
        offset += skip;
        length -= skip;
        vaddr += BigInt(skip);
      }
      if (last && last.offset + last.length === offset && last.vaddr + BigInt(last.length) === vaddr) {
        last.length += length;
      } else {
        merged.push({ offset, length, vaddr });
      }
      total += length;
      if (total > MAX_RETAINED_BYTES) {
        this.incomplete = true;
        this.warn(`more than ${MAX_RETAINED_BYTES} bytes of memory wanted, ignoring the rest`);
        break;
      }
    }
    this.memWants = merged;
    this.phase = merged.length > 0 ? "memory" : "done";
  }
}

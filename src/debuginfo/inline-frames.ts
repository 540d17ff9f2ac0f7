// The DWARF side of symbolization behind one function, so the symbolizer
// depends on the reader's contract (src/debuginfo/dwarf.ts: DwarfInfo) only here.
import type { ReadAt } from "./debug-elf.ts";

/** One source-level frame at a pc: innermost inlined call first, the concrete function last. */
export interface SourceFrame {
  function: string | null;
  file: string | null;
  line: number | null;
  column: number | null;
  inlined: boolean;
}

export interface SourceInfo {
  /** pc: link-time address in that file (a caller frame: return address − 1, as gdb). */
  frames(pc: bigint): SourceFrame[];
  readonly warnings: readonly string[];
}

/** The DWARF of a file, undefined when it has none. */
export function openSourceInfo(src: ReadAt): SourceInfo | undefined {
  void src;
  return undefined; // until the DWARF reader (branch debuginfo) is merged
}

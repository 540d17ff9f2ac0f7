// The DWARF side of symbolization behind one function, so the symbolizer
// depends on the reader's contract (src/debuginfo/dwarf.ts: DwarfInfo) only here.
import { DwarfInfo, type SourceFrame } from "./dwarf.ts";
import type { ByteSource } from "./source.ts";

export type { SourceFrame };

export interface SourceInfo {
  /** pc: link-time address in that file (a caller frame: return address − 1, as gdb). Innermost inlined call first, the concrete function last. */
  frames(pc: bigint): SourceFrame[];
  readonly warnings: readonly string[];
}

/** The DWARF of a file, undefined when it has none. */
export function openSourceInfo(src: ByteSource): SourceInfo | undefined {
  return DwarfInfo.open(src);
}

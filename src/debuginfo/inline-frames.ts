// The DWARF side of symbolization behind one function, so the symbolizer
// depends on the reader's contract (src/debuginfo/dwarf.ts: DwarfInfo) only here.
import { DwarfInfo, type CallSite, type FunctionCalls, type SourceFrame } from "./dwarf.ts";
import type { ByteSource } from "./source.ts";

export type { CallSite, CallTarget, FunctionCalls } from "./dwarf.ts";
export type { SourceFrame };

export interface SourceInfo {
  /** pc: link-time address in that file (a caller frame: return address − 1, as gdb). Innermost inlined call first, the concrete function last. */
  frames(pc: bigint): SourceFrame[];
  /** The call site whose return address is pc (link-time), for tail-call frames (tail-calls.ts). */
  callSite(pc: bigint): CallSite | undefined;
  /** The concrete function holding pc: its entry and its tail calls. */
  functionAt(pc: bigint): FunctionCalls | undefined;
  readonly warnings: readonly string[];
  /** .gnu_debugaltlink (dwz -m): the supplementary file holding shared DIEs and strings, by path and build-id. */
  readonly altLink: { path: string; buildId: string } | undefined;
}

/** The DWARF of a file (with its dwz supplementary file, when given), undefined when it has none. */
export function openSourceInfo(src: ByteSource, options: { supplementary?: ByteSource | undefined } = {}): SourceInfo | undefined {
  return options.supplementary ? DwarfInfo.open(src, { supplementary: options.supplementary }) : DwarfInfo.open(src);
}

// The collector's one symbolization step. Until the symbolizer library
// (debug dirs, debuginfod: file:line, inlined frames) is on main, a report is
// kept with the symbols it arrived with, and the signature uses those names
// (module + offset where none). Swap the body of symbolizeReport for the
// library call when it lands; everything else reads only its result.
import type { Report } from "../core/report.ts";

export interface SymbolizeOptions {
  debugDirs: readonly string[];
  debuginfod: string | undefined;
}

export interface Symbolized {
  report: Report;
  /** What the step did, e.g. "symbols from the device". */
  how: string;
}

export async function symbolizeReport(report: Report, _options: SymbolizeOptions): Promise<Symbolized> {
  return { report, how: "symbols from the device" };
}

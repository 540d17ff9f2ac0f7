// The collector's one symbolization step: every stored report goes through
// symbolizeReport, on arrival and again with `collect --resymbolize`. It is
// the symbolizer of src/debuginfo (the one `crashkeep symbolize` runs): debug
// files by build-id, by path and by .gnu_debuglink under each --debug-dir,
// then debuginfod; names, file:line and inlined frames.
import type { Report } from "../core/report.ts";
import { debuginfodConfig } from "../debuginfo/debuginfod.ts";
import { symbolizeReport as symbolizeWithDebugInfo } from "../debuginfo/symbolize.ts";

/**
 * The sysroot given to the symbolizer: a path that does not exist. Module
 * paths come from devices; without it the symbolizer would read the files at
 * those paths on the collector's own host (its own /usr/lib, its own
 * /usr/lib/debug). Debug files come only from --debug-dir and debuginfod.
 */
const NO_SYSROOT = "/nonexistent/crashkeep-collect-sysroot";

export interface SymbolizeOptions {
  debugDirs: readonly string[];
  debuginfod: string | undefined;
}

export interface Symbolized {
  report: Report;
  /** False when there was nowhere to look (no debug directory, no debuginfod): the report is unchanged. */
  looked: boolean;
}

export async function symbolizeReport(report: Report, options: SymbolizeOptions): Promise<Symbolized> {
  if (options.debugDirs.length === 0 && options.debuginfod === undefined) return { report, looked: false };
  const debuginfod = options.debuginfod !== undefined ? debuginfodConfig(process.env, [options.debuginfod]) : undefined;
  return { report: await symbolizeWithDebugInfo(report, { sysroot: NO_SYSROOT, debugDirs: options.debugDirs, debuginfod }), looked: true };
}

// crashkeep inspect CORE [--sysroot DIR] [--debug-dir DIR]... [--debuginfod URL] [--json] [--compact]:
// an offline report from a core file; mapped files are looked up under --sysroot,
// debug files as `symbolize` finds them (file:line, inlined frames).
import { parseArgs, UsageError } from "./args.ts";
import { readCoreFile } from "../core/source.ts";
import { buildReport } from "../core/report.ts";
import { compactReport, formatText } from "../core/format.ts";
import { DEBUG_OPTION_HELP, DEBUG_OPTION_SPEC, debugOptions } from "./debug-options.ts";
import { symbolizeReport } from "../debuginfo/symbolize.ts";

export const help = `Usage: crashkeep inspect CORE [--sysroot DIR] [--debug-dir DIR]... [--debuginfod URL] [--json] [--compact]

Reads an ELF core file (x86_64 or aarch64) and prints a crash report: signal,
probable cause, registers and backtrace of every thread, memory map.
The executable and shared libraries the core maps are read from the
filesystem, or from under DIR with --sysroot, for their unwind tables
(.eh_frame, .debug_frame) and symbols; file:line and inlined frames come
from their DWARF or their separate debug files (docs/DEBUGINFO.md).

Options:
${DEBUG_OPTION_HELP}
  --json            print the report as JSON (layout: docs/REPORT.md)
  --compact         print the compact JSON form the journal stores (at most 4 KiB)`;

export async function run(args: string[]): Promise<number> {
  const a = parseArgs(args, { values: DEBUG_OPTION_SPEC.values, lists: DEBUG_OPTION_SPEC.lists, flags: ["json", "compact"] });
  const [core, extra] = a.positionals;
  if (core === undefined) throw new UsageError("Missing CORE");
  if (extra !== undefined) throw new UsageError(`Unexpected argument "${extra}"`);
  const options = debugOptions(a);
  let report;
  try {
    report = buildReport(readCoreFile(core), { sysroot: options.sysroot });
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    throw new Error(`Cannot inspect core "${core}": ${reason.replace(/^Cannot /, "cannot ")}`);
  }
  // the compact form is what the device keeps: names from the symbol tables only
  if (!a.flags.has("compact")) report = await symbolizeReport(report, options);
  const text = a.flags.has("compact")
    ? compactReport(report) + "\n"
    : a.flags.has("json")
      ? JSON.stringify(report, null, 2) + "\n"
      : formatText(report);
  await Bun.write(Bun.stdout, text);
  return 0;
}


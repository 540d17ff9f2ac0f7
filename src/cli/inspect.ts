// crashkeep inspect CORE [--sysroot DIR] [--json] [--compact]: an offline
// report from a core file; mapped files are looked up under --sysroot.
import { parseArgs, UsageError } from "./args.ts";
import { readCoreFile } from "../core/source.ts";
import { buildReport } from "../core/report.ts";
import { compactReport, formatText } from "../core/format.ts";

export const help = `Usage: crashkeep inspect CORE [--sysroot DIR] [--json] [--compact]

Reads an ELF core file (x86_64 or aarch64) and prints a crash report: signal,
probable cause, registers and backtrace of every thread, memory map.
The executable and shared libraries the core maps are read from the
filesystem, or from under DIR with --sysroot, for their unwind tables
(.eh_frame, .debug_frame) and symbols.

Options:
  --sysroot DIR  resolve the mapped files under DIR
  --json         print the report as JSON (layout: docs/REPORT.md)
  --compact      print the compact JSON form the journal stores (at most 4 KiB)`;

export async function run(args: string[]): Promise<number> {
  const a = parseArgs(args, { values: ["sysroot"], flags: ["json", "compact"] });
  const [core, extra] = a.positionals;
  if (core === undefined) throw new UsageError("Missing CORE");
  if (extra !== undefined) throw new UsageError(`Unexpected argument "${extra}"`);
  let report;
  try {
    report = buildReport(readCoreFile(core), { sysroot: a.values.get("sysroot") });
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    throw new Error(`Cannot inspect core "${core}": ${reason.replace(/^Cannot /, "cannot ")}`);
  }
  const text = a.flags.has("compact")
    ? compactReport(report) + "\n"
    : a.flags.has("json")
      ? JSON.stringify(report, null, 2) + "\n"
      : formatText(report);
  await Bun.write(Bun.stdout, text);
  return 0;
}


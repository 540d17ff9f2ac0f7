// crashkeep symbolize REPORT [--sysroot DIR] [--debug-dir DIR]... [--debuginfod URL] [--json]:
// a device's report re-symbolized on a workstation by build-id + module offset.
import { parseArgs, UsageError } from "./args.ts";
import { DEBUG_OPTION_HELP, DEBUG_OPTION_SPEC, debugOptions } from "./debug-options.ts";
import { formatText } from "../core/format.ts";
import { MAX_REPORT_FILE_BYTES, parseReports, readReportFile } from "../debuginfo/report-input.ts";
import { symbolizeReport } from "../debuginfo/symbolize.ts";

export const help = `Usage: crashkeep symbolize REPORT [--sysroot DIR] [--debug-dir DIR]... [--debuginfod URL] [--json]

Re-symbolizes every frame of a report a device produced, by module build-id
and offset: function names, file:line and inlined frames from the debug files
found for each module (the module itself, .build-id trees, .gnu_debuglink,
debuginfod; docs/DEBUGINFO.md). The device needs no debug info and the
workstation no core. Frames whose module no debug source knows keep their
addresses; the report's warnings say why.

REPORT: a report JSON from the archive (report.json), the compact form the
journal keeps, \`crashkeep dump --json\` output (every crash record), or an
archive entry (\`history show ID --json\`, entry.json, with its
journal-*-crash-report.json files beside it); "-" reads standard input.

Options:
${DEBUG_OPTION_HELP}
  --json            print JSON (one report: an object; several: an array)`;

export async function run(args: string[]): Promise<number> {
  const a = parseArgs(args, { values: DEBUG_OPTION_SPEC.values, lists: DEBUG_OPTION_SPEC.lists, flags: ["json"] });
  const [file, extra] = a.positionals;
  if (file === undefined) throw new UsageError("Missing REPORT");
  if (extra !== undefined) throw new UsageError(`Unexpected argument "${extra}"`);
  const options = debugOptions(a);
  let inputs;
  try {
    inputs = file === "-" ? parseReports(await readStdin(MAX_REPORT_FILE_BYTES)) : readReportFile(file);
  } catch (err) {
    throw new Error(`Cannot symbolize report "${file}": ${err instanceof Error ? err.message : String(err)}`);
  }
  const reports = [];
  for (const input of inputs) reports.push(await symbolizeReport(input.report, options));
  const text = a.flags.has("json")
    ? JSON.stringify(reports.length === 1 ? reports[0] : reports, null, 2) + "\n"
    : reports.map((r, i) => (inputs.length > 1 && inputs[i]?.origin ? `--- ${inputs[i]?.origin} ---\n` : "") + formatText(r)).join("\n");
  await Bun.write(Bun.stdout, text);
  return 0;
}

/** Standard input as text, refused past limit bytes (`ssh device crashkeep dump --json | crashkeep symbolize -`). */
async function readStdin(limit: number): Promise<string> {
  const chunks: Uint8Array[] = [];
  let total = 0;
  for await (const chunk of Bun.stdin.stream()) {
    total += chunk.length;
    if (total > limit) throw new Error(`larger than ${limit} bytes`);
    chunks.push(chunk);
  }
  return new TextDecoder().decode(Buffer.concat(chunks));
}

import { isTerminal } from "./terminal.ts";
import { parseArgs, UsageError } from "./args.ts";
import { sizeOption } from "./numbers.ts";
import { deviceArg } from "./device-arg.ts";
import { dumpRaw } from "../copy/raw-device.ts";
import { openDevice } from "../copy/block-device.ts";
import { describeJournal, type JournalDescription } from "../journal/describe.ts";
import { openJournal } from "../journal/journal.ts";
import { makePaths } from "../system/paths.ts";

export const help = `Usage: crashkeep dump [--json] [--device PATH] [--config FILE]
       crashkeep dump --raw [DEVICE] [--bytes N]

What the journal holds now: the control block (boot counter, boot ids,
clean-shutdown marker, noted reason), the records and the log tails.

--json      the same as JSON (payloads as text when UTF-8, else base64)
--raw       write the device's bytes to stdout in one pass (the write-up's
            dd if=/dev/mtdchar/NAME bs=LEN count=1); redirect it to a file
            and read it on a workstation with: crashkeep dump --device FILE
--bytes N   with --raw: only the first N bytes (4096, 0x1000, 64ki, 8Mi)
--device    an MTD node or a regular file holding a raw copy of the device

The device defaults to journal.device, else /dev/mtdchar/<phram.name>.`;

/** Log tail lines shown in the text form; --json has all of it. */
const TEXT_TAIL_LINES = 20;

function text(d: JournalDescription, path: string): string {
  if (!d.retained) return `${path}: not retained (no valid control block: cold boot, power loss or never formatted)`;
  const c = d.control ?? {};
  const out = [
    `${path}: journal, boot ${String(c.bootCounter)} (${String(c.currentBootId)}), previous ${String(c.previousBootId)}`,
    `started ${String(c.bootStart)}; clean shutdown: ${String(c.cleanShutdown ?? "no")}; noted reason: ${c.notedReason ? JSON.stringify((c.notedReason as { text: string }).text) : "none"}`,
    `records: ${d.records.length} (${d.corruptRecords} corrupt); next seq ${String(c.nextSeq)}, collected through ${String(c.collectedSeq)}`,
  ];
  for (const r of d.records) {
    const p = r.payload as { encoding: string; data: string };
    const body = p.encoding === "utf-8" ? p.data.replace(/\s+/g, " ").slice(0, 100) : `${String(r.bytes)} bytes (binary)`;
    out.push(`  #${String(r.seq)} ${String(r.time)} ${String(r.kind)}${r.collected ? " (collected)" : ""}: ${body}`);
  }
  for (const l of d.logs) {
    const t = l.tail as { encoding: string; data: string };
    const lines = t.encoding === "utf-8" ? t.data.trimEnd().split("\n").slice(-TEXT_TAIL_LINES) : [];
    out.push(`log ${String(l.path)} (bytes ${String(l.streamStart)}..${String(l.streamEnd)}, updated ${String(l.updated)}):`);
    out.push(...lines.map((x) => `  ${x}`));
  }
  return out.join("\n");
}

export async function run(args: string[]): Promise<number> {
  const { positionals, values, flags } = parseArgs(args, { values: ["device", "bytes", "config"], flags: ["raw", "json"] });
  if (positionals.length > 1) throw new UsageError(`Unexpected argument "${positionals[1]}"`);
  if (flags.has("raw")) {
    if (flags.has("json")) throw new UsageError("--raw and --json do not go together");
    const device = deviceArg(positionals[0], values);
    if (isTerminal(1)) throw new UsageError("Refusing to write raw bytes to a terminal; redirect stdout to a file");
    const bytes = sizeOption("bytes", values.get("bytes"));
    dumpRaw(device, 1, bytes === undefined ? {} : { bytes });
    return 0;
  }
  if (values.has("bytes")) throw new UsageError("--bytes goes with --raw");
  const path = deviceArg(positionals[0], values);
  const paths = makePaths();
  const device = openDevice(path, { paths });
  try {
    const d = describeJournal(openJournal(device, { paths, locking: false }));
    console.log(flags.has("json") ? JSON.stringify(d, null, 2) : text(d, path));
  } finally {
    device.close();
  }
  return 0;
}

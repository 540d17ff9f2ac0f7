import { isTerminal } from "./terminal.ts";
import { parseArgs, UsageError } from "./args.ts";
import { deviceArg } from "./device-arg.ts";
import { zeroDevice } from "../copy/raw-device.ts";
import { openDevice } from "../copy/block-device.ts";
import { formatJournal } from "../journal/journal.ts";
import { readBootId } from "../journal/boot-id.ts";
import { layoutOptions } from "../boot/journal-boot.ts";
import { loadConfig } from "../config/load.ts";
import { makePaths } from "../system/paths.ts";

export const help = `Usage: crashkeep clear [DEVICE] [--device PATH] [--raw] [--yes] [--config FILE]

Re-format the journal: every record, log tail and marker on it is lost (the
next boot will not know why this one ended). With --raw, zero the whole
device in aligned blocks instead (the write-up's dd if=/dev/zero of=DEVICE).
On a terminal, --yes is required.

DEVICE defaults to journal.device, else /dev/mtdchar/<phram.name>.`;

export async function run(args: string[]): Promise<number> {
  const { positionals, values, flags } = parseArgs(args, { values: ["device", "config"], flags: ["yes", "raw"] });
  if (positionals.length > 1) throw new UsageError(`Unexpected argument "${positionals[1]}"`);
  const path = deviceArg(positionals[0], values);
  if (isTerminal(0) && !flags.has("yes")) throw new UsageError(`This erases "${path}"; add --yes to confirm`);
  if (flags.has("raw")) {
    const bytes = zeroDevice(path);
    if (isTerminal(1)) console.log(`zeroed ${bytes} bytes of ${path}`);
    return 0;
  }
  const paths = makePaths();
  const { config } = loadConfig(values.get("config"), { paths });
  const device = openDevice(path, { write: true, paths });
  try {
    const block = formatJournal(device, { ...layoutOptions(config), bootId: readBootId(paths), paths });
    if (isTerminal(1)) console.log(`formatted ${path}: ${block.layout.slotCount} report slots, ${block.layout.logs.length} log area(s)`);
  } finally {
    device.close();
  }
  return 0;
}

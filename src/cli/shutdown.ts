// crashkeep shutdown: the clean-shutdown marker (init script "stop"). The
// next boot reads it to tell a clean reboot from a reset or a hang.
import { openDevice } from "../copy/block-device.ts";
import { DEFAULT_DEVICE, markCleanShutdown, openJournal } from "../journal/journal.ts";
import { makePaths } from "../system/paths.ts";
import { deviceArg } from "./device-arg.ts";
import { failure, parseArgs, UsageError } from "./args.ts";

export const help = `Usage: crashkeep shutdown [--device PATH]

Write the clean-shutdown marker (with the time) into the crash journal.
Run it from the init script's "stop" step, as late as possible.

Options:
  --device PATH   the journal device: an MTD node or a file holding a raw
                  copy (default: journal.device, else ${DEFAULT_DEVICE}
                  with the configured phram name)
  --config FILE   config file (default /etc/crashkeep/config.json)
  -h, --help      show this help`;

export async function run(args: string[]): Promise<number> {
  const parsed = parseArgs(args, { values: ["device", "config"] });
  if (parsed.positionals.length > 0) throw new UsageError(`Unexpected argument "${parsed.positionals[0]}"`);
  const paths = makePaths();
  const path = deviceArg(undefined, parsed.values);
  try {
    const device = openDevice(path, { write: true, paths });
    try {
      markCleanShutdown(openJournal(device, { paths }));
    } finally {
      device.close();
    }
  } catch (err) {
    throw new Error(failure(`Cannot write the clean-shutdown marker to "${path}"`, err));
  }
  return 0;
}

import { isTerminal } from "./terminal.ts";
import { parseArgs, UsageError } from "./args.ts";
import { deviceArg } from "./device-arg.ts";
import { zeroDevice } from "../copy/raw-device.ts";

export const help = `Usage: crashkeep clear [DEVICE] [--device PATH] [--yes] [--config FILE]

Zero the device in aligned blocks (the write-up's dd if=/dev/zero of=DEVICE).
Everything on it is lost. On a terminal, --yes is required.

DEVICE defaults to the configured journal device, /dev/mtdchar/<phram.name>.`;

export async function run(args: string[]): Promise<number> {
  const { positionals, values, flags } = parseArgs(args, { values: ["device", "config"], flags: ["yes"] });
  if (positionals.length > 1) throw new UsageError(`Unexpected argument "${positionals[1]}"`);
  const device = deviceArg(positionals[0], values);
  if (isTerminal(0) && !flags.has("yes")) throw new UsageError(`This erases "${device}"; add --yes to confirm`);
  const bytes = zeroDevice(device);
  if (isTerminal(1)) console.log(`zeroed ${bytes} bytes of ${device}`);
  return 0;
}

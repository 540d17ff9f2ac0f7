import { isTerminal } from "./terminal.ts";
import { parseArgs, UsageError } from "./args.ts";
import { sizeOption } from "./numbers.ts";
import { deviceArg } from "./device-arg.ts";
import { dumpRaw } from "../copy/raw-device.ts";

export const help = `Usage: crashkeep dump --raw [DEVICE] [--device PATH] [--bytes N] [--config FILE]

--raw    write the device's bytes to stdout in one pass (the write-up's
         dd if=/dev/mtdchar/NAME bs=LEN count=1); redirect it to a file to
         read it on a workstation
--bytes  only the first N bytes (4096, 0x1000, 64ki, 8Mi)

DEVICE defaults to the configured journal device, /dev/mtdchar/<phram.name>.`;

export async function run(args: string[]): Promise<number> {
  const { positionals, values, flags } = parseArgs(args, { values: ["device", "bytes", "config"], flags: ["raw"] });
  if (positionals.length > 1) throw new UsageError(`Unexpected argument "${positionals[1]}"`);
  if (!flags.has("raw")) throw new UsageError("Only the raw form exists so far: use --raw");
  const device = deviceArg(positionals[0], values);
  if (isTerminal(1)) throw new UsageError("Refusing to write raw bytes to a terminal; redirect stdout to a file");
  const bytes = sizeOption("bytes", values.get("bytes"));
  dumpRaw(device, 1, bytes === undefined ? {} : { bytes });
  return 0;
}

import { parseArgs } from "./args.ts";
import { runInit } from "../boot/init.ts";
import { makePaths } from "../system/paths.ts";

export const help = `Usage: crashkeep init [--config FILE] [--json]

The boot hook (run by /etc/init.d/S03crashkeep start):
  1. load the config; on a bad one, say so and go on with defaults
  2. check that the ramoops and phram regions lie in RAM that /proc/iomem shows
     reserved (memmap=SIZE$ADDR); otherwise name the memmap= to add and
     insert nothing
  3. insert mtd, phram, reed_solomon, ramoops (modprobe, else insmod in
     modules.dep order), skipping loaded and built-in modules
  4. find the phram device in /proc/mtd and link /dev/mtdchar/<name>
  5. mount pstore, copy every record into the archive durably, then clear it
  6. print why the previous boot ended (console and /dev/kmsg)

Exit status 1 when a step failed (the boot should go on regardless).`;

export async function run(args: string[]): Promise<number> {
  const { values, flags } = parseArgs(args, { values: ["config"], flags: ["json"] });
  const json = flags.has("json");
  const result = await runInit({
    configFile: values.get("config"),
    paths: makePaths(),
    report: (line) => {
      if (!json) console.log(line);
    },
  });
  if (json) {
    const { config: _config, ...rest } = result;
    console.log(JSON.stringify(rest, null, 2));
  }
  return result.ok ? 0 : 1;
}

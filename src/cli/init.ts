import { parseArgs } from "./args.ts";
import { runInit } from "../boot/init.ts";
import { makePaths } from "../system/paths.ts";
import { writeInitState } from "../boot/init-state.ts";

export const help = `Usage: crashkeep init [--config FILE] [--json]

The boot hook (run by /etc/init.d/S03crashkeep start):
  1. load the config; on a bad one, say so and go on with defaults. When the
     kernel booted with a device tree (/sys/firmware/fdt, else
     /proc/device-tree), its /reserved-memory ramoops and phram nodes win
     over the config's regions (a disagreement is said once)
  2. check that the ramoops and phram regions are reserved RAM: x86, a
     range /proc/iomem shows reserved (memmap=SIZE$ADDR); arm64, a
     /reserved-memory node that /proc/iomem shows reserved, or RAM above
     the mem= cap. Otherwise name what to add (memmap= on x86; the
     device-tree node or mem= on arm64) and insert nothing
  3. insert mtd, phram, reed_solomon, ramoops (modprobe, else insmod in
     modules.dep order), skipping loaded and built-in modules; a module
     with a device-tree node is loaded without parameters so it binds it
  4. find the phram device in /proc/mtd by name (the node's label) and link
     /dev/mtdchar/<name>
  5. mount pstore, copy every record into the archive durably, then clear it
  6. print why the previous boot ended (console and /dev/kmsg)

Exit status 1 when a step failed (the boot should go on regardless); the
exit status and the errors also go to /run/crashkeep/init.json (status).
The boot runs these steps as "crashkeep watch --init": one process.`;

export async function run(args: string[]): Promise<number> {
  const { values, flags } = parseArgs(args, { values: ["config"], flags: ["json"] });
  const json = flags.has("json");
  const paths = makePaths();
  const result = await runInit({
    configFile: values.get("config"),
    paths,
    report: (line) => {
      if (!json) console.log(line);
    },
  });
  if (json) {
    const { config: _config, ...rest } = result;
    console.log(JSON.stringify(rest, null, 2));
  }
  const stateProblem = writeInitState(paths, { pid: process.pid, by: "init", exitStatus: result.ok ? 0 : 1, errors: result.errors });
  if (stateProblem !== undefined) console.error(`crashkeep init: ${stateProblem}`);
  return result.ok ? 0 : 1;
}

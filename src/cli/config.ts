import { parseArgs, UsageError } from "./args.ts";
import { loadConfig } from "../config/load.ts";
import { configRegions } from "../config/memmap.ts";
import { kernelNeeds, kernelNeedsText } from "../config/kernel-needs.ts";
import { applyDeviceTree } from "../config/devicetree-config.ts";
import { ARCH_CHOICES, parseArch, runningArch } from "../system/kernel-arch.ts";
import { readDeviceTree } from "../system/devicetree.ts";
import { makePaths } from "../system/paths.ts";
import { formatSize, hex } from "../config/units.ts";
import { credentialProblems } from "../upload/client.ts";

export const help = `Usage: crashkeep config check [FILE] [--config FILE] [--arch x86_64|arm64]
       crashkeep config show [--config FILE]

check  validate FILE (default /etc/crashkeep/config.json); every problem is
       printed on its own line with its key path; exit 1 when there is one.
       Then what the kernel needs to reserve the regions: memmap= on x86;
       on arm64 (no memmap=) a /reserved-memory device-tree snippet, or the
       mem= cap. --arch asks for another architecture than this one
show   print the effective config as JSON: the file merged with defaults,
       sizes and addresses as plain numbers

Sizes and addresses accept numbers or strings: 4096, "0x7000000", "64ki", "8Mi".
Schema: docs/config.schema.json`;

export async function run(args: string[]): Promise<number> {
  const { positionals, values } = parseArgs(args, { values: ["config", "arch"] });
  const [sub, file, ...extra] = positionals;
  if (extra.length > 0) throw new UsageError(`Unexpected argument "${extra[0]}"`);
  const path = file ?? values.get("config");
  if (sub === "check") {
    const running = runningArch();
    const archName = values.get("arch");
    const arch = archName === undefined ? running : parseArch(archName);
    if (arch === undefined) throw new UsageError(`Unknown architecture "${archName}": use one of ${ARCH_CHOICES.join(", ")}`);
    const { config, file: read } = loadConfig(path);
    // Files the config names are checked here, not in the schema: a cached config is not re-validated.
    const problems = credentialProblems(config, makePaths());
    if (problems.length > 0) {
      for (const p of problems) console.error(`Cannot load config "${read ?? "(defaults)"}": ${p}`);
      return 1;
    }
    const [ramoops, phram] = configRegions(config);
    const where = (r: typeof ramoops) => (r ? `${formatSize(r.size)} at ${hex(r.start)}` : "");
    console.log(`${read ?? "(defaults)"}: OK: ramoops ${where(ramoops)}, phram "${config.phram.name}" ${where(phram)}`);
    // On the device itself the device tree's memory nodes make the mem= advice exact.
    const dt = arch === running && arch === "arm64" ? readDeviceTree(makePaths()).facts : undefined;
    const needs = kernelNeeds(config, arch, dt ? { memory: dt.memory, cells: dt.cells } : {});
    for (const line of kernelNeedsText(needs, config)) console.log(line);
    // This device's tree already binds regions: where the config disagrees, the tree wins at boot.
    if (dt) for (const line of [...dt.warnings, ...applyDeviceTree(config, dt).notes]) console.log(`note: ${line}`);
    // Upload off (no upload.broker): nothing changes, not even this output.
    if (config.upload.broker) console.log(`upload: to ${config.upload.broker.join(", ")} as topics ${config.upload.topicPrefix}/<deviceId>/<kind>`);
    return 0;
  }
  if (sub === "show") {
    if (file !== undefined) throw new UsageError(`"config show" takes no FILE; use --config FILE`);
    if (values.has("arch")) throw new UsageError(`"config show" takes no --arch`);
    const { config } = loadConfig(path);
    console.log(JSON.stringify(config, null, 2));
    return 0;
  }
  throw new UsageError(sub === undefined ? "Missing subcommand: check or show" : `Unknown subcommand "${sub}": use check or show`);
}

import { existsSync, readFileSync } from "node:fs";
import { parseArgs } from "./args.ts";
import { ConfigError, loadConfig, parseConfig } from "../config/load.ts";
import { configRegions, requiredMemmap } from "../config/memmap.ts";
import { formatSize, hex } from "../config/units.ts";
import { archiveUsage } from "../archive/archive.ts";
import { checkRegion, parseIomem } from "../system/iomem.ts";
import { parseBuiltin, parseProcModules, kernelRelease } from "../system/modules.ts";
import { findMtd } from "../system/mtd.ts";
import { isPstoreMounted, listRecords } from "../system/pstore.ts";
import { makePaths } from "../system/paths.ts";

export const help = `Usage: crashkeep status [--json] [--config FILE]

Config, the reserved regions as the kernel sees them (/proc/iomem), the
modules, the phram MTD device, pstore and archive usage.`;

function read(path: string): string | undefined {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return undefined;
  }
}

export async function run(args: string[]): Promise<number> {
  const { values, flags } = parseArgs(args, { values: ["config"], flags: ["json"] });
  const paths = makePaths();
  let configInfo: { file: string | undefined; ok: boolean; errors: string[] };
  let config;
  try {
    const loaded = loadConfig(values.get("config"), { paths });
    config = loaded.config;
    configInfo = { file: loaded.file, ok: true, errors: [] };
  } catch (err) {
    config = parseConfig({});
    configInfo = { file: values.get("config"), ok: false, errors: err instanceof ConfigError ? err.message.split("\n") : [String(err)] };
  }
  const iomem = read(paths.sys("/proc/iomem"));
  const ranges = iomem === undefined ? [] : parseIomem(iomem);
  const regions = configRegions(config).map((r) => {
    const c = iomem === undefined ? { ok: false, reason: "/proc/iomem unreadable" } : checkRegion(r, ranges);
    return { name: r.name, start: hex(r.start), size: r.size, ok: c.ok, reason: c.ok ? undefined : c.reason };
  });
  let release: string | undefined;
  try {
    release = kernelRelease(paths);
  } catch {
    release = undefined;
  }
  const loaded = parseProcModules(read(paths.sys("/proc/modules")) ?? "");
  const builtin = parseBuiltin(release ? read(paths.sys(`${config.modules.dir}/${release}/modules.builtin`)) ?? "" : "");
  const modules = Object.fromEntries(
    ["mtd", "phram", "reed_solomon", "ramoops"].map((m) => [m, loaded.has(m) ? "loaded" : builtin.has(m) ? "builtin" : "absent"]),
  );
  const mtd = findMtd(config.phram.name, paths);
  const link = paths.sys(`/dev/mtdchar/${config.phram.name}`);
  const device = mtd
    ? { name: mtd.name, index: mtd.index, size: mtd.size, eraseSize: mtd.eraseSize, node: paths.sys(`/dev/mtd${mtd.index}`), link: existsSync(link) ? link : undefined }
    : undefined;
  const records = listRecords(paths);
  const pstore = { mounted: isPstoreMounted(paths), records: records.map((r) => ({ file: r.file, bytes: r.size })) };
  const archiveDir = paths.sys(config.archive.dir);
  const archive = { dir: archiveDir, ...archiveUsage(archiveDir), maxBytes: config.archive.maxBytes, maxEntries: config.archive.maxEntries };
  const status = { config: configInfo, kernel: release, memmap: requiredMemmap(configRegions(config)), regions, modules, device, pstore, archive };
  if (flags.has("json")) {
    console.log(JSON.stringify(status, null, 2));
    return 0;
  }
  console.log(`config:   ${configInfo.file ?? "(defaults)"}${configInfo.ok ? "" : ` INVALID: ${configInfo.errors.join("; ")}`}`);
  console.log(`kernel:   ${release ?? "unknown"}; needs ${status.memmap.join(" ")}`);
  for (const r of regions) console.log(`region:   ${r.name} ${formatSize(r.size)} at ${r.start}: ${r.ok ? "reserved" : r.reason}`);
  console.log(`modules:  ${Object.entries(modules).map(([k, v]) => `${k} ${v}`).join(", ")}`);
  console.log(`device:   ${device ? `mtd${device.index} "${device.name}" ${formatSize(device.size)}${device.link ? `, ${device.link}` : ", no /dev/mtdchar link"}` : `no MTD device "${config.phram.name}"`}`);
  console.log(`pstore:   ${pstore.mounted ? `mounted, ${records.length} record(s)` : "not mounted"}`);
  console.log(`archive:  ${archiveDir}: ${archive.entries} boot(s), ${formatSize(archive.bytes)} of ${formatSize(archive.maxBytes)}` +
    (archive.freeBytes !== undefined ? `, ${formatSize(archive.freeBytes)} free on disk` : ""));
  return 0;
}

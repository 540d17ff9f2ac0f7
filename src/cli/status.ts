import { existsSync, readFileSync } from "node:fs";
import { parseArgs } from "./args.ts";
import { ConfigError, journalDevice, loadConfig, parseConfig } from "../config/load.ts";
import { openDevice } from "../copy/block-device.ts";
import { openJournal, readJournal } from "../journal/journal.ts";
import { configRegions, requiredMemmap } from "../config/memmap.ts";
import { formatSize, hex } from "../config/units.ts";
import { archiveUsage } from "../archive/archive.ts";
import { checkRegion, parseIomem } from "../system/iomem.ts";
import { parseBuiltin, parseProcModules, kernelRelease } from "../system/modules.ts";
import { findMtd } from "../system/mtd.ts";
import { isPstoreMounted, listRecords } from "../system/pstore.ts";
import { makePaths } from "../system/paths.ts";
import { outboxDir, outboxUsage, readUploadState } from "../upload/outbox.ts";

export const help = `Usage: crashkeep status [--json] [--config FILE] [--device PATH]

Config, the reserved regions as the kernel sees them (/proc/iomem), the
modules, the phram MTD device, the journal (records, free slots, last
write), pstore and archive usage. --device reads the journal from PATH (an
MTD node or a raw copy) instead of journal.device / /dev/mtdchar/<name>.`;

/** What status says of the journal; undefined fields when it cannot be read. */
function journalSummary(path: string, paths: ReturnType<typeof makePaths>) {
  let device;
  try {
    device = openDevice(path, { paths });
  } catch (err) {
    return { device: path, error: err instanceof Error ? err.message : String(err) };
  }
  try {
    const view = readJournal(openJournal(device, { paths, locking: false }));
    const c = view.control;
    const times = [...view.records.map((r) => r.timeMs), c?.bootStartMs ?? 0, c?.cleanShutdownMs ?? 0, ...view.logs.map((l) => l.header?.timeMs ?? 0)];
    const last = Math.max(...times);
    return {
      device: path,
      retained: view.retained,
      bootCounter: c?.bootCounter ?? null,
      records: view.records.length,
      uncollected: view.records.filter((r) => !r.collected).length,
      corruptRecords: view.corruptRecords,
      slots: c?.layout.slotCount ?? null,
      freeSlots: c ? c.layout.slotCount - view.records.length : null,
      lastWrite: last > 0 ? new Date(last).toISOString() : null,
      logs: view.logs.map((l) => ({ path: l.header?.path ?? null, bytes: l.bytes.length })),
    };
  } finally {
    device.close();
  }
}

function read(path: string): string | undefined {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return undefined;
  }
}

export async function run(args: string[]): Promise<number> {
  const { values, flags } = parseArgs(args, { values: ["config", "device"], flags: ["json"] });
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
  const journal = journalSummary(values.get("device") ?? journalDevice(config, paths), paths);
  const box = outboxDir(archiveDir);
  const upload = { brokers: config.upload.broker ?? [], dir: box, ...outboxUsage(box), ...readUploadState(box) };
  const status = { config: configInfo, kernel: release, memmap: requiredMemmap(configRegions(config)), regions, modules, device, journal, pstore, archive, upload };
  if (flags.has("json")) {
    console.log(JSON.stringify(status, null, 2));
    return 0;
  }
  console.log(`config:   ${configInfo.file ?? "(defaults)"}${configInfo.ok ? "" : ` INVALID: ${configInfo.errors.join("; ")}`}`);
  console.log(`kernel:   ${release ?? "unknown"}; needs ${status.memmap.join(" ")}`);
  for (const r of regions) console.log(`region:   ${r.name} ${formatSize(r.size)} at ${r.start}: ${r.ok ? "reserved" : r.reason}`);
  console.log(`modules:  ${Object.entries(modules).map(([k, v]) => `${k} ${v}`).join(", ")}`);
  console.log(`device:   ${device ? `mtd${device.index} "${device.name}" ${formatSize(device.size)}${device.link ? `, ${device.link}` : ", no /dev/mtdchar link"}` : `no MTD device "${config.phram.name}"`}`);
  console.log(
    "error" in journal
      ? `journal:  ${journal.error}`
      : journal.retained
        ? `journal:  ${journal.records} record(s) (${journal.uncollected} not yet archived, ${journal.corruptRecords} corrupt), ${journal.freeSlots} of ${journal.slots} slots free, boot ${journal.bootCounter}, last write ${journal.lastWrite ?? "never"}`
        : `journal:  ${journal.device}: not retained (cold boot, power loss or never formatted)`,
  );
  console.log(`pstore:   ${pstore.mounted ? `mounted, ${records.length} record(s)` : "not mounted"}`);
  console.log(`archive:  ${archiveDir}: ${archive.entries} boot(s), ${formatSize(archive.bytes)} of ${formatSize(archive.maxBytes)}` +
    (archive.freeBytes !== undefined ? `, ${formatSize(archive.freeBytes)} free on disk` : ""));
  const dropped = upload.dropped ? `; dropped by quotas, not yet reported: ${upload.dropped.boot} boot, ${upload.dropped.crash} crash, ${upload.dropped.note} note` : "";
  console.log(`upload:   ${upload.brokers.length > 0 ? upload.brokers.join(", ") : "off (no upload.broker)"}: ${upload.entries} pending (${formatSize(upload.bytes)})` +
    `${upload.oldest ? `, oldest ${upload.oldest}` : ""}, last success ${upload.lastSuccess ?? "never"}${dropped}`);
  if (upload.lastError) console.log(`upload:   last error ${upload.lastErrorAt}: ${upload.lastError}`);
  return 0;
}

import { existsSync, readFileSync } from "node:fs";
import { parseArgs } from "./args.ts";
import { ConfigError, journalDevice, loadConfig, parseConfig } from "../config/load.ts";
import { openDevice } from "../copy/block-device.ts";
import { openJournal, readJournal, type JournalRecord } from "../journal/journal.ts";
import { readBootId } from "../journal/boot-id.ts";
import type { RollbackStatus } from "../rollback/status.ts";
import { adviceLine } from "../config/kernel-needs.ts";
import { assessRegions, type RegionState } from "../boot/regions.ts";
import { runningArch, type KernelArch } from "../system/kernel-arch.ts";
import type { RegionRoute } from "../system/iomem.ts";
import { formatSize, hex } from "../config/units.ts";
import { archiveUsage } from "../archive/archive.ts";
import { archiveStorageProblem } from "../system/mounts.ts";
import { parseBuiltin, parseProcModules, kernelRelease } from "../system/modules.ts";
import { isPstoreMounted, listRecords } from "../system/pstore.ts";
import { makePaths, type Paths } from "../system/paths.ts";
import { outboxDir, outboxUsage, readUploadState } from "../upload/outbox.ts";
import { readInitState } from "../boot/init-state.ts";

export const help = `Usage: crashkeep status [--json] [--config FILE] [--device PATH]

Config, the reserved regions as the kernel sees them (/proc/iomem, and the
device tree's /reserved-memory and memory nodes on arm64) and what the
kernel needs when they are not reserved, the modules, the phram MTD device,
the journal (records, free slots, last write), pstore and archive usage; with
rollback.enabled, the booted slot, whether it is on probation and the time
left, the bad boots counted so far and the last rollback. --device reads the journal from PATH (an
MTD node or a raw copy) instead of journal.device / /dev/mtdchar/<name>.`;

/** What status says of the journal; undefined fields when it cannot be read. `keep`: the records are handed over too (the rollback's status reads this boot's). */
function journalSummary(path: string, paths: ReturnType<typeof makePaths>, keep?: (records: JournalRecord[]) => void) {
  let device;
  try {
    device = openDevice(path, { paths });
  } catch (err) {
    return { device: path, error: err instanceof Error ? err.message : String(err) };
  }
  try {
    const view = readJournal(openJournal(device, { paths, locking: false }));
    keep?.(view.records);
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

const ROUTE_TEXT: Readonly<Record<RegionRoute, string>> = {
  "memmap": "reserved",
  "device-tree": "reserved by the device tree's",
  "mem-limit": "above the mem= cap",
};

/** x86: the memmap= the regions need; arm64: how they are reserved, or what to add (never memmap=). */
function kernelLine(state: RegionState): string {
  if (state.arch === "x86") return `needs ${state.needs.memmap.join(" ")}`;
  if (state.checks.every((c) => c.ok)) {
    const routes = new Set(state.checks.map((c) => (c.ok ? c.route : "memmap")));
    return routes.has("mem-limit") && routes.size === 1 ? "regions above the mem= cap" : routes.has("mem-limit") ? "regions reserved by the device tree and mem=" : "regions reserved by the device tree";
  }
  return `needs: ${adviceLine(state.needs)}`;
}

function read(path: string): string | undefined {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return undefined;
  }
}

export interface StatusOptions {
  configFile: string | undefined;
  device: string | undefined;
  paths: Paths;
  arch: KernelArch;
}

/** Everything status shows, as its --json prints it. */
export function gatherStatus(options: StatusOptions) {
  const { paths } = options;
  const values = new Map<string, string>();
  if (options.configFile !== undefined) values.set("config", options.configFile);
  if (options.device !== undefined) values.set("device", options.device);
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
  const state = assessRegions(config, paths, { arch: options.arch });
  config = state.config;
  const regions = state.checks.map((c) => ({
    name: c.region.name,
    start: hex(c.region.start),
    size: c.region.size,
    ok: c.ok,
    reason: c.ok ? undefined : c.reason,
    route: c.ok ? c.route : undefined,
    node: c.ok ? c.node : undefined,
  }));
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
  const mtd = state.phramBound;
  const link = paths.sys(`/dev/mtdchar/${config.phram.name}`);
  const device = mtd
    ? { name: mtd.name, index: mtd.index, size: mtd.size, eraseSize: mtd.eraseSize, node: paths.sys(`/dev/mtd${mtd.index}`), link: existsSync(link) ? link : undefined }
    : undefined;
  const records = listRecords(paths);
  const pstore = { mounted: isPstoreMounted(paths), records: records.map((r) => ({ file: r.file, bytes: r.size })) };
  const archiveDir = paths.sys(config.archive.dir);
  const archive = {
    dir: archiveDir,
    ...archiveUsage(archiveDir),
    maxBytes: config.archive.maxBytes,
    maxEntries: config.archive.maxEntries,
    // A read-only or tmpfs file system, with what to set (undefined: fine).
    problem: archiveStorageProblem(config.archive.dir, paths)?.message,
  };
  let journalRecords: JournalRecord[] | undefined;
  const journal = journalSummary(values.get("device") ?? journalDevice(config, paths), paths, (r) => (journalRecords = r));
  // Rollback on: this boot's slot, probation and bad boots (src/rollback is loaded only then).
  let rollback: RollbackStatus | null = null;
  if (config.rollback.enabled) {
    const { rollbackStatus } = require("../rollback/status.ts") as typeof import("../rollback/status.ts");
    rollback = rollbackStatus(config, paths, journalRecords ? { records: journalRecords, bootId: readBootId(paths) } : undefined);
  }
  const box = outboxDir(archiveDir);
  const upload = { brokers: config.upload.broker ?? [], dir: box, ...outboxUsage(box), ...readUploadState(box) };
  const dt = state.deviceTree;
  const deviceTree = dt
    ? {
        source: dt.source,
        memory: dt.memory.map((m) => ({ start: hex(m.start), size: m.size })),
        ramoops: state.dtRamoops ? { node: state.dtRamoops.path, device: state.dtRamoops.deviceName, bound: state.dtRamoops.bound } : undefined,
        phram: state.dtPhram ? { node: state.dtPhram.path, device: state.dtPhram.deviceName, name: state.dtPhram.name, bound: state.dtPhram.bound } : undefined,
      }
    : undefined;
  const needs = { memmap: state.needs.memmap, reservedMemory: state.needs.reservedMemory, memLimit: state.needs.memLimit, memLimitNote: state.needs.memLimitNote };
  const status = {
    config: configInfo,
    kernel: release,
    arch: state.arch,
    memmap: state.needs.memmap,
    needs,
    deviceTree,
    notes: [...state.warnings, ...state.notes],
    regions,
    modules,
    device,
    journal,
    pstore,
    archive,
    upload,
    rollback,
    // This boot's init (crashkeep init, or the init half of watch --init): null when none ran.
    init: readInitState(paths) ?? null,
  };
  return { status, text: { kernelLine: kernelLine(state), phramName: config.phram.name } };
}

export async function run(args: string[]): Promise<number> {
  const { values, flags } = parseArgs(args, { values: ["config", "device"], flags: ["json"] });
  const { status, text } = gatherStatus({ configFile: values.get("config"), device: values.get("device"), paths: makePaths(), arch: runningArch() });
  if (flags.has("json")) {
    console.log(JSON.stringify(status, null, 2));
    return 0;
  }
  for (const line of statusLines(status, text)) console.log(line);
  return 0;
}

/** The human form, one line per topic. */
export function statusLines(status: ReturnType<typeof gatherStatus>["status"], text: { kernelLine: string; phramName: string }): string[] {
  const { config: configInfo, deviceTree, regions, modules, device, journal, pstore, archive } = status;
  const out: string[] = [];
  const log = (line: string) => out.push(line);
  log(`config:   ${configInfo.file ?? "(defaults)"}${configInfo.ok ? "" : ` INVALID: ${configInfo.errors.join("; ")}`}`);
  log(`kernel:   ${status.kernel ?? "unknown"}; ${text.kernelLine}`);
  if (deviceTree) {
    const part = (what: string, n: { node: string; bound: boolean } | undefined) => (n ? `${what} ${n.node}${n.bound ? " (bound)" : " (not bound yet)"}` : `no ${what} node`);
    log(`dt:       ${deviceTree.source}: ${part("ramoops", deviceTree.ramoops)}, ${part("phram", deviceTree.phram)}`);
  }
  for (const note of status.notes) log(`note:     ${note}`);
  for (const r of regions) log(`region:   ${r.name} ${formatSize(r.size)} at ${r.start}: ${r.ok ? ROUTE_TEXT[r.route ?? "memmap"] + (r.node ? ` ${r.node}` : "") : r.reason}`);
  log(`modules:  ${Object.entries(modules).map(([k, v]) => `${k} ${v}`).join(", ")}`);
  log(`device:   ${device ? `mtd${device.index} "${device.name}" ${formatSize(device.size)}${device.link ? `, ${device.link}` : ", no /dev/mtdchar link"}` : `no MTD device "${text.phramName}"`}`);
  log(
    "error" in journal
      ? `journal:  ${journal.error}`
      : journal.retained
        ? `journal:  ${journal.records} record(s) (${journal.uncollected} not yet archived, ${journal.corruptRecords} corrupt), ${journal.freeSlots} of ${journal.slots} slots free, boot ${journal.bootCounter}, last write ${journal.lastWrite ?? "never"}`
        : `journal:  ${journal.device}: not retained (cold boot, power loss or never formatted)`,
  );
  const { init } = status;
  log(init === null
    ? "init:     not run in this boot (no /run/crashkeep/init.json)"
    : `init:     exit ${init.exitStatus} (${init.by}, pid ${init.pid}, ${init.finishedAt})${init.errors.length > 0 ? `: ${init.errors.join("; ")}` : ""}`);
  if (status.rollback) {
    const { rollbackLine } = require("../rollback/status.ts") as typeof import("../rollback/status.ts");
    log(rollbackLine(status.rollback));
  }
  log(`pstore:   ${pstore.mounted ? `mounted, ${pstore.records.length} record(s)` : "not mounted"}`);
  log(`archive:  ${archive.dir}: ${archive.entries} boot(s), ${formatSize(archive.bytes)} of ${formatSize(archive.maxBytes)}` +
    (archive.freeBytes !== undefined ? `, ${formatSize(archive.freeBytes)} free on disk` : ""));
  if (archive.problem !== undefined) log(`archive:  ${archive.problem}`);
  const { upload } = status;
  const dropped = upload.dropped ? `; dropped by quotas, not yet reported: ${upload.dropped.boot} boot, ${upload.dropped.crash} crash, ${upload.dropped.note} note` : "";
  // Upload off with nothing queued: no line (nothing else changes when no broker is configured).
  if (upload.brokers.length === 0 && upload.entries === 0 && !upload.lastError && upload.error === undefined) return out;
  const brokers = upload.brokers.length > 0 ? upload.brokers.join(", ") : "off (no upload.broker)";
  if (upload.error !== undefined) log(`upload:   ${brokers}: ${upload.error}, last success ${upload.lastSuccess ?? "never"}${dropped}`);
  else log(`upload:   ${brokers}: ${upload.entries} pending (${formatSize(upload.bytes)})` +
    `${upload.oldest ? `, oldest ${upload.oldest}` : ""}, last success ${upload.lastSuccess ?? "never"}${dropped}`);
  if (upload.lastError) log(`upload:   last error ${upload.lastErrorAt}: ${upload.lastError}`);
  return out;
}

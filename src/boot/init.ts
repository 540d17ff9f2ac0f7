// crashkeep init, the boot hook: validate config and regions, insert the
// modules, find the phram device, collect the previous boot, decide its
// reboot reason. Never blocks boot for long; a failed step is reported and
// the next one still runs where that is safe.
import { loadConfigOrDefaults } from "../config/load.ts";
import type { Config } from "../config/schema.ts";
import { adviceLine } from "../config/kernel-needs.ts";
import type { Paths } from "../system/paths.ts";
import type { RegionCheck } from "../system/iomem.ts";
import { runningArch, type KernelArch } from "../system/kernel-arch.ts";
import { executePlan, PHRAM_SYSFS_PARAM, phramParams, planModules, ramoopsParams } from "../system/modules.ts";
import { findMtd, linkMtdchar, waitForNode } from "../system/mtd.ts";
import { mountPstore } from "../system/pstore.ts";
import { archiveStorageProblem } from "../system/mounts.ts";
import { formatSize, hex } from "../config/units.ts";
import { assessRegions } from "./regions.ts";
import { setCorePattern } from "../daemon/core-pattern.ts";
import { collectPreviousBoot, type Collected } from "./collect.ts";
import { writeFileSync, existsSync } from "node:fs";
import { openDevice, type BlockDevice } from "../copy/block-device.ts";
import { readBootId, UNKNOWN_BOOT_ID } from "../journal/boot-id.ts";
import { finishJournalBoot, openBootJournal, type JournalBoot } from "./journal-boot.ts";
import { queueBoot } from "../upload/queue.ts";
import { readBootEvidence } from "../journal/boot-evidence.ts";
import type { Journal } from "../journal/journal.ts";
import { retryPending } from "../daemon/journal-retry.ts";
import { reportsDir } from "../daemon/reports-dir.ts";
import { clearInitRunning, markInitRunning } from "./init-state.ts";

export interface InitOptions {
  configFile: string | undefined;
  paths: Paths;
  /** Called with each console line as it happens. */
  report(line: string): void;
  /** The crashkeep executable for a pipe core_pattern (default: this process's). */
  selfPath?: string;
  /** The kernel's architecture, which decides how regions are reserved (default: the running one). */
  arch?: KernelArch;
}

export interface InitResult {
  ok: boolean;
  config: Config;
  configFile: string | undefined;
  configErrors: string[];
  regions: RegionCheck[];
  modules: string[];
  device: { name: string; index: number; node: string; link: string } | undefined;
  journal: { retained: boolean; records: number; corruptRecords: number; action: "formatted" | "new-boot" | "kept"; bootId: string } | undefined;
  collected: Collected | undefined;
  errors: string[];
}

export async function runInit(options: InitOptions): Promise<InitResult> {
  // Until this boot's journal record is open, other writers wait (init-state.ts INIT_RUNNING_FILE).
  const problem = markInitRunning(options.paths);
  if (problem) options.report(problem);
  try {
    return await initSteps(options);
  } finally {
    clearInitRunning(options.paths);
  }
}

async function initSteps(options: InitOptions): Promise<InitResult> {
  const { paths, report } = options;
  const errors: string[] = [];
  const fail = (line: string) => {
    errors.push(line);
    report(line);
  };

  // 1. Config: on a bad one, say so and go on with defaults (STYLE.md rule 10).
  const { config: loaded, file: configFile, problems: configErrors } = loadConfigOrDefaults(options.configFile, { paths });
  for (const line of configErrors) fail(line);
  if (configErrors.length > 0) report("crashkeep: continuing with the default config");

  // Core capture first: it needs only the config, and a service started
  // while the rest of init runs (watch --init, in the background) has its
  // core written where the daemon will find it (or piped to `crashkeep core`).
  try {
    const set = setCorePattern(loaded, options.selfPath ?? process.execPath, paths);
    if (set.pattern) report(`crashkeep: core_pattern ${set.pattern}`);
    // Not a failed step: only the next boot's early window goes without it.
    if (set.keepProblem) report(set.keepProblem);
  } catch (err) {
    fail(`Cannot set up core capture: ${err instanceof Error ? err.message : String(err)}`);
  }

  // 2. Regions: inside reserved RAM, never System RAM, before touching the kernel.
  // The device tree's ramoops and phram nodes are what the kernel binds: their
  // values replace the config's (said once). A ramoops or phram the kernel
  // already has (device tree, kernel command line, an earlier modprobe) is
  // used as it is: its region is not ours to check.
  const state = assessRegions(loaded, paths, { arch: options.arch ?? runningArch() });
  const config = state.config;
  for (const line of state.warnings) report(line); // "Cannot ..., ignoring": a warning, not a failed step
  for (const line of state.notes) report(`crashkeep: ${line}`);
  const ramoopsBound = state.ramoopsBound;
  if (ramoopsBound) {
    const r = ramoopsBound;
    const same = r.memAddress === config.ramoops.address && r.memSize === config.ramoops.sizeBytes;
    report(`crashkeep: ramoops already bound at ${hex(r.memAddress)} (${r.memSize} bytes, records of ${r.recordSize})` +
      (same ? "" : `, not at the configured ${hex(config.ramoops.address)}: using the bound one, ignoring ramoops config`));
  } else if (state.dtRamoops) {
    report(`crashkeep: ramoops from the device tree's ${state.dtRamoops.path} (${formatSize(config.ramoops.sizeBytes)} at ${hex(config.ramoops.address)})`);
  }
  // An I/O error (EIO...), not a configuration, kept the journal from being
  // read: pstore is then left for a later run, since collecting it alone
  // would split the previous boot into two archive entries.
  let journalUnread: string | undefined;
  const ioError = (err: unknown): string | undefined => {
    const code = (e: unknown) => (e instanceof Error ? (e as { code?: unknown }).code : undefined);
    return err instanceof Error && (typeof code(err) === "string" || typeof code(err.cause) === "string") ? err.message : undefined;
  };
  const findPhram = (): ReturnType<typeof findMtd> => {
    try {
      return findMtd(config.phram.name, paths, { strict: true });
    } catch (err) {
      journalUnread ??= ioError(err);
      fail(`Cannot read "/proc/mtd": ${err instanceof Error ? err.message : String(err)}`);
      return undefined;
    }
  };
  const phramBound = state.phramBound;
  if (phramBound) report(`crashkeep: phram device "${config.phram.name}" already present (mtd${phramBound.index})`);
  else if (state.dtPhram) report(`crashkeep: phram "${config.phram.name}" from the device tree's ${state.dtPhram.path} (${formatSize(config.phram.sizeBytes)} at ${hex(config.phram.address)})`);
  if (state.iomemError !== undefined) {
    fail(`Cannot read "/proc/iomem": ${state.iomemError}`);
    // Unreadable, not absent: an I/O error that also keeps the journal from being found.
    if (!state.iomemError.startsWith("ENOENT")) journalUnread ??= `/proc/iomem: ${state.iomemError}`;
  }
  const regions: RegionCheck[] = state.checks.filter((r) => (r.region.name === "ramoops" ? !ramoopsBound : !phramBound));
  const regionsOk = regions.every((r) => r.ok);
  if (!regionsOk) {
    for (const r of regions) if (!r.ok) fail(`Cannot use the ${r.region.name} region: ${r.reason}`);
    fail(`crashkeep: ${adviceLine(state.needs)}; no module inserted`);
  }

  // 3. Modules, idempotently, only over checked regions.
  const modules: string[] = [];
  if (regionsOk && config.modules.load !== "none") {
    // One target at a time: a missing phram must not cost the panic log.
    // A device-tree node binds when the module loads with no parameters;
    // parameters would add a second device over the same RAM (phram checks
    // no overlap; ramoops registers a "dummy" device: docs/AARCH64.md).
    const targets: Array<[string, string[]]> = [];
    if (!phramBound) targets.push(["phram", state.dtPhram ? [] : phramParams(config)]);
    if (!ramoopsBound) targets.push(["ramoops", state.dtRamoops ? [] : ramoopsParams(config)]);
    for (const target of targets) {
      try {
        const plan = planModules([target], paths, config.modules.dir);
        for (const line of executePlan(plan, config.modules.load, paths)) {
          if (modules.includes(line)) continue;
          modules.push(line);
          report(`crashkeep: module ${line}`);
        }
      } catch (err) {
        fail(err instanceof Error ? err.message : String(err));
      }
    }
  }

  // 4. The phram device by name, /dev/mtdN, and the stable /dev/mtdchar/<name>.
  let device: InitResult["device"];
  if (regionsOk) {
    let mtd = findPhram();
    if (!mtd && !state.dtPhram && existsSync(paths.sys(PHRAM_SYSFS_PARAM))) {
      // phram is loaded (by an earlier boot step, or built in) without our device: add it at run time.
      try {
        writeFileSync(paths.sys(PHRAM_SYSFS_PARAM), phramParams(config)[0]?.slice("phram=".length) ?? "");
        mtd = findPhram();
      } catch (err) {
        fail(`Cannot add phram device "${config.phram.name}": ${err instanceof Error ? err.message : String(err)}`);
      }
    }
    if (!mtd) {
      fail(`Cannot find MTD device "${config.phram.name}" in /proc/mtd`);
    } else {
      const node = paths.sys(`/dev/mtd${mtd.index}`);
      if (!(await waitForNode(node, config.modules.deviceWaitSeconds * 1000))) {
        fail(`Cannot find "${node}" after ${config.modules.deviceWaitSeconds} s (is devtmpfs or mdev running?)`);
      } else {
        try {
          const link = linkMtdchar(config.phram.name, mtd.index, paths);
          device = { name: mtd.name, index: mtd.index, node, link };
        } catch (err) {
          fail(`Cannot link "/dev/mtdchar/${config.phram.name}": ${err instanceof Error ? err.message : String(err)}`);
        }
        // The other commands (watch, core, note, dump) find the journal by
        // the config file's phram.name: when the device tree's label differs,
        // that name links to the same device.
        if (device && loaded.phram.name !== config.phram.name && loaded.journal.device === undefined) {
          try {
            const alias = linkMtdchar(loaded.phram.name, mtd.index, paths);
            report(`crashkeep: ${alias} links to mtd${mtd.index} too (the config's phram.name)`);
          } catch (err) {
            fail(`Cannot link "/dev/mtdchar/${loaded.phram.name}": ${err instanceof Error ? err.message : String(err)}`);
          }
        }
      }
    }
  }

  // The archive's file system: read-only (nothing can be archived; the
  // evidence stays in the journal and pstore) or tmpfs (archived, then lost at
  // the next reboot) is said with what to set, before anything is collected.
  const storage = archiveStorageProblem(config.archive.dir, paths);
  if (storage?.readOnly) fail(storage.message);
  else if (storage) report(storage.message);

  // 5–6. pstore: mount, collect into the archive, clear, decide the reason.
  let collected: Collected | undefined;
  try {
    mountPstore(paths);
  } catch (err) {
    fail(err instanceof Error ? err.message : String(err));
  }

  // The journal: what the previous boot left there joins the pstore records.
  let journalDevice: BlockDevice | undefined;
  let jb: JournalBoot | undefined;
  let journalState: InitResult["journal"];
  if (device) {
    try {
      journalDevice = openDevice(device.link, { write: true, paths });
      jb = openBootJournal(journalDevice, config, paths);
      // Defaults standing in for a config that could not be read never re-lay out the journal.
      if (configErrors.length > 0) jb.relayout = false;
    } catch (err) {
      fail(`Cannot read the journal on "${device.link}": ${err instanceof Error ? err.message : String(err)}`);
      journalUnread ??= ioError(err);
    }
  }
  // init already ran in this boot (the journal's current boot is this one):
  // there is no previous boot in the journal to collect, only pstore.
  const thisBoot = readBootId(paths);
  const sameBoot = jb !== undefined && jb.evidence.retained && thisBoot !== UNKNOWN_BOOT_ID && jb.evidence.bootId === thisBoot;
  if (sameBoot) report("crashkeep: init already ran in this boot; only pstore is collected");
  // Crash reports whose journal write failed (EIO...) are written now: into a
  // retained journal before its collection, so that each joins the boot it
  // belongs to; into a journal formatted afresh (cold boot) after the format.
  // Nothing waiting costs one stat (docs/FORMAT.md "Journal writes that failed").
  // Returns true when something was tried: it may be on the device even if the
  // attempt failed (after the record's commit), so the evidence is read again.
  const retryJournal = (journal: Journal): boolean => {
    const retried = retryPending(journal, reportsDir(config, paths));
    for (const w of retried.written) report(`crashkeep: wrote the report ${w.report} into the journal (record ${w.seq}), after an earlier failure`);
    for (const line of retried.problems) fail(line);
    return retried.written.length > 0 || retried.problems.length > 0;
  };
  if (jb && journalUnread === undefined && jb.evidence.retained && retryJournal(jb.journal)) {
    try {
      jb.evidence = readBootEvidence(jb.journal);
    } catch (err) {
      fail(`Cannot read the journal on "${device?.link}": ${err instanceof Error ? err.message : String(err)}`);
      journalUnread ??= ioError(err);
    }
  }
  try {
    if (journalUnread !== undefined) {
      fail(`Cannot collect the previous boot: the journal is unreadable (${journalUnread}); pstore records stay in pstore until it is readable`);
    } else {
      try {
        collected = collectPreviousBoot(config, paths, { journal: sameBoot ? undefined : jb?.evidence });
        report(collected.summary);
        writeKmsg(paths, collected.summary);
        for (const line of collected.clearErrors) fail(line);
        if (collected.error) fail(/^Cannot /.test(collected.error) ? collected.error : `Cannot archive the previous boot: ${collected.error}`);
        // The outbox entry follows the archive entry (upload off: nothing happens).
        if (collected.entry) for (const line of queueBoot(config, paths, { entry: collected.entry, entryDir: collected.entryDir })) fail(line);
      } catch (err) {
        fail(`Cannot collect the previous boot: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
    if (jb && journalDevice) {
      const archived = collected !== undefined && collected.error === undefined;
      try {
        const bootId = thisBoot;
        const how = finishJournalBoot(jb, journalDevice, config, { bootId, archived: archived && !sameBoot, paths });
        journalState = { retained: jb.evidence.retained, records: jb.evidence.records.length, corruptRecords: jb.evidence.corruptRecords, action: how, bootId };
        if (how === "formatted") report(`crashkeep: journal on ${device?.link} formatted${jb.relayout ? " (layout changed)" : ""}`);
        if (how === "formatted" && !jb.evidence.retained) retryJournal(jb.journal);
        if (!archived && jb.evidence.records.length > 0) report(`crashkeep: ${jb.evidence.records.length} journal record(s) kept on the device until the archive can take them`);
      } catch (err) {
        fail(`Cannot open this boot's journal record: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
  } finally {
    journalDevice?.close();
  }
  return { ok: errors.length === 0, config, configFile, configErrors, regions, modules, device, journal: journalState, collected, errors };
}

/** One line into the kernel log (printk level 5, notice); failures are not fatal: false says it was not written. */
export function writeKmsg(paths: Paths, line: string): boolean {
  try {
    writeFileSync(paths.sys("/dev/kmsg"), `<5>${line.slice(0, 900)}\n`, { flag: "a" });
    return true;
  } catch {
    // no /dev/kmsg (a fake tree, a container), or the write failed: the caller decides
    return false;
  }
}

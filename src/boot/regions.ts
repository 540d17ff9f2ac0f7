// The regions as the running kernel has them, for init and status alike:
// the device tree's ramoops and phram nodes override the config, backends
// already bound are noted, and each region is checked by the route of its
// architecture (x86: memmap= ranges in /proc/iomem; arm64: a /reserved-memory
// node or RAM above mem=), with the advice that fits when one is not.
import { readFileSync } from "node:fs";
import type { Config } from "../config/schema.ts";
import { configRegions } from "../config/memmap.ts";
import { applyDeviceTree } from "../config/devicetree-config.ts";
import { kernelNeeds, type KernelNeeds } from "../config/kernel-needs.ts";
import { checkRegionArm64, parseMemLimit } from "../system/arm64-regions.ts";
import { boundRamoops, type BoundRamoops } from "../system/bound.ts";
import { platformBound, readDeviceTree, type DeviceTreeFacts, type DtPhram, type DtRamoops } from "../system/devicetree.ts";
import { checkRegion, parseIomem, type RegionCheck } from "../system/iomem.ts";
import type { KernelArch } from "../system/kernel-arch.ts";
import { findMtd, type MtdDevice } from "../system/mtd.ts";
import type { Paths } from "../system/paths.ts";

export interface RegionState {
  arch: KernelArch;
  /** The config with the device tree's values for the regions it binds. */
  config: Config;
  deviceTree: DeviceTreeFacts | undefined;
  dtRamoops: (DtRamoops & { bound: boolean }) | undefined;
  dtPhram: (DtPhram & { bound: boolean }) | undefined;
  /** Config values the device tree overrides, one line per region ("..., ignoring"). */
  notes: string[];
  /** Device-tree problems ("..., ignoring"). */
  warnings: string[];
  /** ramoops' parameters when a ramoops device has probed (bound.ts). */
  ramoopsBound: BoundRamoops | undefined;
  /** The phram MTD device, found by its (effective) name in /proc/mtd. */
  phramBound: MtdDevice | undefined;
  memLimit: number | undefined;
  /** /proc/iomem's read error, when it could not be read. */
  iomemError: string | undefined;
  /** Every region of the effective config, checked by its architecture's route. */
  checks: RegionCheck[];
  needs: KernelNeeds;
}

function readText(path: string): string | undefined {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return undefined;
  }
}

export function assessRegions(config: Config, paths: Paths, options: { arch: KernelArch }): RegionState {
  const { arch } = options;
  const read = readDeviceTree(paths);
  const dt = read.facts;
  const applied = applyDeviceTree(config, dt);
  const effective = applied.config;
  const warnings = [...read.warnings, ...(dt?.warnings ?? []), ...applied.warnings];

  const memLimit = parseMemLimit(readText(paths.sys("/proc/cmdline")) ?? "");
  let iomemError: string | undefined;
  let iomem: string | undefined;
  try {
    iomem = readFileSync(paths.sys("/proc/iomem"), "utf8");
  } catch (err) {
    iomemError = err instanceof Error ? err.message : String(err);
  }
  const ranges = iomem === undefined ? [] : parseIomem(iomem);
  const checks = configRegions(effective).map((region): RegionCheck => {
    if (iomem === undefined) return { ok: false, region, reason: "/proc/iomem is unreadable" };
    return arch === "x86" ? checkRegion(region, ranges) : checkRegionArm64(region, { ranges, dt, memLimit });
  });

  // The snippet takes the running tree's cells, so that it merges with its /reserved-memory.
  const cellsOk = dt !== undefined && [1, 2].includes(dt.cells.address) && [1, 2].includes(dt.cells.size);
  const needs = kernelNeeds(effective, arch, { memory: dt?.memory ?? [], ...(cellsOk ? { cells: dt.cells } : {}) });
  return {
    arch,
    config: effective,
    deviceTree: dt,
    dtRamoops: applied.ramoops ? { ...applied.ramoops, bound: platformBound(applied.ramoops.deviceName, paths) } : undefined,
    dtPhram: applied.phram ? { ...applied.phram, bound: platformBound(applied.phram.deviceName, paths) } : undefined,
    notes: applied.notes,
    warnings,
    ramoopsBound: boundRamoops(paths),
    phramBound: findMtd(effective.phram.name, paths),
    memLimit,
    iomemError,
    checks,
    needs,
  };
}

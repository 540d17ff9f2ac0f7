// Is a region reserved on arm64, where memmap= does not exist? Two routes
// (docs/AARCH64.md):
// - a device-tree /reserved-memory node covers it, and /proc/iomem shows it
//   "reserved": nested in "System RAM" for a mapped node, at top level for a
//   no-map one (arch/arm64/kernel/setup.c request_standard_resources and
//   reserve_memblock_reserved_regions);
// - mem= caps Linux below it: then /proc/iomem does not show it at all, and
//   it must lie above the cap and inside the RAM the device tree's memory
//   nodes describe (arch/arm64/mm/init.c early_mem, mm/memblock.c
//   __find_max_addr).
// Nothing else counts: a region in plain System RAM is Linux's own memory.
import { hex } from "../config/units.ts";
import type { Region } from "../config/memmap.ts";
import type { DeviceTreeFacts, DtRange, ReservedNode } from "./devicetree.ts";
import type { IomemRange, RegionCheck } from "./iomem.ts";

export interface Arm64Context {
  ranges: readonly IomemRange[];
  dt: DeviceTreeFacts | undefined;
  /** mem= from /proc/cmdline, bytes; undefined when absent. */
  memLimit: number | undefined;
}

/** lib/cmdline.c memparse: a base-0 number (0x.., 0.. octal) and an optional K/M/G/T/P/E suffix. */
export function memparse(text: string): number | undefined {
  const m = /^(0x[0-9a-f]+|0[0-7]*|[1-9][0-9]*)([kmgtpe]?)/i.exec(text);
  if (!m) return undefined;
  const [, digits = "", suffix = ""] = m;
  const n = digits.startsWith("0x") || digits.startsWith("0X") ? Number.parseInt(digits.slice(2), 16)
    : digits.length > 1 && digits.startsWith("0") ? Number.parseInt(digits.slice(1), 8)
      : Number(digits);
  const shift = " kmgtpe".indexOf(suffix.toLowerCase() || " ");
  const value = n * 1024 ** shift;
  return Number.isSafeInteger(value) ? value : undefined;
}

/**
 * The last mem= of the kernel command line (each early_mem call overwrites
 * memory_limit), page-aligned down; undefined when absent or 0, which
 * memblock_mem_limit_remove_map ignores.
 */
export function parseMemLimit(cmdline: string): number | undefined {
  let limit: number | undefined;
  for (const word of cmdline.trim().split(/\s+/)) {
    if (!word.startsWith("mem=")) continue;
    const n = memparse(word.slice(4));
    if (n !== undefined) limit = n - (n % 4096); // early_mem: & PAGE_MASK
  }
  return limit === 0 ? undefined : limit;
}

/** The address mem= caps Linux at: __find_max_addr over the RAM ranges in address order; undefined when the limit exceeds the RAM. */
export function memCapAddress(memory: readonly DtRange[], limit: number): number | undefined {
  let left = limit;
  for (const r of [...memory].sort((a, b) => a.start - b.start)) {
    if (left <= r.size) return r.start + left;
    left -= r.size;
  }
  return undefined;
}

/** The mem= that keeps Linux below `address`: the RAM below it (memory ranges from the device tree). */
export function memLimitBelow(memory: readonly DtRange[], address: number): number {
  return memory.reduce((sum, r) => sum + Math.max(0, Math.min(r.start + r.size, address) - r.start), 0);
}

const RESERVED = new Set(["reserved", "Reserved"]);

function nodeAccepts(node: ReservedNode, region: Region): string | undefined {
  if (node.compatible.includes(region.name)) return undefined;
  if (node.compatible.length > 0) return `it belongs to ${node.path} (compatible "${node.compatible.join('", "')}")`;
  // A plain reservation: crashkeep inserts the module with parameters. phram.c
  // phram_map then uses ioremap, which arm64 refuses on mapped RAM
  // (arch/arm64/mm/ioremap.c: pfn_is_map_memory).
  if (region.name === "phram" && !node.noMap) return `${node.path} lacks no-map, and phram= maps its region with ioremap, which refuses mapped RAM`;
  return undefined;
}

function ramText(memory: readonly DtRange[]): string {
  return memory.map((r) => `${hex(r.start)}-${hex(r.start + r.size - 1)}`).join(", ");
}

/** Check one region by the arm64 routes. */
export function checkRegionArm64(region: Region, ctx: Arm64Context): RegionCheck {
  const first = region.start;
  const last = region.start + region.size - 1;
  const where = `${region.name} region ${hex(first)}-${hex(last)}`;
  const fail = (reason: string): RegionCheck => ({ ok: false, region, reason: `${where} ${reason}` });
  const top = ctx.ranges.filter((r) => r.depth === 0);
  if (top.length > 0 && top.every((r) => r.start === 0 && r.end === 0)) {
    return { ok: false, region, reason: "/proc/iomem shows no addresses (not running as root)" };
  }
  const meets = (a: number, b: number) => a <= last && first <= b;

  // Route 1: a /reserved-memory node.
  const nodes = ctx.dt?.reserved ?? [];
  const covering = nodes.find((n) => n.reg.some((r) => r.start <= first && last <= r.start + r.size - 1));
  if (covering) {
    const refused = nodeAccepts(covering, region);
    if (refused) return fail(`is reserved, but ${refused}`);
    const shown = ctx.ranges.find((r) => RESERVED.has(r.name) && r.start <= first && last <= r.end);
    if (!shown) {
      return fail(`is in the device tree's ${covering.path}, but /proc/iomem does not show it reserved (the kernel did not reserve it: see "Reserved memory:" in dmesg)`);
    }
    return { ok: true, region, range: shown, route: "device-tree", node: covering.path };
  }
  const partial = nodes.find((n) => n.reg.some((r) => meets(r.start, r.start + r.size - 1)));
  if (partial) return fail(`is not inside the device tree's ${partial.path} (${ramText(partial.reg)})`);

  const hit = top.find((r) => meets(r.start, r.end));
  if (hit) {
    if (hit.name === "System RAM") {
      return fail(`overlaps System RAM ${hex(hit.start)}-${hex(hit.end)}, and no /reserved-memory node of the device tree covers it`);
    }
    if (RESERVED.has(hit.name)) {
      return fail(`meets "${hit.name}" ${hex(hit.start)}-${hex(hit.end)}, which no /reserved-memory node of the device tree accounts for (firmware memory)`);
    }
    return fail(`is not RAM (it meets "${hit.name}" ${hex(hit.start)}-${hex(hit.end)})`);
  }

  // Route 2: RAM above the mem= cap, which /proc/iomem does not list.
  const memory = ctx.dt?.memory ?? [];
  if (memory.length === 0) return fail("is not in /proc/iomem, and there is no device-tree memory node to tell whether it is RAM");
  if (!memory.some((r) => r.start <= first && last <= r.start + r.size - 1)) {
    return fail(`is not inside the machine's RAM (device tree memory ${ramText(memory)})`);
  }
  if (ctx.memLimit === undefined) return fail("is RAM that /proc/iomem does not show, but the kernel command line has no mem= that keeps Linux below it");
  const cap = memCapAddress(memory, ctx.memLimit);
  if (cap === undefined || first < cap) {
    return fail(`is below the mem= cap${cap === undefined ? " (mem= is larger than the RAM)" : ` at ${hex(cap)}`}`);
  }
  return { ok: true, region, route: "mem-limit" };
}

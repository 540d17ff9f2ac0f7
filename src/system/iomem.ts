// /proc/iomem: is each configured region reserved RAM that nothing else uses?
// memmap=nn$ss makes an E820_TYPE_RESERVED range shown as "Reserved";
// memmap=nn!ss shows "Persistent Memory (legacy)" (arch/x86/kernel/e820.c
// e820_type_to_string). phram's ioremap refuses "System RAM" (phram.c).
import { hex } from "../config/units.ts";
import type { Region } from "../config/memmap.ts";

export interface IomemRange {
  start: number;
  /** Inclusive, as /proc/iomem prints it. */
  end: number;
  name: string;
  depth: number;
}

const RESERVED_NAMES = new Set(["Reserved", "reserved", "Persistent Memory (legacy)"]);

/** Parse /proc/iomem text; lines that are not "start-end : name" are skipped. */
export function parseIomem(text: string): IomemRange[] {
  const out: IomemRange[] = [];
  for (const line of text.split("\n")) {
    const m = /^( *)([0-9a-f]+)-([0-9a-f]+) : (.*)$/i.exec(line);
    if (!m) continue;
    const [, indent = "", a = "0", b = "0", name = ""] = m;
    out.push({ start: Number.parseInt(a, 16), end: Number.parseInt(b, 16), name, depth: indent.length / 2 });
  }
  return out;
}

/** How a region is kept from Linux: memmap= (x86), a device-tree node or a mem= cap (arm64, arm64-regions.ts). */
export type RegionRoute = "memmap" | "device-tree" | "mem-limit";

export type RegionCheck =
  | { ok: true; region: Region; route: RegionRoute; range?: IomemRange; node?: string }
  | { ok: false; region: Region; reason: string };

/** Check one region against the top-level ranges of /proc/iomem. */
export function checkRegion(region: Region, ranges: readonly IomemRange[]): RegionCheck {
  const first = region.start;
  const last = region.start + region.size - 1;
  const top = ranges.filter((r) => r.depth === 0);
  if (top.length > 0 && top.every((r) => r.start === 0 && r.end === 0)) {
    return { ok: false, region, reason: "/proc/iomem shows no addresses (not running as root)" };
  }
  const ram = top.find((r) => r.name === "System RAM" && r.start <= last && first <= r.end);
  if (ram) {
    return { ok: false, region, reason: `${region.name} region ${hex(first)}-${hex(last)} overlaps System RAM ${hex(ram.start)}-${hex(ram.end)}` };
  }
  const inside = top.find((r) => RESERVED_NAMES.has(r.name) && r.start <= first && last <= r.end);
  if (!inside) {
    const what = top.find((r) => r.start <= last && first <= r.end);
    return {
      ok: false,
      region,
      reason: `${region.name} region ${hex(first)}-${hex(last)} is not inside a reserved range` +
        (what ? ` (it meets "${what.name}" ${hex(what.start)}-${hex(what.end)})` : " (no range of /proc/iomem covers it)"),
    };
  }
  return { ok: true, region, route: "memmap", range: inside };
}

// The memmap= arguments that reserve the configured regions (x86:
// arch/x86/kernel/e820.c parse_memmap_one, "nn$ss" → E820_TYPE_RESERVED).
import type { Config } from "./schema.ts";
import { hex, memparseSize } from "./units.ts";

export interface Region {
  name: "ramoops" | "phram";
  start: number;
  size: number;
}

export function configRegions(config: Config): Region[] {
  return [
    { name: "ramoops", start: config.ramoops.address, size: config.ramoops.sizeBytes },
    { name: "phram", start: config.phram.address, size: config.phram.sizeBytes },
  ];
}

/** One memmap= per contiguous run of regions, e.g. ["memmap=16M$0x7000000"]. */
export function requiredMemmap(regions: readonly Region[]): string[] {
  const sorted = [...regions].sort((a, b) => a.start - b.start);
  const runs: { start: number; end: number }[] = [];
  for (const r of sorted) {
    const last = runs.at(-1);
    if (last && r.start <= last.end) last.end = Math.max(last.end, r.start + r.size);
    else runs.push({ start: r.start, end: r.start + r.size });
  }
  return runs.map((r) => `memmap=${memparseSize(r.end - r.start)}$${hex(r.start)}`);
}

// What the kernel needs so that the configured regions are reserved RAM,
// per architecture: memmap= on x86 (memmap.ts); on arm64, where memmap= does
// not exist, /reserved-memory nodes in the device tree or a mem= cap below
// the regions (docs/AARCH64.md).
import type { Config } from "./schema.ts";
import { configRegions, requiredMemmap, type Region } from "./memmap.ts";
import { hex, memparseSize, PAGE_BYTES } from "./units.ts";
import type { KernelArch } from "../system/kernel-arch.ts";
import type { DtRange } from "../system/devicetree.ts";
import { memLimitBelow } from "../system/arm64-regions.ts";

export interface KernelNeeds {
  arch: KernelArch;
  /** x86: the memmap= arguments; [] on arm64. */
  memmap: string[];
  /** arm64: the /reserved-memory node to add, as device-tree source. */
  reservedMemory: string | undefined;
  /** arm64: "mem=448M", when the RAM below the regions is known (device-tree memory nodes). */
  memLimit: string | undefined;
  /** arm64: how to work mem= out when the RAM is not known ("mem= set to the amount of RAM below 0x7000000"), or why there is none. */
  memLimitNote: string | undefined;
  /** arm64: the regions lie outside the machine's RAM: neither route can work. */
  outsideRam: string | undefined;
  /**
   * arm64, RAM not known (checked off the device): the regions lie below the
   * start of QEMU virt's RAM, where x86 configs put them; boards differ.
   */
  ramNote: string | undefined;
}

/** Where the RAM of QEMU's arm64 virt machine starts (hw/arm/virt.c, VIRT_MEM). */
export const QEMU_VIRT_RAM_START = 0x4000_0000;

/** One /reserved-memory reg value: `<0x0 0x5c000000 0x0 0x100000>` for two cells each. */
function regCells(start: number, size: number, addressCells: number, sizeCells: number): string {
  const cells = (n: number, count: number): string[] => {
    const hi = Math.floor(n / 2 ** 32);
    const lo = n % 2 ** 32;
    return count === 1 ? [hex(lo)] : [hex(hi), hex(lo)];
  };
  return `<${[...cells(start, addressCells), ...cells(size, sizeCells)].join(" ")}>`;
}

/**
 * The device-tree source that reserves and binds both regions. Appended to a
 * board's .dts it merges with an existing /reserved-memory (dtc joins nodes
 * of the same path); the cells must then match the board's. Properties:
 * Documentation/devicetree/bindings/reserved-memory/ramoops.yaml and phram.yaml,
 * read by fs/pstore/ram.c ramoops_parse_dt and drivers/mtd/devices/phram.c.
 */
export function reservedMemorySnippet(config: Config, cells: { address: number; size: number } = { address: 2, size: 2 }): string {
  const r = config.ramoops;
  const p = config.phram;
  const optional = (name: string, value: number) => (value === 0 ? [] : [`\t\t\t${name} = <${hex(value)}>;`]);
  return [
    "/ {",
    "\treserved-memory {",
    `\t\t#address-cells = <${cells.address}>;`,
    `\t\t#size-cells = <${cells.size}>;`,
    "\t\tranges;",
    "",
    `\t\tramoops@${r.address.toString(16)} {`,
    '\t\t\tcompatible = "ramoops";',
    `\t\t\treg = ${regCells(r.address, r.sizeBytes, cells.address, cells.size)};`,
    `\t\t\trecord-size = <${hex(r.recordSizeBytes)}>;`,
    ...optional("console-size", r.consoleSizeBytes),
    ...optional("pmsg-size", r.pmsgSizeBytes),
    ...optional("ftrace-size", r.ftraceSizeBytes),
    ...(r.eccBytes === 0 ? [] : [`\t\t\tecc-size = <${r.eccBytes}>;`]),
    ...(r.memType === 0 ? [] : [`\t\t\tmem-type = <${r.memType}>;`]),
    `\t\t\tmax-reason = <${r.maxReason}>;`,
    "\t\t};",
    "",
    `\t\tphram@${p.address.toString(16)} {`,
    '\t\t\tcompatible = "phram";',
    `\t\t\tlabel = "${p.name}";`,
    `\t\t\treg = ${regCells(p.address, p.sizeBytes, cells.address, cells.size)};`,
    "\t\t\tno-map;",
    "\t\t};",
    "\t};",
    "};",
  ].join("\n");
}

/** What to add for `arch`; `memory` (device-tree memory nodes) makes the mem= advice exact. */
export function kernelNeeds(config: Config, arch: KernelArch, options: { memory?: readonly DtRange[]; cells?: { address: number; size: number } } = {}): KernelNeeds {
  const regions = configRegions(config);
  const none = { memLimit: undefined, memLimitNote: undefined, outsideRam: undefined, ramNote: undefined };
  if (arch === "x86") return { arch, memmap: requiredMemmap(regions), reservedMemory: undefined, ...none };
  const lowest = Math.min(...regions.map((r) => r.start));
  const memory = options.memory ?? [];
  const needs: KernelNeeds = { arch, memmap: [], reservedMemory: reservedMemorySnippet(config, options.cells), ...none };
  if (memory.length === 0) {
    const ramNote = lowest < QEMU_VIRT_RAM_START
      ? `the regions start at ${hex(lowest)}, below ${hex(QEMU_VIRT_RAM_START)} where the RAM of QEMU's virt machine starts (x86 configs use such addresses); check them against the board's memory map (its device tree's /memory nodes)`
      : undefined;
    return { ...needs, memLimitNote: `mem= set to the amount of RAM below ${hex(lowest)}`, ramNote };
  }
  if (!regions.every((g) => insideRam(g, memory))) {
    const ram = memory.map((m) => `${hex(m.start)}-${hex(m.start + m.size - 1)}`).join(", ");
    return { ...needs, outsideRam: `the regions are not inside the machine's RAM (device tree memory ${ram}): choose addresses inside it` };
  }
  const below = memLimitBelow(memory, lowest);
  if (below === 0) return { ...needs, memLimitNote: `no mem= can keep Linux below the regions: no RAM lies below ${hex(lowest)}` };
  return { ...needs, memLimit: `mem=${memparseSize(below)}` };
}

function insideRam(region: Region, memory: readonly DtRange[]): boolean {
  return memory.some((m) => m.start <= region.start && region.start + region.size <= m.start + m.size);
}

/** phram from the device tree always erases in PAGE_SIZE units (phram_probe); a different config value is a mismatch. */
export function dtEraseSizeNote(config: Config): string | undefined {
  const e = config.phram.eraseSizeBytes;
  return e === PAGE_BYTES ? undefined : `phram.eraseSizeBytes is ${e}, but phram bound from the device tree uses PAGE_SIZE (${PAGE_BYTES} on the usual arm64 kernels)`;
}

/** The one-line advice after a failed region check (init, status); never memmap= on arm64. */
export function adviceLine(needs: KernelNeeds): string {
  if (needs.arch === "x86") return `add ${needs.memmap.join(" ")} to the kernel command line`;
  if (needs.outsideRam) return needs.outsideRam;
  return "add /reserved-memory nodes for ramoops and phram to the device tree (crashkeep config check prints them)" +
    (needs.memLimit ? ` or boot with ${needs.memLimit}` : "");
}

/** What `crashkeep config check` prints about the kernel, one line per entry (the snippet is one multi-line entry). */
export function kernelNeedsText(needs: KernelNeeds, config: Config): string[] {
  if (needs.arch === "x86") return [`kernel command line needs: ${needs.memmap.join(" ")}`];
  const lowest = Math.min(...configRegions(config).map((r) => r.start));
  const lines: string[] = [];
  if (needs.outsideRam) lines.push(`warning: ${needs.outsideRam}`);
  lines.push("device tree needs (arm64 has no memmap=), in the board's .dts:", needs.reservedMemory ?? "");
  if (needs.memLimit) lines.push(`or kernel command line needs: ${needs.memLimit} (Linux then keeps only the RAM below ${hex(lowest)})`);
  else if (needs.memLimitNote?.startsWith("mem=")) lines.push(`or kernel command line needs: ${needs.memLimitNote}`);
  else if (needs.memLimitNote) lines.push(`note: ${needs.memLimitNote}`);
  if (needs.ramNote) lines.push(`note: ${needs.ramNote}`);
  const erase = dtEraseSizeNote(config);
  if (erase) lines.push(`note: ${erase}`);
  return lines;
}

// The device-tree fixtures (test/fixtures/dt, remade by make.sh) and the
// guest facts they go with (aarch64-recipe.md), shared by the tests.
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { DtNode } from "../../../src/system/fdt.ts";

const DIR = join(import.meta.dir, "../../fixtures/dt");

/** QEMU virt's own DT (-cpu cortex-a57 -smp 1 -m 512), byte for byte as dumped: 1 MiB with free space. */
export function virtDtb(): Uint8Array {
  return Bun.gunzipSync(readFileSync(join(DIR, "virt-512m.dtb.gz")));
}

/** virt-512m-reserved (ramoops@5c000000, phram@5d000000 "persist"), virt-512m-nolabel, virt-512m-cells1. */
export function fixtureDtb(name: "virt-512m-reserved" | "virt-512m-nolabel" | "virt-512m-cells1"): Uint8Array {
  return new Uint8Array(readFileSync(join(DIR, `${name}.dtb`)));
}

export const FIXTURE_DIR = DIR;

/** Expand a node tree into the /proc/device-tree layout: a directory per node, a file per property. */
export function writeDtDirectory(node: DtNode, dir: string): void {
  mkdirSync(dir, { recursive: true });
  for (const [name, value] of node.props) writeFileSync(join(dir, name), value);
  for (const child of node.children) writeDtDirectory(child, join(dir, child.name));
}

/**
 * /proc/iomem of the virt guest booted with virt-512m-reserved.dtb, as
 * arch/arm64/kernel/setup.c builds it: the mapped ramoops node is a
 * "reserved" child of System RAM, the no-map phram node a top-level
 * "reserved" (the layout seen in the guest, aarch64-recipe.md).
 */
export const IOMEM_ARM64_DT = `09000000-09000fff : pl011@9000000
  09000000-09000fff : 9000000.pl011 pl011@9000000
09010000-09010fff : pl031@9010000
  09010000-09010fff : rtc-pl031
40000000-5cffffff : System RAM
  40210000-4167ffff : Kernel code
  41680000-4187ffff : reserved
  41880000-41c0ffff : Kernel data
  48000000-483fffff : reserved
  5c000000-5c0fffff : reserved
  5cc00000-5cffffff : reserved
5d000000-5dffffff : reserved
5e000000-5fffffff : System RAM
  5e000000-5effffff : reserved
  5f7f0000-5fffffff : reserved
`;

/** /proc/iomem of the virt guest (plain DT) booted with mem=384M: nothing above 0x57ffffff. */
export const IOMEM_ARM64_MEM384 = `09000000-09000fff : pl011@9000000
  09000000-09000fff : 9000000.pl011 pl011@9000000
40000000-57ffffff : System RAM
  40210000-4167ffff : Kernel code
  41680000-4187ffff : reserved
  41880000-41c0ffff : Kernel data
  48000000-483fffff : reserved
  57c00000-57ffffff : reserved
`;

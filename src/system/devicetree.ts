// What the device tree the kernel booted with says about RAM: the memory
// nodes, and the /reserved-memory children that bind ramoops and phram.
//
// Reading strategy: the flattened blob at /sys/firmware/fdt first. It is
// byte for byte the tree the kernel's early scan reserved memory from
// (drivers/of/fdt.c fdt_scan_reserved_mem runs on initial_boot_params before
// the tree is unflattened; of_fdt_raw_init exposes the same blob, mode 0400),
// one read, and a pure parser (fdt.ts) that the unit tests run on real DTBs.
// The unflattened /proc/device-tree (= /sys/firmware/devicetree/base: one
// directory per node, one file per property) is the fallback when the blob
// is absent or unreadable: not root, or the blob changed after boot and
// of_fdt_raw_init refused to create it.
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { baseName, FDT_MAX_BYTES, FDT_MAX_DEPTH, FDT_MAX_NODES, findNode, parseFdt, propRanges, propString, propStrings, propU32, type DtNode } from "./fdt.ts";
import type { Paths } from "./paths.ts";

export const FDT_BLOB = "/sys/firmware/fdt";
export const DT_DIRECTORY = "/proc/device-tree";
/** A property file under /proc/device-tree larger than this is not read (the whole blob is bounded the same way). */
const DT_PROPERTY_MAX_BYTES = FDT_MAX_BYTES;

/** include/linux/of.h OF_ROOT_NODE_{ADDR,SIZE}_CELLS_DEFAULT, used by early_init_dt_scan_root. */
const ROOT_CELLS_DEFAULT = 1;
/** dt_mem_next_cell reads at most two cells into a u64 (include/linux/of.h of_read_number). */
const MAX_CELLS = 2;

export interface DtRange {
  start: number;
  size: number;
}

/** A /reserved-memory child the kernel honours. */
export interface ReservedNode {
  /** "/reserved-memory/ramoops@5c000000" */
  path: string;
  node: DtNode;
  compatible: string[];
  /** Every reg entry; the platform device gets the first (fdt_reserved_mem_save_node). */
  reg: DtRange[];
  noMap: boolean;
  /** The platform device the kernel creates for it: "%llx.%pOFn" (drivers/of/platform.c of_device_make_bus_id). */
  deviceName: string;
}

export interface DeviceTreeFacts {
  /** Where it was read from (under the root prefix). */
  source: string;
  /** The root's #address-cells and #size-cells, which memory and /reserved-memory regs use. */
  cells: { address: number; size: number };
  /** RAM from the memory nodes (device_type = "memory"; linux,usable-memory wins over reg). */
  memory: DtRange[];
  /** Available children of /reserved-memory, when the kernel honours that node at all. */
  reserved: ReservedNode[];
  /** Problems found, each "..., ignoring". */
  warnings: string[];
}

/** Read the running kernel's device tree; undefined when it booted without one (x86, ACPI). */
export function readDeviceTree(paths: Paths): { facts: DeviceTreeFacts | undefined; warnings: string[] } {
  const warnings: string[] = [];
  const blobPath = paths.sys(FDT_BLOB);
  let blob: Uint8Array | undefined;
  try {
    blob = readFileSync(blobPath);
  } catch {
    blob = undefined; // absent, or not root: try the directory
  }
  if (blob !== undefined) {
    try {
      const facts = describeDeviceTree(parseFdt(blob), FDT_BLOB);
      return { facts, warnings };
    } catch (err) {
      warnings.push(`Cannot read the device tree "${FDT_BLOB}": ${err instanceof Error ? err.message : String(err)}, ignoring`);
    }
  }
  const dir = paths.sys(DT_DIRECTORY);
  let root: DtNode | undefined;
  try {
    root = readDtDirectory(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") {
      warnings.push(`Cannot read the device tree "${DT_DIRECTORY}": ${err instanceof Error ? err.message : String(err)}, ignoring`);
    }
  }
  return { facts: root ? describeDeviceTree(root, DT_DIRECTORY) : undefined, warnings };
}

/** /proc/device-tree as a node tree: directories are nodes, files properties (drivers/of/kobj.c). */
export function readDtDirectory(dir: string): DtNode {
  let nodes = 0;
  const walk = (path: string, name: string, depth: number): DtNode => {
    if (depth > FDT_MAX_DEPTH) throw new RangeError(`device tree nests deeper than ${FDT_MAX_DEPTH} nodes`);
    if (++nodes > FDT_MAX_NODES) throw new RangeError(`device tree has more than ${FDT_MAX_NODES} nodes`);
    const node: DtNode = { name, props: new Map(), children: [] };
    // kernfs lists entries by hash, not in tree order: sort by name for a stable order.
    const entries = readdirSync(path, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const entry of entries) {
      const full = join(path, entry.name);
      if (entry.isDirectory()) {
        node.children.push(walk(full, entry.name, depth + 1));
      } else if (entry.isFile()) {
        const bytes = readFileSync(full);
        if (bytes.length > DT_PROPERTY_MAX_BYTES) throw new RangeError(`property "${full}" has ${bytes.length} bytes, more than ${DT_PROPERTY_MAX_BYTES}`);
        node.props.set(entry.name, new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength));
      }
    }
    return node;
  };
  return walk(dir, "", 0);
}

function isAvailable(node: DtNode): boolean {
  // drivers/of/fdt.c of_fdt_device_is_available: no status, "ok" or "okay".
  const status = propString(node, "status");
  return status === undefined || status === "ok" || status === "okay";
}

/** The kernel's view of memory and reserved memory in a tree (pure). */
export function describeDeviceTree(root: DtNode, source: string): DeviceTreeFacts {
  const warnings: string[] = [];
  const cellsOf = (node: DtNode, name: "#address-cells" | "#size-cells"): number | undefined => {
    try {
      return propU32(node, name);
    } catch (err) {
      warnings.push(`Cannot read ${name} of ${node.name || "/"}: ${(err as Error).message}, ignoring`);
      return undefined;
    }
  };
  // early_init_dt_scan_root: the root's cells describe memory and reserved-memory regs.
  const addressCells = cellsOf(root, "#address-cells") ?? ROOT_CELLS_DEFAULT;
  const sizeCells = cellsOf(root, "#size-cells") ?? ROOT_CELLS_DEFAULT;
  const cellsUsable = addressCells >= 1 && addressCells <= MAX_CELLS && sizeCells >= 1 && sizeCells <= MAX_CELLS;
  if (!cellsUsable) warnings.push(`Cannot read addresses of the device tree: root #address-cells ${addressCells}, #size-cells ${sizeCells} (1 or 2 each), ignoring`);
  const ranges = (node: DtNode, path: string, prop: string): DtRange[] => {
    try {
      return propRanges(node, prop, addressCells, sizeCells).filter((r) => r.size > 0);
    } catch (err) {
      warnings.push(`Cannot read ${prop} of ${path}: ${(err as Error).message}, ignoring`);
      return [];
    }
  };

  // early_init_dt_scan_memory: top-level nodes with device_type = "memory".
  const memory: DtRange[] = [];
  if (cellsUsable) {
    for (const node of root.children) {
      if (propString(node, "device_type") !== "memory" || !isAvailable(node)) continue;
      const prop = node.props.has("linux,usable-memory") ? "linux,usable-memory" : "reg";
      memory.push(...ranges(node, `/${node.name}`, prop));
    }
    memory.sort((a, b) => a.start - b.start);
  }

  const reserved: ReservedNode[] = [];
  const rm = root.children.find((c) => c.name === "reserved-memory");
  if (rm && cellsUsable) {
    // __reserved_mem_check_root: the same cells as the root and a ranges
    // property, or the kernel ignores every child ("unsupported node format").
    const rmAddress = cellsOf(rm, "#address-cells");
    const rmSize = cellsOf(rm, "#size-cells");
    if (rmAddress !== addressCells || rmSize !== sizeCells || !rm.props.has("ranges")) {
      const what = !rm.props.has("ranges") && rmAddress === addressCells && rmSize === sizeCells
        ? "it has no ranges property"
        : `its #address-cells ${rmAddress ?? "(none)"} and #size-cells ${rmSize ?? "(none)"} differ from the root's ${addressCells} and ${sizeCells}`;
      warnings.push(`Cannot use /reserved-memory of the device tree: ${what}, so the kernel ignores it (drivers/of/fdt.c __reserved_mem_check_root), ignoring`);
    } else {
      for (const child of rm.children) {
        if (!isAvailable(child)) continue;
        const path = `/reserved-memory/${child.name}`;
        const reg = ranges(child, path, "reg");
        const first = reg[0];
        if (!first) continue; // dynamically placed (size/alloc-ranges): no fixed address to keep across a reset
        reserved.push({
          path,
          node: child,
          compatible: propStrings(child, "compatible"),
          reg,
          noMap: child.props.has("no-map"),
          deviceName: `${first.start.toString(16)}.${baseName(child.name)}`,
        });
      }
    }
  }
  return { source, cells: { address: addressCells, size: sizeCells }, memory, reserved, warnings };
}

/** ramoops as a reserved-memory node configures it (fs/pstore/ram.c ramoops_parse_dt; all default to 0). */
export interface DtRamoops {
  path: string;
  deviceName: string;
  address: number;
  sizeBytes: number;
  recordSizeBytes: number;
  consoleSizeBytes: number;
  pmsgSizeBytes: number;
  ftraceSizeBytes: number;
  eccBytes: number;
  /** 2 (KMSG_DUMP_OOPS) unless max-reason or no-dump-oops say otherwise. */
  maxReason: number;
  memType: number;
}

/** phram as a reserved-memory node configures it (drivers/mtd/devices/phram.c phram_probe). */
export interface DtPhram {
  path: string;
  deviceName: string;
  address: number;
  sizeBytes: number;
  /** The MTD name: "label", else the platform device's name (mtdcore.c mtd_set_dev_defaults). */
  name: string;
  /** Whether the name came from a label. */
  labelled: boolean;
}

/** The ramoops nodes (the kernel binds the first; pstore takes one backend). */
export function dtRamoops(facts: DeviceTreeFacts): { nodes: DtRamoops[]; warnings: string[] } {
  const warnings: string[] = [];
  const nodes: DtRamoops[] = [];
  for (const r of facts.reserved.filter((n) => n.compatible.includes("ramoops"))) {
    const reg = r.reg[0];
    if (!reg) continue;
    try {
      const u = (name: string, fallback: number) => propU32(r.node, name) ?? fallback;
      const maxReasonDefault = r.node.props.has("no-dump-oops") ? 1 : 2;
      nodes.push({
        path: r.path,
        deviceName: r.deviceName,
        address: reg.start,
        sizeBytes: reg.size,
        recordSizeBytes: u("record-size", 0),
        consoleSizeBytes: u("console-size", 0),
        pmsgSizeBytes: u("pmsg-size", 0),
        ftraceSizeBytes: u("ftrace-size", 0),
        eccBytes: u("ecc-size", 0),
        maxReason: u("max-reason", maxReasonDefault),
        memType: u("mem-type", 0),
      });
    } catch (err) {
      warnings.push(`Cannot read ${r.path}: ${(err as Error).message}, ignoring`);
    }
  }
  return { nodes, warnings };
}

export function dtPhram(facts: DeviceTreeFacts): DtPhram[] {
  return facts.reserved
    .filter((n) => n.compatible.includes("phram"))
    .flatMap((r) => {
      const reg = r.reg[0];
      if (!reg) return [];
      const label = propString(r.node, "label");
      return [{ path: r.path, deviceName: r.deviceName, address: reg.start, sizeBytes: reg.size, name: label ?? r.deviceName, labelled: label !== undefined }];
    });
}

/** Whether the platform device of a reserved-memory node has a driver bound (/sys/bus/platform/devices/<name>/driver). */
export function platformBound(deviceName: string, paths: Paths): boolean {
  if (deviceName.includes("/")) return false; // a hostile node name is no sysfs entry
  try {
    readdirSync(paths.sys(`/sys/bus/platform/devices/${deviceName}/driver`));
    return true;
  } catch {
    return false;
  }
}


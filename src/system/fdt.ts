// The flattened device tree (DTB), as the boot loader hands it to the kernel
// and as /sys/firmware/fdt shows it: a big-endian header, a structure block
// of tokens and a strings block of property names
// (scripts/dtc/libfdt/fdt.h; Devicetree Specification v0.4, chapter 5).
// A pure parser: truncation is a RangeError, a bad magic, version or token a
// SyntaxError; nothing is guessed.

export interface DtNode {
  /** The node name with its unit address ("ramoops@5c000000"); "" for the root. */
  name: string;
  props: Map<string, Uint8Array>;
  children: DtNode[];
}

const FDT_MAGIC = 0xd00dfeed;
const FDT_HEADER_BYTES = 40; // FDT_V17_SIZE: ten u32 fields
const FDT_BEGIN_NODE = 0x1;
const FDT_END_NODE = 0x2;
const FDT_PROP = 0x3;
const FDT_NOP = 0x4;
const FDT_END = 0x9;
/** libfdt FDT_LAST_SUPPORTED_VERSION: a blob that is not backward compatible with 17 is refused. */
const FDT_LAST_COMP_VERSION = 17;
/** Version 16 added size_dt_strings; 17 size_dt_struct (fdt.h FDT_V16_SIZE, FDT_V17_SIZE). */
const FDT_MIN_VERSION = 16;

/** arm64 MAX_FDT_SIZE is 2 MiB (arch/arm64/include/asm/boot.h); QEMU pads its blob to 1 MiB. */
export const FDT_MAX_BYTES = 4 * 1024 * 1024;
/** libfdt FDT_MAX_DEPTH; a deeper tree is hostile, not a board. */
export const FDT_MAX_DEPTH = 64;
/** QEMU virt has about 60 nodes, large SoCs a few thousand. */
export const FDT_MAX_NODES = 20_000;

/** Parse a DTB into its node tree. */
export function parseFdt(bytes: Uint8Array): DtNode {
  if (bytes.length < FDT_HEADER_BYTES) throw new RangeError(`device tree header needs ${FDT_HEADER_BYTES} bytes, got ${bytes.length}`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const u32 = (at: number) => view.getUint32(at, false);
  const magic = u32(0);
  if (magic !== FDT_MAGIC) throw new SyntaxError(`not a device tree blob (magic 0x${magic.toString(16)}, expected 0xd00dfeed)`);
  const totalSize = u32(4);
  const offStruct = u32(8);
  const offStrings = u32(12);
  const version = u32(20);
  const lastComp = u32(24);
  if (version < FDT_MIN_VERSION || lastComp > FDT_LAST_COMP_VERSION) {
    throw new SyntaxError(`unsupported device tree version ${version} (last compatible ${lastComp})`);
  }
  if (totalSize > FDT_MAX_BYTES) throw new RangeError(`device tree of ${totalSize} bytes is larger than ${FDT_MAX_BYTES}`);
  if (totalSize > bytes.length) throw new RangeError(`device tree truncated: header says ${totalSize} bytes, got ${bytes.length}`);
  const sizeStrings = u32(32);
  const sizeStruct = version >= 17 ? u32(36) : totalSize - offStruct;
  if (offStrings + sizeStrings > totalSize || offStruct + sizeStruct > totalSize) {
    throw new RangeError(`device tree blocks run past its ${totalSize} bytes (structure ${offStruct}+${sizeStruct}, strings ${offStrings}+${sizeStrings})`);
  }
  const structEnd = offStruct + sizeStruct;
  const decoder = new TextDecoder("utf-8", { fatal: false });

  /** A NUL-terminated string at `at`, not reaching `limit`; returns [text, index after the NUL]. */
  const cstring = (at: number, limit: number, what: string): [string, number] => {
    let end = at;
    while (end < limit && bytes[end] !== 0) end++;
    if (end >= limit) throw new RangeError(`device tree ${what} at byte ${at} has no terminating NUL`);
    return [decoder.decode(bytes.subarray(at, end)), end + 1];
  };
  const token = (at: number): number => {
    if (at + 4 > structEnd) throw new RangeError(`device tree structure block ends at byte ${structEnd} without FDT_END`);
    return u32(at);
  };
  const align4 = (n: number) => (n + 3) & ~3;

  let at = offStruct;
  let tok = token(at);
  while (tok === FDT_NOP) tok = token((at += 4));
  if (tok !== FDT_BEGIN_NODE) throw new SyntaxError(`device tree structure block starts with token ${tok}, not FDT_BEGIN_NODE`);
  let root: DtNode | undefined;
  const stack: DtNode[] = [];
  let nodes = 0;
  for (;;) {
    tok = token(at);
    at += 4;
    if (tok === FDT_BEGIN_NODE) {
      const [name, next] = cstring(at, structEnd, "node name");
      at = align4(next);
      if (root !== undefined && stack.length === 0) throw new SyntaxError(`device tree has a second root node at byte ${at}`);
      if (stack.length >= FDT_MAX_DEPTH) throw new RangeError(`device tree nests deeper than ${FDT_MAX_DEPTH} nodes`);
      if (++nodes > FDT_MAX_NODES) throw new RangeError(`device tree has more than ${FDT_MAX_NODES} nodes`);
      const node: DtNode = { name, props: new Map(), children: [] };
      const parent = stack.at(-1);
      if (parent) parent.children.push(node);
      else root = node;
      stack.push(node);
    } else if (tok === FDT_END_NODE) {
      if (stack.pop() === undefined) throw new SyntaxError(`device tree has an FDT_END_NODE without a node at byte ${at - 4}`);
    } else if (tok === FDT_PROP) {
      if (at + 8 > structEnd) throw new RangeError(`device tree property header at byte ${at} runs past the structure block`);
      const len = u32(at);
      const nameOff = u32(at + 4);
      at += 8;
      if (at + len > structEnd) throw new RangeError(`device tree property of ${len} bytes at byte ${at} runs past the structure block`);
      const node = stack.at(-1);
      if (!node) throw new SyntaxError(`device tree property outside any node at byte ${at - 12}`);
      if (nameOff >= sizeStrings) throw new RangeError(`device tree property name offset ${nameOff} is past the ${sizeStrings}-byte strings block`);
      const [propName] = cstring(offStrings + nameOff, offStrings + sizeStrings, "property name");
      node.props.set(propName, bytes.slice(at, at + len));
      at = align4(at + len);
    } else if (tok === FDT_NOP) {
      // padding left by in-place edits (fdt_nop_node)
    } else if (tok === FDT_END) {
      if (stack.length > 0 || root === undefined) throw new SyntaxError(`device tree ends with ${stack.length} node(s) still open`);
      return root;
    } else {
      throw new SyntaxError(`device tree has unknown token 0x${tok.toString(16)} at byte ${at - 4}`);
    }
  }
}

/** The node at an absolute path ("/reserved-memory"); names match with or without their unit address. */
export function findNode(root: DtNode, path: string): DtNode | undefined {
  let node: DtNode | undefined = root;
  for (const part of path.split("/").filter(Boolean)) {
    node = node.children.find((c) => c.name === part) ?? node.children.find((c) => baseName(c.name) === part);
    if (!node) return undefined;
  }
  return node;
}

/** "ramoops@5c000000" → "ramoops" (the %pOFn form the kernel prints). */
export function baseName(name: string): string {
  const at = name.indexOf("@");
  return at < 0 ? name : name.slice(0, at);
}

/** A one-cell property (#address-cells, record-size); undefined when absent, a RangeError when not 4 bytes. */
export function propU32(node: DtNode, name: string): number | undefined {
  const p = node.props.get(name);
  if (p === undefined) return undefined;
  if (p.length !== 4) throw new RangeError(`property "${name}" of ${node.name || "/"} has ${p.length} bytes, expected 4`);
  return new DataView(p.buffer, p.byteOffset, p.byteLength).getUint32(0, false);
}

/** A string-list property ("compatible"): the NUL-separated strings; [] when absent. */
export function propStrings(node: DtNode, name: string): string[] {
  const p = node.props.get(name);
  if (p === undefined || p.length === 0) return [];
  const text = new TextDecoder().decode(p[p.length - 1] === 0 ? p.subarray(0, -1) : p);
  return text.split("\0");
}

/** A string property ("label", "status"): its first string. */
export function propString(node: DtNode, name: string): string | undefined {
  return node.props.has(name) ? (propStrings(node, name)[0] ?? "") : undefined;
}

/**
 * A "reg"-like property as (address, size) pairs of the given cell counts,
 * big-endian (Devicetree Specification 2.3.6). A length that is not a whole
 * number of pairs, or a value past 2^53, is a RangeError.
 */
export function propRanges(node: DtNode, name: string, addressCells: number, sizeCells: number): Array<{ start: number; size: number }> {
  const p = node.props.get(name);
  if (p === undefined) return [];
  const entry = (addressCells + sizeCells) * 4;
  if (entry === 0 || p.length % entry !== 0) {
    throw new RangeError(`"${name}" of ${node.name || "/"} has ${p.length} bytes, not a multiple of ${entry} (#address-cells ${addressCells}, #size-cells ${sizeCells})`);
  }
  const view = new DataView(p.buffer, p.byteOffset, p.byteLength);
  const cells = (at: number, count: number): number => {
    let n = 0n;
    for (let i = 0; i < count; i++) n = (n << 32n) | BigInt(view.getUint32(at + 4 * i, false));
    if (n > BigInt(Number.MAX_SAFE_INTEGER)) throw new RangeError(`"${name}" of ${node.name || "/"} holds 0x${n.toString(16)}, beyond 2^53`);
    return Number(n);
  };
  const out: Array<{ start: number; size: number }> = [];
  for (let at = 0; at < p.length; at += entry) out.push({ start: cells(at, addressCells), size: cells(at + 4 * addressCells, sizeCells) });
  return out;
}

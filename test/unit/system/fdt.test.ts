import { describe, expect, test } from "bun:test";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { findNode, parseFdt, propRanges, propString, propStrings, propU32, type DtNode } from "../../../src/system/fdt.ts";
import { describeDeviceTree, dtPhram, dtRamoops, readDtDirectory } from "../../../src/system/devicetree.ts";
import { fixtureDtb, virtDtb, writeDtDirectory } from "./dt-fixtures.ts";

const be32 = (bytes: Uint8Array, at: number) => new DataView(bytes.buffer, bytes.byteOffset).getUint32(at, false);
const setBe32 = (bytes: Uint8Array, at: number, v: number) => new DataView(bytes.buffer, bytes.byteOffset).setUint32(at, v, false);

describe("parseFdt on QEMU virt's own tree", () => {
  const root = parseFdt(virtDtb());

  test("the header's totalsize is QEMU's 1 MiB, the free space after the blocks is not parsed", () => {
    expect(be32(virtDtb(), 4)).toBe(0x100000);
    expect(root.name).toBe("");
    expect(propString(root, "model")).toBe("linux,dummy-virt");
  });

  test("root cells and the memory node (-m 512 → 0x40000000 + 512 MiB)", () => {
    expect(propU32(root, "#address-cells")).toBe(2);
    expect(propU32(root, "#size-cells")).toBe(2);
    const mem = findNode(root, "/memory");
    expect(mem?.name).toBe("memory@40000000");
    expect(propRanges(mem as DtNode, "reg", 2, 2)).toEqual([{ start: 0x40000000, size: 0x20000000 }]);
    expect(propStrings(findNode(root, "/psci") as DtNode, "compatible")).toEqual(["arm,psci-1.0", "arm,psci-0.2", "arm,psci"]);
  });

  test("describeDeviceTree: the RAM, and no /reserved-memory", () => {
    const facts = describeDeviceTree(root, "/sys/firmware/fdt");
    expect(facts).toMatchObject({ cells: { address: 2, size: 2 }, memory: [{ start: 0x40000000, size: 0x20000000 }], reserved: [], warnings: [] });
  });
});

describe("/reserved-memory nodes (dtc-compiled fixtures)", () => {
  test("the arm64 image's tree: ramoops mapped, phram no-map labelled persist", () => {
    const facts = describeDeviceTree(parseFdt(fixtureDtb("virt-512m-reserved")), "x");
    expect(facts.warnings).toEqual([]);
    expect(facts.reserved.map(({ path, reg, noMap, deviceName, compatible }) => ({ path, reg, noMap, deviceName, compatible }))).toEqual([
      { path: "/reserved-memory/ramoops@5c000000", reg: [{ start: 0x5c000000, size: 0x100000 }], noMap: false, deviceName: "5c000000.ramoops", compatible: ["ramoops"] },
      { path: "/reserved-memory/phram@5d000000", reg: [{ start: 0x5d000000, size: 0x1000000 }], noMap: true, deviceName: "5d000000.phram", compatible: ["phram"] },
    ]);
    expect(dtRamoops(facts).nodes).toEqual([{
      path: "/reserved-memory/ramoops@5c000000", deviceName: "5c000000.ramoops", address: 0x5c000000, sizeBytes: 0x100000,
      recordSizeBytes: 0x20000, consoleSizeBytes: 0, pmsgSizeBytes: 0, ftraceSizeBytes: 0, eccBytes: 16, maxReason: 2, memType: 0,
    }]);
    expect(dtPhram(facts)).toEqual([{ path: "/reserved-memory/phram@5d000000", deviceName: "5d000000.phram", address: 0x5d000000, sizeBytes: 0x1000000, name: "persist", labelled: true }]);
  });

  test("no label: the MTD name is the platform device's; a disabled node is skipped; max-reason and zone sizes read", () => {
    const facts = describeDeviceTree(parseFdt(fixtureDtb("virt-512m-nolabel")), "x");
    expect(dtPhram(facts).map((p) => [p.path, p.name, p.labelled])).toEqual([["/reserved-memory/phram@5f000000", "5f000000.phram", false]]);
    expect(dtRamoops(facts).nodes[0]).toMatchObject({ sizeBytes: 0x200000, recordSizeBytes: 0x10000, consoleSizeBytes: 0x8000, pmsgSizeBytes: 0x8000, maxReason: 1 });
  });

  test("cells that differ from the root's: the kernel ignores the whole node, and so do we, once, saying why", () => {
    const facts = describeDeviceTree(parseFdt(fixtureDtb("virt-512m-cells1")), "x");
    expect(facts.reserved).toEqual([]);
    expect(facts.warnings).toEqual([
      "Cannot use /reserved-memory of the device tree: its #address-cells 1 and #size-cells 1 differ from the root's 2 and 2, so the kernel ignores it (drivers/of/fdt.c __reserved_mem_check_root), ignoring",
    ]);
    expect(facts.memory).toEqual([{ start: 0x40000000, size: 0x20000000 }]);
  });

  test("the /proc/device-tree layout, expanded from the fixture, reads as the same tree", () => {
    const fromBlob = parseFdt(fixtureDtb("virt-512m-reserved"));
    const dir = join(mkdtempSync(join(tmpdir(), "crashkeep-dt-")), "device-tree");
    writeDtDirectory(fromBlob, dir);
    const fromDir = readDtDirectory(dir);
    const strip = ({ path, reg, noMap, deviceName, compatible }: { path: string; reg: unknown; noMap: boolean; deviceName: string; compatible: string[] }) => ({ path, reg, noMap, deviceName, compatible });
    const a = describeDeviceTree(fromBlob, "a");
    const b = describeDeviceTree(fromDir, "b");
    // Directory order is by name (kernfs lists by hash), not tree order.
    const byPath = (x: { path: string }, y: { path: string }) => x.path.localeCompare(y.path);
    expect(b.reserved.map(strip).sort(byPath)).toEqual(a.reserved.map(strip).sort(byPath));
    expect(b.reserved).toHaveLength(2);
    expect(b.memory).toEqual(a.memory);
    expect(dtPhram(b)).toEqual(dtPhram(a));
  });
});

describe("bad trees: one clear problem, never a crash", () => {
  const good = fixtureDtb("virt-512m-reserved");

  test.each([
    ["empty", 0],
    ["header cut", 39],
    ["blocks cut", 200],
    ["one byte short", good.length - 1],
  ])("truncated (%s) → RangeError", (_, length) => {
    expect(() => parseFdt(good.slice(0, length))).toThrow(RangeError);
  });

  test("bad magic → SyntaxError naming it", () => {
    const bad = good.slice();
    bad[0] = 0;
    expect(() => parseFdt(bad)).toThrow(new SyntaxError("not a device tree blob (magic 0xdfeed, expected 0xd00dfeed)"));
  });

  test("a newer incompatible version → SyntaxError", () => {
    const bad = good.slice();
    setBe32(bad, 24, 18);
    expect(() => parseFdt(bad)).toThrow(SyntaxError);
  });

  test("structure block claimed past the blob → RangeError", () => {
    const bad = good.slice();
    setBe32(bad, 36, be32(bad, 4));
    expect(() => parseFdt(bad)).toThrow(RangeError);
  });

  test("an unknown token → SyntaxError with its offset", () => {
    const bad = good.slice();
    const offStruct = be32(bad, 8);
    setBe32(bad, offStruct + 8, 0x77); // the root's name is "" (4 bytes): the next token
    expect(() => parseFdt(bad)).toThrow(`device tree has unknown token 0x77 at byte ${offStruct + 8}`);
  });

  test("a property name offset past the strings block → RangeError", () => {
    const bad = good.slice();
    const offStruct = be32(bad, 8);
    expect(be32(bad, offStruct + 8)).toBe(3); // FDT_PROP of the root
    setBe32(bad, offStruct + 16, 0xffff);
    expect(() => parseFdt(bad)).toThrow(RangeError);
  });

  test("1000 random corruptions of the structure and strings blocks: a tree or a RangeError/SyntaxError, and describing any tree never throws", () => {
    let seed = 0x2545f491;
    const rand = () => {
      seed ^= seed << 13;
      seed ^= seed >>> 17;
      seed ^= seed << 5;
      return (seed >>> 0) / 2 ** 32;
    };
    const offStruct = be32(good, 8);
    const outcomes = { parsed: 0, range: 0, syntax: 0 };
    for (let i = 0; i < 1000; i++) {
      const bad = good.slice();
      for (let k = 0; k < 1 + Math.floor(rand() * 4); k++) {
        const at = offStruct + Math.floor(rand() * (bad.length - offStruct));
        bad[at] = Math.floor(rand() * 256);
      }
      let root: DtNode | undefined;
      try {
        root = parseFdt(bad);
      } catch (err) {
        if (err instanceof RangeError) outcomes.range++;
        else if (err instanceof SyntaxError) outcomes.syntax++;
        else throw err;
      }
      if (root) {
        outcomes.parsed++;
        const facts = describeDeviceTree(root, "fuzz");
        dtRamoops(facts);
        dtPhram(facts);
      }
    }
    // Byte flips land in property values too, so most trees still parse; the rest fail as either kind.
    expect(outcomes.parsed + outcomes.range + outcomes.syntax).toBe(1000);
    expect(outcomes.parsed).toBeGreaterThan(0);
    expect(outcomes.range + outcomes.syntax).toBeGreaterThan(0);
  });

  describe("missing properties and wrong cell counts: a warning ending in \", ignoring\"", () => {
    const fresh = () => parseFdt(good);
    const rm = (root: DtNode) => findNode(root, "/reserved-memory") as DtNode;

    test("reg of 12 bytes with two address and two size cells", () => {
      const root = fresh();
      const phram = findNode(root, "/reserved-memory/phram@5d000000") as DtNode;
      phram.props.set("reg", new Uint8Array(12));
      const facts = describeDeviceTree(root, "x");
      expect(facts.reserved.map((r) => r.path)).toEqual(["/reserved-memory/ramoops@5c000000"]);
      expect(facts.warnings).toEqual([
        'Cannot read reg of /reserved-memory/phram@5d000000: "reg" of phram@5d000000 has 12 bytes, not a multiple of 16 (#address-cells 2, #size-cells 2), ignoring',
      ]);
    });

    test("no ranges property on /reserved-memory", () => {
      const root = fresh();
      rm(root).props.delete("ranges");
      const facts = describeDeviceTree(root, "x");
      expect(facts.reserved).toEqual([]);
      expect(facts.warnings[0]).toStartWith("Cannot use /reserved-memory of the device tree: it has no ranges property");
    });

    test("#size-cells of 3 bytes", () => {
      const root = fresh();
      rm(root).props.set("#size-cells", new Uint8Array(3));
      const facts = describeDeviceTree(root, "x");
      expect(facts.reserved).toEqual([]);
      expect(facts.warnings).toHaveLength(2);
      expect(facts.warnings[0]).toBe('Cannot read #size-cells of reserved-memory: property "#size-cells" of reserved-memory has 3 bytes, expected 4, ignoring');
      expect(facts.warnings.every((w) => w.endsWith(", ignoring"))).toBe(true);
    });

    test("root #address-cells of 3: no address is read", () => {
      const root = fresh();
      root.props.set("#address-cells", new Uint8Array([0, 0, 0, 3]));
      const facts = describeDeviceTree(root, "x");
      expect(facts.memory).toEqual([]);
      expect(facts.reserved).toEqual([]);
      expect(facts.warnings).toEqual(["Cannot read addresses of the device tree: root #address-cells 3, #size-cells 2 (1 or 2 each), ignoring"]);
    });

    test("an address past 2^53", () => {
      const root = fresh();
      const ramoops = findNode(root, "/reserved-memory/ramoops@5c000000") as DtNode;
      ramoops.props.set("reg", new Uint8Array([0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10, 0, 0]));
      const facts = describeDeviceTree(root, "x");
      expect(facts.reserved.map((r) => r.path)).toEqual(["/reserved-memory/phram@5d000000"]);
      expect(facts.warnings[0]).toContain("beyond 2^53, ignoring");
    });

    test("record-size of 2 bytes: that ramoops node is dropped with a warning", () => {
      const root = fresh();
      (findNode(root, "/reserved-memory/ramoops@5c000000") as DtNode).props.set("record-size", new Uint8Array(2));
      const found = dtRamoops(describeDeviceTree(root, "x"));
      expect(found.nodes).toEqual([]);
      expect(found.warnings).toEqual(['Cannot read /reserved-memory/ramoops@5c000000: property "record-size" of ramoops@5c000000 has 2 bytes, expected 4, ignoring']);
    });
  });
});

import { describe, expect, test } from "bun:test";
import { checkRegion, parseIomem } from "../../../src/system/iomem.ts";
import { parseProcMtd } from "../../../src/system/mtd.ts";
import { moduleName, parseModulesDep } from "../../../src/system/modules.ts";
import { IOMEM_RESERVED } from "../boot/fake-tree.ts";

describe("parseIomem", () => {
  test("top-level and nested ranges", () => {
    const r = parseIomem(IOMEM_RESERVED);
    expect(r.find((x) => x.name === "Kernel code")).toEqual({ start: 0x1000000, end: 0x1e02616, name: "Kernel code", depth: 1 });
    expect(r.find((x) => x.start === 0x7000000)).toEqual({ start: 0x7000000, end: 0x7ffffff, name: "Reserved", depth: 0 });
  });
});

describe("checkRegion", () => {
  const ranges = parseIomem(`${IOMEM_RESERVED}08000000-08ffffff : Persistent Memory (legacy)\n`);
  test.each([
    ["ramoops", 0x7000000, 0x800000, true, ""],
    ["phram", 0x7800000, 0x800000, true, ""],
    ["phram", 0x7800000, 0x1000000, false, "phram region 0x7800000-0x87fffff overlaps System RAM 0x8000000-0x3ffdffff"],
    ["phram", 0x6800000, 0x1000000, false, "phram region 0x6800000-0x77fffff overlaps System RAM 0x100000-0x6ffffff"],
    ["ramoops", 0x40000000, 0x100000, false, "ramoops region 0x40000000-0x400fffff is not inside a reserved range (no range of /proc/iomem covers it)"],
    ["ramoops", 0xa0000, 0x1000, false, 'ramoops region 0xa0000-0xa0fff is not inside a reserved range (it meets "PCI Bus 0000:00" 0xa0000-0xbffff)'],
  ] as const)("%s %d+%d → %p", (name, start, size, ok, reason) => {
    const c = checkRegion({ name, start, size }, ranges);
    expect(c.ok).toBe(ok);
    if (!c.ok) expect(c.reason).toBe(reason);
  });

  test("memmap=! (Persistent Memory (legacy)) counts as reserved", () => {
    const pmem = parseIomem("00100000-06ffffff : System RAM\n07000000-07ffffff : Persistent Memory (legacy)\n");
    expect(checkRegion({ name: "phram", start: 0x7800000, size: 0x800000 }, pmem).ok).toBe(true);
  });

  test("zeroed addresses (not root) are said so", () => {
    const hidden = parseIomem("00000000-00000000 : System RAM\n00000000-00000000 : Reserved\n");
    const c = checkRegion({ name: "phram", start: 0x7800000, size: 0x800000 }, hidden);
    expect(c.ok ? "" : c.reason).toBe("/proc/iomem shows no addresses (not running as root)");
  });
});

describe("/proc/mtd and modules.dep", () => {
  test("parseProcMtd (drivers/mtd/mtdcore.c format)", () => {
    expect(parseProcMtd('dev:    size   erasesize  name\nmtd0: 00800000 00001000 "crashkeep"\nmtd1: 00020000 00010000 "u-boot env"\n')).toEqual([
      { index: 0, size: 0x800000, eraseSize: 0x1000, name: "crashkeep" },
      { index: 1, size: 0x20000, eraseSize: 0x10000, name: "u-boot env" },
    ]);
  });
  test.each([
    ["kernel/fs/pstore/ramoops.ko", "ramoops"],
    ["kernel/lib/reed_solomon/reed_solomon.ko.xz", "reed_solomon"],
    ["kernel/drivers/block/virtio-blk.ko.zst", "virtio_blk"],
  ])("moduleName(%s) = %s", (file, name) => {
    expect(moduleName(file)).toBe(name);
  });
  test("parseModulesDep keeps dependency order", () => {
    const dep = parseModulesDep("kernel/fs/ext4/ext4.ko: kernel/fs/mbcache.ko kernel/fs/jbd2/jbd2.ko kernel/lib/crc16.ko\n");
    expect(dep.get("ext4")).toEqual({ path: "kernel/fs/ext4/ext4.ko", deps: ["kernel/fs/mbcache.ko", "kernel/fs/jbd2/jbd2.ko", "kernel/lib/crc16.ko"] });
  });
});

import { describe, expect, test } from "bun:test";
import { checkRegionArm64, memCapAddress, memLimitBelow, memparse, parseMemLimit } from "../../../src/system/arm64-regions.ts";
import { describeDeviceTree } from "../../../src/system/devicetree.ts";
import { parseFdt } from "../../../src/system/fdt.ts";
import { parseIomem } from "../../../src/system/iomem.ts";
import { fixtureDtb, IOMEM_ARM64_DT, IOMEM_ARM64_MEM384, virtDtb } from "./dt-fixtures.ts";

const dtReserved = describeDeviceTree(parseFdt(fixtureDtb("virt-512m-reserved")), "fdt");
const dtPlain = describeDeviceTree(parseFdt(virtDtb()), "fdt");
const MiB = 1024 * 1024;

describe("mem= (lib/cmdline.c memparse, arm64 early_mem)", () => {
  test.each([
    ["console=ttyAMA0 mem=384M panic=1", 384 * MiB],
    ["mem=0x18000000", 0x18000000],
    ["mem=1G quiet mem=256m", 256 * MiB],
    ["mem=393216k", 384 * MiB],
    ["mem=1000", undefined], // 0 after PAGE_MASK: memblock_mem_limit_remove_map does nothing
    ["mem=0", undefined],
    ["mem=4097", 4096],
    ["memmap=16M$0x7000000", undefined],
    ["mem=abc", undefined],
    ["", undefined],
  ])("%p → %p", (cmdline, limit) => {
    expect(parseMemLimit(cmdline)).toBe(limit);
  });

  test("memparse: octal, zero, suffixes up to E", () => {
    expect(memparse("010")).toBe(8);
    expect(memparse("0")).toBe(0);
    expect(memparse("2T")).toBe(2 * 1024 ** 4);
    expect(memparse("9E")).toBeUndefined(); // beyond 2^53
  });

  test("the cap is an amount of RAM counted from the lowest bank (mm/memblock.c __find_max_addr)", () => {
    const banks = [{ start: 0x80000000, size: 0x40000000 }, { start: 0x40000000, size: 0x20000000 }];
    expect(memCapAddress(banks, 384 * MiB)).toBe(0x58000000);
    expect(memCapAddress(banks, 512 * MiB)).toBe(0x60000000);
    expect(memCapAddress(banks, 768 * MiB)).toBe(0x90000000);
    expect(memCapAddress(banks, 2048 * MiB)).toBeUndefined();
    expect(memLimitBelow(banks, 0x90000000)).toBe(768 * MiB);
    expect(memLimitBelow(banks, 0x5c000000)).toBe(448 * MiB);
  });
});

describe("checkRegionArm64: the device-tree route", () => {
  const ranges = parseIomem(IOMEM_ARM64_DT);
  const ctx = { ranges, dt: dtReserved, memLimit: undefined };

  test("ramoops: nested \"reserved\" in System RAM, covered by its mapped node", () => {
    expect(checkRegionArm64({ name: "ramoops", start: 0x5c000000, size: MiB }, ctx)).toEqual({
      ok: true,
      region: { name: "ramoops", start: 0x5c000000, size: MiB },
      route: "device-tree",
      node: "/reserved-memory/ramoops@5c000000",
      range: { start: 0x5c000000, end: 0x5c0fffff, name: "reserved", depth: 1 },
    });
  });

  test("phram: top-level \"reserved\" of its no-map node", () => {
    const c = checkRegionArm64({ name: "phram", start: 0x5d000000, size: 16 * MiB }, ctx);
    expect(c).toMatchObject({ ok: true, route: "device-tree", node: "/reserved-memory/phram@5d000000", range: { depth: 0, name: "reserved" } });
  });

  test.each([
    ["ramoops", 0x50000000, 8 * MiB, "ramoops region 0x50000000-0x507fffff overlaps System RAM 0x40000000-0x5cffffff, and no /reserved-memory node of the device tree covers it"],
    ["ramoops", 0x48000000, 4 * MiB, "ramoops region 0x48000000-0x483fffff overlaps System RAM 0x40000000-0x5cffffff, and no /reserved-memory node of the device tree covers it"],
    ["phram", 0x5c000000, MiB, 'phram region 0x5c000000-0x5c0fffff is reserved, but it belongs to /reserved-memory/ramoops@5c000000 (compatible "ramoops")'],
    ["phram", 0x5cf00000, 2 * MiB, "phram region 0x5cf00000-0x5d0fffff is not inside the device tree's /reserved-memory/phram@5d000000 (0x5d000000-0x5dffffff)"],
    ["ramoops", 0x7000000, 8 * MiB, "ramoops region 0x7000000-0x77fffff is not inside the machine's RAM (device tree memory 0x40000000-0x5fffffff)"],
    ["ramoops", 0x9000000, 4096, 'ramoops region 0x9000000-0x9000fff is not RAM (it meets "pl011@9000000" 0x9000000-0x9000fff)'],
  ] as const)("%s at 0x%s (%d bytes) is refused", (name, start, size, reason) => {
    expect(checkRegionArm64({ name, start, size }, ctx)).toEqual({ ok: false, region: { name, start, size }, reason });
  });

  test("a node the kernel did not reserve (no \"reserved\" in /proc/iomem) is refused", () => {
    const plainIomem = parseIomem("40000000-5fffffff : System RAM\n");
    const c = checkRegionArm64({ name: "ramoops", start: 0x5c000000, size: MiB }, { ranges: plainIomem, dt: dtReserved, memLimit: undefined });
    expect(c.ok ? "" : c.reason).toBe('ramoops region 0x5c000000-0x5c0fffff is in the device tree\'s /reserved-memory/ramoops@5c000000, but /proc/iomem does not show it reserved (the kernel did not reserve it: see "Reserved memory:" in dmesg)');
  });

  test("a top-level \"reserved\" no node accounts for (firmware's) is refused", () => {
    const c = checkRegionArm64({ name: "phram", start: 0x5d000000, size: MiB }, { ranges, dt: dtPlain, memLimit: undefined });
    expect(c.ok ? "" : c.reason).toBe('phram region 0x5d000000-0x5d0fffff meets "reserved" 0x5d000000-0x5dffffff, which no /reserved-memory node of the device tree accounts for (firmware memory)');
  });

  test("a plain reservation (no compatible): ramoops may use it; phram only with no-map (ioremap refuses mapped RAM)", () => {
    const plain = (noMap: boolean) => ({
      ...dtReserved,
      reserved: [{ ...dtReserved.reserved[0]!, path: "/reserved-memory/crashkeep@5c000000", compatible: [], noMap }],
    });
    expect(checkRegionArm64({ name: "ramoops", start: 0x5c000000, size: MiB }, { ranges, dt: plain(false), memLimit: undefined }).ok).toBe(true);
    const phram = checkRegionArm64({ name: "phram", start: 0x5c000000, size: MiB }, { ranges, dt: plain(false), memLimit: undefined });
    expect(phram.ok ? "" : phram.reason).toBe("phram region 0x5c000000-0x5c0fffff is reserved, but /reserved-memory/crashkeep@5c000000 lacks no-map, and phram= maps its region with ioremap, which refuses mapped RAM");
    expect(checkRegionArm64({ name: "phram", start: 0x5c000000, size: MiB }, { ranges, dt: plain(true), memLimit: undefined }).ok).toBe(true);
  });

  test("no addresses (not root) is said so", () => {
    const hidden = parseIomem("00000000-00000000 : System RAM\n00000000-00000000 : reserved\n");
    const c = checkRegionArm64({ name: "phram", start: 0x5d000000, size: MiB }, { ranges: hidden, dt: dtReserved, memLimit: undefined });
    expect(c.ok ? "" : c.reason).toBe("/proc/iomem shows no addresses (not running as root)");
  });
});

describe("checkRegionArm64: the mem= route", () => {
  const ranges = parseIomem(IOMEM_ARM64_MEM384);

  test("above the cap and inside the memory node: valid", () => {
    const ctx = { ranges, dt: dtPlain, memLimit: 384 * MiB };
    expect(checkRegionArm64({ name: "ramoops", start: 0x5c000000, size: MiB }, ctx)).toEqual({ ok: true, region: { name: "ramoops", start: 0x5c000000, size: MiB }, route: "mem-limit" });
    expect(checkRegionArm64({ name: "phram", start: 0x5f000000, size: 16 * MiB }, ctx).ok).toBe(true);
    // The cap itself is the first byte Linux does not use.
    expect(checkRegionArm64({ name: "phram", start: 0x58000000, size: MiB }, ctx).ok).toBe(true);
  });

  test.each([
    ["past the RAM end", 0x5f800000, 16 * MiB, 384, "phram region 0x5f800000-0x607fffff is not inside the machine's RAM (device tree memory 0x40000000-0x5fffffff)"],
    ["below a larger cap", 0x58000000, MiB, 400, "phram region 0x58000000-0x580fffff is below the mem= cap at 0x59000000"],
    ["mem= larger than the RAM", 0x5c000000, MiB, 1024, "phram region 0x5c000000-0x5c0fffff is below the mem= cap (mem= is larger than the RAM)"],
    ["in Linux's RAM", 0x50000000, MiB, 384, "phram region 0x50000000-0x500fffff overlaps System RAM 0x40000000-0x57ffffff, and no /reserved-memory node of the device tree covers it"],
  ] as const)("%s is refused", (_, start, size, memMiB, reason) => {
    const c = checkRegionArm64({ name: "phram", start, size }, { ranges, dt: dtPlain, memLimit: memMiB * MiB });
    expect(c.ok ? "" : c.reason).toBe(reason);
  });

  test("RAM missing from /proc/iomem without mem= on the command line is refused", () => {
    const c = checkRegionArm64({ name: "phram", start: 0x5c000000, size: MiB }, { ranges, dt: dtPlain, memLimit: undefined });
    expect(c.ok ? "" : c.reason).toBe("phram region 0x5c000000-0x5c0fffff is RAM that /proc/iomem does not show, but the kernel command line has no mem= that keeps Linux below it");
  });

  test("without a device tree the RAM end is unknown: refused, saying so", () => {
    const c = checkRegionArm64({ name: "phram", start: 0x5c000000, size: MiB }, { ranges, dt: undefined, memLimit: 384 * MiB });
    expect(c.ok ? "" : c.reason).toBe("phram region 0x5c000000-0x5c0fffff is not in /proc/iomem, and there is no device-tree memory node to tell whether it is RAM");
  });
});

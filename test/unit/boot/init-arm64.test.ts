// crashkeep init and status on a fake arm64 tree: the device tree from the
// real fixtures at /sys/firmware/fdt (or expanded into /proc/device-tree),
// /proc/iomem as the arm64 kernel lays it out.
import { describe, expect, test } from "bun:test";
import { existsSync, readFileSync, readlinkSync, rmSync } from "node:fs";
import { join } from "node:path";
import { runInit } from "../../../src/boot/init.ts";
import { gatherStatus, statusLines } from "../../../src/cli/status.ts";
import { makePaths } from "../../../src/system/paths.ts";
import { parseFdt } from "../../../src/system/fdt.ts";
import { fixtureDtb, IOMEM_ARM64_DT, IOMEM_ARM64_MEM384, virtDtb, writeDtDirectory } from "../system/dt-fixtures.ts";
import { makeFakeTree, RELEASE, type FakeOptions } from "./fake-tree.ts";

const MiB = 1024 * 1024;
const MOD = (root: string, ko: string) => join(root, `lib/modules/${RELEASE}/kernel/${ko}`);

/** The arm64 image booted with the reserved-memory tree; the drivers bind when loaded without parameters. */
const DT_GUEST: FakeOptions = {
  fdt: fixtureDtb("virt-512m-reserved"),
  iomem: IOMEM_ARM64_DT,
  cmdline: "console=ttyAMA0 panic=1",
  dtBind: {
    ramoops: { device: "5c000000.ramoops", address: 0x5c000000, size: MiB, recordSize: 0x20000 },
    phram: { device: "5d000000.phram", name: "persist", size: 16 * MiB },
  },
};

/** The mem= route: QEMU's own tree, mem=384M. */
const MEM_GUEST: FakeOptions = { fdt: virtDtb(), iomem: IOMEM_ARM64_MEM384, cmdline: "console=ttyAMA0 mem=384M panic=1" };
const MEM_CONFIG = { ramoops: { address: "0x5c000000", sizeBytes: "1Mi", recordSizeBytes: "128ki" }, phram: { name: "persist", address: "0x5d000000", sizeBytes: "16Mi" } };

async function init(options: FakeOptions & { config?: unknown }, prepare?: (root: string) => void) {
  const tree = makeFakeTree(options);
  if (options.config !== undefined) tree.write("etc/crashkeep/config.json", JSON.stringify(options.config));
  prepare?.(tree.root);
  const lines: string[] = [];
  const result = await runInit({ configFile: undefined, paths: makePaths(tree.root), report: (l) => lines.push(l), arch: "arm64" });
  const calls = existsSync(tree.log) ? readFileSync(tree.log, "utf8").trim().split("\n") : [];
  return { tree, result, lines, calls };
}

describe("init on arm64 with /reserved-memory nodes", () => {
  test("default config: the device tree's values win (said once each), modules bind the nodes with no parameters, the device found by its label", async () => {
    const { tree, result, lines, calls } = await init(DT_GUEST);
    expect(lines[0]).toBe("crashkeep: core_pattern /var/lib/crashkeep/cores/core.%e.%p.%t");
    expect(lines.slice(1, 5)).toEqual([
      "crashkeep: config ramoops.address 0x7000000, ramoops.sizeBytes 8Mi, ramoops.recordSizeBytes 64ki, ramoops.eccBytes 0 differ from the device tree's /reserved-memory/ramoops@5c000000 (0x5c000000, 1Mi, 128ki, 16), ignoring",
      'crashkeep: config phram.name "crashkeep", phram.address 0x7800000, phram.sizeBytes 8Mi differ from the device tree\'s /reserved-memory/phram@5d000000 ("persist", 0x5d000000, 16Mi), ignoring',
      "crashkeep: ramoops from the device tree's /reserved-memory/ramoops@5c000000 (1Mi at 0x5c000000)",
      'crashkeep: phram "persist" from the device tree\'s /reserved-memory/phram@5d000000 (16Mi at 0x5d000000)',
    ]);
    expect(lines.filter((l) => l.includes("differ"))).toHaveLength(2);
    expect(calls.filter((c) => c.startsWith("insmod"))).toEqual([
      `insmod ${MOD(tree.root, "drivers/mtd/mtd.ko")}`,
      `insmod ${MOD(tree.root, "drivers/mtd/devices/phram.ko")}`,
      `insmod ${MOD(tree.root, "lib/reed_solomon/reed_solomon.ko")}`,
      `insmod ${MOD(tree.root, "fs/pstore/ramoops.ko")}`,
    ]);
    expect(result.regions.map((r) => (r.ok ? [r.region.name, r.route, r.node] : r.reason))).toEqual([
      ["ramoops", "device-tree", "/reserved-memory/ramoops@5c000000"],
      ["phram", "device-tree", "/reserved-memory/phram@5d000000"],
    ]);
    expect(readlinkSync(join(tree.root, "dev/mtdchar/persist"))).toBe("../mtd0");
    // watch, core, note and dump look for the config's name: it links to the same device.
    expect(readlinkSync(join(tree.root, "dev/mtdchar/crashkeep"))).toBe("../mtd0");
    expect(lines).toContain(`crashkeep: ${join(tree.root, "dev/mtdchar/crashkeep")} links to mtd0 too (the config's phram.name)`);
    expect(result.device).toMatchObject({ name: "persist", index: 0, link: join(tree.root, "dev/mtdchar/persist") });
    expect(result.errors).toEqual([]);
    expect(result.ok).toBe(true);
    expect(lines.join("\n")).not.toContain("memmap");
  });

  test("a second run: both bound, nothing inserted, no region to check", async () => {
    const tree = makeFakeTree(DT_GUEST);
    const paths = makePaths(tree.root);
    await runInit({ configFile: undefined, paths, report: () => {}, arch: "arm64" });
    const before = readFileSync(tree.log, "utf8");
    const lines: string[] = [];
    const again = await runInit({ configFile: undefined, paths, report: (l) => lines.push(l), arch: "arm64" });
    expect(readFileSync(tree.log, "utf8")).toBe(before);
    expect(again.regions).toEqual([]);
    expect(lines).toContain("crashkeep: ramoops already bound at 0x5c000000 (1048576 bytes, records of 131072)");
    expect(lines).toContain('crashkeep: phram device "persist" already present (mtd0)');
    expect(again.ok).toBe(true);
  });

  test("the /proc/device-tree fallback (no /sys/firmware/fdt: not root) gives the same result", async () => {
    const { fdt: _fdt, ...noBlob } = DT_GUEST;
    const { result, lines } = await init(noBlob, (root) => writeDtDirectory(parseFdt(fixtureDtb("virt-512m-reserved")), join(root, "proc/device-tree")));
    expect(result.ok).toBe(true);
    expect(result.device?.name).toBe("persist");
    expect(lines.filter((l) => l.includes("differ"))).toHaveLength(2);
  });

  test("a config that agrees with the tree says nothing about it", async () => {
    const { lines, result, tree } = await init({ ...DT_GUEST, config: MEM_CONFIG });
    expect(existsSync(join(tree.root, "dev/mtdchar/crashkeep"))).toBe(false);
    expect(lines.filter((l) => l.includes("differ"))).toEqual([
      // eccBytes is the only key MEM_CONFIG leaves at its default
      "crashkeep: config ramoops.eccBytes 0 differs from the device tree's /reserved-memory/ramoops@5c000000 (16), ignoring",
    ]);
    expect(result.ok).toBe(true);
  });
});

describe("init on arm64 without /reserved-memory nodes", () => {
  test("mem= route: regions above the cap are valid; modules get their parameters", async () => {
    const { tree, result, calls } = await init({ ...MEM_GUEST, config: MEM_CONFIG });
    expect(result.regions.map((r) => (r.ok ? r.route : r.reason))).toEqual(["mem-limit", "mem-limit"]);
    expect(calls).toContain(`insmod ${MOD(tree.root, "drivers/mtd/devices/phram.ko")} phram=persist,0x5d000000,16777216`);
    expect(calls.find((c) => c.includes("ramoops.ko"))).toStartWith(`insmod ${MOD(tree.root, "fs/pstore/ramoops.ko")} mem_address=0x5c000000 mem_size=1048576 record_size=131072`);
    expect(result.ok).toBe(true);
  });

  test("regions in Linux's RAM: the device-tree node or mem= to add, never memmap=; no module inserted", async () => {
    const { result, lines, calls } = await init({ ...MEM_GUEST, cmdline: "console=ttyAMA0", iomem: "40000000-5fffffff : System RAM\n", config: MEM_CONFIG });
    expect(calls.filter((c) => c.startsWith("insmod"))).toEqual([]);
    expect(lines).toContain("Cannot use the ramoops region: ramoops region 0x5c000000-0x5c0fffff overlaps System RAM 0x40000000-0x5fffffff, and no /reserved-memory node of the device tree covers it");
    expect(lines).toContain("crashkeep: add /reserved-memory nodes for ramoops and phram to the device tree (crashkeep config check prints them) or boot with mem=448M; no module inserted");
    expect(lines.join("\n")).not.toContain("memmap");
    expect(result.ok).toBe(false);
  });

  test("the default (x86) addresses on QEMU virt: outside RAM, said so (what status printed as memmap= before)", async () => {
    const { lines } = await init({ ...MEM_GUEST, cmdline: "console=ttyAMA0" });
    expect(lines).toContain("Cannot use the ramoops region: ramoops region 0x7000000-0x77fffff is not inside the machine's RAM (device tree memory 0x40000000-0x5fffffff)");
    expect(lines).toContain("crashkeep: the regions are not inside the machine's RAM (device tree memory 0x40000000-0x5fffffff): choose addresses inside it; no module inserted");
    expect(lines.join("\n")).not.toContain("memmap");
  });

  test("a truncated /sys/firmware/fdt: one warning, the rest of init goes on", async () => {
    const { result, lines } = await init({ ...MEM_GUEST, fdt: virtDtb().slice(0, 2000), config: MEM_CONFIG });
    expect(lines.filter((l) => l.includes("/sys/firmware/fdt"))).toEqual([
      'Cannot read the device tree "/sys/firmware/fdt": device tree truncated: header says 1048576 bytes, got 2000, ignoring',
    ]);
    expect(result.errors.filter((e) => e.includes("/sys/firmware/fdt"))).toEqual([]); // a warning, not a failed step
    // Without the tree the RAM end is unknown, so the mem= route cannot be confirmed.
    expect(result.regions.every((r) => !r.ok)).toBe(true);
    expect(lines.at(-1)).toStartWith("crashkeep: previous boot ended in");
  });
});

describe("status on arm64", () => {
  test("the device tree's regions, their route, the notes; no memmap=", async () => {
    const tree = makeFakeTree(DT_GUEST);
    const paths = makePaths(tree.root);
    await runInit({ configFile: undefined, paths, report: () => {}, arch: "arm64" });
    const { status, text } = gatherStatus({ configFile: undefined, device: undefined, paths, arch: "arm64" });
    expect(status.arch).toBe("arm64");
    expect(status.memmap).toEqual([]);
    expect(status.deviceTree).toMatchObject({
      source: "/sys/firmware/fdt",
      memory: [{ start: "0x40000000", size: 512 * MiB }],
      ramoops: { node: "/reserved-memory/ramoops@5c000000", device: "5c000000.ramoops", bound: true },
      phram: { node: "/reserved-memory/phram@5d000000", device: "5d000000.phram", name: "persist", bound: true },
    });
    expect(status.regions.map((r) => [r.name, r.ok, r.route])).toEqual([["ramoops", true, "device-tree"], ["phram", true, "device-tree"]]);
    expect(status.device).toMatchObject({ name: "persist", link: join(tree.root, "dev/mtdchar/persist") });
    const lines = statusLines(status, text);
    expect(lines[1]).toBe(`kernel:   ${RELEASE}; regions reserved by the device tree`);
    expect(lines[2]).toBe("dt:       /sys/firmware/fdt: ramoops /reserved-memory/ramoops@5c000000 (bound), phram /reserved-memory/phram@5d000000 (bound)");
    expect(lines.filter((l) => l.startsWith("note:"))).toHaveLength(2);
    expect(lines).toContain("region:   phram 16Mi at 0x5d000000: reserved by the device tree's /reserved-memory/phram@5d000000");
    expect(lines.join("\n")).not.toContain("memmap");
  });

  test("not reserved: what to add instead of memmap=", () => {
    const tree = makeFakeTree({ ...MEM_GUEST, cmdline: "console=ttyAMA0", iomem: "40000000-5fffffff : System RAM\n" });
    tree.write("etc/crashkeep/config.json", JSON.stringify(MEM_CONFIG));
    const { status, text } = gatherStatus({ configFile: undefined, device: undefined, paths: makePaths(tree.root), arch: "arm64" });
    expect(status.needs.memLimit).toBe("mem=448M");
    expect(status.needs.reservedMemory).toContain("phram@5d000000 {");
    expect(statusLines(status, text)[1]).toBe(`kernel:   ${RELEASE}; needs: add /reserved-memory nodes for ramoops and phram to the device tree (crashkeep config check prints them) or boot with mem=448M`);
  });

  test("x86 keeps its memmap= line", () => {
    const tree = makeFakeTree();
    rmSync(join(tree.root, "sys/firmware"), { recursive: true, force: true });
    const { status, text } = gatherStatus({ configFile: undefined, device: undefined, paths: makePaths(tree.root), arch: "x86" });
    expect(status.memmap).toEqual(["memmap=16M$0x7000000"]);
    expect(status.deviceTree).toBeUndefined();
    expect(status.regions.map((r) => [r.ok, r.route])).toEqual([[true, "memmap"], [true, "memmap"]]);
    expect(statusLines(status, text)[1]).toBe(`kernel:   ${RELEASE}; needs memmap=16M$0x7000000`);
  });
});

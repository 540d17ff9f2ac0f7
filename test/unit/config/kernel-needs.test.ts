import { describe, expect, test } from "bun:test";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseConfig } from "../../../src/config/load.ts";
import { adviceLine, kernelNeeds, kernelNeedsText, reservedMemorySnippet } from "../../../src/config/kernel-needs.ts";
import { applyDeviceTree } from "../../../src/config/devicetree-config.ts";
import { describeDeviceTree } from "../../../src/system/devicetree.ts";
import { parseFdt } from "../../../src/system/fdt.ts";
import { fixtureDtb, virtDtb } from "../system/dt-fixtures.ts";

const MiB = 1024 * 1024;
const VIRT_RAM = [{ start: 0x40000000, size: 512 * MiB }];
/** The arm64 image's regions (aarch64-recipe.md). */
const ARM64 = parseConfig({
  ramoops: { address: "0x5c000000", sizeBytes: "1Mi", recordSizeBytes: "128ki", eccBytes: 16 },
  phram: { name: "persist", address: "0x5d000000", sizeBytes: "16Mi" },
});

describe("x86: memmap=", () => {
  test("the default config, as before", () => {
    const needs = kernelNeeds(parseConfig({}), "x86");
    expect(needs).toMatchObject({ memmap: ["memmap=16M$0x7000000"], reservedMemory: undefined, memLimit: undefined });
    expect(kernelNeedsText(needs, parseConfig({}))).toEqual(["kernel command line needs: memmap=16M$0x7000000"]);
    expect(adviceLine(needs)).toBe("add memmap=16M$0x7000000 to the kernel command line");
  });
});

describe("arm64: a /reserved-memory snippet or mem=, never memmap=", () => {
  test("the snippet for the default config (the format docs/AARCH64.md quotes)", () => {
    expect(reservedMemorySnippet(parseConfig({}))).toBe(`/ {
	reserved-memory {
		#address-cells = <2>;
		#size-cells = <2>;
		ranges;

		ramoops@7000000 {
			compatible = "ramoops";
			reg = <0x0 0x7000000 0x0 0x800000>;
			record-size = <0x10000>;
			max-reason = <2>;
		};

		phram@7800000 {
			compatible = "phram";
			label = "crashkeep";
			reg = <0x0 0x7800000 0x0 0x800000>;
			no-map;
		};
	};
};`);
  });

  test("optional ramoops properties appear only when set; one cell each when the tree has one", () => {
    const c = parseConfig({ ramoops: { address: "0x5c000000", sizeBytes: "2Mi", consoleSizeBytes: "64ki", eccBytes: 16, memType: 1, maxReason: "panic" }, phram: { address: "0x5e000000" } });
    const text = reservedMemorySnippet(c, { address: 1, size: 1 });
    expect(text).toContain("reg = <0x5c000000 0x200000>;");
    expect(text).toContain("#address-cells = <1>;");
    expect(text.split("\n").filter((l) => l.includes("-size") || l.includes("mem-type") || l.includes("max-reason")).map((l) => l.trim())).toEqual([
      "record-size = <0x10000>;",
      "console-size = <0x10000>;",
      "ecc-size = <16>;",
      "mem-type = <1>;",
      "max-reason = <1>;",
    ]);
  });

  test("dtc compiles the snippet into QEMU's tree, and crashkeep reads back exactly the configured regions", () => {
    const dir = mkdtempSync(join(tmpdir(), "crashkeep-snippet-"));
    writeFileSync(join(dir, "virt.dtb"), virtDtb());
    const dts = Bun.spawnSync(["dtc", "-q", "-I", "dtb", "-O", "dts", join(dir, "virt.dtb")]);
    expect(dts.exitCode).toBe(0);
    // Appended after the board's tree, as a user would: dtc merges the root nodes.
    writeFileSync(join(dir, "board.dts"), `${dts.stdout.toString()}\n${reservedMemorySnippet(ARM64)}\n`);
    const dtb = Bun.spawnSync(["dtc", "-q", "-I", "dts", "-O", "dtb", join(dir, "board.dts")]);
    expect(dtb.stderr.toString()).toBe("");
    const facts = describeDeviceTree(parseFdt(new Uint8Array(dtb.stdout)), "dtc");
    expect(facts.warnings).toEqual([]);
    const applied = applyDeviceTree(ARM64, facts);
    expect(applied.notes).toEqual([]);
    expect(applied.warnings).toEqual([]);
    expect(applied.config).toEqual(ARM64);
    expect(facts.reserved.map((r) => [r.path, r.noMap])).toEqual([["/reserved-memory/ramoops@5c000000", false], ["/reserved-memory/phram@5d000000", true]]);
  });

  test("the same regions as the image's hand-written tree (fixture virt-512m-reserved)", () => {
    const applied = applyDeviceTree(ARM64, describeDeviceTree(parseFdt(fixtureDtb("virt-512m-reserved")), "fdt"));
    expect(applied.notes).toEqual([]);
    expect(applied.config).toEqual(ARM64);
  });

  test("with the machine's RAM known: the exact mem=", () => {
    const needs = kernelNeeds(ARM64, "arm64", { memory: VIRT_RAM });
    expect(needs.memmap).toEqual([]);
    expect(needs.memLimit).toBe("mem=448M");
    const text = kernelNeedsText(needs, ARM64);
    expect(text[0]).toBe("device tree needs (arm64 has no memmap=), in the board's .dts:");
    expect(text[1]).toBe(reservedMemorySnippet(ARM64));
    expect(text.slice(2)).toEqual(["or kernel command line needs: mem=448M (Linux then keeps only the RAM below 0x5c000000)"]);
    expect(adviceLine(needs)).toBe("add /reserved-memory nodes for ramoops and phram to the device tree (crashkeep config check prints them) or boot with mem=448M");
  });

  test("without it (config check on a workstation): how to work mem= out", () => {
    const text = kernelNeedsText(kernelNeeds(ARM64, "arm64"), ARM64);
    expect(text.at(-1)).toBe("or kernel command line needs: mem= set to the amount of RAM below 0x5c000000");
  });

  // The Buildroot package once installed x86's config on aarch64 and
  // config check --arch arm64 said OK with nothing more.
  test("without it, regions below QEMU virt's RAM (x86's addresses) get a note; exact DT memory says more", () => {
    const x86 = parseConfig({});
    const text = kernelNeedsText(kernelNeeds(x86, "arm64"), x86);
    expect(text.filter((l) => l.startsWith("note: the regions start"))).toEqual([
      "note: the regions start at 0x7000000, below 0x40000000 where the RAM of QEMU's virt machine starts (x86 configs use such addresses); check them against the board's memory map (its device tree's /memory nodes)",
    ]);
    expect(kernelNeeds(ARM64, "arm64").ramNote).toBeUndefined();
    expect(kernelNeeds(x86, "x86").ramNote).toBeUndefined();
    expect(kernelNeeds(x86, "arm64", { memory: VIRT_RAM }).ramNote).toBeUndefined();
  });

  test("the x86 default addresses on QEMU virt: outside RAM, said first; no mem= offered", () => {
    const needs = kernelNeeds(parseConfig({}), "arm64", { memory: VIRT_RAM });
    expect(needs.memLimit).toBeUndefined();
    expect(adviceLine(needs)).toBe("the regions are not inside the machine's RAM (device tree memory 0x40000000-0x5fffffff): choose addresses inside it");
    expect(kernelNeedsText(needs, parseConfig({}))[0]).toBe(`warning: ${adviceLine(needs)}`);
  });

  test("no arm64 text mentions memmap= except to say it does not exist", () => {
    for (const memory of [[], VIRT_RAM]) {
      for (const config of [ARM64, parseConfig({}), parseConfig({ phram: { eraseSizeBytes: 65536 } })]) {
        const needs = kernelNeeds(config, "arm64", { memory });
        const text = [...kernelNeedsText(needs, config), adviceLine(needs)].join("\n").replace("arm64 has no memmap=", "");
        expect(text).not.toContain("memmap");
      }
    }
  });

  test("regions at the very start of RAM: no mem= is offered, the snippet still is", () => {
    const c = parseConfig({ ramoops: { address: "0x40000000" }, phram: { address: "0x40800000" } });
    const text = kernelNeedsText(kernelNeeds(c, "arm64", { memory: VIRT_RAM }), c);
    expect(text.slice(2)).toEqual(["note: no mem= can keep Linux below the regions: no RAM lies below 0x40000000"]);
    expect(adviceLine(kernelNeeds(c, "arm64", { memory: VIRT_RAM }))).toBe("add /reserved-memory nodes for ramoops and phram to the device tree (crashkeep config check prints them)");
  });

  test("a phram erase size other than PAGE_SIZE is pointed out", () => {
    const c = parseConfig({ phram: { eraseSizeBytes: 65536 } });
    expect(kernelNeedsText(kernelNeeds(c, "arm64"), c).at(-1)).toBe("note: phram.eraseSizeBytes is 65536, but phram bound from the device tree uses PAGE_SIZE (4096 on the usual arm64 kernels)");
  });
});

describe("applyDeviceTree: the device tree wins, said once per region", () => {
  const facts = describeDeviceTree(parseFdt(fixtureDtb("virt-512m-reserved")), "fdt");

  test("the default config against the image's tree", () => {
    const applied = applyDeviceTree(parseConfig({}), facts);
    expect(applied.notes).toEqual([
      "config ramoops.address 0x7000000, ramoops.sizeBytes 8Mi, ramoops.recordSizeBytes 64ki, ramoops.eccBytes 0 differ from the device tree's /reserved-memory/ramoops@5c000000 (0x5c000000, 1Mi, 128ki, 16), ignoring",
      'config phram.name "crashkeep", phram.address 0x7800000, phram.sizeBytes 8Mi differ from the device tree\'s /reserved-memory/phram@5d000000 ("persist", 0x5d000000, 16Mi), ignoring',
    ]);
    expect(applied.config.ramoops).toMatchObject({ address: 0x5c000000, sizeBytes: MiB, recordSizeBytes: 0x20000, eccBytes: 16 });
    expect(applied.config.phram).toEqual({ name: "persist", address: 0x5d000000, sizeBytes: 16 * MiB, eraseSizeBytes: 4096 });
    // Everything else is the config's.
    expect(applied.config.archive).toEqual(parseConfig({}).archive);
  });

  test("one differing key is singular", () => {
    const c = parseConfig({
      ramoops: { address: "0x5c000000", sizeBytes: "1Mi", recordSizeBytes: "128ki", eccBytes: 16 },
      phram: { name: "persist", address: "0x5d000000", sizeBytes: "16Mi", eraseSizeBytes: "64ki" },
    });
    expect(applyDeviceTree(c, facts).notes).toEqual(["config phram.eraseSizeBytes 65536 differs from the device tree's /reserved-memory/phram@5d000000 (4096), ignoring"]);
  });

  test("no device tree, or one without nodes: the config as it is", () => {
    const c = parseConfig({});
    expect(applyDeviceTree(c, undefined)).toEqual({ config: c, ramoops: undefined, phram: undefined, notes: [], warnings: [] });
    expect(applyDeviceTree(c, describeDeviceTree(parseFdt(virtDtb()), "fdt")).config).toBe(c);
  });

  test("a hostile label is not used as a device name", () => {
    const root = parseFdt(fixtureDtb("virt-512m-reserved"));
    const rm = root.children.find((n) => n.name === "reserved-memory");
    const phram = rm?.children.find((n) => n.name.startsWith("phram"));
    phram?.props.set("label", new TextEncoder().encode("../../etc/passwd\0"));
    const applied = applyDeviceTree(parseConfig({}), describeDeviceTree(root, "fdt"));
    expect(applied.phram).toBeUndefined();
    expect(applied.config.phram.name).toBe("crashkeep");
    expect(applied.warnings).toEqual(['Cannot use /reserved-memory/phram@5d000000: its MTD name "../../etc/passwd" is not 1-63 characters of A-Z a-z 0-9 _ . -, ignoring']);
  });

  test("several phram nodes: the one named like the config", () => {
    const root = parseFdt(fixtureDtb("virt-512m-nolabel"));
    const rm = root.children.find((n) => n.name === "reserved-memory");
    const spare = rm?.children.find((n) => n.name === "phram@5f800000");
    spare?.props.delete("status");
    const facts = describeDeviceTree(root, "fdt");
    expect(applyDeviceTree(parseConfig({ phram: { name: "spare" } }), facts).phram?.path).toBe("/reserved-memory/phram@5f800000");
    expect(applyDeviceTree(parseConfig({}), facts).phram?.path).toBe("/reserved-memory/phram@5f000000");
  });
});

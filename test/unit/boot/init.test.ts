import { describe, expect, test } from "bun:test";
import { existsSync, readFileSync, readdirSync, readlinkSync } from "node:fs";
import { join } from "node:path";
import { runInit } from "../../../src/boot/init.ts";
import { makePaths } from "../../../src/system/paths.ts";
import { IOMEM_NO_MEMMAP, makeFakeTree, RELEASE, type FakeOptions } from "./fake-tree.ts";
import { markPending, PENDING_SUBDIR } from "../../../src/daemon/journal-retry.ts";
import { parseJournal } from "../../../src/journal/journal.ts";

async function init(options: FakeOptions & { config?: unknown; configText?: string } = {}) {
  const tree = makeFakeTree(options);
  if (options.config !== undefined) tree.write("etc/crashkeep/config.json", JSON.stringify(options.config));
  if (options.configText !== undefined) tree.write("etc/crashkeep/config.json", options.configText);
  const lines: string[] = [];
  const result = await runInit({ configFile: undefined, paths: makePaths(tree.root), report: (l) => lines.push(l) });
  const calls = existsSync(tree.log) ? readFileSync(tree.log, "utf8").trim().split("\n") : [];
  return { tree, result, lines, calls };
}

const MOD = (root: string, ko: string) => join(root, `lib/modules/${RELEASE}/kernel/${ko}`);

describe("crashkeep init on a fake tree", () => {
  test("first boot with insmod only: dependencies first, plain numbers, link, pstore mounted", async () => {
    const { tree, result, calls, lines } = await init();
    expect(calls).toEqual([
      `insmod ${MOD(tree.root, "drivers/mtd/mtd.ko")}`,
      `insmod ${MOD(tree.root, "drivers/mtd/devices/phram.ko")} phram=crashkeep,0x7800000,8388608`,
      `insmod ${MOD(tree.root, "lib/reed_solomon/reed_solomon.ko")}`,
      `insmod ${MOD(tree.root, "fs/pstore/ramoops.ko")} mem_address=0x7000000 mem_size=8388608 record_size=65536 console_size=0 pmsg_size=0 ftrace_size=0 ecc=0 max_reason=2 mem_type=0`,
      `mount -t pstore pstore ${join(tree.root, "sys/fs/pstore")}`,
    ]);
    expect(readlinkSync(join(tree.root, "dev/mtdchar/crashkeep"))).toBe("../mtd0");
    expect(result.ok).toBe(true);
    expect(result.device).toMatchObject({ name: "crashkeep", index: 0 });
    expect(lines).toContain("crashkeep: first boot: no journal and no archive yet, nothing to collect");
    expect(lines.at(-1)).toBe("crashkeep: journal on " + join(tree.root, "dev/mtdchar/crashkeep") + " formatted");
    expect(readdirSync(join(tree.root, "var/lib/crashkeep"))).toEqual(["cores"]);
    expect(readFileSync(join(tree.root, "proc/sys/kernel/core_pattern"), "utf8")).toBe("/var/lib/crashkeep/cores/core.%e.%p.%t\n");
  });

  test("the core_pattern set is kept for the next boot's init script; cores.mode off removes it and undoes the script's pattern", async () => {
    const PATTERN = "/var/lib/crashkeep/cores/core.%e.%p.%t";
    const kept = (root: string) => join(root, "var/cache/crashkeep/core_pattern");
    const { tree, lines } = await init();
    expect(readFileSync(kept(tree.root), "utf8")).toBe(`${PATTERN}\n`);
    expect(lines.filter((l) => l.includes("Cannot keep"))).toEqual([]);
    // The next boot: the script wrote the kept pattern into the kernel; the config now says "off".
    tree.write("proc/sys/kernel/core_pattern", `${PATTERN}\n`);
    tree.write("etc/crashkeep/config.json", JSON.stringify({ cores: { mode: "off" } }));
    const off = await runInit({ configFile: undefined, paths: makePaths(tree.root), report: () => {} });
    expect(off.ok).toBe(true);
    expect(existsSync(kept(tree.root))).toBe(false);
    expect(readFileSync(join(tree.root, "proc/sys/kernel/core_pattern"), "utf8")).toBe("core\n");
    // A pattern someone else set is not ours to undo.
    tree.write("proc/sys/kernel/core_pattern", "|/usr/lib/systemd/systemd-coredump %P\n");
    await runInit({ configFile: undefined, paths: makePaths(tree.root), report: () => {} });
    expect(readFileSync(join(tree.root, "proc/sys/kernel/core_pattern"), "utf8")).toBe("|/usr/lib/systemd/systemd-coredump %P\n");
  });

  test("core_pattern that cannot be kept (var/cache a file): said, not a failed step", async () => {
    const tree = makeFakeTree();
    tree.write("var/cache/crashkeep", "not a directory");
    const lines: string[] = [];
    const result = await runInit({ configFile: undefined, paths: makePaths(tree.root), report: (l) => lines.push(l) });
    expect(result.errors.filter((e) => e.includes("core_pattern"))).toEqual([]);
    expect(lines.filter((l) => l.startsWith("Cannot keep core_pattern"))).toHaveLength(1);
    expect(readFileSync(join(tree.root, "proc/sys/kernel/core_pattern"), "utf8")).toBe("/var/lib/crashkeep/cores/core.%e.%p.%t\n");
  });

  test("a second run inserts nothing and keeps the link", async () => {
    const tree = makeFakeTree();
    const paths = makePaths(tree.root);
    await runInit({ configFile: undefined, paths, report: () => {} });
    const before = readFileSync(tree.log, "utf8");
    const lines: string[] = [];
    const again = await runInit({ configFile: undefined, paths, report: (l) => lines.push(l) });
    expect(again.ok).toBe(true);
    expect(readFileSync(tree.log, "utf8")).toBe(before);
    expect(again.modules).toEqual([]);
    // core_pattern first (issue 24: a crash while the rest of init runs is captured).
    expect(lines.slice(0, 3)).toEqual([
      "crashkeep: core_pattern /var/lib/crashkeep/cores/core.%e.%p.%t",
      "crashkeep: ramoops already bound at 0x7000000 (8388608 bytes, records of 65536)",
      'crashkeep: phram device "crashkeep" already present (mtd0)',
    ]);
  });

  test("ramoops bound by the device tree elsewhere: used as it is, its region not checked, not inserted", async () => {
    const tree = makeFakeTree({ loaded: ["reed_solomon", "ramoops"], iomem: IOMEM_NO_MEMMAP.replace("00100000-3ffdffff : System RAM", "00100000-06ffffff : System RAM\n07000000-07ffffff : Reserved\n08000000-3ffdffff : System RAM") });
    tree.write("sys/module/ramoops/parameters/mem_address", "1073741824\n");
    tree.write("sys/module/ramoops/parameters/mem_size", "1048576\n");
    tree.write("sys/module/ramoops/parameters/record_size", "4096\n");
    const lines: string[] = [];
    const result = await runInit({ configFile: undefined, paths: makePaths(tree.root), report: (l) => lines.push(l) });
    expect(lines[0]).toBe("crashkeep: core_pattern /var/lib/crashkeep/cores/core.%e.%p.%t");
    expect(lines[1]).toBe("crashkeep: ramoops already bound at 0x40000000 (1048576 bytes, records of 4096), not at the configured 0x7000000: using the bound one, ignoring ramoops config");
    expect(result.regions.map((r) => r.region.name)).toEqual(["phram"]);
    expect(readFileSync(tree.log, "utf8")).not.toContain("ramoops.ko");
    expect(result.ok).toBe(true);
  });

  test("modprobe is used when present", async () => {
    const { calls } = await init({ tools: ["modprobe", "insmod"] });
    expect(calls.filter((c) => !c.startsWith("mount"))).toEqual([
      "modprobe mtd",
      "modprobe phram phram=crashkeep,0x7800000,8388608",
      "modprobe reed_solomon",
      "modprobe ramoops mem_address=0x7000000 mem_size=8388608 record_size=65536 console_size=0 pmsg_size=0 ftrace_size=0 ecc=0 max_reason=2 mem_type=0",
    ]);
  });

  test("a built-in phram is not inserted; its parameters must go on the kernel command line", async () => {
    const { lines, calls } = await init({ builtin: ["mtd", "phram"] });
    expect(lines).toContain("crashkeep: module phram: built in; its parameters must be on the kernel command line: phram.phram=crashkeep,0x7800000,8388608");
    expect(calls.some((c) => c.includes("phram.ko"))).toBe(false);
    expect(calls.some((c) => c.includes("ramoops.ko"))).toBe(true);
  });

  test("a built-in phram with its sysfs parameter: not inserted, and its device added there, as said", async () => {
    const tree = makeFakeTree({ builtin: ["mtd", "phram"] });
    tree.write("sys/module/phram/parameters/phram", "");
    const lines: string[] = [];
    await runInit({ configFile: undefined, paths: makePaths(tree.root), report: (l) => lines.push(l) });
    expect(lines).toContain("crashkeep: module phram: built in; its device is added through /sys/module/phram/parameters/phram");
    expect(lines.filter((l) => l.includes("kernel command line"))).toEqual([]);
    expect(readFileSync(join(tree.root, "sys/module/phram/parameters/phram"), "utf8")).toBe("crashkeep,0x7800000,8388608");
    expect(readFileSync(tree.log, "utf8")).not.toContain("phram.ko");
  });

  test("a missing .ko names the path looked for; ramoops is still inserted", async () => {
    const { tree, result, calls } = await init({ missing: ["phram"] });
    expect(result.ok).toBe(false);
    expect(result.errors).toContain(`Cannot load module "phram": "${MOD(tree.root, "drivers/mtd/devices/phram.ko")}" does not exist`);
    expect(calls.some((c) => c.includes("ramoops.ko"))).toBe(true);
  });

  test("a region in System RAM: the memmap= to add, no module inserted, boot goes on", async () => {
    const { result, calls, lines } = await init({ iomem: IOMEM_NO_MEMMAP });
    expect(result.ok).toBe(false);
    expect(calls.filter((c) => c.startsWith("insmod"))).toEqual([]);
    expect(lines).toContain("Cannot use the ramoops region: ramoops region 0x7000000-0x77fffff overlaps System RAM 0x100000-0x3ffdffff");
    expect(lines).toContain("crashkeep: add memmap=16M$0x7000000 to the kernel command line; no module inserted");
    expect(lines.at(-1)).toStartWith("crashkeep: previous boot ended in");
  });

  test("a bad config: every problem on the console, then defaults", async () => {
    const { result, lines, calls } = await init({ config: { phram: { sizeBytes: 1000 }, bogus: true } });
    expect(lines.slice(0, 3)).toEqual([
      expect.stringMatching(/^Cannot load config ".*config.json": phram.sizeBytes: must be a multiple of 4096, got 1000$/),
      expect.stringMatching(/^Cannot load config ".*config.json": bogus: unknown key$/),
      "crashkeep: continuing with the default config",
    ]);
    expect(result.configErrors).toHaveLength(2);
    expect(calls.some((c) => c.includes("phram=crashkeep,0x7800000,8388608"))).toBe(true);
  });

  test("an unparseable config is one line, then defaults", async () => {
    const { lines } = await init({ configText: "{ not json" });
    expect(lines[0]).toMatch(/^Cannot load config ".*": not valid JSON: /);
    expect(lines[1]).toBe("crashkeep: continuing with the default config");
  });

  test("a phram already loaded without our device gets it through its sysfs parameter", async () => {
    const tree = makeFakeTree({ loaded: ["mtd", "phram"] });
    tree.write("sys/module/phram/parameters/phram", "");
    const paths = makePaths(tree.root);
    const lines: string[] = [];
    const result = await runInit({ configFile: undefined, paths, report: (l) => lines.push(l) });
    expect(readFileSync(join(tree.root, "sys/module/phram/parameters/phram"), "utf8")).toBe("crashkeep,0x7800000,8388608");
    // The fake sysfs file cannot create /proc/mtd lines, so the device stays missing: said, not thrown.
    expect(result.errors).toContain('Cannot find MTD device "crashkeep" in /proc/mtd');
    expect(readdirSync(join(tree.root, "dev"))).not.toContain("mtdchar");
  });
});

describe("crashkeep init writes the crash reports still waiting for the journal (issue 19)", () => {
  const REPORT = "20261207T100000Z-abort-7135";
  const PAYLOAD = '{"v":1,"comm":"abort","pid":7135}';

  /** A device after its first boot, with a crash report archived whose journal write failed. */
  async function waitingTree() {
    const tree = makeFakeTree();
    const paths = makePaths(tree.root);
    await runInit({ configFile: undefined, paths, report: () => {} });
    tree.write(`var/lib/crashkeep/reports/${REPORT}/capture.json`, `${JSON.stringify({ journalSeq: null, journalWrittenAt: null, journalPending: true, journalError: "EIO: i/o error, write", core: "x" })}\n`);
    markPending(join(tree.root, "var/lib/crashkeep/reports"), { report: REPORT, timeMs: Date.parse("2026-12-07T10:00:00Z"), error: "EIO: i/o error, write", place: null, payload: PAYLOAD });
    tree.write("proc/sys/kernel/random/boot_id", "22222222-2222-4222-8222-222222222222\n");
    return { tree, paths };
  }

  const journal = (root: string) => parseJournal(new Uint8Array(readFileSync(join(root, "dev/mtd0"))));
  const capture = (root: string) => JSON.parse(readFileSync(join(root, "var/lib/crashkeep/reports", REPORT, "capture.json"), "utf8")) as Record<string, unknown>;

  test("a retained journal: written before the collection, so the previous boot's entry holds it", async () => {
    const { tree, paths } = await waitingTree();
    const lines: string[] = [];
    const result = await runInit({ configFile: undefined, paths, report: (l) => lines.push(l) });
    expect(result.ok).toBe(true);
    expect(lines).toContain(`crashkeep: wrote the report ${REPORT} into the journal (record 1), after an earlier failure`);
    const entry = result.collected?.entryDir ?? "";
    expect(readFileSync(join(entry, "journal-1-crash-report.json"), "utf8")).toBe(PAYLOAD);
    expect(result.collected?.summary).toContain("last user-space crash before it: abort (pid 7135");
    const j = journal(tree.root);
    expect(j.records.map((r) => [r.seq, r.kind, r.collected, r.bootId])).toEqual([[1, "crash-report", true, "11111111-1111-4111-8111-111111111111"]]);
    expect(capture(tree.root)).toMatchObject({ journalSeq: 1, journalPending: false });
    expect(readdirSync(join(tree.root, "var/lib/crashkeep/reports", PENDING_SUBDIR))).toEqual([]);
  });

  test("a journal not retained (cold boot): written into the journal formatted afresh, for the next boot to collect", async () => {
    const { tree, paths } = await waitingTree();
    tree.write("dev/mtd0", new Uint8Array(8 * 1024 * 1024));
    const lines: string[] = [];
    const result = await runInit({ configFile: undefined, paths, report: (l) => lines.push(l) });
    expect(result.ok).toBe(true);
    expect(result.journal?.action).toBe("formatted");
    const j = journal(tree.root);
    expect(j.records.map((r) => [r.kind, r.collected, new TextDecoder().decode(r.payload)])).toEqual([["crash-report", false, PAYLOAD]]);
    expect(capture(tree.root)).toMatchObject({ journalSeq: j.records[0]?.seq, journalPending: false });
  });
});

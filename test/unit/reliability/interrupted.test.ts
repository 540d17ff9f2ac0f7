// Regressions found by the fault sweep (test/integration/fault-sweep.test.ts):
// each reproduces, in-process, the state a killed or failed run left behind,
// then runs the same step again and checks that the evidence is kept once.
import { describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { runInit } from "../../../src/boot/init.ts";
import { collectPreviousBoot } from "../../../src/boot/collect.ts";
import { listEntries } from "../../../src/archive/archive.ts";
import { removeStaleTemps } from "../../../src/archive/temp-files.ts";
import { parseConfig } from "../../../src/config/load.ts";
import { openDevice } from "../../../src/copy/block-device.ts";
import { appendRecord, formatJournal, openJournal, readJournal } from "../../../src/journal/journal.ts";
import { openBootJournal } from "../../../src/boot/journal-boot.ts";
import { captureReport } from "../../../src/daemon/capture.ts";
import { reportsDir } from "../../../src/daemon/reports-dir.ts";
import { RateLimiter } from "../../../src/daemon/rate-limit.ts";
import { CoreWatcher } from "../../../src/daemon/core-watcher.ts";
import { readCoreFile } from "../../../src/core/source.ts";
import { buildReport } from "../../../src/core/report.ts";
import { tmpdir } from "node:os";
import { makePaths } from "../../../src/system/paths.ts";
import { makeFakeTree, type FakeTree } from "../boot/fake-tree.ts";
import { fixtures } from "../core/fixtures.ts";

const PANIC = readFileSync(join(import.meta.dir, "../../fixtures/pstore/sysrq/dmesg-ramoops-0"));
const ARCHIVE = "var/lib/crashkeep";

async function boot(tree: FakeTree) {
  const lines: string[] = [];
  const result = await runInit({ configFile: undefined, paths: makePaths(tree.root), report: (l) => lines.push(l) });
  return { result, lines };
}

function note(tree: FakeTree, text: string): void {
  const paths = makePaths(tree.root);
  const dev = openDevice(join(tree.root, "dev/mtdchar/crashkeep"), { write: true, paths });
  try {
    appendRecord(openJournal(dev, { paths }), { kind: "note", payload: new TextEncoder().encode(text) });
  } finally {
    dev.close();
  }
}

/** A device after one boot with a note in its journal, rebooted after a panic. */
async function crashedBoot(): Promise<FakeTree> {
  const tree = makeFakeTree();
  await boot(tree);
  note(tree, "before the panic");
  tree.write("proc/sys/kernel/random/boot_id", "22222222-2222-4222-8222-222222222222\n");
  tree.write("sys/fs/pstore/dmesg-ramoops-0", PANIC);
  return tree;
}

describe("init run again after an interrupted collection", () => {
  test("killed after the entry was renamed into place, before pstore was cleared or the journal marked: one entry", async () => {
    const tree = await crashedBoot();
    const paths = makePaths(tree.root);
    const config = parseConfig({});
    // What the killed run did: the entry is written, nothing after it.
    const dev = openDevice(join(tree.root, "dev/mtdchar/crashkeep"), { write: true, paths });
    const jb = openBootJournal(dev, config, paths);
    const first = collectPreviousBoot(config, paths, { journal: jb.evidence });
    dev.close();
    expect(first.entry?.files.map((f) => f.name)).toEqual(["dmesg-ramoops-0", "journal-1-note.txt"]);
    tree.write("sys/fs/pstore/dmesg-ramoops-0", PANIC); // the unlink never happened
    const again = await boot(tree);
    expect(again.result.ok).toBe(true);
    const entries = listEntries(join(tree.root, ARCHIVE));
    expect(entries.map((e) => e.id)).toEqual([first.entry?.id ?? ""]);
    expect(readdirSync(join(tree.root, "sys/fs/pstore"))).toEqual([]);
    const dev2 = openDevice(join(tree.root, "dev/mtdchar/crashkeep"), { paths });
    const view = readJournal(openJournal(dev2, { paths }));
    dev2.close();
    expect(view.records.filter((r) => !r.collected)).toEqual([]);
    expect(view.control?.bootCounter).toBe(2);
  });

  test("a pstore record archived but not unlinked is not archived again by the next boot", async () => {
    const tree = await crashedBoot();
    const first = await boot(tree);
    expect(first.result.collected?.cleared).toEqual(["dmesg-ramoops-0"]);
    tree.write("sys/fs/pstore/dmesg-ramoops-0", PANIC); // as if the unlink had failed
    tree.write("proc/sys/kernel/random/boot_id", "33333333-2222-4222-8222-222222222222\n");
    const next = await boot(tree);
    // The next boot is its own entry (no panic of its own), the old record only cleared.
    expect(next.result.collected?.reason.reason).toBe("unexpected-reset");
    expect(next.result.collected?.cleared).toEqual(["dmesg-ramoops-0"]);
    const entries = listEntries(join(tree.root, ARCHIVE));
    expect(entries.map((e) => e.files.filter((f) => f.name === "dmesg-ramoops-0").length)).toEqual([0, 1]);
  });

  test("an archive that fails leaves the journal on the previous boot: the same boot's next run collects it whole", async () => {
    const tree = await crashedBoot();
    tree.write("etc/crashkeep/config.json", JSON.stringify({ archive: { minFreeBytes: "1000000Gi" } }));
    const blocked = await boot(tree);
    expect(blocked.result.ok).toBe(false);
    expect(blocked.result.journal?.action).toBe("kept");
    expect(blocked.lines.some((l) => /^Cannot archive into ".*": .* archive.minFreeBytes keeps/.test(l))).toBe(true);
    tree.write("etc/crashkeep/config.json", "{}");
    const again = await boot(tree);
    expect(again.result.ok).toBe(true);
    expect(again.result.collected?.entry?.files.map((f) => f.name)).toEqual(["dmesg-ramoops-0", "journal-1-note.txt"]);
    expect(again.result.journal?.action).toBe("new-boot");
  });

  test("a journal device that cannot be opened (an I/O error) leaves pstore for a later run", async () => {
    const tree = await crashedBoot();
    const mtd = join(tree.root, "dev/mtd0");
    const image = readFileSync(mtd);
    rmSync(mtd);
    mkdirSync(mtd); // open(O_RDWR) → EISDIR: a system error, not a configuration
    const failed = await boot(tree);
    expect(failed.result.ok).toBe(false);
    expect(failed.lines).toContain(`Cannot collect the previous boot: the journal is unreadable (Cannot open "${join(tree.root, "dev/mtdchar/crashkeep")}" for writing: is a directory); pstore records stay in pstore until it is readable`);
    expect(readdirSync(join(tree.root, "sys/fs/pstore"))).toEqual(["dmesg-ramoops-0"]);
    expect(listEntries(join(tree.root, ARCHIVE))).toEqual([]);
    rmSync(mtd, { recursive: true });
    writeFileSync(mtd, image);
    const again = await boot(tree);
    expect(listEntries(join(tree.root, ARCHIVE)).map((e) => e.files.map((f) => f.name))).toEqual([["dmesg-ramoops-0", "journal-1-note.txt"]]);
  });
});

describe("a crash report run again after an interrupted capture", () => {
  function setup() {
    const root = makeFakeTree().root;
    const config = parseConfig({ journal: { device: "/dev/phram" } });
    const paths = makePaths(root);
    writeFileSync(join(root, "dev/phram"), new Uint8Array(1 << 20));
    const device = openDevice(join(root, "dev/phram"), { write: true, paths });
    formatJournal(device, { paths, logs: [] });
    const ctx = { config, paths, journal: openJournal(device, { paths }), limiter: new RateLimiter(100) };
    return { root, config, paths, ctx, device };
  }
  // formatText and compactReport need a whole report: a real one, from the abort core fixture.
  const built = (() => {
    const f = fixtures().find((x) => x.arch === "x86_64" && x.name === "abort");
    if (!f) throw new Error("no x86_64 core fixture \"abort\"");
    return buildReport(readCoreFile(f.core), { sysroot: f.sysroot });
  })();

  test("killed after the journal record, before the report files: one record, one report directory", () => {
    const { ctx, config, paths } = setup();
    const crash = { exe: "/usr/bin/abort", build: () => built, coreClosedMs: 1_700_000_000_000, id: "core.abort.1:100:1700000000000" };
    const first = captureReport(crash, ctx, new Date());
    expect(first.problems).toEqual([]);
    // What the killed run left: the record and an incomplete directory.
    const dir = first.reportDir ?? "";
    rmSync(join(dir, "capture.json"));
    rmSync(join(dir, "report.txt"));
    const again = captureReport(crash, ctx, new Date());
    expect(again.reportDir).toBe(dir);
    expect(again.journalSeq).toBe(first.journalSeq ?? -1);
    expect(readdirSync(reportsDir(config, paths))).toEqual([dir.split("/").pop() ?? ""]);
    expect(readdirSync(dir).sort()).toEqual(["capture.json", "report.json", "report.txt"]);
    expect(readJournal(ctx.journal).records.filter((r) => r.kind === "crash-report").length).toBe(1);
    // Complete now: a third run (killed before the core was moved) changes nothing.
    const third = captureReport(crash, ctx, new Date());
    expect(third.reportDir).toBe(dir);
    expect(readJournal(ctx.journal).records.filter((r) => r.kind === "crash-report").length).toBe(1);
  });

  test("another core of the same process and second is its own report", () => {
    const { ctx, config, paths } = setup();
    const a = captureReport({ exe: "/usr/bin/abort", build: () => built, coreClosedMs: 1_700_000_000_000, id: "a" }, ctx);
    const b = captureReport({ exe: "/usr/bin/abort", build: () => built, coreClosedMs: 1_700_000_000_000, id: "b" }, ctx);
    expect(b.reportDir).toBe(`${a.reportDir}-2`);
    expect(readdirSync(reportsDir(config, paths)).length).toBe(2);
    expect(readJournal(ctx.journal).records.filter((r) => r.kind === "crash-report").length).toBe(2);
  });
});

describe("removeStaleTemps", () => {
  test("removes the temp files of dead processes, keeps live ones' and other names", () => {
    const dir = makeFakeTree().root;
    // A pid that is not running: past the kernel's pid_max default (4194304 is the limit).
    const dead = 4194305;
    for (const name of [`.x.tmp${dead}`, `.x.tmp${process.pid}`, ".x.tmpabc", "x", `.y.tmp${dead}`]) writeFileSync(join(dir, name), "");
    expect(removeStaleTemps(dir, ".x.tmp")).toEqual([`.x.tmp${dead}`]);
    expect(existsSync(join(dir, `.x.tmp${process.pid}`))).toBe(true);
    expect(existsSync(join(dir, `.y.tmp${dead}`))).toBe(true);
    expect(existsSync(join(dir, ".x.tmpabc"))).toBe(true);
  });
});

describe("the watcher keeps what it could not archive", () => {
  function watcherSetup() {
    const root = makeFakeTree().root;
    const config = parseConfig({ cores: { dir: "/var/cores" }, archive: { dir: "/var/lib/crashkeep" }, journal: { device: "/dev/phram" } });
    const paths = makePaths(root);
    writeFileSync(join(root, "dev/phram"), new Uint8Array(1 << 20));
    const device = openDevice(join(root, "dev/phram"), { write: true, paths });
    formatJournal(device, { paths, logs: [] });
    const ctx = { config, paths, journal: openJournal(device, { paths }), limiter: new RateLimiter(100) };
    const coreDir = join(root, "var/cores");
    mkdirSync(coreDir, { recursive: true });
    return { root, ctx, coreDir, watcher: new CoreWatcher(ctx, () => undefined) };
  }
  const abort = () => Bun.spawnSync(["xz", "-dc", join(import.meta.dir, "../../fixtures/cores/x86_64/abort.core.xz")]).stdout;

  test("an archive that cannot be written: the report is said, the core stays for the next pass, which completes it once", () => {
    const { root, ctx, coreDir, watcher } = watcherSetup();
    writeFileSync(join(coreDir, "core.abort.1.1"), abort());
    mkdirSync(join(root, "var/lib/crashkeep"), { recursive: true });
    writeFileSync(join(root, "var/lib/crashkeep/reports"), "not a directory");
    const first = watcher.processOne("core.abort.1.1");
    expect(first.result?.problems.join("\n")).toMatch(/^Cannot archive the report: /m);
    expect(readdirSync(coreDir)).toEqual(["core.abort.1.1"]);
    rmSync(join(root, "var/lib/crashkeep/reports"));
    const again = watcher.processOne("core.abort.1.1");
    expect(again.result?.problems).toEqual([]);
    expect(readdirSync(join(root, "var/lib/crashkeep/reports"))).toHaveLength(1);
    expect(readdirSync(coreDir)).toEqual(["kept"]);
    // Known limit: the first pass could not even create the report directory, which is what tells a
    // later pass that the journal may already hold the record; each pass then writes one (2 here).
    expect(readJournal(ctx.journal).records.filter((r) => r.kind === "crash-report").length).toBe(2);
  });

  test("the same core seen twice (a second close event) is counted and reported once", () => {
    const { root, ctx, coreDir } = watcherSetup();
    const watcher = new CoreWatcher({ ...ctx, limiter: new RateLimiter(2) }, () => undefined);
    const core = join(coreDir, "core.abort.1.1");
    writeFileSync(core, abort());
    utimesSync(core, 1_700_000_000, 1_700_000_000);
    expect(watcher.processOne("core.abort.1.1").result?.reported).toBe(true);
    // The kernel's file again under the same name, size and time: the watcher's second look at it.
    writeFileSync(core, abort());
    utimesSync(core, 1_700_000_000, 1_700_000_000);
    expect(watcher.processOne("core.abort.1.1").result?.reported).toBe(false);
    expect(readdirSync(coreDir)).toEqual(["kept"]);
    // The limit (2 a minute) still has room: the duplicate did not take a slot.
    writeFileSync(join(coreDir, "core.abort.2.2"), abort());
    expect(watcher.processOne("core.abort.2.2").result?.reported).toBe(true);
    expect(readJournal(ctx.journal).records.filter((r) => r.kind === "crash-report")).toHaveLength(2);
    expect(readdirSync(join(root, "var/lib/crashkeep/reports"))).toHaveLength(2);
  });

  test("an unreadable core directory is an error, not 'no cores'", () => {
    const { coreDir, watcher } = watcherSetup();
    rmSync(coreDir, { recursive: true });
    writeFileSync(coreDir, "a file where the directory should be");
    expect(() => watcher.pending()).toThrow(/^Cannot list core directory ".*var\/cores": ENOTDIR/);
    rmSync(coreDir);
    expect(watcher.pending()).toEqual([]); // absent: no cores
  });
});

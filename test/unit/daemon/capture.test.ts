// Core capture on real cores (test/fixtures/cores): the watcher reads a core
// only once it is closed, writes the compact report into the journal and the
// full one into the archive, keeps cores within limits, rate-limits a crash
// loop, never follows a symlink; the pipe handler does the same from stdin.
import { beforeAll, describe, expect, test } from "bun:test";
import { closeSync, existsSync, lstatSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, statSync, symlinkSync, writeFileSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseConfig } from "../../../src/config/load.ts";
import { openDevice } from "../../../src/copy/block-device.ts";
import { formatJournal, openJournal, readJournal } from "../../../src/journal/journal.ts";
import { CoreWatcher, enforceCoreLimits, type WatchEvent } from "../../../src/daemon/core-watcher.ts";
import { RateLimiter } from "../../../src/daemon/rate-limit.ts";
import { sanitizeName } from "../../../src/daemon/names.ts";
import { recordSuppressed } from "../../../src/daemon/capture.ts";
import { listOutbox, outboxDir, readOutboxEntry } from "../../../src/upload/outbox.ts";
import { makePaths } from "../../../src/system/paths.ts";

const FIXTURES = join(import.meta.dir, "../../fixtures/cores/x86_64");
const main = join(import.meta.dir, "../../../src/main.ts");
let nestedCore: Uint8Array;
let fpeCore: Uint8Array;

beforeAll(() => {
  nestedCore = Bun.spawnSync(["xz", "-dc", join(FIXTURES, "nested.core.xz")]).stdout;
  fpeCore = Bun.spawnSync(["xz", "-dc", join(FIXTURES, "fpe.core.xz")]).stdout;
  expect(nestedCore.length).toBeGreaterThan(4096);
});

function setup(cores: Record<string, unknown> = {}) {
  const root = mkdtempSync(join(tmpdir(), "crashkeep-capture-"));
  const config = parseConfig({ cores: { dir: "/var/cores", ...cores }, archive: { dir: "/var/lib/crashkeep" }, journal: { device: "/dev/phram" } });
  const paths = makePaths(root);
  mkdirSync(join(root, "dev"), { recursive: true });
  writeFileSync(join(root, "dev/phram"), new Uint8Array(1 << 20));
  const device = openDevice(join(root, "dev/phram"), { write: true, paths });
  formatJournal(device, { paths, logs: [] });
  const journal = openJournal(device, { paths });
  const events: WatchEvent[] = [];
  const watcher = new CoreWatcher({ config, paths, journal, limiter: new RateLimiter(config.cores.reportsPerMinute) }, (e) => events.push(e));
  return { root, config, paths, device, journal, watcher, events, coreDir: join(root, "var/cores") };
}

async function until(cond: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error("Cannot see the expected state in time");
    await Bun.sleep(20);
  }
}

describe("sanitizeName", () => {
  test.each([
    ["crasher", "crasher"],
    ["../../etc/passwd", "__.._etc_passwd"],
    ["a/b", "a_b"],
    ["line\nbreak", "line_break"],
    ["..", "unknown"],
    ["", "unknown"],
    [null, "unknown"],
    ["x".repeat(100), "x".repeat(64)],
  ])("%p → %p", (input, want) => {
    expect(sanitizeName(input)).toBe(want);
  });
});

describe("CoreWatcher", () => {
  test("a core written slowly is read only after close; report in the journal and the archive, core kept 0600", async () => {
    const s = setup();
    s.watcher.start();
    try {
      const path = join(s.coreDir, "core.nested.1234");
      const fd = openSync(path, "w");
      writeSync(fd, nestedCore, 0, 1000);
      // A file closed after the partial write: once the watcher has seen it (it is no core:
      // removed), it has seen every event before it, and the half-written core made none.
      writeFileSync(join(s.coreDir, "sentinel"), "not a core");
      await until(() => s.events.length > 0);
      expect(s.events.map((e) => e.core)).toEqual([join(s.coreDir, "sentinel")]);
      s.events.length = 0;
      writeSync(fd, nestedCore, 1000, nestedCore.length - 1000);
      const closedAt = Date.now();
      closeSync(fd);
      await until(() => s.events.length > 0);
      expect(Date.now() - closedAt).toBeLessThan(1000);
      expect(s.events[0]?.error).toBeUndefined();
      expect(s.events[0]?.result?.reported).toBe(true);
      const records = readJournal(s.journal).records;
      expect(records.map((r) => r.kind)).toEqual(["crash-report"]);
      const compact = JSON.parse(new TextDecoder().decode(records[0]?.payload)) as { signal: string; comm: string };
      expect(compact.signal).toBe("SEGV_MAPERR at 0x10");
      expect(compact.comm).toBe("nested");
      const reportDir = s.events[0]?.result?.reportDir ?? "";
      expect(JSON.parse(readFileSync(join(reportDir, "report.json"), "utf8")).signal.summary).toBe("SEGV_MAPERR at 0x10");
      expect(readFileSync(join(reportDir, "report.txt"), "utf8")).toContain("signal 11 (SIGSEGV)");
      expect(statSync(reportDir).mode & 0o777).toBe(0o700);
      expect(statSync(join(reportDir, "report.json")).mode & 0o777).toBe(0o600);
      expect(statSync(s.coreDir).mode & 0o777).toBe(0o700);
      const kept = readdirSync(join(s.coreDir, "kept"));
      expect(kept).toHaveLength(1);
      expect(kept[0]).toMatch(/^\d{8}T\d{6}Z-nested-\d+\.core$/);
      expect(statSync(join(s.coreDir, "kept", kept[0] ?? "")).mode & 0o777).toBe(0o600);
      expect(readdirSync(s.coreDir).sort()).toEqual(["kept"]);
    } finally {
      s.watcher.stop();
    }
  });

  test("a symlink in the core directory is never followed, only removed", async () => {
    const s = setup();
    s.watcher.start();
    try {
      const secret = join(s.root, "secret");
      writeFileSync(secret, nestedCore);
      symlinkSync(secret, join(s.coreDir, "core.evil"));
      // A rename into the directory is an IN_MOVED_TO event too.
      const trigger = join(s.root, "trigger");
      writeFileSync(trigger, "x");
      Bun.spawnSync(["mv", trigger, join(s.coreDir, "zz-trigger")]);
      await until(() => s.events.length >= 1);
      s.watcher.processOne("core.evil");
      expect(existsSync(join(s.coreDir, "core.evil"))).toBe(false);
      expect(existsSync(secret)).toBe(true);
      expect(readJournal(s.journal).records).toEqual([]);
    } finally {
      s.watcher.stop();
    }
  });

  test("a truncated or garbage file gives an error line and is removed; the watcher goes on", async () => {
    const s = setup();
    s.watcher.start();
    try {
      writeFileSync(join(s.coreDir, "core.garbage"), "not a core at all");
      await until(() => s.events.length >= 1);
      expect(s.events[0]?.error).toMatch(/^Cannot read core ".*core.garbage": .*removed$/);
      writeFileSync(join(s.coreDir, "core.fpe"), fpeCore);
      await until(() => s.events.length >= 2);
      expect(s.events[1]?.result?.reported).toBe(true);
    } finally {
      s.watcher.stop();
    }
  });

  test("the core directory removed while watching is recreated and watched again", { timeout: 20_000 }, async () => {
    const s = setup();
    s.watcher.start();
    try {
      Bun.spawnSync(["rm", "-rf", s.coreDir]);
      await until(() => s.events.some((e) => e.error?.includes("disappeared")));
      // The watcher recreates and watches the directory in one synchronous step: existing means watched.
      await until(() => existsSync(s.coreDir), 3000);
      writeFileSync(join(s.coreDir, "core.after"), nestedCore);
      await until(() => s.events.some((e) => e.result?.reported === true), 5000);
    } finally {
      s.watcher.stop();
    }
  });

  test.skipIf(process.getuid?.() !== 0)("a full disk: the report still reaches the journal, the failure is said, the watcher goes on", () => {
    const s = setup();
    // The archive on a 64 KiB tmpfs that is already full (root: mount; CI runs as root).
    const archive = join(s.root, "var/lib/crashkeep");
    mkdirSync(archive, { recursive: true });
    expect(Bun.spawnSync(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", archive]).exitCode).toBe(0);
    try {
      Bun.spawnSync(["sh", "-c", `dd if=/dev/zero of='${archive}/filler' bs=4k 2>/dev/null; true`]);
      mkdirSync(s.coreDir, { recursive: true });
      writeFileSync(join(s.coreDir, "core.full"), nestedCore);
      const e = s.watcher.processOne("core.full");
      expect(e.result?.reported).toBe(true);
      expect(e.result?.problems.join("\n")).toMatch(/^Cannot archive the report: .*(ENOSPC|no space)/im);
      expect(readJournal(s.journal).records.map((r) => r.kind)).toEqual(["crash-report"]);
      writeFileSync(join(s.coreDir, "core.next"), fpeCore);
      expect(s.watcher.processOne("core.next").result?.reported).toBe(true);
    } finally {
      Bun.spawnSync(["umount", archive]);
    }
  });

  test("a crash loop: reportsPerMinute reports, the rest counted", () => {
    const s = setup({ reportsPerMinute: 3 });
    mkdirSync(s.coreDir, { recursive: true });
    let reported = 0;
    for (let i = 0; i < 10; i++) {
      writeFileSync(join(s.coreDir, `core.${i}`), nestedCore);
      if (s.watcher.processOne(`core.${i}`).result?.reported) reported++;
    }
    expect(reported).toBe(3);
    expect(readJournal(s.journal).records.filter((r) => r.kind === "crash-report")).toHaveLength(3);
  });

  test("core limits: count and bytes, oldest first", () => {
    const dir = mkdtempSync(join(tmpdir(), "crashkeep-kept-"));
    for (let i = 0; i < 6; i++) {
      writeFileSync(join(dir, `c${i}`), new Uint8Array(1000));
      Bun.spawnSync(["touch", "-d", `2026-01-0${i + 1}`, join(dir, `c${i}`)]);
    }
    expect(enforceCoreLimits(dir, 4, 1_000_000).sort()).toEqual(["c0", "c1"]);
    expect(enforceCoreLimits(dir, 10, 2500).sort()).toEqual(["c2", "c3"]);
    expect(readdirSync(dir).sort()).toEqual(["c4", "c5"]);
  });
});

describe("RateLimiter", () => {
  test("per executable, per minute; a window that ends with suppressions is flushed once", () => {
    const r = new RateLimiter(2);
    expect([r.decide("/a", 0).report, r.decide("/a", 1).report, r.decide("/a", 2).report, r.decide("/b", 3).report]).toEqual([true, true, false, true]);
    expect([r.decide("/a", 4).suppressed, r.decide("/a", 5).suppressed]).toEqual([2, 3]); // counted in the window: 1 was the crash loop's start
    expect(r.drain(30_000)).toEqual([]);
    const next = r.decide("/a", 61_000);
    expect(next).toEqual({ report: true, suppressed: 0, flush: { exe: "/a", suppressed: 3, windowStart: 0 } });
  });

  test("the state survives in a file (the pipe handler is a new process per crash)", () => {
    const file = join(mkdtempSync(join(tmpdir(), "crashkeep-rate-")), "run/rate.json");
    for (let i = 0; i < 3; i++) {
      const r = new RateLimiter(2, file);
      r.decide("/a", 1000 + i);
      r.save();
    }
    expect(new RateLimiter(2, file).decide("/a", 2000).report).toBe(false);
    writeFileSync(file, "garbage{");
    expect(new RateLimiter(2, file).decide("/a", 2000).report).toBe(true);
  });
});

describe("recordSuppressed", () => {
  test("the count goes to the journal and, with upload on, to the outbox once per window (a second flush is the same message)", () => {
    const t = setup();
    const config = { ...t.config, upload: { ...t.config.upload, broker: ["mqtt://127.0.0.1:1883"], deviceId: "dev-1" } };
    const ctx = { config, paths: t.paths, journal: t.journal, limiter: new RateLimiter(2) };
    const window = { exe: "/usr/bin/crasher", suppressed: 45, windowStart: Date.parse("2026-11-30T10:00:00Z") };
    expect(recordSuppressed(ctx, window, new Date("2026-11-30T10:01:00Z"))).toEqual([]);
    expect(recordSuppressed(ctx, window, new Date("2026-11-30T10:01:05Z"))).toEqual([]);
    const notes = readJournal(t.journal).records.filter((r) => r.kind === "note").map((r) => new TextDecoder().decode(r.payload));
    expect(notes[0]).toStartWith("suppressed 45 crash report(s) of /usr/bin/crasher in the minute from 2026-11-30T10:00:00.000Z");
    const dir = outboxDir(join(t.root, "var/lib/crashkeep"));
    const ids = new Set(listOutbox(dir).map((e) => (JSON.parse(new TextDecoder().decode(readOutboxEntry(dir, e))) as { id: string; kind: string; note: { text: string } })).map((m) => `${m.kind} ${m.id} ${m.note.text.slice(0, 13)}`));
    expect([...ids]).toEqual([`note dev-1/note/suppressed-${window.windowStart}-_usr_bin_crasher suppressed 45`]);
  });

  test("without a journal the note still goes to the outbox, and the missing journal is said", () => {
    const t = setup();
    const config = { ...t.config, upload: { ...t.config.upload, broker: ["mqtt://127.0.0.1:1883"], deviceId: "dev-1" } };
    const problems = recordSuppressed({ config, paths: t.paths, journal: undefined, limiter: new RateLimiter(2) }, { exe: "/a", suppressed: 3, windowStart: 0 });
    expect(problems).toEqual(['Cannot record "suppressed 3 crash report(s) of /a in the minute from 1970-01-01T00:00:00.000Z (cores.reportsPerMinute = 5)": no journal']);
    expect(listOutbox(outboxDir(join(t.root, "var/lib/crashkeep")))).toHaveLength(1);
  });

  test("upload off: nothing is queued", () => {
    const t = setup();
    expect(recordSuppressed({ config: t.config, paths: t.paths, journal: t.journal, limiter: new RateLimiter(2) }, { exe: "/a", suppressed: 3, windowStart: 0 })).toEqual([]);
    expect(existsSync(outboxDir(join(t.root, "var/lib/crashkeep")))).toBe(false);
  });
});

describe("crashkeep core (pipe handler)", () => {
  test("a core on stdin: journal record, archived report, core kept gzip-compressed and capped", () => {
    const root = mkdtempSync(join(tmpdir(), "crashkeep-pipe-"));
    mkdirSync(join(root, "dev"), { recursive: true });
    writeFileSync(join(root, "dev/phram"), new Uint8Array(1 << 20));
    const config = join(root, "config.json");
    writeFileSync(config, JSON.stringify({
      journal: { device: "/dev/phram" }, logs: { files: [] },
      cores: { mode: "pipe", dir: "/var/cores", saveCores: true, maxCoreBytes: "64ki" },
      archive: { dir: "/var/lib/crashkeep" },
    }));
    const env = { ...process.env, CRASHKEEP_ROOT: root, CRASHKEEP_CONFIG: config };
    expect(Bun.spawnSync([process.execPath, main, "clear", "--yes"], { env }).exitCode).toBe(0);
    const p = Bun.spawnSync([process.execPath, main, "core", "4242", "4242", "11", "1764100000", "!opt!crashkeep-fixtures!x86_64!nested"], { env, stdin: nestedCore });
    expect(p.stderr.toString()).toBe("");
    expect(p.exitCode).toBe(0);
    const dev = openDevice(join(root, "dev/phram"), { paths: makePaths(root) });
    const records = readJournal(openJournal(dev, { locking: false })).records;
    dev.close();
    expect(records.map((r) => r.kind)).toEqual(["crash-report"]);
    expect(JSON.parse(new TextDecoder().decode(records[0]?.payload)).signal).toBe("SEGV_MAPERR at 0x10");
    const reports = readdirSync(join(root, "var/lib/crashkeep/reports"));
    expect(reports).toHaveLength(1);
    const kept = readdirSync(join(root, "var/cores/kept"));
    expect(kept).toEqual(["20251125T194640Z-nested-4242.core.truncated.gz"]);
    const inflated = Bun.gunzipSync(readFileSync(join(root, "var/cores/kept", kept[0] ?? "")));
    expect(inflated.length).toBe(64 * 1024);
    expect(Buffer.compare(inflated, nestedCore.subarray(0, 64 * 1024))).toBe(0);
    expect(lstatSync(join(root, "var/cores/kept")).mode & 0o777).toBe(0o700);
  });
});

// Issue 24: one crashkeep process per boot, `crashkeep watch --init` (the
// compiled binary, on the sweep's fake tree of a device that crashed: a
// pstore record, a journal note and a log tail of the previous boot, and a
// new boot id). The ordering guarantees the boot relies on, each observed:
//   - the previous boot's pstore records and journal are archived before
//     anything of this boot reaches the journal;
//   - this boot's record exists before the first crash of this boot is
//     recorded, even a crash while init's work still runs (its core waits);
//   - READY=1 (systemd Type=notify: systemd-pstore.service waits for it) only
//     once pstore is taken and archived;
//   - a failing init step goes on, and its exit status shows in `status`;
//   - S03crashkeep puts the last boot's core_pattern (which the daemon keeps)
//     into the kernel before it starts the daemon: no window without capture.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { CORE_PATTERN_KEPT } from "../../src/daemon/core-pattern.ts";
import { abortCore, ARCHIVE, BINARY, dropScenario, journalOf, PANIC_RECORD, PATHS, scenarioFrom, type Scenario } from "./fault/paths.ts";
import { NotifySocket } from "./notify-socket.ts";

const THIS_BOOT = "22222222-2222-4222-8222-222222222222";
const PREVIOUS_BOOT = "11111111-1111-4111-8111-111111111111";
/** What the previous boot left in var/log/messages (fault/paths.ts LOG_TEXT); this boot adds a line. */
const PREVIOUS_LOG = "line one\nline two\n";
const THIS_BOOT_LINE = "a line of this boot\n";

let template = "";
const made: Scenario[] = [];

function tree(): Scenario {
  const s = scenarioFrom(template);
  made.push(s);
  writeFileSync(join(s.root, "var/log/messages"), PREVIOUS_LOG + THIS_BOOT_LINE);
  // /run is a tmpfs: the previous boot's init state (the template's init run) is gone.
  rmSync(join(s.root, "run/crashkeep/init.json"), { force: true });
  return s;
}

beforeAll(async () => {
  const init = PATHS.find((p) => p.name.startsWith("init"));
  if (!init) throw new Error("Cannot find the sweep's init path");
  template = await init.template();
}, 120_000);
afterAll(() => {
  for (const s of made) dropScenario(s);
  if (template) rmSync(template, { recursive: true, force: true });
});

function env(s: Scenario, extra: Record<string, string> = {}): Record<string, string> {
  return { PATH: process.env.PATH ?? "/usr/bin:/bin", CRASHKEEP_ROOT: s.root, ...extra };
}

async function until(what: string, ok: () => boolean, p: { exitCode: number | null }, ms = 30_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > deadline || p.exitCode !== null) throw new Error(`Cannot see ${what} within ${ms / 1000} s (daemon exit ${p.exitCode})`);
    await Bun.sleep(20);
  }
}

const entries = (s: Scenario) => readdirSync(join(s.root, ARCHIVE)).filter((n) => !n.startsWith(".") && !["cores", "reports", "outbox"].includes(n));
const reports = (s: Scenario) => (existsSync(join(s.root, ARCHIVE, "reports")) ? readdirSync(join(s.root, ARCHIVE, "reports")) : []);
const initState = (s: Scenario) => join(s.root, "run/crashkeep/init.json");

/**
 * `watch --init` on `s` with the journal's device node not there yet (as when
 * mdev is slow): init waits for it (modules.deviceWaitSeconds), core_pattern
 * already set, so init's work still runs. Returns once the daemon has written
 * its pidfile; `release()` puts the node in place.
 */
async function stalledInit(s: Scenario): Promise<{ p: ReturnType<typeof Bun.spawn>; pidfile: string; release: () => void }> {
  renameSync(join(s.root, "dev/mtd0"), join(s.root, "dev/mtd0.later"));
  const pidfile = join(s.root, "crashkeep.pid");
  // stdout /dev/null, as under start-stop-daemon --background: init's lines go to the console.
  const p = Bun.spawn([BINARY, "watch", "--init", "--pidfile", pidfile], { cwd: s.root, env: env(s), stdout: "ignore", stderr: "pipe" });
  try {
    await until("the pidfile", () => existsSync(pidfile), p);
  } catch (err) {
    p.kill("SIGKILL");
    throw err;
  }
  return { p, pidfile, release: () => renameSync(join(s.root, "dev/mtd0.later"), join(s.root, "dev/mtd0")) };
}

describe.skipIf(!existsSync(BINARY))("watch --init: one process per boot", () => {
  test("a crash while init's work still runs: reported once init is done, under this boot's record; the previous boot's log tail archived before this boot's is mirrored", async () => {
    const s = tree();
    writeFileSync(join(s.root, "dev/console"), "");
    const { p, pidfile, release } = await stalledInit(s);
    try {
      // A service started right after S03crashkeep crashes: the kernel writes its core.
      writeFileSync(join(s.root, ARCHIVE, "cores/core.abort.4242.1700000001"), abortCore());
      await Bun.sleep(500);
      expect(existsSync(initState(s))).toBe(false); // init still waits for the node
      expect(reports(s)).toEqual([]);
      release();
      await until("the core's report", () => reports(s).length === 1 && journalOf(s.root).records.some((r) => r.kind === "crash-report"), p);
      await until("the first mirror pass of this boot", () => journalOf(s.root).logs.some((t) => new TextDecoder().decode(t.bytes).includes(THIS_BOOT_LINE)), p);
      const j = journalOf(s.root);
      // This boot's record (boot 2, this boot id) holds the crash; the previous boot's records are collected.
      expect({ boot: j.control?.bootCounter, current: j.control?.currentBootId, previous: j.control?.previousBootId }).toEqual({ boot: 2, current: THIS_BOOT, previous: PREVIOUS_BOOT });
      expect(j.records.filter((r) => r.kind === "crash-report").map((r) => r.bootId)).toEqual([THIS_BOOT]);
      // The archive has the previous boot's tail as it was, without this boot's line.
      const list = entries(s);
      expect(list).toHaveLength(1);
      const dir = join(s.root, ARCHIVE, list[0] ?? "");
      expect(readFileSync(join(dir, "log-0-messages"), "utf8")).toBe(PREVIOUS_LOG);
      expect(readFileSync(join(dir, "dmesg-ramoops-0"))).toEqual(Buffer.from(PANIC_RECORD));
      p.kill("SIGTERM");
      expect(await p.exited).toBe(0);
      expect(existsSync(pidfile)).toBe(false);
      expect(readFileSync(join(s.root, "dev/console"), "utf8")).toMatch(/^crashkeep: core_pattern .*\n(.*\n)*crashkeep: previous boot ended in /);
    } finally {
      p.kill("SIGKILL");
    }
  });

  test("crashkeep note --reason while init's work still runs: it waits for this boot's record; the reason is this boot's, the previous boot keeps its own", async () => {
    const s = tree();
    const { p, release } = await stalledInit(s);
    try {
      // A script after S03crashkeep notes the reboot it is about to make (an update agent).
      const note = Bun.spawn([BINARY, "note", "--reason", "firmware-update", "flashing 2.1"], { cwd: s.root, env: env(s), stdout: "pipe", stderr: "pipe" });
      await Bun.sleep(500);
      expect(note.exitCode).toBeNull(); // waits for init, which waits for the node
      release();
      expect(await note.exited).toBe(0);
      await until("init.json", () => existsSync(initState(s)), p);
      const j = journalOf(s.root);
      expect({ current: j.control?.currentBootId, noted: j.control?.notedReason?.text }).toEqual({ current: THIS_BOOT, noted: "firmware-update" });
      expect(j.records.filter((r) => r.kind === "note" && !r.collected).map((r) => [r.bootId, r.bootCounter])).toEqual([[THIS_BOOT, 2]]);
      const list = entries(s);
      expect(list).toHaveLength(1);
      const entry = JSON.parse(readFileSync(join(s.root, ARCHIVE, list[0] ?? "", "entry.json"), "utf8")) as { reason: string; previousBootId: string };
      expect(entry).toMatchObject({ reason: "kernel-panic", previousBootId: PREVIOUS_BOOT });
      expect(existsSync(join(s.root, "run/crashkeep/init.running"))).toBe(false);
      p.kill("SIGTERM");
      expect(await p.exited).toBe(0);
    } finally {
      p.kill("SIGKILL");
    }
  });

  test("pipe mode: a crash while init's work still runs waits for this boot's record (the kernel holds the process), then goes into it", async () => {
    const s = tree();
    const configFile = join(s.root, "etc/crashkeep/config.json");
    writeFileSync(configFile, JSON.stringify({ ...JSON.parse(readFileSync(configFile, "utf8")), cores: { mode: "pipe" } }));
    const { p, release } = await stalledInit(s);
    try {
      // The kernel starts the pipe handler (core_pattern |crashkeep core %P %I %s %t %E) with the core on stdin.
      const core = Bun.spawn([BINARY, "core", "4242", "4242", "6", "1700000001", "!usr!bin!abort"], { cwd: s.root, env: env(s), stdin: abortCore(), stdout: "pipe", stderr: "pipe" });
      await Bun.sleep(800);
      expect(core.exitCode).toBeNull(); // the core read, it waits for init, which waits for the node
      release();
      expect(await core.exited).toBe(0);
      await until("init.json", () => existsSync(initState(s)), p);
      const j = journalOf(s.root);
      expect(j.control?.currentBootId).toBe(THIS_BOOT);
      expect(j.records.filter((r) => r.kind === "crash-report").map((r) => [r.bootId, r.bootCounter, r.collected])).toEqual([[THIS_BOOT, 2, false]]);
      const list = entries(s);
      expect(list).toHaveLength(1);
      expect(readdirSync(join(s.root, ARCHIVE, list[0] ?? "")).filter((f) => f.includes("crash"))).toEqual([]);
      p.kill("SIGTERM");
      expect(await p.exited).toBe(0);
    } finally {
      p.kill("SIGKILL");
    }
  });

  test("systemd (Type=notify): READY=1 on $NOTIFY_SOCKET only once pstore is archived and cleared; status shows init's exit status", async () => {
    const s = tree();
    const sock = new NotifySocket(join(s.root, "notify"));
    const p = Bun.spawn([BINARY, "watch", "--init"], { cwd: s.root, env: env(s, { NOTIFY_SOCKET: sock.path }), stdout: "pipe", stderr: "pipe" });
    try {
      const got: string[] = [];
      let seenAtReady: { pstore: string[]; entries: number; state: boolean } | undefined;
      await until("READY=1", () => {
        got.push(...sock.take());
        if (got.includes("READY=1")) seenAtReady ??= { pstore: readdirSync(join(s.root, "sys/fs/pstore")), entries: entries(s).length, state: existsSync(initState(s)) };
        return seenAtReady !== undefined;
      }, p);
      // systemd-pstore.service (ordered after crashkeep) would find pstore empty.
      expect(seenAtReady).toEqual({ pstore: [], entries: 1, state: true });
      expect(got).toEqual(["READY=1"]);
      const status = Bun.spawnSync([BINARY, "status", "--json"], { cwd: s.root, env: env(s) });
      const init = (JSON.parse(status.stdout.toString()) as { init: { exitStatus: number; by: string; pid: number; errors: string[] } }).init;
      expect(init).toMatchObject({ exitStatus: 0, by: "watch --init", pid: p.pid, errors: [] });
      p.kill("SIGTERM");
      expect(await p.exited).toBe(0);
    } finally {
      sock.close();
      p.kill("SIGKILL");
    }
  });

  test("a failing init step: the daemon still starts and gets ready; status says exit 1 and the error", async () => {
    const s = tree();
    const pidfile = join(s.root, "crashkeep.pid");
    const p = Bun.spawn([BINARY, "watch", "--init", "--pidfile", pidfile, "--config", "/nonexistent.json"], { cwd: s.root, env: env(s), stdout: "pipe", stderr: "pipe" });
    try {
      await until("init.json", () => existsSync(initState(s)), p);
      const text = Bun.spawnSync([BINARY, "status"], { cwd: s.root, env: env(s) }).stdout.toString();
      expect(text).toMatch(new RegExp(`^init: +exit 1 \\(watch --init, pid ${p.pid}, [^)]+\\): Cannot load config "/nonexistent\\.json"`, "m"));
      // Still the daemon: it mirrors this boot's log.
      await until("the first mirror pass", () => journalOf(s.root).logs.some((t) => new TextDecoder().decode(t.bytes).includes(THIS_BOOT_LINE)), p);
      p.kill("SIGTERM");
      expect(await p.exited).toBe(0);
      expect(await new Response(p.stdout).text()).toContain("crashkeep: continuing with the default config");
    } finally {
      p.kill("SIGKILL");
    }
  });

  test("SIGTERM while init's work runs: init finishes (the previous boot archived whole), then the last pass and exit 0", async () => {
    const s = tree();
    const { p, release } = await stalledInit(s);
    try {
      p.kill("SIGTERM");
      await Bun.sleep(300);
      expect(p.exitCode).toBeNull(); // waits for init, which waits for the node
      release();
      expect(await p.exited).toBe(0);
      expect(entries(s)).toHaveLength(1);
      expect(journalOf(s.root).control?.bootCounter).toBe(2);
      expect(readdirSync(join(s.root, "sys/fs/pstore"))).toEqual([]);
    } finally {
      p.kill("SIGKILL");
    }
  });
});

describe.skipIf(!existsSync(BINARY))("the last boot's core_pattern, before the daemon starts", () => {
  const SCRIPT = join(import.meta.dir, "../../rootfs-overlay/etc/init.d/S03crashkeep");
  const UNIT = join(import.meta.dir, "../../rootfs-overlay/usr/lib/systemd/system/crashkeep.service");

  /**
   * S03crashkeep with its absolute paths under ROOT (each replacement must
   * match, so a changed script fails here) and start-stop-daemon a stand-in
   * that writes down the kernel's core_pattern at the moment it is started.
   */
  function scriptIn(root: string): string {
    let text = readFileSync(SCRIPT, "utf8");
    for (const [from, to] of [
      ['"/etc/default/', `"${root}/etc/default/`],
      ['PIDFILE="/var/run/', `PIDFILE="${root}/var/run/`],
      ['STATEFILE="/run/', `STATEFILE="${root}/run/`],
      ['INITMARKER="/run/', `INITMARKER="${root}/run/`],
      ['PATTERNFILE="/var/cache/', `PATTERNFILE="${root}/var/cache/`],
      [">/proc/sys/kernel/core_pattern", `>${root}/proc/sys/kernel/core_pattern`],
    ] as const) {
      if (!text.includes(from)) throw new Error(`Cannot find ${from} in S03crashkeep`);
      text = text.replaceAll(from, to);
    }
    mkdirSync(join(root, "fakebin"), { recursive: true });
    writeFileSync(join(root, "fakebin/start-stop-daemon"), `#!/bin/sh\ncat "${root}/proc/sys/kernel/core_pattern" >"${root}/pattern-at-start"\necho "$@" >"${root}/ssd-args"\n`, { mode: 0o755 });
    writeFileSync(join(root, "S03crashkeep"), text, { mode: 0o755 });
    return join(root, "S03crashkeep");
  }

  test("the daemon keeps the pattern it set; S03crashkeep start writes it into the kernel before start-stop-daemon runs", async () => {
    const s = tree();
    const pidfile = join(s.root, "crashkeep.pid");
    const p = Bun.spawn([BINARY, "watch", "--init", "--pidfile", pidfile], { cwd: s.root, env: env(s), stdout: "ignore", stderr: "pipe" });
    try {
      await until("init.json", () => existsSync(initState(s)), p);
      p.kill("SIGTERM");
      expect(await p.exited).toBe(0);
    } finally {
      p.kill("SIGKILL");
    }
    const pattern = readFileSync(join(s.root, "proc/sys/kernel/core_pattern"), "utf8");
    expect(pattern).toBe("/var/lib/crashkeep/cores/core.%e.%p.%t\n");
    expect(readFileSync(join(s.root, CORE_PATTERN_KEPT), "utf8")).toBe(pattern);
    // The next boot: the kernel starts with its default pattern.
    writeFileSync(join(s.root, "proc/sys/kernel/core_pattern"), "core\n");
    const script = scriptIn(s.root);
    const r = Bun.spawnSync(["sh", script, "start"], { cwd: s.root, env: { PATH: `${join(s.root, "fakebin")}:${process.env.PATH ?? "/usr/bin:/bin"}` }, stdout: "pipe", stderr: "pipe" });
    expect(r.stdout.toString()).toBe("Starting crashkeep: OK\n");
    expect(readFileSync(join(s.root, "pattern-at-start"), "utf8")).toBe(pattern);
    expect(readFileSync(join(s.root, "ssd-args"), "utf8")).toContain("--exec /usr/bin/crashkeep -- watch --init");
    // Until the daemon runs and writes its pid there, a note or a pipe-mode crash waits on "starting".
    expect(readFileSync(join(s.root, "run/crashkeep/init.running"), "utf8")).toBe("starting\n");
    // No kept pattern (first boot, cores.mode "off"): the kernel's is left alone.
    rmSync(join(s.root, CORE_PATTERN_KEPT));
    writeFileSync(join(s.root, "proc/sys/kernel/core_pattern"), "core\n");
    Bun.spawnSync(["sh", script, "start"], { cwd: s.root, env: { PATH: `${join(s.root, "fakebin")}:${process.env.PATH ?? "/usr/bin:/bin"}` } });
    expect(readFileSync(join(s.root, "pattern-at-start"), "utf8")).toBe("core\n");
  });

  test("crashkeep.service writes the same file into the kernel before ExecStart", () => {
    const unit = readFileSync(UNIT, "utf8");
    const pre = unit.indexOf(`ExecStartPre=-/bin/sh -c 'if [ -s ${CORE_PATTERN_KEPT} ]; then cat ${CORE_PATTERN_KEPT} >/proc/sys/kernel/core_pattern; fi'`);
    expect(pre).toBeGreaterThan(0);
    expect(pre).toBeLessThan(unit.indexOf("ExecStart=/usr/bin/crashkeep watch --init"));
    expect(readFileSync(SCRIPT, "utf8")).toContain(`PATTERNFILE="${CORE_PATTERN_KEPT.replace("crashkeep", "$DAEMON")}"`);
  });
});

// Every command's flags and error paths through the compiled binary
// (out/crashkeep: the config cache and --bytecode exist only there), on fake
// system trees made by the binary itself (fault/paths.ts templates).
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { file, needs } from "../needs.ts";
import { appendFileSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, truncateSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { BINARY, dropScenario, journalOf, PATHS, scenarioFrom, type Scenario } from "./fault/paths.ts";

const ARCHIVE = "var/lib/crashkeep";
const templates = new Map<string, string>();
const made: Scenario[] = [];

/** A fresh copy of the template named by (a part of) its sweep path name. */
function tree(name: string): Scenario {
  const t = [...templates].find(([n]) => n.includes(name))?.[1];
  if (!t) throw new Error(`Cannot find template "${name}"`);
  const s = scenarioFrom(t);
  made.push(s);
  return s;
}

interface Result {
  code: number | null;
  out: string;
  err: string;
}

function ck(s: Scenario, args: string[], options: { stdin?: string; env?: Record<string, string> } = {}): Result {
  const r = Bun.spawnSync([BINARY, ...args], {
    cwd: s.root,
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", CRASHKEEP_ROOT: s.root, ...options.env },
    stdin: options.stdin ? Bun.file(options.stdin) : "ignore",
  });
  return { code: r.exitCode, out: r.stdout.toString(), err: r.stderr.toString() };
}

/** Run under a pseudo-terminal (script(1)): what a user at a console sees. */
function onTerminal(s: Scenario, args: string[]): Result {
  const cmd = [BINARY, ...args].map((a) => `'${a}'`).join(" ");
  const r = Bun.spawnSync(["script", "-qec", cmd, "/dev/null"], { cwd: s.root, env: { PATH: process.env.PATH ?? "/usr/bin:/bin", CRASHKEEP_ROOT: s.root, TERM: "dumb" } });
  // script(1) passes the child's exit status with -e; the pty merges stdout and stderr.
  return { code: r.exitCode, out: r.stdout.toString().replace(/\x1b\[[0-9;]*m/g, ""), err: "" };
}

const entries = (s: Scenario) => readdirSync(join(s.root, ARCHIVE)).filter((n) => !n.startsWith(".") && n !== "cores" && n !== "reports");
const reports = (s: Scenario) => (existsSync(join(s.root, ARCHIVE, "reports")) ? readdirSync(join(s.root, ARCHIVE, "reports")) : []);

beforeAll(async () => {
  for (const p of PATHS) if (p.name.startsWith("init") || p.name.startsWith("watch") || p.name.startsWith("core")) templates.set(p.name, await p.template());
}, 120_000);
afterAll(() => {
  for (const s of made) dropScenario(s);
  for (const t of templates.values()) rmSync(t, { recursive: true, force: true });
});

const needBinary = needs({ "out/crashkeep (make build)": file(BINARY) });

describe.skipIf(needBinary.skip)(`out/crashkeep, every command${needBinary.note}`, () => {
  beforeAll(() => needBinary.check());
  test("init --json: the result as JSON; init --config with a missing file: said, defaults, exit 1", () => {
    const s = tree("init");
    const r = ck(s, ["init", "--json"]);
    expect(r.code).toBe(0);
    const json = JSON.parse(r.out) as { ok: boolean; device: { name: string }; collected: { cleared: string[] } };
    expect({ ok: json.ok, device: json.device.name, cleared: json.collected.cleared }).toEqual({ ok: true, device: "crashkeep", cleared: ["dmesg-ramoops-0"] });
    const bad = ck(tree("init"), ["init", "--config", "/nonexistent.json"]);
    expect(bad.code).toBe(1);
    expect(bad.out).toContain('Cannot load config "/nonexistent.json"');
    expect(bad.out).toContain("crashkeep: continuing with the default config");
  });

  test("watch --once: a waiting core reported; without a journal, to the archive only; a bad config falls back to defaults", () => {
    const s = tree("watch");
    const r = ck(s, ["watch", "--once"]);
    expect(r.code).toBe(0);
    expect(r.err).toMatch(/^crashkeep watch: reported .*core\.abort\.4242\.1700000000 → .*\/reports\//m);
    expect(reports(s)).toHaveLength(1);

    const nojournal = tree("watch");
    rmSync(join(nojournal.root, "dev/mtdchar/crashkeep"));
    const n = ck(nojournal, ["watch", "--once"]);
    expect(n.code).toBe(0);
    expect(n.err).toMatch(/Cannot open ".*mtdchar\/crashkeep" for writing: no such file or device; reports go to the archive only/);
    expect(reports(nojournal)).toHaveLength(1);

    const badconf = tree("watch");
    writeFileSync(join(badconf.root, "bad.json"), "{ nope");
    const b = ck(badconf, ["watch", "--once", "--config", join(badconf.root, "bad.json")]);
    // The pass ran with the defaults, but what the config meant (a rollback, an upload) may not have: exit 1.
    expect(b.code).toBe(1);
    expect(b.err).toMatch(/^Cannot load config ".*bad\.json": not valid JSON/m);
    expect(b.err).toContain("crashkeep watch: continuing with the default config");
  });

  test("watch (daemon): SIGINT after its first mirror pass is a last pass and exit 0", async () => {
    const s = tree("watch");
    writeFileSync(join(s.root, "var/log/messages"), "line one\nline two\nthe daemon's first pass\n");
    const p = Bun.spawn([BINARY, "watch"], { cwd: s.root, env: { PATH: process.env.PATH ?? "", CRASHKEEP_ROOT: s.root }, stderr: "pipe" });
    // The observable event: the log line is in the journal's log area.
    const deadline = Date.now() + 30_000;
    while (!journalOf(s.root).logs.some((t) => new TextDecoder().decode(t.bytes).includes("first pass"))) {
      if (Date.now() > deadline) throw new Error("Cannot see the daemon's first mirror pass in 30 s");
      await Bun.sleep(20);
    }
    writeFileSync(join(s.root, "var/log/messages"), "line one\nline two\nthe daemon's first pass\nbefore SIGINT\n");
    p.kill("SIGINT");
    expect(await p.exited).toBe(0);
    // The last pass on the way out mirrored the line written just before the signal.
    expect(journalOf(s.root).logs.some((t) => new TextDecoder().decode(t.bytes).includes("before SIGINT"))).toBe(true);
  });

  test("watch --pidfile: written only once signals are handled (SIGUSR1 at once does not kill it), removed on SIGTERM; an unwritable one is said, the daemon goes on", async () => {
    const s = tree("watch");
    const pidfile = join(s.root, "run-crashkeep.pid");
    const env = { PATH: process.env.PATH ?? "", CRASHKEEP_ROOT: s.root };
    const p = Bun.spawn([BINARY, "watch", "--pidfile", pidfile], { cwd: s.root, env, stderr: "pipe" });
    const deadline = Date.now() + 30_000;
    while (!existsSync(pidfile)) {
      if (Date.now() > deadline || p.exitCode !== null) throw new Error(`Cannot see the pidfile in 30 s (daemon exit ${p.exitCode})`);
      await Bun.sleep(5);
    }
    expect(readFileSync(pidfile, "utf8")).toBe(`${p.pid}\n`);
    // The first moment the file is there, a SIGUSR1 is a mirror pass, not the signal's default
    // (terminate): the line logged before it reaches the journal, and the daemon is still running.
    appendFileSync(join(s.root, "var/log/messages"), "logged before SIGUSR1\n");
    p.kill("SIGUSR1");
    while (!journalOf(s.root).logs.some((t) => new TextDecoder().decode(t.bytes).includes("logged before SIGUSR1"))) {
      if (Date.now() > deadline || p.exitCode !== null) throw new Error(`Cannot see the SIGUSR1 mirror pass (daemon exit ${p.exitCode}, signal ${p.signalCode})`);
      await Bun.sleep(10);
    }
    expect(p.exitCode).toBeNull();
    p.kill("SIGTERM");
    expect(await p.exited).toBe(0);
    expect(existsSync(pidfile)).toBe(false);

    // Its directory does not exist: one line, and the daemon runs on (SIGTERM still ends it cleanly).
    const q = Bun.spawn([BINARY, "watch", "--pidfile", join(s.root, "no/such/dir/x.pid")], { cwd: s.root, env, stderr: "pipe" });
    let err = "";
    const reader = (async () => {
      for await (const c of q.stderr) err += new TextDecoder().decode(c);
    })();
    while (!err.includes("pidfile")) {
      if (Date.now() > deadline + 30_000 || q.exitCode !== null) throw new Error(`Cannot see the pidfile error (exit ${q.exitCode}): ${err}`);
      await Bun.sleep(10);
    }
    expect(err).toMatch(/^crashkeep watch: Cannot write the pidfile ".*no\/such\/dir\/x\.pid": .*; going on without it$/m);
    expect(q.exitCode).toBeNull();
    q.kill("SIGTERM");
    expect(await q.exited).toBe(0);
    await reader;
  });

  test("core: missing arguments, no journal, the rate limit across processes, saveCores on and off", () => {
    const s = tree("pipe handler");
    expect(ck(s, ["core", "1", "2"])).toMatchObject({ code: 2, err: expect.stringMatching(/^crashkeep core: Needs PID TID SIGNAL TIME EXE/) });
    const core = join(s.root, "abort.core");
    writeFileSync(core, Bun.spawnSync(["xz", "-dc", join(import.meta.dir, "../fixtures/cores/x86_64/abort.core.xz")]).stdout);

    const nojournal = tree("pipe handler");
    rmSync(join(nojournal.root, "dev/mtdchar/crashkeep"));
    expect(ck(nojournal, ["core", "10", "10", "6", "1700000000", "!usr!bin!abort"], { stdin: core }).code).toBe(1);
    expect(readFileSync(join(nojournal.root, "dev/kmsg"), "utf8")).toMatch(/crashkeep core: Cannot open ".*" for writing: no such file or device; the report goes to the archive only/);
    expect(reports(nojournal)).toHaveLength(1);

    // The kernel log refuses the problem line too (here a directory; in the
    // fault sweep an EIO that hit both a worker's gzip write and this line):
    // the line goes to stderr, so a failing exit is never silent.
    const nokmsg = tree("pipe handler");
    rmSync(join(nokmsg.root, "dev/mtdchar/crashkeep"));
    rmSync(join(nokmsg.root, "dev/kmsg"), { force: true });
    mkdirSync(join(nokmsg.root, "dev/kmsg"));
    const silent = ck(nokmsg, ["core", "10", "10", "6", "1700000000", "!usr!bin!abort"], { stdin: core });
    expect(silent.code).toBe(1);
    expect(silent.err).toMatch(/^crashkeep core: Cannot open ".*" for writing: no such file or device; the report goes to the archive only$/m);
    expect(reports(nokmsg)).toHaveLength(1);

    // cores.reportsPerMinute 1: the second process's crash is counted, not reported (state in /run/crashkeep/rate.json).
    const config = join(s.root, "etc/crashkeep/config.json");
    writeFileSync(config, JSON.stringify({ ...JSON.parse(readFileSync(config, "utf8")), cores: { mode: "pipe", saveCores: false, reportsPerMinute: 1 } }));
    expect(ck(s, ["core", "11", "11", "6", "1700000000", "!usr!bin!abort"], { stdin: core }).code).toBe(0);
    expect(ck(s, ["core", "12", "12", "6", "1700000001", "!usr!bin!abort"], { stdin: core }).code).toBe(0);
    expect(readFileSync(join(s.root, "dev/kmsg"), "utf8")).toContain("crashkeep: rate-limited crash of /usr/bin/abort (pid 12, tid 12, signal 6)");
    expect(reports(s)).toHaveLength(1);
    expect(existsSync(join(s.root, ARCHIVE, "cores/kept"))).toBe(false); // saveCores off

    // The cores directory cannot be made (a file holds its name): the core is not kept, the report is.
    const blocked = tree("pipe handler");
    mkdirSync(join(blocked.root, ARCHIVE, "cores"), { recursive: true });
    writeFileSync(join(blocked.root, ARCHIVE, "cores/kept"), "not a directory");
    expect(ck(blocked, ["core", "14", "14", "6", "1700000000", "!usr!bin!abort"], { stdin: core }).code).toBe(1);
    expect(readFileSync(join(blocked.root, "dev/kmsg"), "utf8")).toMatch(/crashkeep core: Cannot save the core of \/usr\/bin\/abort \(pid 14\) in ".*cores\/kept": /);
    expect(reports(blocked)).toHaveLength(1);

    const save = tree("pipe handler"); // the template has saveCores on
    expect(ck(save, ["core", "13", "13", "6", "1700000000", "!usr!bin!abort"], { stdin: core }).code).toBe(0);
    expect(readdirSync(join(save.root, ARCHIVE, "cores/kept"))).toEqual(["20231114T221320Z-abort-13.core.gz"]);
  });

  test("core from a pipe (as the kernel gives it): saved byte-exact, and a core past cores.maxCoreBytes is still read to its end", () => {
    const s = tree("pipe handler"); // the template has saveCores on
    const core = join(s.root, "abort.core");
    const bytes = Bun.spawnSync(["xz", "-dc", join(import.meta.dir, "../fixtures/cores/x86_64/abort.core.xz")]).stdout;
    writeFileSync(core, bytes);
    // bash's PIPESTATUS: cat's status proves the handler read everything (else EPIPE / SIGPIPE).
    const piped = (scenario: Scenario, input: string, pid: string) => Bun.spawnSync(["bash", "-c", `cat ${input} | '${BINARY}' core ${pid} ${pid} 6 1700000000 '!usr!bin!abort'; echo "\${PIPESTATUS[*]}"`], {
      cwd: scenario.root,
      env: { PATH: process.env.PATH ?? "/usr/bin:/bin", CRASHKEEP_ROOT: scenario.root },
    }).stdout.toString().trim();
    const kept = (scenario: Scenario) => readdirSync(join(scenario.root, ARCHIVE, "cores/kept"));
    const gunzip = (scenario: Scenario, name: string) => new Uint8Array(Bun.spawnSync(["gzip", "-dc", join(scenario.root, ARCHIVE, "cores/kept", name)]).stdout);

    expect(piped(s, "abort.core", "21")).toBe("0 0");
    expect(kept(s)).toEqual(["20231114T221320Z-abort-21.core.gz"]);
    expect(gunzip(s, "20231114T221320Z-abort-21.core.gz")).toEqual(new Uint8Array(bytes));

    // 8 MiB after the core (what a large core's memory would be; each 64 KiB
    // different, so a reused read buffer overwritten too early would show) and
    // a 3 MiB cap: the cut is saved, the rest drained.
    const big = tree("pipe handler");
    writeFileSync(join(big.root, "abort.core"), bytes);
    const tail = Uint8Array.from({ length: 8 << 20 }, (_, i) => (i >> 16) & 0xff);
    writeFileSync(join(big.root, "tail.bin"), tail);
    const config = join(big.root, "etc/crashkeep/config.json");
    const c = JSON.parse(readFileSync(config, "utf8")) as { cores: Record<string, unknown> };
    writeFileSync(config, JSON.stringify({ ...c, cores: { ...c.cores, maxCoreBytes: "3Mi" } }));
    expect(piped(big, "abort.core tail.bin", "22")).toBe("0 0");
    expect(kept(big)).toEqual(["20231114T221320Z-abort-22.core.truncated.gz"]);
    const whole = new Uint8Array(bytes.length + tail.length);
    whole.set(new Uint8Array(bytes));
    whole.set(tail, bytes.length);
    expect(gunzip(big, "20231114T221320Z-abort-22.core.truncated.gz")).toEqual(whole.subarray(0, 3 << 20));
    expect(readFileSync(join(big.root, "dev/kmsg"), "utf8")).toContain("core kept (cut at cores.maxCoreBytes)");
  });

  test("status in every state it prints", () => {
    const s = tree("init");
    writeFileSync(join(s.root, "bad.json"), JSON.stringify({ bogus: 1 }));
    expect(ck(s, ["status", "--config", join(s.root, "bad.json")]).out).toMatch(/^config: +.*bad\.json INVALID: Cannot load config ".*bad\.json": bogus: unknown key$/m);
    truncateSync(join(s.root, "dev/mtd0"), 0);
    truncateSync(join(s.root, "dev/mtd0"), 8 << 20);
    expect(ck(s, ["status"]).out).toMatch(/^journal: +.*mtdchar\/crashkeep: not retained \(cold boot, power loss or never formatted\)$/m);
    writeFileSync(join(s.root, "proc/mtd"), "dev:    size   erasesize  name\n");
    expect(ck(s, ["status"]).out).toMatch(/^device: +no MTD device "crashkeep"$/m);
    renameSync(join(s.root, "proc/iomem"), join(s.root, "proc/iomem.gone"));
    expect(ck(s, ["status"]).out).toMatch(/^region: +ramoops 8Mi at 0x7000000: \/proc\/iomem is unreadable$/m);
    writeFileSync(join(s.root, "proc/mounts"), "proc /proc proc rw 0 0\n");
    const r = ck(s, ["status"]);
    expect(r.out).toMatch(/^pstore: +not mounted/m);
    expect(r.code).toBe(0);
  });

  test("history: empty, list, show ID --json, an unknown ID", () => {
    const s = tree("init");
    expect(ck(s, ["history"])).toMatchObject({ code: 0, out: `no archived boots in ${join(s.root, ARCHIVE)}\n` });
    expect(ck(s, ["init"]).code).toBe(0);
    const [id = ""] = entries(s);
    expect(ck(s, ["history"]).out).toMatch(new RegExp(`^${id}  .*kernel-panic: sysrq triggered crash  \\[dmesg-ramoops-0, journal-1-note.txt, log-0-messages\\]$`, "m"));
    const shown = JSON.parse(ck(s, ["history", "show", id, "--json"]).out) as { id: string; reason: string };
    expect({ id: shown.id, reason: shown.reason }).toEqual({ id, reason: "kernel-panic" });
    expect(ck(s, ["history", "show", "nope"])).toMatchObject({ code: 1, err: `Cannot show archived boot "nope": no such entry in ${join(s.root, ARCHIVE)}\n` });
  });

  test("config check without FILE, config show FILE (refused: --config), no subcommand", () => {
    const s = tree("init");
    const check = ck(s, ["config", "check"]);
    expect(check.code).toBe(0);
    expect(check.out).toStartWith(`${join(s.root, "etc/crashkeep/config.json")}: OK: ramoops 8Mi at 0x7000000, phram "crashkeep" 8Mi at 0x7800000\n`);
    expect(ck(s, ["config", "show", "x.json"])).toMatchObject({ code: 2, err: expect.stringMatching(/^crashkeep config: "config show" takes no FILE; use --config FILE$/m) });
    expect(ck(s, ["config"])).toMatchObject({ code: 2, err: expect.stringMatching(/^crashkeep config: Missing subcommand: check or show$/m) });
  });

  test("copy: every flag, bad sizes, missing SRC or DEST", () => {
    const s = tree("init");
    const src = join(s.root, "src.bin");
    const dest = join(s.root, "dest.img");
    const bytes = new Uint8Array(10_000).map((_, i) => (i * 7) & 0xff);
    writeFileSync(src, bytes);
    writeFileSync(dest, new Uint8Array(8192));
    expect(ck(s, ["copy", "--tail", "--bytes", "0x1000", "--offset", "4096", "--block-size", "512", src, dest]).code).toBe(0);
    const out = readFileSync(dest);
    expect(Buffer.compare(out.subarray(4096, 8192), Buffer.from(bytes.subarray(10_000 - 4096)))).toBe(0);
    expect(out.subarray(0, 4096).every((b) => b === 0)).toBe(true);
    expect(ck(s, ["copy", "--bytes", "12q", src, dest])).toMatchObject({ code: 2, err: expect.stringMatching(/^crashkeep copy: Option "--bytes" needs a size such as 4096, 0x1000, 64ki or 8Mi, got "12q"$/m) });
    expect(ck(s, ["copy", "--block-size", "1000", src, dest])).toMatchObject({ code: 1, err: 'Cannot use block size "1000": must be a power of two from 512 to 67108864\n' });
    expect(ck(s, ["copy", src])).toMatchObject({ code: 2, err: expect.stringMatching(/^crashkeep copy: Missing SRC or DEST$/m) });
    expect(ck(s, ["copy"]).code).toBe(2);
  });

  test("dump: text, --json, --raw, and raw bytes refused on a terminal", () => {
    const s = tree("init");
    expect(ck(s, ["dump"]).out).toMatch(/^.*mtdchar\/crashkeep: journal, boot 1 \(11111111-1111-4111-8111-111111111111\)/);
    const json = JSON.parse(ck(s, ["dump", "--json"]).out) as { records: Array<{ kind: string; payload: { data: string } }> };
    expect(json.records.map((r) => [r.kind, r.payload.data])).toEqual([["note", "before the crash"]]);
    const raw = Bun.spawnSync([BINARY, "dump", "--raw", "--bytes", "4096"], { env: { PATH: process.env.PATH ?? "", CRASHKEEP_ROOT: s.root } });
    expect(raw.exitCode).toBe(0);
    expect(Buffer.compare(raw.stdout, readFileSync(join(s.root, "dev/mtd0")).subarray(0, 4096))).toBe(0);
    const tty = onTerminal(s, ["dump", "--raw"]);
    expect(tty.code).toBe(2);
    expect(tty.out).toContain("crashkeep dump: Refusing to write raw bytes to a terminal; redirect stdout to a file");
  });

  test("clear on a terminal without --yes: refused, the journal untouched", () => {
    const s = tree("init");
    const before = readFileSync(join(s.root, "dev/mtd0"));
    const r = onTerminal(s, ["clear"]);
    expect(r.code).toBe(2);
    expect(r.out).toMatch(/crashkeep clear: This erases ".*mtdchar\/crashkeep"; add --yes to confirm/);
    expect(Buffer.compare(readFileSync(join(s.root, "dev/mtd0")), before)).toBe(0);
  });

  test("note and shutdown on an unformatted device: one error line, exit 1", () => {
    const s = tree("init");
    const blank = join(s.root, "blank.img");
    writeFileSync(blank, new Uint8Array(64 * 1024));
    expect(ck(s, ["note", "--device", blank, "hi"])).toEqual({ code: 1, out: "", err: `Cannot append to journal "${blank}": the journal is not formatted (or memory was not retained)\n` });
    expect(ck(s, ["shutdown", "--device", blank])).toEqual({ code: 1, out: "", err: `Cannot mark clean shutdown in "${blank}": the journal is not formatted (or memory was not retained)\n` });
  });

  test("inspect with extra arguments; help CMD, version, -V", () => {
    const s = tree("init");
    expect(ck(s, ["inspect", "a", "b"])).toMatchObject({ code: 2, err: expect.stringMatching(/^crashkeep inspect: Unexpected argument "b"$/m) });
    expect(ck(s, ["help", "note"])).toMatchObject({ code: 0, out: expect.stringMatching(/^Usage: crashkeep note \[--reason R\] \[--device PATH\] TEXT$/m) });
    const version = ck(s, ["version"]);
    expect(version.out).toMatch(/^crashkeep \d+\.\d+\.\d+( \([0-9a-f]+\))?\n$/);
    expect(ck(s, ["-V"]).out).toBe(version.out);
  });
});

// A real loop block device (losetup): copy, dump --raw and clear --raw on it.
// root is not something make deps gives: without it skipped, under CI too (the title says so)
const isRoot = process.getuid?.() === 0;
describe.skipIf(needBinary.skip || !isRoot)(`on a loop device${needBinary.note}${isRoot ? "" : " [skipped: needs root (losetup)]"}`, () => {
  beforeAll(() => needBinary.check());
  test("copy, dump --raw and clear --raw on /dev/loopN", () => {
    const s = tree("init");
    // The real /sys (the loop device's size), not the fake tree.
    const real = { env: { CRASHKEEP_ROOT: "/" } };
    const img = join(s.root, "loop.img");
    writeFileSync(img, new Uint8Array(1 << 20).fill(0xaa));
    const attach = Bun.spawnSync(["losetup", "--find", "--show", img]);
    if (attach.exitCode !== 0) throw new Error(`Cannot attach a loop device (losetup: ${attach.stderr.toString().trim()})`);
    const loop = attach.stdout.toString().trim();
    try {
      const src = join(s.root, "src.bin");
      const bytes = new Uint8Array(6000).map((_, i) => (i * 13) & 0xff);
      writeFileSync(src, bytes);
      expect(ck(s, ["copy", "--tail", "--bytes", "4096", "--offset", "8192", src, loop], real)).toMatchObject({ code: 0, err: "" });
      const raw = Bun.spawnSync([BINARY, "dump", "--raw", loop, "--bytes", "16384"], { env: { PATH: process.env.PATH ?? "" } });
      expect(raw.exitCode).toBe(0);
      expect(Buffer.compare(raw.stdout.subarray(8192, 12288), Buffer.from(bytes.subarray(6000 - 4096)))).toBe(0);
      expect(raw.stdout.subarray(0, 8192).every((b) => b === 0xaa)).toBe(true);
      expect(ck(s, ["clear", "--raw", "--yes", loop], real)).toMatchObject({ code: 0 });
      const after = Bun.spawnSync([BINARY, "dump", "--raw", loop], { env: { PATH: process.env.PATH ?? "" } });
      expect(after.stdout.length).toBe(1 << 20);
      expect(after.stdout.every((b) => b === 0)).toBe(true);
    } finally {
      Bun.spawnSync(["losetup", "-d", loop]);
    }
  });
});


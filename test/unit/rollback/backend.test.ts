// The updater backends: rauc (against a stand-in printing RAUC 1.8's JSON,
// test/fixtures/rollback/README.md) and command (small shell scripts: the
// real command backend), and the command runner's limits.
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseRaucStatus, RaucBackend } from "../../../src/rollback/rauc.ts";
import { CommandBackend } from "../../../src/rollback/command.ts";
import { runCommand, shell } from "../../../src/rollback/run-command.ts";
import { waitForBackend, type Backend } from "../../../src/rollback/backend.ts";

const DOUBLE = join(import.meta.dir, "../../fixtures/rollback/rauc-double.sh");
const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});
function temp(): string {
  const d = mkdtempSync(join(tmpdir(), "crashkeep-rollback-"));
  dirs.push(d);
  return d;
}

/** A U-Boot environment for the rauc stand-in: booted slot, BOOT_ORDER, attempts, RAUC installs. */
function env(state: { booted: string; order: string; a: number; b: number; installs?: Record<string, [string, string]> }): string {
  const d = temp();
  writeFileSync(join(d, "booted"), state.booted);
  writeFileSync(join(d, "BOOT_ORDER"), state.order);
  writeFileSync(join(d, "BOOT_A_LEFT"), String(state.a));
  writeFileSync(join(d, "BOOT_B_LEFT"), String(state.b));
  for (const [slot, [version, at]] of Object.entries(state.installs ?? {})) {
    writeFileSync(join(d, `${slot}.version`), version);
    writeFileSync(join(d, `${slot}.installed`), at);
  }
  return d;
}

function raucJson(dir: string): string {
  const r = Bun.spawnSync([DOUBLE, "status", "--detailed", "--output-format=json"], { env: { ...process.env, RAUC_DOUBLE_DIR: dir } });
  return r.stdout.toString();
}

describe("rauc status JSON (RAUC 1.8's shape)", () => {
  test("booted B, freshly installed, factory A: B's install identity, A the other slot, no fallback", () => {
    const d = env({ booted: "B", order: "B A", a: 3, b: 2, installs: { B: ["2.0", "2026-12-08T00:10:00Z"] } });
    expect(parseRaucStatus(raucJson(d), "1.0")).toEqual({
      booted: "B",
      install: "2.0 installed 2026-12-08T00:10:00Z",
      firmware: "2.0",
      other: { slot: "A", install: null, firmware: null },
      fellBackFrom: null,
      installedByUpdater: true,
    });
  });

  test("the factory slot stands for itself by the running firmware", () => {
    const d = env({ booted: "A", order: "A B", a: 3, b: 3 });
    expect(parseRaucStatus(raucJson(d), "1.0")).toMatchObject({ booted: "A", install: "1.0", firmware: "1.0", fellBackFrom: null, installedByUpdater: false });
  });

  test("the bootloader fell back from B on its own (BOOT_B_LEFT 0, still first in BOOT_ORDER): primary shows A, B is bad and newer", () => {
    const d = env({ booted: "A", order: "B A", a: 2, b: 0, installs: { B: ["2.0", "2026-12-08T00:10:00Z"] } });
    const json = raucJson(d);
    expect((JSON.parse(json) as { boot_primary: string }).boot_primary).toBe("rootfs.0");
    expect(parseRaucStatus(json, "1.0").fellBackFrom).toEqual({ slot: "B", install: "2.0 installed 2026-12-08T00:10:00Z", firmware: "2.0" });
  });

  test("an older install in the bad other slot is not a fallback (the booted one is newer)", () => {
    const d = env({ booted: "A", order: "A", a: 3, b: 0, installs: { B: ["2.0", "2026-12-01T00:00:00Z"], A: ["3.0", "2026-12-08T00:00:00Z"] } });
    expect(parseRaucStatus(raucJson(d), null).fellBackFrom).toBeNull();
  });

  test.each([
    ["not JSON", "rauc: something", /^Cannot read rauc status: /],
    ["no slots", "{}", /^Cannot read rauc status: no "slots" array/],
    ["no booted slot", '{"booted":"C","slots":[{"rootfs.0":{"bootname":"A","state":"inactive"}}]}', /^Cannot find the booted slot in rauc status \(booted "C"\)/],
  ])("%s: one clear error", (_what, text, message) => {
    expect(() => parseRaucStatus(text, null)).toThrow(message);
  });
});

describe("RaucBackend, with the stand-in as rauc on PATH", () => {
  const bin = temp();
  symlinkSync(DOUBLE, join(bin, "rauc"));
  const withPath = async <T>(dir: string, fn: () => Promise<T>): Promise<T> => {
    const saved = { path: process.env.PATH, dir: process.env.RAUC_DOUBLE_DIR };
    process.env.PATH = `${bin}:${saved.path ?? "/usr/bin:/bin"}`;
    process.env.RAUC_DOUBLE_DIR = dir;
    try {
      return await fn();
    } finally {
      process.env.PATH = saved.path;
      if (saved.dir === undefined) delete process.env.RAUC_DOUBLE_DIR;
      else process.env.RAUC_DOUBLE_DIR = saved.dir;
    }
  };

  test("mark good resets the booted slot's attempts; mark bad and switch leaves it out and makes the other first", async () => {
    const d = env({ booted: "B", order: "B A", a: 3, b: 1, installs: { B: ["2.0", "2026-12-08T00:10:00Z"] } });
    const rauc = new RaucBackend("1.0");
    await withPath(d, () => rauc.markGood());
    expect(readFileSync(join(d, "BOOT_B_LEFT"), "utf8").trim()).toBe("3");
    await withPath(d, () => rauc.markBadAndSwitch());
    expect({ order: readFileSync(join(d, "BOOT_ORDER"), "utf8").trim(), b: readFileSync(join(d, "BOOT_B_LEFT"), "utf8").trim() }).toEqual({ order: "A", b: "0" });
    expect(readFileSync(join(d, "calls"), "utf8").trim().split("\n")).toEqual(["status mark-good booted", "status mark-bad booted", "status mark-active other"]);
    // after the switch the booted slot still is B (until the reboot): its fallback is not one of the bootloader's
    expect((await withPath(d, () => rauc.state())).booted).toBe("B");
  });

  test("rauc failing (its service not up yet): the error names the command and rauc's line", async () => {
    const d = env({ booted: "A", order: "A B", a: 3, b: 3 });
    writeFileSync(join(d, "fail"), "error: Failed to connect to D-Bus");
    await expect(withPath(d, () => new RaucBackend(null).state())).rejects.toThrow('Cannot read the rauc status ("rauc status --detailed --output-format=json"): exit 1: rauc: error: Failed to connect to D-Bus');
  });

  test("waiting for the backend: tried until it answers, within the bound", async () => {
    const d = env({ booted: "A", order: "A B", a: 3, b: 3 });
    writeFileSync(join(d, "fail"), "not yet");
    setTimeout(() => rmSync(join(d, "fail")), 300);
    const state = await withPath(d, () => waitForBackend(new RaucBackend("1.0"), { timeoutMs: 20_000, retryMs: 100, stopped: () => false }));
    expect(state.booted).toBe("A");
    writeFileSync(join(d, "fail"), "never");
    await expect(withPath(d, () => waitForBackend(new RaucBackend("1.0"), { timeoutMs: 300, retryMs: 100, stopped: () => false }))).rejects.toThrow(/rauc: never \(waited 0 s for the rauc backend\)$/);
  });
});

describe("CommandBackend: rollback.commands through /bin/sh -c", () => {
  function scripts(): { dir: string; backend: (extra?: Partial<ConstructorParameters<typeof CommandBackend>[0]>) => Backend } {
    const dir = temp();
    mkdirSync(join(dir, "env"));
    writeFileSync(join(dir, "env/booted"), "B\n");
    writeFileSync(join(dir, "env/primary"), "B\n");
    const commands = {
      bootedSlot: `cat ${dir}/env/booted`,
      primarySlot: `cat ${dir}/env/primary`,
      markGood: `echo good >> ${dir}/env/log`,
      markBadAndSwitch: `echo bad >> ${dir}/env/log && echo A > ${dir}/env/primary`,
    };
    return { dir, backend: (extra = {}) => new CommandBackend({ ...commands, ...extra }, "2.0 (42)") };
  }

  test("booted and primary slots, mark good, mark bad and switch", async () => {
    const { dir, backend } = scripts();
    const b = backend();
    expect(await b.state()).toEqual({ booted: "B", install: "2.0 (42)", firmware: "2.0 (42)", other: null, fellBackFrom: null });
    await b.markGood();
    await b.markBadAndSwitch();
    expect(readFileSync(join(dir, "env/log"), "utf8")).toBe("good\nbad\n");
    // primary A, booted B: the bootloader fell back from A (as the next boot would see it the other way round)
    expect((await b.state()).fellBackFrom).toEqual({ slot: "A", install: null, firmware: null });
  });

  test("without primarySlot no fallback is told", async () => {
    const { dir, backend } = scripts();
    writeFileSync(join(dir, "env/primary"), "A\n");
    expect((await backend({ primarySlot: undefined } as never).state()).fellBackFrom).toBeNull();
  });

  test.each([
    ["a failing command", { markGood: "echo 'fw_setenv: cannot open /dev/mtd1' >&2; exit 3" }, "markGood", 'Cannot mark the booted slot good ("echo \'fw_setenv: cannot open /dev/mtd1\' >&2; exit 3"): exit 3: fw_setenv: cannot open /dev/mtd1'],
    ["a slot name that is not one", { bootedSlot: "echo '{\"slot\": 1}'" }, "state", 'Cannot read the booted slot ("echo \'{"slot": 1}\'"): it printed "{\\"slot\\": 1}", not a slot name'],
    ["a slot command that prints too much", { bootedSlot: "head -c 10000 /dev/zero | tr '\\0' A" }, "state", /^Cannot read the booted slot \(.*\): more than 4096 bytes of output \(killed\)$/],
  ] as const)("%s: one clear error line", async (_what, change, call, message) => {
    const b = scripts().backend(change);
    const p = call === "state" ? b.state() : b.markGood();
    await expect(p).rejects.toThrow(message);
    await p.catch((err: Error) => expect(err.message.includes("\n")).toBe(false));
  });
});

describe("runCommand limits", () => {
  test("a command that does not answer in time is killed", async () => {
    const started = Date.now();
    await expect(runCommand(shell("sleep 30"), { what: "wait", timeoutMs: 200 })).rejects.toThrow('Cannot wait ("sleep 30"): no answer within 0.2 s (killed)');
    expect(Date.now() - started).toBeLessThan(20_000); // not the 30 s: killed (a bound, not a timing)
  });

  test("endless output is cut at the limit and the command killed", async () => {
    await expect(runCommand(shell("yes"), { what: "read", timeoutMs: 20_000, maxOutputBytes: 1000 })).rejects.toThrow('Cannot read ("yes"): more than 1000 bytes of output (killed)');
  });

  test("a command that cannot start", async () => {
    await expect(runCommand(["/nonexistent/rauc", "status"], { what: "read the rauc status", timeoutMs: 1000 })).rejects.toThrow(/^Cannot read the rauc status \("\/nonexistent\/rauc status"\): /);
  });
});

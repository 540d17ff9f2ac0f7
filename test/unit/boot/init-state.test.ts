// /run/crashkeep/init.json (src/boot/init-state.ts): what `status` shows of
// this boot's init, written whole; a temp file of a run killed before its
// rename is removed by the next write (the fault sweep's leftovers).
import { afterEach, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { makePaths } from "../../../src/system/paths.ts";
import { clearInitRunning, INIT_RUNNING_FILE, markInitRunning, readInitState, runningInitPid, waitForInit, writeInitState } from "../../../src/boot/init-state.ts";

const roots: string[] = [];
afterEach(() => {
  for (const r of roots.splice(0)) rmSync(r, { recursive: true, force: true });
});

function root(): string {
  const r = mkdtempSync(join(tmpdir(), "crashkeep-init-state-"));
  roots.push(r);
  mkdirSync(join(r, "proc"));
  writeFileSync(join(r, "proc/uptime"), "12.34 20.00\n");
  return r;
}

describe("init state", () => {
  test("written and read back: exit status, errors, pid, uptime; none written: undefined", () => {
    const r = root();
    const paths = makePaths(r);
    expect(readInitState(paths)).toBeUndefined();
    expect(writeInitState(paths, { pid: 42, by: "watch --init", exitStatus: 1, errors: ['Cannot load config "/x.json": no such file'] })).toBeUndefined();
    expect(readInitState(paths)).toMatchObject({ pid: 42, by: "watch --init", exitStatus: 1, errors: ['Cannot load config "/x.json": no such file'], uptimeSeconds: 12.34 });
  });

  test("a temp file left by a killed run is removed; an unwritable /run is said, not thrown", () => {
    const r = root();
    const paths = makePaths(r);
    mkdirSync(join(r, "run/crashkeep"), { recursive: true });
    writeFileSync(join(r, "run/crashkeep/init.json.999.tmp"), "{");
    expect(writeInitState(paths, { pid: 7, by: "init", exitStatus: 0, errors: [] })).toBeUndefined();
    expect(readdirSync(join(r, "run/crashkeep"))).toEqual(["init.json"]);

    const bad = root();
    writeFileSync(join(bad, "run"), "not a directory");
    expect(writeInitState(makePaths(bad), { pid: 7, by: "init", exitStatus: 0, errors: [] })).toMatch(/^Cannot write ".*init\.json": /);
    expect(existsSync(join(bad, "run/crashkeep"))).toBe(false);
  });
});

describe("init running (the marker other journal writers wait for)", () => {
  test("names a live init; a dead one's marker, a garbled one and our own pid count as none; waitForInit returns once it goes, or the pid at its limit", async () => {
    const r = root();
    const paths = makePaths(r);
    const marker = join(r, INIT_RUNNING_FILE);
    expect(runningInitPid(paths)).toBeUndefined();
    const sleeper = Bun.spawn(["sleep", "30"]);
    try {
      mkdirSync(join(r, "run/crashkeep"), { recursive: true });
      writeFileSync(marker, `${sleeper.pid}\n`);
      expect(runningInitPid(paths)).toBe(sleeper.pid);
      const t0 = Date.now();
      expect(await waitForInit(paths, 200, 20)).toBe(sleeper.pid);
      expect(Date.now() - t0).toBeGreaterThanOrEqual(200);
      const waiting = waitForInit(paths, 10_000, 20);
      setTimeout(() => rmSync(marker), 100);
      expect(await waiting).toBeUndefined();
      writeFileSync(marker, `${sleeper.pid}\n`);
      sleeper.kill();
      await sleeper.exited;
      expect(runningInitPid(paths)).toBeUndefined(); // killed during init: stale
    } finally {
      sleeper.kill();
    }
    // S03crashkeep's "starting" (the daemon not yet running): an init starting, for a minute after it was written.
    writeFileSync(marker, "starting\n");
    expect(runningInitPid(paths)).toBe(0);
    utimesSync(marker, new Date(Date.now() - 120_000), new Date(Date.now() - 120_000));
    expect(runningInitPid(paths)).toBeUndefined();
    writeFileSync(marker, "garbage\n");
    expect(runningInitPid(paths)).toBeUndefined();
    expect(markInitRunning(paths)).toBeUndefined();
    expect(existsSync(marker)).toBe(true);
    expect(runningInitPid(paths)).toBeUndefined(); // this process's own marker
    clearInitRunning(paths);
    expect(existsSync(marker)).toBe(false);
  });
});

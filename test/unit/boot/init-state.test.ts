// /run/crashkeep/init.json (src/boot/init-state.ts): what `status` shows of
// this boot's init, written whole; a temp file of a run killed before its
// rename is removed by the next write (the fault sweep's leftovers).
import { afterEach, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { makePaths } from "../../../src/system/paths.ts";
import { readInitState, writeInitState } from "../../../src/boot/init-state.ts";

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

// `crashkeep inspect --debug-dir` and `crashkeep symbolize` as the compiled
// binary (out/crashkeep, `make build`): the forms a device's report comes in,
// exit codes 0/1/2, one error line for garbage, a debug file with another
// build-id named in the module's problem.
import { afterAll, describe, expect, test } from "bun:test";
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { debugFixtures } from "../unit/debuginfo/symbolize-fixtures.ts";
import { openDevice } from "../../src/copy/block-device.ts";
import { appendRecord, formatJournal, openJournal } from "../../src/journal/journal.ts";

const BIN = join(import.meta.dir, "../../out/crashkeep");
const fx = debugFixtures();
const records = fx.cores.find((c) => c.name === "records")!;
const tmp = mkdtempSync(join(tmpdir(), "crashkeep-symbolize-cli-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function crashkeep(...args: string[]): { code: number; out: string; err: string } {
  const r = Bun.spawnSync([BIN, ...args], { env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: tmp } });
  return { code: r.exitCode ?? -1, out: r.stdout.toString(), err: r.stderr.toString() };
}

const compact = crashkeep("inspect", records.core, "--sysroot", fx.sysroot, "--compact").out.trim();
const debug = ["--debug-dir", fx.debugDir, "--debug-dir", fx.glibcDebugDir];

describe("inspect --debug-dir", () => {
  test("text: function (file:line), inlined frames marked", () => {
    const r = crashkeep("inspect", records.core, "--sysroot", fx.sysroot, ...debug);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/#00 pc 0+11e0 {2}\/opt\/crashkeep-fixtures\/symbolize\/records \(check_invariant\) \(\S*records\.c:17\) \(BuildId: [0-9a-f]{40}\) \[inlined\]/);
    expect(r.out).toMatch(/#02 pc 0+11e0 {2}\S+ \(run_batch\+32\) \(\S*records\.c:26\) .*\[context\]/);
  });
  test("--json: version 2, the module's debug file and how it was found", () => {
    const j = JSON.parse(crashkeep("inspect", records.core, "--sysroot", fx.sysroot, ...debug, "--json").out);
    expect(j.version).toBe(2);
    expect(j.modules.find((m: { path: string }) => m.path.endsWith("/records"))).toMatchObject({ debugSource: "build-id", problem: null });
  });
});

describe("symbolize", () => {
  test("real `crashkeep dump --json` output of a journal holding the crash record", () => {
    // a journal on a file, as `dump --device FILE` reads a raw copy on a workstation
    const device = join(tmp, "journal.bin");
    writeFileSync(device, new Uint8Array(1024 * 1024));
    const dev = openDevice(device, { write: true });
    try {
      formatJournal(dev, { locking: false, bootId: "aaaaaaaa-0000-4000-8000-000000000001", timeMs: 1000, slotBytes: 8192, logs: [] });
      const journal = openJournal(dev, { locking: false });
      appendRecord(journal, { kind: "note", payload: new TextEncoder().encode("before the crash") });
      appendRecord(journal, { kind: "crash-report", payload: new TextEncoder().encode(compact) });
    } finally {
      dev.close();
    }
    const dump = crashkeep("dump", "--json", "--device", device);
    expect(dump.code).toBe(0);
    const file = join(tmp, "real-dump.json");
    writeFileSync(file, dump.out);
    const r = crashkeep("symbolize", file, "--sysroot", fx.sysroot, ...debug);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/#00 pc 0+11e0 {2}\S+\/records \(check_invariant\) \(\S*records\.c:17\)/);
  });
  test("REPORT - reads standard input (ssh device crashkeep dump --json | crashkeep symbolize -)", () => {
    const r = Bun.spawnSync([BIN, "symbolize", "-", "--sysroot", fx.sysroot, ...debug, "--json"], { stdin: new TextEncoder().encode(compact), env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: tmp } });
    expect(r.exitCode).toBe(0);
    expect(JSON.parse(r.stdout.toString()).threads[0].frames[0]).toMatchObject({ function: "check_invariant", line: 17, inlined: true });
    const bad = Bun.spawnSync([BIN, "symbolize", "-"], { stdin: new TextEncoder().encode("nope"), env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: tmp } });
    expect(bad.exitCode).toBe(1);
    expect(bad.stderr.toString().trim()).toBe('Cannot symbolize report "-": not JSON');
  });
  test("dump --json with two crash records: a JSON array of two reports", () => {
    const dump = { retained: true, control: null, corruptRecords: 0, logs: [], records: [1, 2].map((seq) => ({ seq, kind: "crash-report", payload: { encoding: "utf-8", data: compact } })) };
    const file = join(tmp, "dump.json");
    writeFileSync(file, JSON.stringify(dump));
    const r = crashkeep("symbolize", file, "--sysroot", fx.sysroot, ...debug, "--json");
    expect(r.code).toBe(0);
    const j = JSON.parse(r.out);
    expect(j).toHaveLength(2);
    expect(j[1].threads[0].frames[0]).toMatchObject({ function: "check_invariant", line: 17, inlined: true });
  });
  test("a debug file with another build-id: named in the module's problem, never used", () => {
    const wrong = join(tmp, "wrong");
    const id = JSON.parse(compact).modules[0][1] as string;
    mkdirSync(join(wrong, ".build-id", id.slice(0, 2)), { recursive: true });
    // terminate's debug file, put where records' belongs
    const terminateId = JSON.parse(crashkeep("inspect", fx.cores.find((c) => c.name === "terminate")!.core, "--sysroot", fx.sysroot, "--compact").out).modules
      .find((m: [string, string]) => m[0].endsWith("/terminate"))[1] as string;
    copyFileSync(join(fx.debugDir, ".build-id", terminateId.slice(0, 2), `${terminateId.slice(2)}.debug`), join(wrong, ".build-id", id.slice(0, 2), `${id.slice(2)}.debug`));
    const file = join(tmp, "records.compact.json");
    writeFileSync(file, compact);
    const r = crashkeep("symbolize", file, "--debug-dir", wrong, "--sysroot", join(tmp, "empty-sysroot"), "--json");
    expect(r.code).toBe(0);
    const j = JSON.parse(r.out);
    const mod = j.modules.find((m: { path: string }) => m.path.endsWith("/records"));
    expect(mod.problem).toMatch(new RegExp(`^Cannot use debug file ".*": it has build-id ${terminateId}, the module has ${id}$`));
    expect(mod.debugFile).toBeNull();
    expect(j.threads[0].frames[0].file).toBeNull();
  });
  test.each([
    ["not JSON", "garbage {", /^Cannot symbolize report ".*": not JSON$/],
    ["JSON, not a report", '{"a":1}', /^Cannot symbolize report ".*": not a crash report, a compact report/],
    ["binary junk", "\u0000\u0001\u0002\u00ff", /^Cannot symbolize report ".*": not JSON$/],
  ])("%s: exit 1, one line", (_name, body, message) => {
    const file = join(tmp, "bad.json");
    writeFileSync(file, body);
    const r = crashkeep("symbolize", file);
    expect(r.code).toBe(1);
    expect(r.err.trim().split("\n")).toHaveLength(1);
    expect(r.err.trim()).toMatch(message);
  });
  test("missing file: exit 1; bad usage: exit 2", () => {
    expect(crashkeep("symbolize", join(tmp, "nope.json")).err.trim()).toMatch(/^Cannot symbolize report ".*nope\.json": no such file$/);
    expect(crashkeep("symbolize").code).toBe(2);
    expect(crashkeep("symbolize", "a", "b").code).toBe(2);
    expect(crashkeep("symbolize", "a", "--debuginfod", "ftp://x").code).toBe(2);
  });
});

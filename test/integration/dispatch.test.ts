// The compiled binary's dispatch across its entry points (build/compile.ts):
// --version in src/main.ts, own-entry commands (copy) and every other command
// through src/cli/dispatch.ts, with the same exit codes and error voice as
// `bun src/main.ts` (test/unit/cli/main.test.ts).
import { beforeAll, describe, expect, test } from "bun:test";
import { file, needs } from "../needs.ts";
import { join } from "node:path";
import pkg from "../../package.json" with { type: "json" };
import { COMMANDS } from "../../src/cli/commands.ts";

const BIN = process.env.CRASHKEEP_BIN ?? join(import.meta.dir, "../../out/crashkeep");

function crashkeep(...args: string[]) {
  const p = Bun.spawnSync([BIN, ...args], { env: { ...process.env, CRASHKEEP_CONFIG: "" } });
  return { code: p.exitCode, out: p.stdout.toString(), err: p.stderr.toString() };
}

const need = needs({ "out/crashkeep (make build)": file(BIN) });

describe.skipIf(need.skip)(`compiled dispatch${need.note}`, () => {
  beforeAll(() => need.check());
  test("--version", () => {
    const r = crashkeep("--version");
    expect(r.code).toBe(0);
    expect(r.out).toStartWith(`crashkeep ${pkg.version}`);
  });

  test.each(Object.keys(COMMANDS))("%s --help", (cmd) => {
    const r = crashkeep(cmd, "--help");
    expect(r.code).toBe(0);
    expect(r.out).toStartWith(`Usage: crashkeep ${cmd}`);
  });

  test("an unknown command lists the valid ones, exit 2", () => {
    const r = crashkeep("frobnicate");
    expect(r.code).toBe(2);
    expect(r.err).toBe(`Unknown command "frobnicate"; valid commands: ${Object.keys(COMMANDS).join(", ")}\n`);
  });

  test.each(["copy", "history"])("%s: an unknown option is bad usage, exit 2", (cmd) => {
    const r = crashkeep(cmd, "--frobnicate");
    expect(r.code).toBe(2);
    expect(r.err).toBe(`crashkeep ${cmd}: Unknown option "--frobnicate"\nRun 'crashkeep ${cmd} --help' for usage.\n`);
  });

  test("a failure is one line on stderr, exit 1", () => {
    const r = crashkeep("copy", "/nonexistent/src", "/tmp/x");
    expect(r.code).toBe(1);
    expect(r.err).toBe('Cannot read "/nonexistent/src": no such file\n');
  });
});

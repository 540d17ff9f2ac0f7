// build/hermetic.sh, the wrapper `make test` runs its test steps through
// (issue 19): whatever a fixture script left under /opt on this machine is
// invisible to the command it runs, so a machine with leftovers fails the way
// a fresh one does. The probe is made in this process's own view of /opt (an
// empty tmpfs already when `make test` runs this file) and removed after.
import { afterAll, describe, expect, test } from "bun:test";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";

const SCRIPT = join(import.meta.dir, "../../build/hermetic.sh");
const PROBE = `/opt/crashkeep-fixtures-probe-${process.pid}`;
const isRoot = process.getuid?.() === 0;

function hermetic(...cmd: string[]) {
  const env: Record<string, string | undefined> = { ...process.env };
  delete env.CRASHKEEP_HERMETIC; // as make runs it from outside
  const p = Bun.spawnSync([SCRIPT, ...cmd], { env });
  return { code: p.exitCode, out: p.stdout.toString(), err: p.stderr.toString() };
}

describe.skipIf(!isRoot)("build/hermetic.sh", () => {
  afterAll(() => rmSync(PROBE, { recursive: true, force: true }));

  test("a fixture script's leftover under /opt is not there for the command", () => {
    mkdirSync(join(PROBE, "symbolize"), { recursive: true });
    writeFileSync(join(PROBE, "symbolize/records"), "leftover\n");
    expect(Bun.spawnSync(["test", "-e", join(PROBE, "symbolize/records")]).exitCode).toBe(0);
    const r = hermetic("sh", "-c", `ls -A /opt; test -e ${PROBE} && echo visible || echo hidden`);
    expect(r.err).toBe("");
    expect(r.out).toBe("hidden\n");
    expect(r.code).toBe(0);
  });

  test("the host's debug files (libc6-dbg's version follows Debian's point releases) are not there", () => {
    const r = hermetic("sh", "-c", "ls -A /usr/lib/debug | wc -l");
    expect(r.out).toBe("0\n");
  });

  test("the command's exit code and output come through", () => {
    const r = hermetic("sh", "-c", "echo out; echo err >&2; exit 7");
    expect(r).toEqual({ code: 7, out: "out\n", err: "err\n" });
  });

  test("without a command: usage, exit 2", () => {
    const r = hermetic();
    expect(r.code).toBe(2);
    expect(r.err).toBe("usage: build/hermetic.sh CMD [ARG...]\n");
  });
});

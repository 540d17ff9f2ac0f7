// The fallbacks, on real cores: the executable's CFI is removed from a copy of
// the sysroot (objcopy), so its frames must come from the frame-pointer chain
// (-O0 build) or the stack scan (-O2, no frame pointer), and still match gdb.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { needs, tool } from "../../needs.ts";
import { cpSync, mkdirSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { tmpdir } from "node:os";
import { readCoreFile } from "../../../src/core/source.ts";
import { buildReport } from "../../../src/core/report.ts";
import { fixtures } from "./fixtures.ts";
import { readGdbReference } from "./gdb-reference.ts";

const made: string[] = [];
afterAll(() => {
  for (const dir of made) rmSync(dir, { recursive: true, force: true });
});

const need = needs({ "objcopy (binutils, make deps)": tool("objcopy") });

function withoutCfi(sysroot: string, exe: string, tag: string): string {
  // tag names the copy: one per stripped file
  const root = join(tmpdir(), `crashkeep-nocfi-${tag}-${process.pid}`);
  {
    rmSync(root, { recursive: true, force: true });
    made.push(root);
    cpSync(sysroot, root, { recursive: true });
    const path = join(root, exe);
    mkdirSync(dirname(path), { recursive: true });
    const r = Bun.spawnSync(["objcopy", "--remove-section=.eh_frame", "--remove-section=.eh_frame_hdr", join(sysroot, exe), path]);
    if (r.exitCode !== 0) throw new Error(`Cannot strip CFI from "${exe}": ${r.stderr.toString()}`);
  }
  return root;
}

describe.skipIf(need.skip)(`fallbacks match gdb${need.note}`, () => {
  beforeAll(() => need.check());
  test.each([
    ["nested", "fp"],
    ["nested-o2", "scan"],
  ])("%s without CFI in the executable: frames by %s", (name, method) => {
    const f = fixtures().find((x) => x.arch === "x86_64" && x.name === name)!;
    const exe = `/opt/crashkeep-fixtures/x86_64/${name}`;
    const report = buildReport(readCoreFile(f.core), { sysroot: withoutCfi(f.sysroot, exe, name) });
    const g = readGdbReference(f.gdb)[0]!;
    const ours = report.threads[0]!;
    const n = g.frames.length; // up to main
    expect(ours.frames.slice(0, n).map((x) => BigInt(x.pc))).toEqual(g.frames.map((x) => x.pc));
    // the callers inside the executable were found by the fallback
    expect(ours.frames.slice(1, n).map((x) => x.method)).toContain(method as "fp" | "scan");
  });
});

describe.skipIf(need.skip)(`signal frame without CFI${need.note}`, () => {
  beforeAll(() => need.check());
  test("handler: libc without CFI, the interrupted context comes from the sigcontext", () => {
    const f = fixtures().find((x) => x.arch === "x86_64" && x.name === "handler")!;
    const libc = "/usr/lib/x86_64-linux-gnu/libc.so.6";
    const report = buildReport(readCoreFile(f.core), { sysroot: withoutCfi(f.sysroot, libc, "handler-libc") });
    const g = readGdbReference(f.gdb)[0]!;
    const ours = report.threads[0]!;
    // #0 on_usr1 (CFI of the program), #1 __restore_rt (no CFI: recognised by its code),
    // #2 where the signal arrived: gdb's frame #2 exactly
    expect(ours.frames.slice(0, 3).map((x) => BigInt(x.pc))).toEqual(g.frames.slice(0, 3).map((x) => x.pc));
  });
});

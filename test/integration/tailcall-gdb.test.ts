// Issue 21: tail-call frames as gdb rebuilds them, on real cores of a -O2
// program (test/fixtures/tailcall, made by make.sh) for x86_64 and aarch64 —
// a chain of two tail calls, a tail call into a library, a noreturn callee
// below a tail call, and an ambiguous case where gdb adds nothing. The
// compiled binary's `inspect --debug-dir` and `symbolize` of the device's
// report (made without debug info) both give gdb's frames, frame by frame:
// pc, function, file:line, inlined and tail-call frames.
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Report, ReportFrame } from "../../src/core/report.ts";
import { readGdbFrames, sameFile, type GdbSourceFrame } from "../unit/debuginfo/gdb-frames.ts";
import { TAILCALL_FIXTURES as FIXTURES, tailcallFixtures } from "../unit/debuginfo/tailcall-fixtures.ts";

const BIN = join(import.meta.dir, "../../out/crashkeep");
const tmp = mkdtempSync(join(tmpdir(), "crashkeep-tailcall-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function crashkeep(...args: string[]): { code: number; out: string; err: string } {
  const r = Bun.spawnSync([BIN, ...args], { env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: tmp } });
  return { code: r.exitCode ?? -1, out: r.stdout.toString(), err: r.stderr.toString() };
}


function view(f: ReportFrame, g: GdbSourceFrame) {
  return {
    pc: BigInt(f.pc),
    // "??": gdb has no name there (aarch64 glibc without symbols); crashkeep may name it from .dynsym
    function: g.function === null ? null : f.function,
    file: sameFile(f.file, g.file) ? g.file : f.file,
    line: f.line,
    inlined: f.inlined,
    tailCall: f.tailCall === true,
  };
}

/** The frames gdb prints (up to main) against crashkeep's; the counts of equal and differing frames. */
function compare(ours: ReportFrame[], gdb: GdbSourceFrame[]): void {
  expect(gdb.length).toBeGreaterThan(1);
  const got = gdb.map((g, i) => (ours[i] ? view(ours[i], g) : undefined));
  const want = gdb.map((g) => ({ pc: g.pc, function: g.function, file: g.file, line: g.line, inlined: g.inlined, tailCall: g.tailCall }));
  expect(got).toEqual(want);
}

/** What gdb's reference must show for each case, so that a remade fixture still tests what it is named for. */
const EXPECT_TAIL: Record<string, (gdb: GdbSourceFrame[]) => void> = {
  chain: (g) => expect(g.filter((f) => f.tailCall).map((f) => f.function)).toEqual(["chain_second", "chain_first"]),
  "chain-dwarf4": (g) => expect(g.filter((f) => f.tailCall).map((f) => f.function)).toEqual(["chain_second", "chain_first"]),
  library: (g) => expect(g.filter((f) => f.tailCall).map((f) => f.function)).toEqual(["to_library"]),
  noreturn: (g) => expect(g.filter((f) => f.tailCall && f.file === "tailcall.c").map((f) => f.function)).toEqual(["checked"]),
  ambiguous: (g) => {
    expect(g.some((f) => f.tailCall)).toBe(false);
    expect(g.map((f) => f.function)).toEqual(["crash", "main"]);
  },
};

describe.each(["x86_64", "aarch64"])("%s", (arch) => {
  const a = tailcallFixtures(arch);
  const debug = a.debugDirs.flatMap((d) => ["--debug-dir", d]);
  test("the cases", () => expect(a.cases).toEqual(["ambiguous", "chain", ...(arch === "x86_64" ? ["chain-dwarf4"] : []), "library", "noreturn"]));
  if (arch === "x86_64") {
    test("chain-dwarf4's program has the GNU forms of the call sites (DWARF 4)", () => {
      const r = crashkeep("inspect", a.core("chain-dwarf4"), "--sysroot", a.sysroot, "--json");
      const id = (JSON.parse(r.out) as Report).modules.find((m) => m.path.endsWith("/tailcall-dwarf4"))?.buildId ?? "";
      const dump = Bun.spawnSync(["readelf", "--debug-dump=info", join(a.debugDirs[0] as string, ".build-id", id.slice(0, 2), `${id.slice(2)}.debug`)]).stdout.toString();
      expect(dump).toContain("DW_TAG_GNU_call_site");
      expect(dump).toContain("DW_AT_GNU_tail_call");
      expect(dump).not.toContain("DW_TAG_call_site ");
    });
  }
  describe.each(a.cases)("%s", (name) => {
    const core = a.core(name);
    const gdb = readGdbFrames(join(FIXTURES, arch, `${name}.gdb`))[0]?.frames ?? [];

    test("gdb's reference shows the case", () => EXPECT_TAIL[name]?.(gdb));

    test("inspect --debug-dir gives gdb's frames; the text marks tail calls", () => {
      const r = crashkeep("inspect", core, "--sysroot", a.sysroot, ...debug, "--json");
      expect(r.code).toBe(0);
      compare((JSON.parse(r.out) as Report).threads[0]?.frames ?? [], gdb);
      const text = crashkeep("inspect", core, "--sysroot", a.sysroot, ...debug).out;
      expect((text.match(/\[tail call\]/g) ?? []).length).toBe(gdb.filter((f) => f.tailCall).length);
    });

    test("symbolize of the device's report (no debug info on the device), twice", () => {
      const device = crashkeep("inspect", core, "--sysroot", a.sysroot, "--json");
      expect(device.code).toBe(0);
      expect((JSON.parse(device.out) as Report).threads[0]?.frames.some((f) => f.tailCall === true)).toBe(false);
      const file = join(tmp, `${arch}-${name}.json`);
      writeFileSync(file, device.out);
      const once = crashkeep("symbolize", file, "--sysroot", a.sysroot, ...debug, "--json");
      expect(once.code).toBe(0);
      compare((JSON.parse(once.out) as Report).threads[0]?.frames ?? [], gdb);
      // a symbolized report symbolized again: its tail-call frames are derived, not doubled
      writeFileSync(file, once.out);
      const twice = crashkeep("symbolize", file, "--sysroot", a.sysroot, ...debug, "--json");
      expect(JSON.parse(twice.out).threads).toEqual(JSON.parse(once.out).threads);
    });
  });
});

// Issue 21: tail-call frames as gdb rebuilds them, on real cores of a -O2
// program (test/fixtures/tailcall, made by make.sh) for x86_64 and aarch64 —
// a chain of two tail calls, a tail call into a library, a noreturn callee
// below a tail call, and an ambiguous case where gdb adds nothing. The
// compiled binary's `inspect --debug-dir` and `symbolize` of the device's
// report (made without debug info) both give gdb's frames, frame by frame:
// pc, function, file:line, inlined and tail-call frames.
import { afterAll, describe, expect, test } from "bun:test";
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, relative } from "node:path";
import type { Report, ReportFrame } from "../../src/core/report.ts";
import { unxz, walk } from "../unit/core/fixtures.ts";
import { readGdbFrames, type GdbSourceFrame } from "../unit/debuginfo/gdb-frames.ts";
import { debugFixtures } from "../unit/debuginfo/symbolize-fixtures.ts";

const BIN = join(import.meta.dir, "../../out/crashkeep");
const FIXTURES = join(import.meta.dir, "../fixtures/tailcall");
const CORES = join(import.meta.dir, "../fixtures/cores/aarch64-qemu-user");
const tmp = mkdtempSync(join(tmpdir(), "crashkeep-tailcall-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function crashkeep(...args: string[]): { code: number; out: string; err: string } {
  const r = Bun.spawnSync([BIN, ...args], { env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: tmp } });
  return { code: r.exitCode ?? -1, out: r.stdout.toString(), err: r.stderr.toString() };
}

interface Arch {
  arch: string;
  sysroot: string;
  debugDirs: string[];
  cases: string[];
}

/** Unpack one architecture's fixture; glibc's files come from the fixtures that carry them (make.sh checks they are the cores' own). */
function unpack(arch: string): Arch {
  const src = join(FIXTURES, arch);
  const root = join(tmp, arch);
  for (const sub of ["sysroot", "debug"]) for (const f of walk(join(src, sub))) unxz(f, join(root, sub, relative(join(src, sub), f).slice(0, -3)));
  const debugDirs = [join(root, "debug")];
  if (arch === "x86_64") {
    const fx = debugFixtures();
    for (const lib of ["libc.so.6", "ld-linux-x86-64.so.2"]) {
      const to = join(root, "sysroot/usr/lib/x86_64-linux-gnu", lib);
      mkdirSync(dirname(to), { recursive: true });
      copyFileSync(join(fx.sysroot, "usr/lib/x86_64-linux-gnu", lib), to);
    }
    debugDirs.push(fx.glibcDebugDir);
  } else {
    for (const lib of ["libc.so.6", "ld-linux-aarch64.so.1"]) unxz(join(CORES, "sysroot/lib", `${lib}.xz`), join(root, "sysroot/lib", lib));
  }
  const cases = readdirSync(src).filter((f) => f.endsWith(".core.xz")).map((f) => f.slice(0, -".core.xz".length)).sort();
  for (const c of cases) unxz(join(src, `${c}.core.xz`), join(root, `${c}.core`));
  return { arch, sysroot: join(root, "sysroot"), debugDirs, cases };
}

/** gdb prints the line table's name ("tailcall.c", "./nptl/pthread_kill.c"); a path ending in it is the same file. */
function sameFile(ours: string | null, gdb: string | null): boolean {
  if (ours === gdb) return true;
  if (ours === null || gdb === null) return false;
  const norm = (p: string): string => p.replace(/\/(\.\/)+/g, "/").replace(/^\.\//, "");
  const o = norm(ours);
  const g = norm(gdb).replace(/^(\.\.\/)+/, "");
  return o === g || o.endsWith("/" + g);
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
  library: (g) => expect(g.filter((f) => f.tailCall).map((f) => f.function)).toEqual(["to_library"]),
  noreturn: (g) => expect(g.filter((f) => f.tailCall && f.file === "tailcall.c").map((f) => f.function)).toEqual(["checked"]),
  ambiguous: (g) => {
    expect(g.some((f) => f.tailCall)).toBe(false);
    expect(g.map((f) => f.function)).toEqual(["crash", "main"]);
  },
};

describe.each(["x86_64", "aarch64"])("%s", (arch) => {
  const a = unpack(arch);
  const debug = a.debugDirs.flatMap((d) => ["--debug-dir", d]);
  test("four cases", () => expect(a.cases).toEqual(["ambiguous", "chain", "library", "noreturn"]));
  describe.each(a.cases)("%s", (name) => {
    const core = join(tmp, arch, `${name}.core`);
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

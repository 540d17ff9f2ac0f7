// Demangled names through the compiled binary (out/crashkeep, `make build`):
// `inspect` of real cores of a C++ and two Rust programs (symbol tables only,
// as on the device) and `inspect --debug-dir`, `symbolize` of the device's
// JSON and compact reports (test/fixtures/demangle; the library-level
// comparison with gdb: test/unit/demangle/cores.test.ts).
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { demangleCores, readGdbBacktrace } from "../unit/demangle/fixtures.ts";

const BIN = join(import.meta.dir, "../../out/crashkeep");
const fx = demangleCores();
const tmp = mkdtempSync(join(tmpdir(), "crashkeep-demangle-cli-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function crashkeep(...args: string[]): { code: number; out: string; err: string } {
  const r = Bun.spawnSync([BIN, ...args], { env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: tmp } });
  return { code: r.exitCode ?? -1, out: r.stdout.toString(), err: r.stderr.toString() };
}

interface Frame {
  function: string | null;
  mangled?: string;
  symbol: string | null;
  inlined: boolean;
}
const frames = (json: string): Frame[] => (JSON.parse(json) as { threads: Array<{ frames: Frame[] }> }).threads[0]?.frames ?? [];

describe("inspect (the symbol table only)", () => {
  test("C++: text and JSON name every frame as gdb does, the mangled symbol kept in the JSON", () => {
    const text = crashkeep("inspect", fx.cores.shapes!, "--sysroot", fx.sysroot);
    expect(text.code).toBe(0);
    expect(text.out).toMatch(/#00 pc 0+[0-9a-f]+ {2}\/opt\/crashkeep-fixtures\/demangle\/shapes \(geo::measure\(double\)\+7\) \(BuildId: [0-9a-f]{40}\) \[context\]/);
    expect(text.out).toContain("(geo::Shape<int>::operator<(geo::Shape<int> const&) const [clone .isra.0]+5)");
    const json = crashkeep("inspect", fx.cores.shapes!, "--sysroot", fx.sysroot, "--json");
    const gdb = readGdbBacktrace(fx.gdb.shapes!.symtab);
    expect(frames(json.out).slice(0, gdb.length).map((f) => f.function)).toEqual(gdb.map((g) => g.name));
    expect(frames(json.out)[0]).toMatchObject({ function: "geo::measure(double)", mangled: "_ZN3geo7measureEd", symbol: "_ZN3geo7measureEd" });
    expect(frames(json.out)[4]).not.toHaveProperty("mangled"); // main
  });

  test.each([
    ["shapes-rs", "shapes::geo::sort_shapes"],
    ["shapes-rs-v0", "shapes::geo::sort_shapes::<shapes::geo::Square<u32>>"],
  ])("Rust (%s): the names as Rust writes them, without the hash", (name, sortShapes) => {
    const r = crashkeep("inspect", fx.cores[name]!, "--sysroot", fx.sysroot, "--json");
    expect(r.code).toBe(0);
    const f = frames(r.out);
    expect(f.slice(0, 5).map((x) => x.function)).toEqual([
      "shapes::geo::measure",
      expect.stringMatching(/^alloc::slice::insert_head/),
      expect.stringMatching(/^alloc::slice::merge_sort/),
      sortShapes,
      "shapes::main",
    ]);
    expect(f[0]?.mangled).toMatch(name === "shapes-rs" ? /^_ZN6shapes3geo7measure17h[0-9a-f]{16}E$/ : /^_RNvNtCs[0-9a-zA-Z]+_6shapes3geo7measure$/);
  });

  test("--compact keeps the mangled symbols (no spaces), which symbolize demangles again", () => {
    const compact = crashkeep("inspect", fx.cores.shapes!, "--sysroot", fx.sysroot, "--compact").out.trim();
    expect(compact).toContain(" _ZN3geo7measureEd+7");
    const file = join(tmp, "compact.json");
    writeFileSync(file, compact);
    const r = crashkeep("symbolize", file, "--debug-dir", fx.debugDir, "--json");
    expect(r.code).toBe(0);
    expect(frames(r.out)[0]).toMatchObject({ function: "geo::measure(double)", mangled: "_ZN3geo7measureEd" });
  });
});

describe("with the debug file", () => {
  test("inspect --debug-dir: linkage names demangled, inlined frames by their DWARF names", () => {
    const r = crashkeep("inspect", fx.cores.shapes!, "--sysroot", fx.sysroot, "--debug-dir", fx.debugDir, "--json");
    expect(r.code).toBe(0);
    const f = frames(r.out);
    expect(f[0]).toMatchObject({ function: "geo::measure(double)", mangled: "_ZN3geo7measureEd" });
    expect(f.find((x) => x.function === "geo::Shape<int>::operator<(geo::Shape<int> const&) const")?.mangled).toBe("_ZNK3geo5ShapeIiEltERKS1_");
    expect(f.some((x) => x.inlined && x.function === "operator()")).toBe(true);
  });

  test("symbolize of the device's JSON gives inspect --debug-dir's frames", () => {
    const device = crashkeep("inspect", fx.cores.shapes!, "--sysroot", fx.sysroot, "--json").out;
    const file = join(tmp, "device.json");
    writeFileSync(file, device);
    const sym = crashkeep("symbolize", file, "--debug-dir", fx.debugDir, "--json");
    const insp = crashkeep("inspect", fx.cores.shapes!, "--sysroot", fx.sysroot, "--debug-dir", fx.debugDir, "--json");
    const pick = (x: Frame) => ({ function: x.function, mangled: x.mangled, inlined: x.inlined });
    // through main (beyond it, libc.so.6: symbolize without --sysroot names it from this machine's)
    const upToMain = (f: Frame[]) => f.slice(0, f.findIndex((x) => x.function === "main") + 1).map(pick);
    // gdb's #0–#8 of shapes.gdb: 9 frames to main, two of them tail-call frames (area(), std::__final_insertion_sort)
    expect(upToMain(frames(insp.out))).toHaveLength(9);
    expect(upToMain(frames(sym.out))).toEqual(upToMain(frames(insp.out)));
  });
});

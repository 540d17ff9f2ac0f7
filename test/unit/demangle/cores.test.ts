// Real cores of a C++ and a Rust program (test/fixtures/demangle, make.sh:
// g++, Debian's rustc with both manglings): the report's frames carry the
// demangled names, frame by frame against gdb's `bt` of the same core, with
// the symbol table only (the device's report) and with the debug file
// (symbolize). The compiled binary's inspect and symbolize:
// test/integration/demangle-cli.test.ts.
import { describe, expect, test } from "bun:test";
import { readCoreFile } from "../../../src/core/source.ts";
import { buildReport, type ReportFrame } from "../../../src/core/report.ts";
import { symbolizeReport } from "../../../src/debuginfo/symbolize.ts";
import { withoutParameters } from "../debuginfo/gdb-frames.ts";
import { demangleCores, nameTable, readGdbBacktrace, type NameRow } from "./fixtures.ts";

const fx = demangleCores();

function deviceFrames(name: string): ReportFrame[] {
  const core = fx.cores[name];
  if (!core) throw new Error(`no core ${name}`);
  return buildReport(readCoreFile(core), { sysroot: fx.sysroot }).threads[0]?.frames ?? [];
}

function table(name: string): Map<string, NameRow> {
  return new Map(nameTable(name).map((r) => [r.mangled, r]));
}

test("the fixtures hold three cores, and gdb's backtraces of them reach main", () => {
  expect(Object.keys(fx.cores).sort()).toEqual(["shapes", "shapes-rs", "shapes-rs-v0"]);
  for (const g of Object.values(fx.gdb)) expect(readGdbBacktrace(g.symtab).at(-1)?.name).toBe("main");
});

describe("C++ (shapes): the symbol table only", () => {
  const ours = deviceFrames("shapes");
  const gdb = readGdbBacktrace(fx.gdb.shapes!.symtab);

  test("every frame to main is named exactly as gdb names it from the symbol table, at the same pc", () => {
    expect(gdb.length).toBe(5);
    expect(ours.slice(0, gdb.length).map((f) => ({ pc: BigInt(f.pc) as bigint | null, name: f.function }))).toEqual(gdb.map((g) => ({ pc: g.pc, name: g.name })));
  });

  test("the names are C++ as people write it, with the mangled symbol kept beside", () => {
    expect(ours[0]).toMatchObject({ function: "geo::measure(double)", mangled: "_ZN3geo7measureEd", symbol: "_ZN3geo7measureEd" });
    expect(ours[1]?.function).toBe("geo::Shape<int>::operator<(geo::Shape<int> const&) const [clone .isra.0]");
    expect(ours[2]?.function).toStartWith("void std::__insertion_sort<__gnu_cxx::__normal_iterator<geo::Shape<int>*, std::vector<geo::Shape<int>, std::allocator<geo::Shape<int> > > >");
    // a C name is not mangled: no `mangled` key
    const main = ours[4];
    expect(main?.function).toBe("main");
    expect(main !== undefined && "mangled" in main).toBe(false);
  });
});

test("symbolize where no module file is found keeps the names and the mangled names as the device made them", async () => {
  const device = buildReport(readCoreFile(fx.cores.shapes!), { sysroot: fx.sysroot });
  const r = await symbolizeReport(device, { sysroot: "/nonexistent", debugDirs: [] });
  const pick = (f: ReportFrame) => ({ function: f.function, mangled: f.mangled });
  expect(r.threads[0]?.frames.map(pick)).toEqual(device.threads[0]?.frames.map(pick));
  expect(r.threads[0]?.frames[0]?.mangled).toBe("_ZN3geo7measureEd");
});

describe("C++ (shapes): with the debug file", async () => {
  const r = await symbolizeReport(buildReport(readCoreFile(fx.cores.shapes!), { sysroot: fx.sysroot }), { sysroot: fx.sysroot, debugDirs: [fx.debugDir] });
  // gdb's tail-call frames (from DW_TAG_call_site: area() and std::__final_insertion_sort here) are set aside on
  // both sides: this file is about names
  const ours = (r.threads[0]?.frames ?? []).filter((f) => (f as { tailCall?: boolean }).tailCall !== true);
  const gdb = readGdbBacktrace(fx.gdb.shapes!.debug!).filter((f) => !f.tailCall);
  const names = table("shapes");

  test("gdb's frames, file:line for file:line", () => {
    expect(gdb.length).toBe(7);
    const at = (f: { file: string | null; line: number | null }) => `${f.file?.replace(/^.*\//, "") ?? "?"}:${f.line}`;
    expect(ours.slice(0, gdb.length).map(at)).toEqual(gdb.map(at));
  });

  test("a function with a DW_AT_linkage_name is its demangled form; gdb prints the same name without the parameters", () => {
    const byLinkage = ours.slice(0, gdb.length).filter((f) => f.mangled !== undefined && f.mangled !== f.symbol);
    // geo::Shape<int>::operator< (its symbol has .isra.0): the name of the function, not of gcc's clone
    expect(byLinkage.map((f) => f.function)).toEqual(["geo::Shape<int>::operator<(geo::Shape<int> const&) const"]);
    expect(ours[0]).toMatchObject({ function: "geo::measure(double)", mangled: "_ZN3geo7measureEd" });
    expect(ours[5]).toMatchObject({ function: "geo::run(int)", mangled: "_ZN3geo3runEi" });
  });

  test("frame by frame against gdb: 6 of 7 named as gdb (without parameters); the other by its demangled symbol", () => {
    const same: number[] = [];
    const bySymbol: number[] = [];
    gdb.forEach((g, i) => {
      const f = ours[i];
      if (f?.function != null && withoutParameters(f.function) === withoutParameters(g.name)) same.push(i);
      // gcc gives a namespace-scope template instance no DW_AT_linkage_name: gdb spells it from the DIEs
      // ("<lambda(...)>", no default template arguments), crashkeep prints its symbol as c++filt -i does
      else if (f?.mangled !== undefined && f.mangled === f.symbol && names.get(f.symbol)?.plain === f.function) bySymbol.push(i);
    });
    expect({ same, bySymbol }).toEqual({ same: [0, 1, 2, 3, 5, 6], bySymbol: [4] });
  });

  test("inlined frames (no linkage name of their own in gcc's DWARF here) keep the DWARF name gdb shows", () => {
    expect(ours[2]).toMatchObject({ function: "operator()", inlined: true });
    expect(ours[3]?.inlined).toBe(true);
    expect(ours[3]?.function).toBe(gdb[3]?.name);
  });
});

describe.each([
  ["shapes-rs", "legacy"],
  ["shapes-rs-v0", "v0"],
])("Rust (%s, %s mangling): the symbol table only", (name) => {
  const ours = deviceFrames(name);
  const gdb = readGdbBacktrace(fx.gdb[name]!.symtab);
  const names = table("rust");

  test("every frame to main at gdb's pc; the name is c++filt -i's, gdb's is c++filt's (the hash, the crate ids) of the same symbol", () => {
    expect(gdb.length).toBe(9);
    const got = ours.slice(0, gdb.length).map((f) => {
      const row = f.symbol === null ? undefined : names.get(f.symbol);
      return { pc: BigInt(f.pc) as bigint | null, function: f.function, mangled: f.mangled, gdb: row?.cxxfilt ?? f.symbol };
    });
    const want = gdb.map((g, i) => {
      const sym = ours[i]?.symbol ?? "";
      const row = names.get(sym);
      return { pc: g.pc, function: row?.plain ?? sym, mangled: row ? sym : undefined, gdb: g.name };
    });
    expect(got).toEqual(want);
  });

  test("the names read as Rust", () => {
    expect(ours[0]?.function).toBe("shapes::geo::measure");
    expect(ours[3]?.function).toBe(name === "shapes-rs" ? "shapes::geo::sort_shapes" : "shapes::geo::sort_shapes::<shapes::geo::Square<u32>>");
    expect(ours[4]?.function).toBe("shapes::main");
  });
});

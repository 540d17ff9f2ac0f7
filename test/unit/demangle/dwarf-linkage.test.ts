// DwarfInfo.frames() gives each C++ frame its function's linkage name, an
// inlined frame through its abstract origin (and the origin's specification):
// on the gcc and clang C++ fixtures of test/fixtures/debuginfo, at every pc,
// each linkage name demangles to the function DWARF names, the name gdb shows
// (gdb-accuracy: test/unit/debuginfo/accuracy.test.ts), once the parameter list
// and a template function's return type are set aside.
import { expect, test } from "bun:test";
import { join } from "node:path";
import { DwarfInfo } from "../../../src/debuginfo/dwarf.ts";
import { fileSource } from "../../../src/debuginfo/source.ts";
import { demangle } from "../../../src/demangle/demangle.ts";
import { withoutParameters } from "../debuginfo/gdb-frames.ts";

const FIXTURES = join(import.meta.dir, "../../fixtures/debuginfo");

test.each([
  // gcc: the one other is a namespace-scope operator template, whose DW_AT_name leaves out std::vector's default allocator
  ["cxx.elf", 55, 1],
  ["cxx-clang.elf", 52, 0],
])("%s: linkage names of inlined and concrete frames demangle to their DWARF names", (file, names, others) => {
  const d = DwarfInfo.open(fileSource(join(FIXTURES, file)));
  if (!d) throw new Error("no DWARF");
  const byLinkage = new Map<string, string | null>();
  let inlined = 0;
  for (let pc = 0n; pc < 0x4000n; pc++) {
    for (const f of d.frames(pc)) {
      if (f.linkage === undefined) continue;
      byLinkage.set(f.linkage, f.function);
      if (f.inlined) inlined++;
    }
  }
  expect(byLinkage.size).toBe(names);
  expect(inlined).toBeGreaterThan(1000);
  const differ = [...byLinkage].filter(([linkage, fn]) => withoutParameters(demangle(linkage, { returnType: false }) ?? "") !== fn);
  expect(differ.length).toBe(others);
  expect(d.warnings).toEqual([]);
});

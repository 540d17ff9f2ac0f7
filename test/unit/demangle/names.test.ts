// Every C++ name libstdc++.so.6 defines and every C++ and Rust name of the
// fixture programs (test/fixtures/demangle/names, made by make.sh with
// binutils' c++filt): demangle() prints each exactly as c++filt -i does, and
// as c++filt does with verbose (README.md there has the counts).
import { describe, expect, test } from "bun:test";
import { demangle } from "../../../src/demangle/demangle.ts";
import { nameTable } from "./fixtures.ts";

/** How many names of a table demangle() prints otherwise than c++filt, with the first few. */
function differences(table: string, verbose: boolean): { count: number; names: number; first: string[] } {
  const rows = nameTable(table);
  const first: string[] = [];
  let count = 0;
  for (const r of rows) {
    const want = verbose ? r.cxxfilt : r.plain;
    // c++filt prints a name it cannot demangle as it is; demangle() says null
    const got = demangle(r.mangled, { verbose }) ?? r.mangled;
    if (got === want) continue;
    count++;
    if (first.length < 5) first.push(`${r.mangled}\n  c++filt: ${want}\n  ours:    ${got}`);
  }
  return { count, names: rows.length, first };
}

describe.each([
  ["libstdc++", 5864],
  ["shapes", 15],
  ["rust", 787],
])("%s", (table, names) => {
  test.each([
    ["c++filt -i", false],
    ["c++filt", true],
  ])(`every name as %s prints it`, (_how, verbose) => {
    const d = differences(table, verbose);
    expect(d.names).toBe(names);
    expect(d.first).toEqual([]);
    expect(d.count).toBe(0);
  });
});

test("the tables hold what they are said to: C++ names that c++filt demangles, Rust names of both manglings", () => {
  const cxx = nameTable("libstdc++");
  expect(cxx.every((r) => r.mangled.startsWith("_Z"))).toBe(true);
  expect(cxx.filter((r) => r.plain !== r.mangled).length).toBe(cxx.length);
  const rust = nameTable("rust");
  expect(rust.filter((r) => r.mangled.startsWith("_R")).length).toBeGreaterThan(10);
  expect(rust.filter((r) => /17h[0-9a-f]{16}E$/.test(r.mangled)).length).toBeGreaterThan(100);
  // legacy: c++filt -i hides the hash, c++filt shows it
  const legacy = rust.find((r) => r.mangled.startsWith("_ZN6shapes3geo7measure17h"));
  expect(legacy?.plain).toBe("shapes::geo::measure");
  expect(legacy?.cxxfilt).toMatch(/^shapes::geo::measure::h[0-9a-f]{16}$/);
});

// Hand-made hostile DWARF (DWARF 5 §7 layouts, broken on purpose): each gives
// a warning and what can still be read — never a throw, a crash or a hang.
import { describe, expect, test } from "bun:test";
import { DwarfInfo, MAX_DIE_DEPTH, MAX_ORIGIN_HOPS } from "../../../src/debuginfo/dwarf.ts";
import { MAX_LINE_FILES, MAX_SEQUENCE_LOOKBACK } from "../../../src/debuginfo/line.ts";
import { bytesSource } from "../../../src/debuginfo/source.ts";
import { abbrevs, cstr, elfWith, line5, u32, u64, uleb, unit5, type AbbrevSpec, type SectionSpec } from "./build-elf.ts";

const TAG_CU = 0x11, TAG_SUB = 0x2e, TAG_INL = 0x1d, TAG_BLOCK = 0x0b;
const AT_NAME = 0x03, AT_STMT = 0x10, AT_LOW = 0x11, AT_HIGH = 0x12, AT_ORIGIN = 0x31, AT_RANGES = 0x55, AT_CALL_LINE = 0x59, AT_SPEC = 0x47;
const F_ADDR = 0x01, F_DATA4 = 0x06, F_STRING = 0x08, F_REF4 = 0x13, F_SEC = 0x17, F_DATA1 = 0x0b;

const ABBREVS: AbbrevSpec[] = [
  [1, TAG_CU, true, [[AT_NAME, F_STRING], [AT_STMT, F_SEC], [AT_LOW, F_ADDR], [AT_HIGH, F_DATA4]]],
  [2, TAG_SUB, false, [[AT_NAME, F_STRING], [AT_LOW, F_ADDR], [AT_HIGH, F_DATA4]]],
  [3, TAG_SUB, false, [[AT_LOW, F_ADDR], [AT_HIGH, F_DATA4], [AT_ORIGIN, F_REF4]]],
  [4, TAG_SUB, false, [[AT_ORIGIN, F_REF4]]],
  [5, TAG_BLOCK, true, []],
  [6, TAG_SUB, false, [[AT_NAME, F_STRING], [AT_LOW, F_ADDR], [AT_HIGH, 0x7f]]], // form 0x7f does not exist
  [7, TAG_SUB, false, [[AT_NAME, F_STRING], [AT_RANGES, F_SEC]]],
  [8, TAG_SUB, true, [[AT_NAME, F_STRING], [AT_LOW, F_ADDR], [AT_HIGH, F_DATA4]]],
  [9, TAG_INL, false, [[AT_ORIGIN, F_REF4], [AT_LOW, F_ADDR], [AT_HIGH, F_DATA4], [AT_CALL_LINE, F_DATA1]]],
  [10, TAG_INL, true, [[AT_ORIGIN, F_REF4], [AT_LOW, F_ADDR], [AT_HIGH, F_DATA4], [AT_CALL_LINE, F_DATA1]]],
  [11, TAG_SUB, false, [[AT_LOW, F_ADDR], [AT_HIGH, F_DATA4], [AT_SPEC, F_REF4]]],
];

/** The root DIE: a CU "a.c" over [0x1000, 0x1100), line program at 0. */
const ROOT = [1, ...cstr("a.c"), ...u32(0), ...u64(0x1000n), ...u32(0x100)];
/** File 0 (DWARF 5 numbers files from 0; the register starts at 1); pc 0x1000: line 10 of /src/a.c, to 0x1020. */
const PROGRAM = [4, 0, 0, 9, 2, ...u64(0x1000n), 3, ...uleb(9), 1, 2, ...uleb(0x20), 0, 1, 1];

function file(dies: number[], more: { line?: Uint8Array; info?: Uint8Array; extra?: SectionSpec[] } = {}): DwarfInfo {
  const sections: SectionSpec[] = [
    { name: ".debug_info", data: more.info ?? unit5([...ROOT, ...dies, 0]) },
    { name: ".debug_abbrev", data: abbrevs(ABBREVS) },
    { name: ".debug_line", data: more.line ?? line5(PROGRAM) },
    ...(more.extra ?? []),
  ];
  const d = DwarfInfo.open(bytesSource(elfWith(sections)));
  if (!d) throw new Error("no DWARF");
  return d;
}

/** Offset in .debug_info of the DIE after ROOT plus `before` bytes of DIEs (the unit header is 12 bytes). */
function dieAt(before: number): number {
  return 12 + ROOT.length + before;
}

describe("hostile DWARF", () => {
  test("the hand-made baseline reads (so the broken variants below are broken only where meant)", () => {
    const d = file([2, ...cstr("f"), ...u64(0x1000n), ...u32(0x20)]);
    expect(d.frames(0x1004n)).toEqual([{ function: "f", file: "/src/a.c", line: 10, column: null, inlined: false }]);
    expect(d.frames(0x2000n)).toEqual([]);
    expect(d.warnings).toEqual([]);
  });

  test("a cycle of abstract origins: no name, one warning, no hang", () => {
    const a = dieAt(0);
    const aLen = 1 + 8 + 4 + 4;
    const b = dieAt(aLen);
    const d = file([3, ...u64(0x1000n), ...u32(0x20), ...u32(b), 4, ...u32(a)]);
    const frames = d.frames(0x1004n);
    expect(frames).toEqual([{ function: null, file: "/src/a.c", line: 10, column: null, inlined: false }]);
    expect(d.warnings.join("\n")).toContain(`over ${MAX_ORIGIN_HOPS} abstract origin/specification hops`);
  });

  test("an abstract origin pointing outside every unit: a warning", () => {
    const d = file([3, ...u64(0x1000n), ...u32(0x20), ...u32(0x7fffff00)]);
    expect(d.frames(0x1004n)[0]?.function).toBeNull();
    expect(d.warnings.join("\n")).toContain("no unit holds it");
  });

  test("a form that does not exist: the unit's DIEs stop there, lines still read", () => {
    const d = file([6, ...cstr("f"), ...u64(0x1000n), 0]);
    expect(d.frames(0x1004n)).toEqual([{ function: null, file: "/src/a.c", line: 10, column: null, inlined: false }]);
    expect(d.warnings.join("\n")).toContain("form 0x7f: unknown");
  });

  test("an abbreviation code not in the table", () => {
    const d = file([99, 1, 2, 3]);
    expect(d.frames(0x1004n)[0]?.line).toBe(10);
    expect(d.warnings.join("\n")).toContain("abbreviation 99");
  });

  test("a unit longer than its section: truncated, read as far as it goes", () => {
    const dies = [2, ...cstr("f"), ...u64(0x1000n), ...u32(0x20), 0];
    const d = file([], { info: unit5([...ROOT, ...dies], { length: 0x100000 }) });
    expect(d.frames(0x1004n)[0]?.function).toBe("f");
    expect(d.warnings.join("\n")).toContain("runs past the end");
  });

  test("DIEs nested deeper than MAX_DIE_DEPTH: a warning, no stack overflow", () => {
    const deep = new Array<number>(MAX_DIE_DEPTH + 10).fill(5);
    const d = file([2, ...cstr("f"), ...u64(0x1000n), ...u32(0x20), ...deep]);
    expect(d.frames(0x1004n)[0]?.function).toBe("f");
    expect(d.warnings.join("\n")).toContain(`deeper than ${MAX_DIE_DEPTH}`);
  });

  test("nested inlined subroutines whose abstract origins point at each other (B → C → B): no hang, unnamed, one warning", () => {
    // outer ⊃ B ⊃ C, all over [0x1000, 0x1020): B's origin is C, C's is B — a real cycle of references, reached
    // while naming the frames at 0x1004
    const outer = [8, ...cstr("outer"), ...u64(0x1000n), ...u32(0x20)];
    const b = dieAt(outer.length);
    const bLen = 1 + 4 + 8 + 4 + 1;
    const c = b + bLen;
    const dies = [...outer, 10, ...u32(c), ...u64(0x1000n), ...u32(0x20), 3, 9, ...u32(b), ...u64(0x1000n), ...u32(0x20), 4, 0, 0];
    const d = file(dies);
    expect(d.frames(0x1004n)).toEqual([
      { function: null, file: "/src/a.c", line: 10, column: null, inlined: true },
      { function: null, file: "/src/a.c", line: 4, column: null, inlined: true },
      { function: "outer", file: "/src/a.c", line: 3, column: null, inlined: false },
    ]);
    expect(d.warnings.filter((w) => w.includes(`over ${MAX_ORIGIN_HOPS} abstract origin/specification hops`)).length).toBeGreaterThan(0);
  });

  test("a specification that points back at the DIE naming it (A → spec B → origin A): no hang, unnamed, a warning", () => {
    const a = dieAt(0);
    const aLen = 1 + 8 + 4 + 4;
    const b = a + aLen;
    const d = file([11, ...u64(0x1000n), ...u32(0x20), ...u32(b), 4, ...u32(a)]);
    expect(d.frames(0x1004n)).toEqual([{ function: null, file: "/src/a.c", line: 10, column: null, inlined: false }]);
    expect(d.warnings.join("\n")).toContain(`over ${MAX_ORIGIN_HOPS} abstract origin/specification hops`);
  });

  test.each([
    [MAX_SEQUENCE_LOOKBACK - 1, 10],
    [MAX_SEQUENCE_LOOKBACK, null],
  ])("a sequence holding pc, then %i one-byte sequences starting inside it before pc: line %p (look-back bounded)", (tiny, line) => {
    // [0x1000, 0x1100) line 10, then sequences [0x1010 + 2i, +1) at lines 20 + i; pc 0x1080 is in the first alone
    const big = [4, 0, 0, 9, 2, ...u64(0x1000n), 3, ...uleb(9), 1, 2, ...uleb(0x100), 0, 1, 1];
    const small = Array.from({ length: tiny }, (_, i) => [4, 0, 0, 9, 2, ...u64(0x1010n + 2n * BigInt(i)), 3, ...uleb(19 + i), 1, 2, ...uleb(1), 0, 1, 1]).flat();
    const d = file([2, ...cstr("f"), ...u64(0x1000n), ...u32(0x100)], { line: line5([...big, ...small]) });
    expect(d.frames(0x1080n)).toEqual([{ function: "f", file: line === null ? null : "/src/a.c", line, column: null, inlined: false }]);
    // each small sequence still answers for its own byte
    if (tiny > 0) expect(d.frames(0x1010n)[0]?.line).toBe(20);
    expect(d.warnings).toEqual([]);
  });

  test("a pc at a sequence's end address (DW_LNE_end_sequence: the first address past it) has no line", () => {
    // f over [0x1000, 0x1020) with PROGRAM's rows; g right after it, [0x1020, 0x1040), with none
    const d = file([2, ...cstr("f"), ...u64(0x1000n), ...u32(0x20), 2, ...cstr("g"), ...u64(0x1020n), ...u32(0x20)]);
    expect([d.frames(0x101fn), d.frames(0x1020n)]).toEqual([
      [{ function: "f", file: "/src/a.c", line: 10, column: null, inlined: false }],
      [{ function: "g", file: null, line: null, column: null, inlined: false }],
    ]);
  });

  test("DW_LNS_const_add_pc advances as special opcode 255 would: (255 - opcode_base) / line_range (DWARF 5 §6.2.5.2)", () => {
    // line_range 243 (byte 16 of line5's program): (255 - 13) / 243 = 0, so the row stays at 0x1000 (opcode 256 would give 1)
    const program = [4, 0, 0, 9, 2, ...u64(0x1000n), 8, 3, ...uleb(9), 1, 2, ...uleb(0x20), 0, 1, 1];
    const table = line5(program);
    expect(table[16]).toBe(14);
    table[16] = 243;
    const d = file([2, ...cstr("f"), ...u64(0x1000n), ...u32(0x20)], { line: table });
    expect(d.frames(0x1000n)).toEqual([{ function: "f", file: "/src/a.c", line: 10, column: null, inlined: false }]);
  });

  test("a line table claiming 2^40 files: a warning, the function still named", () => {
    const d = file([2, ...cstr("f"), ...u64(0x1000n), ...u32(0x20)], { line: line5(PROGRAM, { fileCount: 2n ** 40n }) });
    expect(d.frames(0x1004n)).toEqual([{ function: "f", file: null, line: null, column: null, inlined: false }]);
    expect(d.warnings.join("\n")).toContain(`over ${MAX_LINE_FILES}`);
  });

  test("a line program cut short: the sequences before the cut still read, the cut one is dropped", () => {
    // PROGRAM's sequence (0x1000: line 10, to 0x1020), then a second one (0x1040: line 20, to 0x1060) whose
    // DW_LNE_end_sequence (0, 1, 1: the last 3 bytes) is cut off: without its end its extent is unknown
    const second = [4, 0, 0, 9, 2, ...u64(0x1040n), 3, ...uleb(19), 1, 2, ...uleb(0x20), 0, 1, 1];
    const whole = line5([...PROGRAM, ...second]);
    const dies = [2, ...cstr("f"), ...u64(0x1000n), ...u32(0x20), 2, ...cstr("g"), ...u64(0x1040n), ...u32(0x20)];
    const intact = file(dies, { line: whole });
    expect([intact.frames(0x1004n), intact.frames(0x1044n)]).toEqual([
      [{ function: "f", file: "/src/a.c", line: 10, column: null, inlined: false }],
      [{ function: "g", file: "/src/a.c", line: 20, column: null, inlined: false }],
    ]);
    const d = file(dies, { line: whole.subarray(0, whole.length - 3) });
    expect([d.frames(0x1004n), d.frames(0x1044n)]).toEqual([
      [{ function: "f", file: "/src/a.c", line: 10, column: null, inlined: false }],
      [{ function: "g", file: null, line: null, column: null, inlined: false }],
    ]);
    expect(d.warnings.join("\n")).toContain("truncated");
  });

  test("a range list with an unknown entry kind: that DIE has no ranges, a warning", () => {
    const d = file([7, ...cstr("f"), ...u32(0)], { extra: [{ name: ".debug_rnglists", data: Uint8Array.from([0x42, 0, 0]) }] });
    expect(d.frames(0x1004n)[0]?.function).toBeNull();
    expect(d.warnings.join("\n")).toContain("entry kind 66 is unknown");
  });

  test("a compressed section that claims 1 TiB or holds no zlib stream: ignored with a warning", () => {
    const chdr = (size: bigint): number[] => [...u32(1), ...u32(0), ...u64(size), ...u64(1n)];
    const huge = DwarfInfo.open(bytesSource(elfWith([{ name: ".debug_info", data: Uint8Array.from(chdr(2n ** 40n)), flags: 0x800n }])));
    expect(huge).toBeUndefined();
    const bad = DwarfInfo.open(bytesSource(elfWith([
      { name: ".debug_info", data: unit5([...ROOT, 0]) },
      { name: ".debug_abbrev", data: abbrevs(ABBREVS) },
      { name: ".debug_line", data: Uint8Array.from([...chdr(100n), 1, 2, 3, 4]), flags: 0x800n },
    ])));
    expect(bad?.frames(0x1004n)).toEqual([]);
    expect(bad?.warnings.join("\n")).toContain('Cannot inflate section ".debug_line"');
  });

  test("not an ELF file, or a truncated one: open() gives undefined", () => {
    expect(DwarfInfo.open(bytesSource(new Uint8Array(10)))).toBeUndefined();
    const whole = elfWith([{ name: ".debug_info", data: unit5([...ROOT, 0]) }]);
    expect(DwarfInfo.open(bytesSource(whole.subarray(0, whole.length - 20)))).toBeUndefined();
  });
});

test("a source that fails to read after open (EIO, a file cut under us): frames() gives [] and a warning, no throw", () => {
  const bytes = elfWith([
    { name: ".debug_info", data: unit5([...ROOT, 2, ...cstr("f"), ...u64(0x1000n), ...u32(0x20), 0]) },
    { name: ".debug_abbrev", data: abbrevs(ABBREVS) },
    { name: ".debug_line", data: line5(PROGRAM) },
  ]);
  let failing = false;
  const inner = bytesSource(bytes);
  const d = DwarfInfo.open({
    size: inner.size,
    read: (offset: number, length: number) => {
      if (failing) throw new Error("EIO: i/o error, read");
      return inner.read(offset, length);
    },
  });
  failing = true;
  expect(d?.frames(0x1004n)).toEqual([]);
  expect(d?.warnings.join("\n")).toContain("unexpected Error: EIO");
});

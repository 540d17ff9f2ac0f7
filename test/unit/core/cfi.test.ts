// CFA programs and DWARF expressions on byte layouts (DWARF 5 §6.4.2, §2.5).
import { describe, expect, test } from "bun:test";
import { fromHex } from "../../../src/core/bytes.ts";
import { findInIndex, indexFdes, rowAt, type FrameSection } from "../../../src/core/cfi.ts";
import { evaluate } from "../../../src/core/dwarf-expr.ts";

const regs = (r: Record<number, bigint>) => ({ reg: (n: number) => r[n], mem: (a: bigint) => (a === 0x1000n ? 0xdeadn : undefined) });

describe("DWARF expressions", () => {
  test.each([
    ["lit3 lit4 plus", "33 34 22", 7n],
    ["breg7 +8 (rsp+8)", "77 08", 0x7ff8n],
    // glibc PLT: breg7 8; breg16 0; lit15; and; lit11; ge; lit3; shl; plus
    ["PLT CFA at +5 in entry", "77 08 80 00 3f 1a 3b 2a 33 24 22", 0x7ff8n],
    ["const2u 0x1000 deref", "0a 00 10 06", 0xdeadn],
    ["consts -8 abs", "11 78 19", 8n],
    ["bra taken", "31 28 01 00 33 34", 4n],
    ["skip", "2f 01 00 33 34", 4n],
    ["lt signed", "11 7f 30 2d", 1n],
    ["unknown register gives undefined", "7f 00", undefined],
  ])("%s", (_n, hex, want) => {
    expect(evaluate(fromHex(hex), regs({ 7: 0x7ff0n, 16: 0x4005n }))).toBe(want);
  });
  test("bad opcode is a SyntaxError", () => expect(() => evaluate(fromHex("e0"), regs({}))).toThrow(SyntaxError));
  test("underflow is a RangeError", () => expect(() => evaluate(fromHex("22"), regs({}))).toThrow(RangeError));
  test("an endless loop stops", () => expect(() => evaluate(fromHex("2f fd ff"), regs({}))).toThrow(RangeError));
});

// A .debug_frame with one CIE (code align 1, data align -8, RA 16, def_cfa rsp+8,
// offset rip at cfa-8) and one FDE for [0x1000, 0x1010): advance 1, def_cfa_offset 16,
// offset rbp at cfa-16, advance 3, def_cfa_register rbp.
const CIE = "14000000 ffffffff 01 00 01 78 10 0c0708 9001 000000000000";
const FDE = "24000000 00000000 0010000000000000 1000000000000000 41 0e10 8602 43 0d06 0000000000000000";
const sec: FrameSection = { bytes: fromHex(CIE + FDE), vaddr: 0n, kind: "debug_frame" };

describe("CFA programs", () => {
  const index = indexFdes(sec);
  test("index", () => expect(index.entries.map((e) => e.start)).toEqual([0x1000n]));
  test.each([
    [0x1000n, { reg: 7, off: 8n }, []],
    [0x1001n, { reg: 7, off: 16n }, [[6, -16n]]],
    [0x1003n, { reg: 7, off: 16n }, [[6, -16n]]],
    [0x1004n, { reg: 6, off: 16n }, [[6, -16n]]],
  ] as const)("row at %p", (pc, cfa, saved) => {
    const fde = findInIndex(index, pc);
    expect(fde).toBeDefined();
    const row = rowAt(fde!, pc);
    expect(row.cfa).toMatchObject({ type: "reg", ...cfa });
    expect(row.regs.get(16)).toEqual({ type: "offset", off: -8n });
    for (const [r, off] of saved) expect(row.regs.get(r)).toEqual({ type: "offset", off });
  });
  test("pc outside every FDE", () => expect(findInIndex(index, 0x1010n)).toBeUndefined());
});

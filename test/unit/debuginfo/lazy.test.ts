// Lazy reading: a pc costs the reads of the one unit that holds it, once —
// not the whole .debug_info (a counting ByteSource over a hand-made file of
// many units, with and without .debug_aranges).
import { expect, test } from "bun:test";
import { DwarfInfo, MAX_CACHED_UNITS } from "../../../src/debuginfo/dwarf.ts";
import { bytesSource, type ByteSource } from "../../../src/debuginfo/source.ts";
import { abbrevs, cstr, elfWith, line5, u16, u32, u64, uleb, unit5, type SectionSpec } from "./build-elf.ts";

const UNITS = 24;
/** Each unit carries this many bytes of DIEs nobody asks for (types, in real files). */
const PADDING = 16_000;

function counting(src: ByteSource): ByteSource & { bytes: number } {
  const c = {
    size: src.size,
    bytes: 0,
    read(offset: number, length: number): Uint8Array {
      const out = src.read(offset, length);
      c.bytes += out.length;
      return out;
    },
  };
  return c;
}

/** UNITS units: unit i covers [0x1000 * (i + 1), +0x100) with one subprogram "f<i>", then PADDING bytes of DW_TAG_base_type DIEs. */
function manyUnits(withAranges: boolean): Uint8Array {
  const ab = abbrevs([
    [1, 0x11, true, [[0x03, 0x08], [0x10, 0x17], [0x11, 0x01], [0x12, 0x06]]],
    [2, 0x2e, false, [[0x03, 0x08], [0x11, 0x01], [0x12, 0x06]]],
    [3, 0x24, false, [[0x0b, 0x0b]]], // DW_TAG_base_type, DW_AT_byte_size data1
  ]);
  const info: number[] = [];
  const aranges: number[] = [];
  for (let i = 0; i < UNITS; i++) {
    const lo = BigInt(0x1000 * (i + 1));
    const dies = [1, ...cstr(`u${i}.c`), ...u32(0), ...u64(lo), ...u32(0x100), 2, ...cstr(`f${i}`), ...u64(lo), ...u32(0x100)];
    for (let k = 0; k < PADDING / 2; k++) dies.push(3, 4);
    dies.push(0);
    const at = info.length;
    info.push(...unit5(dies));
    // .debug_aranges set (DWARF 5 §6.1.2): header 12 bytes, padded to 16, one tuple, the terminator
    const set = [...u16(2), ...u32(at), 8, 0, 0, 0, 0, 0, ...u64(lo), ...u64(0x100n), ...u64(0n), ...u64(0n)];
    aranges.push(...u32(set.length), ...set);
  }
  const program = [4, 0, 0, 9, 2, ...u64(0x1000n), 2, ...uleb(0x100 * UNITS * 16), 0, 1, 1];
  const sections: SectionSpec[] = [
    { name: ".debug_info", data: Uint8Array.from(info) },
    { name: ".debug_abbrev", data: ab },
    { name: ".debug_line", data: line5(program) },
  ];
  if (withAranges) sections.push({ name: ".debug_aranges", data: Uint8Array.from(aranges) });
  return elfWith(sections);
}

test.each([[true], [false]])("with .debug_aranges %p: one pc reads about one unit, and only once", (withAranges) => {
  const file = manyUnits(withAranges);
  const src = counting(bytesSource(file));
  const d = DwarfInfo.open(src);
  expect(d).toBeDefined();
  if (!d) return;
  const infoSize = UNITS * (PADDING + 40);
  expect(d.frames(0x1000n * 13n + 8n)[0]?.function).toBe("f12");
  const first = src.bytes;
  // one unit walked (~PADDING), plus headers/roots when there is no .debug_aranges (a 4 KiB window each)
  expect(first).toBeLessThan(withAranges ? 3 * PADDING : UNITS * 4096 + 3 * PADDING);
  expect(first).toBeLessThan(infoSize / 2);
  // the same unit again: nothing read
  expect(d.frames(0x1000n * 13n + 0x10n)[0]?.function).toBe("f12");
  expect(src.bytes).toBe(first);
  // every unit once, then the first again: the cache holds MAX_CACHED_UNITS, so memory stays bounded
  for (let i = 0; i < UNITS; i++) expect(d.frames(BigInt(0x1000 * (i + 1)) + 4n)[0]?.function).toBe(`f${i}`);
  expect(MAX_CACHED_UNITS).toBeLessThan(UNITS);
  expect(d.warnings).toEqual([]);
});

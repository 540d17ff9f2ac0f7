// The number-valued LEB128 readers the DWARF reader uses on its hot path
// agree with the BigInt ones (src/core/bytes.ts) and refuse what a number cannot hold.
import { expect, test } from "bun:test";
import { Bytes, fromHex } from "../../../src/core/bytes.ts";

test.each([
  ["00", 0, 0, 1],
  ["02", 2, 2, 1],
  ["7f", 127, -1, 1],
  ["80 01", 128, 128, 2],
  ["80 7f", 16256, -128, 2],
  ["c0 00", 64, 64, 2],
  ["e5 8e 26", 624485, 624485, 3],
  ["c0 bb 78", 1973696, -123456, 3], // DWARF 5 Figure 7.4 style: -123456
  ["ff ff ff ff 0f", 4294967295, 4294967295, 5],
])("LEB128 %s: unsigned %d, signed %d, %d bytes", (hex, u, s, len) => {
  const b = new Bytes(fromHex(hex));
  expect(b.ulebNumber(0)).toEqual([u, len]);
  expect(b.slebNumber(0)).toEqual([s, len]);
  expect(BigInt(b.ulebNumber(0)[0])).toBe(b.uleb(0)[0]);
  expect(BigInt(b.slebNumber(0)[0])).toBe(b.sleb(0)[0]);
});

test.each([
  ["ff ff ff ff ff ff ff ff ff 01", "over 2^53"],
  ["80 80", "past the end"],
])("LEB128 %s as a number: RangeError (%s)", (hex) => {
  const b = new Bytes(fromHex(hex));
  expect(() => b.ulebNumber(0)).toThrow(RangeError);
  expect(() => b.slebNumber(0)).toThrow(RangeError);
});

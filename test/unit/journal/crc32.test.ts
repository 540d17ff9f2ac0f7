import { describe, expect, test } from "bun:test";
import { crc32 } from "../../../src/journal/crc32.ts";

const ascii = (s: string) => new TextEncoder().encode(s);

/** The table-driven reference (zlib's crc32.c, one byte at a time). */
const TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();
function reference(bytes: Uint8Array, previous = 0): number {
  let c = (previous ^ 0xffffffff) >>> 0;
  for (const b of bytes) c = (TABLE[(c ^ b) & 0xff] as number) ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

describe("crc32", () => {
  // Check values from the CRC catalogue (CRC-32/ISO-HDLC, the zlib/PNG CRC).
  test.each([
    ["", 0x00000000],
    ["a", 0xe8b7be43],
    ["123456789", 0xcbf43926],
    ["The quick brown fox jumps over the lazy dog", 0x414fa339],
  ])("crc32(%p)", (text, expected) => {
    expect(crc32(ascii(text))).toBe(expected);
  });

  test("chains like zlib: crc32(b, crc32(a)) = crc32(a + b)", () => {
    const data = ascii("123456789abcdefghijklmnop");
    for (let cut = 0; cut <= data.length; cut++) {
      expect(crc32(data.subarray(cut), crc32(data.subarray(0, cut)))).toBe(crc32(data));
    }
  });

  test("agrees with the table-driven reference on random data, whole and chained at every cut", () => {
    const data = crypto.getRandomValues(new Uint8Array(4096));
    expect(crc32(data)).toBe(reference(data));
    const piece = data.subarray(0, 600);
    for (let cut = 0; cut <= piece.length; cut++) {
      const previous = reference(piece.subarray(0, cut));
      expect(crc32(piece.subarray(cut), previous)).toBe(reference(piece.subarray(cut), previous));
    }
    // Seeds with the top bit set (a signed/unsigned slip would show here).
    for (const seed of [0x80000000, 0xffffffff, 0xdeadbeef]) expect(crc32(piece, seed)).toBe(reference(piece, seed));
  });
});

import { describe, expect, test } from "bun:test";
import { crc32 } from "../../../src/journal/crc32.ts";

const ascii = (s: string) => new TextEncoder().encode(s);

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

  test("agrees with Bun.hash.crc32 on random data", () => {
    const data = crypto.getRandomValues(new Uint8Array(4096));
    expect(crc32(data)).toBe(Bun.hash.crc32(data));
  });
});

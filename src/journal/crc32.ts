// CRC-32 as used by zlib, gzip and PNG (IEEE 802.3, reflected polynomial
// 0xEDB88320, initial value and final xor 0xFFFFFFFF), computed by Bun's
// native Bun.hash.crc32. Its second argument continues a CRC the way zlib's
// crc32(crc, buf, len) does (test/unit/journal/crc32.test.ts checks that
// against a table-driven reference, chained at every cut). A byte loop in
// JavaScript cost the boot hook about 1M instructions per control block
// read: its code runs once, in the interpreter (docs/BENCHMARKS.md "init").

/**
 * CRC-32 of `bytes`; pass the CRC of the preceding bytes as `previous` to
 * continue it (zlib's crc32(crc, buf, len) convention: crc32(b, crc32(a)) is
 * the CRC of a followed by b).
 */
export function crc32(bytes: Uint8Array, previous = 0): number {
  return Bun.hash.crc32(bytes, previous) >>> 0;
}

// CRC-32 as used by zlib, gzip and PNG (IEEE 802.3, reflected polynomial
// 0xEDB88320, initial value and final xor 0xFFFFFFFF). Own table-driven code
// rather than Bun.hash.crc32 because the journal chains a CRC over pieces
// (log block data, then its trailer) and Bun's seed semantics are undocumented.

const TABLE: Uint32Array = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

/**
 * CRC-32 of `bytes`; pass the CRC of the preceding bytes as `previous` to
 * continue it (zlib's crc32(crc, buf, len) convention: crc32(b, crc32(a)) is
 * the CRC of a followed by b).
 */
export function crc32(bytes: Uint8Array, previous = 0): number {
  let c = (previous ^ 0xffffffff) >>> 0;
  for (let i = 0; i < bytes.length; i++) {
    c = (TABLE[(c ^ (bytes[i] as number)) & 0xff] as number) ^ (c >>> 8);
  }
  return (c ^ 0xffffffff) >>> 0;
}

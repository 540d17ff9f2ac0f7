// Bounds-checked little-endian reads over a Uint8Array (STYLE.md rules 5 and 6).
// Every read checks first and throws RangeError naming what was being read.

/** A little-endian view of bytes; only little-endian ELF64 is accepted (ELFDATA2LSB). */
export class Bytes {
  readonly view: DataView;
  constructor(readonly bytes: Uint8Array) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }
  get length(): number {
    return this.bytes.byteLength;
  }
  check(offset: number, size: number, what: string): void {
    if (!Number.isSafeInteger(offset) || offset < 0 || size < 0 || offset + size > this.bytes.byteLength) {
      throw new RangeError(`Cannot read ${what} at offset ${offset}: ${size} bytes past the end of ${this.bytes.byteLength}`);
    }
  }
  u8(offset: number, what = "u8"): number {
    this.check(offset, 1, what);
    return this.view.getUint8(offset);
  }
  u16(offset: number, what = "u16"): number {
    this.check(offset, 2, what);
    return this.view.getUint16(offset, true);
  }
  u32(offset: number, what = "u32"): number {
    this.check(offset, 4, what);
    return this.view.getUint32(offset, true);
  }
  i32(offset: number, what = "i32"): number {
    this.check(offset, 4, what);
    return this.view.getInt32(offset, true);
  }
  u64(offset: number, what = "u64"): bigint {
    this.check(offset, 8, what);
    return this.view.getBigUint64(offset, true);
  }
  i64(offset: number, what = "i64"): bigint {
    this.check(offset, 8, what);
    return this.view.getBigInt64(offset, true);
  }
  /** A u64 that must fit a JS number (sizes and offsets); larger values are refused. */
  size(offset: number, what: string): number {
    const v = this.u64(offset, what);
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new RangeError(`Cannot use ${what} 0x${v.toString(16)}: too large`);
    return Number(v);
  }
  slice(offset: number, size: number, what: string): Uint8Array {
    this.check(offset, size, what);
    return this.bytes.subarray(offset, offset + size);
  }
  /** A NUL-terminated string starting at offset, at most max bytes; [value, next]. */
  cstr(offset: number, max: number, what: string): [string, number] {
    this.check(offset, 0, what);
    const end = Math.min(this.bytes.byteLength, offset + max);
    let i = offset;
    while (i < end && this.bytes[i] !== 0) i++;
    return [DECODER.decode(this.bytes.subarray(offset, i)), i + 1];
  }
  /** ULEB128 at offset; [value, next]. */
  uleb(offset: number): [bigint, number] {
    let result = 0n;
    let shift = 0n;
    let i = offset;
    for (;;) {
      const b = this.u8(i++, "ULEB128");
      if (shift < 64n) result |= BigInt(b & 0x7f) << shift;
      shift += 7n;
      if ((b & 0x80) === 0) break;
    }
    return [result & MASK64, i];
  }
  /**
   * ULEB128 at offset as a number, for codes, counts and lengths (the DWARF
   * reader's hot path: no BigInt); RangeError past 2^53. [value, next]
   */
  ulebNumber(offset: number): [number, number] {
    let result = 0;
    let mul = 1;
    let i = offset;
    for (;;) {
      const b = this.u8(i++, "ULEB128");
      result += (b & 0x7f) * mul;
      mul *= 128;
      if ((b & 0x80) === 0) break;
      if (mul > 2 ** 53) throw new RangeError(`Cannot read ULEB128 at offset ${offset}: over 2^53`);
    }
    return [result, i];
  }
  /** SLEB128 at offset as a number (line advances, the DWARF reader's hot path); RangeError past 2^53. [value, next] */
  slebNumber(offset: number): [number, number] {
    let result = 0;
    let mul = 1;
    let i = offset;
    let b: number;
    do {
      b = this.u8(i++, "SLEB128");
      result += (b & 0x7f) * mul;
      mul *= 128;
      if (b & 0x80 && mul > 2 ** 53) throw new RangeError(`Cannot read SLEB128 at offset ${offset}: over 2^53`);
    } while (b & 0x80);
    if (b & 0x40) result -= mul;
    return [result, i];
  }
  /** SLEB128 at offset; [value, next]. */
  sleb(offset: number): [bigint, number] {
    let result = 0n;
    let shift = 0n;
    let i = offset;
    let b: number;
    do {
      b = this.u8(i++, "SLEB128");
      if (shift < 64n) result |= BigInt(b & 0x7f) << shift;
      shift += 7n;
    } while (b & 0x80);
    if (shift < 64n && b & 0x40) result -= 1n << shift;
    return [BigInt.asIntN(64, result), i];
  }
}

export const MASK64 = (1n << 64n) - 1n;
const DECODER = new TextDecoder("utf-8", { fatal: false });

export function decodeText(bytes: Uint8Array): string {
  return DECODER.decode(bytes);
}

export function hex(v: bigint | number, width = 16): string {
  return "0x" + BigInt.asUintN(64, BigInt(v)).toString(16).padStart(width, "0");
}

/** Parse hex like "7f 45 4c 46" or "7f454c46" into bytes (tests and regressions). */
export function fromHex(text: string): Uint8Array {
  const clean = text.replace(/[^0-9a-fA-F]/g, "");
  const out = new Uint8Array(clean.length >> 1);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(clean.slice(i * 2, i * 2 + 2), 16);
  return out;
}

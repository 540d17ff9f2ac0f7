// Little-endian field helpers shared by the journal's encoders and decoders.
// Every journal field is little-endian: phram is host RAM and the boards we
// target (x86_64, aarch64) are little-endian; fixing it keeps images portable.

export function viewOf(buf: Uint8Array): DataView {
  return new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
}

/** Throw RangeError unless `need` bytes are present. */
export function requireBytes(buf: Uint8Array, { need, what }: { need: number; what: string }): void {
  if (buf.length < need) throw new RangeError(`Cannot read ${what}: ${buf.length} bytes, need ${need}`);
}

/** A u64 field as a number; SyntaxError past 2^53 (no journal counter gets there honestly). */
export function getU64(view: DataView, { offset, what }: { offset: number; what: string }): number {
  const value = view.getBigUint64(offset, true);
  if (value > BigInt(Number.MAX_SAFE_INTEGER)) throw new SyntaxError(`Cannot read ${what}: ${value} is out of range`);
  return Number(value);
}

export function setU64(view: DataView, offset: number, value: number): void {
  view.setBigUint64(offset, BigInt(value), true);
}

const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: false });

/** UTF-8 bytes of `text`, cut at `max` bytes without splitting a character. */
export function utf8Bounded(text: string, max: number): Uint8Array {
  const bytes = encoder.encode(text);
  if (bytes.length <= max) return bytes;
  let end = max;
  // Back off continuation bytes (10xxxxxx) so the cut lands on a boundary.
  while (end > 0 && ((bytes[end] as number) & 0xc0) === 0x80) end--;
  return bytes.subarray(0, end);
}

export function utf8Decode(bytes: Uint8Array): string {
  return decoder.decode(bytes);
}

export function utf8Encode(text: string): Uint8Array {
  return encoder.encode(text);
}

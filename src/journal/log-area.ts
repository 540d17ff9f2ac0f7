// One log-mirror area: a circular stream of the newest bytes of a log file
// (docs/FORMAT.md "Log areas"). Blocks 0 and 1 hold the area header (two
// copies, written alternately with a generation); the remaining n blocks
// hold the stream: stream byte p lives in logical block L = floor(p / 992),
// physical block L mod n. Each block keeps two trailers (logical index,
// bytes used, CRC); an append writes only the new bytes and the trailer the
// block is not currently trusted by, so a torn append never damages bytes
// already committed. The header's head position commits an append.
import { getU64, requireBytes, setU64, utf8Bounded, utf8Decode, viewOf } from "./bytes.ts";
import { BOOT_ID_BYTES, bootIdFromBytes, bootIdToBytes } from "./boot-id.ts";
import { crc32 } from "./crc32.ts";
import { LOG_BLOCK_BYTES, type LogAreaLayout } from "./layout.ts";

/** "CKJL" in memory order (crashkeep journal log). */
export const LOG_MAGIC = 0x4c4a4b43;
export const LOG_VERSION = 1;
export const LOG_TRAILER_BYTES = 16;
/** Stream bytes per block: the block minus its two trailers. */
export const LOG_DATA_BYTES = LOG_BLOCK_BYTES - 2 * LOG_TRAILER_BYTES;
/** Header bytes covered by its CRC; the rest of the header block is unused. */
export const LOG_HEADER_BYTES = 256;
/** Longest log path kept in the header: enough for /var/log/... paths. */
export const MAX_LOG_PATH_BYTES = 160;
const HEADER_BLOCKS = 2;

const OFF = {
  magic: 0,
  version: 4,
  areaIndex: 6,
  generation: 8,
  formatId: 16,
  blockBytes: 20,
  head: 24,
  sourceDev: 32,
  sourceIno: 40,
  sourceOffset: 48,
  timeMs: 56,
  bootId: 64,
  rotations: 80,
  pathLength: 84,
  path: 88,
  crc: 252,
} as const;

export interface LogHeader {
  areaIndex: number;
  generation: number;
  formatId: number;
  /** Stream position after the last committed append (bytes ever mirrored). */
  head: number;
  /** st_dev and st_ino of the source file mirrored last (0n, 0n: none yet). */
  sourceDev: bigint;
  sourceIno: bigint;
  /** Bytes of that source file consumed so far. */
  sourceOffset: number;
  timeMs: number;
  bootId: string;
  /** Rotations and truncations followed so far. */
  rotations: number;
  path: string;
}

/** The header of an area that has mirrored nothing yet (generation 0: any written copy outranks it). */
export function emptyLogHeader(fields: Pick<LogHeader, "areaIndex" | "formatId" | "timeMs" | "bootId" | "path">): LogHeader {
  return { ...fields, generation: 0, head: 0, sourceDev: 0n, sourceIno: 0n, sourceOffset: 0, rotations: 0 };
}

export interface LogTrailer {
  /** Logical block index this block holds. */
  index: number;
  /** Stream bytes used in this block. */
  used: number;
}

export function encodeLogHeader(header: LogHeader): Uint8Array {
  const buf = new Uint8Array(LOG_HEADER_BYTES);
  const view = viewOf(buf);
  const path = utf8Bounded(header.path, MAX_LOG_PATH_BYTES);
  view.setUint32(OFF.magic, LOG_MAGIC, true);
  view.setUint16(OFF.version, LOG_VERSION, true);
  view.setUint16(OFF.areaIndex, header.areaIndex, true);
  setU64(view, OFF.generation, header.generation);
  view.setUint32(OFF.formatId, header.formatId, true);
  view.setUint32(OFF.blockBytes, LOG_BLOCK_BYTES, true);
  setU64(view, OFF.head, header.head);
  view.setBigUint64(OFF.sourceDev, header.sourceDev, true);
  view.setBigUint64(OFF.sourceIno, header.sourceIno, true);
  setU64(view, OFF.sourceOffset, header.sourceOffset);
  setU64(view, OFF.timeMs, header.timeMs);
  buf.set(bootIdToBytes(header.bootId), OFF.bootId);
  view.setUint32(OFF.rotations, header.rotations, true);
  view.setUint16(OFF.pathLength, path.length, true);
  buf.set(path, OFF.path);
  view.setUint32(OFF.crc, crc32(buf.subarray(0, OFF.crc)), true);
  return buf;
}

/** Decode a log header; RangeError when short, SyntaxError on bad magic, CRC, version or block size. */
export function decodeLogHeader(buf: Uint8Array): LogHeader {
  requireBytes(buf, { need: LOG_HEADER_BYTES, what: "log header" });
  const view = viewOf(buf);
  if (view.getUint32(OFF.magic, true) !== LOG_MAGIC) throw new SyntaxError("Cannot read log header: bad magic");
  if (crc32(buf.subarray(0, OFF.crc)) !== view.getUint32(OFF.crc, true)) throw new SyntaxError("Cannot read log header: bad CRC");
  const version = view.getUint16(OFF.version, true);
  if (version !== LOG_VERSION) throw new SyntaxError(`Cannot read log header: unsupported version ${version}`);
  if (view.getUint32(OFF.blockBytes, true) !== LOG_BLOCK_BYTES) throw new SyntaxError("Cannot read log header: unsupported block size");
  const pathLength = view.getUint16(OFF.pathLength, true);
  if (pathLength > MAX_LOG_PATH_BYTES) throw new SyntaxError(`Cannot read log header: path of ${pathLength} bytes`);
  return {
    areaIndex: view.getUint16(OFF.areaIndex, true),
    generation: getU64(view, { offset: OFF.generation, what: "log generation" }),
    formatId: view.getUint32(OFF.formatId, true),
    head: getU64(view, { offset: OFF.head, what: "log head" }),
    sourceDev: view.getBigUint64(OFF.sourceDev, true),
    sourceIno: view.getBigUint64(OFF.sourceIno, true),
    sourceOffset: getU64(view, { offset: OFF.sourceOffset, what: "log source offset" }),
    timeMs: getU64(view, { offset: OFF.timeMs, what: "log time" }),
    bootId: bootIdFromBytes(buf.subarray(OFF.bootId, OFF.bootId + BOOT_ID_BYTES)),
    rotations: view.getUint32(OFF.rotations, true),
    path: utf8Decode(buf.subarray(OFF.path, OFF.path + pathLength)),
  };
}

/**
 * A block trailer: u64 logical index, u16 used, u16 zero, u32 CRC of
 * (data[0..used), the first 12 trailer bytes, the format id). The format id
 * in the CRC keeps blocks of an earlier format from validating.
 */
export function encodeLogTrailer(data: Uint8Array, trailer: LogTrailer & { formatId: number }): Uint8Array {
  const { formatId } = trailer;
  if (trailer.used > LOG_DATA_BYTES || data.length < trailer.used) throw new RangeError(`Cannot encode log trailer: ${trailer.used} bytes used`);
  const buf = new Uint8Array(LOG_TRAILER_BYTES);
  const view = viewOf(buf);
  setU64(view, 0, trailer.index);
  view.setUint16(8, trailer.used, true);
  view.setUint32(12, trailerCrc(data, buf, trailer.used, formatId), true);
  return buf;
}

function trailerCrc(data: Uint8Array, trailer: Uint8Array, used: number, formatId: number): number {
  const id = new Uint8Array(4);
  viewOf(id).setUint32(0, formatId, true);
  return crc32(id, crc32(trailer.subarray(0, 12), crc32(data.subarray(0, used))));
}

/** Decode the trailer `which` (0 or 1) of a whole block; null when it does not validate. */
export function decodeLogTrailer(block: Uint8Array, { which, formatId }: { which: 0 | 1; formatId: number }): LogTrailer | null {
  requireBytes(block, { need: LOG_BLOCK_BYTES, what: "log block" });
  const off = LOG_DATA_BYTES + which * LOG_TRAILER_BYTES;
  const trailer = block.subarray(off, off + LOG_TRAILER_BYTES);
  const view = viewOf(trailer);
  const used = view.getUint16(8, true);
  if (used > LOG_DATA_BYTES || view.getUint16(10, true) !== 0) return null;
  if (view.getBigUint64(0, true) > BigInt(Number.MAX_SAFE_INTEGER)) return null;
  if (trailerCrc(block, trailer, used, formatId) !== view.getUint32(12, true)) return null;
  return { index: Number(view.getBigUint64(0, true)), used };
}

/** Number of data blocks (n) in an area. */
export function dataBlocks(area: LogAreaLayout): number {
  return area.bytes / LOG_BLOCK_BYTES - HEADER_BLOCKS;
}

/** Device offset of header copy `which`, and of physical data block `phys`. */
export function headerOffset(area: LogAreaLayout, which: 0 | 1): number {
  return area.offset + which * LOG_BLOCK_BYTES;
}

export function blockOffset(area: LogAreaLayout, phys: number): number {
  return area.offset + (HEADER_BLOCKS + phys) * LOG_BLOCK_BYTES;
}

/**
 * The logical blocks a reader trusts for a head position: the newest n − 1,
 * one fewer than the area holds, because the block an append writes next is
 * the spare that still holds the oldest data.
 */
export function trustedBlocks(head: number, n: number): { first: number; last: number } | null {
  if (head === 0) return null;
  const last = Math.floor((head - 1) / LOG_DATA_BYTES);
  return { first: Math.max(0, last - (n - 2)), last };
}

/** Bytes a mirror area can show at most: n − 1 whole blocks. */
export function logCapacity(area: LogAreaLayout): number {
  return (dataBlocks(area) - 1) * LOG_DATA_BYTES;
}

export interface ChosenHeader {
  header: LogHeader;
  which: 0 | 1;
}

/** The valid header copy with the higher generation for this format and area, or null. */
export function chooseLogHeader(copies: readonly [Uint8Array, Uint8Array], { formatId, areaIndex }: { formatId: number; areaIndex: number }): ChosenHeader | null {
  let best: ChosenHeader | null = null;
  for (const [which, buf] of [[0, copies[0]], [1, copies[1]]] as const) {
    try {
      const header = decodeLogHeader(buf);
      if (header.formatId !== formatId || header.areaIndex !== areaIndex) continue;
      if (best === null || header.generation > best.header.generation) best = { header, which };
    } catch (err) {
      if (!(err instanceof SyntaxError || err instanceof RangeError)) throw err;
    }
  }
  return best;
}

export interface LogGap {
  streamOffset: number;
  length: number;
}

export interface LogTail {
  area: number;
  /** null when neither header copy is valid: the area's content is lost. */
  header: LogHeader | null;
  /** Stream position of the first byte of `bytes`. */
  streamStart: number;
  /** The mirrored tail, oldest first, with lost blocks left out. */
  bytes: Uint8Array;
  /** Blocks in the trusted window whose trailers did not validate. */
  gaps: LogGap[];
}

/** Read the tail held by one area, from the area's own bytes (a pure parser). */
export function parseLogArea(bytes: Uint8Array, { area, areaIndex, formatId }: { area: LogAreaLayout; areaIndex: number; formatId: number }): LogTail {
  requireBytes(bytes, { need: area.bytes, what: "log area" });
  const n = dataBlocks(area);
  const chosen = chooseLogHeader([bytes.subarray(0, LOG_BLOCK_BYTES), bytes.subarray(LOG_BLOCK_BYTES, 2 * LOG_BLOCK_BYTES)], { formatId, areaIndex });
  const empty = { area: areaIndex, streamStart: 0, bytes: new Uint8Array(0), gaps: [] };
  if (chosen === null) return { ...empty, header: null };
  const { header } = chosen;
  const window = trustedBlocks(header.head, n);
  if (window === null) return { ...empty, header };
  const pieces: Uint8Array[] = [];
  const gaps: LogGap[] = [];
  for (let logical = window.first; logical <= window.last; logical++) {
    const need = logical === window.last ? header.head - logical * LOG_DATA_BYTES : LOG_DATA_BYTES;
    const start = (HEADER_BLOCKS + (logical % n)) * LOG_BLOCK_BYTES;
    const block = bytes.subarray(start, start + LOG_BLOCK_BYTES);
    const ok = ([0, 1] as const).some((which) => {
      const t = decodeLogTrailer(block, { which, formatId });
      return t !== null && t.index === logical && t.used >= need;
    });
    if (ok) pieces.push(block.subarray(0, need));
    else gaps.push({ streamOffset: logical * LOG_DATA_BYTES, length: need });
  }
  const total = pieces.reduce((sum, p) => sum + p.length, 0);
  const out = new Uint8Array(total);
  let at = 0;
  for (const p of pieces) {
    out.set(p, at);
    at += p.length;
  }
  return { area: areaIndex, header, streamStart: window.first * LOG_DATA_BYTES, bytes: out, gaps };
}

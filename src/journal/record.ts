// Record headers of the report ring. A record is one slot: a 64-byte header
// then the payload. Written as: zero the magic, write header body + payload,
// write the magic last — so at every byte of a torn write the slot either
// still holds nothing valid or the whole new record (docs/FORMAT.md
// "Records"; the magic-last order is Fuchsia ram-crashlog's, the
// sequence-numbered ring is mtdoops').
import { BOOT_ID_BYTES, bootIdFromBytes, bootIdToBytes } from "./boot-id.ts";
import { getU64, requireBytes, setU64, viewOf } from "./bytes.ts";
import { crc32 } from "./crc32.ts";
import { RECORD_HEADER_BYTES } from "./layout.ts";

/** "CKJR" in memory order (crashkeep journal record); every byte non-zero, so a partly written magic never matches. */
export const RECORD_MAGIC = 0x524a4b43;
export const RECORD_MAGIC_BYTES = 4;
export const RECORD_VERSION = 1;

/** Record kinds as stored (u8). Unknown codes are read back as "unknown". */
export const RECORD_KINDS = {
  "crash-report": 1,
  note: 2,
  "log-snapshot": 3,
  "kernel-log": 4,
  /** A rollback event of the running boot (src/rollback/events.ts): its slot facts, a crash loop, probation passed. */
  rollback: 5,
} as const;

export type KnownRecordKind = keyof typeof RECORD_KINDS;
export type RecordKind = KnownRecordKind | "unknown";

/** Payload stored raw-deflate compressed (RFC 1951). */
export const FLAG_DEFLATE = 1;

const OFF = {
  magic: 0,
  version: 4,
  kind: 6,
  flags: 7,
  seq: 8,
  formatId: 16,
  bootCounter: 20,
  bootId: 24,
  timeMs: 40,
  storedLength: 48,
  rawLength: 52,
  payloadCrc: 56,
  headerCrc: 60,
} as const;

export interface RecordHeader {
  kind: RecordKind;
  /** The stored kind code (meaningful when kind is "unknown"). */
  kindCode: number;
  flags: number;
  seq: number;
  formatId: number;
  bootCounter: number;
  bootId: string;
  timeMs: number;
  /** Payload bytes in the slot (compressed size when FLAG_DEFLATE). */
  storedLength: number;
  /** Payload bytes once inflated. */
  rawLength: number;
  payloadCrc: number;
}

export function kindCode(kind: KnownRecordKind): number {
  return RECORD_KINDS[kind];
}

function kindName(code: number): RecordKind {
  for (const [name, value] of Object.entries(RECORD_KINDS)) if (value === code) return name as KnownRecordKind;
  return "unknown";
}

/** Encode a full header, magic and CRC included (the writer splits off the magic). */
export function encodeRecordHeader(header: Omit<RecordHeader, "kind">): Uint8Array {
  const buf = new Uint8Array(RECORD_HEADER_BYTES);
  const view = viewOf(buf);
  view.setUint32(OFF.magic, RECORD_MAGIC, true);
  view.setUint16(OFF.version, RECORD_VERSION, true);
  view.setUint8(OFF.kind, header.kindCode);
  view.setUint8(OFF.flags, header.flags);
  setU64(view, OFF.seq, header.seq);
  view.setUint32(OFF.formatId, header.formatId, true);
  view.setUint32(OFF.bootCounter, header.bootCounter, true);
  buf.set(bootIdToBytes(header.bootId), OFF.bootId);
  setU64(view, OFF.timeMs, header.timeMs);
  view.setUint32(OFF.storedLength, header.storedLength, true);
  view.setUint32(OFF.rawLength, header.rawLength, true);
  view.setUint32(OFF.payloadCrc, header.payloadCrc, true);
  view.setUint32(OFF.headerCrc, crc32(buf.subarray(0, OFF.headerCrc)), true);
  return buf;
}

/** True when the slot starts with the record magic (else the slot is empty, not corrupt). */
export function hasRecordMagic(buf: Uint8Array): boolean {
  requireBytes(buf, { need: RECORD_MAGIC_BYTES, what: "record magic" });
  return viewOf(buf).getUint32(OFF.magic, true) === RECORD_MAGIC;
}

/**
 * Decode a record header. RangeError when short; SyntaxError on a bad magic,
 * CRC or version.
 */
export function decodeRecordHeader(buf: Uint8Array): RecordHeader {
  requireBytes(buf, { need: RECORD_HEADER_BYTES, what: "record header" });
  const view = viewOf(buf);
  if (view.getUint32(OFF.magic, true) !== RECORD_MAGIC) throw new SyntaxError("Cannot read record header: bad magic");
  if (crc32(buf.subarray(0, OFF.headerCrc)) !== view.getUint32(OFF.headerCrc, true)) {
    throw new SyntaxError("Cannot read record header: bad header CRC");
  }
  const version = view.getUint16(OFF.version, true);
  if (version !== RECORD_VERSION) throw new SyntaxError(`Cannot read record header: unsupported version ${version}`);
  const code = view.getUint8(OFF.kind);
  return {
    kind: kindName(code),
    kindCode: code,
    flags: view.getUint8(OFF.flags),
    seq: getU64(view, { offset: OFF.seq, what: "sequence number" }),
    formatId: view.getUint32(OFF.formatId, true),
    bootCounter: view.getUint32(OFF.bootCounter, true),
    bootId: bootIdFromBytes(buf.subarray(OFF.bootId, OFF.bootId + BOOT_ID_BYTES)),
    timeMs: getU64(view, { offset: OFF.timeMs, what: "record time" }),
    storedLength: view.getUint32(OFF.storedLength, true),
    rawLength: view.getUint32(OFF.rawLength, true),
    payloadCrc: view.getUint32(OFF.payloadCrc, true),
  };
}

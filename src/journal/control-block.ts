// The control block: one 512-byte structure, kept twice (copies A and B at
// the start of the device, one erase block each). Both copies are written on
// every update, one after the other, so a torn write leaves the other copy
// whole and a bit flip in one copy is outvoted by its twin (docs/FORMAT.md
// "Control block"). Fuchsia's ram-crashlog uses the same magic+CRC model.
import { BOOT_ID_BYTES, bootIdFromBytes, bootIdToBytes } from "./boot-id.ts";
import { getU64, requireBytes, setU64, utf8Bounded, utf8Decode, viewOf } from "./bytes.ts";
import { crc32 } from "./crc32.ts";
import { CONTROL_BYTES, MAX_LOGS, type JournalLayout, validateLayout } from "./layout.ts";

/** "CKJC" in memory order (crashkeep journal control). No zero byte, unlike erased or zeroed RAM. */
export const CONTROL_MAGIC = 0x434a4b43;
export const CONTROL_VERSION = 1;
/** A noted reboot reason is a short phrase ("firmware update"), not a log. */
export const MAX_REASON_BYTES = 256;

const FLAG_CLEAN_SHUTDOWN = 1;

// Byte offsets (docs/FORMAT.md "Control block").
const OFF = {
  magic: 0,
  version: 4,
  size: 6,
  generation: 8,
  formatId: 16,
  eraseSize: 20,
  deviceSize: 24,
  slotBytes: 32,
  ringOffset: 36,
  slotCount: 40,
  logCount: 44,
  logTable: 48, // MAX_LOGS × {u32 offset, u32 bytes}
  bootCounter: 112,
  flags: 116,
  currentBootId: 120,
  previousBootId: 136,
  bootStartMs: 152,
  shutdownMs: 160,
  nextSeq: 168,
  collectedSeq: 176,
  reasonMs: 184,
  reasonLength: 192,
  reason: 196, // MAX_REASON_BYTES
  crc: 508,
} as const;

export interface NotedReason {
  text: string;
  timeMs: number;
}

export interface ControlBlock {
  /** Bumped on every update; the valid copy with the higher one wins. */
  generation: number;
  /** Random, non-zero, chosen at format time; every record and log block carries it. */
  formatId: number;
  layout: JournalLayout;
  /** Boots started since the journal was formatted. */
  bootCounter: number;
  /** Boot id of the boot that last started (the running one, or the one that just ended when init reads it). */
  currentBootId: string;
  previousBootId: string;
  bootStartMs: number;
  /** Time of `crashkeep shutdown` in the current boot, or null. */
  cleanShutdownMs: number | null;
  /** Sequence number the next record gets (a hint: the ring is checked past it). */
  nextSeq: number;
  /** Records with seq ≤ this were archived by the boot hook (0: none). */
  collectedSeq: number;
  notedReason: NotedReason | null;
}

/** Encode a control block copy: exactly CONTROL_BYTES bytes, CRC last. */
export function encodeControlBlock(block: ControlBlock): Uint8Array {
  const { layout } = block;
  if (layout.logs.length > MAX_LOGS) throw new RangeError(`Cannot encode control block: ${layout.logs.length} logs, at most ${MAX_LOGS}`);
  const buf = new Uint8Array(CONTROL_BYTES);
  const view = viewOf(buf);
  view.setUint32(OFF.magic, CONTROL_MAGIC, true);
  view.setUint16(OFF.version, CONTROL_VERSION, true);
  view.setUint16(OFF.size, CONTROL_BYTES, true);
  setU64(view, OFF.generation, block.generation);
  view.setUint32(OFF.formatId, block.formatId, true);
  view.setUint32(OFF.eraseSize, layout.eraseSize, true);
  setU64(view, OFF.deviceSize, layout.deviceSize);
  view.setUint32(OFF.slotBytes, layout.slotBytes, true);
  view.setUint32(OFF.ringOffset, layout.ringOffset, true);
  view.setUint32(OFF.slotCount, layout.slotCount, true);
  view.setUint32(OFF.logCount, layout.logs.length, true);
  layout.logs.forEach((area, i) => {
    view.setUint32(OFF.logTable + 8 * i, area.offset, true);
    view.setUint32(OFF.logTable + 8 * i + 4, area.bytes, true);
  });
  view.setUint32(OFF.bootCounter, block.bootCounter, true);
  view.setUint32(OFF.flags, block.cleanShutdownMs === null ? 0 : FLAG_CLEAN_SHUTDOWN, true);
  buf.set(bootIdToBytes(block.currentBootId), OFF.currentBootId);
  buf.set(bootIdToBytes(block.previousBootId), OFF.previousBootId);
  setU64(view, OFF.bootStartMs, block.bootStartMs);
  setU64(view, OFF.shutdownMs, block.cleanShutdownMs ?? 0);
  setU64(view, OFF.nextSeq, block.nextSeq);
  setU64(view, OFF.collectedSeq, block.collectedSeq);
  if (block.notedReason !== null) {
    const text = utf8Bounded(block.notedReason.text, MAX_REASON_BYTES);
    setU64(view, OFF.reasonMs, block.notedReason.timeMs);
    view.setUint16(OFF.reasonLength, text.length, true);
    buf.set(text, OFF.reason);
  }
  view.setUint32(OFF.crc, crc32(buf.subarray(0, OFF.crc)), true);
  return buf;
}

/**
 * Decode one control block copy. RangeError when `buf` is short; SyntaxError
 * on a bad magic, version, CRC or a layout that does not fit `deviceSize`.
 */
export function decodeControlBlock(buf: Uint8Array, deviceSize: number): ControlBlock {
  requireBytes(buf, { need: CONTROL_BYTES, what: "control block" });
  const view = viewOf(buf);
  if (view.getUint32(OFF.magic, true) !== CONTROL_MAGIC) throw new SyntaxError("Cannot read control block: bad magic");
  const stored = view.getUint32(OFF.crc, true);
  if (crc32(buf.subarray(0, OFF.crc)) !== stored) throw new SyntaxError("Cannot read control block: bad CRC");
  const version = view.getUint16(OFF.version, true);
  if (version !== CONTROL_VERSION) throw new SyntaxError(`Cannot read control block: unsupported version ${version}`);
  if (view.getUint16(OFF.size, true) !== CONTROL_BYTES) throw new SyntaxError("Cannot read control block: bad size field");
  const logCount = view.getUint32(OFF.logCount, true);
  if (logCount > MAX_LOGS) throw new SyntaxError(`Cannot read control block: ${logCount} logs`);
  const logs = Array.from({ length: logCount }, (_, i) => ({
    offset: view.getUint32(OFF.logTable + 8 * i, true),
    bytes: view.getUint32(OFF.logTable + 8 * i + 4, true),
  }));
  const eraseSize = view.getUint32(OFF.eraseSize, true);
  const controlRegion = Math.ceil(CONTROL_BYTES / Math.max(eraseSize, 1)) * Math.max(eraseSize, 1);
  const layout: JournalLayout = {
    deviceSize: getU64(view, { offset: OFF.deviceSize, what: "device size" }),
    eraseSize,
    controlOffsets: [0, controlRegion],
    slotBytes: view.getUint32(OFF.slotBytes, true),
    ringOffset: view.getUint32(OFF.ringOffset, true),
    slotCount: view.getUint32(OFF.slotCount, true),
    logs,
  };
  validateLayout(layout, deviceSize);
  const formatId = view.getUint32(OFF.formatId, true);
  if (formatId === 0) throw new SyntaxError("Cannot read control block: format id 0");
  const flags = view.getUint32(OFF.flags, true);
  const reasonLength = view.getUint16(OFF.reasonLength, true);
  if (reasonLength > MAX_REASON_BYTES) throw new SyntaxError(`Cannot read control block: reason of ${reasonLength} bytes`);
  const reasonMs = getU64(view, { offset: OFF.reasonMs, what: "reason time" });
  return {
    generation: getU64(view, { offset: OFF.generation, what: "generation" }),
    formatId,
    layout,
    bootCounter: view.getUint32(OFF.bootCounter, true),
    currentBootId: bootIdFromBytes(buf.subarray(OFF.currentBootId, OFF.currentBootId + BOOT_ID_BYTES)),
    previousBootId: bootIdFromBytes(buf.subarray(OFF.previousBootId, OFF.previousBootId + BOOT_ID_BYTES)),
    bootStartMs: getU64(view, { offset: OFF.bootStartMs, what: "boot start time" }),
    cleanShutdownMs: flags & FLAG_CLEAN_SHUTDOWN ? getU64(view, { offset: OFF.shutdownMs, what: "shutdown time" }) : null,
    nextSeq: getU64(view, { offset: OFF.nextSeq, what: "next sequence number" }),
    collectedSeq: getU64(view, { offset: OFF.collectedSeq, what: "collected sequence number" }),
    // A reason is present when it has text or a time (an empty --reason "" still counts).
    notedReason: reasonLength > 0 || reasonMs > 0 ? { text: utf8Decode(buf.subarray(OFF.reason, OFF.reason + reasonLength)), timeMs: reasonMs } : null,
  };
}

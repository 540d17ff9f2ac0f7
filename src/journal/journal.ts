// The journal on the phram device: open, format, read, append records, and
// the control-block updates the boot hook, the daemon and the CLI need
// (DESIGN.md "The journal", docs/FORMAT.md). All I/O goes through the
// copier's BlockDevice; every update holds the lock file (lock.ts).
import { statSync } from "node:fs";
import type { BlockDevice } from "../copy/block-device.ts";
import { makePaths, type Paths } from "../system/paths.ts";
import { UNKNOWN_BOOT_ID } from "./boot-id.ts";
import { decodeControlBlock, encodeControlBlock, type ControlBlock, type NotedReason } from "./control-block.ts";
import { crc32 } from "./crc32.ts";
import { acquireLock, LOCK_WAIT_MS } from "./lock.ts";
import { CONTROL_BYTES, RECORD_HEADER_BYTES, computeLayout, type JournalLayout, type LayoutOptions, DEFAULT_LOGS } from "./layout.ts";
import { emptyLogHeader, encodeLogHeader, headerOffset, parseLogArea, type LogTail } from "./log-area.ts";
import {
  FLAG_DEFLATE,
  RECORD_MAGIC_BYTES,
  decodeRecordHeader,
  encodeRecordHeader,
  hasRecordMagic,
  kindCode,
  type KnownRecordKind,
  type RecordHeader,
} from "./record.ts";

/** Payloads smaller than this are stored raw: deflate would not pay for its own framing. */
const COMPRESS_MIN_BYTES = 256;
/** Largest inflated payload accepted on read: bounds memory against a forged length. */
export const MAX_RECORD_RAW_BYTES = 4 * 1024 * 1024;

/**
 * node:zlib on first use: loading it costs about 10M instructions (3x a Bun
 * hello-world, callgrind), paid by every boot hook run that never inflates or
 * deflates a record (docs/BENCHMARKS.md "init").
 */
let zlibModule: typeof import("node:zlib") | undefined;
function zlib(): typeof import("node:zlib") {
  zlibModule ??= require("node:zlib") as typeof import("node:zlib");
  return zlibModule;
}
/** Erase (0xff fill, as MTD erase on phram) in chunks of this size: large writes, bounded memory. */
const FORMAT_CHUNK_BYTES = 1024 * 1024;
/** The stable link to the phram MTD node that the boot hook creates. */
export const DEFAULT_DEVICE = "/dev/mtdchar/crashkeep";
/** Default directory of the lock file (tmpfs, gone after a reboot like the lock's owners). */
export const DEFAULT_RUN_DIR = "/run/crashkeep";

export interface JournalOptions {
  /** Directory of the lock file; default /run/crashkeep under the paths root. */
  runDir?: string;
  /** false: no lock file (single-process tests on fake devices). */
  locking?: boolean;
  lockTimeoutMs?: number;
  paths?: Paths;
}

export interface Journal {
  readonly device: BlockDevice;
  /** Lock file path, or null when locking is off. */
  readonly lockPath: string | null;
  readonly lockTimeoutMs: number;
}

/** Name the lock after the device's identity, so /dev/mtd3 and its /dev/mtdchar link share one lock. */
function lockName(device: BlockDevice): string {
  try {
    const st = statSync(device.path, { bigint: true });
    if (st.isCharacterDevice() || st.isBlockDevice()) return `journal-rdev${st.rdev}.lock`;
    return `journal-dev${st.dev}-ino${st.ino}.lock`;
  } catch {
    return `journal-${device.path.replace(/[^A-Za-z0-9._-]/g, "_")}.lock`;
  }
}

/** Wrap an open device as a journal handle; nothing is read yet. */
export function openJournal(device: BlockDevice, options: JournalOptions = {}): Journal {
  const paths = options.paths ?? makePaths();
  const runDir = options.runDir ?? paths.sys(DEFAULT_RUN_DIR);
  return {
    device,
    lockPath: options.locking === false ? null : `${runDir}/${lockName(device)}`,
    lockTimeoutMs: options.lockTimeoutMs ?? LOCK_WAIT_MS,
  };
}

/** Journals whose lock this process holds now: a nested withJournalLock runs inside the outer one. */
const held = new WeakSet<Journal>();

/**
 * Run `fn` holding the journal's lock. Re-entrant within one process (the
 * lock file is per process, not per call): a caller may take the lock
 * around appendRecord to decide and append in one hold.
 */
export function withJournalLock<T>(journal: Journal, fn: () => T): T {
  if (journal.lockPath === null || held.has(journal)) return fn();
  const lock = acquireLock(journal.lockPath, { timeoutMs: journal.lockTimeoutMs });
  held.add(journal);
  try {
    return fn();
  } finally {
    held.delete(journal);
    lock.release();
  }
}

/** Read exactly `length` bytes at `position`; RangeError when the device is shorter. */
export function readExact(device: BlockDevice, position: number, length: number): Uint8Array {
  const buf = new Uint8Array(length);
  const n = device.readAt(buf, position);
  if (n !== length) throw new RangeError(`Cannot read "${device.path}": ${n} of ${length} bytes at ${position}`);
  return buf;
}

/** Power-of-two offsets where copy B may sit when copy A is unreadable (B is one erase block in). */
function copyBCandidates(device: BlockDevice): number[] {
  const out = [Math.max(device.eraseSize, CONTROL_BYTES)];
  for (let e = CONTROL_BYTES; e <= device.size / 2; e *= 2) if (!out.includes(e)) out.push(e);
  return out;
}

interface ControlState {
  block: ControlBlock | null;
  /** Which copy won (0 = A, 1 = B). */
  which: 0 | 1;
  errors: [string | null, string | null];
}

function tryDecode(buf: Uint8Array, deviceSize: number): ControlBlock | string {
  try {
    return decodeControlBlock(buf, deviceSize);
  } catch (err) {
    if (err instanceof SyntaxError || err instanceof RangeError) return err.message;
    throw err;
  }
}

/** Read copy A, then copy B where A says it is (or, A being bad, where it can be). */
function readControl(device: BlockDevice): ControlState {
  if (device.size < 2 * CONTROL_BYTES) return { block: null, which: 0, errors: ["device too small", "device too small"] };
  const a = tryDecode(readExact(device, 0, CONTROL_BYTES), device.size);
  const candidates = typeof a === "string" ? copyBCandidates(device) : [a.layout.controlOffsets[1]];
  let b: ControlBlock | string = "no valid copy";
  for (const offset of candidates) {
    if (offset + CONTROL_BYTES > device.size) continue;
    b = tryDecode(readExact(device, offset, CONTROL_BYTES), device.size);
    if (typeof b !== "string" && b.layout.controlOffsets[1] !== offset) b = `misplaced copy at ${offset}`;
    if (typeof b !== "string") break;
  }
  const errors: [string | null, string | null] = [typeof a === "string" ? a : null, typeof b === "string" ? b : null];
  if (typeof a !== "string" && (typeof b === "string" || a.generation >= b.generation)) return { block: a, which: 0, errors };
  if (typeof b !== "string") return { block: b, which: 1, errors };
  return { block: null, which: 0, errors };
}

function requireControl(journal: Journal, verb: string): ControlState & { block: ControlBlock } {
  const state = readControl(journal.device);
  if (state.block === null) throw new Error(`Cannot ${verb} "${journal.device.path}": the journal is not formatted (or memory was not retained)`);
  return state as ControlState & { block: ControlBlock };
}

/** The current control block (no lock: callers inside withJournalLock); throws when not formatted. */
export function readControlBlock(journal: Journal, verb: string): ControlBlock {
  return requireControl(journal, verb).block;
}

/**
 * Write both copies, the one that did not win first, each with the new
 * generation: a torn first write leaves the old winner, a torn second
 * leaves the first, and afterwards both agree so one bit flip is outvoted.
 */
function writeControl(device: BlockDevice, state: ControlState, next: ControlBlock): ControlBlock {
  const block = { ...next, generation: (state.block?.generation ?? 0) + 1 };
  const bytes = encodeControlBlock(block);
  const offsets = block.layout.controlOffsets;
  const first = state.which === 0 ? 1 : 0;
  device.writeAt(bytes, offsets[first]);
  device.writeAt(bytes, offsets[first === 0 ? 1 : 0]);
  return block;
}

function updateControl(journal: Journal, verb: string, change: (block: ControlBlock) => ControlBlock): ControlBlock {
  return withJournalLock(journal, () => {
    const state = requireControl(journal, verb);
    const written = writeControl(journal.device, state, change(state.block));
    journal.device.sync();
    return written;
  });
}

export interface FormatOptions extends LayoutOptions, JournalOptions {
  /** Boot id of the running boot (becomes the current boot). */
  bootId?: string;
  timeMs?: number;
}

/**
 * Erase DEVICE and write an empty journal laid out for its size: log area
 * headers first, both control block copies last, so an interrupted format
 * reads as "not retained" and is simply redone.
 */
export function formatJournal(device: BlockDevice, options: FormatOptions = {}): ControlBlock {
  const layout = computeLayout(device.size, device.eraseSize, options);
  const logs = options.logs ?? DEFAULT_LOGS;
  const journal = openJournal(device, options);
  const timeMs = options.timeMs ?? Date.now();
  const bootId = options.bootId ?? UNKNOWN_BOOT_ID;
  return withJournalLock(journal, () => {
    const erased = new Uint8Array(Math.min(FORMAT_CHUNK_BYTES, device.size)).fill(0xff);
    for (let at = 0; at < device.size; at += erased.length) {
      device.writeAt(erased.subarray(0, Math.min(erased.length, device.size - at)), at);
    }
    let formatId = 0;
    // Web Crypto, not node:crypto: loading that module costs more than the whole boot hook's own work.
    while (formatId === 0) formatId = crypto.getRandomValues(new Uint32Array(1))[0] ?? 0;
    layout.logs.forEach((area, areaIndex) => {
      const header = encodeLogHeader({ ...emptyLogHeader({ areaIndex, formatId, timeMs, bootId, path: logs[areaIndex]?.path ?? "" }), generation: 1 });
      device.writeAt(header, headerOffset(area, 0));
    });
    const block: ControlBlock = {
      generation: 0,
      formatId,
      layout,
      bootCounter: 1,
      currentBootId: bootId,
      previousBootId: UNKNOWN_BOOT_ID,
      bootStartMs: timeMs,
      cleanShutdownMs: null,
      nextSeq: 1,
      collectedSeq: 0,
      notedReason: null,
    };
    const written = writeControl(device, { block: null, which: 1, errors: [null, null] }, block);
    device.sync();
    return written;
  });
}

export interface JournalRecord extends RecordHeader {
  slot: number;
  /** The payload, inflated when it was stored compressed. */
  payload: Uint8Array;
  /** seq ≤ the control block's collected watermark. */
  collected: boolean;
}

export interface JournalView {
  /** false after a cold boot: no valid control block (random or zeroed RAM), or a never-formatted device. */
  retained: boolean;
  /** Why copies A and B were rejected (null per valid copy). */
  controlErrors: [string | null, string | null];
  control: ControlBlock | null;
  /** Valid records, oldest (lowest seq) first. */
  records: JournalRecord[];
  /** Slots with a record magic whose header or payload failed its checks. */
  corruptRecords: number;
  logs: LogTail[];
}

/** Check one slot; returns the record, "empty" or "corrupt". */
function parseSlot(slotBytes: Uint8Array, slot: number, control: ControlBlock): JournalRecord | "empty" | "corrupt" {
  if (!hasRecordMagic(slotBytes)) return "empty";
  let header: RecordHeader;
  try {
    header = decodeRecordHeader(slotBytes);
  } catch (err) {
    if (err instanceof SyntaxError || err instanceof RangeError) return "corrupt";
    throw err;
  }
  // A whole record of an earlier format is stale, not corrupt: format only erases what it must.
  if (header.formatId !== control.formatId) return "empty";
  const { slotCount, slotBytes: size } = control.layout;
  if (header.seq % slotCount !== slot || header.storedLength > size - RECORD_HEADER_BYTES) return "corrupt";
  const stored = slotBytes.subarray(RECORD_HEADER_BYTES, RECORD_HEADER_BYTES + header.storedLength);
  if (crc32(stored) !== header.payloadCrc) return "corrupt";
  let payload: Uint8Array = stored;
  if (header.flags & FLAG_DEFLATE) {
    if (header.rawLength > MAX_RECORD_RAW_BYTES) return "corrupt";
    try {
      payload = new Uint8Array(zlib().inflateRawSync(stored, { maxOutputLength: MAX_RECORD_RAW_BYTES }));
    } catch {
      return "corrupt";
    }
    if (payload.length !== header.rawLength) return "corrupt";
  } else if (header.rawLength !== header.storedLength) {
    return "corrupt";
  }
  return { ...header, slot, payload: payload.slice(), collected: header.seq <= control.collectedSeq };
}

/**
 * Parse a whole-device image (one pass of reads). A pure function of the
 * bytes: no valid control block means "not retained" and nothing else is
 * believed, so random or zeroed RAM never yields records.
 */
export function parseJournal(image: Uint8Array): JournalView {
  const size = image.length;
  const fakeDevice: BlockDevice = {
    path: "(image)",
    kind: "file",
    size,
    eraseSize: 4096,
    writable: false,
    readAt(buf, position) {
      const part = image.subarray(position, Math.min(size, position + buf.length));
      buf.set(part);
      return part.length;
    },
    writeAt() {
      throw new Error("Cannot write a journal image");
    },
    sync() {},
    close() {},
  };
  const state = readControl(fakeDevice);
  const control = state.block;
  if (control === null) return { retained: false, controlErrors: state.errors, control: null, records: [], corruptRecords: 0, logs: [] };
  const { layout } = control;
  const records: JournalRecord[] = [];
  let corruptRecords = 0;
  for (let slot = 0; slot < layout.slotCount; slot++) {
    const start = layout.ringOffset + slot * layout.slotBytes;
    const result = parseSlot(image.subarray(start, start + layout.slotBytes), slot, control);
    if (result === "corrupt") corruptRecords++;
    else if (result !== "empty") records.push(result);
  }
  records.sort((x, y) => x.seq - y.seq);
  const logs = layout.logs.map((area, i) => parseLogArea(image.subarray(area.offset, area.offset + area.bytes), { area, areaIndex: i, formatId: control.formatId }));
  return { retained: true, controlErrors: state.errors, control, records, corruptRecords, logs };
}

/**
 * Read what the journal holds, in one forward pass over the device, and
 * parse it (see parseJournal). Only the parts parseJournal looks at are
 * read: the control copies, each slot's header (and the whole slot when it
 * carries a record magic), the log areas. phram is mapped uncached
 * (ioremap), so reading all 8 MiB cost 330 ms in the QEMU guest at boot;
 * the rest of the image stays zero, which parseJournal never looks at.
 */
export function readJournal(journal: Journal): JournalView {
  const device = journal.device;
  const state = readControl(device);
  if (state.block === null) return { retained: false, controlErrors: state.errors, control: null, records: [], corruptRecords: 0, logs: [] };
  const { layout } = state.block;
  const image = new Uint8Array(device.size);
  const copy = (offset: number, length: number): Uint8Array => {
    const bytes = readExact(device, offset, Math.min(length, device.size - offset));
    image.set(bytes, offset);
    return bytes;
  };
  for (const offset of layout.controlOffsets) copy(offset, CONTROL_BYTES);
  for (const area of layout.logs) copy(area.offset, area.bytes);
  // One header buffer for every slot (hundreds of them), backed by its own
  // ArrayBuffer: a fresh small Uint8Array per slot, then .buffer for its
  // DataView, made JSC copy each one into a new ArrayBuffer. A slot without
  // a record magic stays zero in the image, which parseSlot reads as empty.
  const head = new Uint8Array(new ArrayBuffer(RECORD_HEADER_BYTES));
  for (let slot = 0; slot < layout.slotCount; slot++) {
    const start = layout.ringOffset + slot * layout.slotBytes;
    const n = device.readAt(head, start);
    if (n !== RECORD_HEADER_BYTES) throw new RangeError(`Cannot read "${device.path}": ${n} of ${RECORD_HEADER_BYTES} bytes at ${start}`);
    if (hasRecordMagic(head)) copy(start, layout.slotBytes);
  }
  return parseJournal(image);
}

/**
 * What the boot hook needs: the control block, the log areas and the
 * records not yet collected, reading only the ring slots where such records
 * can be. Appends take consecutive sequence numbers (nextSequence), so the
 * uncollected records sit in the slots of seq collectedSeq + 1, + 2, ...:
 * the walk reads them in that order and stops at the first slot without a
 * newer record once it has passed the control block's nextSeq hint (a record
 * written after the hint was saved, a torn update, is still found; a corrupt
 * slot is counted and walked past). At most one walk round the ring; with
 * nothing to collect that is one slot header instead of every slot's (a
 * read each: hundreds of reads and about a third of `crashkeep init`'s
 * instructions, docs/BENCHMARKS.md "init"). Records already collected are
 * not read: `records` holds the uncollected ones, and `corruptRecords`
 * counts corrupt slots among those walked. dump and status read everything
 * (readJournal).
 */
export function readUncollected(journal: Journal): JournalView {
  const device = journal.device;
  const state = readControl(device);
  const control = state.block;
  if (control === null) return { retained: false, controlErrors: state.errors, control: null, records: [], corruptRecords: 0, logs: [] };
  const { layout } = control;
  const logs = layout.logs.map((area, i) => parseLogArea(readExact(device, area.offset, area.bytes), { area, areaIndex: i, formatId: control.formatId }));
  const records: JournalRecord[] = [];
  let corruptRecords = 0;
  const first = control.collectedSeq + 1;
  const hint = Math.max(control.nextSeq, first);
  // One header buffer for every slot walked (see readJournal).
  const head = new Uint8Array(new ArrayBuffer(RECORD_HEADER_BYTES));
  for (let i = 0; i < layout.slotCount; i++) {
    const seq = first + i;
    const slot = seq % layout.slotCount;
    const start = layout.ringOffset + slot * layout.slotBytes;
    const n = device.readAt(head, start);
    if (n !== RECORD_HEADER_BYTES) throw new RangeError(`Cannot read "${device.path}": ${n} of ${RECORD_HEADER_BYTES} bytes at ${start}`);
    let newer = false;
    if (hasRecordMagic(head)) {
      const result = parseSlot(readExact(device, start, Math.min(layout.slotBytes, device.size - start)), slot, control);
      if (result === "corrupt") {
        corruptRecords++;
        newer = true;
      } else if (result !== "empty" && !result.collected) {
        records.push(result);
        newer = true;
      }
    }
    if (!newer && seq >= hint) break;
  }
  records.sort((x, y) => x.seq - y.seq);
  return { retained: true, controlErrors: state.errors, control, records, corruptRecords, logs };
}

export interface AppendOptions {
  timeMs?: number;
  /** Boot id stamped on the record; default: the control block's current boot. */
  bootId?: string;
  /** "auto" (default): deflate when it makes the payload smaller. */
  compress?: "auto" | "never";
  /** Also set the noted reboot reason, in the same control update. */
  notedReason?: string;
  /**
   * Called under the lock with the record's place before the first write to
   * the device; a throw aborts the append. A caller that must later tell
   * whether an interrupted or failed append reached the device keeps the
   * place (see recordAt).
   */
  beforeWrite?: (place: RecordPlace) => void;
}

/** Where a record goes: its sequence number in the journal of one format. */
export interface RecordPlace {
  seq: number;
  formatId: number;
}

export interface AppendResult {
  seq: number;
  slot: number;
  storedLength: number;
  /** The record this one overwrote (the oldest), if the slot held one. */
  evicted: { seq: number; collected: boolean } | null;
}

/**
 * The sequence number to write next: the control block's hint, moved past
 * any record written after the hint was saved (a torn update between the
 * record and the control block).
 */
function nextSequence(device: BlockDevice, control: ControlBlock): { seq: number; evicted: AppendResult["evicted"] } {
  const { slotCount, slotBytes, ringOffset } = control.layout;
  let seq = Math.max(control.nextSeq, control.collectedSeq + 1, 1);
  for (let i = 0; i <= slotCount; i++) {
    const slot = seq % slotCount;
    const head = readExact(device, ringOffset + slot * slotBytes, RECORD_HEADER_BYTES);
    let found: RecordHeader | null = null;
    if (hasRecordMagic(head)) {
      try {
        found = decodeRecordHeader(head);
      } catch {
        found = null;
      }
    }
    if (found === null || found.formatId !== control.formatId) return { seq, evicted: null };
    if (found.seq < seq) return { seq, evicted: { seq: found.seq, collected: found.seq <= control.collectedSeq } };
    seq = found.seq + 1;
  }
  return { seq, evicted: null };
}

export interface NewRecord {
  kind: KnownRecordKind;
  payload: Uint8Array;
}

/**
 * Append one record to the ring, overwriting the oldest slot. Order: zero
 * the slot's magic, write header body and payload, write the magic — each
 * step a separate write, so a write torn anywhere leaves the slot empty or
 * holding the whole new record. Throws RangeError when the payload does not
 * fit a slot even compressed.
 */
export function appendRecord(journal: Journal, record: NewRecord, options: AppendOptions = {}): AppendResult {
  const { kind, payload } = record;
  const timeMs = options.timeMs ?? Date.now();
  let stored = payload;
  let flags = 0;
  if ((options.compress ?? "auto") === "auto" && payload.length >= COMPRESS_MIN_BYTES) {
    const packed = new Uint8Array(zlib().deflateRawSync(payload));
    if (packed.length < payload.length) {
      stored = packed;
      flags |= FLAG_DEFLATE;
    }
  }
  return withJournalLock(journal, () => {
    const device = journal.device;
    const state = requireControl(journal, "append to journal");
    const control = state.block;
    const { slotBytes, slotCount, ringOffset } = control.layout;
    const room = slotBytes - RECORD_HEADER_BYTES;
    if (stored.length > room) {
      throw new RangeError(`Cannot append ${kind} record: ${stored.length} bytes (after compression) exceed the ${room}-byte slot payload`);
    }
    const { seq, evicted } = nextSequence(device, control);
    const slot = seq % slotCount;
    const at = ringOffset + slot * slotBytes;
    options.beforeWrite?.({ seq, formatId: control.formatId });
    const header = encodeRecordHeader({
      kindCode: kindCode(kind),
      flags,
      seq,
      formatId: control.formatId,
      bootCounter: control.bootCounter,
      bootId: options.bootId ?? control.currentBootId,
      timeMs,
      storedLength: stored.length,
      rawLength: payload.length,
      payloadCrc: crc32(stored),
    });
    device.writeAt(new Uint8Array(RECORD_MAGIC_BYTES), at);
    const body = new Uint8Array(RECORD_HEADER_BYTES + stored.length);
    body.set(header.subarray(RECORD_MAGIC_BYTES), RECORD_MAGIC_BYTES);
    body.set(stored, RECORD_HEADER_BYTES);
    device.writeAt(body, at);
    device.writeAt(header.subarray(0, RECORD_MAGIC_BYTES), at);
    const notedReason: NotedReason | null = options.notedReason === undefined ? control.notedReason : { text: options.notedReason, timeMs };
    writeControl(device, state, { ...control, nextSeq: seq + 1, notedReason });
    device.sync();
    return { seq, slot, storedLength: stored.length, evicted };
  });
}

/**
 * The record at `place` when the journal still holds it there: one read of
 * the control block and of that record's slot, no scan. undefined after a
 * format (another format id), when the slot is empty or corrupt, or when a
 * newer record took the slot.
 */
export function recordAt(journal: Journal, place: RecordPlace): JournalRecord | undefined {
  const control = readControl(journal.device).block;
  if (control === null || control.formatId !== place.formatId) return undefined;
  const { slotBytes, slotCount, ringOffset } = control.layout;
  const slot = place.seq % slotCount;
  const start = ringOffset + slot * slotBytes;
  const result = parseSlot(readExact(journal.device, start, slotBytes), slot, control);
  return typeof result === "object" && result.seq === place.seq ? result : undefined;
}

/** Set (or replace) the noted reboot reason of the running boot. */
export function setNotedReason(journal: Journal, text: string, options: { timeMs?: number } = {}): ControlBlock {
  const timeMs = options.timeMs ?? Date.now();
  return updateControl(journal, "note reboot reason in", (b) => ({ ...b, notedReason: { text, timeMs } }));
}

/** Write the clean-shutdown marker (`crashkeep shutdown`). */
export function markCleanShutdown(journal: Journal, options: { timeMs?: number } = {}): ControlBlock {
  const timeMs = options.timeMs ?? Date.now();
  return updateControl(journal, "mark clean shutdown in", (b) => ({ ...b, cleanShutdownMs: timeMs }));
}

/**
 * Start a new boot (boot hook, after collecting the previous one): bump the
 * boot counter, shift the current boot id to previous, clear the
 * clean-shutdown marker and the noted reason. Idempotent within one boot: if
 * the journal's current boot already is `bootId` (init run twice), nothing
 * changes, so a re-run cannot erase the previous boot's id or this boot's
 * marker and reason.
 */
export function startNewBoot(journal: Journal, options: { bootId: string; timeMs?: number }): ControlBlock {
  const timeMs = options.timeMs ?? Date.now();
  return withJournalLock(journal, () => {
    const state = requireControl(journal, "start a new boot in");
    const b = state.block;
    if (options.bootId !== UNKNOWN_BOOT_ID && b.currentBootId === options.bootId) return b;
    const written = writeControl(journal.device, state, {
      ...b,
      bootCounter: (b.bootCounter + 1) >>> 0,
      previousBootId: b.currentBootId,
      currentBootId: options.bootId,
      bootStartMs: timeMs,
      cleanShutdownMs: null,
      notedReason: null,
    });
    journal.device.sync();
    return written;
  });
}

/** Mark every record with seq ≤ throughSeq as collected (archived); the watermark never moves back. */
export function markCollected(journal: Journal, throughSeq: number): ControlBlock {
  return updateControl(journal, "mark records collected in", (b) => ({ ...b, collectedSeq: Math.max(b.collectedSeq, throughSeq) }));
}

/** The stored layout, or null when the journal is not retained. */
export function storedLayout(journal: Journal): JournalLayout | null {
  return readControl(journal.device).block?.layout ?? null;
}

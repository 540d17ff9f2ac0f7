// Mirroring a log file's new bytes into its log area (docs/FORMAT.md "Log
// areas"). Called by the watch daemon every intervalSeconds; reads only the
// bytes the source gained since the last call and writes only the blocks
// they touch, so the cost is O(new bytes), never O(area).
import { closeSync, fstatSync, openSync, readSync } from "node:fs";
import type { BlockDevice } from "../copy/block-device.ts";
import type { ControlBlock } from "./control-block.ts";
import { LOG_BLOCK_BYTES, type LogAreaLayout } from "./layout.ts";
import {
  LOG_DATA_BYTES,
  LOG_HEADER_BYTES,
  LOG_TRAILER_BYTES,
  blockOffset,
  chooseLogHeader,
  dataBlocks,
  emptyLogHeader,
  decodeLogTrailer,
  encodeLogHeader,
  encodeLogTrailer,
  headerOffset,
  logCapacity,
  type LogHeader,
} from "./log-area.ts";
import { readControlBlock, readExact, withJournalLock, type Journal } from "./journal.ts";
import { errorCode } from "../system/read-bounded.ts";

export interface MirrorOptions {
  timeMs?: number;
  /** Boot id stamped on the area header; default: the control block's current boot. */
  bootId?: string;
}

export interface MirrorResult {
  /** Source bytes appended to the area by this call. */
  appendedBytes: number;
  /** New source bytes not mirrored because they exceed the area (only the newest fit). */
  skippedBytes: number;
  /** The source was replaced (other dev/inode) or truncated since the last call. */
  rotated: boolean;
  /** The source does not exist (yet); nothing changed. */
  sourceMissing: boolean;
}

/** Append state kept across the steps of one call. */
interface AreaCursor {
  header: LogHeader;
  /** Header copy to write next (the one that is not current). */
  nextCopy: 0 | 1;
}

/** Commit the head: write the header copy that is not current (the current one survives a torn write). */
function commitHeader(device: BlockDevice, area: LogAreaLayout, cursor: AreaCursor): void {
  const header = { ...cursor.header, generation: cursor.header.generation + 1 };
  device.writeAt(encodeLogHeader(header), headerOffset(area, cursor.nextCopy));
  cursor.header = header;
  cursor.nextCopy = cursor.nextCopy === 0 ? 1 : 0;
}

/**
 * Write `data` at the stream head: fill the head block, then whole new
 * blocks, committing the header after each block so that an append only
 * ever overwrites the spare block outside the trusted window.
 */
function appendStream(device: BlockDevice, area: LogAreaLayout, formatId: number, cursor: AreaCursor, data: Uint8Array): void {
  const n = dataBlocks(area);
  let done = 0;
  while (done < data.length) {
    const head = cursor.header.head;
    const logical = Math.floor(head / LOG_DATA_BYTES);
    const inBlock = head % LOG_DATA_BYTES;
    const at = blockOffset(area, logical % n);
    if (inBlock === 0) {
      // A new block: data, trailer 0, trailer 1 zeroed, in one block-sized write.
      const chunk = data.subarray(done, done + LOG_DATA_BYTES);
      const block = new Uint8Array(LOG_BLOCK_BYTES);
      block.set(chunk);
      block.set(encodeLogTrailer(block, { index: logical, used: chunk.length, formatId }), LOG_DATA_BYTES);
      device.writeAt(block, at);
      done += chunk.length;
      cursor.header = { ...cursor.header, head: head + chunk.length, sourceOffset: cursor.header.sourceOffset + chunk.length };
    } else {
      const block = readExact(device, at, LOG_BLOCK_BYTES);
      const trailers = ([0, 1] as const).map((w) => decodeLogTrailer(block, { which: w, formatId }));
      const covers = (w: 0 | 1, exact: boolean): boolean => {
        const t = trailers[w];
        return t !== null && t !== undefined && t.index === logical && (exact ? t.used === inBlock : t.used > inBlock);
      };
      let current = ([0, 1] as const).find((w) => covers(w, true));
      if (current === undefined) {
        const longer = ([0, 1] as const).find((w) => covers(w, false));
        if (longer === undefined) {
          // The committed part of the head block is damaged (a bit flip): never
          // seal damaged bytes under a fresh CRC; leave the gap and start a new block.
          cursor.header = { ...cursor.header, head: (logical + 1) * LOG_DATA_BYTES };
          commitHeader(device, area, cursor);
          continue;
        }
        // Only a trailer from a torn, uncommitted append covers the committed
        // bytes, and it also covers bytes about to change: first seal exactly
        // the committed prefix in the other trailer slot.
        current = longer === 0 ? 1 : 0;
        device.writeAt(encodeLogTrailer(block, { index: logical, used: inBlock, formatId }), at + LOG_DATA_BYTES + current * LOG_TRAILER_BYTES);
      }
      const chunk = data.subarray(done, done + LOG_DATA_BYTES - inBlock);
      block.set(chunk, inBlock);
      const used = inBlock + chunk.length;
      const other = current === 0 ? 1 : 0;
      // New bytes first (beyond the current trailer's coverage), then the other trailer.
      device.writeAt(chunk, at + inBlock);
      device.writeAt(encodeLogTrailer(block, { index: logical, used, formatId }), at + LOG_DATA_BYTES + other * LOG_TRAILER_BYTES);
      done += chunk.length;
      cursor.header = { ...cursor.header, head: head + chunk.length, sourceOffset: cursor.header.sourceOffset + chunk.length };
    }
    commitHeader(device, area, cursor);
  }
}

/** Read `length` bytes of the open source at `position` (short at EOF). */
function readSource(fd: number, position: number, length: number): Uint8Array {
  const buf = new Uint8Array(length);
  let done = 0;
  while (done < length) {
    const n = readSync(fd, buf, done, length - done, position + done);
    if (n === 0) break;
    done += n;
  }
  return buf.subarray(0, done);
}

/**
 * Mirror the bytes `source.path` gained since the last call into log area
 * `source.area`. A replaced (rotated) or truncated source is followed from its
 * start; the first call, or a burst larger than the area, keeps only the
 * newest bytes that fit. The source is read from the last offset only.
 */
export interface LogSource {
  /** Index of the log area (the order of the configured logs). */
  area: number;
  /** The log file to follow. */
  path: string;
}

export function mirrorLog(journal: Journal, source: LogSource, options: MirrorOptions = {}): MirrorResult {
  const { area: areaIndex, path: sourcePath } = source;
  let fd: number;
  try {
    fd = openSync(sourcePath, "r");
  } catch (err) {
    if (errorCode(err) === "ENOENT") return { appendedBytes: 0, skippedBytes: 0, rotated: false, sourceMissing: true };
    throw new Error(`Cannot open log "${sourcePath}": ${err instanceof Error ? err.message : String(err)}`);
  }
  try {
    return withJournalLock(journal, () => {
      // Identity and size come from the open descriptor, so they describe the
      // file actually read; taken under the lock, so another mirror that ran
      // meanwhile cannot make this size look like a truncation.
      const st = fstatSync(fd, { bigint: true });
      const size = Number(st.size);
      const device = journal.device;
      const control: ControlBlock = readControlBlock(journal, "mirror log into");
      const area = control.layout.logs[areaIndex];
      if (area === undefined) throw new Error(`Cannot mirror log "${sourcePath}": the journal has no log area ${areaIndex}`);
      const chosen = chooseLogHeader(
        [readExact(device, headerOffset(area, 0), LOG_HEADER_BYTES), readExact(device, headerOffset(area, 1), LOG_HEADER_BYTES)],
        { formatId: control.formatId, areaIndex },
      );
      const timeMs = options.timeMs ?? Date.now();
      const bootId = options.bootId ?? control.currentBootId;
      // Both header copies lost: restart the stream at 0; its first block is written whole.
      const base: LogHeader = chosen?.header ?? emptyLogHeader({ areaIndex, formatId: control.formatId, timeMs, bootId, path: sourcePath });
      const cursor: AreaCursor = { header: base, nextCopy: chosen === null ? 0 : chosen.which === 0 ? 1 : 0 };
      const fresh = base.sourceDev === 0n && base.sourceIno === 0n;
      const sameFile = base.sourceDev === st.dev && base.sourceIno === st.ino && base.path === sourcePath;
      let offset = base.sourceOffset;
      let rotated = false;
      if (fresh) {
        offset = 0;
      } else if (!sameFile || size < offset) {
        offset = 0;
        rotated = true;
      }
      const capacity = logCapacity(area);
      let skippedBytes = 0;
      if (size - offset > capacity) {
        skippedBytes = fresh ? 0 : size - offset - capacity;
        offset = size - capacity;
      }
      const data = readSource(fd, offset, size - offset);
      cursor.header = {
        ...cursor.header,
        sourceDev: st.dev,
        sourceIno: st.ino,
        sourceOffset: offset,
        timeMs,
        bootId,
        path: sourcePath,
        rotations: cursor.header.rotations + (rotated ? 1 : 0),
      };
      // Identity changes are committed with the first data step (or alone when there is no data).
      const identityChanged = fresh || rotated || chosen === null;
      if (data.length === 0) {
        if (identityChanged) commitHeader(device, area, cursor);
      } else {
        // Each committed step advances head and sourceOffset together.
        appendStream(device, area, control.formatId, cursor, data);
      }
      device.sync();
      return { appendedBytes: data.length, skippedBytes, rotated, sourceMissing: false };
    });
  } finally {
    closeSync(fd);
  }
}

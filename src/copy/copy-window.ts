// The block-aligned copier: the write-up's `dd` workflows done right.
// Copies exactly min(N, size(SRC)) bytes (the last ones with tail) to DEST at
// offset, in large blocks aligned on DEST: one head piece up to the first
// block boundary, whole blocks, one tail piece. Everything is checked before
// the first byte is written; nothing is ever written past DEST's end (the
// write-up's `count = len/bsize + 1` overran the device by one block).
import { existsSync, fstatSync, openSync, closeSync, readSync } from "node:fs";
import { openDevice, type BlockDevice } from "./block-device.ts";
import { kernelCopy } from "./kernel-copy.ts";
import type { Paths } from "../system/paths.ts";

/** Default I/O block: large enough that syscalls cost nothing next to memcpy. */
export const DEFAULT_BLOCK_BYTES = 1024 * 1024;
/** Smallest --block-size: one disk sector. */
export const MIN_BLOCK_BYTES = 512;
/** Largest --block-size: one buffer of this size is the copier's whole memory. */
export const MAX_BLOCK_BYTES = 64 * 1024 * 1024;
/**
 * Smallest copy tried in the kernel (copy_file_range, sendfile): below it,
 * loading bun:ffi costs more than the user-space buffer it saves
 * (docs/BENCHMARKS.md "copy" has the measurements).
 */
export const KERNEL_COPY_MIN_BYTES = 8 * 1024 * 1024;

export type CopyMethod = "copy_file_range" | "sendfile" | "pread/pwrite";

export interface CopyOptions {
  /** Copy the last bytes of SRC rather than the first. */
  tail?: boolean;
  /** Window length N; default size(DEST) - offset. */
  bytes?: number;
  /** Where the window starts in DEST. */
  offset?: number;
  /** I/O block size (a power of two); rounded up to a multiple of DEST's erase size. */
  blockSize?: number;
  /** Zero-fill the rest of the window after a shorter source. */
  pad?: boolean;
  /** fsync DEST when done (regular files and block devices). */
  sync?: boolean;
  /** Copies of at least this many bytes are tried in the kernel first (default KERNEL_COPY_MIN_BYTES; Infinity: never). */
  kernelCopyMinBytes?: number;
  paths?: Paths;
}

export interface CopyResult {
  source: string;
  dest: string;
  destKind: BlockDevice["kind"];
  sourceSize: number;
  /** First byte of SRC copied. */
  sourceOffset: number;
  /** Bytes of SRC copied. */
  bytes: number;
  destOffset: number;
  window: number;
  paddedBytes: number;
  blockSize: number;
  /** pwrite calls made (the kernel's own copy counts none). */
  writes: number;
  /** How the bytes of SRC moved: in the kernel, or through the aligned pread/pwrite buffer. */
  method: CopyMethod;
  /** Kernel methods passed over and why, e.g. "copy_file_range: EXDEV"; empty when none was tried or the first worked. */
  fallbacks: string[];
}

/** Throws unless requested is a power of two within the limits. */
export function checkBlockSize(requested: number): void {
  if (!Number.isSafeInteger(requested) || requested < MIN_BLOCK_BYTES || requested > MAX_BLOCK_BYTES || (requested & (requested - 1)) !== 0) {
    throw new RangeError(`Cannot use block size "${requested}": must be a power of two from ${MIN_BLOCK_BYTES} to ${MAX_BLOCK_BYTES}`);
  }
}

/** Round the requested block up to a multiple of the erase size. */
export function effectiveBlockSize(requested: number, eraseSize: number): number {
  checkBlockSize(requested);
  const erase = eraseSize > 0 ? eraseSize : 1;
  return Math.ceil(requested / erase) * erase;
}

/**
 * The pieces [position, length] that cover [start, start+length) with
 * boundaries on multiples of block: a head piece, whole blocks, a tail piece.
 */
export function alignedPieces(start: number, length: number, block: number): Array<[number, number]> {
  const pieces: Array<[number, number]> = [];
  let pos = start;
  const end = start + length;
  while (pos < end) {
    const next = Math.min(end, (Math.floor(pos / block) + 1) * block);
    pieces.push([pos, next - pos]);
    pos = next;
  }
  return pieces;
}

function openSource(path: string): { fd: number; size: number } {
  let fd: number;
  try {
    fd = openSync(path, "r");
  } catch (err) {
    const code = err instanceof Error && "code" in err ? String((err as { code: unknown }).code) : "";
    throw new Error(`Cannot read "${path}": ${code === "ENOENT" ? "no such file" : code === "EACCES" ? "permission denied" : err instanceof Error ? err.message : String(err)}`);
  }
  const st = fstatSync(fd);
  if (st.isDirectory()) {
    closeSync(fd);
    throw new Error(`Cannot read "${path}": is a directory`);
  }
  if (!st.isFile()) {
    closeSync(fd);
    throw new Error(`Cannot read "${path}": not a regular file (use a file; devices have no size to take a tail of)`);
  }
  return { fd, size: st.size };
}

export function copyWindow(source: string, dest: string, options: CopyOptions = {}): CopyResult {
  const offset = options.offset ?? 0;
  if (!Number.isSafeInteger(offset) || offset < 0) throw new RangeError(`Cannot use offset "${offset}": must be a whole number of bytes`);
  if (options.bytes !== undefined && (!Number.isSafeInteger(options.bytes) || options.bytes < 0)) {
    throw new RangeError(`Cannot use byte count "${options.bytes}": must be a whole number of bytes`);
  }
  checkBlockSize(options.blockSize ?? DEFAULT_BLOCK_BYTES);
  const src = openSource(source);
  try {
    // A regular DEST that does not exist yet is created with exactly the window.
    const create = !existsSync(dest);
    if (create && options.bytes === undefined) throw new Error(`Cannot copy to "${dest}": it does not exist; give --bytes to create it`);
    const device = openDevice(dest, { write: true, create, ...(options.paths ? { paths: options.paths } : {}) });
    try {
      const destSize = create ? offset + (options.bytes ?? 0) : device.size;
      if (offset > destSize) throw new RangeError(`Cannot copy to "${dest}": offset ${offset} is past its end (${destSize} bytes)`);
      const window = options.bytes ?? destSize - offset;
      if (offset + window > destSize) {
        throw new RangeError(`Cannot copy to "${dest}": a window of ${window} bytes at offset ${offset} does not fit in ${destSize} bytes`);
      }
      const block = effectiveBlockSize(options.blockSize ?? DEFAULT_BLOCK_BYTES, device.eraseSize);
      const count = Math.min(window, src.size);
      const sourceOffset = options.tail ? src.size - count : 0;
      const padded = options.pad ? window - count : 0;
      let method: CopyMethod = "pread/pwrite";
      let fallbacks: string[] = [];
      let done = 0;
      if (count >= (options.kernelCopyMinBytes ?? KERNEL_COPY_MIN_BYTES) && device.fd !== undefined) {
        const k = kernelCopy(src.fd, sourceOffset, device.fd, offset, count);
        fallbacks = k.fallbacks;
        done = k.bytes;
        if (k.method) method = k.method;
      }
      // The rest (all of it unless the kernel copied): aligned pread/pwrite, one buffer.
      const rest = count - done;
      const buf = new Uint8Array(Math.min(block, Math.max(rest, padded, 1)));
      let writes = 0;
      for (const [pos, len] of alignedPieces(offset + done, rest, block)) {
        const piece = buf.subarray(0, len);
        const from = sourceOffset + (pos - offset);
        let got = 0;
        while (got < len) {
          const n = readSync(src.fd, piece, got, len - got, from + got);
          if (n === 0) throw new Error(`Cannot read "${source}": it shrank during the copy (short read at ${from + got})`);
          got += n;
        }
        device.writeAt(piece, pos);
        writes++;
      }
      if (padded > 0) {
        buf.fill(0);
        for (const [pos, len] of alignedPieces(offset + count, padded, block)) {
          device.writeAt(buf.subarray(0, len), pos);
          writes++;
        }
      }
      if (options.sync) device.sync();
      return {
        source, dest, destKind: device.kind, sourceSize: src.size, sourceOffset, bytes: count,
        destOffset: offset, window, paddedBytes: padded, blockSize: block, writes, method, fallbacks,
      };
    } finally {
      device.close();
    }
  } finally {
    closeSync(src.fd);
  }
}

// The raw device forms that stay beside the journal-aware commands: read the
// whole device in one pass (dd if=DEV bs=LEN count=1) and zero it in aligned
// blocks (dd if=/dev/zero of=DEV).
import { writeSync } from "node:fs";
import { openDevice } from "./block-device.ts";
import { alignedPieces, effectiveBlockSize, DEFAULT_BLOCK_BYTES } from "./copy-window.ts";
import type { Paths } from "../system/paths.ts";

export interface RawOptions {
  bytes?: number;
  blockSize?: number;
  paths?: Paths;
}

/** Stream the first `bytes` (default all) of DEVICE to file descriptor fd. */
export function dumpRaw(path: string, fd: number, options: RawOptions = {}): number {
  const device = openDevice(path, options.paths ? { paths: options.paths } : {});
  try {
    const total = Math.min(options.bytes ?? device.size, device.size);
    const block = effectiveBlockSize(options.blockSize ?? DEFAULT_BLOCK_BYTES, device.eraseSize);
    const buf = new Uint8Array(Math.min(block, Math.max(total, 1)));
    let done = 0;
    for (const [pos, len] of alignedPieces(0, total, block)) {
      const n = device.readAt(buf.subarray(0, len), pos);
      let out = 0;
      while (out < n) out += writeSync(fd, buf, out, n - out);
      done += n;
      if (n < len) break;
    }
    return done;
  } finally {
    device.close();
  }
}

/** Zero DEVICE (or its first `bytes`) in aligned blocks; returns the bytes zeroed. */
export function zeroDevice(path: string, options: RawOptions = {}): number {
  const device = openDevice(path, { write: true, ...(options.paths ? { paths: options.paths } : {}) });
  try {
    const total = Math.min(options.bytes ?? device.size, device.size);
    const block = effectiveBlockSize(options.blockSize ?? DEFAULT_BLOCK_BYTES, device.eraseSize);
    const zeros = new Uint8Array(Math.min(block, Math.max(total, 1)));
    for (const [pos, len] of alignedPieces(0, total, block)) device.writeAt(zeros.subarray(0, len), pos);
    device.sync();
    return total;
  } finally {
    device.close();
  }
}

// How a debug file is read: positional reads of the ranges asked for, never
// the whole file (a libc debug file is 4 MiB, a C++ program's can pass 100 MiB).
// Not Bun.mmap: it opens the file O_RDWR, which fails on a read-only
// filesystem and makes exec(2) of a mapped executable fail with ETXTBSY
// (fs/exec.c deny_write_access) while it is open (see src/core/source.ts).
import { closeSync, fstatSync, readSync } from "node:fs";
import { openForReading } from "../core/source.ts";

export interface ByteSource {
  readonly size: number;
  /** Bytes [offset, offset + length) clipped to the end of the source (shorter, possibly empty, past it). */
  read(offset: number, length: number): Uint8Array;
  /** Optional: bytes at offset into target (as many as fit and exist); their count. Lets a reader reuse one buffer. */
  readInto?(offset: number, target: Uint8Array): number;
  close?(): void;
}

/** Largest single read: a caller asking for more is hostile or confused (a .debug_info CU is < 64 MiB). */
export const MAX_READ_BYTES = 256 * 1024 * 1024;

/** A file read with pread(2); throws an Error "cannot open it (...)" when it cannot be opened. */
export function fileSource(path: string): ByteSource {
  const fd = openForReading(path);
  let size: number;
  try {
    size = fstatSync(fd).size;
  } catch (err) {
    closeSync(fd);
    throw new Error(`cannot stat it (${(err as { code?: string }).code ?? String(err)})`);
  }
  let closed = false;
  const readInto = (offset: number, target: Uint8Array): number => {
    const [at, n] = clip(size, offset, target.length);
    if (closed) throw new RangeError(`Cannot read "${path}": closed`);
    let got = 0;
    while (got < n) {
      const r = readSync(fd, target, got, n - got, at + got);
      if (r <= 0) break;
      got += r;
    }
    return got;
  };
  return {
    size,
    read(offset: number, length: number): Uint8Array {
      const [, n] = clip(size, offset, length);
      const buf = new Uint8Array(n);
      const got = readInto(offset, buf);
      return got === n ? buf : buf.subarray(0, got);
    },
    readInto,
    close(): void {
      if (!closed) closeSync(fd);
      closed = true;
    },
  };
}

/** Bytes already in memory (tests, fuzzing, a debug file fetched whole). */
export function bytesSource(bytes: Uint8Array): ByteSource {
  return {
    size: bytes.length,
    read(offset: number, length: number): Uint8Array {
      const [at, n] = clip(bytes.length, offset, length);
      return bytes.subarray(at, at + n);
    },
  };
}

function clip(size: number, offset: number, length: number): [number, number] {
  if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0) {
    throw new RangeError(`Cannot read ${length} bytes at offset ${offset}: not a valid range`);
  }
  if (length > MAX_READ_BYTES) throw new RangeError(`Cannot read ${length} bytes at offset ${offset}: over ${MAX_READ_BYTES}`);
  if (offset >= size) return [offset, 0];
  return [offset, Math.min(length, size - offset)];
}

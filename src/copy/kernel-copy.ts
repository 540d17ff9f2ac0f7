// In-kernel copies between file descriptors, without a user-space buffer:
// copy_file_range(2) (regular file to regular file), else sendfile(2) (to a
// regular file or a block device; since Linux 5.10 only to files whose
// driver has splice_write, which mtdchar lacks). Reached through bun:ffi
// from the C library the process already has loaded (glibc's libc.so.6; on
// musl every "libc.*" name is the loader itself). Anything unavailable (no
// bun:ffi, no symbol, ENOSYS, EXDEV, EINVAL, EOPNOTSUPP before the first
// byte) returns how far it got, and the caller copies the rest with
// pread/pwrite.
//
// bun:ffi is loaded on first use only: it costs about 1M instructions at
// start-up (a Bun hello-world is 3.6M, callgrind), paid back only by large
// copies (see copy-window.ts KERNEL_COPY_MIN_BYTES).

export type KernelCopyMethod = "copy_file_range" | "sendfile";

export interface KernelCopyResult {
  /** Bytes copied by the kernel (0 when neither call could start). */
  bytes: number;
  method: KernelCopyMethod | undefined;
  /** Why each method was passed over, e.g. "copy_file_range: EXDEV". */
  fallbacks: string[];
}

/** errno values (asm-generic/errno-base.h, errno.h; the same on x86_64 and aarch64). */
const ERRNO: Readonly<Record<number, string>> = { 1: "EPERM", 4: "EINTR", 5: "EIO", 9: "EBADF", 11: "EAGAIN", 18: "EXDEV", 22: "EINVAL", 27: "EFBIG", 28: "ENOSPC", 38: "ENOSYS", 95: "EOPNOTSUPP" };
/** A failure before the first byte that means "not for this pair of files": fall back. */
const UNSUPPORTED = new Set(["ENOSYS", "EXDEV", "EINVAL", "EOPNOTSUPP", "EPERM", "EBADF"]);
const EINTR = 4;
/** SEEK_SET (unistd.h). */
const SEEK_SET = 0;
/** Largest count per call: the kernel caps one call at MAX_RW_COUNT (INT_MAX & PAGE_MASK) anyway. */
const MAX_CHUNK_BYTES = 1 << 30;
/** The C library's name, tried in order: glibc, then musl (which maps any libc.* to itself). */
const LIBC_NAMES = ["libc.so.6", "libc.so"];

type Ffi = typeof import("bun:ffi");

interface Libc {
  ffi: Ffi;
  call(method: KernelCopyMethod, inFd: number, outFd: number, offsets: BigInt64Array, length: number): number;
  errno(): number;
}

let libc: Libc | null | undefined;

function loadLibc(): Libc | null {
  if (libc !== undefined) return libc;
  libc = null;
  let ffi: Ffi;
  try {
    ffi = require("bun:ffi") as Ffi;
  } catch {
    return null;
  }
  const { FFIType } = ffi;
  for (const name of LIBC_NAMES) {
    try {
      const lib = ffi.dlopen(name, {
        copy_file_range: { args: [FFIType.i32, FFIType.ptr, FFIType.i32, FFIType.ptr, FFIType.u64, FFIType.u32], returns: FFIType.i64 },
        __errno_location: { args: [], returns: FFIType.ptr },
      });
      const s = lib.symbols;
      let more: { sendfile(out: number, inFd: number, off: unknown, n: number): number | bigint; lseek(fd: number, off: number, whence: number): number | bigint } | undefined;
      const sendfileSymbols = () => {
        // Second stub set only when copy_file_range could not be used.
        more ??= ffi.dlopen(name, {
          sendfile: { args: [FFIType.i32, FFIType.i32, FFIType.ptr, FFIType.u64], returns: FFIType.i64 },
          lseek: { args: [FFIType.i32, FFIType.i64, FFIType.i32], returns: FFIType.i64 },
        }).symbols as unknown as NonNullable<typeof more>;
        return more;
      };
      libc = {
        ffi,
        call(method, inFd, outFd, offsets, length) {
          const inOff = ffi.ptr(offsets, 0);
          if (method === "copy_file_range") return Number(s.copy_file_range(inFd, inOff, outFd, ffi.ptr(offsets, 8), length, 0));
          const m = sendfileSymbols();
          // sendfile writes at the output's file position.
          if (Number(m.lseek(outFd, Number(offsets[1]), SEEK_SET)) < 0) return -1;
          const n = Number(m.sendfile(outFd, inFd, inOff, length));
          if (n > 0) offsets[1] = (offsets[1] ?? 0n) + BigInt(n);
          return n;
        },
        errno() {
          const p = s.__errno_location();
          return p === null ? 0 : ffi.read.i32(p, 0);
        },
      };
      return libc;
    } catch {
      // not this name (or no ffi on this platform)
    }
  }
  return null;
}

function errnoName(e: number): string {
  return ERRNO[e] ?? `errno ${e}`;
}

/**
 * Copy `length` bytes from inFd at inOffset to outFd at outOffset in the
 * kernel. Returns the bytes done; the caller copies the rest. Throws only on
 * an I/O error after bytes have moved (the same failure pwrite would meet).
 */
export function kernelCopy(inFd: number, inOffset: number, outFd: number, outOffset: number, length: number): KernelCopyResult {
  const fallbacks: string[] = [];
  const lib = loadLibc();
  if (lib === null) return { bytes: 0, method: undefined, fallbacks: ["bun:ffi or the C library unavailable"] };
  for (const method of ["copy_file_range", "sendfile"] as const) {
    const offsets = new BigInt64Array([BigInt(inOffset), BigInt(outOffset)]);
    let done = 0;
    while (done < length) {
      const n = lib.call(method, inFd, outFd, offsets, Math.min(length - done, MAX_CHUNK_BYTES));
      if (n > 0) {
        done += n;
        continue;
      }
      if (n === 0) break; // source shorter than expected: the caller's pread finds out and says so
      const e = lib.errno();
      if (e === EINTR) continue;
      const name = errnoName(e);
      if (done === 0 && UNSUPPORTED.has(name)) {
        fallbacks.push(`${method}: ${name}`);
        break;
      }
      throw new Error(`${method} failed after ${done} bytes: ${name}`);
    }
    if (done > 0) return { bytes: done, method, fallbacks };
  }
  return { bytes: 0, method: undefined, fallbacks };
}

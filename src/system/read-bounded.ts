// A system call's error code, and a small file (config, PEM, token, password)
// read whole but never past its limit: one wording for why it could not be
// read, whichever command reads it.
import { closeSync, fstatSync, openSync, readSync } from "node:fs";

/** The errno name of a failed system call ("ENOENT"...), or undefined. */
export function errorCode(err: unknown): string | undefined {
  return err instanceof Error && "code" in err ? String((err as { code: unknown }).code) : undefined;
}

/** Why a file could not be read: `reason` is what follows "Cannot read ... : ". */
export class FileReadError extends Error {
  override name = "FileReadError";
  constructor(
    /** "no such file", "permission denied", "larger than N bytes", or the system's message. */
    readonly reason: string,
    /** The errno name, or "EFBIG" for a file over the limit. */
    readonly code: string | undefined,
    /** The file's size when it was over the limit (as far as it was read, for a file that grew or has no size). */
    readonly size?: number,
  ) {
    super(reason);
  }
}

function failure(err: unknown): FileReadError {
  const code = errorCode(err);
  const reason = code === "ENOENT" ? "no such file" : code === "EACCES" ? "permission denied" : err instanceof Error ? err.message : String(err);
  return new FileReadError(reason, code);
}

/**
 * The bytes of the file at path, at most maxBytes of them: a larger file is
 * refused (FileReadError, code "EFBIG") by its size before a byte is read, or,
 * when it has no size (a pipe, /proc) or grows, once maxBytes + 1 are read.
 */
export function readFileBounded(path: string, maxBytes: number): Buffer {
  let fd: number;
  try {
    fd = openSync(path, "r");
  } catch (err) {
    throw failure(err);
  }
  const tooLarge = (size: number) => new FileReadError(`larger than ${maxBytes} bytes`, "EFBIG", size);
  try {
    let st: ReturnType<typeof fstatSync>;
    try {
      st = fstatSync(fd);
    } catch (err) {
      throw failure(err);
    }
    if (st.isDirectory()) throw new FileReadError("is a directory", "EISDIR");
    // Only a regular file's size is its length (a device's or a FIFO's is 0).
    const size = st.isFile() ? st.size : 0;
    if (size > maxBytes) throw tooLarge(size);
    // One byte more than the size: the read that returns 0 ends it without growing the buffer.
    let buf = Buffer.allocUnsafe((size > 0 ? size : maxBytes) + 1);
    let n = 0;
    for (;;) {
      if (n === buf.length) {
        if (n > maxBytes) throw tooLarge(n);
        const bigger = Buffer.allocUnsafe(maxBytes + 1);
        buf.copy(bigger, 0, 0, n);
        buf = bigger;
      }
      let got: number;
      try {
        got = readSync(fd, buf, n, buf.length - n, null);
      } catch (err) {
        throw failure(err);
      }
      if (got === 0) break;
      n += got;
    }
    return buf.subarray(0, n);
  } finally {
    closeSync(fd);
  }
}

// Clear only after a durable copy (STYLE.md rule 11, systemd pstore.c
// move_file): write to a temp file, fsync it, rename it into place, fsync
// the directory. Only then may the caller delete the source.
import { closeSync, fsyncSync, openSync, readSync, renameSync, unlinkSync, writeSync, constants } from "node:fs";
import { removeStaleTemps, tempName } from "./temp-files.ts";

/** Streaming chunk for copies: bounded memory whatever the source size. */
const CHUNK_BYTES = 256 * 1024;

export function fsyncDir(dir: string): void {
  const fd = openSync(dir, constants.O_RDONLY | constants.O_DIRECTORY);
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Writes all of bytes to fd (a write may take less than asked). */
export function writeAll(fd: number, bytes: Uint8Array): void {
  let done = 0;
  while (done < bytes.length) done += writeSync(fd, bytes, done, bytes.length - done);
}

function atomically(dir: string, name: string, fill: (fd: number) => void, mode: number): string {
  const final = `${dir}/${name}`;
  removeStaleTemps(dir, `.${name}.tmp`);
  const tmp = `${dir}/${tempName(`.${name}.tmp`)}`;
  const fd = openSync(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC | constants.O_NOFOLLOW, mode);
  try {
    fill(fd);
    fsyncSync(fd);
  } catch (err) {
    closeSync(fd);
    try {
      unlinkSync(tmp);
    } catch {
      // the temp file is gone already
    }
    throw err;
  }
  closeSync(fd);
  try {
    renameSync(tmp, final);
  } catch (err) {
    try {
      unlinkSync(tmp);
    } catch {
      // the temp file is gone already
    }
    throw err;
  }
  fsyncDir(dir);
  return final;
}

/** Write bytes to dir/name durably; returns the final path. */
export function writeDurable(dir: string, name: string, bytes: Uint8Array | string, mode = 0o600): string {
  const data = typeof bytes === "string" ? new TextEncoder().encode(bytes) : bytes;
  return atomically(dir, name, (fd) => writeAll(fd, data), mode);
}

/** Copy the file at source to dir/name durably, in bounded chunks; returns the bytes copied. */
export function copyDurable(source: string, dir: string, name: string, mode = 0o600): number {
  let total = 0;
  const src = openSync(source, constants.O_RDONLY);
  try {
    atomically(dir, name, (fd) => {
      const buf = new Uint8Array(CHUNK_BYTES);
      for (;;) {
        const n = readSync(src, buf, 0, buf.length, total);
        if (n === 0) break;
        writeAll(fd, buf.subarray(0, n));
        total += n;
      }
    }, mode);
  } finally {
    closeSync(src);
  }
  return total;
}

// Aligned positional I/O on a regular file, a block device or an MTD
// character device. Every byte crashkeep reads from or writes to the phram
// device goes through here (DESIGN.md "The journal": aligned, batched writes).
import { closeSync, fstatSync, fsyncSync, openSync, readFileSync, readSync, writeSync, constants } from "node:fs";
import { makePaths, type Paths } from "../system/paths.ts";
import { errorCode } from "../system/read-bounded.ts";

/** mtdchar's major number (include/uapi/linux/major.h MTD_CHAR_MAJOR). */
const MTD_CHAR_MAJOR = 90;

export type DeviceKind = "file" | "block" | "mtd";

export interface BlockDevice {
  readonly path: string;
  readonly kind: DeviceKind;
  /** Size in bytes (for a regular file: its current size). */
  readonly size: number;
  /** Erase block size (MTD), logical block size (block device) or 4096 (file). */
  readonly eraseSize: number;
  readonly writable: boolean;
  /** The open descriptor, for in-kernel copies (absent on in-memory devices). */
  readonly fd?: number;
  /** MTD device index when kind is "mtd". */
  readonly mtdIndex?: number;
  readAt(buf: Uint8Array, position: number): number;
  writeAt(buf: Uint8Array, position: number): void;
  /** Make written bytes durable; a no-op where the device cannot (mtdchar fsync is -EINVAL). */
  sync(): void;
  close(): void;
}

export interface OpenOptions {
  write?: boolean;
  /** Create a missing regular file (only with write). */
  create?: boolean;
  paths?: Paths;
}

export function splitRdev(rdev: number): { major: number; minor: number } {
  // glibc's gnu_dev_major/minor encoding (sys/sysmacros.h).
  const hi = Math.floor(rdev / 2 ** 32);
  const lo = rdev >>> 0;
  const major = ((lo >>> 8) & 0xfff) | ((hi & 0xfffff000) >>> 0);
  const minor = (lo & 0xff) | ((lo >>> 12) & 0xfff00);
  return { major, minor };
}

function readSysNumber(path: string): number {
  const text = readFileSync(path, "utf8").trim();
  const value = Number(text);
  if (!Number.isSafeInteger(value) || value < 0) throw new SyntaxError(`Cannot read "${path}": not a number: ${text}`);
  return value;
}

/** Open PATH for positional I/O; throws one clear Error when it cannot. */
export function openDevice(path: string, options: OpenOptions = {}): BlockDevice {
  const paths = options.paths ?? makePaths();
  const write = options.write ?? false;
  let flags = write ? constants.O_RDWR : constants.O_RDONLY;
  if (write && options.create) flags |= constants.O_CREAT;
  let fd: number;
  try {
    fd = openSync(path, flags, 0o644);
  } catch (err) {
    const code = errorCode(err);
    const reason =
      code === "ENOENT" ? "no such file or device" :
      code === "EACCES" ? (write && /ro$/.test(path) ? "read-only device" : "permission denied") :
      code === "EROFS" ? "read-only file system" :
      code === "EISDIR" ? "is a directory" :
      err instanceof Error ? err.message : String(err);
    throw new Error(`Cannot open "${path}"${write ? " for writing" : ""}: ${reason}`, { cause: err });
  }
  try {
    const st = fstatSync(fd);
    let kind: DeviceKind;
    let size: number;
    let eraseSize = 4096;
    let mtdIndex: number | undefined;
    if (st.isFile()) {
      kind = "file";
      size = st.size;
    } else if (st.isCharacterDevice()) {
      const { major, minor } = splitRdev(Number(st.rdev));
      if (major !== MTD_CHAR_MAJOR) throw new Error(`Cannot use "${path}": a character device that is not an MTD device (major ${major})`);
      if (write && minor % 2 === 1) throw new Error(`Cannot open "${path}" for writing: read-only device`);
      kind = "mtd";
      mtdIndex = minor >> 1;
      const dir = paths.sys(`/sys/class/mtd/mtd${mtdIndex}`);
      size = readSysNumber(`${dir}/size`);
      eraseSize = readSysNumber(`${dir}/erasesize`) || 4096;
    } else if (st.isBlockDevice()) {
      const { major, minor } = splitRdev(Number(st.rdev));
      kind = "block";
      const dir = paths.sys(`/sys/dev/block/${major}:${minor}`);
      size = readSysNumber(`${dir}/size`) * 512;
      try {
        eraseSize = readSysNumber(`${dir}/queue/logical_block_size`);
      } catch {
        eraseSize = 512;
      }
    } else {
      throw new Error(`Cannot use "${path}": not a regular file, block device or MTD device`);
    }
    const device: BlockDevice = {
      path,
      kind,
      size,
      eraseSize,
      writable: write,
      fd,
      ...(mtdIndex === undefined ? {} : { mtdIndex }),
      readAt(buf, position) {
        let done = 0;
        while (done < buf.length) {
          const n = readSync(fd, buf, done, buf.length - done, position + done);
          if (n === 0) break;
          done += n;
        }
        return done;
      },
      writeAt(buf, position) {
        if (kind !== "file" && position + buf.length > size) {
          throw new RangeError(`Cannot write "${path}": ${buf.length} bytes at ${position} pass the end (${size} bytes)`);
        }
        let done = 0;
        while (done < buf.length) {
          const n = writeSync(fd, buf, done, buf.length - done, position + done);
          if (n <= 0) throw new Error(`Cannot write "${path}": short write at ${position + done}`);
          done += n;
        }
      },
      sync() {
        if (kind === "mtd") return;
        fsyncSync(fd);
      },
      close() {
        closeSync(fd);
      },
    };
    return device;
  } catch (err) {
    closeSync(fd);
    throw err;
  }
}

// inotify through bun:ffi. Bun's fs.watch reports "rename"/"change" only and
// cannot tell a core the kernel is still writing from a finished one; the
// kernel closes a core file when it is complete, which is IN_CLOSE_WRITE
// (fs/coredump.c → __fput → fsnotify_close). The events are read by a
// blocking read(2) on Bun's thread pool: no polling, no CPU while idle.
import { FFIType, ptr } from "bun:ffi";
import { openLibc } from "./libc.ts";
import { read, closeSync } from "node:fs";

// include/uapi/linux/inotify.h
export const IN_CLOSE_WRITE = 0x00000008;
export const IN_MOVED_TO = 0x00000080;
export const IN_CREATE = 0x00000100;
export const IN_DELETE_SELF = 0x00000400;
export const IN_MOVE_SELF = 0x00000800;
export const IN_Q_OVERFLOW = 0x00004000;
export const IN_IGNORED = 0x00008000;
export const IN_ISDIR = 0x40000000;
const IN_CLOEXEC = 0o2000000;

/** One read of events: struct inotify_event is 16 bytes plus a name of at most NAME_MAX+1 padded. */
const EVENT_BUFFER_BYTES = 64 * 1024;

type Libc = {
  inotify_init1(flags: number): number;
  inotify_add_watch(fd: number, path: ReturnType<typeof ptr>, mask: number): number;
  inotify_rm_watch(fd: number, wd: number): number;
};

let libc: Libc | undefined;

function inotifyLibc(): Libc {
  libc ??= openLibc<Libc>({
    inotify_init1: { args: [FFIType.i32], returns: FFIType.i32 },
    inotify_add_watch: { args: [FFIType.i32, FFIType.ptr, FFIType.u32], returns: FFIType.i32 },
    inotify_rm_watch: { args: [FFIType.i32, FFIType.i32], returns: FFIType.i32 },
  }, "inotify");
  return libc;
}

export interface InotifyEvent {
  wd: number;
  mask: number;
  cookie: number;
  name: string;
}

/** Parse a buffer of struct inotify_event { s32 wd; u32 mask; u32 cookie; u32 len; char name[len]; }. */
export function parseEvents(buf: Uint8Array): InotifyEvent[] {
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const out: InotifyEvent[] = [];
  let off = 0;
  while (off + 16 <= buf.length) {
    const len = view.getUint32(off + 12, true);
    if (off + 16 + len > buf.length) throw new RangeError(`Cannot parse inotify event at ${off}: name of ${len} bytes passes the end`);
    const raw = buf.subarray(off + 16, off + 16 + len);
    const nul = raw.indexOf(0);
    out.push({
      wd: view.getInt32(off, true),
      mask: view.getUint32(off + 4, true),
      cookie: view.getUint32(off + 8, true),
      name: new TextDecoder().decode(nul < 0 ? raw : raw.subarray(0, nul)),
    });
    off += 16 + len;
  }
  return out;
}

export class Inotify {
  readonly fd: number;
  #closed = false;
  #reading = false;
  #watches = new Set<number>();
  #buffer: Buffer | undefined;

  constructor() {
    const fd = inotifyLibc().inotify_init1(IN_CLOEXEC);
    if (fd < 0) throw new Error("Cannot use inotify: inotify_init1 failed (too many instances? see fs.inotify.max_user_instances)");
    this.fd = fd;
  }

  /** Watch a directory; returns the watch descriptor. */
  add(path: string, mask: number): number {
    const c = Buffer.from(`${path}\0`);
    const wd = inotifyLibc().inotify_add_watch(this.fd, ptr(c), mask);
    if (wd < 0) throw new Error(`Cannot watch "${path}": inotify_add_watch failed (missing directory or fs.inotify.max_user_watches reached)`);
    this.#watches.add(wd);
    return wd;
  }

  /** Wait (blocking read on the thread pool) for the next batch of events. */
  next(): Promise<InotifyEvent[]> {
    if (this.#closed) return Promise.reject(new Error("Cannot read inotify events: closed"));
    this.#reading = true;
    return new Promise((resolve, reject) => {
      // One buffer for every read (one read at a time): not 64 KiB of garbage per event batch.
      const buf = (this.#buffer ??= Buffer.alloc(EVENT_BUFFER_BYTES));
      read(this.fd, buf, 0, buf.length, null, (err, n) => {
        this.#reading = false;
        if (this.#closed) closeSync(this.fd);
        if (err) reject(err);
        else resolve(parseEvents(buf.subarray(0, n)));
      });
    });
  }

  /**
   * Stop watching. A read blocked on the thread pool is not woken by close(2)
   * (the syscall holds the file), and each such read would keep a pool
   * thread forever: removing the watches makes the kernel queue IN_IGNORED,
   * which ends the read; its callback then closes the descriptor.
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const wd of this.#watches) inotifyLibc().inotify_rm_watch(this.fd, wd);
    this.#watches.clear();
    if (!this.#reading) closeSync(this.fd);
  }
}

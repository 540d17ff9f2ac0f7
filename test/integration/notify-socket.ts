// A test double of systemd's notification socket (sd_notify(3)): a unix
// datagram socket bound at a path, read without blocking. Bun has no unix
// datagram sockets, so socket(2), bind(2) and recv(2) come through bun:ffi,
// as in src/system/sd-notify.ts (whose notifyAddress lays out the address).
import { FFIType, ptr } from "bun:ffi";
import { openLibc } from "../../src/system/libc.ts";
import { notifyAddress } from "../../src/system/sd-notify.ts";

const AF_UNIX = 1;
const SOCK_DGRAM = 2;
const SOCK_NONBLOCK = 0o4000;
const SOCK_CLOEXEC = 0o2000000;

type Libc = {
  socket(domain: number, type: number, protocol: number): number;
  bind(fd: number, addr: ReturnType<typeof ptr>, len: number): number;
  recv(fd: number, buf: ReturnType<typeof ptr>, len: number, flags: number): number | bigint;
  close(fd: number): number;
};

const libc = openLibc<Libc>({
  socket: { args: [FFIType.i32, FFIType.i32, FFIType.i32], returns: FFIType.i32 },
  bind: { args: [FFIType.i32, FFIType.ptr, FFIType.u32], returns: FFIType.i32 },
  recv: { args: [FFIType.i32, FFIType.ptr, FFIType.u64, FFIType.i32], returns: FFIType.i64 },
  close: { args: [FFIType.i32], returns: FFIType.i32 },
}, "the notify socket double");

export class NotifySocket {
  readonly fd: number;
  readonly path: string;

  constructor(path: string) {
    this.path = path;
    const { addr, length } = notifyAddress(path);
    this.fd = libc.socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (this.fd < 0) throw new Error("Cannot make the notify socket: socket failed");
    if (libc.bind(this.fd, ptr(addr), length) !== 0) throw new Error(`Cannot bind the notify socket "${path}"`);
  }

  /** Every datagram waiting now, as text. */
  take(): string[] {
    const out: string[] = [];
    const buf = Buffer.alloc(4096);
    for (;;) {
      const n = Number(libc.recv(this.fd, ptr(buf), buf.length, 0));
      if (n < 0) return out; // EAGAIN: nothing more
      out.push(buf.subarray(0, n).toString());
    }
  }

  close(): void {
    libc.close(this.fd);
  }
}

// sd_notify(3) without libsystemd: one datagram to the unix socket named by
// $NOTIFY_SOCKET (a path, or "@name" in the abstract namespace), as
// systemd's Type=notify services do. Bun has no unix datagram sockets, so
// socket(2) and sendto(2) come from libc through bun:ffi.
import { FFIType, ptr } from "bun:ffi";
import { openLibc } from "./libc.ts";

const AF_UNIX = 1;
const SOCK_DGRAM = 2;
const SOCK_CLOEXEC = 0o2000000;
const MSG_NOSIGNAL = 0x4000;
/** struct sockaddr_un: sa_family_t (2 bytes), then sun_path[108]. */
const SUN_PATH_BYTES = 108;

type Libc = {
  socket(domain: number, type: number, protocol: number): number;
  sendto(fd: number, buf: ReturnType<typeof ptr>, len: number, flags: number, addr: ReturnType<typeof ptr>, addrlen: number): number | bigint;
  close(fd: number): number;
};

let libc: Libc | undefined;

/** The socket address of NOTIFY_SOCKET's value, and its length for sendto(2). */
export function notifyAddress(socket: string): { addr: Buffer; length: number } {
  if (!socket.startsWith("/") && !socket.startsWith("@")) throw new Error(`Cannot notify "${socket}": NOTIFY_SOCKET must be an absolute path or @abstract`);
  const path = Buffer.from(socket);
  if (socket.startsWith("@")) path[0] = 0; // abstract: a leading NUL, no terminating one
  const withNul = socket.startsWith("/") ? path.length + 1 : path.length;
  if (withNul > SUN_PATH_BYTES) throw new Error(`Cannot notify "${socket}": longer than ${SUN_PATH_BYTES - 1} bytes`);
  const addr = Buffer.alloc(2 + SUN_PATH_BYTES);
  addr.writeUInt16LE(AF_UNIX, 0); // sa_family_t is host order: little-endian on x86_64 and aarch64
  path.copy(addr, 2);
  return { addr, length: 2 + withNul };
}

/**
 * Send `state` (e.g. "READY=1") to $NOTIFY_SOCKET. Returns false when the
 * variable is unset (not started by systemd as Type=notify); throws
 * "Cannot notify ..." when the datagram cannot be sent.
 */
export function sdNotify(state: string, env: Record<string, string | undefined> = process.env): boolean {
  const socket = env.NOTIFY_SOCKET;
  if (socket === undefined || socket === "") return false;
  const { addr, length } = notifyAddress(socket);
  libc ??= openLibc<Libc>({
    socket: { args: [FFIType.i32, FFIType.i32, FFIType.i32], returns: FFIType.i32 },
    sendto: { args: [FFIType.i32, FFIType.ptr, FFIType.u64, FFIType.i32, FFIType.ptr, FFIType.u32], returns: FFIType.i64 },
    close: { args: [FFIType.i32], returns: FFIType.i32 },
  }, "sd_notify");
  const fd = libc.socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw new Error(`Cannot notify "${socket}": socket(AF_UNIX, SOCK_DGRAM) failed`);
  try {
    const msg = Buffer.from(state);
    const sent = Number(libc.sendto(fd, ptr(msg), msg.length, MSG_NOSIGNAL, ptr(addr), length));
    if (sent !== msg.length) throw new Error(`Cannot notify "${socket}": sendto failed (no such socket, or not a datagram socket)`);
    return true;
  } finally {
    libc.close(fd);
  }
}

// The C library, for the few system calls Bun does not offer (inotify,
// datagrams to a unix socket), through bun:ffi.
import { dlopen, type FFIFunction } from "bun:ffi";

/** Where libc lives: glibc, then musl's loader, which is its libc too. */
export const LIBC_CANDIDATES = ["libc.so.6", "/lib/ld-musl-x86_64.so.1", "/lib/ld-musl-aarch64.so.1", "libc.so"];

/** The symbols asked for, from the first libc that has them; `what` names the use in the error. */
export function openLibc<T>(symbols: Record<string, FFIFunction>, what: string): T {
  const errors: string[] = [];
  for (const name of LIBC_CANDIDATES) {
    try {
      return dlopen(name, symbols).symbols as unknown as T;
    } catch (err) {
      errors.push(`${name}: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  throw new Error(`Cannot use ${what}: no libc found (${errors.join("; ")})`);
}

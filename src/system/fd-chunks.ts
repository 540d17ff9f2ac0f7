// Reading a file descriptor forward (stdin: the kernel's core pipe) into one
// buffer reused for every read. Bun.stdin.stream() hands out a fresh chunk per
// read and leaves it to the garbage collector, which let the pipe handler's
// RSS grow with the core (see docs/BENCHMARKS.md, "Targets (issue 15)").
import { readSync } from "node:fs";

/** The buffer: reads are gathered until it is full (the kernel's pipe holds 64 KiB by default, pipe(7)). */
export const FD_CHUNK_BYTES = 1024 * 1024;

/** Wait before retrying a non-blocking fd that had nothing (EAGAIN): the kernel's core pipe is blocking, test harnesses' may not be. */
const EAGAIN_WAIT_MS = 1;

/**
 * The bytes of fd in order until end of file, in chunks that fill the buffer
 * (a pipe gives at most what it holds per read: reads are gathered, so the
 * consumer sees few large chunks). Every chunk is a view of the same buffer:
 * it is valid only until the next one is asked for, so a consumer copies what
 * it keeps (and finishes any asynchronous use first).
 */
export async function* fdChunks(fd: number, options: { bufferBytes?: number } = {}): AsyncGenerator<Uint8Array> {
  const buf = new Uint8Array(options.bufferBytes ?? FD_CHUNK_BYTES);
  let filled = 0;
  for (;;) {
    let n: number;
    try {
      n = readSync(fd, buf, filled, buf.length - filled, null);
    } catch (err) {
      const code = (err as { code?: string }).code;
      if (code === "EINTR") continue;
      if (code === "EAGAIN" || code === "EWOULDBLOCK") {
        // Nothing yet on a non-blocking fd: hand over what there is, then wait.
        if (filled > 0) {
          yield buf.subarray(0, filled);
          filled = 0;
        }
        await Bun.sleep(EAGAIN_WAIT_MS);
        continue;
      }
      throw new Error(`cannot read it (${code ?? String(err)})`);
    }
    filled += n;
    if (n === 0 || filled === buf.length) {
      if (filled > 0) yield buf.subarray(0, filled);
      if (n === 0) return;
      filled = 0;
    }
  }
}

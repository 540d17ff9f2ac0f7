// Feeding a CoreReader: from a file (positional reads that skip what the
// reader does not want) or from a stream such as stdin (reads everything in
// order, keeps only the wanted ranges; never seeks back).
// A file is read with positional reads of exactly the reader's wants, in
// file order: the rest of the core is skipped, so memory does not grow with
// it. Not Bun.mmap: it opens the file O_RDWR (even with { shared: false }),
// which fails on a read-only filesystem and, for executables, makes exec(2)
// fail with ETXTBSY (fs/exec.c deny_write_access) while it is open.
import { closeSync, openSync, readSync } from "node:fs";
import { CoreReader, type Core } from "./reader.ts";

/** Largest single read: the reader's wants are bounded, this keeps each read call small. */
const READ_CHUNK_BYTES = 4 * 1024 * 1024;

/** open(2) for reading; an Error "no such file" or "cannot open it (CODE)" for the caller to prefix. */
export function openForReading(path: string): number {
  try {
    return openSync(path, "r");
  } catch (err) {
    const code = (err as { code?: string }).code;
    throw new Error(code === "ENOENT" ? "no such file" : `cannot open it (${code ?? String(err)})`);
  }
}

export function readCoreFile(path: string): Core {
  const fd = openForReading(path);
  try {
    const reader = new CoreReader();
    for (let w = reader.want(); w; w = reader.want()) {
      const buf = new Uint8Array(w.length);
      let got = 0;
      while (got < w.length) {
        let n: number;
        try {
          n = readSync(fd, buf, got, Math.min(READ_CHUNK_BYTES, w.length - got), w.offset + got);
        } catch (err) {
          const code = (err as { code?: string }).code;
          throw new Error(`cannot read it (${code ?? String(err)})`);
        }
        if (n <= 0) break;
        got += n;
      }
      reader.feed(got === w.length ? buf : buf.subarray(0, got));
      if (got < w.length) break;
    }
    if (reader.want()) reader.end();
    return reader.result();
  } finally {
    closeSync(fd);
  }
}

/** Read a core from a stream of chunks in file order (a pipe: forward-only). */
export async function readCoreStream(chunks: AsyncIterable<Uint8Array>): Promise<Core> {
  const reader = new CoreReader();
  let pos = 0;
  let pending: Uint8Array | undefined;
  let filled = 0;
  for await (const chunk of chunks) {
    let at = 0;
    while (at < chunk.length) {
      const w = reader.want();
      if (!w) break;
      const wantEnd = w.offset + w.length;
      if (pos < w.offset) {
        const skip = Math.min(w.offset - pos, chunk.length - at);
        at += skip;
        pos += skip;
        continue;
      }
      pending ??= new Uint8Array(w.length);
      const take = Math.min(wantEnd - pos, chunk.length - at);
      pending.set(chunk.subarray(at, at + take), filled);
      filled += take;
      at += take;
      pos += take;
      if (filled === w.length) {
        reader.feed(pending);
        pending = undefined;
        filled = 0;
      }
    }
    // Drain the rest of the stream even when done, so the writer never blocks.
  }
  if (reader.want()) {
    if (pending) reader.feed(pending.subarray(0, filled));
    if (reader.want()) reader.end();
  }
  return reader.result();
}

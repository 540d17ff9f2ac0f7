// Feeding a CoreReader: from a file (positional reads that skip what the
// reader does not want) or from a stream such as stdin (reads everything in
// order, keeps only the wanted ranges; never seeks back).
// A file is mmap'ed read-only and the reader's wants are fed as slices of
// the mapping, in file order: only the pages it wants are ever read, so
// memory does not grow with the core. (node:fs is avoided on purpose: loading
// it costs the compiled binary 10-20 ms of start-up.)
import { CoreReader, type Core } from "./reader.ts";

/** Map a file read-only; an empty file maps to no bytes. */
function mapCore(path: string): Uint8Array {
  const file = Bun.file(path);
  if (file.size === 0) {
    // size 0 is also what a missing file reports: let mmap say which
    try {
      return Bun.mmap(path, { shared: false });
    } catch (err) {
      if (String(err).includes("EINVAL") || String(err).toLowerCase().includes("invalid")) return new Uint8Array(0);
      throw err;
    }
  }
  return Bun.mmap(path, { shared: false });
}

export function readCoreFile(path: string): Core {
  let bytes: Uint8Array;
  try {
    bytes = mapCore(path);
  } catch (err) {
    const code = (err as { code?: string }).code;
    throw new Error(code === "ENOENT" ? "no such file" : `cannot open it (${code ?? String(err)})`);
  }
  const reader = new CoreReader();
  for (let w = reader.want(); w; w = reader.want()) {
    const got = bytes.subarray(Math.min(w.offset, bytes.length), Math.min(w.offset + w.length, bytes.length));
    reader.feed(got);
    if (got.length < w.length) break;
  }
  if (reader.want()) reader.end();
  return reader.result();
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

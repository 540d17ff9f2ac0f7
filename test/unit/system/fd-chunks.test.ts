// fdChunks: stdin of the pipe handler read into one reused buffer. The file
// and FIFO below stand in for the kernel's core pipe; the FIFO is opened
// non-blocking to walk the EAGAIN path (the kernel's pipe is blocking).
import { describe, expect, test } from "bun:test";
import { closeSync, constants, mkdtempSync, openSync, rmSync, writeFileSync, writeSync } from "node:fs";
import { join } from "node:path";
import { tmpdir } from "node:os";
import { fdChunks } from "../../../src/system/fd-chunks.ts";
import { readCoreFile, readCoreStream } from "../../../src/core/source.ts";
import { buildReport } from "../../../src/core/report.ts";
import { fixtures } from "../core/fixtures.ts";

const threads = fixtures().find((f) => f.arch === "x86_64" && f.name === "threads")!;

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

describe("fdChunks", () => {
  test.each([
    // [file bytes, buffer bytes, chunk lengths]
    [0, 4096, []],
    [4096, 4096, [4096]],
    [10000, 4096, [4096, 4096, 1808]],
  ])("a %i-byte file through a %i-byte buffer: chunks %j, one buffer, every byte in order", async (size, bufferBytes, lengths) => {
    const dir = mkdtempSync(join(tmpdir(), "crashkeep-fd-chunks-"));
    try {
      const bytes = Uint8Array.from({ length: size }, (_, i) => (i * 7) & 0xff);
      writeFileSync(join(dir, "f"), bytes);
      const fd = openSync(join(dir, "f"), "r");
      const copies: Uint8Array[] = [];
      const buffers = new Set<ArrayBufferLike>();
      for await (const c of fdChunks(fd, { bufferBytes })) {
        buffers.add(c.buffer);
        copies.push(c.slice());
      }
      closeSync(fd);
      expect(copies.map((c) => c.length)).toEqual(lengths);
      expect(buffers.size).toBeLessThanOrEqual(1);
      expect(concat(copies)).toEqual(bytes);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("a non-blocking FIFO: EAGAIN waits for the writer, reads gather, EOF ends it", async () => {
    const dir = mkdtempSync(join(tmpdir(), "crashkeep-fd-chunks-"));
    try {
      const fifo = join(dir, "fifo");
      expect(Bun.spawnSync(["mkfifo", fifo]).exitCode).toBe(0);
      const rd = openSync(fifo, constants.O_RDONLY | constants.O_NONBLOCK);
      const wr = openSync(fifo, "w");
      writeSync(wr, new Uint8Array([1, 2, 3]));
      // The rest arrives after the reader has found the FIFO empty at least once.
      const later = (async () => {
        await Bun.sleep(20);
        writeSync(wr, new Uint8Array([4, 5, 6, 7, 8, 9]));
        await Bun.sleep(20);
        closeSync(wr);
      })();
      const copies: Uint8Array[] = [];
      for await (const c of fdChunks(rd, { bufferBytes: 4 })) copies.push(c.slice());
      await later;
      closeSync(rd);
      expect(concat(copies)).toEqual(new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8, 9]));
      expect(copies.every((c) => c.length > 0 && c.length <= 4)).toBe(true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test.each([4096, 65536])("a core read through a reused %i-byte buffer gives the file's report (the reader copies what it keeps)", async (bufferBytes) => {
    const fd = openSync(threads.core, "r");
    try {
      const fromStream = buildReport(await readCoreStream(fdChunks(fd, { bufferBytes })), { sysroot: threads.sysroot });
      expect(fromStream).toEqual(buildReport(readCoreFile(threads.core), { sysroot: threads.sysroot }));
    } finally {
      closeSync(fd);
    }
  });

  test("a read error is one line naming the code", async () => {
    const dir = mkdtempSync(join(tmpdir(), "crashkeep-fd-chunks-"));
    try {
      const fd = openSync(dir, "r"); // a directory: read(2) gives EISDIR
      const it = fdChunks(fd);
      await expect(it.next()).rejects.toThrow("cannot read it (EISDIR)");
      closeSync(fd);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

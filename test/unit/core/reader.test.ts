// The core reader: same result from a file and from a forward-only stream,
// clear errors on non-cores, partial reports on truncation, bounded memory.
import { describe, expect, test } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { tmpdir } from "node:os";
import { CoreReader, MAX_RETAINED_BYTES } from "../../../src/core/reader.ts";
import { readCoreFile, readCoreStream } from "../../../src/core/source.ts";
import { buildReport } from "../../../src/core/report.ts";
import { fixtures } from "./fixtures.ts";

const all = fixtures();
const threads = all.find((f) => f.arch === "x86_64" && f.name === "threads")!;

/** Feed bytes to a reader the way a pipe would: in fixed chunks, never seeking. */
async function* chunks(bytes: Uint8Array, size: number): AsyncGenerator<Uint8Array> {
  for (let i = 0; i < bytes.length; i += size) yield bytes.subarray(i, i + size);
}

function readBytes(bytes: Uint8Array) {
  const r = new CoreReader();
  for (let w = r.want(); w; w = r.want()) {
    const got = bytes.subarray(w.offset, w.offset + w.length);
    r.feed(got);
    if (got.length < w.length) break;
  }
  if (r.want()) r.end();
  return r.result();
}

describe("core reader", () => {
  test.each([1, 4096, 65536, 1 << 20])("a stream in %i-byte chunks gives the file's report", async (size) => {
    const bytes = new Uint8Array(readFileSync(threads.core));
    const fromFile = buildReport(readCoreFile(threads.core), { sysroot: threads.sysroot });
    const fromStream = buildReport(await readCoreStream(chunks(bytes, size)), { sysroot: threads.sysroot });
    expect(fromStream).toEqual(fromFile);
  });

  test("wants are forward-only and bounded", () => {
    const bytes = new Uint8Array(readFileSync(threads.core));
    const r = new CoreReader();
    let last = 0;
    let total = 0;
    for (let w = r.want(); w; w = r.want()) {
      expect(w.offset).toBeGreaterThanOrEqual(last);
      last = w.offset + w.length;
      total += w.length;
      r.feed(bytes.subarray(w.offset, w.offset + w.length));
    }
    expect(total).toBeLessThan(MAX_RETAINED_BYTES);
    expect(total).toBeLessThan(bytes.length);
  });

  test.each([
    ["empty", new Uint8Array(0), RangeError],
    ["not ELF", new TextEncoder().encode("#!/bin/sh\necho hello\n".padEnd(64, " ")), SyntaxError],
    ["ELF32", Uint8Array.from([0x7f, 0x45, 0x4c, 0x46, 1, 1, 1, ...new Array(57).fill(0)]), SyntaxError],
    ["big-endian", Uint8Array.from([0x7f, 0x45, 0x4c, 0x46, 2, 2, 1, ...new Array(57).fill(0)]), SyntaxError],
    ["truncated header", Uint8Array.from([0x7f, 0x45, 0x4c, 0x46, 2, 1]), RangeError],
  ] as const)("%s is refused", (_n, bytes, kind) => {
    expect(() => readBytes(bytes)).toThrow(kind);
  });

  test("an executable is refused as not a core", () => {
    expect(() => readBytes(new Uint8Array(readFileSync(process.execPath)).subarray(0, 4096))).toThrow(/not a core file/);
  });

  test("another architecture is refused", () => {
    const bytes = new Uint8Array(readFileSync(threads.core).subarray(0, 4096));
    bytes[18] = 40; // EM_ARM
    expect(() => readBytes(bytes)).toThrow(/only x86_64 \(62\) and aarch64 \(183\)/);
  });

  test("every truncation point gives an error or an incomplete report", () => {
    const bytes = new Uint8Array(readFileSync(threads.core));
    // the last byte the reader wants: cutting after it loses nothing
    const full = new CoreReader();
    let lastWanted = 0;
    for (let w = full.want(); w; w = full.want()) {
      lastWanted = w.offset + w.length;
      full.feed(bytes.subarray(w.offset, lastWanted));
    }
    const cuts = [0, 10, 64, 100, 500, 1000, 2000, 4000, 8000, 16000, 65536, 200000, lastWanted - 1];
    for (const cut of cuts) {
      let core;
      try {
        core = readBytes(bytes.subarray(0, cut));
      } catch (err) {
        expect(err instanceof RangeError || err instanceof SyntaxError).toBe(true);
        continue;
      }
      expect(core.incomplete).toBe(true);
      const report = buildReport(core, { sysroot: threads.sysroot });
      expect(report.incomplete).toBe(true);
    }
  });

  test("a core file path works end to end through a temp copy", () => {
    const p = join(tmpdir(), `crashkeep-reader-test-${process.pid}.core`);
    writeFileSync(p, readFileSync(threads.core));
    expect(readCoreFile(p).threads.length).toBe(4);
  });
});

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync, chmodSync, chownSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { alignedPieces, copyWindow, effectiveBlockSize } from "../../../src/copy/copy-window.ts";

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "crashkeep-copy-"));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Deterministic non-repeating bytes, so a shifted window cannot look right. */
function pattern(n: number, seed = 1): Uint8Array {
  const out = new Uint8Array(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0;
    out[i] = x & 0xff;
  }
  return out;
}

function files(srcSize: number, destSize: number, name: string) {
  const src = join(dir, `${name}.src`);
  const dest = join(dir, `${name}.dest`);
  const srcBytes = pattern(srcSize, srcSize + 7);
  const destBytes = pattern(destSize, destSize + 99);
  writeFileSync(src, srcBytes);
  writeFileSync(dest, destBytes);
  return { src, dest, srcBytes, destBytes };
}

/** What DEST must hold afterwards: tail -c N / head -c N of SRC at offset, the rest unchanged. */
function expected(srcBytes: Uint8Array, destBytes: Uint8Array, opts: { tail: boolean; window: number; offset: number; pad: boolean }) {
  const count = Math.min(opts.window, srcBytes.length);
  const piece = opts.tail ? srcBytes.subarray(srcBytes.length - count) : srcBytes.subarray(0, count);
  const out = destBytes.slice();
  out.set(piece, opts.offset);
  if (opts.pad) out.fill(0, opts.offset + count, opts.offset + opts.window);
  return out;
}

describe("alignedPieces", () => {
  test.each([
    // start, length, block → pieces
    [0, 0, 4096, []],
    [0, 4096, 4096, [[0, 4096]]],
    [0, 4097, 4096, [[0, 4096], [4096, 1]]],
    [1, 4096, 4096, [[1, 4095], [4096, 1]]],
    [4095, 2, 4096, [[4095, 1], [4096, 1]]],
    [100, 10000, 4096, [[100, 3996], [4096, 4096], [8192, 1908]]],
  ] as const)("start %d length %d block %d", (start, length, block, pieces) => {
    expect(alignedPieces(start, length, block)).toEqual(pieces.map((p) => [...p]));
  });
});

describe("effectiveBlockSize", () => {
  test.each([
    [512, 4096, 4096],
    [1048576, 4096, 1048576],
    [1048576, 0x30000, 0x120000],
    [65536, 512, 65536],
  ])("%d with erase size %d → %d", (req, erase, want) => {
    expect(effectiveBlockSize(req, erase)).toBe(want);
  });
  test.each([0, 100, 3000, 256, 128 * 1024 * 1024])("refuses %d", (req) => {
    expect(() => effectiveBlockSize(req, 4096)).toThrow(/power of two/);
  });
});

describe("copyWindow edge cases", () => {
  const W = 8192;
  const cases: Array<[string, number, number, number, boolean]> = [
    // name, source size, window, offset, tail
    ["empty source", 0, W, 0, true],
    ["1 byte", 1, W, 0, true],
    ["N-1", W - 1, W, 0, true],
    ["N", W, W, 0, true],
    ["N+1", W + 1, W, 0, true],
    ["much larger", 1_000_003, W, 0, true],
    ["head of much larger", 1_000_003, W, 0, false],
    ["offset 1", 50_000, W, 1, true],
    ["offset 511", 50_000, W, 511, true],
    ["offset 512", 50_000, W, 512, true],
    ["offset 4095", 50_000, W, 4095, false],
    ["offset 4096", 50_000, W, 4096, true],
    ["offset 4097 short source", 3000, W, 4097, true],
  ];
  test.each(cases)("%s", (name, srcSize, window, offset, tail) => {
    const destSize = offset + window + 1234;
    const f = files(srcSize, destSize, name.replace(/\W/g, "_"));
    const r = copyWindow(f.src, f.dest, { tail, bytes: window, offset, blockSize: 4096 });
    expect(r.bytes).toBe(Math.min(window, srcSize));
    const got = new Uint8Array(readFileSync(f.dest));
    expect(got.length).toBe(destSize);
    expect(Buffer.compare(got, expected(f.srcBytes, f.destBytes, { tail, window, offset, pad: false }))).toBe(0);
  });

  test.each([512, 1024, 4096, 65536, 1048576, 4 * 1048576])("block size %d gives the same bytes", (blockSize) => {
    const f = files(3 * 1048576 + 17, 2 * 1048576 + 100, `bs${blockSize}`);
    copyWindow(f.src, f.dest, { tail: true, offset: 100, blockSize });
    const got = new Uint8Array(readFileSync(f.dest));
    expect(Buffer.compare(got, expected(f.srcBytes, f.destBytes, { tail: true, window: 2 * 1048576, offset: 100, pad: false }))).toBe(0);
  });

  test("writes are aligned on the destination: head piece, whole blocks, tail piece", () => {
    const f = files(100_000, 100_000, "aligned");
    const r = copyWindow(f.src, f.dest, { offset: 1000, bytes: 20_000, blockSize: 4096 });
    // 1000..4096 head, 4096..20480 four blocks, 20480..21000 tail
    expect(r.writes).toBe(6);
  });

  test("--pad zero-fills the rest of the window and nothing past it", () => {
    const f = files(100, 10_000, "pad");
    copyWindow(f.src, f.dest, { bytes: 5000, offset: 10, pad: true, tail: true });
    const got = new Uint8Array(readFileSync(f.dest));
    expect(Buffer.compare(got, expected(f.srcBytes, f.destBytes, { tail: true, window: 5000, offset: 10, pad: true }))).toBe(0);
    expect(got[5010]).toBe(f.destBytes[5010] as number);
  });

  test("default window is the rest of DEST", () => {
    const f = files(50_000, 12_000, "default");
    const r = copyWindow(f.src, f.dest, { tail: true, offset: 2000 });
    expect(r.window).toBe(10_000);
    expect(statSync(f.dest).size).toBe(12_000);
  });

  test("creates a missing regular DEST when --bytes is given", () => {
    const f = files(50_000, 1, "create");
    rmSync(f.dest);
    copyWindow(f.src, f.dest, { tail: true, bytes: 4096 });
    expect(Buffer.compare(readFileSync(f.dest), f.srcBytes.subarray(50_000 - 4096))).toBe(0);
  });
});

describe("copyWindow refuses before writing a byte", () => {
  test.each([
    ["window past the end", { bytes: 9000 }, /does not fit/],
    ["offset past the end", { offset: 8193 }, /past its end/],
    ["offset plus window past the end", { offset: 100, bytes: 8100 }, /does not fit/],
    ["block size not a power of two", { blockSize: 3000 }, /power of two/],
  ] as const)("%s", (_name, opts, message) => {
    const f = files(20_000, 8192, "refuse");
    expect(() => copyWindow(f.src, f.dest, { ...opts, tail: true })).toThrow(message);
    expect(Buffer.compare(readFileSync(f.dest), f.destBytes)).toBe(0);
  });

  test("missing source", () => {
    const f = files(1, 8192, "missing");
    expect(() => copyWindow(join(dir, "nope"), f.dest)).toThrow(`Cannot read "${join(dir, "nope")}": no such file`);
    expect(Buffer.compare(readFileSync(f.dest), f.destBytes)).toBe(0);
  });

  test("missing DEST without --bytes", () => {
    const f = files(10, 1, "missingdest");
    rmSync(f.dest);
    expect(() => copyWindow(f.src, f.dest)).toThrow(/does not exist; give --bytes/);
  });

  test("read-only DEST: refused, untouched (as root, run under an unprivileged user: file modes do not bind root)", () => {
    const f = files(10, 8192, "readonly");
    chmodSync(f.dest, 0o444);
    if (process.getuid?.() !== 0) {
      expect(() => copyWindow(f.src, f.dest)).toThrow(/for writing: permission denied/);
    } else {
      // nobody (65534) owns DEST without its write bit; setpriv(1) drops root for the copy.
      chmodSync(dir, 0o755);
      chmodSync(f.src, 0o644);
      chownSync(f.dest, 65534, 65534);
      const main = join(import.meta.dir, "../../../src/main.ts");
      const r = Bun.spawnSync(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", process.execPath, main, "copy", f.src, f.dest]);
      expect({ code: r.exitCode, stderr: r.stderr.toString() }).toEqual({ code: 1, stderr: `Cannot open "${f.dest}" for writing: permission denied\n` });
    }
    expect(Buffer.compare(readFileSync(f.dest), f.destBytes)).toBe(0);
  });

  test("DEST that is a directory", () => {
    const f = files(10, 1, "dirdest");
    expect(() => copyWindow(f.src, dir, { bytes: 1 })).toThrow(/is a directory/);
  });
});

describe("property: DEST equals tail -c / head -c at the offset", () => {
  // Seeded so a failure is reproducible: the seed is in the test name.
  const seeds = Array.from({ length: 60 }, (_, i) => i + 1);
  test.each(seeds)("seed %d", (seed) => {
    const rand = pattern(16, seed * 7919);
    const r = (i: number, max: number) => (((rand[i] as number) << 8) | (rand[i + 1] as number)) % (max + 1);
    const srcSize = r(0, 60_000);
    const window = r(2, 40_000);
    const offset = r(4, 9000);
    const tail = (rand[6] as number) % 2 === 0;
    const pad = (rand[7] as number) % 3 === 0;
    const blockSize = 512 << r(8, 8);
    const destSize = offset + window + r(10, 5000);
    const f = files(srcSize, destSize, `prop${seed}`);
    copyWindow(f.src, f.dest, { tail, pad, bytes: window, offset, blockSize });
    const got = new Uint8Array(readFileSync(f.dest));
    expect(Buffer.compare(got, expected(f.srcBytes, f.destBytes, { tail, window, offset, pad }))).toBe(0);
  });

  test("the result equals the output of tail -c and head -c themselves", () => {
    const f = files(123_457, 70_000, "coreutils");
    copyWindow(f.src, f.dest, { tail: true, bytes: 65536, offset: 3 });
    const tailOut = Bun.spawnSync(["tail", "-c", "65536", f.src]).stdout;
    expect(Buffer.compare(readFileSync(f.dest).subarray(3, 3 + 65536), tailOut)).toBe(0);
    copyWindow(f.src, f.dest, { bytes: 65536, offset: 3 });
    const headOut = Bun.spawnSync(["head", "-c", "65536", f.src]).stdout;
    expect(Buffer.compare(readFileSync(f.dest).subarray(3, 3 + 65536), headOut)).toBe(0);
  });
});

describe("a source that grows during the copy", () => {
  test("the window is taken at the size seen when the copy starts", async () => {
    // A writer appends "x" bytes as fast as it can while 8 MiB are copied in
    // 512-byte pieces. Reading at the current end (rather than at positions
    // fixed at the start) would pull "x" bytes into the window.
    const size = 8 * 1048576;
    const f = files(size, size, "grow");
    const writer = Bun.spawn(["sh", "-c", `while :; do printf xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx; done >> '${f.src}'`]);
    // The writer is running once the file has grown (bounded wait, not a fixed sleep).
    for (const end = Date.now() + 10_000; statSync(f.src).size <= size; await Bun.sleep(5)) {
      if (Date.now() > end) throw new Error("Cannot see the writer grow the source in 10 s");
    }
    const r = copyWindow(f.src, f.dest, { tail: true, bytes: size / 2, blockSize: 512 });
    writer.kill();
    await writer.exited;
    const grew = statSync(f.src).size;
    expect(r.sourceSize).toBeGreaterThan(size);
    expect(grew).toBeGreaterThan(r.sourceSize);
    const src = readFileSync(f.src);
    const got = readFileSync(f.dest).subarray(0, size / 2);
    expect(Buffer.compare(got, src.subarray(r.sourceSize - size / 2, r.sourceSize))).toBe(0);
  });
});

import { afterAll, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { errorCode, FileReadError, readFileBounded } from "../../../src/system/read-bounded.ts";

const dir = mkdtempSync(join(tmpdir(), "crashkeep-read-bounded-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function failure(fn: () => unknown): FileReadError {
  try {
    fn();
  } catch (err) {
    if (err instanceof FileReadError) return err;
    throw err;
  }
  throw new Error("did not throw");
}

describe("readFileBounded", () => {
  test("a file up to the limit is read whole; one byte more is refused by its size", () => {
    writeFileSync(join(dir, "ok"), "x".repeat(100));
    expect(readFileBounded(join(dir, "ok"), 100).toString()).toBe("x".repeat(100));
    writeFileSync(join(dir, "big"), "x".repeat(101));
    const e = failure(() => readFileBounded(join(dir, "big"), 100));
    expect({ reason: e.reason, code: e.code, size: e.size }).toEqual({ reason: "larger than 100 bytes", code: "EFBIG", size: 101 });
  });

  test("a file without a size (/proc) is read to its end; an endless one (/dev/zero) stops at limit + 1 bytes", () => {
    expect(readFileBounded("/proc/self/status", 1 << 20).toString()).toContain("Pid:");
    const e = failure(() => readFileBounded("/dev/zero", 4096));
    expect({ code: e.code, size: e.size }).toEqual({ code: "EFBIG", size: 4097 });
  });

  test("an empty file is empty, not an error", () => {
    writeFileSync(join(dir, "empty"), "");
    expect(readFileBounded(join(dir, "empty"), 10).length).toBe(0);
  });

  test("a missing file and a directory get one reason each", () => {
    expect(failure(() => readFileBounded(join(dir, "missing"), 10)).reason).toBe("no such file");
    mkdirSync(join(dir, "d"));
    const e = failure(() => readFileBounded(join(dir, "d"), 10));
    expect({ reason: e.reason, code: e.code }).toEqual({ reason: "is a directory", code: "EISDIR" });
  });

  test("the bytes match readFileSync for a file of several reads", () => {
    const bytes = new Uint8Array(300_000).map((_, i) => (i * 7) & 0xff);
    writeFileSync(join(dir, "multi"), bytes);
    expect(readFileBounded(join(dir, "multi"), 300_000).equals(readFileSync(join(dir, "multi")))).toBe(true);
  });
});

describe("errorCode", () => {
  test("the errno name of a failed call; undefined for anything else", () => {
    let err: unknown;
    try {
      readFileSync(join(dir, "missing"));
    } catch (e) {
      err = e;
    }
    expect(errorCode(err)).toBe("ENOENT");
    expect(errorCode(new Error("plain"))).toBeUndefined();
    expect(errorCode("ENOENT")).toBeUndefined();
  });
});

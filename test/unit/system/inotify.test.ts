import { describe, expect, test } from "bun:test";
import { closeSync, mkdtempSync, openSync, writeSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { IN_CLOSE_WRITE, IN_MOVED_TO, Inotify, parseEvents } from "../../../src/system/inotify.ts";

describe("parseEvents", () => {
  test("two events, names NUL-padded (struct inotify_event, inotify(7))", () => {
    const hex =
      "01000000" + "08000000" + "00000000" + "10000000" + Buffer.from("core.1\0\0\0\0\0\0\0\0\0\0").toString("hex") +
      "01000000" + "80000000" + "2a000000" + "00000000";
    expect(parseEvents(Buffer.from(hex, "hex"))).toEqual([
      { wd: 1, mask: IN_CLOSE_WRITE, cookie: 0, name: "core.1" },
      { wd: 1, mask: IN_MOVED_TO, cookie: 42, name: "" },
    ]);
  });
  test("a name past the end is a RangeError", () => {
    expect(() => parseEvents(Buffer.from("01000000080000000000000020000000616263", "hex"))).toThrow(RangeError);
  });
});

describe("Inotify", () => {
  test("IN_CLOSE_WRITE comes when the writer closes the file, not while it writes", async () => {
    const dir = mkdtempSync(join(tmpdir(), "crashkeep-ino-"));
    const ino = new Inotify();
    ino.add(dir, IN_CLOSE_WRITE);
    const fd = openSync(join(dir, "core.123"), "w");
    writeSync(fd, "half");
    // A file written and closed after the half-written core: its event comes first and alone
    // (inotify keeps the order), which shows the core's writes made none.
    writeFileSync(join(dir, "sentinel"), "closed");
    expect((await ino.next()).map((e) => e.name)).toEqual(["sentinel"]);
    writeSync(fd, " and the rest");
    closeSync(fd);
    expect((await ino.next()).map((e) => e.name)).toEqual(["core.123"]);
    ino.close();
  });
});

// `crashkeep note` and `crashkeep shutdown` through the real dispatcher, on a
// file-backed device under a fake root (CRASHKEEP_ROOT) holding the boot id.
import { afterAll, afterEach, beforeEach, describe, expect, spyOn, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { main } from "../../../src/main.ts";
import { openDevice } from "../../../src/copy/block-device.ts";
import { formatJournal, openJournal, readJournal } from "../../../src/journal/journal.ts";

const root = mkdtempSync(join(tmpdir(), "crashkeep-cli-"));
const BOOT = "12345678-9abc-4def-8123-456789abcdef";
mkdirSync(join(root, "proc/sys/kernel/random"), { recursive: true });
writeFileSync(join(root, "proc/sys/kernel/random/boot_id"), `${BOOT}\n`);
mkdirSync(join(root, "dev/mtdchar"), { recursive: true });
const device = join(root, "dev/mtdchar/crashkeep");
const savedRoot = process.env.CRASHKEEP_ROOT;
let errors: string[] = [];
let errorSpy: ReturnType<typeof spyOn>;

beforeEach(() => {
  process.env.CRASHKEEP_ROOT = root;
  writeFileSync(device, new Uint8Array(256 * 1024));
  const dev = openDevice(device, { write: true });
  formatJournal(dev, { runDir: join(root, "run/crashkeep"), bootId: BOOT, slotBytes: 4096 });
  dev.close();
  errors = [];
  errorSpy = spyOn(console, "error").mockImplementation((...a: unknown[]) => void errors.push(a.join(" ")));
});
afterEach(() => {
  errorSpy.mockRestore();
  if (savedRoot === undefined) delete process.env.CRASHKEEP_ROOT;
  else process.env.CRASHKEEP_ROOT = savedRoot;
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

const view = () => {
  const dev = openDevice(device);
  try {
    return readJournal(openJournal(dev, { runDir: join(root, "run/crashkeep") }));
  } finally {
    dev.close();
  }
};

describe("crashkeep note", () => {
  test("adds a note record on the default device, stamped with the running boot id", async () => {
    expect(await main(["note", "checking", "the", "fan"])).toBe(0);
    const v = view();
    expect(v.records.map((r) => [r.kind, new TextDecoder().decode(r.payload), r.bootId])).toEqual([["note", "checking the fan", BOOT]]);
    expect(v.control?.notedReason).toBeNull();
  });

  test("--reason sets the noted reason; TEXT defaults to it", async () => {
    expect(await main(["note", "--reason", "firmware update"])).toBe(0);
    expect(await main(["note", "--reason=watchdog test", "pulling", "the plug"])).toBe(0);
    const v = view();
    expect(v.control?.notedReason?.text).toBe("watchdog test");
    expect(v.records.map((r) => new TextDecoder().decode(r.payload))).toEqual(["firmware update", "pulling the plug"]);
  });

  test("--device names another device", async () => {
    const other = join(root, "other.img");
    writeFileSync(other, new Uint8Array(256 * 1024));
    const dev = openDevice(other, { write: true });
    formatJournal(dev, { runDir: join(root, "run/crashkeep"), slotBytes: 4096 });
    dev.close();
    expect(await main(["note", "--device", other, "elsewhere"])).toBe(0);
    expect(view().records).toEqual([]);
    // ...and the note reached the named device.
    const named = openDevice(other);
    try {
      const records = readJournal(openJournal(named, { runDir: join(root, "run/crashkeep") })).records;
      expect(records.map((r) => [r.kind, new TextDecoder().decode(r.payload), r.bootId])).toEqual([["note", "elsewhere", BOOT]]);
    } finally {
      named.close();
    }
  });

  test.each([
    [["note"], 2, /Missing TEXT/],
    [["note", "--colour", "x"], 2, /Unknown option "--colour"/],
    [["note", "x".repeat(5000)], 2, /longer than 4096/],
    [["note", "--device", "/nonexistent/mtd9", "x"], 1, /^Cannot open "\/nonexistent\/mtd9" for writing: no such file or device$/],
  ])("%p exits %i", async (args, code, message) => {
    expect(await main(args)).toBe(code);
    expect(errors[0]).toMatch(message);
  });

  test("an unformatted device is an error, not garbage", async () => {
    writeFileSync(device, new Uint8Array(256 * 1024));
    expect(await main(["note", "x"])).toBe(1);
    expect(errors[0]).toBe(`Cannot append to journal "${device}": the journal is not formatted (or memory was not retained)`);
  });
});

describe("crashkeep shutdown", () => {
  test("writes the clean-shutdown marker", async () => {
    expect(view().control?.cleanShutdownMs).toBeNull();
    const before = Date.now();
    expect(await main(["shutdown"])).toBe(0);
    expect(view().control?.cleanShutdownMs).toBeGreaterThanOrEqual(before);
  });

  test("takes no arguments", async () => {
    expect(await main(["shutdown", "now"])).toBe(2);
    expect(errors[0]).toMatch(/Unexpected argument "now"/);
  });
});

import { describe, expect, test } from "bun:test";
import { mkdtempSync, mkdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ConfigError, loadConfig, parseConfig } from "../../../src/config/load.ts";
import { configRegions, requiredMemmap } from "../../../src/config/memmap.ts";
import { parseSize } from "../../../src/config/units.ts";
import { makePaths } from "../../../src/system/paths.ts";

const fixtures = join(import.meta.dir, "../../fixtures/config");
const overlay = join(import.meta.dir, "../../../rootfs-overlay/etc/crashkeep/config.json");

function problems(file: string): string[] {
  try {
    loadConfig(file);
  } catch (err) {
    if (err instanceof ConfigError) return err.message.split("\n");
    throw err;
  }
  throw new Error(`${file} loaded`);
}

describe("parseSize", () => {
  test.each([
    [4096, 4096],
    ["4096", 4096],
    ["0x7000000", 0x7000000],
    ["0X10", 16],
    ["8Mi", 8 * 1024 * 1024],
    ["64ki", 65536],
    ["64Ki", 65536],
    ["64KiB", 65536],
    ["1 GiB", 1024 ** 3],
    ["2M", 2 * 1024 * 1024],
  ] as const)("%p → %d", (input, want) => {
    expect(parseSize(input)).toBe(want);
  });
  test.each(["", "-1", "1.5Mi", "8 parsecs", "0x", "Mi", "1e3"])("%p is not a size", (input) => {
    expect(parseSize(input)).toBeUndefined();
  });
  test.each([-1, 1.5, Number.NaN, 2 ** 60])("number %p is not a size", (input) => {
    expect(parseSize(input)).toBeUndefined();
  });
});

describe("good configs", () => {
  test("the QEMU image default: ramoops over the first 8 MiB, phram over the second, memmap=16M$0x7000000", () => {
    const { config, file } = loadConfig(overlay);
    expect(file).toBe(overlay);
    expect(config.ramoops).toMatchObject({ address: 0x7000000, sizeBytes: 8 << 20, recordSizeBytes: 65536 });
    expect(config.phram).toMatchObject({ name: "crashkeep", address: 0x7800000, sizeBytes: 8 << 20 });
    expect(requiredMemmap(configRegions(config))).toEqual(["memmap=16M$0x7000000"]);
  });

  test("an empty file takes every default", () => {
    const { config } = loadConfig(join(fixtures, "good-minimal.json"));
    expect(config).toEqual(parseConfig({}));
    expect(config.logs.files).toEqual([{ path: "/var/log/messages", tailBytes: 65536 }]);
    expect(config.ramoops.maxReason).toBe(2);
  });

  test("strings and numbers are normalised once", () => {
    const { config } = loadConfig(join(fixtures, "good-strings.json"));
    expect(config.ramoops).toEqual({
      address: 0x10000000, sizeBytes: 2 << 20, recordSizeBytes: 0x20000, consoleSizeBytes: 65536,
      pmsgSizeBytes: 0, ftraceSizeBytes: 0, eccBytes: 16, maxReason: 1, memType: 1,
    });
    expect(config.phram).toEqual({ name: "oops", address: 270532608, sizeBytes: 1 << 20, eraseSizeBytes: 4096 });
    expect(config.logs.files[1]).toEqual({ path: "/var/log/app.log", tailBytes: 65536 });
    expect(requiredMemmap(configRegions(config))).toEqual(["memmap=3M$0x10000000"]);
  });

  test("separate regions need one memmap= each", () => {
    const config = parseConfig({ ramoops: { address: "0x7000000", sizeBytes: "1Mi" }, phram: { address: "0x9000000", sizeBytes: "2Mi" } });
    expect(requiredMemmap(configRegions(config))).toEqual(["memmap=1M$0x7000000", "memmap=2M$0x9000000"]);
  });

  test("a missing default file means defaults; a missing explicit file is an error", () => {
    const root = mkdtempSync(join(tmpdir(), "crashkeep-cfg-"));
    const saved = process.env.CRASHKEEP_CONFIG;
    delete process.env.CRASHKEEP_CONFIG;
    try {
      expect(loadConfig(undefined, { paths: makePaths(root) }).file).toBeUndefined();
      mkdirSync(join(root, "etc/crashkeep"), { recursive: true });
      writeFileSync(join(root, "etc/crashkeep/config.json"), '{"phram":{"name":"fromroot"}}');
      expect(loadConfig(undefined, { paths: makePaths(root) }).config.phram.name).toBe("fromroot");
      expect(() => loadConfig(join(root, "nope.json"))).toThrow(`Cannot load config "${join(root, "nope.json")}": no such file`);
    } finally {
      if (saved !== undefined) process.env.CRASHKEEP_CONFIG = saved;
    }
  });
});

describe("bad configs: every problem at once, one line each, key path and value", () => {
  const f = (name: string) => join(fixtures, name);
  test.each([
    ["bad-many.json", [
      'phram.name: must be 1-63 characters of A-Z a-z 0-9 _ . -, got "has space"',
      'phram.sizeBytes: must be a multiple of 4096, got 1000',
      'ramoops.recordSizeBytes: must be a power of two, got "48ki"',
      'ramoops.maxReason: must be one of "panic", "oops", "emergency", "shutdown", got "sometimes"',
      'archive.dir: must be an absolute path, got "relative/path"',
      'cores.mode: must be one of "watch", "pipe", "off", got "dump"',
      'colour: unknown key',
    ]],
    ["bad-overlap.json", [
      'phram.address: phram region 0x7400000-0x7bfffff overlaps ramoops region 0x7000000-0x77fffff, got "0x7400000"',
    ]],
    ["bad-zero.json", [
      "phram.sizeBytes: must not be zero, got 0",
      'ramoops.sizeBytes: must not be zero, got "0x0"',
    ]],
    ["bad-units.json", [
      'phram.address: must be an address such as "0x7000000", got "7 parsecs"',
      'ramoops.address: must be aligned to 4096 bytes, got "0x7000001"',
      'ramoops.sizeBytes: must be a size such as 4096, "0x1000", "64ki" or "8Mi", got -4096',
    ]],
  ] as const)("%s", (name, lines) => {
    const got = problems(f(name));
    expect(got).toEqual(lines.map((l) => `Cannot load config "${f(name)}": ${l}`));
  });

  test("JSON syntax error is one line", () => {
    const got = problems(f("bad-syntax.json"));
    expect(got).toHaveLength(1);
    expect(got[0]).toStartWith(`Cannot load config "${f("bad-syntax.json")}": not valid JSON: `);
  });

  test("not an object", () => {
    expect(() => parseConfig([])).toThrow();
    const dir = mkdtempSync(join(tmpdir(), "crashkeep-cfg-"));
    writeFileSync(join(dir, "a.json"), "[1,2]");
    expect(problems(join(dir, "a.json"))).toEqual([`Cannot load config "${join(dir, "a.json")}": must be a JSON object`]);
  });

  test("ramoops must hold one record besides console, pmsg and ftrace", () => {
    expect(() => parseConfig({ ramoops: { sizeBytes: "64ki", recordSizeBytes: "64ki", consoleSizeBytes: "4ki" } })).toThrow(
      "ramoops.sizeBytes: must hold one 64ki record plus console, pmsg and ftrace (4ki)",
    );
  });

  test("log tails must fit in the phram region", () => {
    expect(() => parseConfig({ phram: { sizeBytes: "64ki" }, logs: { files: [{ path: "/a", tailBytes: "64ki" }] } })).toThrow(/do not fit in phram.sizeBytes/);
  });
});

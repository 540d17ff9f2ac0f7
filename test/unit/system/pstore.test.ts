// What crashkeep reads in the records the kernel left (real panics,
// test/fixtures/pstore/README.md), and collecting them on a fake tree.
import { describe, expect, test } from "bun:test";
import { existsSync, readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { summarizeDmesg, stripPrefix } from "../../../src/system/pstore.ts";
import { collectPreviousBoot } from "../../../src/boot/collect.ts";
import { parseConfig } from "../../../src/config/load.ts";
import { makePaths } from "../../../src/system/paths.ts";
import { makeFakeTree } from "../boot/fake-tree.ts";

const FIX = join(import.meta.dir, "../../fixtures/pstore");
const sysrq = readFileSync(join(FIX, "sysrq/dmesg-ramoops-0"));
const oom = readFileSync(join(FIX, "oom/dmesg-ramoops-0"));

describe("summarizeDmesg on real records", () => {
  test("sysrq panic", () => {
    expect(summarizeDmesg(sysrq.toString())).toMatchObject({
      reason: "panic", count: 1, part: 1, panicMessage: "sysrq triggered crash", outOfMemory: false,
    });
  });

  test("OOM panic: out-of-memory from the panic message and the OOM killer's lines", () => {
    expect(summarizeDmesg(oom.toString())).toMatchObject({
      reason: "panic", panicMessage: "Out of memory: system-wide panic_on_oom is enabled", outOfMemory: true,
    });
  });

  test.each([
    ["<0>[    3.861880] Kernel panic - not syncing: x", "Kernel panic - not syncing: x"],
    ["<6>[12345.000001] sysrq: Trigger a crash", "sysrq: Trigger a crash"],
    ["no prefix", "no prefix"],
  ])("stripPrefix(%p)", (line, want) => {
    expect(stripPrefix(line)).toBe(want);
  });

  test("damaged text: a record cut anywhere still summarizes without throwing", () => {
    const text = sysrq.toString();
    for (let cut = 0; cut < text.length; cut += 997) {
      const s = summarizeDmesg(text.slice(0, cut));
      expect(["panic", "unknown"]).toContain(s.reason);
    }
    expect(summarizeDmesg("").reason).toBe("unknown");
    expect(summarizeDmesg("\u0000\uffff garbage\n<0>[ not a prefix").panicMessage).toBeUndefined();
  });
});

describe("collectPreviousBoot with a real record", () => {
  test("archived byte for byte, then unlinked; reason and detail from the record", () => {
    const tree = makeFakeTree({ pstore: { "dmesg-ramoops-0": oom } });
    const paths = makePaths(tree.root);
    const c = collectPreviousBoot(parseConfig({}), paths, { now: new Date("2026-11-26T04:00:00Z") });
    expect(c.error).toBeUndefined();
    expect(c.reason).toEqual({ reason: "kernel-panic", subreason: "out-of-memory", detail: "Out of memory: system-wide panic_on_oom is enabled" });
    expect(c.cleared).toEqual(["dmesg-ramoops-0"]);
    expect(existsSync(join(tree.root, "sys/fs/pstore/dmesg-ramoops-0"))).toBe(false);
    const dir = c.entryDir ?? "";
    expect(Buffer.compare(readFileSync(join(dir, "dmesg-ramoops-0")), oom)).toBe(0);
    expect(readdirSync(dir).sort()).toEqual(["dmesg-ramoops-0", "entry.json"]);
  });

  test("an archive that cannot be written leaves the record in pstore and says so", () => {
    const tree = makeFakeTree({ pstore: { "dmesg-ramoops-0": sysrq } });
    tree.write("var/lib/crashkeep", "a file where the archive directory should be");
    const c = collectPreviousBoot(parseConfig({}), makePaths(tree.root));
    expect(c.error).toBeDefined();
    expect(c.summary).toMatch(/^crashkeep: previous boot ended in kernel-panic: sysrq triggered crash; 1 pstore record\(s\) left in pstore: /);
    expect(Buffer.compare(readFileSync(join(tree.root, "sys/fs/pstore/dmesg-ramoops-0")), sysrq)).toBe(0);
  });
});

// Text and compact renderings of real reports.
import { describe, expect, test } from "bun:test";
import { compactReport, formatText, MAX_COMPACT_BYTES } from "../../../src/core/format.ts";
import { buildReport } from "../../../src/core/report.ts";
import { readCoreFile } from "../../../src/core/source.ts";
import { fixtures } from "./fixtures.ts";

const all = fixtures();
const report = (name: string, arch = "x86_64") => {
  const f = all.find((x) => x.name === name && x.arch === arch)!;
  return buildReport(readCoreFile(f.core), { sysroot: f.sysroot });
};

describe("reports", () => {
  test.each([
    ["nested", "SEGV_MAPERR at 0x10", "null-dereference"],
    ["nested-o2", "SEGV_MAPERR at 0x10", "null-dereference"],
    ["static", "SEGV_MAPERR at 0x10", "null-dereference"],
    ["abort", "SIGABRT (SI_TKILL)", "assertion"],
    ["stripped", "SIGABRT (SI_TKILL)", "assertion"],
    ["fpe", null, "divide-by-zero"],
    ["bus", null, "bus-error"],
    ["overflow", null, "stack-overflow"],
    ["threads", "SEGV_MAPERR at 0x8", "null-dereference"],
    ["handler", "SEGV_MAPERR at 0x0", "null-dereference"],
    ["badcall", "SEGV_MAPERR at 0x0", "null-dereference"],
    ["debugframe", "SEGV_MAPERR at 0x10", "null-dereference"],
  ])("%s: %s, %s", (name, summary, cause) => {
    const r = report(name);
    if (summary) expect(r.signal.summary).toBe(summary);
    expect(r.cause.kind as string).toBe(cause);
    expect(r.incomplete).toBe(false);
    const crash = r.threads[0]!;
    expect(crash.crashing).toBe(true);
    expect(crash.tid).toBe(r.tid!);
    expect(crash.frames[0]!.method).toBe("context");
    for (const f of crash.frames) {
      if (f.module && !f.module.startsWith("[")) expect(f.buildId).toMatch(/^[0-9a-f]{40}$/);
    }
  });

  test.each([
    ["nested", "SEGV_MAPERR at 0x10", "null-dereference"],
    ["nested-o2", "SEGV_MAPERR at 0x10", "null-dereference"],
    ["abort", "SIGABRT (SI_TKILL)", "assertion"],
    ["threads", "SEGV_MAPERR at 0x8", "null-dereference"],
    ["handler", "SEGV_MAPERR at 0x0", "null-dereference"],
    ["threadcrash", "SEGV_MAPERR at 0x18", "null-dereference"],
  ])("aarch64 %s (kernel core from the arm64 QEMU guest: NT_SIGINFO, NT_FILE): %s, %s", (name, summary, cause) => {
    const r = report(name, "aarch64");
    expect(r.arch).toBe("aarch64");
    expect(r.signal.summary).toBe(summary);
    expect(r.cause.kind as string).toBe(cause);
    expect(r.incomplete).toBe(false);
    const crash = r.threads[0]!;
    expect(crash.crashing).toBe(true);
    expect(crash.tid).toBe(r.tid!);
    expect(r.modules.map((m) => m.path)).toEqual(expect.arrayContaining([`/opt/crashkeep-fixtures/aarch64/${name}`, "/lib/aarch64-linux-gnu/libc.so.6"]));
    for (const f of crash.frames) {
      if (f.module && !f.module.startsWith("[")) expect(f.buildId).toMatch(/^[0-9a-f]{40}$/);
    }
  });

  test.each([
    ["nested", "SIGSEGV", 7],
    ["abort", "SIGABRT", 11],
    ["threads", "SIGSEGV", 4],
  ])("aarch64 %s (qemu-user core: no NT_FILE, modules from r_debug)", (name, signal, frames) => {
    const r = report(name, "aarch64-qemu-user");
    expect(r.arch).toBe("aarch64");
    expect(r.signal.name).toBe(signal);
    expect(r.incomplete).toBe(false);
    expect(r.threads[0]!.frames.length).toBe(frames);
    expect(r.modules.map((m) => m.path)).toEqual(expect.arrayContaining(["/lib/libc.so.6", "/lib/ld-linux-aarch64.so.1"]));
    if (name === "abort") expect(r.cause.kind).toBe("assertion");
  });

  test("signal fields", () => {
    const r = report("fpe");
    expect(r.signal).toMatchObject({ number: 8, name: "SIGFPE", code: 1, codeName: "FPE_INTDIV", meaning: "integer divide by zero" });
    expect(r.comm).toBe("fpe");
    expect(r.exe).toBe("/opt/crashkeep-fixtures/x86_64/fpe");
  });

  test("text form reads like a tombstone", () => {
    const t = formatText(report("nested"));
    expect(t).toContain("signal 11 (SIGSEGV), code 1 (SEGV_MAPERR), fault addr 0x10");
    expect(t).toContain("Cause: null pointer dereference");
    expect(t).toMatch(/#00 pc [0-9a-f]{16} {2}\/opt\/crashkeep-fixtures\/x86_64\/nested \(level3\+\d+\) \(BuildId: [0-9a-f]+\) \[context\]/);
    expect(t).toContain("memory map");
  });

  test.each(["threads", "overflow", "abort"])("compact form of %s is bounded, crashing thread first", (name) => {
    const r = report(name);
    const c = compactReport(r);
    expect(Buffer.byteLength(c)).toBeLessThanOrEqual(MAX_COMPACT_BYTES);
    const parsed = JSON.parse(c);
    expect(parsed.threads[0].tid).toBe(r.tid);
    expect(parsed.signal).toBe(r.signal.summary);
  });

  test("compact form stays bounded with a tiny limit", () => {
    const r = report("threads");
    for (const limit of [300, 600, 1000]) expect(Buffer.byteLength(compactReport(r, limit))).toBeLessThanOrEqual(limit);
  });
});

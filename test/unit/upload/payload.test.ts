import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { writeEntry } from "../../../src/archive/archive.ts";
import type { Report } from "../../../src/core/report.ts";
import {
  bootPayload, crashPayload, cutMarker, encodePayload, notePayload, parsePayload, payloadBytes, payloadTopic, rollbackPayload, type DeviceInfo,
} from "../../../src/upload/payload.ts";

const roots: string[] = [];
function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), "crashkeep-payload-"));
  roots.push(d);
  return d;
}
afterAll(() => {
  for (const d of roots) rmSync(d, { recursive: true, force: true });
});

const device: DeviceInfo = { id: "0123456789abcdef0123456789abcdef", firmware: "2026.11 (42)", hardware: "QEMU Standard PC", kernel: "6.1.0-28-amd64", arch: "x86_64", crashkeepVersion: "0.1.0+abc" };
const LIMITS = { maxBytes: 1 << 24, maxEntries: 10, minFreeBytes: 0 };

function archivedPanic(panicLogBytes: number, tailLines: number) {
  const dir = join(tmp(), "archive");
  const log = `Panic#1 Part1\n${"x".repeat(panicLogBytes)}\nKernel panic - not syncing: sysrq triggered crash\n`;
  const tail = Array.from({ length: tailLines }, (_, i) => `line ${i}`).join("\n") + "\n";
  const { entry, dir: entryDir } = writeEntry(dir, {
    archivedAt: "2026-11-26T03:00:00.000Z", endedAt: "2026-11-26T02:55:00.000Z", reason: "kernel-panic", subreason: undefined,
    detail: "sysrq triggered crash", previousBootId: "8c1a6d1e-0000-4000-8000-000000000000",
    summary: "crashkeep: previous boot ended in kernel-panic: sysrq triggered crash; last user-space crash before it: crasher (pid 7, SEGV_MAPERR at 0x10); archived 1 pstore record(s)",
    facts: { pstore: [{ file: "dmesg-ramoops-0", kind: "dmesg", dmesg: { panicMessage: "sysrq triggered crash" } }] },
  }, [
    { name: "dmesg-ramoops-0", kind: "pstore-dmesg", source: "/sys/fs/pstore/dmesg-ramoops-0", bytes: log },
    { name: "log-0-messages", kind: "log-tail", source: "journal log area 0 (/var/log/messages)", bytes: tail },
  ], LIMITS);
  return { entry, entryDir };
}

function report(frames: number): Report {
  const frame = (i: number) => ({ index: i, pc: `0x${(0x401000 + i).toString(16)}`, module: "/usr/bin/crasher", moduleOffset: `0x${(0x1000 + i).toString(16)}`, buildId: "ab".repeat(20), symbol: `f${i}`, symbolOffset: 4, method: "cfi" });
  return {
    version: 1, arch: "x86_64", pid: 7, tid: 7, ppid: 1, comm: "crasher", exe: "/usr/bin/crasher", cmdline: "crasher", uid: 0, gid: 0,
    signal: { number: 11, name: "SIGSEGV", code: 1, codeName: "SEGV_MAPERR", meaning: "address not mapped", faultAddress: "0x10", summary: "SEGV_MAPERR at 0x10", senderPid: null },
    cause: { kind: "null-dereference", text: "null pointer dereference" },
    threads: [{ tid: 7, crashing: true, registers: { rip: "0x401000" }, frames: Array.from({ length: frames }, (_, i) => frame(i)), stop: "end" }],
    modules: [], memoryMap: [], incomplete: false, warnings: [],
  } as unknown as Report;
}

describe("boot payload", () => {
  test("carries reason, panic message, the end of the panic log and the log tail; validates", () => {
    const { entry, entryDir } = archivedPanic(100, 5);
    const p = bootPayload(entry, { device, entryDir, maxMessageBytes: 100 * 1024 });
    expect(parsePayload(encodePayload(p))).toEqual(p);
    expect(p.id).toBe(`${device.id}/boot/${entry.id}`);
    expect(p.boot.reason).toBe("kernel-panic");
    expect(p.boot.panicMessage).toBe("sysrq triggered crash");
    expect(p.boot.panicLog?.endsWith("Kernel panic - not syncing: sysrq triggered crash\n")).toBe(true);
    expect(p.boot.logTails).toEqual([{ path: "/var/log/messages", lines: ["line 0", "line 1", "line 2", "line 3", "line 4"] }]);
    expect(p.boot.lastUserCrash).toBe("crasher (pid 7, SEGV_MAPERR at 0x10)");
    expect(p.truncated).toBe(false);
    expect(payloadTopic("crashkeep/v1", p)).toBe(`crashkeep/v1/${device.id}/boot`);
  });

  test.each([16 * 1024, 40 * 1024])("a 60 KiB panic log is cut from the front to fit %i bytes, keeping the panic line", (max) => {
    const { entry, entryDir } = archivedPanic(60 * 1024, 150);
    const p = bootPayload(entry, { device, entryDir, maxMessageBytes: max });
    expect(payloadBytes(p)).toBeLessThanOrEqual(max);
    expect(p.truncated).toBe(true);
    expect(p.boot.panicLog).toContain("bytes cut]");
    expect(p.boot.panicLog?.endsWith("sysrq triggered crash\n")).toBe(true);
    expect(p.boot.logTails[0]?.lines.at(-1)).toBe("line 149");
    parsePayload(encodePayload(p));
  });

  test("the same entry gives the same bytes twice (receivers de-duplicate by id)", () => {
    const { entry, entryDir } = archivedPanic(10, 3);
    expect(encodePayload(bootPayload(entry, { device, entryDir, maxMessageBytes: 65536 }))).toBe(encodePayload(bootPayload(entry, { device, entryDir, maxMessageBytes: 65536 })));
  });
});

describe("crash payload", () => {
  test("the full report when it fits", () => {
    const p = crashPayload(report(10), { device, maxMessageBytes: 100 * 1024, reportId: "20261126T025000Z-crasher-7", time: new Date("2026-11-26T02:50:00Z"), compact: () => "{}" });
    expect(p.crash.form).toBe("full");
    expect(p.crash.signal).toBe("SIGSEGV SEGV_MAPERR at 0x10");
    expect((p.crash.report as { threads: unknown[] }).threads).toHaveLength(1);
    expect(parsePayload(encodePayload(p)).kind).toBe("crash");
  });

  test("the compact form when the full one does not fit", () => {
    const compact = JSON.stringify({ v: 1, arch: "x86_64", comm: "crasher", threads: [] });
    const p = crashPayload(report(2000), { device, maxMessageBytes: 16 * 1024, reportId: "r", time: new Date(0), compact: () => compact });
    expect(p.crash.form).toBe("compact");
    expect(p.truncated).toBe(true);
    expect(p.crash.report).toEqual(JSON.parse(compact));
    expect(payloadBytes(p)).toBeLessThanOrEqual(16 * 1024);
  });
});

describe("note payload", () => {
  test("a long note is cut at its end with the marker", () => {
    const p = notePayload({ text: "é".repeat(20000), time: new Date(0), localId: "n1" }, { device, maxMessageBytes: 8192 });
    expect(payloadBytes(p)).toBeLessThanOrEqual(8192);
    expect(p.note.text.startsWith("éé")).toBe(true);
    expect(p.note.text).toMatch(/\[crashkeep: \d+ bytes cut\]$/);
  });

  test("the dropped-entries note validates", () => {
    const p = notePayload({ text: "dropped", time: new Date(0), localId: "d", dropped: { boot: 0, crash: 3, note: 1, since: "2026-11-20T00:00:00.000Z" } }, { device, maxMessageBytes: 8192 });
    expect(parsePayload(encodePayload(p)).kind).toBe("note");
  });
});

describe("rollback payload", () => {
  const body = {
    archiveId: "20261208T001000Z-rollback", trigger: "crashkeep" as const, fromSlot: "B", fromFirmware: "2.0", toSlot: "A", toFirmware: "1.0",
    badBoots: Array.from({ length: 20 }, (_, i) => ({ slot: "B", bootId: `boot-${i}`, reason: "kernel-panic", detail: `panic ${i} ${"x".repeat(3000)}`, executable: null, signature: null, endedAt: "2026-12-08T00:00:00.000Z" })),
    decidedAt: "2026-12-08T00:10:00.000Z",
  };

  test("validates, keeps the newest 16 bad boots, is cut to fit, and is one message per archive entry", () => {
    const p = rollbackPayload(body, { device, maxMessageBytes: 16384 });
    expect(parsePayload(encodePayload(p)).kind).toBe("rollback");
    expect(p.id).toBe(`${device.id}/rollback/20261208T001000Z-rollback`);
    expect(payloadTopic("crashkeep/v1", p)).toBe(`crashkeep/v1/${device.id}/rollback`);
    expect(p.rollback.badBoots.map((b) => b.bootId)).toEqual(Array.from({ length: 16 }, (_, i) => `boot-${i + 4}`));
    expect(payloadBytes(p)).toBeLessThanOrEqual(16384);
    expect(p.truncated).toBe(true);
    expect(body.badBoots[0]?.detail.length).toBe(3008); // the caller's body is not cut
  });
});

test.each([
  ["{", /Cannot parse/],
  [JSON.stringify({ schema: "crashkeep.upload/2", kind: "note" }), /Cannot accept upload payload/],
])("a bad message is refused: %s", (msg, re) => {
  expect(() => parsePayload(msg)).toThrow(re);
});

test("the marker names the bytes cut", () => {
  expect(cutMarker(12)).toBe("[crashkeep: 12 bytes cut]");
});

import { afterAll, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { clearDropped, enqueue, expireOutbox, listOutbox, outboxUsage, readDropped, readOutboxEntry, removeOutboxEntry, removeOutboxTemps } from "../../../src/upload/outbox.ts";
import { notePayload, type DeviceInfo, type UploadPayload } from "../../../src/upload/payload.ts";

const roots: string[] = [];
function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), "crashkeep-outbox-"));
  roots.push(d);
  return join(d, "outbox");
}
afterAll(() => {
  for (const d of roots) rmSync(d, { recursive: true, force: true });
});

const device: DeviceInfo = { id: "dev1", firmware: null, hardware: null, kernel: null, arch: "x86_64", crashkeepVersion: "0.1.0" };
const LIMITS = { maxEntries: 5, maxBytes: 1 << 20, maxAgeDays: 7, minFreeBytes: 0 };

function msg(kind: "boot" | "crash" | "note", n: number): UploadPayload {
  const p = notePayload({ text: `${kind} ${n}`, time: new Date(0), localId: `${kind}-${n}` }, { device, maxMessageBytes: 8192 });
  // The outbox does not look inside: any kind label works for the quota tests.
  return { ...p, kind, id: `dev1/${kind}/${n}` } as unknown as UploadPayload;
}

describe("enqueue", () => {
  test("writes exactly the message bytes, oldest first, no temp files left", () => {
    const dir = tmp();
    enqueue(dir, msg("crash", 1), { ...LIMITS, nowMs: 1000 });
    enqueue(dir, msg("note", 2), { ...LIMITS, nowMs: 2000 });
    const entries = listOutbox(dir);
    expect(entries.map((e) => e.kind)).toEqual(["crash", "note"]);
    expect(JSON.parse(new TextDecoder().decode(readOutboxEntry(dir, entries[0]!)))).toEqual(JSON.parse(JSON.stringify(msg("crash", 1))));
    expect(readdirSync(dir).filter((n) => n.includes(".tmp"))).toEqual([]);
  });

  test("the same message id is queued once", () => {
    const dir = tmp();
    expect(enqueue(dir, msg("crash", 1), LIMITS).written).toBe(true);
    expect(enqueue(dir, msg("crash", 1), LIMITS).written).toBe(false);
    expect(listOutbox(dir)).toHaveLength(1);
  });

  test("beyond maxEntries the oldest non-boot entries go first, boots last, and the drops are counted", () => {
    const dir = tmp();
    enqueue(dir, msg("boot", 0), { ...LIMITS, nowMs: 1000 });
    for (let i = 1; i <= 4; i++) enqueue(dir, msg("crash", i), { ...LIMITS, nowMs: 1000 + i });
    enqueue(dir, msg("note", 5), { ...LIMITS, nowMs: 2000 });
    enqueue(dir, msg("crash", 6), { ...LIMITS, nowMs: 3000 });
    const left = listOutbox(dir);
    expect(left).toHaveLength(5);
    expect(left.map((e) => e.kind)).toEqual(["boot", "crash", "crash", "note", "crash"]);
    expect(readDropped(dir)).toEqual({ boot: 0, crash: 2, note: 0, since: new Date(1001).toISOString() });
  });

  test("only boots left: the oldest boot goes", () => {
    const dir = tmp();
    for (let i = 0; i < 6; i++) enqueue(dir, msg("boot", i), { ...LIMITS, nowMs: 1000 + i });
    expect(listOutbox(dir)).toHaveLength(5);
    expect(readDropped(dir)?.boot).toBe(1);
  });

  test("maxBytes counts the bytes of the waiting messages", () => {
    const dir = tmp();
    const one = Buffer.byteLength(JSON.stringify(msg("crash", 1)));
    const limits = { ...LIMITS, maxEntries: 100, maxBytes: one * 3 + 10 };
    for (let i = 1; i <= 5; i++) enqueue(dir, msg("crash", i), { ...limits, nowMs: i });
    expect(outboxUsage(dir).entries).toBe(3);
    expect(outboxUsage(dir).bytes).toBeLessThanOrEqual(limits.maxBytes);
  });

  test("entries older than maxAgeDays are dropped whatever their kind", () => {
    const dir = tmp();
    enqueue(dir, msg("boot", 1), { ...LIMITS, nowMs: 0 });
    enqueue(dir, msg("crash", 2), { ...LIMITS, nowMs: 8 * 86_400_000 });
    expect(listOutbox(dir).map((e) => e.kind)).toEqual(["crash"]);
    expect(readDropped(dir)?.boot).toBe(1);
  });

  test("clearDropped subtracts what the note reported", () => {
    const dir = tmp();
    for (let i = 0; i < 8; i++) enqueue(dir, msg("crash", i), { ...LIMITS, nowMs: i });
    const d = readDropped(dir)!;
    expect(d.crash).toBe(3);
    clearDropped(dir, { ...d, crash: 2 });
    expect(readDropped(dir)?.crash).toBe(1);
    clearDropped(dir, readDropped(dir)!);
    expect(readDropped(dir)).toBeUndefined();
  });

  test("removeOutboxEntry after the PUBACK; twice is harmless", () => {
    const dir = tmp();
    enqueue(dir, msg("note", 1), LIMITS);
    const [e] = listOutbox(dir);
    removeOutboxEntry(dir, e!);
    removeOutboxEntry(dir, e!);
    expect(listOutbox(dir)).toEqual([]);
  });
});

describe("expireOutbox", () => {
  test("drops and counts what is older than maxAgeDays, keeps the rest", () => {
    const dir = tmp();
    enqueue(dir, msg("boot", 1), { ...LIMITS, nowMs: 0 });
    enqueue(dir, msg("crash", 2), { ...LIMITS, nowMs: 86_400_000 });
    expect(expireOutbox(dir, { maxAgeDays: 7, nowMs: 7.5 * 86_400_000 }).map((e) => e.kind)).toEqual(["boot"]);
    expect(listOutbox(dir).map((e) => e.kind)).toEqual(["crash"]);
    expect(readDropped(dir)).toMatchObject({ boot: 1, crash: 0, note: 0 });
    expect(expireOutbox(dir, { maxAgeDays: 7, nowMs: 7.5 * 86_400_000 })).toEqual([]);
  });
});

describe("killed writers (found by the fault sweep)", () => {
  test("the next enqueue removes an entry's temp file whose writer is dead, and keeps a live writer's", () => {
    const dir = tmp();
    mkdirSync(dir, { recursive: true });
    const dead = Bun.spawnSync(["true"]).pid;
    const live = process.ppid;
    writeFileSync(join(dir, `.001796043369256-117321-note-ae89d5292244fc9c.json.tmp${dead}`), "half");
    writeFileSync(join(dir, `.001796043369257-117322-note-ae89d5292244fc9d.json.tmp${live}`), "in progress");
    enqueue(dir, msg("note", 1), LIMITS);
    const names = readdirSync(dir);
    expect(names.some((n) => n.endsWith(`.tmp${dead}`))).toBe(false);
    expect(names.some((n) => n.endsWith(`.tmp${live}`))).toBe(true);
    expect(listOutbox(dir)).toHaveLength(1);
  });

  test("a flush's state.json and dropped.json temps of a dead writer are removed too (removeOutboxTemps, called by the sender)", () => {
    const dir = tmp();
    mkdirSync(dir, { recursive: true });
    const dead = Bun.spawnSync(["true"]).pid;
    const live = process.ppid;
    writeFileSync(join(dir, `.state.json.tmp${dead}`), "{");
    writeFileSync(join(dir, `.dropped.json.tmp${dead}`), "{");
    writeFileSync(join(dir, `.state.json.tmp${live}`), "{");
    expect(removeOutboxTemps(dir).sort()).toEqual([`.dropped.json.tmp${dead}`, `.state.json.tmp${dead}`]);
    expect(readdirSync(dir)).toEqual([`.state.json.tmp${live}`]);
  });
});

describe("listing (found by the fault sweep)", () => {
  test("strict: an outbox that cannot be read throws one line instead of passing for empty; a missing one is empty", () => {
    const dir = tmp();
    mkdirSync(join(dir, ".."), { recursive: true });
    writeFileSync(dir, "not a directory");
    expect(listOutbox(dir)).toEqual([]);
    expect(() => listOutbox(dir, { strict: true })).toThrow(/^Cannot list the outbox ".*\/outbox": ENOTDIR/);
    expect(listOutbox(`${dir}-missing`, { strict: true })).toEqual([]);
  });

  test("outboxUsage (status) says an unreadable outbox is unreadable, not empty", () => {
    const dir = tmp();
    mkdirSync(join(dir, ".."), { recursive: true });
    writeFileSync(dir, "not a directory");
    expect(outboxUsage(dir)).toMatchObject({ entries: 0, error: expect.stringMatching(/^Cannot list the outbox ".*\/outbox": ENOTDIR/) });
    expect(outboxUsage(`${dir}-missing`).error).toBeUndefined();
  });
});

// The collector's ingest against hostile or broken devices (issue 22), on
// SQLite in process: what can never be stored is rejected with its reason, a
// device names only its own messages, device times are clamped for sorting,
// new groups per device are bounded, reports are rebuilt from known keys and
// held to the device's own limits. The same cases against the compiled
// collector, mosquitto and PostgreSQL: test/integration/collect-hostile.test.ts.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DEVICE_ID, ingest, MAX_JSON_DEPTH, NOISE_GROUP, permanentDatabaseError, resymbolize, type IngestOptions } from "../../../src/collect/ingest.ts";
import { MAX_STORED_REPORT_BYTES, readCrashReport, REPORT_LIMITS } from "../../../src/collect/crash.ts";
import { Database } from "bun:sqlite";
import { MIGRATIONS } from "../../../src/collect/migrations.ts";
import { openStore, type Store } from "../../../src/collect/store.ts";
import { deviceDetail, groupDetail, health, listGroups, listVersions, pageOfDevices } from "../../../src/collect/views.ts";
import { MAX_BAD_BOOTS, type BadBoot } from "../../../src/upload/payload.ts";
import { bootMessage, daysAgo, device, rollbackMessage, type Message } from "./fleet.ts";
import { amplifyingCrash, AMPLIFY_FRAMES, conflicting, datedCrash, deepCrash, nulMessages, rewrap, spoofedBoot } from "./hostile.ts";

const NOW = new Date();
const SKEW_SECONDS = 600;
const options: IngestOptions = { topicPrefix: "crashkeep/v1", symbolize: { debugDirs: [], debuginfod: undefined }, maxClockSkewSeconds: SKEW_SECONDS, maxNewGroupsPerDeviceHour: 3, now: () => NOW };
let dir: string;
let store: Store;

const send = (m: Message) => ingest(store, m.topic, m.bytes, options);

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "ck-collect-hostile-"));
  store = await openStore(`sqlite://${dir}/collect.db`);
});
afterAll(async () => {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

describe("what can never be stored", () => {
  test.each(["boot", "crash", "note", "rollback"] as const)("a %s with a NUL in a string is rejected with the reason, the next message stored", async (kind) => {
    const dev = device(`nul-${kind}`, "1.0");
    const out = await send(nulMessages(dev)[kind]);
    expect(out.status === "rejected" && out.reason).toMatch(/NUL character/);
    expect((await health(store)).rejects[0]?.reason).toMatch(/NUL character/);
    expect(await send(bootMessage(dev, { reason: "clean", bootId: "after", time: daysAgo(0, 5) }))).toMatchObject({ status: "stored" });
  });

  test("a lone surrogate is rejected too (not UTF-8: PostgreSQL would refuse it)", async () => {
    const m = bootMessage(device("surrogate", "1"), { reason: "clean", bootId: "s", time: daysAgo(0, 5) });
    const text = new TextDecoder().decode(m.bytes).replace('"summary":"', '"summary":"\\ud800');
    const out = await ingest(store, m.topic, new TextEncoder().encode(text), options);
    expect(out.status === "rejected" && out.reason).toMatch(/lone surrogate/);
  });

  test("a PostgreSQL data error (SQLSTATE class 22, 23, 54) is permanent; a lost connection or a unique-key race is not", () => {
    const pg = (errno: string) => Object.assign(new Error("refused"), { name: "PostgresError", code: "ERR_POSTGRES_SERVER_ERROR", errno });
    expect(permanentDatabaseError(pg("22021"))).toMatch(/SQLSTATE 22021/);
    expect(permanentDatabaseError(pg("23502"))).toMatch(/SQLSTATE 23502/);
    expect(permanentDatabaseError(pg("54000"))).toMatch(/SQLSTATE 54000/);
    expect(permanentDatabaseError(pg("23505"))).toBeUndefined();
    expect(permanentDatabaseError(pg("40001"))).toBeUndefined();
    expect(permanentDatabaseError(Object.assign(new Error("Failed to connect"), { name: "PostgresError", code: "ERR_POSTGRES_CONNECTION_REFUSED" }))).toBeUndefined();
    expect(permanentDatabaseError(Object.assign(new Error("too big"), { code: "SQLITE_TOOBIG" }))).toMatch(/SQLITE_TOOBIG/);
    expect(permanentDatabaseError(Object.assign(new Error("busy"), { code: "SQLITE_BUSY" }))).toBeUndefined();
  });
});

describe("a device speaks only for itself", () => {
  test("an id naming another device is rejected; that device's own message is then stored", async () => {
    const victim = device("victim-1", "2.0");
    const real = bootMessage(victim, { reason: "kernel-panic", bootId: "v1", time: daysAgo(0, 40), panicMessage: "real panic" });
    const spoof = await send(spoofedBoot(device("attacker-1", "2.0"), real));
    expect(spoof.status === "rejected" && spoof.reason).toMatch(/is not under "attacker-1\/boot\/"/);
    expect(await send(real)).toMatchObject({ status: "stored" });
    const d = await deviceDetail(store, "victim-1");
    expect(d?.boots.map((b) => b.reason)).toEqual(["kernel-panic"]);
  });

  test("the same id with other content is a conflicting duplicate: counted, listed, the first kept", async () => {
    const first = bootMessage(device("conflict-1", "2.0"), { reason: "kernel-panic", bootId: "c1", time: daysAgo(0, 40), detail: "the first" });
    expect(await send(first)).toMatchObject({ status: "stored" });
    const before = await health(store);
    expect(await send(first)).toEqual({ status: "duplicate", id: first.payload.id, conflicting: false });
    expect(await send(conflicting(first))).toEqual({ status: "duplicate", id: first.payload.id, conflicting: true });
    const after = await health(store);
    expect(after.conflicts).toBe(before.conflicts + 1);
    expect(after.duplicates).toBe(before.duplicates + 1);
    expect(after.rejects[0]?.reason).toMatch(/conflicting duplicate/);
    expect((await deviceDetail(store, "conflict-1"))?.boots[0]?.detail).toBe("the first");
  });

  test("a crash id sent again with another report is a conflicting duplicate; the report is stored once, the message keeps its digest", async () => {
    const first = datedCrash(device("conflict-2", "2.0"), "conflicted", daysAgo(0, 3));
    expect(await send(first)).toMatchObject({ status: "stored" });
    if (first.payload.kind !== "crash") throw new Error("a crash expected");
    const other = structuredClone(first.payload);
    (other.crash.report as { comm: string }).comm = "other";
    expect(await send(rewrap(other))).toEqual({ status: "duplicate", id: first.payload.id, conflicting: true });
    const [row]: Array<{ payload: string; report: string }> = await store.sql`SELECT m.payload, r.report FROM messages m JOIN crash_reports r ON r.message_id = m.id WHERE m.id = ${first.payload.id}`;
    expect(JSON.parse(row?.payload ?? "{}").crash.report).toEqual({ storedIn: "crash_reports", sha256: expect.stringMatching(/^[0-9a-f]{64}$/) });
    expect(JSON.parse(row?.report ?? "{}").comm).toBe("conflicted");
  });

  test.each(["a/b", "a+b", "a#b", "a\u0000b", "a\u001bb", "a\u0085b", "a\u007fb"])("device id %j is refused (it is not one topic level)", async (id) => {
    expect(DEVICE_ID.test(id)).toBe(false);
    const m = bootMessage(device(id, "1"), { reason: "clean", bootId: "x", time: daysAgo(0, 5) });
    const out = await ingest(store, `crashkeep/v1/${id.replace(/[/+#\u0000]/g, "_")}/boot`, m.bytes, options);
    expect(out.status === "rejected" && out.reason).toMatch(/not one topic level/);
  });

  test("a_b is a device of its own", async () => {
    expect(await send(bootMessage(device("a_b", "1"), { reason: "clean", bootId: "ab", time: daysAgo(0, 5) }))).toMatchObject({ status: "stored" });
  });
});

describe("device times are evidence", () => {
  test("a crash dated 9999 is listed at receive time + the allowed skew; the device's time is kept beside it", async () => {
    const dev = device("future-1", "3.0");
    const out = await send(datedCrash(dev, "timewarp", "9999-12-30T00:00:00.000Z"));
    expect(out.status).toBe("stored");
    const latest = new Date(NOW.getTime() + SKEW_SECONDS * 1000).toISOString();
    const [row]: Array<{ time: string; device_time: string }> = await store.sql`SELECT time, device_time FROM crashes WHERE device_id = ${"future-1"}`;
    expect(row).toEqual({ time: latest, device_time: "9999-12-30T00:00:00.000Z" });
    const g = (await listGroups(store)).find((x) => out.status === "stored" && x.id === out.group);
    expect(g?.lastSeen).toBe(latest);
    // the device was last heard from when the message arrived
    const d = await deviceDetail(store, "future-1");
    expect(d?.lastSeen).toBe(NOW.toISOString());
  });

  test("a device sending times in 9999 is not kept above a device heard from after it (/devices sorts by receive time)", async () => {
    const later = new Date(NOW.getTime() + 1000);
    expect(await send(datedCrash(device("flood-top", "3.0"), "flood-top", "9999-12-30T00:00:00.000Z"))).toMatchObject({ status: "stored" });
    const quiet = bootMessage(device("heard-later", "3.0"), { reason: "clean", bootId: "q", time: later.toISOString() });
    expect(await ingest(store, quiet.topic, quiet.bytes, { ...options, now: () => later })).toMatchObject({ status: "stored" });
    const list = (await pageOfDevices(store)).items;
    expect(list[0]).toMatchObject({ id: "heard-later", lastSeen: later.toISOString() });
    expect(list.find((x) => x.id === "flood-top")?.lastSeen).toBe(NOW.toISOString());
    // heard from again: on top again, as received
    const again = new Date(later.getTime() + 1000);
    const next = datedCrash(device("flood-top", "3.0"), "flood-top", "9999-12-31T00:00:00.000Z");
    expect(await ingest(store, next.topic, next.bytes, { ...options, now: () => again })).toMatchObject({ status: "stored" });
    expect((await pageOfDevices(store)).items[0]).toMatchObject({ id: "flood-top", lastSeen: again.toISOString() });
  });

  test("times with offsets are stored as UTC instants (+14:00 sorts before an earlier-looking Z time)", async () => {
    const dev = device("offset-1", "3.0");
    await send(datedCrash(dev, "offset-a", "2026-01-01T10:00:00+14:00"));
    await send(datedCrash(dev, "offset-b", "2026-01-01T00:00:00Z"));
    const rows: Array<{ exe: string; time: string }> = await store.sql`SELECT exe, time FROM crashes WHERE device_id = ${"offset-1"} ORDER BY time`;
    expect(rows).toEqual([
      { exe: "/usr/bin/offset-a", time: "2025-12-31T20:00:00.000Z" },
      { exe: "/usr/bin/offset-b", time: "2026-01-01T00:00:00.000Z" },
    ]);
  });

  test("one device opens at most maxNewGroupsPerDeviceHour new groups; the rest go into the noise group; another device still opens its own", async () => {
    const flood = device("flood-1", "3.0");
    const groups = new Set<string>();
    for (let i = 0; i < 8; i++) {
      const out = await send(datedCrash(flood, `flood-${i}`, daysAgo(0, 1)));
      if (out.status === "stored" && out.group !== undefined) groups.add(out.group);
    }
    expect(groups.size).toBe(3 + 1);
    expect(groups.has(NOISE_GROUP.id)).toBe(true);
    const noise = await groupDetail(store, NOISE_GROUP.id);
    expect(noise?.count).toBe(5);
    const other = await send(datedCrash(device("quiet-1", "3.0"), "quiet", daysAgo(0, 1)));
    expect(other.status === "stored" && other.group).not.toBe(NOISE_GROUP.id);
    // re-symbolizing does not undo the bound: the noise group keeps its crashes
    await resymbolize(store, options.symbolize);
    expect((await groupDetail(store, NOISE_GROUP.id))?.count).toBe(5);
  });
});

describe("a database from before (schema version 1)", () => {
  test("migrating clamps the times stored later than their receive time, keeping the device's in device_time", async () => {
    const file = join(dir, "v1.db");
    const db = new Database(file);
    db.run("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)");
    for (const st of MIGRATIONS[0]?.statements ?? []) db.run(st);
    db.run("INSERT INTO schema_migrations VALUES (1, 'v1', '2026-01-01T00:00:00.000Z')");
    const received = "2026-03-01T12:00:00.000Z";
    for (const [id, time] of [["old-1/crash/a", "9999-12-30T00:00:00.000Z"], ["old-1/crash/b", "2026-02-01T00:00:00.000Z"]] as const) {
      db.run("INSERT INTO messages VALUES (?, 'crash', 'old-1', ?, ?, 't', 1, '{}')", [id, time, received]);
      db.run("INSERT INTO crashes VALUES (?, 'old-1', '1.0', ?, 'g', 'exe', 's')", [id, time]);
    }
    db.run("INSERT INTO devices VALUES ('old-1', '1.0', NULL, NULL, NULL, NULL, '2026-02-01T00:00:00.000Z', '9999-12-30T00:00:00.000Z')");
    db.close();
    const migrated = await openStore(`sqlite://${file}`);
    try {
      const rows: Array<{ time: string; device_time: string }> = await migrated.sql`SELECT time, device_time FROM crashes ORDER BY message_id`;
      expect(rows).toEqual([
        { time: received, device_time: "9999-12-30T00:00:00.000Z" },
        { time: "2026-02-01T00:00:00.000Z", device_time: "2026-02-01T00:00:00.000Z" },
      ]);
      const [d]: Array<{ first_seen: string; last_seen: string; last_received: string }> = await migrated.sql`SELECT first_seen, last_seen, last_received FROM devices`;
      // schema version 4: when its newest message was received
      expect(d).toEqual({ first_seen: "2026-02-01T00:00:00.000Z", last_seen: received, last_received: received });
    } finally {
      await migrated.close();
    }
  });
});

describe("bounded in", () => {
  test(`a compact crash of ${AMPLIFY_FRAMES} one-token frames is rejected before it is expanded (frame bound)`, async () => {
    const m = amplifyingCrash(device("amp-1", "4.0"));
    expect(m.bytes.length).toBeGreaterThan(240_000);
    const out = await send(m);
    expect(out.status === "rejected" && out.reason).toMatch(new RegExp(`${AMPLIFY_FRAMES} frames, more than the compact form's ${REPORT_LIMITS.compactCrashFrames}`));
    const [n]: Array<{ n: number }> = await store.sql`SELECT CAST(COUNT(*) AS INTEGER) AS n FROM crashes WHERE device_id = ${"amp-1"}`;
    expect(n?.n).toBe(0);
  });

  test("an unknown key nested 39 999 levels deep is refused before it is parsed", async () => {
    const out = await send(deepCrash(device("deep-1", "4.0")));
    expect(out.status === "rejected" && out.reason).toBe(`JSON nested deeper than ${MAX_JSON_DEPTH} levels`);
  });

  test("an unknown key nested within the depth bound is dropped: the report is stored from known keys and its group answers", async () => {
    const out = await send(deepCrash(device("deep-2", "4.0"), MAX_JSON_DEPTH - 8));
    expect(out.status).toBe("stored");
    const rows: Array<{ report: string; payload: string }> = await store.sql`SELECT r.report, m.payload FROM crash_reports r JOIN messages m ON m.id = r.message_id WHERE m.device_id = ${"deep-2"}`;
    expect(rows).toHaveLength(1);
    expect(rows[0]?.report).not.toContain("deepUnknown");
    expect(rows[0]?.payload).not.toContain("deepUnknown");
    expect(rows[0]?.report.length).toBeLessThan(MAX_STORED_REPORT_BYTES);
    const detail = out.status === "stored" && out.group !== undefined ? await groupDetail(store, out.group) : undefined;
    expect(detail?.count).toBe(1);
    expect(JSON.stringify(detail)).not.toContain("deepUnknown");
  });

  test("unknown keys of the envelope are not stored either", async () => {
    const m = bootMessage(device("extra-1", "4.0"), { reason: "clean", bootId: "e", time: daysAgo(0, 5) });
    const out = await send(rewrap({ ...m.payload, extraKey: { nested: [1, 2, 3] } } as unknown as typeof m.payload));
    expect(out.status).toBe("stored");
    const [row]: Array<{ payload: string }> = await store.sql`SELECT payload FROM messages WHERE id = ${m.payload.id}`;
    expect(row?.payload).not.toContain("extraKey");
  });

  test("the largest compact report a device makes (1024 threads, 64 of them with frames, 32 + 63 × 3 frames) is stored, well within MAX_STORED_REPORT_BYTES", () => {
    const frame = (i: number) => `0x55bc1272c${(i % 4096).toString(16).padStart(3, "0")} m${i % 50}+0x${(i * 16).toString(16)} some_function_name_${i % 100}+${i % 200}`;
    const modules = Array.from({ length: 50 }, (_, i) => [`/usr/lib/libmodule-${i}.so.1`, "ab".repeat(20)]);
    const threads = Array.from({ length: REPORT_LIMITS.threads }, (_, t) => ({
      tid: 1000 + t,
      frames: Array.from({ length: t === 0 ? REPORT_LIMITS.compactCrashFrames : t < REPORT_LIMITS.unwoundThreads ? REPORT_LIMITS.compactOtherFrames : 0 }, (_, i) => frame(t * 3 + i)),
    }));
    const body = { v: 2, arch: "x86_64", pid: 1, tid: 1, comm: "app", exe: "/usr/bin/app", signal: "SIGSEGV SEGV_MAPERR at 0x10", cause: "null pointer dereference", incomplete: false, modules, threads };
    const stored = JSON.stringify(readCrashReport("compact", body)).length;
    // measured: 40 879 bytes compact, 168 730 stored
    expect(stored).toBeLessThan(MAX_STORED_REPORT_BYTES / 4);
  });

  test("a full report with more than the unwinder's frames in a thread is rejected", async () => {
    const m = datedCrash(device("frames-1", "4.0"), "deepstack", daysAgo(0, 1));
    if (m.payload.kind !== "crash") throw new Error("a crash expected");
    const report = m.payload.crash.report as { threads: Array<{ frames: unknown[] }> };
    const t0 = report.threads[0];
    if (!t0) throw new Error("no thread");
    t0.frames = Array.from({ length: REPORT_LIMITS.frames + 1 }, (_, i) => ({ ...(t0.frames[0] as object), index: i }));
    const out = await send(rewrap(m.payload));
    expect(out.status === "rejected" && out.reason).toMatch(new RegExp(`${REPORT_LIMITS.frames + 1} frames, more than ${REPORT_LIMITS.frames}`));
  });
});

describe("rollbacks from a hostile device", () => {
  const panic = (i: number, o: Partial<BadBoot> = {}): BadBoot => ({
    slot: "B", bootId: `b${i}`, reason: "kernel-panic", detail: "Kernel panic - not syncing: VFS", executable: null, signature: null, endedAt: daysAgo(0, 30), ...o,
  });
  const count = async (table: "rollbacks" | "rollback_boots", deviceId: string): Promise<number> => {
    const [row]: Array<{ n: number }> = table === "rollbacks"
      ? await store.sql`SELECT CAST(COUNT(*) AS INTEGER) AS n FROM rollbacks WHERE device_id = ${deviceId}`
      : await store.sql`SELECT CAST(COUNT(*) AS INTEGER) AS n FROM rollback_boots b JOIN rollbacks r ON r.message_id = b.message_id WHERE r.device_id = ${deviceId}`;
    return Number(row?.n ?? 0);
  };

  test("a lone surrogate in a slot name is rejected, nothing of it stored", async () => {
    const m = rollbackMessage(device("rb-surrogate", "1.0"), { time: daysAgo(0, 5), from: "2.0" });
    const text = new TextDecoder().decode(m.bytes).replace('"fromSlot":"B"', '"fromSlot":"B\\udc00"');
    expect(text).toContain("\\udc00");
    const out = await ingest(store, m.topic, new TextEncoder().encode(text), options);
    expect(out.status === "rejected" && out.reason).toMatch(/lone surrogate/);
    expect(await count("rollbacks", "rb-surrogate")).toBe(0);
  });

  test(`more than MAX_BAD_BOOTS (${MAX_BAD_BOOTS}) bad boots are rejected, naming the list; exactly ${MAX_BAD_BOOTS} are stored, each a row`, async () => {
    const dev = device("rb-many", "1.0");
    const over = await send(rollbackMessage(dev, { time: daysAgo(0, 6), from: "2.0", badBoots: Array.from({ length: MAX_BAD_BOOTS + 1 }, (_, i) => panic(i)) }));
    expect(over.status === "rejected" && over.reason).toMatch(/not a valid upload: rollback\.badBoots: /);
    expect(await count("rollbacks", "rb-many")).toBe(0);
    expect(await send(rollbackMessage(dev, { time: daysAgo(0, 5), from: "2.0", badBoots: Array.from({ length: MAX_BAD_BOOTS }, (_, i) => panic(i)) }))).toMatchObject({ status: "stored" });
    expect(await count("rollback_boots", "rb-many")).toBe(MAX_BAD_BOOTS);
  });

  test.each([
    ["a slot name over 64 characters", { fromSlot: "B".repeat(65) }, /rollback\.fromSlot/],
    ["a firmware over 128 characters", { fromFirmware: "9".repeat(129) }, /rollback\.fromFirmware/],
    ["a trigger nobody defined", { trigger: "operator" }, /rollback\.trigger/],
    ["a signature over 256 characters", { badBoots: [{ slot: "B", bootId: null, reason: "crash-loop", detail: null, executable: "/usr/bin/x", signature: "x".repeat(257), endedAt: null }] }, /rollback\.badBoots\.0\.signature/],
    ["a detail over 4096 characters", { badBoots: [{ slot: "B", bootId: null, reason: "kernel-panic", detail: "p".repeat(4097), executable: null, signature: null, endedAt: null }] }, /rollback\.badBoots\.0\.detail/],
    ["a decision time that is no time", { decidedAt: "yesterday" }, /rollback\.decidedAt/],
  ] as const)("%s is rejected, naming the field", async (_what, change, reason) => {
    const m = rollbackMessage(device("rb-bounds", "1.0"), { time: daysAgo(0, 5), from: "2.0" });
    if (m.payload.kind !== "rollback") throw new Error("a rollback expected");
    const out = await send(rewrap({ ...m.payload, rollback: { ...m.payload.rollback, ...change } } as unknown as typeof m.payload));
    expect(out.status === "rejected" && out.reason).toMatch(reason);
    expect(await count("rollbacks", "rb-bounds")).toBe(0);
  });

  test("unknown keys in a rollback or a bad boot are not stored", async () => {
    const m = rollbackMessage(device("rb-extra", "1.0"), { time: daysAgo(0, 5), from: "2.0" });
    if (m.payload.kind !== "rollback") throw new Error("a rollback expected");
    const bent = { ...m.payload, rollback: { ...m.payload.rollback, secret: "x", badBoots: m.payload.rollback.badBoots.map((b) => ({ ...b, hidden: { deep: [1] } })) } };
    expect(await send(rewrap(bent as unknown as typeof m.payload))).toMatchObject({ status: "stored" });
    const [row]: Array<{ payload: string }> = await store.sql`SELECT payload FROM messages WHERE id = ${m.payload.id}`;
    expect(row?.payload).not.toContain("secret");
    expect(row?.payload).not.toContain("hidden");
  });

  test("a rollback on another kind's topic, or naming another device's rollback, is rejected", async () => {
    const victim = rollbackMessage(device("rb-victim", "1.0"), { time: daysAgo(0, 8), from: "2.0" });
    const wrongTopic = await ingest(store, victim.topic.replace(/\/rollback$/, "/boot"), victim.bytes, options);
    expect(wrongTopic.status === "rejected" && wrongTopic.reason).toMatch(/topic does not match the payload: expected ".*\/rb-victim\/rollback"/);
    const attacker = rollbackMessage(device("rb-attacker", "1.0"), { time: daysAgo(0, 7), from: "2.0" });
    const spoof = await send(rewrap({ ...attacker.payload, id: victim.payload.id }));
    expect(spoof.status === "rejected" && spoof.reason).toMatch(/is not under "rb-attacker\/rollback\/"/);
    expect(await send(victim)).toMatchObject({ status: "stored" });
    expect((await deviceDetail(store, "rb-victim"))?.rollbacks.map((r) => r.fromFirmware)).toEqual(["2.0"]);
  });

  test("the same rollback id with other content is a conflicting duplicate: the first kept, its bad boots not doubled", async () => {
    const first = rollbackMessage(device("rb-conflict", "1.0"), { time: daysAgo(0, 9), from: "2.0" });
    expect(await send(first)).toMatchObject({ status: "stored" });
    expect(await send(first)).toEqual({ status: "duplicate", id: first.payload.id, conflicting: false });
    if (first.payload.kind !== "rollback") throw new Error("a rollback expected");
    const other = rewrap({ ...first.payload, rollback: { ...first.payload.rollback, fromFirmware: "6.6.6", badBoots: [panic(9)] } });
    expect(await send(other)).toEqual({ status: "duplicate", id: first.payload.id, conflicting: true });
    expect((await health(store)).rejects[0]?.reason).toMatch(/conflicting duplicate/);
    const rows: Array<{ from_firmware: string; bad_boot_count: number }> = await store.sql`SELECT from_firmware, bad_boot_count FROM rollbacks WHERE device_id = ${"rb-conflict"}`;
    expect(rows).toEqual([{ from_firmware: "2.0", bad_boot_count: 2 }]);
    expect(await count("rollback_boots", "rb-conflict")).toBe(2);
    expect((await listVersions(store)).find((v) => v.firmware === "6.6.6")).toBeUndefined();
  });

  test("times dated 9999 are stored as receive time + the allowed skew, the device's time kept beside", async () => {
    const m = rollbackMessage(device("rb-future", "1.0"), { time: "9999-12-30T00:00:00.000Z", from: "2.0", badBoots: [panic(0, { endedAt: "9999-12-29T00:00:00.000Z" })] });
    expect(await send(m)).toMatchObject({ status: "stored" });
    const latest = new Date(NOW.getTime() + SKEW_SECONDS * 1000).toISOString();
    const [r]: Array<{ time: string; device_time: string; decided_at: string }> = await store.sql`SELECT time, device_time, decided_at FROM rollbacks WHERE device_id = ${"rb-future"}`;
    expect(r).toEqual({ time: latest, device_time: "9999-12-30T00:00:00.000Z", decided_at: latest });
    const [b]: Array<{ ended_at: string }> = await store.sql`SELECT b.ended_at FROM rollback_boots b JOIN rollbacks r ON r.message_id = b.message_id WHERE r.device_id = ${"rb-future"}`;
    expect(b?.ended_at).toBe(latest);
  });
});

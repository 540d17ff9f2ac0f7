// Hostile and broken devices against the compiled collector (issue 22), with a
// real mosquitto and a temp PostgreSQL 15: a device needs only its own broker
// credentials to publish any bytes on its own topic. Each case checks that the
// collector keeps running, that it acknowledged what it could never store (a
// restart gets nothing again), and that the other devices' data is unchanged.
// The page and answer bounds are in collect-browser.test.ts and the HTTP tests.
// Message builders: test/unit/collect/hostile.ts.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import mqtt from "mqtt";
import { SQL } from "bun";
import { api, Fatal, startCollector, startMosquitto, startPostgres, waitFor, type Collector, type Running } from "./servers.ts";
import { bootMessage, crashMessage, daysAgo, device, fixtureReport, noteMessage, type Message } from "../unit/collect/fleet.ts";
import { amplifyingCrash, conflicting, datedCrash, deepCrash, nulMessages, spoofedBoot } from "../unit/collect/hostile.ts";
import { ingest, MAX_MESSAGE_BYTES } from "../../src/collect/ingest.ts";
import { openStore } from "../../src/collect/store.ts";
import { DEFAULT_MAX_CLOCK_SKEW_SECONDS, DEFAULT_MAX_NEW_GROUPS_PER_DEVICE_HOUR } from "../../src/config/collect.ts";

interface Health {
  messages: number;
  stored: number;
  duplicates: number;
  rejected: number;
  conflicts: number;
  rejects: Array<{ topic: string; reason: string }>;
  collector: { stored: number; duplicates: number; rejected: number };
}

let broker: Running;
let pg: Running;
let dir: string;
let dbSeq = 0;

beforeAll(async () => {
  [broker, pg] = await Promise.all([startMosquitto(), startPostgres()]);
  dir = mkdtempSync(join(tmpdir(), "ck-collect-hostile-"));
});
afterAll(async () => {
  await Promise.all([broker?.stop(), pg?.stop()]);
  rmSync(dir, { recursive: true, force: true });
});

/** A fresh database of each kind: its own PostgreSQL database, or its own SQLite file. */
async function freshDb(kind: "sqlite" | "postgres"): Promise<string> {
  const name = `hostile_${++dbSeq}`;
  if (kind === "sqlite") return `sqlite://${dir}/${name}.db`;
  const admin = new SQL(pg.url);
  await admin.unsafe(`CREATE DATABASE ${name}`);
  await admin.close();
  return pg.url.replace(/\/postgres$/, `/${name}`);
}

/** Publish raw messages as devices do (QoS 1), each acknowledged by the broker. */
async function publish(messages: ReadonlyArray<{ topic: string; bytes: Uint8Array }>): Promise<void> {
  const client = await mqtt.connectAsync(broker.url, { clientId: `ck-hostile-pub-${Math.random().toString(36).slice(2)}`, protocolVersion: 4 });
  try {
    for (const m of messages) await client.publishAsync(m.topic, Buffer.from(m.bytes), { qos: 1 });
  } finally {
    await client.endAsync();
  }
}

const health = (c: Collector) => api<Health>(c.base, "/api/health");
/** Everything the collector has handled so far: stored, duplicate, conflicting or rejected. */
const handled = (h: Health) => h.stored + h.duplicates + h.rejected + h.conflicts;

async function settled(c: Collector, total: number): Promise<Health> {
  return await waitFor(`${total} messages handled`, async () => {
    if (c.proc.exitCode !== null) throw new Fatal(`the collector exited ${c.proc.exitCode}: ${c.output()}`);
    const h = await health(c);
    return handled(h) >= total ? h : undefined;
  }, 120_000);
}

/** Peak resident memory of a process (VmHWM of /proc/PID/status), in MiB. */
function peakRssMiB(pid: number): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return Math.round(Number(m?.[1] ?? 0) / 1024);
}

describe.each(["postgres", "sqlite"] as const)("on %s", (kind) => {
  test("a NUL in each kind of message is rejected and acknowledged; a value the database refuses too; the collector keeps running", async () => {
    const db = await freshDb(kind);
    const clientId = `ck-hostile-nul-${kind}`;
    let c = await startCollector(["--broker", broker.url, "--db", db, "--client-id", clientId]);
    try {
      const good = device(`good-${kind}`, "1.0");
      const bad = device(`bad-${kind}`, "1.0");
      const before = [bootMessage(good, { reason: "kernel-panic", bootId: "g1", time: daysAgo(1), panicMessage: "the real one" }), crashMessage(good, fixtureReport("fpe"), { time: daysAgo(1, 10) })];
      await publish(before);
      await settled(c, before.length);
      const goodBefore = await api<unknown>(c.base, `/api/devices/${good.id}`);
      const nul = nulMessages(bad);
      // A real refusal by the database itself (SQLSTATE 23514 on PostgreSQL, SQLITE_CONSTRAINT_CHECK on SQLite):
      // notes no longer than 40 characters, then a longer one.
      const store = await openStore(db);
      if (kind === "postgres") await store.sql.unsafe("ALTER TABLE notes ADD CONSTRAINT hostile_short_notes CHECK (length(text) < 40)");
      else await store.sql.unsafe("CREATE TRIGGER hostile_short_notes BEFORE INSERT ON notes WHEN length(NEW.text) >= 40 BEGIN SELECT RAISE(ABORT, 'CHECK constraint failed: hostile_short_notes'); END");
      await store.close();
      const refused = noteMessage(bad, { text: "x".repeat(60), time: daysAgo(0, 1) });
      const after = bootMessage(bad, { reason: "clean", bootId: "b2", time: daysAgo(0, 1) });
      await publish([nul.boot, nul.crash, nul.note, nul.rollback, refused, after]);
      const h = await settled(c, before.length + 6);
      expect(c.proc.exitCode).toBeNull();
      expect(h.stored).toBe(3);
      const reasons = h.rejects.map((r) => r.reason);
      expect(reasons.filter((r) => /NUL character/.test(r))).toHaveLength(4);
      expect(reasons.some((r) => (kind === "postgres" ? /the database refused it: .*SQLSTATE 23514/ : /the database refused it: .*SQLITE_CONSTRAINT_TRIGGER/).test(r))).toBe(true);
      expect(h.rejected).toBe(5);
      expect(await api<unknown>(c.base, `/api/devices/${good.id}`)).toEqual(goodBefore);
      // acknowledged: the same persistent session, restarted, gets none of them again
      expect(await c.stop()).toBe(0);
      c = await startCollector(["--broker", broker.url, "--db", db, "--client-id", clientId]);
      await publish([bootMessage(good, { reason: "clean", bootId: "g3", time: daysAgo(0, 1) })]);
      const again = await settled(c, before.length + 7);
      expect(again.collector).toEqual({ stored: 1, duplicates: 0, rejected: 0 });
      expect(again.rejected).toBe(h.rejected);
    } finally {
      await c.stop();
    }
  });
});

test("two --group collectors on PostgreSQL: a spoofed id is rejected, the victim's own boot stored; a conflicting duplicate counted, the first kept", async () => {
  const db = await freshDb("postgres");
  const group = (id: string) => startCollector(["--broker", broker.url, "--db", db, "--group", "hostile", "--client-id", id]);
  const [a, b] = await Promise.all([group("ck-hostile-ga"), group("ck-hostile-gb")]);
  try {
    const victim = device("victim-7", "5.0");
    const real = bootMessage(victim, { reason: "kernel-panic", bootId: "v7", time: daysAgo(0, 30), panicMessage: "the victim's panic" });
    const spoof = spoofedBoot(device("attacker-7", "5.0"), real);
    await publish([spoof]);
    await waitFor("the spoof rejected", async () => ((await health(a)).rejected >= 1 ? true : undefined));
    await publish([real]);
    const first = bootMessage(device("conflict-7", "5.0"), { reason: "kernel-panic", bootId: "c7", time: daysAgo(0, 20), detail: "the first" });
    await publish([first]);
    await waitFor("the first stored", async () => ((await health(a)).messages >= 2 ? true : undefined));
    await publish([conflicting(first), first]);
    const h = await settled(a, 5);
    expect(h.messages).toBe(2);
    expect(h.rejected).toBe(1);
    expect(h.conflicts).toBe(1);
    expect(h.duplicates).toBe(1);
    const reasons = h.rejects.map((r) => r.reason);
    expect(reasons.some((r) => r.includes('is not under "attacker-7/boot/"'))).toBe(true);
    expect(reasons.some((r) => r.startsWith("conflicting duplicate"))).toBe(true);
    const d = await api<{ boots: Array<{ reason: string; panicMessage: string | null }> }>(b.base, "/api/devices/victim-7");
    expect(d.boots.map((x) => [x.reason, x.panicMessage])).toEqual([["kernel-panic", "the victim's panic"]]);
    expect((await fetch(`${a.base}/api/devices/attacker-7`)).status).toBe(404);
    const c7 = await api<{ boots: Array<{ detail: string | null }> }>(a.base, "/api/devices/conflict-7");
    expect(c7.boots.map((x) => x.detail)).toEqual(["the first"]);
    expect(a.proc.exitCode).toBeNull();
    expect(b.proc.exitCode).toBeNull();
  } finally {
    await Promise.all([a.stop(), b.stop()]);
  }
});

test("on PostgreSQL: 9999 dates, a group flood, an amplifying crash, 39 999-deep nesting and a 50 MB message leave the real groups as they were", async () => {
  const db = await freshDb("postgres");
  const c = await startCollector(["--broker", broker.url, "--db", db, "--client-id", "ck-hostile-bounds"]);
  try {
    const real = device("real-1", "6.0");
    const base = [crashMessage(real, fixtureReport("nested"), { time: daysAgo(0, 60) }), crashMessage(real, fixtureReport("abort"), { time: daysAgo(0, 50) })];
    await publish(base);
    await settled(c, base.length);
    const groupsBefore = await api<Array<{ id: string; exe: string; lastSeen: string }>>(c.base, "/api/groups");
    const realBefore = await api<unknown>(c.base, "/api/devices/real-1");
    const rssBefore = peakRssMiB(c.proc.pid);

    const flood = device("flood-9", "6.0");
    const floods = Array.from({ length: DEFAULT_MAX_NEW_GROUPS_PER_DEVICE_HOUR + 10 }, (_, i) => datedCrash(flood, `flood-${i}`, "9999-12-30T00:00:00.000Z"));
    // a 9999-dated report of a real group, from another device
    const late = crashMessage(device("late-1", "6.0"), fixtureReport("nested"), { time: daysAgo(0, 1) });
    const lateFuture = { ...late, bytes: new TextEncoder().encode(new TextDecoder().decode(late.bytes).replace(/"time":"[^"]+"/, '"time":"9999-12-30T00:00:00.000Z"')) };
    const huge = { topic: "crashkeep/v1/huge-1/crash", bytes: new Uint8Array(50 * 1000 * 1000).fill(0x20) };
    const hostile: Array<{ topic: string; bytes: Uint8Array }> = [...floods, lateFuture, amplifyingCrash(device("amp-9", "6.0")), deepCrash(device("deep-9", "6.0")), huge];
    await publish(hostile);
    const h = await settled(c, base.length + hostile.length);
    console.log(`collect-hostile: collector peak RSS ${rssBefore} MiB before, ${peakRssMiB(c.proc.pid)} MiB after the hostile messages (50 MB message, amplifying crash, 39 999-deep nesting, ${floods.length} 9999-dated crashes)`);
    expect(c.proc.exitCode).toBeNull();
    const reasons = h.rejects.map((r) => r.reason).join("\n");
    expect(reasons).toContain(`message is ${huge.bytes.length} bytes, more than ${MAX_MESSAGE_BYTES}`);
    expect(reasons).toMatch(/41000 frames, more than the compact form's/);
    expect(reasons).toMatch(/JSON nested deeper than/);
    expect(h.rejected).toBe(3);

    const groups = await api<Array<{ id: string; exe: string; lastSeen: string; count: number }>>(c.base, "/api/groups");
    // every real group is still listed, its lastSeen at most the receive time + the allowed skew
    const latest = Date.now() + DEFAULT_MAX_CLOCK_SKEW_SECONDS * 1000; // all received by now
    for (const g of groupsBefore) expect(groups.map((x) => x.id)).toContain(g.id);
    for (const g of groups) expect(Date.parse(g.lastSeen)).toBeLessThanOrEqual(latest);
    // the flood opened at most its limit of new groups, the rest is one noise group
    expect(groups.filter((g) => g.exe.startsWith("flood-")).length).toBe(DEFAULT_MAX_NEW_GROUPS_PER_DEVICE_HOUR);
    expect(groups.find((g) => g.exe === "(noise)")?.count).toBe(10);
    // what the real device sent answers as before, and every group answers
    expect(await api<unknown>(c.base, "/api/devices/real-1")).toEqual(realBefore);
    for (const g of groups) expect((await fetch(`${c.base}/api/groups/${g.id}`)).status).toBe(200);
  } finally {
    expect(await c.stop()).toBe(0);
  }
});

test("a message the database keeps failing on, waiting in the session at start, fails the start with its reason, not a connect timeout", async () => {
  const db = await freshDb("postgres");
  const args = ["--broker", broker.url, "--db", db, "--client-id", "ck-hostile-stuck"];
  const c = await startCollector(args);
  expect(await c.stop()).toBe(0);
  // an error that is not the message's fault (SQLSTATE P0001, raised by a trigger): retried, then fatal
  const admin = new SQL(db);
  await admin.unsafe(`CREATE FUNCTION hostile_stuck() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'hostile test: the database is failing'; END $$`);
  await admin.unsafe("CREATE TRIGGER hostile_stuck BEFORE INSERT ON messages FOR EACH ROW EXECUTE FUNCTION hostile_stuck()");
  await admin.close();
  await publish([bootMessage(device("stuck-1", "1.0"), { reason: "clean", bootId: "s1", time: daysAgo(0, 1) })]);
  const start = await startCollector(args).then(
    (x) => ({ ok: true as const, x }),
    (err: unknown) => ({ ok: false as const, message: String(err) }),
  );
  if (start.ok) await start.x.stop();
  expect(start.ok).toBe(false);
  const message = start.ok ? "" : start.message;
  expect(message).toContain('Cannot store message on "crashkeep/v1/stuck-1/boot": hostile test: the database is failing');
  expect(message).not.toContain("no answer within");
});

test("the collector config's maxClockSkewSeconds and maxNewGroupsPerDeviceHour reach the compiled collector", async () => {
  const cfg = join(dir, "limits.json");
  writeFileSync(cfg, JSON.stringify({ collect: { maxClockSkewSeconds: 0, maxNewGroupsPerDeviceHour: 1 } }));
  const c = await startCollector(["--broker", broker.url, "--db", `sqlite://${dir}/limits.db`, "--client-id", "ck-hostile-limits", "--config", cfg]);
  try {
    const dev = device("limits-1", "7.0");
    await publish([datedCrash(dev, "first-new", "9999-12-30T00:00:00.000Z"), datedCrash(dev, "second-new", daysAgo(0, 1))]);
    await settled(c, 2);
    const done = Date.now(); // after both were received
    const groups = await api<Array<{ exe: string; lastSeen: string }>>(c.base, "/api/groups");
    expect(groups.map((g) => g.exe).sort()).toEqual(["(noise)", "first-new"]);
    // no skew allowed: the 9999 crash is listed at its receive time
    expect(Date.parse(groups.find((g) => g.exe === "first-new")?.lastSeen ?? "")).toBeLessThanOrEqual(done);
  } finally {
    expect(await c.stop()).toBe(0);
  }
});


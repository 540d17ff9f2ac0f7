// Two compiled collectors in one shared-subscription group on one mosquitto and
// one PostgreSQL (initdb'd by the test): every message stored once, the traffic
// split between them. A third collector, outside the group, stores the same
// fleet in SQLite: the API answers the same from both databases.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { api, startCollector, startMosquitto, startPostgres, uploadAsDevices, waitFor, type Collector, type Running } from "./servers.ts";
import { openStore } from "../../src/collect/store.ts";
import { bootMessage, crashMessage, daysAgo, device, fixtureReport, rollbackMessage, type Message } from "../unit/collect/fleet.ts";

let broker: Running;
let pg: Running;
let dir: string;

beforeAll(async () => {
  [broker, pg] = await Promise.all([startMosquitto(), startPostgres()]);
  dir = mkdtempSync(join(tmpdir(), "ck-collect-pg-"));
});
afterAll(async () => {
  await Promise.all([broker?.stop(), pg?.stop()]);
  rmSync(dir, { recursive: true, force: true });
});

interface Health {
  messages: number;
  collector: { stored: number; duplicates: number; rejected: number };
}

const PROGRAMS = ["nested", "fpe", "abort", "bus", "threads"];

function fleet(): Message[] {
  const out: Message[] = [];
  for (let i = 0; i < 10; i++) {
    const dev = device(`pg-${i}`, `4.${i % 4}.0`);
    for (let b = 0; b < 5; b++) {
      out.push(crashMessage(dev, fixtureReport(PROGRAMS[(i * 3 + b) % PROGRAMS.length] as string), { time: daysAgo(5 - b, 20), compact: b % 2 === 1 }));
      out.push(bootMessage(dev, { reason: ["clean", "kernel-panic", "unexpected-reset", "maintenance"][(i + b) % 4] as string, bootId: `pg-${i}-${b}`, time: daysAgo(5 - b) }));
    }
    // devices 0-3 rolled back from 5.0.0 (device 0 twice), device 4 by its bootloader from a firmware it did not know
    if (i < 4) out.push(rollbackMessage(dev, { time: daysAgo(1, 10), from: "5.0.0" }));
    if (i === 0) out.push(rollbackMessage(dev, { time: daysAgo(0, 10), from: "5.0.0", badBoots: [{ slot: "B", bootId: "pg-loop", reason: "crash-loop", detail: "/usr/bin/fpe crashed 5 times in a minute", executable: "/usr/bin/fpe", signature: "fpe: main", endedAt: daysAgo(0, 12) },
      // without a signature: linked to the device's crash a minute before (views.ts crashLoopGroup), the same on both databases
      { slot: "B", bootId: "pg-loop-2", reason: "crash-loop", detail: "crashed 6 times in a minute", executable: (fixtureReport(PROGRAMS[4] as string).exe ?? "?").split("/").pop() ?? "?", signature: null, endedAt: daysAgo(1, 19) }] }));
    if (i === 4) out.push(rollbackMessage(dev, { time: daysAgo(1, 10), from: null, trigger: "bootloader", badBoots: [{ slot: "B", bootId: null, reason: "never-reached-crashkeep", detail: null, executable: null, signature: null, endedAt: null }] }));
  }
  return out;
}

test("two collectors with --group split the traffic on PostgreSQL, each message stored once; SQLite answers the same", async () => {
  const group = (id: string) => startCollector(["--broker", broker.url, "--db", pg.url, "--group", "fleet", "--client-id", id]);
  // started together: the migrations race, PostgreSQL's advisory lock orders them
  const started = await Promise.allSettled([group("ck-pg-a"), group("ck-pg-b"), startCollector(["--broker", broker.url, "--db", `sqlite://${dir}/all.db`, "--client-id", "ck-lite"])]);
  const running = started.flatMap((s) => (s.status === "fulfilled" ? [s.value] : []));
  try {
    for (const s of started) if (s.status === "rejected") throw s.reason;
    const [a, b, lite] = running as [Collector, Collector, Collector];
    const sent = fleet();
    expect(await uploadAsDevices(broker.url, sent)).toBe(sent.length); // the compiled uploader, one process per device
    for (const c of [a, lite]) {
      await waitFor("every message stored", async () => ((await api<Health>(c.base, "/api/health")).messages >= sent.length ? true : undefined), 60_000);
    }
    const [ha, hb] = await Promise.all([api<Health>(a.base, "/api/health"), api<Health>(b.base, "/api/health")]);
    expect(ha.messages).toBe(sent.length);
    expect(ha.collector.stored + hb.collector.stored).toBe(sent.length);
    expect(ha.collector.duplicates + hb.collector.duplicates).toBe(0);
    expect(ha.collector.stored).toBeGreaterThan(0);
    expect(hb.collector.stored).toBeGreaterThan(0);

    // a device's lastSeen is when this collector's database received its newest message: its own clock, not compared
    const same = ({ lastSeen: _l, ...rest }: Record<string, unknown>) => rest;
    for (const path of ["/api/groups", "/api/versions", "/api/devices/pg-7", "/api/devices/pg-0", "/api/rollbacks", "/api/rollbacks?firmware=5.0.0&limit=2&offset=1"]) {
      const [x, y] = [await api<unknown>(a.base, path), await api<unknown>(lite.base, path)];
      if (path.startsWith("/api/devices/")) expect(same(x as Record<string, unknown>)).toEqual(same(y as Record<string, unknown>));
      else expect(x).toEqual(y);
    }
    // the crash loop sent without a signature is linked to a crash group on PostgreSQL too (not merely null on both)
    const pg0 = await api<{ rollbacks: Array<{ badBoots: Array<{ bootId: string | null; groupId: string | null }> }> }>(a.base, "/api/devices/pg-0");
    expect(pg0.rollbacks.flatMap((r) => r.badBoots).find((b) => b.bootId === "pg-loop-2")?.groupId).toMatch(/^[0-9a-f]{16}$/);
    // the rollbacks read back with plain SQL from both databases: the same rows, as sent
    const rows = async (url: string) => {
      const s = await openStore(url);
      try {
        const r: unknown[] = await s.sql`SELECT r.device_id, r.triggered_by, r.from_slot, r.from_firmware, r.to_slot, r.to_firmware, CAST(r.bad_boot_count AS INTEGER) AS n, r.time, r.device_time,
            b.seq, b.slot, b.boot_id, b.reason, b.detail, b.executable, b.signature, b.group_id, b.ended_at
          FROM rollbacks r JOIN rollback_boots b ON b.message_id = r.message_id ORDER BY r.message_id, b.seq`;
        return r.map((x): Record<string, unknown> => ({ ...(x as Record<string, unknown>), n: Number((x as { n: unknown }).n), seq: Number((x as { seq: unknown }).seq) }));
      } finally {
        await s.close();
      }
    };
    const [onPg, onLite] = [await rows(pg.url), await rows(`sqlite://${dir}/all.db`)];
    expect(onPg).toEqual(onLite);
    const rolledBack = sent.filter((m) => m.payload.kind === "rollback");
    expect(onPg).toHaveLength(rolledBack.reduce((x, m) => x + (m.payload.kind === "rollback" ? m.payload.rollback.badBoots.length : 0), 0));
    expect(onPg.filter((r) => r.device_id === "pg-4")).toEqual([
      expect.objectContaining({ triggered_by: "bootloader", from_firmware: "unknown", to_firmware: "4.0.0", reason: "never-reached-crashkeep", boot_id: null, ended_at: null, signature: null, group_id: null }),
    ]);
    const versions = await api<Array<{ firmware: string; rollbacks: number; rollbackDevices: number }>>(a.base, "/api/versions");
    expect(versions.filter((v) => v.rollbacks > 0).map((v) => [v.firmware, v.rollbacks, v.rollbackDevices])).toEqual([
      ["unknown", 1, 1],
      ["5.0.0", 5, 4],
    ]);
    const groups = await api<Array<{ id: string; count: number }>>(a.base, "/api/groups");
    expect(groups.reduce((x, g) => x + g.count, 0)).toBe(sent.filter((m) => m.payload.kind === "crash").length);
    expect(await api<unknown>(a.base, `/api/groups/${groups[0]?.id}`)).toEqual(await api<unknown>(lite.base, `/api/groups/${groups[0]?.id}`));
  } finally {
    for (const c of running) expect(await c.stop()).toBe(0);
  }
});

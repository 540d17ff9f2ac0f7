// bench/collect: the fleet collector, measured in one run (make bench-collect).
//   1. ingest rate (messages/s) from a local mosquitto into SQLite and
//      PostgreSQL with 1 and 2 collectors (the compiled binary, --group for 2),
//      against the floor: the same rows inserted by a plain loop of prepared
//      statements, one transaction per message, in this process;
//   2. symbolization + signature cost per crash report;
//   3. page render time with 10 000 crash reports in 200 groups.
// Messages are built by the device's payload builders from the real core
// fixtures (half boots, half full crash reports).
// Targets, printed MET / NOT MET after the JSON (never asserted): issue 13
// asks for the ingest rate as "a ratio against ... a plain prepared-statement
// loop (the floor)" and names no limit; the bench holds each ingest rate to
// FLOOR_RATIO (the floor's rate at most that many times the collector's: the
// same allowance issue 15 gives `init` over a hello-world). Symbolization
// cost and page render times have no target: printed as measured.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import mqtt from "mqtt";
import { SQL } from "bun";
import { api, ROOT, startCollector, startMosquitto, startPostgres, waitFor, type Collector } from "../../test/integration/servers.ts";
import { bootMessage, crashMessage, daysAgo, device, fixtureReport, strippedDebugDir, strippedReport, type Message } from "../../test/unit/collect/fleet.ts";
import { ingest } from "../../src/collect/ingest.ts";
import { handle } from "../../src/collect/server.ts";
import { openStore, type Store } from "../../src/collect/store.ts";
import { signatureOf } from "../../src/collect/signature.ts";
import { symbolizeReport } from "../../src/collect/symbolize.ts";
import { readCrashReport } from "../../src/collect/crash.ts";
import { verdict } from "../verdict.ts";

const MESSAGES = Number(process.env.MESSAGES ?? 2000);
const RENDER_REPORTS = Number(process.env.RENDER_REPORTS ?? 10_000);
const RENDER_GROUPS = 200;
const RUNS = Number(process.env.RUNS ?? 5);
const OUT = join(ROOT, "out/bench/collect");
const PROGRAMS = ["nested", "fpe", "abort", "threads", "bus"];
/** Ingest: floor rate / collector rate at most this (see the top). */
const FLOOR_RATIO = 2;

function fleet(n: number, tag: string): Message[] {
  const out: Message[] = [];
  for (let i = 0; out.length < n; i++) {
    const dev = device(`${tag}-${i % 50}`, `1.${i % 4}.0`);
    out.push(i % 2 === 0 ? bootMessage(dev, { reason: i % 6 === 0 ? "kernel-panic" : "clean", bootId: `${tag}-${i}`, time: daysAgo(i % 30) }) : crashMessage(dev, fixtureReport(PROGRAMS[i % PROGRAMS.length] as string), { time: daysAgo(i % 30, 5) }));
  }
  return out;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] as number;
}

/** Messages/s through N compiled collectors: from the first publish until all are stored. */
async function ingestRate(broker: string, db: string, collectors: number, tag: string): Promise<number> {
  const cs: Collector[] = [];
  for (let i = 0; i < collectors; i++) cs.push(await startCollector(["--broker", broker, "--db", db, "--client-id", `bench-${tag}-${i}`, ...(collectors > 1 ? ["--group", `bench-${tag}`] : [])]));
  try {
    const sent = fleet(MESSAGES, tag);
    const before = (await api<{ messages: number }>(cs[0]?.base ?? "", "/api/health")).messages;
    const pub = await mqtt.connectAsync(broker, { clientId: `bench-pub-${tag}`, protocolVersion: 4 });
    const t0 = performance.now();
    await Promise.all(sent.map((m) => pub.publishAsync(m.topic, Buffer.from(m.bytes), { qos: 1 })));
    await waitFor("all stored", async () => ((await api<{ messages: number }>(cs[0]?.base ?? "", "/api/health")).messages >= before + sent.length ? true : undefined), 600_000);
    const seconds = (performance.now() - t0) / 1000;
    await pub.endAsync();
    return sent.length / seconds;
  } finally {
    for (const c of cs) await c.stop();
  }
}

/** The floor: the same rows (message + boot or crash) by a plain prepared-statement loop, one transaction each. */
async function floorRate(url: string, tag: string): Promise<number> {
  const sql = new SQL(url);
  if (url.startsWith("sqlite")) {
    await sql`PRAGMA journal_mode = WAL`;
    await sql`PRAGMA synchronous = NORMAL`;
  }
  await sql.unsafe(`CREATE TABLE IF NOT EXISTS floor_messages (id TEXT PRIMARY KEY, payload TEXT NOT NULL);
    CREATE TABLE IF NOT EXISTS floor_rows (message_id TEXT PRIMARY KEY, device_id TEXT NOT NULL, time TEXT NOT NULL, body TEXT NOT NULL)`);
  const sent = fleet(MESSAGES, `floor-${tag}`);
  const t0 = performance.now();
  for (const m of sent) {
    const text = new TextDecoder().decode(m.bytes);
    await sql.begin(async (tx) => {
      await tx`INSERT INTO floor_messages (id, payload) VALUES (${m.payload.id}, ${text}) ON CONFLICT (id) DO NOTHING`;
      await tx`INSERT INTO floor_rows (message_id, device_id, time, body) VALUES (${m.payload.id}, ${m.payload.device.id}, ${m.payload.time}, ${text})`;
    });
  }
  const rate = sent.length / ((performance.now() - t0) / 1000);
  await sql.close();
  return rate;
}

/** Milliseconds per crash report of a stripped -O2 -g program: read it, symbolize it (DWARF from a build-id tree: names, file:line, inlined frames), compute its signature. */
async function symbolizeCost(n = 200): Promise<number> {
  const report = strippedReport() as unknown as Record<string, unknown>;
  const copies = Array.from({ length: n }, () => structuredClone(report));
  let frames = 0;
  const t0 = performance.now();
  for (const c of copies) {
    const s = await symbolizeReport(readCrashReport("full", c), { debugDirs: [strippedDebugDir()], debuginfod: undefined });
    frames += signatureOf(s.report).frames.length;
  }
  if (frames === 0) throw new Error("no signature frames");
  return (performance.now() - t0) / n;
}

async function renderTimes(store: Store): Promise<Record<string, number>> {
  const base = fixtureReport("nested");
  const t0 = performance.now();
  for (let i = 0; i < RENDER_REPORTS; i++) {
    const g = i % RENDER_GROUPS;
    const r = structuredClone(base);
    const f = r.threads[0]?.frames[0];
    if (f) {
      f.symbol = `handler_${g}`;
      f.function = `handler_${g}`;
    }
    const dev = device(`render-${i % 500}`, `2.${g % 5}.0`);
    const m = i % 3 === 0 ? bootMessage(dev, { reason: i % 2 ? "clean" : "kernel-panic", bootId: `r-${i}`, time: daysAgo(i % 30) }) : undefined;
    if (m) await ingest(store, m.topic, m.bytes, { topicPrefix: "crashkeep/v1", symbolize: { debugDirs: [], debuginfod: undefined } });
    const c = crashMessage(dev, r, { time: daysAgo(i % 30, 1) });
    await ingest(store, c.topic, c.bytes, { topicPrefix: "crashkeep/v1", symbolize: { debugDirs: [], debuginfod: undefined } });
  }
  const seedSeconds = (performance.now() - t0) / 1000;
  const groups = (await (await handle(store, new Request("http://x/api/groups"), undefined)).json()) as Array<{ id: string }>;
  const paths = { "/": "/", "/versions": "/versions", "/groups/<id>": `/groups/${groups[0]?.id}`, "/devices/<id>": "/devices/render-7", "/api/groups": "/api/groups" };
  const out: Record<string, number> = { seedSeconds };
  for (const [name, path] of Object.entries(paths)) {
    const times: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      const t = performance.now();
      const res = await handle(store, new Request(`http://x${path}`), undefined);
      await res.text();
      times.push(performance.now() - t);
    }
    out[name] = median(times);
  }
  out.groups = groups.length;
  return out;
}

const dir = mkdtempSync(join(tmpdir(), "ck-bench-collect-"));
mkdirSync(OUT, { recursive: true });
const [broker, pg] = await Promise.all([startMosquitto(), startPostgres()]);
const verdicts: string[] = [];
const results: Record<string, unknown> = { messages: MESSAGES, commit: Bun.spawnSync(["git", "rev-parse", "--short", "HEAD"]).stdout.toString().trim() };
try {
  const lite1 = await ingestRate(broker.url, `sqlite://${dir}/one.db`, 1, "s1");
  const lite2 = await ingestRate(broker.url, `sqlite://${dir}/two.db`, 2, "s2");
  const pg1 = await ingestRate(broker.url, pg.url, 1, "p1");
  const pg2 = await ingestRate(broker.url, pg.url, 2, "p2"); // same database, new ids: the tables only grow
  const liteFloor = await floorRate(`sqlite://${dir}/floor.db`, "s");
  const pgFloor = await floorRate(pg.url, "p");
  results.ingest = {
    sqlite: { oneCollector: lite1, twoCollectors: lite2, floor: liteFloor, ratioOne: liteFloor / lite1, ratioTwo: liteFloor / lite2 },
    postgres: { oneCollector: pg1, twoCollectors: pg2, floor: pgFloor, ratioOne: pgFloor / pg1, ratioTwo: pgFloor / pg2 },
  };
  // symbolization + signature per report (the symbolizer of record is not on main yet: today this is
  // reading the report and computing its signature)
  results.symbolizeAndSignMsPerReport = await symbolizeCost();
  const store = await openStore(`sqlite://${dir}/render.db`);
  results.render = await renderTimes(store);
  await store.close();
  const rate = (what: string, r: number, floor: number) =>
    verdict(`ingest, ${what}`, `${r.toFixed(0)} messages/s, floor ${floor.toFixed(0)}/s: floor / collector = ${(floor / r).toFixed(2)}×`, `≤ ${FLOOR_RATIO}× the floor's time`, floor / r <= FLOOR_RATIO);
  verdicts.push(
    rate("SQLite, 1 collector", lite1, liteFloor),
    rate("SQLite, 2 collectors (--group)", lite2, liteFloor),
    rate("PostgreSQL, 1 collector", pg1, pgFloor),
    rate("PostgreSQL, 2 collectors (--group)", pg2, pgFloor),
    `(no target) symbolization + signature: ${(results.symbolizeAndSignMsPerReport as number).toFixed(1)} ms per crash report (issue 13 asks for the figure)`,
    `(no target) page render, ${RENDER_REPORTS} reports in ${RENDER_GROUPS} groups: ${["/", "/versions", "/groups/<id>", "/devices/<id>", "/api/groups"].map((k) => `${k} ${(results.render as Record<string, number>)[k]?.toFixed(1)} ms`).join(", ")} (issue 13 asks for the figure)`,
  );
} finally {
  await Promise.all([broker.stop(), pg.stop()]);
  rmSync(dir, { recursive: true, force: true });
}
writeFileSync(join(OUT, "results.json"), `${JSON.stringify(results, null, 2)}\n`);
console.log(JSON.stringify(results, null, 2));
console.log(`\n${verdicts.join("\n")}`);

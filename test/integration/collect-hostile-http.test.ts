// The collector's HTTP side under hostile devices (issue 22), end to end: the
// compiled collector on PostgreSQL, fed through a real mosquitto. Flooding
// devices (each at ingest's new-groups-per-hour limit) open 520 crash groups dated 9999 (the lists are paged: another device's
// group stays reachable, every page within its bound); a group holds reports
// stored before ingest bounded them (18 MB, 2 MB, one nested 100 000 deep: the
// answer stays within its bound and the collector's memory is measured); times
// with +14:00 offsets order as instants; a foreign Host header is refused (DNS
// rebinding); device text with a right-to-left override is shown escaped; and
// the pages render in headless Chromium.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SQL } from "bun";
import mqtt from "mqtt";
import puppeteer, { type Browser } from "puppeteer-core";
import { startCollector, startMosquitto, startPostgres, waitFor, type Collector, type Running } from "./servers.ts";
import { bootMessage, crashMessage, daysAgo, device, fixtureReport, PREFIX, type Message } from "../unit/collect/fleet.ts";
import { encodePayload, payloadTopic, type UploadPayload } from "../../src/upload/payload.ts";
import { DEFAULT_MAX_NEW_GROUPS_PER_DEVICE_HOUR } from "../../src/config/collect.ts";
import { ANSWER_BOUNDS, DEVICE_BOOTS, GROUP_REPORTS, MAX_PAGE_ITEMS, MAX_REPORT_READ_CHARS } from "../../src/collect/views.ts";

// page.evaluate callbacks run in the browser; this file is compiled without the DOM library.
interface BrowserElement {
  attributes: Iterable<{ name: string }>;
}
declare const document: { querySelectorAll(selector: string): ArrayLike<BrowserElement> & Iterable<BrowserElement>; body: { innerText: string } };

const CHROMIUM = "/usr/bin/chromium";
/** Crash groups the flooding devices open (the case: 500 pushed every real group off the lists). */
const FLOOD = 520;
const LIST_ANSWER_MAX = ANSWER_BOUNDS.list;
const GROUP_ANSWER_MAX = ANSWER_BOUNDS.group;
const DEVICE_ANSWER_MAX = ANSWER_BOUNDS.device;
const TOKEN = "hostile-http-token-0123456789";
const RLO = "\u202e";

let broker: Running;
let pg: Running;
let collector: Collector;
let browser: Browser;
let dir: string;
let realGroup = "";
const figures: string[] = [];

const auth = { authorization: `Bearer ${TOKEN}` };

async function getText(path: string): Promise<{ status: number; body: string; link: string | null }> {
  const res = await fetch(`${collector.base}${path}`, { headers: auth });
  return { status: res.status, body: await res.text(), link: res.headers.get("link") };
}

function retimed(m: Message, time: string): Message {
  const payload = { ...m.payload, time } as UploadPayload;
  return { topic: payloadTopic(PREFIX, payload), payload, bytes: new TextEncoder().encode(encodePayload(payload)) };
}

/** A raw request with any Host header (fetch sets its own). */
function rawStatus(host: string, headers: Record<string, string> = {}, body?: string): Promise<number> {
  const port = Number(new URL(collector.base).port);
  return new Promise((resolve, reject) => {
    const req = request({ host: "127.0.0.1", port, path: "/api/health", method: "GET", setHost: false, headers: { host, ...auth, ...headers } }, (res) => {
      res.resume();
      res.on("end", () => resolve(res.statusCode ?? 0));
    });
    req.on("error", reject);
    req.end(body);
  });
}

function rss(): { rssMb: number; peakMb: number } {
  const status = readFileSync(`/proc/${collector.proc.pid}/status`, "utf8");
  const kb = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, "m").exec(status)?.[1] ?? 0);
  return { rssMb: Math.round(kb("VmRSS") / 1024), peakMb: Math.round(kb("VmHWM") / 1024) };
}

/** Every page of a list API, following Link rel="next"; the largest answer's size. */
async function walk(path: string): Promise<{ ids: string[]; pages: number; largest: number }> {
  const ids: string[] = [];
  let next: string | undefined = path;
  let pages = 0;
  let largest = 0;
  while (next !== undefined) {
    if (pages > FLOOD) throw new Error(`${path}: the Link rel="next" loops`);
    const r = await getText(next);
    expect(r.status).toBe(200);
    largest = Math.max(largest, Buffer.byteLength(r.body));
    const items = JSON.parse(r.body) as Array<{ id: string }>;
    expect(items.length).toBeLessThanOrEqual(MAX_PAGE_ITEMS);
    ids.push(...items.map((x) => x.id));
    pages++;
    next = /<([^>]+)>; rel="next"/.exec(r.link ?? "")?.[1];
  }
  return { ids, pages, largest };
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "ck-hostile-http-"));
  writeFileSync(join(dir, "token"), `${TOKEN}\n`);
  [broker, pg] = await Promise.all([startMosquitto(), startPostgres()]);
  collector = await startCollector(["--broker", broker.url, "--db", pg.url, "--client-id", "ck-hostile-http", "--token", join(dir, "token"), "--host-name", "collect.example"]);
  const sent: Message[] = [];
  // each flooding device opens as many groups as ingest lets one device open in an hour
  for (let i = 0; i < FLOOD; i++) {
    const r = fixtureReport("nested");
    r.exe = `/opt/flood-${i}`;
    const flood = device(`flood-${Math.floor(i / DEFAULT_MAX_NEW_GROUPS_PER_DEVICE_HOUR)}`, "6.6.6");
    sent.push(retimed(crashMessage(flood, r, { time: daysAgo(0) }), "9999-12-30T00:00:00Z"));
  }
  const real = device("real-1", "1.0.0");
  for (let i = 0; i < GROUP_REPORTS + 2; i++) sent.push(crashMessage(real, fixtureReport("fpe"), { time: daysAgo(1, i) }));
  for (let i = 0; i < DEVICE_BOOTS + 3; i++) sent.push(bootMessage(real, { reason: "kernel-panic", bootId: `r${i}`, time: daysAgo(1, 2 * i + 1), detail: `boot ${i}: invoice${RLO}fdp.exe`, logTail: [`line of boot ${i}`] }));
  const pub = await mqtt.connectAsync(broker.url, { clientId: "ck-hostile-http-fleet", protocolVersion: 4 });
  for (const m of sent) await pub.publishAsync(m.topic, Buffer.from(m.bytes), { qos: 1 });
  await pub.endAsync();
  await waitFor(
    "every message handled",
    async () => {
      const h = JSON.parse((await getText("/api/health")).body) as { messages: number; duplicates: number; rejected: number };
      return h.messages + h.duplicates + h.rejected >= sent.length ? h : undefined;
    },
    240_000,
  );
  const d = JSON.parse((await getText("/api/devices/real-1")).body) as { boots: Array<{ crashes: Array<{ groupId: string }> }> };
  realGroup = d.boots.flatMap((b) => b.crashes)[0]?.groupId ?? "";
  browser = await puppeteer.launch({
    executablePath: CHROMIUM,
    headless: true,
    userDataDir: join(dir, "chromium-profile"),
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
}, 400_000);

afterAll(async () => {
  console.log(`collect-hostile-http figures:\n  ${figures.join("\n  ")}`);
  await browser?.close();
  if (collector) expect(await collector.stop()).toBe(0);
  await broker?.stop();
  await pg?.stop();
  rmSync(dir, { recursive: true, force: true });
});

test("a flood of crash groups dated 9999 from flooding devices: the lists are paged, another device's group is still reachable, every page within its bound", async () => {
  expect(realGroup).not.toBe("");
  const groups = await walk("/api/groups");
  expect(new Set(groups.ids).size).toBe(groups.ids.length);
  expect(groups.ids).toContain(realGroup);
  expect(groups.largest).toBeLessThanOrEqual(LIST_ANSWER_MAX);
  figures.push(`/api/groups: ${groups.ids.length} groups in ${groups.pages} pages, largest answer ${groups.largest} bytes`);
  const devices = await walk("/api/devices");
  expect(devices.ids).toEqual(expect.arrayContaining(["flood-1", "real-1"]));
  // the HTML list: next links through every page
  let path: string | undefined = "/";
  let found = false;
  let pages = 0;
  while (path !== undefined && pages <= FLOOD) {
    const r = await getText(path);
    expect(r.status).toBe(200);
    found ||= r.body.includes(`data-group="${realGroup}"`);
    path = /<a rel="next" href="([^"]+)">/.exec(r.body)?.[1]?.replaceAll("&amp;", "&");
    pages++;
  }
  expect(found).toBe(true);
  expect(pages).toBe(groups.pages);
});

test("reports stored before ingest bounded them (18 MB, 2 MB, 100 000 deep): /api/groups/<id> stays within its bound; memory measured", async () => {
  const report = fixtureReport("fpe");
  const frame = report.threads[0]?.frames[0];
  if (!report.threads[0] || !frame) throw new Error("fixture has no frame");
  report.threads[0].frames = Array.from({ length: 41_000 }, (_, i) => ({ ...frame, index: i, symbol: `amplified_${i}_${"x".repeat(120)}` }));
  const amplified = JSON.stringify(report);
  // just under MAX_REPORT_READ_CHARS: read and parsed whole, the costliest report to show
  const perFrame = amplified.length / 41_000;
  const mid = JSON.stringify({ ...report, threads: [{ ...report.threads[0], frames: report.threads[0].frames.slice(0, Math.floor((MAX_REPORT_READ_CHARS * 0.95) / perFrame)) }] });
  const deep = JSON.stringify(fixtureReport("fpe")).replace(/^\{/, `{"unknown":${'{"a":'.repeat(100_000)}1${"}".repeat(100_000)},`);
  const db = new SQL(pg.url);
  try {
    const rows: Array<{ message_id: string }> = await db`SELECT message_id FROM crashes WHERE group_id = ${realGroup} ORDER BY time DESC`;
    for (const [i, r] of rows.entries()) await db`UPDATE crash_reports SET report = ${i === 0 ? amplified : i === 1 ? deep : mid}, symbolized = '' WHERE message_id = ${r.message_id}`;
  } finally {
    await db.close();
  }
  const before = rss();
  figures.push(`collector RSS after ingest: ${before.rssMb} MB, peak (VmHWM) so far ${before.peakMb} MB`);
  const started = performance.now();
  const answers = await Promise.all([1, 2, 3].map(() => getText(`/api/groups/${realGroup}`)));
  const ms = performance.now() - started;
  const after = rss();
  for (const a of answers) {
    expect(a.status).toBe(200);
    expect(Buffer.byteLength(a.body)).toBeLessThanOrEqual(GROUP_ANSWER_MAX);
  }
  const g = JSON.parse(answers[0]?.body ?? "{}") as { reports: Array<{ truncated: boolean }> };
  expect(g.reports).toHaveLength(GROUP_REPORTS);
  expect(g.reports.every((r) => r.truncated)).toBe(true);
  figures.push(
    `/api/groups/<id> with ${GROUP_REPORTS} stored reports (one of ${amplified.length} chars, one nested 100 000 deep, ${GROUP_REPORTS - 2} of ${mid.length} chars): ${Buffer.byteLength(answers[0]?.body ?? "")} bytes; 3 parallel requests ${Math.round(ms)} ms; collector RSS ${before.rssMb} MB -> ${after.rssMb} MB, peak (VmHWM) ${after.peakMb} MB`,
  );
  const page = await getText(`/groups/${realGroup}`);
  expect(page.status).toBe(200);
  figures.push(`/groups/<id>: ${Buffer.byteLength(page.body)} bytes`);
  const dev = await getText("/api/devices/real-1");
  expect(Buffer.byteLength(dev.body)).toBeLessThanOrEqual(DEVICE_ANSWER_MAX);
  expect(dev.link).toBe(`</api/devices/real-1?offset=${DEVICE_BOOTS}>; rel="next"`);
  figures.push(`/api/devices/real-1 (first of 2 pages of boots): ${Buffer.byteLength(dev.body)} bytes`);
  expect(collector.proc.exitCode).toBeNull();
});

test("times with +14:00 offsets order as instants (PostgreSQL)", async () => {
  const base = Date.now() - 2 * 86400_000;
  const z = new Date(base).toISOString();
  const local = new Date(base - 3 * 3600_000 + 14 * 3600_000).toISOString().replace(/Z$/, "+14:00");
  const early = fixtureReport("abort");
  early.exe = "/opt/tz-early";
  const late = fixtureReport("abort");
  late.exe = "/opt/tz-late";
  const pub = await mqtt.connectAsync(broker.url, { clientId: "ck-hostile-http-tz", protocolVersion: 4 });
  await pub.publishAsync(`${PREFIX}/tz-1/crash`, Buffer.from(retimed(crashMessage(device("tz-1", "3.0"), early, { time: daysAgo(2) }), local).bytes), { qos: 1 });
  await pub.publishAsync(`${PREFIX}/tz-2/crash`, Buffer.from(retimed(crashMessage(device("tz-2", "3.0"), late, { time: daysAgo(2) }), z).bytes), { qos: 1 });
  await pub.endAsync();
  const groups = await waitFor("both tz groups", async () => {
    const all: Array<{ exe: string; lastSeen: string }> = [];
    let next: string | undefined = "/api/groups";
    while (next !== undefined) {
      const r = await getText(next);
      all.push(...(JSON.parse(r.body) as typeof all));
      next = /<([^>]+)>; rel="next"/.exec(r.link ?? "")?.[1];
    }
    const tz = all.filter((g) => g.exe.startsWith("tz-"));
    return tz.length === 2 ? tz : undefined;
  });
  expect(groups.map((g) => g.exe)).toEqual(["tz-late", "tz-early"]);
  expect(groups[1]?.lastSeen).toBe(new Date(base - 3 * 3600_000).toISOString());
});

test("HTTP: a foreign Host is refused (421), a configured one answered; a GET body over 1 KiB refused; a malformed cookie is a 401", async () => {
  const port = new URL(collector.base).port;
  expect(await rawStatus(`127.0.0.1:${port}`)).toBe(200);
  expect(await rawStatus("collect.example")).toBe(200);
  expect(await rawStatus(`rebound.attacker.example:${port}`)).toBe(421);
  expect(await rawStatus(`127.0.0.1:${port}`, { "content-length": "2048" }, "x".repeat(2048))).toBe(413);
  const res = await fetch(`${collector.base}/api/groups`, { headers: { cookie: "crashkeep_token=%E0%A4%A" } });
  expect(res.status).toBe(401);
});

test("the pages render in headless Chromium: paged lists, a group of cut reports, a device whose text carries a right-to-left override", async () => {
  const page = await browser.newPage();
  const dialogs: string[] = [];
  page.on("dialog", async (d) => {
    dialogs.push(d.message());
    await d.dismiss();
  });
  // the token once in the URL; then the cookie
  expect((await page.goto(`${collector.base}/?token=${TOKEN}`, { waitUntil: "load" }))?.status()).toBe(200);
  for (const path of ["/", `/?offset=${MAX_PAGE_ITEMS}`, "/devices", "/versions", `/groups/${realGroup}`, `/groups/${realGroup}?offset=${GROUP_REPORTS}`, "/devices/real-1", `/devices/real-1?offset=${DEVICE_BOOTS}`, "/devices/flood-1"]) {
    const res = await page.goto(`${collector.base}${path}`, { waitUntil: "load", timeout: 60_000 });
    expect(res?.status()).toBe(200);
    const dom = await page.evaluate(() => ({
      scripts: document.querySelectorAll("script").length,
      handlers: [...document.querySelectorAll("*")].filter((e) => [...e.attributes].some((a) => a.name.startsWith("on"))).length,
      text: document.body.innerText,
    }));
    expect(dom.scripts).toBe(0);
    expect(dom.handlers).toBe(0);
    expect(dom.text).not.toContain(RLO);
    if (path === "/devices/real-1") expect(dom.text).toContain("invoice\\u202Efdp.exe");
    if (path === "/") expect(await page.$$eval("#groups tbody tr", (trs) => trs.length)).toBe(MAX_PAGE_ITEMS);
  }
  await page.close();
  expect(dialogs).toEqual([]);
}, 180_000);

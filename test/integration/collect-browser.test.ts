// The collector's pages in a real browser: Debian's headless Chromium driven
// with puppeteer-core (nothing downloads a browser). A seeded fleet, some of
// whose strings are XSS payloads, goes through mosquitto into the compiled
// collector; the pages show the fleet's numbers, the payloads stay text (no
// dialog, no injected element), and screenshots land in out/ for a person.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import mqtt from "mqtt";
import puppeteer, { type Browser, type Page } from "puppeteer-core";
import { api, ROOT, startCollector, startMosquitto, waitFor, type Collector, type Running } from "./servers.ts";
import { bootMessage, crashMessage, daysAgo, device, fixtureReport, rollbackMessage, type Message } from "../unit/collect/fleet.ts";

// page.evaluate callbacks run in the browser; this file is compiled without the DOM library.
interface BrowserElement {
  attributes: Iterable<{ name: string }>;
}
declare const document: { querySelectorAll(selector: string): ArrayLike<BrowserElement> & Iterable<BrowserElement>; body: { innerText: string } };

const CHROMIUM = Bun.which("chromium") ?? "chromium (not on PATH)";
const SHOTS = join(ROOT, "out/collect-screenshots");
const XSS = `<script>alert("xss")</script><img src=x onerror=alert(1)>"'><svg onload=alert(2)>`;
/** A device id that is an XSS payload: without "/" "+" "#", which the collector refuses in ids (issue 22). */
const EVIL_ID = `evil-${XSS}`.replace(/[/+#]/g, "").slice(0, 128);

let broker: Running;
let collector: Collector;
let browser: Browser;
let dir: string;
let sent: Message[] = [];
const dialogs: string[] = [];

function seed(): Message[] {
  const out: Message[] = [];
  const programs = ["nested", "fpe", "abort", "threads", "bus", "overflow"];
  for (let i = 0; i < 12; i++) {
    const dev = device(i === 0 ? EVIL_ID : `unit-${String(i).padStart(3, "0")}`, i === 1 ? `9.9${XSS}` : `5.${i % 3}.0`);
    for (let d = 0; d < 10; d++) {
      const report = fixtureReport(programs[(i + d) % programs.length] as string);
      if (i < 2) {
        report.comm = XSS.slice(0, 15);
        report.cmdline = `/opt/app ${XSS}`;
        const f = report.threads[0]?.frames[0];
        if (f) f.module = `/opt/${XSS}/lib.so`;
      }
      if ((i + d) % 3 === 0) out.push(crashMessage(dev, report, { time: daysAgo(20 - d * 2, 30) }));
      out.push(
        bootMessage(dev, {
          reason: ["clean", "kernel-panic", "clean", "unexpected-reset", "maintenance"][(i * 7 + d) % 5] as string,
          bootId: `${i}-${d}`,
          time: daysAgo(20 - d * 2),
          ...(i < 2 ? { detail: XSS, panicMessage: XSS, panicLog: `${XSS}\nKernel panic - not syncing: ${XSS}\n`, logTail: [XSS, `line "two" & 'three'`] } : {}),
        }),
      );
    }
    // rollbacks away from 6.0.0 (the update) on units 2-5, two on unit 2; one XSS rollback on the evil device
    if (i >= 2 && i <= 5) out.push(rollbackMessage(dev, { time: daysAgo(1, i), from: "6.0.0" }));
    if (i === 2) out.push(rollbackMessage(dev, { time: daysAgo(0, 30), from: "6.0.0" }));
    if (i === 0) {
      const badBoots = [{ slot: `B${XSS}`.slice(0, 64), bootId: null, reason: "crash-loop", detail: XSS, executable: `/opt/${XSS}`, signature: XSS.slice(0, 256), endedAt: daysAgo(2) }];
      out.push(rollbackMessage(dev, { time: daysAgo(2), from: `6.0${XSS}`.slice(0, 128), badBoots }));
    }
  }
  return out;
}

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: run make deps`);
  broker = await startMosquitto();
  dir = mkdtempSync(join(tmpdir(), "ck-collect-browser-"));
  collector = await startCollector(["--broker", broker.url, "--db", `sqlite://${dir}/c.db`, "--client-id", "ck-browser"]);
  sent = seed();
  const pub = await mqtt.connectAsync(broker.url, { clientId: "ck-browser-fleet", protocolVersion: 4 });
  for (const m of sent) await pub.publishAsync(m.topic, Buffer.from(m.bytes), { qos: 1 });
  await pub.endAsync();
  await waitFor("the seeded fleet stored", async () => ((await api<{ messages: number }>(collector.base, "/api/health")).messages >= sent.length ? true : undefined));
  mkdirSync(SHOTS, { recursive: true });
  browser = await puppeteer.launch({
    executablePath: CHROMIUM,
    headless: true,
    userDataDir: join(dir, "chromium-profile"),
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await collector?.stop();
  await broker?.stop();
  rmSync(dir, { recursive: true, force: true });
});

async function open(path: string, shot: string): Promise<Page> {
  const page = await browser.newPage();
  page.on("dialog", async (d) => {
    dialogs.push(d.message());
    await d.dismiss();
  });
  await page.setViewport({ width: 1280, height: 900 });
  const res = await page.goto(`${collector.base}${path}`, { waitUntil: "load", timeout: 30_000 });
  expect(res?.status()).toBe(200);
  // nothing a device sent became markup
  const injected = await page.evaluate(() => ({
    scripts: document.querySelectorAll("script").length,
    imgs: document.querySelectorAll("img").length,
    handlers: [...document.querySelectorAll("*")].filter((e) => [...e.attributes].some((a) => a.name.startsWith("on"))).length,
    svgOnload: document.querySelectorAll("svg[onload]").length,
  }));
  expect(injected).toEqual({ scripts: 0, imgs: 0, handlers: 0, svgOnload: 0 });
  await page.screenshot({ path: join(SHOTS, `${shot}.png`), fullPage: true });
  return page;
}

test("crash groups page: every group with its count and devices; XSS payloads shown as text", async () => {
  const groups = await api<Array<{ id: string; count: number; devices: number }>>(collector.base, "/api/groups");
  const crashes = sent.filter((m) => m.payload.kind === "crash").length;
  expect(groups.reduce((a, g) => a + g.count, 0)).toBe(crashes);
  const page = await open("/", "groups");
  const rows = await page.$$eval("#groups tbody tr", (trs) => trs.map((tr) => ({ id: tr.getAttribute("data-group"), count: Number(tr.querySelector(".count")?.textContent), devices: Number(tr.querySelector(".devices")?.textContent) })));
  expect(rows).toEqual(groups.map((g) => ({ id: g.id, count: g.count, devices: g.devices })));
  expect(await page.$$eval("svg.spark", (s) => s.length)).toBe(groups.length);
  expect(await page.evaluate(() => document.body.innerText)).toContain(`9.9<script>alert("xss")</script>`);
  await page.close();
});

test("one group: backtrace, devices, newest reports with log tails; payloads inert", async () => {
  const groups = await api<Array<{ id: string; exe: string }>>(collector.base, "/api/groups");
  const nested = groups.find((g) => g.exe === "nested");
  expect(nested).toBeDefined();
  const page = await open(`/groups/${nested?.id}`, "group");
  const frames = await page.$$eval("#frames tbody tr", (trs) => trs.map((tr) => tr.textContent ?? ""));
  expect(frames.join("\n")).toMatch(/level3[\s\S]*level2[\s\S]*level1[\s\S]*main/);
  const text = await page.evaluate(() => document.body.innerText);
  expect(text).toContain(`/opt/app <script>alert("xss")</script>`);
  await page.close();
});

test("one device: its boot timeline with reasons and crashes; a device id that is an XSS payload", async () => {
  const id = EVIL_ID;
  const detail = await api<{ boots: Array<{ reason: string; crashes: unknown[] }> }>(collector.base, `/api/devices/${encodeURIComponent(id)}`);
  const page = await open(`/devices/${encodeURIComponent(id)}`, "device");
  expect(await page.$eval("#device-id", (e) => e.textContent)).toBe(id);
  const boots = await page.$$eval(".boot[data-reason]", (bs) => bs.map((b) => b.getAttribute("data-reason")));
  expect(boots).toEqual(detail.boots.map((b) => b.reason));
  expect(detail.boots.reduce((a, b) => a + b.crashes.length, 0)).toBeGreaterThan(0);
  await page.close();
});

test("firmware versions: crash-free boots % as the API computes it, and the chart", async () => {
  const versions = await api<Array<{ firmware: string; boots: number; crashFreeBootsPercent: number | null }>>(collector.base, "/api/versions");
  const page = await open("/versions", "versions");
  const rows = await page.$$eval("#versions tbody tr", (trs) => trs.map((tr) => ({ firmware: tr.getAttribute("data-firmware"), boots: Number(tr.querySelector(".boots")?.textContent), pct: tr.querySelector(".crash-free")?.textContent })));
  // a version known only from rollbacks away from it has no boots: "–"
  expect(rows).toEqual(versions.map((v) => ({ firmware: v.firmware, boots: v.boots, pct: v.crashFreeBootsPercent === null ? "–" : `${v.crashFreeBootsPercent}%` })));
  // the seeded reasons: clean and a noted reason (maintenance) are crash-free, panics and resets are not
  const boots = sent.filter((m) => m.payload.kind === "boot").map((m) => m.payload as Extract<Message["payload"], { kind: "boot" }>);
  const v50 = boots.filter((b) => b.device.firmware === "5.0.0");
  const free = v50.filter((b) => ["clean", "maintenance"].includes(b.boot.reason)).length;
  expect(versions.find((v) => v.firmware === "5.0.0")?.crashFreeBootsPercent).toBe(Math.round((free / v50.length) * 1000) / 10);
  expect(await page.$$eval("figure.chart polyline", (p) => p.length)).toBe(versions.filter((v) => v.boots > 0).length);
  await page.close();
});

test("rollbacks: per firmware version beside crash-free boots, on the device page with each bad boot, on /rollbacks; payloads inert", async () => {
  const versions = await api<Array<{ firmware: string; rollbacks: number; rollbackDevices: number }>>(collector.base, "/api/versions");
  expect(versions.find((v) => v.firmware === "6.0.0")).toMatchObject({ rollbacks: 5, rollbackDevices: 4 });
  const page = await open("/versions", "versions-rollbacks");
  const rows = await page.$$eval("#versions tbody tr", (trs) => trs.map((tr) => ({ firmware: tr.getAttribute("data-firmware"), rollbacks: tr.querySelector(".rollbacks")?.textContent?.trim() })));
  expect(rows).toEqual(versions.map((v) => ({ firmware: v.firmware, rollbacks: v.rollbacks === 0 ? "0" : `${v.rollbacks} on ${v.rollbackDevices} device${v.rollbackDevices === 1 ? "" : "s"}` })));
  await page.close();
  const unit = await open("/devices/unit-002", "device-rollbacks");
  const shown = await unit.$$eval(".rollback", (rs) => rs.map((r) => ({ from: r.querySelector(".from-firmware")?.textContent, reasons: [...r.querySelectorAll(".bad-boots li")].map((li) => li.getAttribute("data-reason")) })));
  expect(shown).toEqual([
    { from: "6.0.0", reasons: ["kernel-panic", "kernel-panic"] },
    { from: "6.0.0", reasons: ["kernel-panic", "kernel-panic"] },
  ]);
  await unit.close();
  const evil = await open(`/rollbacks?device=${encodeURIComponent(EVIL_ID)}`, "rollbacks-xss");
  const text = await evil.evaluate(() => document.body.innerText);
  expect(text).toContain(`crash ${XSS.slice(0, 256)}`);
  expect(text).toContain(`6.0${XSS}`);
  await evil.close();
  await (await open("/rollbacks", "rollbacks")).close();
});

test("no page opened a dialog", () => {
  expect(dialogs).toEqual([]);
});

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ingest } from "../../../src/collect/ingest.ts";
import { handle } from "../../../src/collect/server.ts";
import { openStore, type Store } from "../../../src/collect/store.ts";
import { escapeHtml, html } from "../../../src/collect/html.ts";
import { bootMessage, crashMessage, daysAgo, device, fixtureReport } from "./fleet.ts";

const options = { topicPrefix: "crashkeep/v1", symbolize: { debugDirs: [], debuginfod: undefined } };
const EVIL = `<script>alert(1)</script><img src=x onerror="alert(2)">'"`;
let dir: string;
let store: Store;
let groupId = "";

const get = (path: string, headers: Record<string, string> = {}, token?: string) => handle(store, new Request(`http://127.0.0.1${path}`, { headers }), token);

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "ck-collect-server-"));
  store = await openStore(`sqlite://${dir}/collect.db`);
  const dev = { ...device("evil-1", `2.0${EVIL}`), hardware: EVIL };
  const report = fixtureReport("nested");
  report.comm = EVIL;
  report.cmdline = `/opt/app --name ${EVIL}`;
  const frame = report.threads[0]?.frames[0];
  if (frame) frame.module = `/opt/${EVIL}`;
  const b = bootMessage(dev, { reason: "kernel-panic", bootId: "b1", time: daysAgo(1), detail: EVIL, panicMessage: EVIL, panicLog: EVIL, logTail: [EVIL, "second line"] });
  if ((await ingest(store, b.topic, b.bytes, options)).status !== "stored") throw new Error("seed boot failed");
  const m = crashMessage(dev, report, { time: daysAgo(1, 5) });
  const out = await ingest(store, m.topic, m.bytes, options);
  if (out.status !== "stored" || out.group === undefined) throw new Error(`seed failed: ${JSON.stringify(out)}`);
  groupId = out.group;
});
afterAll(async () => {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

describe("html", () => {
  test("escapes every interpolated string, also in attributes", () => {
    expect(html`<a title="${EVIL}">${EVIL}</a>`.text).toBe(`<a title="${escapeHtml(EVIL)}">${escapeHtml(EVIL)}</a>`);
    expect(escapeHtml(EVIL)).not.toMatch(/[<>"']/);
  });
});

describe("pages and API", () => {
  test.each(["/", "/versions", "/devices", "/devices/evil-1", "/groups/GROUP"])("%s shows device strings only as text", async (path) => {
    const res = await get(path.replace("GROUP", groupId));
    expect(res.status).toBe(200);
    expect(res.headers.get("content-security-policy")).toContain("default-src 'none'");
    const body = await res.text();
    expect(body).not.toContain("<script");
    expect(body).not.toContain("<img");
    expect(body).toContain(escapeHtml("<script>alert(1)</script>"));
  });

  test("the group page holds the comm, cmdline, module and log tail as text", async () => {
    const body = await (await get(`/groups/${groupId}`)).text();
    expect(body.split(escapeHtml(EVIL)).length - 1).toBeGreaterThanOrEqual(4);
    expect(body).toContain("level3");
  });

  test("API shapes", async () => {
    const groups = (await (await get("/api/groups")).json()) as Array<Record<string, unknown>>;
    expect(groups).toHaveLength(1);
    expect(Object.keys(groups[0] ?? {}).sort()).toEqual(["count", "devices", "exe", "firmware", "firstSeen", "id", "lastSeen", "signature"]);
    const versions = (await (await get("/api/versions")).json()) as Array<Record<string, unknown>>;
    expect(versions[0]).toMatchObject({ firmware: `2.0${EVIL}`, boots: 1, reasons: { "kernel-panic": 1 }, crashFreeBootsPercent: 0 });
    expect((await get(`/api/groups/${groupId}`)).status).toBe(200);
    expect((await get("/api/groups/nope")).status).toBe(404);
    expect((await get("/api/devices/evil-1")).status).toBe(200);
    expect(((await (await get("/api/health")).json()) as { messages: number }).messages).toBe(2);
  });

  test("only GET, bounded URLs", async () => {
    expect((await handle(store, new Request("http://127.0.0.1/api/groups", { method: "POST", body: "x" }), undefined)).status).toBe(405);
    expect((await get(`/api/groups/${"a".repeat(5000)}`)).status).toBe(414);
  });

  test("a token guards pages and API: bearer, ?token= (then a cookie)", async () => {
    expect((await get("/api/groups", {}, "s3cret")).status).toBe(401);
    expect((await get("/api/groups", { authorization: "Bearer wrong" }, "s3cret")).status).toBe(401);
    expect((await get("/api/groups", { authorization: "Bearer s3cret" }, "s3cret")).status).toBe(200);
    const res = await get("/?token=s3cret", {}, "s3cret");
    expect(res.status).toBe(200);
    const cookie = (res.headers.get("set-cookie") ?? "").split(";")[0] ?? "";
    expect(cookie).toStartWith("crashkeep_token=");
    expect((await get("/versions", { cookie }, "s3cret")).status).toBe(200);
    expect((await get("/versions", {}, "s3cret")).status).toBe(401);
  });
});

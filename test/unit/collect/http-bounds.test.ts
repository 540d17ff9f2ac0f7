// The HTTP side against what hostile or broken devices leave in the store
// (issue 22): lists paged instead of cut, every answer within its stated bound
// even for rows stored before ingest bounded them (a 9.7 MB report, a report
// nested 100 000 deep), times ordered as instants, malformed cookies, foreign
// Host headers, request bodies, and device text that tries to steer the page.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Server } from "bun";
import { boundJson, TOO_DEEP } from "../../../src/collect/bounded.ts";
import { html } from "../../../src/collect/html.ts";
import { ingest } from "../../../src/collect/ingest.ts";
import { handle, serve } from "../../../src/collect/server.ts";
import { openStore, type Store } from "../../../src/collect/store.ts";
import { ANSWER_BOUNDS, DEVICE_BOOTS, DEVICE_ROLLBACKS, GROUP_REPORTS, MAX_PAGE_ITEMS, MAX_REPORT_READ_CHARS, REPORT_ANSWER_BYTES, ROLLBACKS_PAGE_ITEMS } from "../../../src/collect/views.ts";
import { encodePayload, MAX_BAD_BOOTS, payloadTopic, type UploadPayload } from "../../../src/upload/payload.ts";
import { bootMessage, crashMessage, daysAgo, device, fixtureReport, PREFIX, rollbackMessage, type Message } from "./fleet.ts";

const options = { topicPrefix: PREFIX, symbolize: { debugDirs: [], debuginfod: undefined } };
/** Groups made by distinct devices (one each: a per-device bound on new groups does not limit it). */
const GROUPS = MAX_PAGE_ITEMS * 2 + 17;
const LIST_ANSWER_MAX = ANSWER_BOUNDS.list;
const GROUP_ANSWER_MAX = ANSWER_BOUNDS.group;
const DEVICE_ANSWER_MAX = ANSWER_BOUNDS.device;
const RLO = "\u202e";

let dir: string;
let store: Store;
let bigGroup = "";
let server: Server<undefined>;

const get = (path: string, headers: Record<string, string> = {}, token?: string) => handle(store, new Request(`http://127.0.0.1${path}`, { headers }), token);

async function must(m: Message): Promise<string> {
  const out = await ingest(store, m.topic, m.bytes, options);
  if (out.status !== "stored") throw new Error(`seed failed: ${JSON.stringify(out)}`);
  return out.status === "stored" && out.group !== undefined ? out.group : "";
}

/** A message whose payload time is TIME as written (any offset), the rest as the device's builders made it. */
function retimed(m: Message, time: string): Message {
  const payload = { ...m.payload, time } as UploadPayload;
  return { topic: payloadTopic(PREFIX, payload), payload, bytes: new TextEncoder().encode(encodePayload(payload)) };
}

/** Every page of a list API, following its Link rel="next"; the size of the largest answer. */
async function walk<T>(path: string): Promise<{ items: T[]; pages: number; largest: number }> {
  const items: T[] = [];
  let next: string | undefined = path;
  let pages = 0;
  let largest = 0;
  while (next !== undefined) {
    if (pages > 2 * Math.ceil(GROUPS / MAX_PAGE_ITEMS) + 4) throw new Error(`${path}: more pages than there are items (the Link rel="next" loops)`);
    const res = await get(next);
    expect(res.status).toBe(200);
    const body = await res.text();
    largest = Math.max(largest, Buffer.byteLength(body));
    const page = JSON.parse(body) as T[];
    expect(page.length).toBeLessThanOrEqual(MAX_PAGE_ITEMS);
    items.push(...page);
    pages++;
    next = /<([^>]+)>; rel="next"/.exec(res.headers.get("link") ?? "")?.[1];
  }
  return { items, pages, largest };
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "ck-collect-bounds-"));
  store = await openStore(`sqlite://${dir}/collect.db`);
  for (let i = 0; i < GROUPS; i++) {
    const report = fixtureReport("nested");
    report.exe = `/opt/flood-${i}`;
    await must(crashMessage(device(`flood-${String(i).padStart(4, "0")}`, "1.0"), report, { time: daysAgo(1, i) }));
  }
  // one group with more reports than a page, one of them later replaced by an amplified and a deeply nested one
  const big = device("big-1", "2.0");
  for (let i = 0; i < GROUP_REPORTS + 3; i++) bigGroup = await must(crashMessage(big, fixtureReport("fpe"), { time: daysAgo(2, i) }));
  for (let i = 0; i < DEVICE_BOOTS + 5; i++) await must(bootMessage(big, { reason: "kernel-panic", bootId: `b${i}`, time: daysAgo(2, i * 2 + 1), detail: `boot ${i}` }));
  // more rollbacks than a page, each with the most bad boots a message may list
  for (let i = 0; i < ROLLBACKS_PAGE_ITEMS + 3; i++) {
    const badBoots = Array.from({ length: MAX_BAD_BOOTS }, (_, j) => ({ slot: "B", bootId: `rb${i}-${j}`, reason: "crash-loop", detail: `rollback ${i} boot ${j}`, executable: "/usr/bin/fpe", signature: "fpe: crash < main", endedAt: daysAgo(3, i * 30 + j) }));
    await must(rollbackMessage(big, { time: daysAgo(3, i * 30), from: `3.${i}`, badBoots }));
  }
  server = serve(store, { hostname: "127.0.0.1", port: 0, token: undefined, hostNames: ["collect.example"] });
}, 120_000);

afterAll(async () => {
  await server?.stop(true);
  await store?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe("paging", () => {
  test.each(["/api/groups", "/api/devices"])("%s: every item once, in pages of at most MAX_PAGE_ITEMS linked by Link rel=next", async (path) => {
    const all = await walk<{ id: string }>(path);
    const expected = path === "/api/groups" ? GROUPS + 1 : GROUPS + 1;
    expect(all.items).toHaveLength(expected);
    expect(new Set(all.items.map((x) => x.id)).size).toBe(expected);
    expect(all.pages).toBe(Math.ceil(expected / MAX_PAGE_ITEMS));
    expect(all.largest).toBeLessThanOrEqual(LIST_ANSWER_MAX);
  });

  test("rollbacks: pages of ROLLBACKS_PAGE_ITEMS, newest first; the filter kept in the Link header and the pager links", async () => {
    const res = await get("/api/rollbacks?device=big-1");
    const first = (await res.json()) as Array<{ fromFirmware: string; badBoots: unknown[] }>;
    expect(first.map((r) => r.fromFirmware)).toEqual(Array.from({ length: ROLLBACKS_PAGE_ITEMS }, (_, i) => `3.${i}`));
    expect(first.every((r) => r.badBoots.length === MAX_BAD_BOOTS)).toBe(true);
    expect(res.headers.get("link")).toBe(`</api/rollbacks?device=big-1&offset=${ROLLBACKS_PAGE_ITEMS}>; rel="next"`);
    const rest = await get(`/api/rollbacks?device=big-1&offset=${ROLLBACKS_PAGE_ITEMS}`);
    expect(((await rest.json()) as unknown[]).length).toBe(3);
    expect(rest.headers.get("link")).toBe(`</api/rollbacks?device=big-1>; rel="prev"`);
    expect((await (await get("/api/rollbacks?device=nobody")).json()) as unknown[]).toEqual([]);
    expect((await get(`/api/rollbacks?limit=${ROLLBACKS_PAGE_ITEMS + 1}`)).status).toBe(400);
    expect(await (await get("/rollbacks?firmware=3.1")).text()).toContain('data-from-firmware="3.1"');
    expect(await (await get("/rollbacks")).text()).toContain(`<a rel="next" href="/rollbacks?offset=${ROLLBACKS_PAGE_ITEMS}">`);
    const d = (await (await get("/api/devices/big-1")).json()) as { rollbacks: unknown[]; rollbackCount: number };
    expect([d.rollbacks.length, d.rollbackCount]).toEqual([DEVICE_ROLLBACKS, ROLLBACKS_PAGE_ITEMS + 3]);
    expect(await (await get("/devices/big-1")).text()).toContain(`href="/rollbacks?device=big-1">all ${ROLLBACKS_PAGE_ITEMS + 3} rollbacks`);
  });

  test("a page links the previous one; limit and offset are checked", async () => {
    const res = await get("/api/groups?offset=100&limit=50");
    expect(res.headers.get("link")).toBe('</api/groups?offset=150&limit=50>; rel="next", </api/groups?offset=50&limit=50>; rel="prev"');
    expect(((await res.json()) as unknown[]).length).toBe(50);
    for (const q of ["limit=0", `limit=${MAX_PAGE_ITEMS + 1}`, "offset=-1", "offset=x", "limit=1e3"]) expect((await get(`/api/groups?${q}`)).status).toBe(400);
    expect((await get("/?limit=0")).status).toBe(400);
  });

  test("the HTML list pages link the next and previous page", async () => {
    const first = await (await get("/")).text();
    expect(first.match(/<tr data-group=/g)).toHaveLength(MAX_PAGE_ITEMS);
    expect(first).toContain('<a rel="next" href="/?offset=100">');
    expect(first).not.toContain('rel="prev"');
    const last = await (await get("/?offset=200")).text();
    expect(last.match(/<tr data-group=/g)).toHaveLength(GROUPS + 1 - 200);
    expect(last).toContain('<a rel="prev" href="/?offset=100">');
    expect(last).not.toContain('rel="next"');
    expect(await (await get("/devices")).text()).toContain('<a rel="next" href="/devices?offset=100">');
  });

  test("a group's reports and a device's boots are paged", async () => {
    const res = await get(`/api/groups/${bigGroup}`);
    const g = (await res.json()) as { reports: unknown[]; reportPage: { more: boolean } };
    expect(g.reports).toHaveLength(GROUP_REPORTS);
    expect(g.reportPage.more).toBe(true);
    expect(res.headers.get("link")).toBe(`</api/groups/${bigGroup}?offset=${GROUP_REPORTS}>; rel="next"`);
    const rest = (await (await get(`/api/groups/${bigGroup}?offset=${GROUP_REPORTS}`)).json()) as { reports: unknown[]; reportPage: { more: boolean } };
    expect(rest.reports).toHaveLength(3);
    expect(rest.reportPage.more).toBe(false);
    expect(await (await get(`/groups/${bigGroup}`)).text()).toContain(`<a rel="next" href="/groups/${bigGroup}?offset=${GROUP_REPORTS}">`);

    const d = (await (await get("/api/devices/big-1")).json()) as { boots: Array<{ detail: string; crashes: unknown[] }>; bootPage: { more: boolean } };
    expect(d.boots).toHaveLength(DEVICE_BOOTS);
    expect(d.bootPage.more).toBe(true);
    const d2 = (await (await get(`/api/devices/big-1?offset=${DEVICE_BOOTS}`)).json()) as typeof d;
    expect(d2.boots.map((b) => b.detail)).toEqual(["boot 50", "boot 51", "boot 52", "boot 53", "boot 54"]);
    // every crash is placed in exactly one boot across the pages (or the current boot)
    const placed = [...d.boots, ...d2.boots].reduce((a, b) => a + b.crashes.length, 0) + (d as unknown as { otherCrashes: unknown[] }).otherCrashes.length;
    expect(placed).toBe(GROUP_REPORTS + 3);
  });
});

describe("bounded answers from rows stored before ingest bounded them", () => {
  test("an 18 MB report (41 000 frames), over MAX_REPORT_READ_CHARS, is not read: a stub, the upload as received at /api/messages/<id>; the group answer stays within its bound", async () => {
    const report = fixtureReport("fpe");
    const frame = report.threads[0]?.frames[0];
    if (!report.threads[0] || !frame) throw new Error("fixture has no frame");
    report.threads[0].frames = Array.from({ length: 41_000 }, (_, i) => ({ ...frame, index: i, symbol: `amplified_${i}_${"x".repeat(120)}` }));
    const text = JSON.stringify(report);
    expect(text.length).toBeGreaterThan(9_000_000);
    const [row]: Array<{ message_id: string }> = await store.sql`SELECT message_id FROM crashes WHERE group_id = ${bigGroup} ORDER BY time DESC LIMIT 1`;
    await store.sql`UPDATE crash_reports SET report = ${text}, symbolized = '' WHERE message_id = ${row?.message_id ?? ""}`;
    const res = await get(`/api/groups/${bigGroup}`);
    expect(res.status).toBe(200);
    const body = await res.text();
    expect(Buffer.byteLength(body)).toBeLessThanOrEqual(GROUP_ANSWER_MAX);
    const g = JSON.parse(body) as { reports: Array<{ id: string; truncated: boolean; storedChars?: number; report: unknown }> };
    const cut = g.reports.find((r) => r.id === row?.message_id);
    expect(cut).toMatchObject({ truncated: true, storedChars: text.length });
    expect(Buffer.byteLength(JSON.stringify(cut?.report))).toBeLessThanOrEqual(REPORT_ANSWER_BYTES);
    // the upload as received is there in full
    const raw = await get(`/api/messages/${encodeURIComponent(row?.message_id ?? "")}`);
    expect(raw.status).toBe(200);
    expect(((await raw.json()) as { id: string }).id).toBe(row?.message_id ?? "");
    const page = await get(`/groups/${bigGroup}`);
    expect(page.status).toBe(200);
    expect(Buffer.byteLength(await page.text())).toBeLessThanOrEqual(5 * GROUP_ANSWER_MAX);
  });

  test("a stored report under MAX_REPORT_READ_CHARS but over REPORT_ANSWER_BYTES is read and cut: its first frames shown", async () => {
    const report = fixtureReport("fpe");
    const frame = report.threads[0]?.frames[0];
    if (!report.threads[0] || !frame) throw new Error("fixture has no frame");
    report.threads[0].frames = Array.from({ length: 4000 }, (_, i) => ({ ...frame, index: i, symbol: `big_${i}_${"x".repeat(100)}` }));
    const text = JSON.stringify(report);
    expect(text.length).toBeGreaterThan(REPORT_ANSWER_BYTES);
    expect(text.length).toBeLessThan(MAX_REPORT_READ_CHARS);
    const [row]: Array<{ message_id: string }> = await store.sql`SELECT message_id FROM crashes WHERE group_id = ${bigGroup} ORDER BY time DESC LIMIT 1 OFFSET 2`;
    await store.sql`UPDATE crash_reports SET report = ${text}, symbolized = '' WHERE message_id = ${row?.message_id ?? ""}`;
    const g = (await (await get(`/api/groups/${bigGroup}`)).json()) as { reports: Array<{ id: string; truncated: boolean; storedChars?: number; report: { threads: Array<{ frames: Array<{ symbol: string }> }> } }> };
    const cut = g.reports.find((r) => r.id === row?.message_id);
    expect(cut?.truncated).toBe(true);
    expect(cut?.storedChars).toBeUndefined();
    expect(cut?.report.threads[0]?.frames[0]?.symbol).toBe(`big_0_${"x".repeat(100)}`);
    expect(Buffer.byteLength(JSON.stringify(cut))).toBeLessThanOrEqual(REPORT_ANSWER_BYTES);
  });

  test("a report with a key nested 100 000 deep answers 200, the depth cut", async () => {
    const report = fixtureReport("fpe") as unknown as Record<string, unknown>;
    const deep = `${'{"a":'.repeat(100_000)}1${"}".repeat(100_000)}`;
    const text = JSON.stringify(report).replace(/^\{/, `{"unknown":${deep},`);
    const [row]: Array<{ message_id: string }> = await store.sql`SELECT message_id FROM crashes WHERE group_id = ${bigGroup} ORDER BY time DESC LIMIT 1 OFFSET 1`;
    await store.sql`UPDATE crash_reports SET report = ${text}, symbolized = '' WHERE message_id = ${row?.message_id ?? ""}`;
    const res = await get(`/api/groups/${bigGroup}`);
    expect(res.status).toBe(200);
    expect(await res.text()).toContain(TOO_DEEP);
    expect((await get(`/groups/${bigGroup}`)).status).toBe(200);
  });

  test("a device's page of boots stays within its bound, log tails and panic logs cut from the front (their end is kept)", async () => {
    const lines = Array.from({ length: 2000 }, (_, i) => `line ${i} ${"y".repeat(100)}`);
    const panicLog = `${"p".repeat(200_000)}\nKernel panic - not syncing: the end`;
    await store.sql`UPDATE boots SET log_tail = ${JSON.stringify({ logTails: [{ path: "/var/log/messages", lines }], panicLog })} WHERE device_id = 'big-1'`;
    const body = await (await get("/api/devices/big-1")).text();
    expect(Buffer.byteLength(body)).toBeLessThanOrEqual(DEVICE_ANSWER_MAX);
    const d = JSON.parse(body) as { boots: Array<{ truncated: boolean; panicLog: string; logTails: Array<{ lines: string[] }> }> };
    expect(d.boots.every((b) => b.truncated)).toBe(true);
    expect(d.boots[0]?.panicLog).toEndWith("\nKernel panic - not syncing: the end");
    expect(d.boots[0]?.panicLog).toStartWith("…p");
    expect(d.boots[0]?.logTails[0]?.lines.at(-1)).toBe(lines.at(-1));
    expect(d.boots[0]?.logTails[0]?.lines.length).toBeLessThan(lines.length);
  });

  test("boundJson: never more than maxBytes, never deeper than maxDepth", () => {
    const values: unknown[] = [
      { a: "é".repeat(5000), b: [1, 2, 3], c: { d: "\u0001".repeat(300) } },
      Array.from({ length: 1000 }, (_, i) => ({ i, s: `😀${i}` })),
      JSON.parse(`${"[".repeat(5000)}${"]".repeat(5000)}`),
      "x".repeat(10_000),
    ];
    for (const v of values)
      for (const maxBytes of [0, 1, 7, 64, 1000, 4096]) {
        const b = boundJson(v, { maxBytes, maxDepth: 8, maxStringChars: 2000 });
        const out = JSON.stringify(b.value);
        expect(Buffer.byteLength(out)).toBeLessThanOrEqual(Math.max(maxBytes, 4));
        expect(out).not.toMatch(/\\ud[89ab][0-9a-f]{2}(?!\\ud[c-f])/); // no lone surrogate half
      }
  });
});

describe("times are instants", () => {
  test("a +14:00 time that reads later as text but is earlier sorts after the Z time", async () => {
    const base = Date.now() - 3 * 86400_000;
    const zTime = new Date(base).toISOString();
    // 3 h earlier than zTime, written in +14:00: its text is 11 h "later"
    const local = new Date(base - 3 * 3600_000 + 14 * 3600_000).toISOString().replace(/Z$/, "+14:00");
    expect(local > zTime).toBe(true);
    const early = fixtureReport("abort");
    early.exe = "/opt/tz-early";
    const late = fixtureReport("abort");
    late.exe = "/opt/tz-late";
    const earlyGroup = await must(retimed(crashMessage(device("tz-1", "3.0"), early, { time: daysAgo(3) }), local));
    const lateGroup = await must(retimed(crashMessage(device("tz-2", "3.0"), late, { time: daysAgo(3) }), zTime));
    const { items } = await walk<{ id: string; lastSeen: string }>("/api/groups");
    const order = items.map((g) => g.id).filter((id) => id === earlyGroup || id === lateGroup);
    expect(order).toEqual([lateGroup, earlyGroup]);
    expect(items.find((g) => g.id === earlyGroup)?.lastSeen).toBe(new Date(base - 3 * 3600_000).toISOString());
  });
});

/** A raw HTTP/1.1 request to the served collector: any Host, any body. */
function raw(o: { host?: string; method?: string; body?: string; headers?: Record<string, string> }): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({ host: "127.0.0.1", port: server.port, path: "/api/health", method: o.method ?? "GET", setHost: false, headers: { ...(o.host !== undefined ? { host: o.host } : {}), ...(o.headers ?? {}) } }, (res) => {
      res.resume();
      res.on("end", () => resolve(res.statusCode ?? 0));
    });
    req.on("error", reject);
    req.end(o.body);
  });
}

describe("HTTP", () => {
  test("a malformed token cookie is a 401, not a 500", async () => {
    for (const cookie of ["crashkeep_token=%E0%A4%A", "crashkeep_token=%", "crashkeep_token=%zz"]) {
      expect((await get("/api/groups", { cookie }, "s3cret-s3cret-s3cret")).status).toBe(401);
      expect((await get("/", { cookie }, "s3cret-s3cret-s3cret")).status).toBe(401);
    }
  });

  test("Host must be an IP address, localhost or a configured name: else 421 (DNS rebinding)", async () => {
    expect(await raw({ host: `127.0.0.1:${server.port}` })).toBe(200);
    expect(await raw({ host: `localhost:${server.port}` })).toBe(200);
    expect(await raw({ host: `[::1]:${server.port}` })).toBe(200);
    expect(await raw({ host: "COLLECT.example" })).toBe(200);
    expect(await raw({ host: `attacker.example:${server.port}` })).toBe(421);
    expect(await raw({ host: "127.0.0.1.attacker.example" })).toBe(421);
    expect(await raw({ host: "" })).toBe(421);
    expect([400, 421]).toContain(await raw({})); // HTTP/1.1 without Host: Bun answers 400 itself
  });

  test("a GET with a body over 1 KiB, or of unknown length, is refused; a small one is answered", async () => {
    const host = `127.0.0.1:${server.port}`;
    expect(await raw({ host, body: "x".repeat(2000), headers: { "content-length": "2000" } })).toBe(413);
    expect(await raw({ host, body: "x".repeat(2000), headers: { "transfer-encoding": "chunked" } })).toBe(413);
    expect(await raw({ host, body: "x".repeat(100), headers: { "content-length": "100" } })).toBe(200);
  });
});

describe("device text cannot steer the page", () => {
  test("controls are shown as \\uXXXX, non-ASCII text isolated in <bdi>, attributes left alone", () => {
    const name = `photo${RLO}gnp.exe`;
    expect(html`<td>${name}</td>`.text).toBe("<td><bdi>photo\\u202Egnp.exe</bdi></td>");
    expect(html`<a title="${name}">${"ok"}</a>`.text).toBe('<a title="photo\\u202Egnp.exe">ok</a>');
    expect(html`<title>${"שלום"}</title><p>${"שלום"}</p>`.text).toBe("<title>שלום</title><p><bdi>שלום</bdi></p>");
    expect(html`<pre>${"a\tb\nc\u0007\u001b[31m"}</pre>`.text).toBe("<pre>a\tb\nc\\u0007\\u001B[31m</pre>");
  });

  test("a rollback's slot, firmware, detail and signature with a right-to-left override and markup render escaped and isolated", async () => {
    const evil = `<img src=x onerror=alert(1)>${RLO}gnp.exe`;
    await must(rollbackMessage(device("rlo-rb", "4.0"), { time: daysAgo(1), from: `4.1${evil}`.slice(0, 128), badBoots: [{ slot: `B${RLO}`, bootId: null, reason: "crash-loop", detail: evil, executable: evil, signature: evil, endedAt: null }] }));
    for (const path of ["/devices/rlo-rb", "/rollbacks?device=rlo-rb", "/versions"]) {
      const body = await (await get(path)).text();
      expect(body).not.toContain(RLO);
      expect(body).not.toContain("<img");
      expect(body).toContain("&lt;img src=x onerror=alert(1)&gt;\\u202Egnp.exe");
    }
  });

  test("a boot's detail with a right-to-left override renders escaped and isolated", async () => {
    await must(bootMessage(device("rlo-1", "4.0"), { reason: "kernel-panic", bootId: "r1", time: daysAgo(1), detail: `invoice${RLO}fdp.exe`, logTail: [`ok ${RLO}olleh`] }));
    const body = await (await get("/devices/rlo-1")).text();
    expect(body).not.toContain(RLO);
    expect(body).toContain("<bdi>invoice\\u202Efdp.exe</bdi>");
  });
});

describe("worst case", () => {
  test("every stored device string at its worst (20 000 control characters, 6 bytes each as JSON): each answer within ANSWER_BOUNDS", async () => {
    const x = "\u0001".repeat(20_000);
    const sql = store.sql;
    await sql`UPDATE crashes SET firmware = ${x} || message_id, exe = ${x}, summary = ${x}`;
    await sql`UPDATE crash_groups SET signature = ${x}, exe = ${x}, frames = ${JSON.stringify(Array.from({ length: 10 }, () => x))}`;
    await sql`UPDATE devices SET firmware = ${x}, hardware = ${x}, kernel = ${x}, arch = ${x}, crashkeep_version = ${x}`;
    await sql`UPDATE boots SET firmware = ${x} || message_id, reason = ${x} || message_id, detail = ${x}, panic_message = ${x}, boot_id = ${x},
      log_tail = ${JSON.stringify({ logTails: Array.from({ length: 4 }, () => ({ path: x, lines: [x, x] })), panicLog: x })}`;
    await sql`INSERT INTO rejects (id, received_at, topic, reason, size_bytes, excerpt) SELECT message_id, ${x}, ${x}, ${x}, 1, '' FROM crashes LIMIT 50`;
    await sql`UPDATE rollbacks SET archive_id = ${x}, triggered_by = ${x}, from_slot = ${x}, from_firmware = ${x} || message_id, to_slot = ${x}, to_firmware = ${x}`;
    await sql`UPDATE rollback_boots SET slot = ${x}, boot_id = ${x}, reason = ${x}, detail = ${x}, executable = ${x}, signature = ${x}, group_id = ${x}`;
    const sizes: Record<string, number> = {};
    for (const [path, bound] of [
      ["/api/groups", ANSWER_BOUNDS.list],
      ["/api/devices", ANSWER_BOUNDS.list],
      ["/api/versions", ANSWER_BOUNDS.list],
      [`/api/groups/${bigGroup}`, ANSWER_BOUNDS.group],
      ["/api/devices/big-1", ANSWER_BOUNDS.device],
      ["/api/health", ANSWER_BOUNDS.health],
      ["/api/rollbacks", ANSWER_BOUNDS.rollbacks],
    ] as const) {
      const res = await get(path);
      expect(res.status).toBe(200);
      sizes[path] = Buffer.byteLength(await res.text());
      expect(sizes[path]).toBeLessThanOrEqual(bound);
    }
    for (const path of ["/", "/devices", "/versions", `/groups/${bigGroup}`, "/devices/big-1", "/rollbacks"]) {
      const res = await get(path);
      expect(res.status).toBe(200);
      sizes[path] = Buffer.byteLength(await res.text());
    }
    console.log(`worst-case answer sizes (bytes): ${JSON.stringify(sizes)}`);
  }, 300_000);
});

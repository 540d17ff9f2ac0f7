// Upload against a real mosquitto (issue 12): what is queued while the broker
// is down arrives once it is up; a flush killed with SIGKILL or interrupted by
// a broker restart loses nothing; quotas hold under a long outage. The
// compiled binary does the uploading; the test is the subscriber.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { enqueue, listOutbox, readOutboxEntry } from "../../src/upload/outbox.ts";
import { notePayload, type DeviceInfo } from "../../src/upload/payload.ts";
import { makeFakeTree } from "../unit/boot/fake-tree.ts";
import { device, mosquitto, proxy, Subscriber, TOP, waitFor, type Device, type Mosquitto } from "./brokers.ts";

const PANIC = readFileSync(join(TOP, "test/fixtures/pstore/sysrq/dmesg-ramoops-0"));
let nestedCore: Uint8Array;
const cleanups: Array<() => unknown> = [];
beforeAll(() => {
  nestedCore = Bun.spawnSync(["xz", "-dc", join(TOP, "test/fixtures/cores/x86_64/nested.core.xz")]).stdout;
});
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
});

async function broker(options: Parameters<typeof mosquitto>[0] = {}): Promise<Mosquitto> {
  const m = await mosquitto(options);
  cleanups.push(() => m.kill9());
  return m;
}

async function subscriber(port: number): Promise<Subscriber> {
  const s = new Subscriber(port);
  cleanups.push(() => s.close());
  await s.connect();
  return s;
}

/** The ids of the messages still in the outbox. */
function queuedIds(d: Device): string[] {
  return listOutbox(d.outbox).map((e) => (JSON.parse(new TextDecoder().decode(readOutboxEntry(d.outbox, e))) as { id: string }).id);
}

/** Queue n notes of ~1 KiB straight into the outbox (the flush is under test, not the enqueue). */
function prefill(d: Device, n: number): string[] {
  const dev: DeviceInfo = { id: "test-device-1", firmware: "1.0", hardware: null, kernel: null, arch: "x86_64", crashkeepVersion: "test" };
  const ids: string[] = [];
  for (let i = 0; i < n; i++) {
    const p = notePayload({ text: `note ${i} ${"x".repeat(1000)}`, time: new Date(), localId: `bulk-${i}` }, { device: dev, maxMessageBytes: 8192 });
    enqueue(d.outbox, p, { maxEntries: 1000, maxBytes: 1 << 24, maxAgeDays: 7, minFreeBytes: 0 });
    ids.push(p.id);
  }
  return ids;
}

describe("mosquitto", () => {
  test("boots, crash reports and a note queued while the broker is down all arrive once it is up; outbox empty", async () => {
    const m = await broker();
    const tree = makeFakeTree();
    const d = device({ broker: `mqtt://127.0.0.1:${m.port}` }, {}, tree.root);
    // Three previous boots archived by init (each with a panic record), three crashes through the pipe handler, one note.
    // Each init is a new boot (its own boot id) after a panic: an init re-run in one boot
    // finds the same evidence already archived and queues nothing new.
    for (let i = 0; i < 3; i++) {
      tree.write("proc/sys/kernel/random/boot_id", `2222222${i}-2222-4222-8222-222222222222\n`);
      tree.write("sys/fs/pstore/dmesg-ramoops-0", PANIC);
      const r = d.run(["init"]);
      expect(r.err).not.toContain("Cannot queue");
    }
    for (let i = 0; i < 3; i++) {
      const r = d.run(["core", String(4000 + i), String(4000 + i), "11", "1764100000", "!opt!crashkeep-fixtures!x86_64!nested"], { stdin: nestedCore });
      expect(r.code).toBe(0);
    }
    expect(d.run(["note", "--reason", "firmware update", "going to 2.0"]).code).toBe(0);
    expect(listOutbox(d.outbox).map((e) => e.kind).sort()).toEqual(["boot", "boot", "boot", "crash", "crash", "crash", "note"]);

    const down = d.run(["upload", "--once"]);
    expect(down.code).toBe(1);
    expect(down.out).toMatch(/^sent 0, 7 left: Cannot connect to "mqtt:\/\/127\.0\.0\.1:\d+": connect ECONNREFUSED/);
    const status = d.run(["status"]).out;
    expect(status).toContain("7 pending");
    expect(status).toMatch(/upload: +last error .*ECONNREFUSED/);

    await m.start();
    const sub = await subscriber(m.port);
    // MQTT.js would route through a SOCKS proxy named here; crashkeep bundles no SOCKS client and says so.
    d.env.MQTTJS_SOCKS_PROXY = `socks5://127.0.0.1:${m.port}`;
    const socks = await d.runAsync(["upload", "--once"]);
    delete d.env.MQTTJS_SOCKS_PROXY;
    expect(socks.out).toMatch(/^sent 0, 7 left: Cannot connect to "mqtt:\/\/127\.0\.0\.1:\d+": SOCKS proxies are not supported by crashkeep's MQTT client \(MQTTJS_SOCKS_PROXY is set\)\n$/);
    expect(socks.code).toBe(1);
    const up = await d.runAsync(["upload", "--once", "--json"]);
    expect(JSON.parse(up.out)).toEqual({ sent: 7, remaining: 0, error: null, refused: false, broker: `mqtt://127.0.0.1:${m.port}` });
    expect(up.code).toBe(0);
    await sub.waitForIds(7);
    expect(sub.invalid).toEqual([]);
    expect(listOutbox(d.outbox)).toEqual([]);
    const kinds = [...sub.byId.values()].map((r) => r.payload.kind).sort();
    expect(kinds).toEqual(["boot", "boot", "boot", "crash", "crash", "crash", "note"]);
    for (const r of sub.byId.values()) expect(r.topic).toBe(`crashkeep/v1/test-device-1/${r.payload.kind}`);
    const boot = [...sub.byId.values()].find((r) => r.payload.kind === "boot")?.payload as unknown as { boot: { reason: string; panicLog: string } };
    expect(boot.boot.reason).toBe("kernel-panic");
    expect(boot.boot.panicLog).toContain("sysrq");
    const crash = [...sub.byId.values()].find((r) => r.payload.kind === "crash")?.payload as unknown as { crash: { form: string; signal: string } };
    expect(crash.crash).toMatchObject({ form: "full", signal: "SIGSEGV SEGV_MAPERR at 0x10" });
    const note = [...sub.byId.values()].find((r) => r.payload.kind === "note")?.payload as unknown as { note: { text: string; reason: string } };
    expect(note.note).toMatchObject({ text: "going to 2.0", reason: "firmware update" });
    expect(d.run(["status"]).out).toMatch(/0 pending.*last success \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d/);
  }, 120_000);

  test("the uploader killed with SIGKILL mid-flush of 200 entries: run again, every entry arrives, outbox empty", async () => {
    const m = await broker();
    await m.start();
    const px = await proxy(m.port, { delayMs: 20 });
    cleanups.push(() => px.close());
    const sub = await subscriber(m.port);
    const d = device({ broker: `mqtt://127.0.0.1:${px.port}`, inFlight: 4 });
    const ids = prefill(d, 200);
    const uploader = d.spawn(["upload"]);
    cleanups.push(() => uploader.kill("SIGKILL"));
    await sub.waitForIds(40);
    // Hold the broker's PUBACKs: what the uploader publishes now reaches the broker but is never acknowledged.
    px.hold();
    await waitFor("a message the broker has but has not acknowledged", () => queuedIds(d).some((id) => sub.byId.has(id)));
    uploader.kill("SIGKILL");
    expect(await uploader.exited).not.toBe(0);
    const left = listOutbox(d.outbox).length;
    expect(left).toBeGreaterThan(0);
    expect(left).toBeLessThan(200);
    // Entries the broker has but never acknowledged are still queued: they are sent again.
    // (more ids reached the subscriber than entries left the outbox)
    expect(200 - left).toBeLessThan(ids.filter((id) => sub.byId.has(id)).length);
    px.release();
    const again = await d.runAsync(["upload", "--once"]);
    expect(again.out).toMatch(/^sent \d+, 0 left/);
    expect(again.code).toBe(0);
    await sub.waitForIds(200);
    expect(ids.every((id) => sub.byId.has(id))).toBe(true);
    expect(sub.all.length).toBeGreaterThan(200); // the unacknowledged ones came twice; de-duplicated by id
    expect(sub.invalid).toEqual([]);
    expect(listOutbox(d.outbox)).toEqual([]);
  }, 120_000);

  test("the broker stopped and restarted (persistence on) mid-flush: the uploader retries and every entry arrives", async () => {
    const m = await broker({ persistence: true });
    await m.start();
    const px = await proxy(m.port, { delayMs: 20 });
    cleanups.push(() => px.close());
    const sub = await subscriber(m.port);
    const d = device({ broker: `mqtt://127.0.0.1:${px.port}`, inFlight: 1 });
    const ids = prefill(d, 200);
    const uploader = d.spawn(["upload"]);
    cleanups.push(() => uploader.kill("SIGKILL"));
    await sub.waitForIds(40);
    px.hold();
    expect(listOutbox(d.outbox).length).toBeGreaterThan(0);
    await m.stop();
    px.release();
    await m.start();
    expect(await uploader.exited).toBe(0);
    await sub.waitForIds(200);
    expect(ids.every((id) => sub.byId.has(id))).toBe(true);
    expect(sub.invalid).toEqual([]);
    expect(listOutbox(d.outbox)).toEqual([]);
    expect(await new Response(uploader.stderr).text()).toMatch(/Lost|Cannot connect/);
  }, 120_000);

  test("a long outage: the outbox keeps its quota, boots last, and one note says what was dropped", async () => {
    const m = await broker();
    const tree = makeFakeTree();
    const d = device({ broker: `mqtt://127.0.0.1:${m.port}`, outbox: { maxEntries: 4 } }, {}, tree.root);
    tree.write("sys/fs/pstore/dmesg-ramoops-0", PANIC);
    d.run(["init"]);
    for (let i = 0; i < 7; i++) expect(d.run(["note", `note ${i}`]).code).toBe(0);
    expect(listOutbox(d.outbox).map((e) => e.kind)).toEqual(["boot", "note", "note", "note"]);
    expect(d.run(["status"]).out).toContain("dropped by quotas, not yet reported: 0 boot, 0 crash, 4 note");
    await m.start();
    const sub = await subscriber(m.port);
    expect((await d.runAsync(["upload", "--once"])).code).toBe(0);
    await sub.waitForIds(5);
    const notes = [...sub.byId.values()].filter((r) => r.payload.kind === "note").map((r) => r.payload as unknown as { note: { text: string; dropped?: unknown } });
    expect(notes.map((n) => n.note.text).filter((t) => t.startsWith("note ")).sort()).toEqual(["note 4", "note 5", "note 6"]);
    expect(notes.find((n) => n.note.dropped)?.note.dropped).toMatchObject({ boot: 0, crash: 0, note: 4 });
    expect([...sub.byId.values()].some((r) => r.payload.kind === "boot")).toBe(true);
    expect(d.run(["status"]).out).not.toContain("dropped by quotas");
    expect(sub.invalid).toEqual([]);
  }, 120_000);

  test("status with an outbox it cannot list says so (not \"0 pending\")", () => {
    const d = device({ broker: "mqtt://127.0.0.1:1" });
    mkdirSync(dirname(d.outbox), { recursive: true });
    writeFileSync(d.outbox, "not a directory");
    const out = d.run(["status"]).out;
    expect(out).toMatch(/^upload: +mqtt:\/\/127\.0\.0\.1:1: Cannot list the outbox ".*\/outbox": ENOTDIR.*, last success never$/m);
    expect(out).not.toContain("pending");
  });
});

describe("the daemon (crashkeep watch)", () => {
  test("retries with backoff while the broker is down, sends once it is up, sends new entries without a nudge, exits 0 on SIGTERM", async () => {
    const m = await broker();
    const d = device({ broker: `mqtt://127.0.0.1:${m.port}`, delaySeconds: 1, minBackoffSeconds: 1, maxBackoffSeconds: 2 }, { logs: { files: [], intervalSeconds: 1 } });
    const daemon = d.spawn(["watch"]);
    cleanups.push(() => daemon.kill("SIGKILL"));
    let log = "";
    void (async () => {
      for await (const chunk of daemon.stderr) log += new TextDecoder().decode(chunk);
    })();
    expect(d.run(["note", "while the broker is down"]).code).toBe(0);
    await waitFor("the daemon to fail and back off", () => /upload: 1 message\(s\) left \(Cannot connect .*ECONNREFUSED.*\); next try in \d+ s/.test(log), 30_000, () => log);
    await m.start();
    const sub = await subscriber(m.port);
    await sub.waitForIds(1);
    await waitFor("the daemon's success line", () => /upload: sent 1 message\(s\) to mqtt:\/\/127\.0\.0\.1:\d+, 0 left/.test(log), 30_000, () => log);
    expect(listOutbox(d.outbox)).toEqual([]);

    // A new entry is noticed by the next daemon pass and sent with no further nudge. When (delaySeconds plus
    // jitter) is checked without a clock in test/unit/upload/sender.test.ts (no timed bound here: the machine may be loaded).
    expect(d.run(["note", "with the broker up"]).code).toBe(0);
    await sub.waitForIds(2);
    await waitFor("the daemon's second success line", () => (log.match(/upload: sent 1 message\(s\) to mqtt:\/\/127\.0\.0\.1:\d+, 0 left/g) ?? []).length === 2, 30_000, () => log);
    expect([...sub.byId.values()].map((r) => (r.payload as unknown as { note: { text: string } }).note.text).sort()).toEqual(["while the broker is down", "with the broker up"]);

    daemon.kill("SIGTERM");
    expect(await daemon.exited).toBe(0);
  }, 120_000);
});

// The compiled collector against a real mosquitto: simulated devices (the
// compiled uploader, one fake device root per identity) send boots, crashes
// and notes (built by the device's own payload builders); the
// collector's tables and API match what was sent; killed with SIGKILL and
// restarted mid-stream, it loses nothing (persistent session, PUBACK after
// commit) and counts nothing twice (de-duplication by id). Where the kill lands
// is left to chance here; the PUBACK-after-commit order itself is checked on cue
// in test/unit/collect/subscriber.test.ts and collect-redelivery.test.ts.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import mqtt, { type MqttClient } from "mqtt";
import { api, startCollector, startMosquitto, uploadAsDevices, waitFor, type Running } from "./servers.ts";
import { bootMessage, crashMessage, daysAgo, device, fixtureReport, noteMessage, type Message } from "../unit/collect/fleet.ts";

let broker: Running;
let dir: string;
let publisher: MqttClient;

interface Health {
  messages: number;
  stored: number;
  duplicates: number;
  rejected: number;
  rejects: Array<{ reason: string }>;
  collector: { stored: number; duplicates: number; rejected: number };
}

beforeAll(async () => {
  broker = await startMosquitto();
  dir = mkdtempSync(join(tmpdir(), "ck-collect-it-"));
  publisher = await mqtt.connectAsync(broker.url, { clientId: "ck-test-fleet", clean: true, protocolVersion: 4 });
});
afterAll(async () => {
  await publisher?.endAsync();
  await broker?.stop();
  rmSync(dir, { recursive: true, force: true });
});

async function publish(messages: readonly Message[]): Promise<void> {
  for (const m of messages) await publisher.publishAsync(m.topic, Buffer.from(m.bytes), { qos: 1 });
}

const CRASHES = ["nested", "fpe", "abort", "threads"] as const;

/**
 * Each test starts 5 to 10 compiled `crashkeep upload` processes at once (one per simulated
 * device) and a compiled collector, and waits for what they store: seconds on an idle machine,
 * a minute or more on a loaded 2-core one, beyond bun test's 5 s default.
 */
const FLEET_TEST_TIMEOUT_MS = 180_000;

/** A fleet: each device has boots ending in a known mix of reasons and crashes in those boots. */
function fleet(devices: number, firmware: (i: number) => string, tag: string): Message[] {
  const out: Message[] = [];
  const reasons = ["clean", "kernel-panic", "firmware-update", "unexpected-reset"];
  for (let i = 0; i < devices; i++) {
    const dev = device(`${tag}-${i}`, firmware(i));
    for (let b = 0; b < 4; b++) {
      const ended = daysAgo(3 - b);
      const reason = reasons[(i + b) % reasons.length] as string;
      out.push(crashMessage(dev, fixtureReport(CRASHES[(i + b) % CRASHES.length] as string), { time: daysAgo(3 - b, 30) }));
      out.push(bootMessage(dev, { reason, bootId: `${tag}-${i}-boot-${b}`, time: ended, logTail: [`boot ${b} of ${dev.id}`] }));
    }
    out.push(noteMessage(dev, { text: `hello from ${dev.id}`, time: daysAgo(0, 1) }));
  }
  return out;
}

test("published boots, crashes and notes are stored once each, invalid ones rejected; the API matches what was sent", async () => {
  const collector = await startCollector(["--broker", broker.url, "--db", `sqlite://${dir}/a.db`, "--client-id", "ck-it-a"]);
  try {
    const sent = fleet(5, (i) => (i < 3 ? "1.0.0" : "2.0.0"), "dev");
    expect(await uploadAsDevices(broker.url, sent)).toBe(sent.length);
    await publish(sent.filter((m) => m.payload.kind === "boot")); // sent again: same ids
    const bad = [
      { topic: "crashkeep/v1/dev-0/boot", bytes: new TextEncoder().encode("{not json") },
      { topic: "crashkeep/v1/dev-0/boot", bytes: new TextEncoder().encode(JSON.stringify({ schema: "crashkeep.upload/2", id: "x" })) },
      { topic: "crashkeep/v1/dev-9/crash", bytes: (sent[0] as Message).bytes }, // topic names another device
    ];
    for (const b of bad) await publisher.publishAsync(b.topic, Buffer.from(b.bytes), { qos: 1 });
    const h = await waitFor("every message handled", async () => {
      const x = await api<Health>(collector.base, "/api/health");
      return x.messages + x.duplicates + x.rejected >= sent.length + 20 + bad.length ? x : undefined;
    });
    expect(h.messages).toBe(sent.length);
    expect(h.duplicates).toBe(20);
    expect(h.rejected).toBe(3);
    expect(h.rejects.map((r) => r.reason).join("\n")).toMatch(/unknown schema[\s\S]*not JSON|not JSON[\s\S]*unknown schema/);

    // versions: from the sent boots
    const boots = sent.filter((m) => m.payload.kind === "boot").map((m) => m.payload as Extract<Message["payload"], { kind: "boot" }>);
    const versions = await api<Array<{ firmware: string; boots: number; reasons: Record<string, number>; crashFreeBootsPercent: number }>>(collector.base, "/api/versions");
    for (const fw of ["1.0.0", "2.0.0"]) {
      const mine = boots.filter((b) => b.device.firmware === fw);
      const reasons: Record<string, number> = {};
      for (const b of mine) reasons[b.boot.reason] = (reasons[b.boot.reason] ?? 0) + 1;
      const clean = mine.filter((b) => b.boot.reason === "clean" || b.boot.reason === "firmware-update").length;
      expect(versions.find((v) => v.firmware === fw)).toMatchObject({ boots: mine.length, reasons, crashFreeBootsPercent: Math.round((clean / mine.length) * 1000) / 10 });
    }

    // groups: one per fixture program, counted per crash sent
    const groups = await api<Array<{ id: string; exe: string; count: number; devices: number; firmware: string[] }>>(collector.base, "/api/groups");
    const crashes = sent.filter((m) => m.payload.kind === "crash").map((m) => m.payload as Extract<Message["payload"], { kind: "crash" }>);
    expect(groups.map((g) => g.exe).sort()).toEqual([...CRASHES].sort());
    for (const g of groups) {
      const mine = crashes.filter((c) => c.crash.exe?.endsWith(`/${g.exe}`));
      expect(g.count).toBe(mine.length);
      expect(g.devices).toBe(new Set(mine.map((c) => c.device.id)).size);
      expect(g.firmware).toEqual([...new Set(mine.map((c) => c.device.firmware ?? ""))].sort());
    }

    // one device's timeline: its 4 boots, each with the crash sent in it
    const d = await api<{ boots: Array<{ reason: string; crashes: Array<{ exe: string }> }> }>(collector.base, "/api/devices/dev-1");
    const sentDev1 = boots.filter((b) => b.device.id === "dev-1").sort((x, y) => y.time.localeCompare(x.time));
    expect(d.boots.map((b) => b.reason)).toEqual(sentDev1.map((b) => b.boot.reason));
    expect(d.boots.map((b) => b.crashes.length)).toEqual([1, 1, 1, 1]);
  } finally {
    expect(await collector.stop()).toBe(0);
  }
}, FLEET_TEST_TIMEOUT_MS);

test("killed (SIGKILL) mid-stream and restarted: nothing lost, nothing counted twice", async () => {
  const args = ["--broker", broker.url, "--db", `sqlite://${dir}/b.db`, "--client-id", "ck-it-b"];
  let collector = await startCollector(args);
  const sent = fleet(10, (i) => `3.${i % 3}.0`, "kill");
  // more messages per device: each device sends its fleet slice twice over with fresh ids
  const more = fleet(10, (i) => `3.${i % 3}.0`, "kill");
  const all = [...sent, ...more];
  // The first half is sent while the collector runs: it is killed once it has stored some (how many
  // were still in flight depends on the machine's speed); the second half is sent while it is down.
  const publishing = uploadAsDevices(broker.url, sent);
  await waitFor("the collector to store some messages", async () => ((await api<Health>(collector.base, "/api/health")).messages >= 20 ? true : undefined));
  expect(await collector.stop("SIGKILL")).not.toBe(0);
  expect(await publishing).toBe(sent.length);
  expect(await uploadAsDevices(broker.url, more)).toBe(more.length);
  collector = await startCollector(args);
  try {
    const h = await waitFor("every message stored after the restart", async () => {
      const x = await api<Health>(collector.base, "/api/health");
      return x.messages >= all.length ? x : undefined;
    }, 60_000);
    expect(collector.output()).toContain("session resumed");
    expect(h.messages).toBe(all.length);
    const versions = await api<Array<{ boots: number }>>(collector.base, "/api/versions");
    expect(versions.reduce((a, v) => a + v.boots, 0)).toBe(all.filter((m) => m.payload.kind === "boot").length);
    const groups = await api<Array<{ count: number }>>(collector.base, "/api/groups");
    expect(groups.reduce((a, g) => a + g.count, 0)).toBe(all.filter((m) => m.payload.kind === "crash").length);
  } finally {
    expect(await collector.stop()).toBe(0);
  }
}, FLEET_TEST_TIMEOUT_MS);

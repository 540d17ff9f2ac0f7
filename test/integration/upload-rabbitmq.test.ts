// Upload to a 2-node RabbitMQ cluster with rabbitmq_mqtt (issue 12): the
// device lists both nodes; the node it is connected to is stopped mid-flush;
// it reconnects to the other node and every entry arrives. RabbitMQ 3.10
// speaks MQTT 3.1.1 only, which is what the device uses. A node that dies
// leaves its Erlang crash dump in its temp dir, not in the working directory
// (an erl_crash.dump was once committed at the checkout's root).
import { afterAll, expect, test } from "bun:test";
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { enqueue, listOutbox } from "../../src/upload/outbox.ts";
import { notePayload, type DeviceInfo } from "../../src/upload/payload.ts";
import { device, proxy, rabbitCluster, RABBIT_START_TIMEOUT_MS, Subscriber, tmp, waitFor, type RabbitNode } from "./brokers.ts";

let nodes: RabbitNode[] = [];
const cleanups: Array<() => unknown> = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
  for (const n of nodes) n.kill9();
});

test("the node the device is connected to stops mid-flush: it goes on with the other node, every entry arrives", async () => {
  nodes = await rabbitCluster(2);
  const [first, second] = nodes as [RabbitNode, RabbitNode];
  // The subscriber is on the node that stays; a message published on the other one reaching it proves the cluster routes.
  const sub = new Subscriber(second.mqttPort, "collector-rabbit");
  cleanups.push(() => sub.close());
  await sub.connect();
  const probe = new Subscriber(first.mqttPort, "probe");
  const dev: DeviceInfo = { id: "test-device-1", firmware: null, hardware: null, kernel: null, arch: "x86_64", crashkeepVersion: "test" };
  const probeMsg = notePayload({ text: "probe", time: new Date(), localId: "probe" }, { device: dev, maxMessageBytes: 8192 });
  await probe.connect("crashkeep/probe-only");
  await waitFor("the cluster to route a message from node 1 to node 2", async () => {
    await probe.publish(`crashkeep/v1/test-device-1/note`, JSON.stringify(probeMsg));
    await Bun.sleep(200);
    return sub.byId.has(probeMsg.id);
  }, 60_000);
  await probe.close();

  const px = await proxy(first.mqttPort, { delayMs: 20 });
  cleanups.push(() => px.close());
  const d = device({ broker: [`mqtt://127.0.0.1:${px.port}`, `mqtt://127.0.0.1:${second.mqttPort}`], inFlight: 1, ackTimeoutSeconds: 15 });
  const ids = Array.from({ length: 200 }, (_, i) => {
    const p = notePayload({ text: `rabbit ${i}`, time: new Date(), localId: `rabbit-${i}` }, { device: dev, maxMessageBytes: 8192 });
    enqueue(d.outbox, p, { maxEntries: 1000, maxBytes: 1 << 24, maxAgeDays: 7, minFreeBytes: 0 });
    return p.id;
  });
  const uploader = d.spawn(["upload"]);
  cleanups.push(() => uploader.kill("SIGKILL"));
  let stderr = "";
  const reading = (async () => {
    for await (const chunk of uploader.stderr) stderr += new TextDecoder().decode(chunk);
  })();
  await sub.waitForIds(41);
  px.hold(); // PUBACKs from node 1 held: the flush is mid-way when node 1 goes
  expect(listOutbox(d.outbox).length).toBeGreaterThan(0);
  await first.stop();
  px.release();
  await waitFor("the uploader to finish", () => uploader.exitCode !== null, 120_000, () => `${sub.byId.size} ids received; uploader said: ${stderr}`);
  await reading;
  expect(uploader.exitCode).toBe(0);
  // A stopping RabbitMQ node may keep the TCP connection open while it shuts down: the device gives up on
  // it when the connection closes or when the PUBACK is ackTimeoutSeconds late, whichever comes first.
  expect(stderr).toMatch(new RegExp(`(Lost "mqtt://127\\.0\\.0\\.1:${px.port}"|No PUBACK from "mqtt://127\\.0\\.0\\.1:${px.port}")`));
  expect(stderr).toMatch(new RegExp(`connected to mqtt://127\\.0\\.0\\.1:${second.mqttPort}`));
  await sub.waitForIds(201, 60_000);
  expect(ids.every((id) => sub.byId.has(id))).toBe(true);
  expect(sub.invalid).toEqual([]);
  expect(listOutbox(d.outbox)).toEqual([]);
}, RABBIT_START_TIMEOUT_MS + 120_000);

test("a node that dies at start leaves its Erlang crash dump in its own temp dir", async () => {
  // a cookie others can read: the Erlang VM refuses it and halts with a crash dump (the one once committed)
  const base = tmp("rabbit");
  writeFileSync(join(base, ".erlang.cookie"), "CKREADABLE", { mode: 0o644 });
  await expect(rabbitCluster(1, { base })).rejects.toThrow(/exited/);
  const dump = readFileSync(join(base, "n1", "erl_crash.dump"), "utf8");
  expect(dump).toStartWith("=erl_crash_dump:");
  expect(dump).toContain("must be accessible by owner only");
  rmSync(base, { recursive: true, force: true });
}, RABBIT_START_TIMEOUT_MS);

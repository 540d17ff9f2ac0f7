// The collector's subscriber against a real mosquitto, with a store double:
// a message whose store never commits is never acknowledged, so the broker
// delivers it again to the next session of the same client id. No kill
// timing: the first session ends when the store double says so (onFatal, or
// a close while its transaction is paused), not at a moment guessed from outside.
import { afterAll, beforeAll, expect, test } from "bun:test";
import mqtt, { type MqttClient } from "mqtt";
import { subscribe, type Subscription } from "../../src/collect/subscriber.ts";
import { startMosquitto, waitFor, type Running } from "./servers.ts";

/** subscriber.ts gives up after 5 tries with a doubling wait from 200 ms (~3 s), then a new session starts. */
const FATAL_TEST_TIMEOUT_MS = 30_000;
const PREFIX = "crashkeep/v1";

let broker: Running;
let publisher: MqttClient;

beforeAll(async () => {
  broker = await startMosquitto();
  publisher = await mqtt.connectAsync(broker.url, { clientId: "ck-redelivery-publisher", clean: true, protocolVersion: 4 });
});
afterAll(async () => {
  await publisher?.endAsync();
  await broker?.stop();
});

interface Session {
  sub: Subscription;
  stored: string[];
  fatal: Error[];
}

/** A subscriber session whose store runs `store` for each message. */
async function session(clientId: string, store: (body: string) => Promise<void>): Promise<Session> {
  const stored: string[] = [];
  const fatal: Error[] = [];
  const sub = await subscribe({
    brokers: [broker.url],
    clientId,
    group: undefined,
    topicPrefix: PREFIX,
    onMessage: async (_topic, payload) => {
      const body = new TextDecoder().decode(payload);
      await store(body);
      stored.push(body);
    },
    log: () => {},
    onFatal: (err) => fatal.push(err),
  });
  return { sub, stored, fatal };
}

test(
  "a store that fails for good: onFatal, no PUBACK, and the next session of the client id gets the message again, once",
  async () => {
    const first = await session("ck-redeliver-fatal", () => Promise.reject(new Error("database is locked")));
    await publisher.publishAsync(`${PREFIX}/dev1/note`, "m1", { qos: 1 });
    await waitFor("onFatal", () => (first.fatal.length > 0 ? true : undefined));
    await first.sub.close();
    const second = await session("ck-redeliver-fatal", async () => {});
    await waitFor("the redelivery", () => (second.stored.includes("m1") ? true : undefined));
    // a marker published after it arrives after it: had m1 come twice, it would be seen by now (one session, in order)
    await publisher.publishAsync(`${PREFIX}/dev1/note`, "marker", { qos: 1 });
    await waitFor("the marker", () => (second.stored.includes("marker") ? true : undefined));
    expect(second.stored).toEqual(["m1", "marker"]);
    await second.sub.close();
  },
  FATAL_TEST_TIMEOUT_MS,
);

test("a session closed while its store's transaction is paused: the message was not acknowledged and comes again", async () => {
  let entered: () => void = () => {};
  const inStore = new Promise<void>((r) => {
    entered = r;
  });
  const first = await session("ck-redeliver-paused", () => {
    entered();
    return new Promise<void>(() => {}); // never commits
  });
  await publisher.publishAsync(`${PREFIX}/dev2/crash`, "m2", { qos: 1 });
  await inStore;
  // A PUBACK written before the commit would be on the wire before this close (one TCP stream, in order).
  await new Promise<void>((r) => setImmediate(r));
  await first.sub.close();
  const second = await session("ck-redeliver-paused", async () => {});
  await waitFor("the redelivery", () => (second.stored.includes("m2") ? true : undefined));
  expect(first.stored).toEqual([]);
  await second.sub.close();
});

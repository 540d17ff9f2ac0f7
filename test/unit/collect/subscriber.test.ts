// The collector's "acknowledge only after the commit", with a broker double:
// MQTT.js (the real client) talks to an in-memory MQTT 3.1.1 broker made of
// mqtt-packet's parser and generator (SubscribeOptions.connect), and a store
// double that fails or pauses on cue. Every PUBACK the client writes is logged
// beside the store's own events, so the order is read, not timed.
import { describe, expect, setDefaultTimeout, test } from "bun:test";
import { Duplex } from "node:stream";
import mqtt, { type IClientOptions } from "mqtt";
import mqttPacket, { type Packet } from "mqtt-packet";
import { subscribe, type SubscribeOptions, type Subscription } from "../../../src/collect/subscriber.ts";

/** Each test here is over in milliseconds (or its own timeout says why not); a broken order that leaves a publish held forever fails in seconds, whatever --timeout the runner gives (build/mutants/run.ts gives 120 s). */
setDefaultTimeout(10_000);

/** subscriber.ts's STORE_ATTEMPTS × its doubling wait from 200 ms: ~3 s until onFatal. */
const FATAL_TEST_TIMEOUT_MS = 20_000;

class BrokerDouble {
  /** One line per event, in the order it happened: the broker's and the store double's. */
  readonly events: string[];
  readonly subscribed: string[] = [];
  /** "<client id> clean=<flag> v<protocol level>" of each CONNECT. */
  readonly connects: string[] = [];
  /** CONNACK return code (0 accepts; 5: not authorized) and the QoS granted (128: refused). */
  connackCode = 0;
  grantedQos: number | undefined;
  private socket: Duplex | undefined;
  private waiters: Array<() => void> = [];

  constructor(events: string[]) {
    this.events = events;
  }

  /** SubscribeOptions.connect: a real MqttClient whose stream is this broker. */
  connect = (options: IClientOptions) => new mqtt.MqttClient(() => this.stream(), { ...options, reconnectPeriod: 0 });

  private stream(): Duplex {
    const parser = mqttPacket.parser({ protocolVersion: 4 });
    const socket: Duplex = new Duplex({
      read() {},
      // the client ended its side: end ours too, so its close completes
      final(cb) {
        this.push(null);
        cb();
      },
      write: (chunk: Buffer, _enc, cb) => {
        parser.parse(chunk);
        cb();
      },
    });
    this.socket = socket;
    parser.on("packet", (p: Packet) => {
      if (p.cmd === "connect") {
        this.connects.push(`${p.clientId} clean=${p.clean} v${p.protocolVersion}`);
        this.send({ cmd: "connack", returnCode: this.connackCode, sessionPresent: false });
      } else if (p.cmd === "subscribe") {
        this.subscribed.push(...p.subscriptions.map((s) => `${s.topic} qos${s.qos}`));
        this.send({ cmd: "suback", messageId: p.messageId as number, granted: p.subscriptions.map((s) => this.grantedQos ?? s.qos) });
      } else if (p.cmd === "pingreq") this.send({ cmd: "pingresp" });
      else if (p.cmd === "puback") this.log(`puback ${p.messageId}`);
      else if (p.cmd === "disconnect") this.log("disconnect");
    });
    return socket;
  }

  private send(p: Packet): void {
    this.socket?.push(mqttPacket.generate(p));
  }

  log(line: string): void {
    this.events.push(line);
    for (const w of this.waiters.splice(0)) w();
  }

  /** A QoS 1 PUBLISH from a device, as the broker forwards it. */
  publish(topic: string, messageId: number, body: string): void {
    this.send({ cmd: "publish", topic, payload: Buffer.from(body), qos: 1, messageId, retain: false, dup: false });
  }

  async until(line: string): Promise<void> {
    while (!this.events.includes(line)) await new Promise<void>((r) => this.waiters.push(r));
  }
}

/** Let what the client wrote reach the broker double: mqtt-packet uncorks its stream on the next tick. */
async function drain(): Promise<void> {
  for (let i = 0; i < 3; i++) await new Promise<void>((r) => setImmediate(r));
}

interface StoreDouble {
  onMessage: SubscribeOptions["onMessage"];
  /** Let the paused store commit. */
  release(): void;
}

/** A store that fails FAILURES times, then (when `pause`) waits for release(), then commits; each step logged. */
function storeDouble(events: string[], broker: BrokerDouble, o: { failures?: number; pause?: boolean }): StoreDouble {
  let tries = 0;
  let release: () => void = () => {};
  const gate = new Promise<void>((r) => {
    release = r;
  });
  return {
    release: () => release(),
    onMessage: async (topic, payload) => {
      tries++;
      broker.log(`store ${topic} ${new TextDecoder().decode(payload)} try ${tries}`);
      if (tries <= (o.failures ?? 0)) {
        broker.log(`store failed ${tries}`);
        throw new Error("database is locked");
      }
      if (o.pause) await gate;
      broker.log("commit");
    },
  };
}

async function start(broker: BrokerDouble, store: Pick<SubscribeOptions, "onMessage">, fatal: Error[] = [], logs: string[] = []): Promise<Subscription> {
  return subscribe({
    brokers: ["mqtt://broker.invalid"],
    clientId: "collector-1",
    group: undefined,
    topicPrefix: "crashkeep/v1",
    onMessage: store.onMessage,
    log: (l) => logs.push(l),
    onFatal: (err) => {
      fatal.push(err);
      broker.log("fatal");
    },
    connect: broker.connect,
  });
}

describe("subscriber: PUBACK only after the commit", () => {
  test("a store paused mid-transaction: no PUBACK leaves until it commits, then exactly one", async () => {
    const events: string[] = [];
    const broker = new BrokerDouble(events);
    const store = storeDouble(events, broker, { pause: true });
    const sub = await start(broker, store);
    // a persistent session (the broker keeps what is not acknowledged) and QoS 1
    expect(broker.connects).toEqual(["collector-1 clean=false v4"]);
    expect(broker.subscribed).toEqual(["crashkeep/v1/+/+ qos1"]);
    broker.publish("crashkeep/v1/dev1/note", 7, "m7");
    await broker.until("store crashkeep/v1/dev1/note m7 try 1");
    await drain();
    expect(events).toEqual(["store crashkeep/v1/dev1/note m7 try 1"]);
    store.release();
    await broker.until("puback 7");
    await drain();
    expect(events).toEqual(["store crashkeep/v1/dev1/note m7 try 1", "commit", "puback 7"]);
    await sub.close();
  });

  test("a store that fails twice, then commits: tried again, one PUBACK, after the commit", async () => {
    const events: string[] = [];
    const broker = new BrokerDouble(events);
    const logs: string[] = [];
    const sub = await start(broker, storeDouble(events, broker, { failures: 2 }), [], logs);
    broker.publish("crashkeep/v1/dev1/crash", 3, "m3");
    await broker.until("puback 3");
    await drain();
    expect(events).toEqual([
      "store crashkeep/v1/dev1/crash m3 try 1",
      "store failed 1",
      "store crashkeep/v1/dev1/crash m3 try 2",
      "store failed 2",
      "store crashkeep/v1/dev1/crash m3 try 3",
      "commit",
      "puback 3",
    ]);
    expect(logs).toContain('Cannot store message on "crashkeep/v1/dev1/crash" (try 1 of 5): database is locked, retrying');
    await sub.close();
  });

  test(
    "a store that never commits: onFatal after the last try, and no PUBACK ever (the broker keeps the message)",
    async () => {
      const events: string[] = [];
      const broker = new BrokerDouble(events);
      const fatal: Error[] = [];
      const sub = await start(broker, storeDouble(events, broker, { failures: Number.MAX_SAFE_INTEGER }), fatal);
      broker.publish("crashkeep/v1/dev1/boot", 9, "m9");
      await broker.until("fatal");
      expect(fatal.map((e) => e.message)).toEqual(['Cannot store message on "crashkeep/v1/dev1/boot": database is locked']);
      // before the collector closes: anything the client wrote on giving up has reached the broker
      await drain();
      expect(events.filter((e) => e.startsWith("puback"))).toEqual([]);
      await sub.close();
      await drain();
      expect(events.filter((e) => e.startsWith("store crashkeep"))).toHaveLength(5);
      expect(events.filter((e) => e.startsWith("puback"))).toEqual([]);
      // closed at once (no DISCONNECT handshake that could be read as done with the session)
      expect(events.at(-1)).toBe("fatal");
    },
    FATAL_TEST_TIMEOUT_MS,
  );

  test("two messages, the first one's store paused: one at a time, in order, each acknowledged after its own commit", async () => {
    const events: string[] = [];
    const broker = new BrokerDouble(events);
    let release: () => void = () => {};
    const gate = new Promise<void>((r) => {
      release = r;
    });
    const sub = await start(broker, {
      onMessage: async (_topic, payload) => {
        const m = new TextDecoder().decode(payload);
        broker.log(`store ${m}`);
        if (m === "first") await gate;
        broker.log(`commit ${m}`);
      },
    });
    broker.publish("crashkeep/v1/dev1/note", 1, "first");
    broker.publish("crashkeep/v1/dev1/note", 2, "second");
    await broker.until("store first");
    await drain();
    expect(events).toEqual(["store first"]);
    release();
    await broker.until("puback 2");
    await drain();
    // the second reaches the store only after the first committed; each PUBACK follows its own commit
    expect(events.filter((e) => !e.startsWith("puback"))).toEqual(["store first", "commit first", "store second", "commit second"]);
    expect(events.filter((e) => e.startsWith("puback"))).toEqual(["puback 1", "puback 2"]);
    expect(events.indexOf("puback 1")).toBeGreaterThan(events.indexOf("commit first"));
    expect(events.indexOf("puback 2")).toBeGreaterThan(events.indexOf("commit second"));
    await sub.close();
  });
});

describe("subscriber: start", () => {
  test("a broker that refuses the connection (CONNACK 5) fails the start at once, with its reason", async () => {
    const broker = new BrokerDouble([]);
    broker.connackCode = 5;
    await expect(start(broker, { onMessage: async () => {} })).rejects.toThrow(/^Cannot connect to broker "mqtt:\/\/broker\.invalid": Connection refused: Not authorized/);
  });

  test("a broker that refuses the subscription (granted 128) fails the start", async () => {
    const broker = new BrokerDouble([]);
    broker.grantedQos = 128;
    // MQTT.js 5 turns a granted 128 into the subscribe callback's error itself
    await expect(start(broker, { onMessage: async () => {} })).rejects.toThrow(/^Cannot subscribe to "crashkeep\/v1\/\+\/\+": Subscribe error/);
  });
});

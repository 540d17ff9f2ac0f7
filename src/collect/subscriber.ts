// The MQTT side: one MQTT.js client with a persistent session (clean: false,
// a stable client id) subscribed with QoS 1 to <prefix>/+/+, or to
// $share/<group>/<prefix>/+/+ so several collectors split one fleet. A message
// is acknowledged (PUBACK) only after ingest has committed it, so a collector
// killed mid-stream gets it again from the broker when it reconnects.
import mqtt, { type IClientOptions, type MqttClient } from "mqtt";
import { errorCode } from "../system/read-bounded.ts";

/** Tries to store one message before the collector gives up on its database. */
const STORE_ATTEMPTS = 5;
/** Wait between those tries (doubles each time). */
const STORE_RETRY_MS = 200;
/** Wait before reconnecting to a broker that went away. */
const RECONNECT_MS = 1000;
/** How long the first connection may take before start fails. */
const CONNECT_TIMEOUT_MS = 15_000;
/** Errors of a broker that is down or unreachable: tried again until CONNECT_TIMEOUT_MS, not a refusal. */
const NETWORK_ERRORS = new Set(["ECONNREFUSED", "ECONNRESET", "ENOTFOUND", "EAI_AGAIN", "ETIMEDOUT", "EHOSTUNREACH", "ENETUNREACH", "EPIPE"]);

export interface SubscribeOptions {
  brokers: readonly string[];
  clientId: string;
  group: string | undefined;
  topicPrefix: string;
  /** Store one message; throwing means "not stored" (it is not acknowledged). */
  onMessage(topic: string, payload: Uint8Array): Promise<void>;
  /** Connection events, one human line each, for the CLI to print. */
  log(line: string): void;
  /** The database failed for good: the collector must stop (the broker keeps the message). */
  onFatal(err: Error): void;
  /** mqtts:// credentials (PEM): the CA to trust instead of the system's, a client certificate and key. */
  tls?: { ca?: Uint8Array; cert?: Uint8Array; key?: Uint8Array };
  /** How the client is made: mqtt.connect, or a test's broker double (test/unit/collect/subscriber.test.ts). */
  connect?: (options: IClientOptions) => MqttClient;
}

export interface Subscription {
  topic: string;
  close(): Promise<void>;
}

export function subscriptionTopic(prefix: string, group: string | undefined): string {
  return group === undefined ? `${prefix}/+/+` : `$share/${group}/${prefix}/+/+`;
}

function server(url: string): NonNullable<IClientOptions["servers"]>[number] {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new Error(`Cannot use broker "${url}": not a URL such as mqtt://host:1883`);
  }
  const protocol = u.protocol.replace(/:$/, "");
  if (protocol !== "mqtt" && protocol !== "mqtts") throw new Error(`Cannot use broker "${url}": use mqtt:// or mqtts://`);
  return { host: u.hostname, port: Number(u.port || (protocol === "mqtts" ? 8883 : 1883)), protocol };
}

export async function subscribe(o: SubscribeOptions): Promise<Subscription> {
  const servers = o.brokers.map(server);
  const first = new URL(o.brokers[0] as string);
  const topic = subscriptionTopic(o.topicPrefix, o.group);
  const options: IClientOptions = {
    clientId: o.clientId,
    clean: false,
    protocolVersion: 4,
    reconnectPeriod: RECONNECT_MS,
    connectTimeout: CONNECT_TIMEOUT_MS,
    servers,
    resubscribe: true,
    ...(first.username ? { username: decodeURIComponent(first.username), password: decodeURIComponent(first.password) } : {}),
    // MQTT.js wants the top-level protocol with a client certificate (each server has its own too).
    protocol: servers[0]?.protocol ?? "mqtt",
    ...(o.tls?.ca ? { ca: Buffer.from(o.tls.ca) } : {}),
    ...(o.tls?.cert ? { cert: Buffer.from(o.tls.cert) } : {}),
    ...(o.tls?.key ? { key: Buffer.from(o.tls.key) } : {}),
    rejectUnauthorized: true,
  };
  const client: MqttClient = (o.connect ?? mqtt.connect)(options);
  let fatal = false;
  // MQTT.js reads no further packet (the SUBACK either) until a message is done: one that fails
  // for good while start waits (a resumed session delivers at once) fails the start with its reason.
  let failStart: ((err: Error) => void) | undefined;
  client.handleMessage = (packet, done) => {
    // a view of MQTT.js's buffer, not a copy: a message over ingest's size limit costs no second copy
    const payload = typeof packet.payload === "string" ? new TextEncoder().encode(packet.payload) : new Uint8Array(packet.payload.buffer, packet.payload.byteOffset, packet.payload.byteLength);
    void (async () => {
      let wait = STORE_RETRY_MS;
      for (let attempt = 1; ; attempt++) {
        try {
          await o.onMessage(packet.topic, payload);
          done();
          return;
        } catch (err) {
          const e = err instanceof Error ? err : new Error(String(err));
          if (attempt >= STORE_ATTEMPTS) {
            fatal = true;
            const why = new Error(`Cannot store message on "${packet.topic}": ${e.message}`);
            if (failStart) failStart(why);
            else o.onFatal(why);
            return; // never acknowledged: the broker delivers it again
          }
          o.log(`Cannot store message on "${packet.topic}" (try ${attempt} of ${STORE_ATTEMPTS}): ${e.message}, retrying`);
          await Bun.sleep(wait);
          wait *= 2;
        }
      }
    })();
  };
  client.on("reconnect", () => o.log("reconnecting to the broker"));
  client.on("offline", () => o.log("broker connection lost"));
  client.on("error", (err) => o.log(`broker: ${err.message}`));
  await new Promise<void>((resolve, reject) => {
    let last = "";
    const timer = setTimeout(
      () => reject(new Error(`Cannot connect to broker "${o.brokers.join(", ")}": no answer within ${CONNECT_TIMEOUT_MS / 1000} s${last ? ` (last: ${last})` : ""}`)),
      CONNECT_TIMEOUT_MS,
    );
    // Before the first CONNACK: a broker that is down or unreachable is tried
    // again (the next one of --broker, or later); one that answers and says no
    // (its certificate, ours, the credentials) fails the start at once, with its reason.
    const refused = (err: Error) => {
      const code = errorCode(err);
      last = err.message;
      if (code !== undefined && NETWORK_ERRORS.has(code)) return;
      clearTimeout(timer);
      reject(new Error(`Cannot connect to broker "${o.brokers.join(", ")}": ${err.message}`));
    };
    failStart = (err) => {
      clearTimeout(timer);
      reject(err);
    };
    client.on("error", refused);
    client.once("connect", (ack) => {
      client.off("error", refused);
      o.log(`connected to the broker as "${o.clientId}"${ack.sessionPresent ? " (session resumed)" : ""}`);
      client.subscribe(topic, { qos: 1 }, (err, granted) => {
        clearTimeout(timer);
        if (err) return reject(new Error(`Cannot subscribe to "${topic}": ${err.message}`));
        if (granted?.some((g) => g.qos === 128)) return reject(new Error(`Cannot subscribe to "${topic}": the broker refused it`));
        failStart = undefined; // from here on, a store failure is onFatal's
        resolve();
      });
    });
  }).catch(async (err: unknown) => {
    await client.endAsync(true);
    throw err;
  });
  client.on("connect", (ack) => o.log(`reconnected to the broker${ack.sessionPresent ? " (session resumed)" : ""}`));
  return {
    topic,
    close: async () => {
      await client.endAsync(fatal);
    },
  };
}

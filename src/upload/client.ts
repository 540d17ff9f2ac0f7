// One MQTT 3.1.1 connection (MQTT.js), as the outbox needs it: protocol
// level 4 (RabbitMQ 3.10 refuses MQTT 5), clean session off (the broker keeps
// the session), client id = device id, QoS 1 publishes that resolve on their
// PUBACK or fail after the ack timeout. MQTT.js is imported here on first
// use only: a daemon with upload off, or with nothing to send, never loads it.
import { isIP } from "node:net";
import type { MqttClient, IClientOptions } from "mqtt";
import type { Config } from "../config/schema.ts";
import type { Paths } from "../system/paths.ts";
import { FileReadError, readFileBounded } from "../system/read-bounded.ts";

/** Longest wait for MQTT.js to close a connection we are done with. */
const END_TIMEOUT_MS = 2000;
/** Largest credential file read (PEM chain, password): certificates are a few KiB. */
const MAX_CREDENTIAL_BYTES = 256 * 1024;

/** MQTT.js's own store of unacknowledged packets is unbounded: our window (upload.inFlight) bounds it. */
export interface Connection {
  broker: string;
  publish(topic: string, payload: Uint8Array): Promise<void>;
  /** A promise that rejects when the connection drops (for racing). */
  closed: Promise<never>;
  end(): Promise<void>;
}

export class BrokerError extends Error {
  override name = "BrokerError";
  constructor(
    message: string,
    /** true when the broker answered and refused (credentials, authorization): retrying will not help soon. */
    readonly refused: boolean,
  ) {
    super(message);
  }
}

function readCredential(path: string, key: string, paths: Paths): Buffer {
  const file = paths.sys(path);
  try {
    return readFileBounded(file, MAX_CREDENTIAL_BYTES);
  } catch (err) {
    throw new BrokerError(`Cannot read ${key} "${file}": ${err instanceof FileReadError ? err.reason : String(err)}`, true);
  }
}

/** Problems with the files the upload config names, one line each with its key path (for `config check`). */
export function credentialProblems(config: Config, paths: Paths): string[] {
  const out: string[] = [];
  const u = config.upload;
  for (const key of ["caFile", "certFile", "keyFile", "passwordFile"] as const) {
    const path = u[key];
    if (path === undefined) continue;
    try {
      readCredential(path, `upload.${key}`, paths);
    } catch (err) {
      out.push(`upload.${key}: ${err instanceof Error ? err.message.replace(/^Cannot read [^:]*: /, "") : String(err)}, got "${path}"`);
    }
  }
  if (u.broker && (u.caFile || u.certFile) && !u.broker.some((b) => b.startsWith("mqtts:"))) {
    out.push(`upload.broker: TLS files are configured but no broker is mqtts://`);
  }
  return out;
}

function options(config: Config, paths: Paths, clientId: string): IClientOptions {
  const u = config.upload;
  const o: IClientOptions = {
    protocolVersion: 4,
    clientId,
    clean: false,
    keepalive: u.keepaliveSeconds,
    connectTimeout: u.connectTimeoutSeconds * 1000,
    reconnectPeriod: 0, // retries are ours (outbox backoff), not the library's
    resubscribe: false,
    queueQoSZero: false,
    rejectUnauthorized: true,
  };
  if (u.caFile) o.ca = readCredential(u.caFile, "upload.caFile", paths);
  if (u.certFile) o.cert = readCredential(u.certFile, "upload.certFile", paths);
  if (u.keyFile) o.key = readCredential(u.keyFile, "upload.keyFile", paths);
  if (u.username) o.username = u.username;
  if (u.passwordFile) o.password = readCredential(u.passwordFile, "upload.passwordFile", paths).toString("utf8").split("\n")[0] ?? "";
  return o;
}

function describe(err: unknown): string {
  if (err instanceof Error) {
    const code = "code" in err ? (err as { code: unknown }).code : undefined;
    return code !== undefined && typeof code === "string" && !err.message.includes(code) ? `${err.message} (${code})` : err.message;
  }
  return String(err);
}

/** CONNACK return codes 1-5 (MQTT 3.1.1 §3.2.2.3): the broker answered and said no. */
function isRefusal(err: unknown): boolean {
  const code = err instanceof Error && "code" in err ? (err as { code: unknown }).code : undefined;
  return typeof code === "number" && code >= 1 && code <= 5;
}

/** Connect to one broker; resolves after CONNACK, rejects with BrokerError within connectTimeoutSeconds. */
export async function connect(broker: string, options_: { config: Config; paths: Paths; clientId: string }): Promise<Connection> {
  const { config, paths, clientId } = options_;
  const opts = options(config, paths, clientId);
  // The URL is taken apart here (WHATWG URL): MQTT.js's own parsing uses the deprecated url.parse().
  const url = new URL(broker);
  const tls = url.protocol === "mqtts:";
  opts.protocol = tls ? "mqtts" : "mqtt";
  opts.hostname = url.hostname.replace(/^\[(.*)\]$/, "$1");
  opts.port = url.port === "" ? (tls ? 8883 : 1883) : Number(url.port);
  // SNI takes names only; the certificate is checked against the host we asked for either way.
  if (tls && isIP(opts.hostname) === 0) opts.servername = opts.hostname;
  const mqtt = await import("mqtt");
  const client: MqttClient = mqtt.connect(opts);
  const timeoutMs = config.upload.connectTimeoutSeconds * 1000;
  // Only our own listeners are ever removed: MQTT.js clears its timers in listeners of its own.
  const quiet = () => {};
  client.on("error", quiet); // an error after we gave up on the client must not be unhandled
  await new Promise<void>((resolve, reject) => {
    const onError = (err: unknown) => fail(err);
    const onClose = () => fail(new Error("connection closed before CONNACK"));
    const off = () => {
      clearTimeout(timer);
      client.off("error", onError);
      client.off("close", onClose);
    };
    const fail = (err: unknown) => {
      off();
      client.end(true);
      reject(new BrokerError(`Cannot connect to "${broker}": ${describe(err)}`, isRefusal(err)));
    };
    const timer = setTimeout(() => fail(new Error(`no CONNACK within ${config.upload.connectTimeoutSeconds} s`)), timeoutMs);
    client.once("connect", () => {
      off();
      resolve();
    });
    client.on("error", onError);
    client.on("close", onClose);
  });
  let dropped: (err: Error) => void = () => {};
  const closed = new Promise<never>((_, reject) => {
    dropped = reject;
  });
  closed.catch(() => {}); // observed by whoever races it
  const onLostError = (err: Error) => dropped(new BrokerError(`Lost "${broker}": ${describe(err)}`, isRefusal(err)));
  const onLostClose = () => dropped(new BrokerError(`Lost "${broker}": connection closed`, false));
  client.on("error", onLostError);
  client.on("close", onLostClose);
  const ackMs = config.upload.ackTimeoutSeconds * 1000;
  return {
    broker,
    closed,
    publish(topic, payload) {
      return new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new BrokerError(`No PUBACK from "${broker}" within ${config.upload.ackTimeoutSeconds} s`, false)), ackMs);
        client.publish(topic, Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength), { qos: 1 }, (err) => {
          clearTimeout(timer);
          if (err) reject(new BrokerError(`Cannot publish to "${broker}": ${describe(err)}`, false));
          else resolve();
        });
      });
    },
    end() {
      return new Promise<void>((resolve) => {
        client.off("error", onLostError);
        client.off("close", onLostClose);
        // A half-dead broker (a node shutting down) may never let the socket close cleanly: bounded.
        const timer = setTimeout(() => {
          client.stream?.destroy();
          resolve();
        }, END_TIMEOUT_MS);
        client.end(true, {}, () => {
          clearTimeout(timer);
          resolve();
        });
      });
    },
  };
}

// Real brokers for the upload tests, started and stopped by the tests
// themselves (no systemd here): mosquitto on a free localhost port, waited
// for until it accepts connections; a subscriber that keeps every message by
// id and checks each against the committed docs/upload.schema.json; a TCP
// proxy that can hold back the broker's answers (PUBACKs) so a flush can be
// interrupted in a known state.
import { spawn, type Subprocess } from "bun";
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { createServer, connect as tcpConnect, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Ajv2020 from "ajv/dist/2020";
import addFormats from "ajv-formats";
import mqtt, { type MqttClient } from "mqtt";

export const TOP = join(import.meta.dir, "../..");
export const BINARY = join(TOP, "out/crashkeep");
/** Longest wait for any one observable event (a port, a message, a line): generous for a loaded 2-core machine. */
export const EVENT_TIMEOUT_MS = 30_000;

export function tmp(prefix: string): string {
  return mkdtempSync(join(tmpdir(), `crashkeep-${prefix}-`));
}

/** A port nobody listens on right now (bound to 0, then released). */
export async function freePort(): Promise<number> {
  return await new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const addr = s.address();
      s.close(() => resolve(typeof addr === "object" && addr ? addr.port : 0));
    });
  });
}

/** Poll until `check` holds; fails naming what was awaited and the last state seen. */
export async function waitFor<T>(what: string, check: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs = EVENT_TIMEOUT_MS, describe: () => string = () => ""): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}${describe() ? `; last seen: ${describe()}` : ""}`);
    await Bun.sleep(25);
  }
}

export async function portAccepts(port: number): Promise<boolean> {
  return await new Promise((resolve) => {
    const s = tcpConnect({ host: "127.0.0.1", port }, () => {
      s.destroy();
      resolve(true);
    });
    s.once("error", () => resolve(false));
  });
}

export interface Mosquitto {
  port: number;
  dir: string;
  log(): string;
  start(): Promise<void>;
  /** SIGTERM: a clean stop (persistence saved). */
  stop(): Promise<void>;
  kill9(): Promise<void>;
}

/** mosquitto on a free port; `extra` is appended to its config (TLS, persistence, auth). */
export async function mosquitto(options: { extra?: string; persistence?: boolean; port?: number } = {}): Promise<Mosquitto> {
  const dir = tmp("mosquitto");
  const port = options.port ?? (await freePort());
  const conf = join(dir, "mosquitto.conf");
  const logFile = join(dir, "mosquitto.log");
  writeFileSync(conf, [
    // Started as root, mosquitto drops to user "mosquitto", which cannot read the test's private temp dirs.
    ...(process.getuid?.() === 0 ? ["user root"] : []),
    `listener ${port} 127.0.0.1`,
    options.extra ?? "allow_anonymous true",
    `persistence ${options.persistence ? "true" : "false"}`,
    `persistence_location ${dir}/`,
    `log_dest file ${logFile}`,
    "log_type error", "log_type warning", "log_type notice", "log_type information",
    // Plenty of room for the offline subscriber's queue during the tests (default 1000 messages).
    "max_queued_messages 10000",
    "",
  ].join("\n"));
  let proc: Subprocess | undefined;
  const m: Mosquitto = {
    port,
    dir,
    log: () => {
      try {
        return readFileSync(logFile, "utf8");
      } catch {
        return "";
      }
    },
    async start() {
      const p = spawn(["mosquitto", "-c", conf], { stdout: "ignore", stderr: "pipe" });
      proc = p;
      await waitFor(`mosquitto to accept on port ${port}`, async () => {
        if (p.exitCode !== null) throw new Error(`mosquitto exited with ${p.exitCode}: ${await new Response(p.stderr).text()}${m.log()}`);
        return await portAccepts(port);
      }, EVENT_TIMEOUT_MS, () => m.log().split("\n").slice(-3).join(" | "));
    },
    async stop() {
      if (!proc) return;
      proc.kill("SIGTERM");
      await proc.exited;
      proc = undefined;
    },
    async kill9() {
      if (!proc) return;
      proc.kill("SIGKILL");
      await proc.exited;
      proc = undefined;
    },
  };
  return m;
}

const ajv = new Ajv2020({ allErrors: true, strict: false });
addFormats(ajv);
const validate = ajv.compile(JSON.parse(readFileSync(join(TOP, "docs/upload.schema.json"), "utf8")) as object);

export interface Received {
  topic: string;
  payload: { id: string; kind: string; [k: string]: unknown };
}

/**
 * A persistent-session subscriber (clean session off, QoS 1): the broker
 * keeps what arrives while it is away. Every message is checked against
 * docs/upload.schema.json; a failure is kept and reported by the test.
 */
export class Subscriber {
  readonly all: Received[] = [];
  readonly invalid: string[] = [];
  readonly byId = new Map<string, Received>();
  #client: MqttClient | undefined;

  constructor(readonly port: number, readonly clientId = `sub-${process.pid}-${Math.random().toString(16).slice(2, 8)}`, readonly options: mqtt.IClientOptions = {}) {}

  async connect(topic = "crashkeep/#"): Promise<void> {
    const client = mqtt.connect({ protocol: "mqtt", hostname: "127.0.0.1", port: this.port, protocolVersion: 4, clientId: this.clientId, clean: false, reconnectPeriod: 200, connectTimeout: 5000, ...this.options });
    this.#client = client;
    client.on("error", () => {}); // reconnects on its own while a broker restarts
    client.on("message", (t, buf) => {
      let payload: unknown;
      try {
        payload = JSON.parse(buf.toString("utf8"));
      } catch {
        this.invalid.push(`${t}: not JSON`);
        return;
      }
      if (!validate(payload)) {
        this.invalid.push(`${t}: ${ajv.errorsText(validate.errors)}`);
        return;
      }
      const r = { topic: t, payload: payload as Received["payload"] };
      this.all.push(r);
      this.byId.set(r.payload.id, r);
    });
    await waitFor("the subscriber to connect", () => client.connected);
    await client.subscribeAsync(topic, { qos: 1 });
  }

  async waitForIds(n: number, timeoutMs = EVENT_TIMEOUT_MS): Promise<void> {
    await waitFor(`${n} distinct message ids`, () => this.byId.size >= n, timeoutMs, () => `${this.byId.size} distinct, ${this.all.length} in all, ${this.invalid.length} invalid`);
  }

  async publish(topic: string, payload: string): Promise<void> {
    await this.#client?.publishAsync(topic, payload, { qos: 1 });
  }

  async close(): Promise<void> {
    await this.#client?.endAsync(true);
  }
}

/**
 * A TCP proxy in front of a broker. Each chunk the broker sends (CONNACK,
 * PUBACK) reaches the client `delayMs` later, one after another, so that a
 * flush with upload.inFlight = 1 lasts long enough to be interrupted;
 * `hold()` stops passing them at all until `release()`. The client's bytes
 * always reach the broker at once.
 */
export async function proxy(targetPort: number, options: { delayMs?: number } = {}): Promise<{ port: number; hold(): void; release(): void; close(): void }> {
  const delayMs = options.delayMs ?? 0;
  let holding = false;
  const pumps = new Set<() => void>();
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    const upstream = tcpConnect({ host: "127.0.0.1", port: targetPort });
    sockets.add(client).add(upstream);
    const queue: Buffer[] = [];
    let busy = false;
    const pump = () => {
      if (busy || holding || queue.length === 0) return;
      busy = true;
      setTimeout(() => {
        busy = false;
        if (holding) return;
        const chunk = queue.shift();
        if (chunk && !client.destroyed) client.write(chunk);
        pump();
      }, delayMs);
    };
    pumps.add(pump);
    client.on("data", (d) => upstream.write(d));
    upstream.on("data", (d: Buffer) => {
      queue.push(d);
      pump();
    });
    const close = () => {
      pumps.delete(pump);
      client.destroy();
      upstream.destroy();
    };
    client.on("error", close).on("close", close);
    upstream.on("error", close).on("close", close);
  });
  const port = await new Promise<number>((resolve) => server.listen(0, "127.0.0.1", () => resolve((server.address() as { port: number }).port)));
  return {
    port,
    hold: () => {
      holding = true;
    },
    release: () => {
      holding = false;
      for (const p of pumps) p();
    },
    close: () => {
      server.close();
      for (const s of sockets) s.destroy();
    },
  };
}

export interface Device {
  root: string;
  config: string;
  env: Record<string, string>;
  outbox: string;
  run(args: string[], options?: { stdin?: Uint8Array }): { code: number; out: string; err: string };
  /** Without blocking this process (needed while a proxy or subscriber of this process is in the path). */
  runAsync(args: string[]): Promise<{ code: number; out: string; err: string }>;
  spawn(args: string[]): Subprocess<"ignore", "pipe", "pipe">;
}

/** A fake device root: a journal file, the archive under it, a config with `upload` merged in. */
export function device(upload: Record<string, unknown>, extra: Record<string, unknown> = {}, root = tmp("device")): Device {
  mkdirSync(join(root, "dev"), { recursive: true });
  writeFileSync(join(root, "dev/phram"), new Uint8Array(1 << 20));
  const config = join(root, "config.json");
  writeFileSync(config, JSON.stringify({
    journal: { device: "/dev/phram" },
    logs: { files: [] },
    cores: { mode: "pipe", dir: "/var/cores", reportsPerMinute: 600 },
    archive: { dir: "/var/lib/crashkeep", minFreeBytes: 0, maxEntries: 1000 },
    upload: { deviceId: "test-device-1", delaySeconds: 0, minBackoffSeconds: 1, maxBackoffSeconds: 2, connectTimeoutSeconds: 5, ackTimeoutSeconds: 10, ...upload },
    ...extra,
  }));
  const env = { ...(process.env as Record<string, string>), CRASHKEEP_ROOT: root, CRASHKEEP_CONFIG: config };
  const d: Device = {
    root,
    config,
    env,
    outbox: join(root, "var/lib/crashkeep/outbox"),
    run(args, options = {}) {
      const p = Bun.spawnSync([BINARY, ...args], { env, ...(options.stdin ? { stdin: options.stdin } : {}) });
      return { code: p.exitCode ?? -1, out: p.stdout.toString(), err: p.stderr.toString() };
    },
    async runAsync(args) {
      const p = Bun.spawn([BINARY, ...args], { env, stdin: "ignore", stdout: "pipe", stderr: "pipe" });
      const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
      return { code, out, err };
    },
    spawn(args) {
      return Bun.spawn([BINARY, ...args], { env, stdin: "ignore", stdout: "pipe", stderr: "pipe" });
    },
  };
  const clear = d.run(["clear", "--yes"]);
  if (clear.code !== 0) throw new Error(`Cannot format the test journal: ${clear.err}`);
  return d;
}

export interface RabbitNode {
  name: string;
  mqttPort: number;
  /** SIGTERM to rabbitmq-server: it stops the node (rabbitmqctl stop) and exits. */
  stop(): Promise<void>;
  kill9(): void;
}

/** RabbitMQ start-up is slow (Erlang VM, Mnesia, plugins): ~50 s for two nodes on a loaded 2-core machine. */
export const RABBIT_START_TIMEOUT_MS = 180_000;
/**
 * The rabbitmq-server script itself, not Debian's wrapper on PATH (/usr/sbin), which switches to
 * user rabbitmq: the wrapper execs "<dir>/${SCRIPT}", so the directory is read from it.
 */
function rabbitServer(): string {
  const onPath = Bun.which("rabbitmq-server", { PATH: `${process.env.PATH ?? ""}:/usr/sbin:/sbin` });
  if (!onPath) throw new Error('Cannot find "rabbitmq-server": make deps installs rabbitmq-server');
  const dir = /(\/\S+)\/\$\{SCRIPT\}/.exec(readFileSync(onPath, "utf8"))?.[1];
  return dir ? `${dir}/rabbitmq-server` : onPath;
}

/**
 * A RabbitMQ cluster of `count` nodes on this machine, each with its own
 * ports and directories under `base` (a new temp dir by default; it is also
 * HOME, for the shared Erlang cookie), formed by classic-config peer
 * discovery, with rabbitmq_mqtt enabled (anonymous MQTT as guest, from
 * loopback). A node that dies writes its Erlang crash dump into its own
 * directory (<base>/n<i>/erl_crash.dump), not into the working directory.
 */
export async function rabbitCluster(count: number, options: { base?: string } = {}): Promise<RabbitNode[]> {
  const base = options.base ?? tmp("rabbit");
  const host = (await Bun.$`hostname -s`.text()).trim();
  const tag = `ck${process.pid}`;
  const nodes = await Promise.all(Array.from({ length: count }, async (_, i) => ({
    name: `${tag}n${i + 1}@${host}`, dir: join(base, `n${i + 1}`), amqp: await freePort(), dist: await freePort(), mqtt: await freePort(),
  })));
  // The shared cookie, made before the nodes start: left to them, the first Erlang VM writes it and then
  // makes it owner-only, and a second VM that reads it in between refuses it and dies (the committed
  // erl_crash.dump of issue 19). One already there is kept.
  try {
    writeFileSync(join(base, ".erlang.cookie"), `CK${randomBytes(12).toString("hex").toUpperCase()}`, { mode: 0o400, flag: "wx" });
  } catch (err) {
    if ((err as { code?: string }).code !== "EEXIST") throw err;
  }
  const procs: Subprocess[] = [];
  for (const n of nodes) {
    mkdirSync(n.dir, { recursive: true });
    writeFileSync(join(n.dir, "rabbitmq.conf"), [
      `listeners.tcp.default = 127.0.0.1:${n.amqp}`,
      `mqtt.listeners.tcp.default = 127.0.0.1:${n.mqtt}`,
      "mqtt.allow_anonymous = true",
      "log.console = false",
      "log.file.level = info",
      "cluster_formation.peer_discovery_backend = classic_config",
      ...nodes.map((m, j) => `cluster_formation.classic_config.nodes.${j + 1} = ${m.name}`),
      "",
    ].join("\n"));
    writeFileSync(join(n.dir, "enabled_plugins"), "[rabbitmq_mqtt].\n");
    const env = {
      ...(process.env as Record<string, string>),
      HOME: base, // the shared Erlang cookie
      RABBITMQ_NODENAME: n.name,
      RABBITMQ_NODE_PORT: String(n.amqp),
      RABBITMQ_DIST_PORT: String(n.dist),
      RABBITMQ_MNESIA_BASE: join(n.dir, "mnesia"),
      RABBITMQ_LOG_BASE: join(n.dir, "log"),
      RABBITMQ_CONFIG_FILE: join(n.dir, "rabbitmq"),
      RABBITMQ_ENABLED_PLUGINS_FILE: join(n.dir, "enabled_plugins"),
      RABBITMQ_PLUGINS_EXPAND_DIR: join(n.dir, "plugins"),
      RABBITMQ_PID_FILE: join(n.dir, "pid"),
      RABBITMQ_FEATURE_FLAGS_FILE: join(n.dir, "feature_flags"),
      RABBITMQ_QUORUM_DIR: join(n.dir, "quorum"),
      RABBITMQ_STREAM_DIR: join(n.dir, "stream"),
      // the Erlang VM writes ./erl_crash.dump otherwise: the checkout, when a test runs (one was committed by accident)
      ERL_CRASH_DUMP: join(n.dir, "erl_crash.dump"),
    };
    procs.push(spawn([rabbitServer()], { env, stdout: "ignore", stderr: "ignore" }));
  }
  const out: RabbitNode[] = nodes.map((n, i) => {
    const proc = procs[i] as Subprocess;
    return {
      name: n.name,
      mqttPort: n.mqtt,
      async stop() {
        proc.kill("SIGTERM");
        await proc.exited;
      },
      kill9() {
        try {
          process.kill(Number(readFileSync(join(n.dir, "pid"), "utf8").trim()), "SIGKILL");
        } catch {
          // not started, or gone
        }
        proc.kill("SIGKILL");
      },
    };
  });
  try {
    await waitFor(`${count} RabbitMQ nodes to accept MQTT`, async () => {
      for (const [i, p] of procs.entries()) if (p.exitCode !== null) throw new Error(`rabbitmq node ${nodes[i]?.name} exited with ${p.exitCode}; see ${nodes[i]?.dir}/log`);
      return (await Promise.all(nodes.map((n) => portAccepts(n.mqtt)))).every(Boolean);
    }, RABBIT_START_TIMEOUT_MS);
  } catch (err) {
    for (const n of out) n.kill9();
    throw err;
  }
  return out;
}

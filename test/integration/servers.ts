// Test helper: real servers started and stopped by the tests themselves, in a
// temporary directory: mosquitto, PostgreSQL (initdb), the compiled collector.
// Waiting is always for an observable event, with a bounded timeout.
import { chownSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Subprocess } from "bun";

export const ROOT = join(import.meta.dir, "../..");
export const BINARY = join(ROOT, "out/crashkeep");

/** The output of a lookup command (pg_config, id), or a clear error naming what to install. */
function lookUp(argv: string[], needs: string): string {
  const r = Bun.spawnSync(argv, { stdout: "pipe", stderr: "pipe" });
  const out = r.stdout.toString().trim();
  if (r.exitCode !== 0 || out === "") throw new Error(`Cannot run "${argv.join(" ")}": ${r.stderr.toString().trim() || `exit ${r.exitCode}`} (${needs})`);
  return out;
}

/** PostgreSQL's server programs (initdb, postgres, pg_isready): postgresql-common's pg_config names the newest installed major. */
const pgBin = () => lookUp(["pg_config", "--bindir"], "make deps installs postgresql");

/** Thrown by a check to stop waiting at once (the server died). */
export class Fatal extends Error {}

/** Wait until CHECK returns a value (not undefined), or fail naming WHAT after TIMEOUT_MS. */
export async function waitFor<T>(what: string, check: () => Promise<T | undefined> | T | undefined, timeoutMs = 20_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v !== undefined) return v;
    } catch (err) {
      if (err instanceof Fatal) throw err;
      last = err;
    }
    if (Date.now() > end) throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${String(last)}` : ""}`);
    await Bun.sleep(50);
  }
}

export async function freePort(): Promise<number> {
  return await new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const addr = s.address();
      const port = typeof addr === "object" && addr ? addr.port : 0;
      s.close(() => resolve(port));
    });
  });
}

async function canConnect(port: number): Promise<true | undefined> {
  try {
    const sock = await Bun.connect({ hostname: "127.0.0.1", port, socket: { data() {} } });
    sock.end();
    return true;
  } catch {
    return undefined;
  }
}

export interface Running {
  url: string;
  dir: string;
  stop(): Promise<void>;
}

/** mosquitto on a free local port, queueing enough QoS 1 messages for an offline persistent session. */
export async function startMosquitto(): Promise<Running> {
  const dir = mkdtempSync(join(tmpdir(), "ck-mosquitto-"));
  const port = await freePort();
  writeFileSync(
    join(dir, "mosquitto.conf"),
    [`listener ${port} 127.0.0.1`, "allow_anonymous true", "persistence false", "max_queued_messages 100000", "max_inflight_messages 20", `log_dest file ${join(dir, "mosquitto.log")}`, "log_type all", ""].join("\n"),
  );
  const proc = Bun.spawn(["mosquitto", "-c", join(dir, "mosquitto.conf")], { stdout: "ignore", stderr: "pipe" });
  await waitFor(`mosquitto on port ${port}`, () => (proc.exitCode !== null ? Promise.reject(new Fatal(`mosquitto exited ${proc.exitCode}`)) : canConnect(port)));
  return {
    url: `mqtt://127.0.0.1:${port}`,
    dir,
    stop: async () => {
      proc.kill();
      await proc.exited;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** PostgreSQL 15 in a fresh initdb directory, on a free local port (trust auth, fsync off: a test database). */
export async function startPostgres(): Promise<Running> {
  const dir = mkdtempSync(join(tmpdir(), "ck-postgres-"));
  const port = await freePort();
  // initdb and postgres refuse to run as root: run them as the postgres user then
  // (setpriv execs, so signals reach postgres itself).
  const asUser = process.getuid?.() === 0 ? ["setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups", "--"] : [];
  if (asUser.length > 0) chownSync(dir, Number(lookUp(["id", "-u", "postgres"], "the postgresql package adds the user")), Number(lookUp(["id", "-g", "postgres"], "the postgresql package adds the user")));
  const PG_BIN = pgBin();
  const pgdata = join(dir, "data");
  const init = Bun.spawnSync([...asUser, `${PG_BIN}/initdb`, "-D", pgdata, "-U", "crashkeep", "--auth=trust", "--no-sync", "-E", "UTF8"], { stdout: "pipe", stderr: "pipe" });
  if (init.exitCode !== 0) throw new Error(`initdb failed: ${init.stderr.toString()}`);
  const proc = Bun.spawn(
    [...asUser, `${PG_BIN}/postgres`, "-D", pgdata, "-p", String(port), "-k", dir, "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off", "-c", "max_connections=50"],
    { stdout: "ignore", stderr: "pipe" },
  );
  await waitFor(`postgres on port ${port}`, () => {
    if (proc.exitCode !== null) throw new Fatal(`postgres exited ${proc.exitCode}`);
    const r = Bun.spawnSync([`${PG_BIN}/pg_isready`, "-h", "127.0.0.1", "-p", String(port)]);
    return r.exitCode === 0 ? true : undefined;
  });
  return {
    url: `postgres://crashkeep@127.0.0.1:${port}/postgres`,
    dir,
    stop: async () => {
      proc.kill("SIGINT"); // fast shutdown
      await proc.exited;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface Collector {
  proc: Subprocess<"ignore", "pipe", "pipe">;
  base: string;
  output(): string;
  stop(signal?: NodeJS.Signals): Promise<number>;
}

/** The compiled binary's `collect`, waited for until it listens and is subscribed. */
export async function startCollector(args: string[]): Promise<Collector> {
  const proc = Bun.spawn([BINARY, "collect", "--listen", "127.0.0.1:0", ...args], { stdout: "pipe", stderr: "pipe", stdin: "ignore" });
  let out = "";
  const pump = async (s: ReadableStream<Uint8Array>) => {
    for await (const chunk of s) out += new TextDecoder().decode(chunk);
  };
  void pump(proc.stdout);
  void pump(proc.stderr);
  const port = await waitFor(`the collector to subscribe (${args.join(" ")})`, () => {
    if (proc.exitCode !== null) throw new Fatal(`collect exited ${proc.exitCode}: ${out}`);
    const m = /listening on http:\/\/127\.0\.0\.1:(\d+)\//.exec(out);
    return m && out.includes("subscribed to") ? Number(m[1]) : undefined;
  });
  return {
    proc,
    base: `http://127.0.0.1:${port}`,
    output: () => out,
    stop: async (signal = "SIGTERM") => {
      proc.kill(signal);
      return await proc.exited;
    },
  };
}

export async function api<T>(base: string, path: string): Promise<T> {
  const res = await fetch(`${base}${path}`);
  if (!res.ok) throw new Error(`${path}: HTTP ${res.status}`);
  return (await res.json()) as T;
}

/**
 * Simulated devices that are the device code itself: one fake device root per
 * device id in MESSAGES (the upload tests' helper), its outbox filled with those
 * messages, then every device's compiled `crashkeep upload --once` run at the
 * same time. Resolves to the number of messages the uploaders say they sent.
 */
export async function uploadAsDevices(broker: string, messages: ReadonlyArray<{ payload: import("../../src/upload/payload.ts").UploadPayload }>): Promise<number> {
  const { device } = await import("./brokers.ts");
  const { enqueue } = await import("../../src/upload/outbox.ts");
  const byDevice = new Map<string, Array<(typeof messages)[number]>>();
  for (const m of messages) byDevice.set(m.payload.device.id, [...(byDevice.get(m.payload.device.id) ?? []), m]);
  const runs = [...byDevice].map(([id, list]) => {
    const d = device({ broker, deviceId: id, inFlight: 8 });
    for (const m of list) enqueue(d.outbox, m.payload, { maxEntries: 100_000, maxBytes: 1 << 30, maxAgeDays: 3650, minFreeBytes: 0 });
    return d;
  });
  const results = await Promise.all(runs.map((d) => d.runAsync(["upload", "--once", "--json"])));
  let sent = 0;
  for (const r of results) {
    if (r.code !== 0) throw new Error(`crashkeep upload --once failed: ${r.out}${r.err}`);
    sent += (JSON.parse(r.out) as { sent: number }).sent;
  }
  return sent;
}

import { hostname } from "node:os";
import { parseArgs, UsageError } from "./args.ts";
import { DEFAULT_LISTEN, loadCollectConfig, type CollectConfig } from "../config/collect.ts";
import { ingest, resymbolize } from "../collect/ingest.ts";
import { openStore } from "../collect/store.ts";
import { serve } from "../collect/server.ts";
import { subscribe } from "../collect/subscriber.ts";
import { debuginfodConfig } from "../debuginfo/debuginfod.ts";
import { FileReadError, readFileBounded } from "../system/read-bounded.ts";

export const help = `Usage: crashkeep collect --broker URL... [--db URL] [--listen HOST:PORT]
                         [--debug-dir DIR]... [--debuginfod URL] [--group NAME]
                         [--token FILE] [--client-id ID] [--topic-prefix P] [--config FILE]
                         [--ca FILE] [--cert FILE --key FILE]
       crashkeep collect --resymbolize [--db URL] [--debug-dir DIR]... [--debuginfod URL]

The fleet side: subscribe to the devices' uploads (<prefix>/+/+, QoS 1,
persistent session), validate and de-duplicate them, symbolize and group the
crash reports, count boots by reboot reason per firmware version, and serve
the web page and JSON API (/api/groups, /api/groups/ID, /api/devices/ID,
/api/versions, /api/health).

  --broker URL      mqtt:// or mqtts:// broker; repeat for failover
  --db URL          sqlite:///path/collect.db (default ./crashkeep-collect.db)
                    or postgres://user@host/db
  --listen H:P      web page and API (default ${DEFAULT_LISTEN}); port 0 picks one
  --group NAME      shared subscription ($share/NAME/...): collectors with the
                    same NAME split the traffic
  --token FILE      require the token in FILE (Authorization: Bearer, or ?token=)
  --ca FILE         PEM CA bundle an mqtts:// broker's certificate must chain to
                    (default: the system's CAs)
  --cert FILE       PEM client certificate, with --key its private key, for
  --key FILE        brokers that require one (mutual TLS: AWS IoT Core,
                    mosquitto's require_certificate)
  --client-id ID    MQTT client id of the persistent session
                    (default crashkeep-collect-<hostname>[-<group>])
  --resymbolize     re-symbolize every stored crash, regroup, and exit
  --config FILE     a collector config: {"collect": {brokers, db, listen,
                    debugDirs, debuginfod, group, clientId, topicPrefix, tokenFile,
                    caFile, certFile, keyFile, maxClockSkewSeconds (600),
                    maxNewGroupsPerDeviceHour (20)}}`;

/** Shortest token accepted: a guessable token is no guard. */
const MIN_TOKEN_CHARS = 16;
/** Longest token file read. */
const MAX_TOKEN_BYTES = 4096;
/** Largest PEM file read (a CA bundle: the system's is about 200 KiB). */
const MAX_PEM_BYTES = 1024 * 1024;

/** Options that may be given more than once, taken out before parseArgs (which keeps the last). */
function takeRepeated(args: readonly string[], names: readonly string[]): { rest: string[]; lists: Map<string, string[]> } {
  const lists = new Map<string, string[]>(names.map((n) => [n, []]));
  const rest: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] as string;
    if (arg === "--") {
      rest.push(...args.slice(i));
      break;
    }
    const name = names.find((n) => arg === `--${n}` || arg.startsWith(`--${n}=`));
    if (name === undefined) {
      rest.push(arg);
      continue;
    }
    const value = arg.includes("=") ? arg.slice(arg.indexOf("=") + 1) : args[++i];
    if (value === undefined) throw new UsageError(`Option "--${name}" needs a value`);
    lists.get(name)?.push(value);
  }
  return { rest, lists };
}

function listenAddress(listen: string): { hostname: string; port: number } {
  const m = /^(\[([0-9a-fA-F:]+)\]|[A-Za-z0-9.-]+):(\d{1,5})$/.exec(listen);
  const port = Number(m?.[3]);
  if (!m || port > 65535) throw new UsageError(`Cannot listen on "${listen}": use HOST:PORT, e.g. 127.0.0.1:8080`);
  return { hostname: m[2] ?? (m[1] as string), port };
}

/** A file the collector is given (token, PEM), bounded: one line naming what it is for when it cannot be read. */
function readSmall(file: string, what: string, maxBytes: number): Buffer {
  try {
    return readFileBounded(file, maxBytes);
  } catch (err) {
    throw new Error(`Cannot read ${what} "${file}": ${err instanceof FileReadError ? err.reason : String(err)}`);
  }
}

function readToken(file: string): string {
  const text = readSmall(file, "token", MAX_TOKEN_BYTES).toString("utf8").trim();
  if (text.length < MIN_TOKEN_CHARS) throw new Error(`Cannot use token "${file}": shorter than ${MIN_TOKEN_CHARS} characters`);
  if (/\s/.test(text)) throw new Error(`Cannot use token "${file}": it holds white space`);
  return text;
}

/** A PEM file for the broker connection (CA bundle, certificate, key): read whole, bounded. */
function readPem(file: string, option: string): Uint8Array {
  const bytes = readSmall(file, option, MAX_PEM_BYTES);
  if (!bytes.includes("-----BEGIN ")) throw new Error(`Cannot use ${option} "${file}": not a PEM file (no "-----BEGIN" line)`);
  return bytes;
}

export async function run(args: string[]): Promise<number> {
  const { rest, lists } = takeRepeated(args, ["broker", "debug-dir"]);
  const { positionals, values, flags } = parseArgs(rest, {
    values: ["config", "db", "listen", "debuginfod", "group", "token", "client-id", "topic-prefix", "ca", "cert", "key"],
    flags: ["resymbolize"],
  });
  if (positionals.length > 0) throw new UsageError(`Unexpected argument "${positionals[0]}"`);
  const file = loadCollectConfig(values.get("config"));
  const brokers = lists.get("broker") ?? [];
  const debugDirs = lists.get("debug-dir") ?? [];
  const c: CollectConfig = {
    ...file,
    brokers: brokers.length > 0 ? brokers : file.brokers,
    debugDirs: debugDirs.length > 0 ? debugDirs : file.debugDirs,
    db: values.get("db") ?? file.db,
    listen: values.get("listen") ?? file.listen,
    topicPrefix: values.get("topic-prefix") ?? file.topicPrefix,
  };
  const debuginfod = values.get("debuginfod") ?? c.debuginfod;
  const group = values.get("group") ?? c.group;
  if (group !== undefined && !/^[A-Za-z0-9_-]{1,64}$/.test(group)) throw new UsageError(`Cannot use group "${group}": 1-64 characters of A-Z a-z 0-9 _ -`);
  if (debuginfod !== undefined) {
    try {
      debuginfodConfig({}, [debuginfod]);
    } catch (err) {
      throw new UsageError(err instanceof Error ? err.message : String(err));
    }
  }
  const tokenFile = values.get("token") ?? c.tokenFile;
  const tlsFiles = { ca: values.get("ca") ?? c.caFile, cert: values.get("cert") ?? c.certFile, key: values.get("key") ?? c.keyFile };
  const symbolize = { debugDirs: c.debugDirs, debuginfod };

  if (flags.has("resymbolize")) {
    const store = await openStore(c.db);
      try {
      const r = await resymbolize(store, symbolize);
      console.log(`re-symbolized ${r.crashes} crash reports; ${r.moved} moved to another group`);
    } finally {
      await store.close();
    }
    return 0;
  }

  if (c.brokers.length === 0) throw new UsageError("Missing --broker URL (or collect.brokers in --config)");
  const listen = listenAddress(c.listen);
  const token = tokenFile !== undefined ? readToken(tokenFile) : undefined;
  if ((tlsFiles.cert === undefined) !== (tlsFiles.key === undefined)) throw new UsageError("--cert and --key go together (a client certificate and its private key)");
  if (Object.values(tlsFiles).some((f) => f !== undefined) && !c.brokers.some((b) => b.startsWith("mqtts:"))) throw new UsageError("--ca, --cert and --key need an mqtts:// broker");
  const tls = {
    ...(tlsFiles.ca !== undefined ? { ca: readPem(tlsFiles.ca, "--ca") } : {}),
    ...(tlsFiles.cert !== undefined ? { cert: readPem(tlsFiles.cert, "--cert") } : {}),
    ...(tlsFiles.key !== undefined ? { key: readPem(tlsFiles.key, "--key") } : {}),
  };
  const clientId = values.get("client-id") ?? c.clientId ?? `crashkeep-collect-${hostname().replace(/[^A-Za-z0-9_.-]/g, "_").slice(0, 32)}${group ? `-${group}` : ""}`;
  const store = await openStore(c.db);
  const counts = { stored: 0, duplicates: 0, rejected: 0 };
  let server: ReturnType<typeof serve>;
  try {
    server = serve(store, { ...listen, token, stats: () => ({ ...counts }) });
  } catch (err) {
    await store.close();
    throw new Error(`Cannot listen on "${c.listen}": ${err instanceof Error ? err.message : String(err)}`);
  }
  const shown = listen.hostname.includes(":") ? `[${listen.hostname}]` : listen.hostname;
  console.log(`collect: database ${store.where} (${store.dialect})`);
  console.log(`collect: listening on http://${shown}:${server.port}/`);

  let finish: (code: number) => void = () => {};
  const done = new Promise<number>((resolve) => (finish = resolve));
  let sub: Awaited<ReturnType<typeof subscribe>>;
  try {
    sub = await subscribe({
      brokers: c.brokers,
      clientId,
      group,
      topicPrefix: c.topicPrefix,
      tls,
      onMessage: async (topic, payload) => {
        const out = await ingest(store, topic, payload, { topicPrefix: c.topicPrefix, symbolize, maxClockSkewSeconds: c.maxClockSkewSeconds, maxNewGroupsPerDeviceHour: c.maxNewGroupsPerDeviceHour });
        if (out.status === "stored") counts.stored++;
        else if (out.status === "duplicate") counts.duplicates++;
        else counts.rejected++;
      },
      log: (line) => console.error(`collect: ${line}`),
      onFatal: (err) => {
        console.error(err.message);
        finish(1);
      },
    });
  } catch (err) {
    await server.stop(true);
    await store.close();
    throw err;
  }
  console.log(`collect: subscribed to "${sub.topic}" (QoS 1, client id "${clientId}")`);
  const stop = (): void => finish(0);
  process.once("SIGTERM", stop);
  process.once("SIGINT", stop);
  const code = await done;
  process.off("SIGTERM", stop);
  process.off("SIGINT", stop);
  await sub.close();
  await server.stop(true);
  await store.close();
  console.log("collect: stopped");
  return code;
}

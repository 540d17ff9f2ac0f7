// The collector's config: its own file (never the device's config), one
// "collect" section with the keys of the command line. Defaults plus a zod
// schema, every problem reported with its key path (STYLE.md rule 10).
import { z } from "zod";
import { ConfigError, describe, parseConfigJson, readConfigText } from "./load.ts";

export const DEFAULT_LISTEN = "127.0.0.1:8080";
/** Seconds a device's clock may run ahead of the collector's before its times are clamped. */
export const DEFAULT_MAX_CLOCK_SKEW_SECONDS = 600;
/** New crash groups per device and hour before its crashes go into the noise group. */
export const DEFAULT_MAX_NEW_GROUPS_PER_DEVICE_HOUR = 20;

const collect = z.strictObject({
  brokers: z.array(z.string().regex(/^mqtts?:\/\/\S+$/, "must be an mqtt:// or mqtts:// URL")).max(16).prefault([]).describe("broker URLs, tried in turn (failover)"),
  db: z.string().min(1).prefault("sqlite://./crashkeep-collect.db").describe("sqlite:///path/collect.db or postgres://user@host/db"),
  listen: z.string().regex(/^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):\d{1,5}$/, "must be HOST:PORT").prefault(DEFAULT_LISTEN).describe("web page and API address; anything beyond localhost must be set explicitly"),
  debugDirs: z.array(z.string().min(1)).max(64).prefault([]).describe("directories of debug files (by build-id) for symbolization"),
  debuginfod: z.string().url().optional().describe("a debuginfod server URL"),
  group: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, "must be 1-64 characters of A-Z a-z 0-9 _ -").optional().describe("shared-subscription group: collectors with the same group split the traffic"),
  clientId: z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/, "must be 1-64 characters of A-Z a-z 0-9 _ . -").optional().describe("MQTT client id of the persistent session; default crashkeep-collect-<hostname>"),
  topicPrefix: z.string().regex(/^[A-Za-z0-9_./-]{1,128}$/, "must be 1-128 characters without MQTT wildcards").prefault("crashkeep/v1").describe("topic prefix the devices publish under"),
  tokenFile: z.string().min(1).optional().describe("file holding the token the pages and API require"),
  caFile: z.string().min(1).optional().describe("PEM CA bundle the mqtts:// broker's certificate must chain to (default: the system's CAs)"),
  certFile: z.string().min(1).optional().describe("PEM client certificate for brokers that require one (mutual TLS: AWS IoT, mosquitto require_certificate)"),
  keyFile: z.string().min(1).optional().describe("PEM private key of certFile"),
  maxClockSkewSeconds: z.number().int().min(0).max(366 * 86400).prefault(DEFAULT_MAX_CLOCK_SKEW_SECONDS)
    .describe("how far ahead of the receive time a device's clock may be: later device times are kept, but lists and sorts use receive time + this"),
  maxNewGroupsPerDeviceHour: z.number().int().min(1).max(100_000).prefault(DEFAULT_MAX_NEW_GROUPS_PER_DEVICE_HOUR)
    .describe("new crash groups one device may open per hour; its crashes beyond go into the noise group"),
});

const file = z.strictObject({ collect: collect.prefault({}) });

export type CollectConfig = z.infer<typeof collect>;

export function parseCollectConfig(input: unknown, path = "(inline)"): CollectConfig {
  const r = file.safeParse(input ?? {});
  if (r.success) return r.data.collect;
  throw new ConfigError(path, r.error.issues.flatMap((i) => describe(i, input)));
}

/** The collector config FILE, or the defaults when there is none. */
export function loadCollectConfig(path: string | undefined): CollectConfig {
  if (path === undefined) return parseCollectConfig({});
  const text = readConfigText(path);
  if (text === undefined) throw new ConfigError(path, ["no such file"]);
  const json = parseConfigJson(path, text);
  return parseCollectConfig(json, path);
}

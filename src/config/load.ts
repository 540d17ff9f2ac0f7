// Loading the config: every problem reported at once, one line each, with its
// key path and the offending value (STYLE.md rules 9, 10).
import type { z } from "zod";
import type { Config } from "./schema.ts";
import { cacheKey, readConfigCache, writeConfigCache } from "./cache.ts";
import { makePaths, type Paths } from "../system/paths.ts";
import { FileReadError, readFileBounded } from "../system/read-bounded.ts";

export const DEFAULT_CONFIG_PATH = "/etc/crashkeep/config.json";

/** Largest config file read: a config is a few KiB; anything bigger is not one. */
const MAX_CONFIG_BYTES = 256 * 1024;

export class ConfigError extends Error {
  override name = "ConfigError";
  constructor(
    readonly file: string,
    readonly problems: readonly string[],
  ) {
    super(problems.map((p) => `Cannot load config "${file}": ${p}`).join("\n"));
  }
}

function show(value: unknown): string {
  const text = JSON.stringify(value);
  if (text === undefined) return String(value);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

function valueAt(input: unknown, path: readonly PropertyKey[]): unknown {
  let v: unknown = input;
  for (const key of path) {
    if (v === null || typeof v !== "object") return undefined;
    v = (v as Record<PropertyKey, unknown>)[key];
  }
  return v;
}

/** One line per problem of a zod issue, named by its key path (also used by the collector's config). */
export function describe(issue: z.core.$ZodIssue, input: unknown): string[] {
  const where = issue.path.map(String).join(".");
  if (issue.code === "unrecognized_keys") {
    return issue.keys.map((k) => `${where ? `${where}.` : ""}${k}: unknown key`);
  }
  const value = valueAt(input, issue.path);
  const got = value === undefined ? "" : `, got ${show(value)}`;
  let message = issue.message;
  if (issue.code === "invalid_type" && value === undefined) message = "is required";
  else if (issue.code === "invalid_union") message = 'must be a number or a string such as "8Mi"';
  else if (issue.code === "invalid_type") message = `must be ${issue.expected}`;
  else if (issue.code === "invalid_value") message = `must be one of ${issue.values.map(show).join(", ")}`;
  else if (issue.code === "too_small") message = `must be at least ${String(issue.minimum)}`;
  else if (issue.code === "too_big") message = `must be at most ${String(issue.maximum)}`;
  return [`${where || "(top level)"}: ${message}${got}`];
}

/** Validate an already-parsed JSON value; throws ConfigError naming every problem. */
export function parseConfig(input: unknown, file = "(inline)"): Config {
  // Loaded on first use: a cached config never pays for zod (see cache.ts).
  const { configSchema } = require("./schema.ts") as typeof import("./schema.ts");
  // jitless: the config is parsed once per process, and zod's fast path would first generate and
  // compile a parser (new Function) for each of the schema's objects: 77M -> 56M instructions for
  // `config show` without the cache (callgrind; docs/BENCHMARKS.md "boot").
  const result = configSchema.safeParse(input ?? {}, { jitless: true });
  if (result.success) return result.data;
  throw new ConfigError(file, result.error.issues.flatMap((i) => describe(i, input)));
}

export interface LoadOptions {
  paths?: Paths;
}

export interface LoadedConfig {
  config: Config;
  /** The file read, or undefined when the default path was absent and defaults apply. */
  file: string | undefined;
}

/**
 * A config file's text (the device's and the collector's): undefined when it
 * does not exist; one ConfigError for anything else (larger than
 * MAX_CONFIG_BYTES, unreadable).
 */
export function readConfigText(path: string): string | undefined {
  try {
    return readFileBounded(path, MAX_CONFIG_BYTES).toString("utf8");
  } catch (err) {
    if (!(err instanceof FileReadError)) throw err;
    if (err.code === "ENOENT") return undefined;
    if (err.code === "EFBIG") throw new ConfigError(path, [`file is ${err.size} bytes, more than the ${MAX_CONFIG_BYTES} a config may be`]);
    throw new ConfigError(path, [err.reason]);
  }
}

/** The file's JSON, or one ConfigError naming where it stops being JSON. */
export function parseConfigJson(path: string, text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new ConfigError(path, [`not valid JSON: ${err instanceof Error ? err.message : String(err)}`]);
  }
}

/**
 * Load FILE, or the default path under the root prefix. A missing default
 * file means "all defaults"; a missing explicit file is an error.
 */
export function loadConfig(file: string | undefined, options: LoadOptions = {}): LoadedConfig {
  const paths = options.paths ?? makePaths();
  const explicit = file ?? (process.env.CRASHKEEP_CONFIG || undefined);
  const path = explicit ?? paths.sys(DEFAULT_CONFIG_PATH);
  const text = readConfigText(path);
  if (text === undefined) {
    if (explicit === undefined) return { config: cachedDefaults(paths), file: undefined };
    throw new ConfigError(path, ["no such file"]);
  }
  const key = cacheKey(path, text);
  const cached = readConfigCache(key, paths);
  if (cached) return { config: cached, file: path };
  const json = parseConfigJson(path, text);
  if (json === null || typeof json !== "object" || Array.isArray(json)) throw new ConfigError(path, ["must be a JSON object"]);
  const config = parseConfig(json, path);
  writeConfigCache(key, config, paths);
  return { config, file: path };
}

/**
 * The defaults when there is no config file, cached like a validated file
 * (as "(defaults)"): running zod on every boot of a device without a config
 * cost about 70M instructions, more than the rest of init (docs/BENCHMARKS.md).
 */
function cachedDefaults(paths: Paths): Config {
  const key = cacheKey("(defaults)", "");
  const cached = readConfigCache(key, paths);
  if (cached) return cached;
  const config = parseConfig({});
  writeConfigCache(key, config, paths);
  return config;
}

/** The device the journal lives on: journal.device, else the stable phram link. */
export function journalDevice(config: Config, paths: Paths = makePaths()): string {
  return paths.sys(config.journal.device ?? `/dev/mtdchar/${config.phram.name}`);
}

export interface LoadedOrDefaults extends LoadedConfig {
  /** The problems with the file, one line each; empty when it loaded. */
  problems: string[];
}

/**
 * The boot hook and the crash path go on with defaults on a bad config and
 * say so (STYLE.md rule 10): every problem line, then the fallback.
 */
export function loadConfigOrDefaults(file: string | undefined, options: LoadOptions = {}): LoadedOrDefaults {
  try {
    return { ...loadConfig(file, options), problems: [] };
  } catch (err) {
    // Anything at all (not only a ConfigError): the boot and crash paths must go on.
    const problems = err instanceof ConfigError ? err.message.split("\n") : [`Cannot load config: ${err instanceof Error ? err.message : String(err)}`];
    return { config: parseConfig({}), file: err instanceof ConfigError ? err.file : file, problems };
  }
}

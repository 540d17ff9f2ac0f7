// A validated config, kept beside the binary's identity: zod (loading the
// library, building the schema, parsing) costs ~30 ms natively and 0.6 s in
// the QEMU guest under TCG, on every boot and every crash. A config file
// that this very binary already validated is taken from the cache instead.
// Only the compiled binary caches (its identity changes with each build);
// `bun src/main.ts` always validates.
import { mkdirSync, readFileSync, renameSync, statSync, unlinkSync, writeFileSync } from "node:fs";
import { removeStaleTemps, tempName } from "../archive/temp-files.ts";
import type { Config } from "./schema.ts";
import type { Paths } from "../system/paths.ts";

/** Fixed, not from the config: the cache must be found before the config is read. */
export const CONFIG_CACHE_PATH = "/var/cache/crashkeep/config.json";
/** A cache file larger than this is not ours. */
const MAX_CACHE_BYTES = 256 * 1024;

/** The running compiled binary (path, size, mtime, inode), or undefined when running from source. */
function binaryIdentity(): string | undefined {
  if (!Bun.main.startsWith("/$bunfs/")) return undefined;
  try {
    const st = statSync(process.execPath);
    return `${process.execPath}:${st.size}:${st.mtimeMs}:${st.ino}`;
  } catch {
    return undefined;
  }
}

export function cacheKey(file: string, text: string, identity = binaryIdentity()): string | undefined {
  if (identity === undefined) return undefined;
  return `${identity}|${file}|${text.length}|${Bun.hash(text).toString(16)}`;
}

export function readConfigCache(key: string | undefined, paths: Paths): Config | undefined {
  if (key === undefined) return undefined;
  try {
    const path = paths.sys(CONFIG_CACHE_PATH);
    if (statSync(path).size > MAX_CACHE_BYTES) return undefined;
    const data = JSON.parse(readFileSync(path, "utf8")) as { key?: unknown; config?: unknown };
    return data.key === key && data.config !== null && typeof data.config === "object" ? (data.config as Config) : undefined;
  } catch {
    return undefined;
  }
}

/** Best effort: a read-only or full /var just means the next run validates again. */
export function writeConfigCache(key: string | undefined, config: Config, paths: Paths): void {
  if (key === undefined) return;
  let tmp: string | undefined;
  try {
    const path = paths.sys(CONFIG_CACHE_PATH);
    const dir = path.slice(0, path.lastIndexOf("/"));
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const prefix = `${path.slice(dir.length + 1)}.tmp`;
    removeStaleTemps(dir, prefix);
    tmp = `${dir}/${tempName(prefix)}`;
    writeFileSync(tmp, JSON.stringify({ key, config }), { mode: 0o600 });
    renameSync(tmp, path);
  } catch {
    // no cache this time; no temp file left either
    if (tmp !== undefined) {
      try {
        unlinkSync(tmp);
      } catch {
        // never created, or renamed already
      }
    }
  }
}

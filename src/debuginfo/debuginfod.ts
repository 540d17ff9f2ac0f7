// A debuginfod client: GET <url>/buildid/<id>/debuginfo (or /executable) from
// each server in turn, into a cache laid out like elfutils' own
// (<cache>/<build-id>/debuginfo), so that elfutils tools, gdb and crashkeep
// share it. Configured as elfutils is (debuginfod-client-config(7),
// debuginfod_find_debuginfo(3)): DEBUGINFOD_URLS (space-separated),
// DEBUGINFOD_CACHE_PATH (else $XDG_CACHE_HOME/debuginfod_client, else
// ~/.cache/debuginfod_client), DEBUGINFOD_TIMEOUT (seconds), DEBUGINFOD_MAXSIZE
// (bytes). Nothing is fetched unless a URL is configured.
// Nothing enters the cache unchecked: the body is streamed into a temporary
// file beside the target (the size limit counted while it arrives, whatever
// Content-Length says or omits), that file must be an ELF file with the
// build-id asked for, and only then is it renamed into place; on any failure
// the temporary file is removed. A cached file is used only when it has the
// build-id too (a cache shared with elfutils, or written by an older crashkeep,
// may hold anything).
import { closeSync, existsSync, mkdirSync, openSync, renameSync, rmSync, statSync, writeSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { DebugElf } from "./debug-elf.ts";
import { fileSource } from "./source.ts";

/** Per request (connect + whole body), unless DEBUGINFOD_TIMEOUT says otherwise: a report must not wait minutes for a server. */
export const DEFAULT_TIMEOUT_SECONDS = 10;
/** Largest file downloaded, unless DEBUGINFOD_MAXSIZE says otherwise: a debug file beyond 1 GiB is not a device's. */
export const DEFAULT_MAX_DOWNLOAD_BYTES = 1024 * 1024 * 1024;

export type DebuginfodKind = "debuginfo" | "executable";

export interface DebuginfodConfig {
  urls: string[];
  cacheDir: string;
  timeoutMs: number;
  maxBytes: number;
}

export type FetchResult = { path: string; cached: boolean } | { path: undefined; problem: string; notFound: boolean };

/**
 * The client configuration: explicit URLs (--debuginfod) win over
 * DEBUGINFOD_URLS; undefined when neither names a server.
 */
export function debuginfodConfig(env: Readonly<Record<string, string | undefined>>, explicitUrls: readonly string[] = []): DebuginfodConfig | undefined {
  const urls = (explicitUrls.length > 0 ? [...explicitUrls] : (env.DEBUGINFOD_URLS ?? "").split(/\s+/)).filter((u) => u !== "");
  if (urls.length === 0) return undefined;
  for (const u of urls) {
    let parsed: URL;
    try {
      parsed = new URL(u);
    } catch {
      throw new Error(`Cannot use debuginfod server "${u}": not a URL`);
    }
    if (parsed.protocol !== "http:" && parsed.protocol !== "https:") throw new Error(`Cannot use debuginfod server "${u}": only http and https are supported`);
  }
  const cacheDir = env.DEBUGINFOD_CACHE_PATH || join(env.XDG_CACHE_HOME || join(env.HOME || homedir(), ".cache"), "debuginfod_client");
  const seconds = env.DEBUGINFOD_TIMEOUT === undefined ? DEFAULT_TIMEOUT_SECONDS : Number(env.DEBUGINFOD_TIMEOUT);
  if (!Number.isFinite(seconds) || seconds <= 0) throw new Error(`Cannot use DEBUGINFOD_TIMEOUT "${env.DEBUGINFOD_TIMEOUT}": not a positive number of seconds`);
  const max = env.DEBUGINFOD_MAXSIZE === undefined || env.DEBUGINFOD_MAXSIZE === "0" ? DEFAULT_MAX_DOWNLOAD_BYTES : Number(env.DEBUGINFOD_MAXSIZE);
  if (!Number.isSafeInteger(max) || max <= 0) throw new Error(`Cannot use DEBUGINFOD_MAXSIZE "${env.DEBUGINFOD_MAXSIZE}": not a positive number of bytes`);
  return { urls, cacheDir, timeoutMs: seconds * 1000, maxBytes: max };
}

/** The cached file, or a download from the first server that has it. Never throws. */
export async function fetchFromDebuginfod(cfg: DebuginfodConfig, want: { buildId: string; kind: DebuginfodKind }): Promise<FetchResult> {
  const { buildId, kind } = want;
  if (!/^[0-9a-f]{2,128}$/.test(buildId)) return { path: undefined, problem: `Cannot fetch ${kind} "${buildId}": not a build-id`, notFound: true };
  const dir = join(cfg.cacheDir, buildId);
  const target = join(dir, kind);
  try {
    // elfutils marks a miss with an empty file: not a hit
    if (statSync(target).size > 0 && buildIdProblem(target, buildId) === undefined) return { path: target, cached: true };
  } catch {
    // not cached
  }
  const problems: string[] = [];
  let allNotFound = true;
  for (const base of cfg.urls) {
    const url = `${base.replace(/\/+$/, "")}/buildid/${buildId}/${kind}`;
    const r = await download(url, { dir, target, buildId }, cfg);
    if (r === undefined) return { path: target, cached: false };
    if (r.status !== 404) allNotFound = false;
    problems.push(r.message);
  }
  return { path: undefined, problem: problems.join("; "), notFound: allNotFound };
}

async function download(url: string, to: { dir: string; target: string; buildId: string }, cfg: DebuginfodConfig): Promise<{ status: number; message: string } | undefined> {
  const { dir, target } = to;
  const fail = (status: number, reason: string): { status: number; message: string } => ({ status, message: `Cannot fetch "${url}": ${reason}` });
  let res: Response;
  const signal = AbortSignal.timeout(cfg.timeoutMs);
  try {
    res = await fetch(url, { signal, redirect: "follow" });
  } catch (err) {
    return fail(0, networkReason(err, cfg.timeoutMs));
  }
  if (res.status === 404) {
    await res.body?.cancel().catch(() => undefined);
    return fail(404, "not found (404)");
  }
  if (!res.ok || !res.body) {
    await res.body?.cancel().catch(() => undefined);
    return fail(res.status, `the server answered ${res.status} ${res.statusText}`.trimEnd());
  }
  const length = Number(res.headers.get("content-length") ?? "NaN");
  if (Number.isFinite(length) && length > cfg.maxBytes) {
    await res.body.cancel().catch(() => undefined);
    return fail(res.status, `${length} bytes is more than the limit of ${cfg.maxBytes} (DEBUGINFOD_MAXSIZE)`);
  }
  try {
    mkdirSync(dir, { recursive: true, mode: 0o755 });
  } catch (err) {
    return fail(0, `cannot create the cache directory "${dir}" (${(err as { code?: string }).code ?? String(err)})`);
  }
  // temp + rename: a reader of the cache never sees half a file (elfutils does the same)
  const tmp = join(dir, `.${target.slice(dir.length + 1)}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`);
  let fd: number | undefined;
  try {
    fd = openSync(tmp, "wx", 0o644);
    let total = 0;
    const reader = res.body.getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      total += value.length;
      if (total > cfg.maxBytes) {
        await reader.cancel().catch(() => undefined);
        throw new Error(`more than the limit of ${cfg.maxBytes} bytes (DEBUGINFOD_MAXSIZE)`);
      }
      let off = 0;
      while (off < value.length) off += writeSync(fd, value, off, value.length - off);
    }
    if (total === 0) throw new Error("the server sent an empty file");
    closeSync(fd);
    fd = undefined;
    const refused = buildIdProblem(tmp, to.buildId);
    if (refused !== undefined) throw new Error(refused);
    renameSync(tmp, target);
    return undefined;
  } catch (err) {
    return fail(0, err instanceof Error && !isAbort(err) ? err.message : networkReason(err, cfg.timeoutMs));
  } finally {
    if (fd !== undefined) closeSync(fd);
    if (existsSync(tmp)) rmSync(tmp, { force: true });
  }
}

/** Why the file at path is not the one with this build-id (not ELF, another build-id, none), or undefined when it is. */
function buildIdProblem(path: string, buildId: string): string | undefined {
  let src;
  try {
    src = fileSource(path);
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  }
  try {
    const id = new DebugElf(src).buildId;
    return id === buildId ? undefined : `the file has build-id ${id ?? "(none)"}, not the one asked for`;
  } catch (err) {
    return `the file is not an ELF file the reader accepts (${err instanceof Error ? err.message.replace(/^Cannot /, "cannot ") : String(err)})`;
  } finally {
    src.close?.();
  }
}

function isAbort(err: unknown): boolean {
  return err instanceof Error && (err.name === "TimeoutError" || err.name === "AbortError");
}

function networkReason(err: unknown, timeoutMs: number): string {
  if (isAbort(err)) return `no answer within ${timeoutMs / 1000} s (DEBUGINFOD_TIMEOUT)`;
  const code = (err as { code?: string }).code;
  if (code === "ConnectionRefused" || code === "ECONNREFUSED") return "connection refused (is the server running?)";
  if (err instanceof Error) return err.message || err.name;
  return String(err);
}

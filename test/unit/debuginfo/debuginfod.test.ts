// The debuginfod client against a small server in the test (the real
// debuginfod is in test/integration/): elfutils' URL and cache layout, the
// cache used before the network, 404 → the next server, the size limit, the
// timeout, and no half-written file in the cache whatever happens.
import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { debuginfodConfig, fetchFromDebuginfod, type DebuginfodConfig } from "../../../src/debuginfo/debuginfod.ts";

const ID = "76cb301f205773f5004d86b34f9a424127126cfd";
const BODY = new TextEncoder().encode("\x7fELF pretend debug file\n".repeat(100));
const requests: string[] = [];
const server = Bun.serve({
  port: 0,
  fetch(req) {
    const path = new URL(req.url).pathname;
    requests.push(path);
    if (path === `/buildid/${ID}/debuginfo`) return new Response(BODY);
    if (path === `/big/buildid/${ID}/debuginfo`) return new Response(new Uint8Array(4096));
    if (path === `/slow/buildid/${ID}/debuginfo`) return new Promise<Response>(() => undefined); // never answers
    return new Response("not found", { status: 404 });
  },
});
const base = `http://127.0.0.1:${server.port}`;
const tmp = mkdtempSync(join(tmpdir(), "crashkeep-debuginfod-"));
afterAll(() => {
  server.stop(true);
  rmSync(tmp, { recursive: true, force: true });
});

function cfg(name: string, urls: string[], extra: Partial<DebuginfodConfig> = {}): DebuginfodConfig {
  return { urls, cacheDir: join(tmp, name), timeoutMs: 5000, maxBytes: 1 << 20, ...extra };
}

describe("configuration as elfutils", () => {
  test("DEBUGINFOD_URLS is space-separated; --debuginfod wins; none: undefined", () => {
    expect(debuginfodConfig({})).toBeUndefined();
    expect(debuginfodConfig({ DEBUGINFOD_URLS: "  " })).toBeUndefined();
    expect(debuginfodConfig({ DEBUGINFOD_URLS: "http://a:1 https://b/x", HOME: "/h" })?.urls).toEqual(["http://a:1", "https://b/x"]);
    expect(debuginfodConfig({ DEBUGINFOD_URLS: "http://a:1" }, ["http://c:2"])?.urls).toEqual(["http://c:2"]);
  });
  test("cache: DEBUGINFOD_CACHE_PATH, else $XDG_CACHE_HOME/debuginfod_client, else ~/.cache/debuginfod_client", () => {
    const u = { DEBUGINFOD_URLS: "http://a" };
    expect(debuginfodConfig({ ...u, DEBUGINFOD_CACHE_PATH: "/c", XDG_CACHE_HOME: "/x" })?.cacheDir).toBe("/c");
    expect(debuginfodConfig({ ...u, XDG_CACHE_HOME: "/x", HOME: "/h" })?.cacheDir).toBe("/x/debuginfod_client");
    expect(debuginfodConfig({ ...u, HOME: "/h" })?.cacheDir).toBe("/h/.cache/debuginfod_client");
  });
  test("DEBUGINFOD_TIMEOUT (seconds) and DEBUGINFOD_MAXSIZE (bytes)", () => {
    const c = debuginfodConfig({ DEBUGINFOD_URLS: "http://a", DEBUGINFOD_TIMEOUT: "2.5", DEBUGINFOD_MAXSIZE: "1000" });
    expect(c).toMatchObject({ timeoutMs: 2500, maxBytes: 1000 });
  });
  test.each([
    [{ DEBUGINFOD_URLS: "ftp://x" }, /only http and https/],
    [{ DEBUGINFOD_URLS: "not a url" }, /Cannot use debuginfod server "not": not a URL/],
    [{ DEBUGINFOD_URLS: "http://a", DEBUGINFOD_TIMEOUT: "soon" }, /DEBUGINFOD_TIMEOUT "soon"/],
  ])("refused: %p", (env, message) => {
    expect(() => debuginfodConfig(env)).toThrow(message);
  });
});

describe("fetching", () => {
  test("GET /buildid/<id>/debuginfo into <cache>/<id>/debuginfo; the second time from the cache", async () => {
    const c = cfg("plain", [base]);
    requests.length = 0;
    const first = await fetchFromDebuginfod(c, { buildId: ID, kind: "debuginfo" });
    expect(first).toEqual({ path: join(c.cacheDir, ID, "debuginfo"), cached: false });
    expect(new Uint8Array(readFileSync(join(c.cacheDir, ID, "debuginfo")))).toEqual(BODY);
    expect(await fetchFromDebuginfod(c, { buildId: ID, kind: "debuginfo" })).toEqual({ path: join(c.cacheDir, ID, "debuginfo"), cached: true });
    expect(requests).toEqual([`/buildid/${ID}/debuginfo`]);
  });
  test("404 on the first server: the next one", async () => {
    const c = cfg("second", [`${base}/nothing`, base]);
    expect((await fetchFromDebuginfod(c, { buildId: ID, kind: "debuginfo" })).path).toBe(join(c.cacheDir, ID, "debuginfo"));
  });
  test("404 everywhere: not found, nothing cached", async () => {
    const c = cfg("missing", [base]);
    const r = await fetchFromDebuginfod(c, { buildId: ID, kind: "executable" });
    expect(r).toMatchObject({ path: undefined, notFound: true });
    expect(existsSync(join(c.cacheDir, ID))).toBe(false);
  });
  test("more than the size limit: refused, nothing left in the cache", async () => {
    const c = cfg("big", [`${base}/big`], { maxBytes: 1000 });
    const r = await fetchFromDebuginfod(c, { buildId: ID, kind: "debuginfo" });
    expect(r).toMatchObject({ path: undefined, notFound: false });
    expect(r.path === undefined && r.problem).toMatch(/more than the limit of 1000/);
    expect(existsSync(join(c.cacheDir, ID)) ? readdirSync(join(c.cacheDir, ID)) : []).toEqual([]);
  });
  test("a server that never answers: the timeout", async () => {
    const c = cfg("slow", [`${base}/slow`], { timeoutMs: 300 });
    const t0 = performance.now();
    const r = await fetchFromDebuginfod(c, { buildId: ID, kind: "debuginfo" });
    expect(performance.now() - t0).toBeLessThan(5000);
    expect(r.path === undefined && r.problem).toBe(`Cannot fetch "${base}/slow/buildid/${ID}/debuginfo": no answer within 0.3 s (DEBUGINFOD_TIMEOUT)`);
  });
  test("nothing listening: connection refused", async () => {
    const dead = Bun.serve({ port: 0, fetch: () => new Response("") });
    const url = `http://127.0.0.1:${dead.port}`;
    dead.stop(true);
    const r = await fetchFromDebuginfod(cfg("dead", [url]), { buildId: ID, kind: "debuginfo" });
    expect(r.path === undefined && r.problem).toMatch(/^Cannot fetch ".*": connection refused/);
  });
  test("a build-id that is not hex never reaches the network (no path tricks)", async () => {
    requests.length = 0;
    const r = await fetchFromDebuginfod(cfg("bad", [base]), { buildId: "../../etc/passwd", kind: "debuginfo" });
    expect(r.path).toBeUndefined();
    expect(requests).toEqual([]);
  });
  test("an empty cache file (elfutils' negative-cache marker) is not a hit", async () => {
    const c = cfg("negative", [base]);
    mkdirSync(join(c.cacheDir, ID), { recursive: true });
    writeFileSync(join(c.cacheDir, ID, "debuginfo"), "");
    expect(await fetchFromDebuginfod(c, { buildId: ID, kind: "debuginfo" })).toMatchObject({ cached: false });
  });
});

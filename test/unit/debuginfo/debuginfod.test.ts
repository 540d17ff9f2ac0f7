// The debuginfod client against a small server in the test (the real
// debuginfod is in test/integration/): elfutils' URL and cache layout, the
// cache used before the network, 404 → the next server, the size limit (with
// and without Content-Length), the timeout (before the headers and in the
// middle of the body), a file with another build-id and an HTML page served
// with 200: nothing unchecked and no half-written file in the cache whatever
// happens. The files served are real ELF fixtures (test/fixtures/debuginfo/,
// their build-ids as eu-readelf -n prints them).
import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { debuginfodConfig, fetchFromDebuginfod, type DebuginfodConfig } from "../../../src/debuginfo/debuginfod.ts";

const FIXTURES = join(import.meta.dir, "../../fixtures/debuginfo");
/** gcc5.elf's build-id (eu-readelf -n test/fixtures/debuginfo/gcc5.elf). */
const ID = "cb0b52fe2d32f044a3eaabe264c0a20b611995c9";
const BODY = new Uint8Array(readFileSync(join(FIXTURES, "gcc5.elf")));
/** clang5.elf: a real debug file, build-id f4539b45…, served under ID by a confused or hostile server. */
const OTHER = new Uint8Array(readFileSync(join(FIXTURES, "clang5.elf")));
const HTML = "<!DOCTYPE html><html><body><h1>Welcome to our proxy</h1><p>Please log in.</p></body></html>\n";
const requests: string[] = [];

/** The body in pieces, with no Content-Length (Transfer-Encoding: chunked); then, if stall, nothing more, ever. */
function chunked(bytes: Uint8Array, options: { piece: number; stall?: boolean }): Response {
  let at = 0;
  const stream = new ReadableStream<Uint8Array>({
    async pull(c) {
      if (at >= bytes.length) return options.stall ? new Promise<void>(() => undefined) : c.close();
      c.enqueue(bytes.slice(at, at + options.piece));
      at += options.piece;
      await Bun.sleep(1);
    },
  });
  return new Response(stream, { headers: { "content-type": "application/octet-stream" } });
}

const server = Bun.serve({
  port: 0,
  fetch(req) {
    const path = new URL(req.url).pathname;
    requests.push(path);
    if (path === `/buildid/${ID}/debuginfo`) return new Response(BODY);
    if (path === `/big/buildid/${ID}/debuginfo`) return new Response(BODY);
    if (path === `/chunked/buildid/${ID}/debuginfo`) return chunked(BODY, { piece: 1024 });
    if (path === `/slow/buildid/${ID}/debuginfo`) return new Promise<Response>(() => undefined); // never answers
    if (path === `/stall/buildid/${ID}/debuginfo`) return chunked(BODY.subarray(0, 4096), { piece: 1024, stall: true });
    if (path === `/other/buildid/${ID}/debuginfo`) return new Response(OTHER);
    if (path === `/html/buildid/${ID}/debuginfo`) return new Response(HTML, { headers: { "content-type": "text/html" } });
    return new Response("not found", { status: 404 });
  },
});
const base = `http://127.0.0.1:${server.port}`;
const tmp = mkdtempSync(join(tmpdir(), "crashkeep-debuginfod-"));
afterAll(() => {
  server.stop(true);
  rmSync(tmp, { recursive: true, force: true });
});

/** What a fetch left in <cache>/<id>/ (a temporary file would show here). */
function left(c: DebuginfodConfig): string[] {
  const d = join(c.cacheDir, ID);
  return existsSync(d) ? readdirSync(d).sort() : [];
}

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
  test("more than the size limit, said by Content-Length: refused, nothing left in the cache", async () => {
    const c = cfg("big", [`${base}/big`], { maxBytes: 1000 });
    const r = await fetchFromDebuginfod(c, { buildId: ID, kind: "debuginfo" });
    expect(r).toMatchObject({ path: undefined, notFound: false });
    expect(r.path === undefined && r.problem).toBe(`Cannot fetch "${base}/big/buildid/${ID}/debuginfo": ${BODY.length} bytes is more than the limit of 1000 (DEBUGINFOD_MAXSIZE)`);
    expect(left(c)).toEqual([]);
  });
  test("more than the size limit, no Content-Length (chunked): counted while streaming, refused, no partial file", async () => {
    const c = cfg("chunked-big", [`${base}/chunked`], { maxBytes: 5000 });
    const probe = await fetch(`${base}/chunked/buildid/${ID}/debuginfo`);
    expect([probe.headers.get("content-length"), probe.headers.get("transfer-encoding")]).toEqual([null, "chunked"]);
    await probe.arrayBuffer();
    const r = await fetchFromDebuginfod(c, { buildId: ID, kind: "debuginfo" });
    expect(r.path === undefined && r.problem).toBe(`Cannot fetch "${base}/chunked/buildid/${ID}/debuginfo": more than the limit of 5000 bytes (DEBUGINFOD_MAXSIZE)`);
    expect(left(c)).toEqual([]);
  });
  test("chunked, one byte over the limit: refused; exactly at it: taken", async () => {
    const over = cfg("chunked-over", [`${base}/chunked`], { maxBytes: BODY.length - 1 });
    expect((await fetchFromDebuginfod(over, { buildId: ID, kind: "debuginfo" })).path).toBeUndefined();
    expect(left(over)).toEqual([]);
    const at = cfg("chunked-at", [`${base}/chunked`], { maxBytes: BODY.length });
    expect((await fetchFromDebuginfod(at, { buildId: ID, kind: "debuginfo" })).path).toBe(join(at.cacheDir, ID, "debuginfo"));
  });
  test("chunked, within the limit: the whole file, byte for byte", async () => {
    const c = cfg("chunked", [`${base}/chunked`]);
    expect(await fetchFromDebuginfod(c, { buildId: ID, kind: "debuginfo" })).toEqual({ path: join(c.cacheDir, ID, "debuginfo"), cached: false });
    expect(new Uint8Array(readFileSync(join(c.cacheDir, ID, "debuginfo")))).toEqual(BODY);
    expect(left(c)).toEqual(["debuginfo"]);
  });
  test("a server that never answers: the timeout", async () => {
    const c = cfg("slow", [`${base}/slow`], { timeoutMs: 300 });
    const r = await fetchFromDebuginfod(c, { buildId: ID, kind: "debuginfo" });
    expect(r.path === undefined && r.problem).toBe(`Cannot fetch "${base}/slow/buildid/${ID}/debuginfo": no answer within 0.3 s (DEBUGINFOD_TIMEOUT)`);
    expect(existsSync(join(c.cacheDir, ID))).toBe(false);
  });
  test("a body that stops half-way: the timeout, no partial file", async () => {
    const c = cfg("stall", [`${base}/stall`], { timeoutMs: 500 });
    const r = await fetchFromDebuginfod(c, { buildId: ID, kind: "debuginfo" });
    expect(r.path === undefined && r.problem).toBe(`Cannot fetch "${base}/stall/buildid/${ID}/debuginfo": no answer within 0.5 s (DEBUGINFOD_TIMEOUT)`);
    expect(left(c)).toEqual([]);
  });
  test("a file with another build-id: refused before it reaches the cache, asked again next time", async () => {
    const c = cfg("other", [`${base}/other`]);
    requests.length = 0;
    const r = await fetchFromDebuginfod(c, { buildId: ID, kind: "debuginfo" });
    expect(r).toMatchObject({ path: undefined, notFound: false });
    expect(r.path === undefined && r.problem).toBe(`Cannot fetch "${base}/other/buildid/${ID}/debuginfo": the file has build-id f4539b45b747315e5e3ae20b7eb4c5970d954e89, not the one asked for`);
    expect(left(c)).toEqual([]);
    expect((await fetchFromDebuginfod(c, { buildId: ID, kind: "debuginfo" })).path).toBeUndefined();
    expect(requests).toEqual([`/other/buildid/${ID}/debuginfo`, `/other/buildid/${ID}/debuginfo`]);
  });
  test("an HTML page served with 200 (a captive portal, a proxy's login page): refused, nothing cached, the next server asked", async () => {
    const c = cfg("html", [`${base}/html`, base]);
    const r = await fetchFromDebuginfod(c, { buildId: ID, kind: "debuginfo" });
    expect(r).toEqual({ path: join(c.cacheDir, ID, "debuginfo"), cached: false });
    expect(new Uint8Array(readFileSync(join(c.cacheDir, ID, "debuginfo")))).toEqual(BODY);
    const only = cfg("html-only", [`${base}/html`]);
    const refused = await fetchFromDebuginfod(only, { buildId: ID, kind: "debuginfo" });
    expect(refused.path === undefined && refused.problem).toBe(`Cannot fetch "${base}/html/buildid/${ID}/debuginfo": the file is not an ELF file the reader accepts (cannot read ELF header: bad magic, not an ELF file)`);
    expect(left(only)).toEqual([]);
  });
  test("a cached file with another build-id (an older crashkeep's, a shared cache's) is not a hit: fetched again and replaced", async () => {
    const c = cfg("stale", [base]);
    mkdirSync(join(c.cacheDir, ID), { recursive: true });
    writeFileSync(join(c.cacheDir, ID, "debuginfo"), OTHER);
    expect(await fetchFromDebuginfod(c, { buildId: ID, kind: "debuginfo" })).toEqual({ path: join(c.cacheDir, ID, "debuginfo"), cached: false });
    expect(new Uint8Array(readFileSync(join(c.cacheDir, ID, "debuginfo")))).toEqual(BODY);
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

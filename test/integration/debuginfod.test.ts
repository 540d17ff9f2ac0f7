// `crashkeep symbolize` (the compiled binary, out/crashkeep) against Debian's
// real debuginfod, started here over a directory of the fixtures' debug files
// (debuginfod -F DIR), and with the server stopped or never answering: the
// report is still printed, the warning says why. Needs `make build` and the
// debuginfod package (Makefile APT_PACKAGES).
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { debugFixtures } from "../unit/debuginfo/symbolize-fixtures.ts";

const BIN = join(import.meta.dir, "../../out/crashkeep");
/** How long the server may take to start and scan the fixtures (it scans a few files: seconds). */
const SERVER_READY_MS = 60_000;
const fx = debugFixtures();
const DIR = "/opt/crashkeep-fixtures/symbolize";
const tmp = mkdtempSync(join(tmpdir(), "crashkeep-debuginfod-it-"));
/** The sysroot of every symbolize here: no module or debug file of the machine's own is looked at. */
const EMPTY = join(tmp, "empty");
mkdirSync(EMPTY);
let server: ReturnType<typeof Bun.spawn> | undefined;
let url = "";

function crashkeep(args: string[], env: Record<string, string> = {}): { code: number; out: string; err: string; ms: number } {
  const t0 = performance.now();
  const r = Bun.spawnSync([BIN, ...args], { env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: tmp, ...env } });
  return { code: r.exitCode ?? -1, out: r.stdout.toString(), err: r.stderr.toString(), ms: performance.now() - t0 };
}

async function freePort(): Promise<number> {
  const s = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const port = s.port;
  s.stop(true);
  return port;
}

function buildIdOf(path: string): string {
  const r = Bun.spawnSync(["eu-readelf", "-n", path]);
  return /Build ID: ([0-9a-f]+)/.exec(r.stdout.toString())?.[1] ?? "";
}

// the device's reports: the journal's compact form, from a sysroot of stripped modules only
const reports: Record<string, string> = {};

beforeAll(async () => {
  expect(existsSync(BIN)).toBe(true);
  const served = join(tmp, "served");
  mkdirSync(served);
  // what the build host publishes: our debug files, libc6-dbg's libc, and libstdc++ (an executable, no debug file)
  for (const f of readdirSync(join(fx.debugDir, ".build-id"), { recursive: true }) as string[]) {
    if (f.endsWith(".debug")) copyFileSync(join(fx.debugDir, ".build-id", f), join(served, f.replace(/\//g, "-")));
  }
  copyFileSync(join(fx.sysroot, DIR, "libcodec.so.debug"), join(served, "libcodec.so.debug"));
  copyFileSync(join(fx.sysroot, DIR, ".debug/codec.debug"), join(served, "codec.debug"));
  const libc = fx.libcBuildId;
  copyFileSync(join(fx.glibcDebugDir, ".build-id", libc.slice(0, 2), `${libc.slice(2)}.debug`), join(served, "libc.debug"));
  copyFileSync(join(fx.sysroot, "usr/lib/x86_64-linux-gnu/libstdc++.so.6.0.30"), join(served, "libstdc++.so.6.0.30"));

  // the device: its stripped modules, no debug file anywhere
  const stripped = join(tmp, "stripped-sysroot");
  for (const f of readdirSync(fx.sysroot, { recursive: true }) as string[]) {
    const src = join(fx.sysroot, f);
    if (f.endsWith(".debug") || f.includes("/.debug/") || f.endsWith(".stamp") || !statSync(src).isFile()) continue;
    mkdirSync(dirname(join(stripped, f)), { recursive: true });
    copyFileSync(src, join(stripped, f));
  }
  for (const c of fx.cores) {
    const r = Bun.spawnSync([BIN, "inspect", c.core, "--sysroot", stripped, "--compact"]);
    reports[c.name] = join(tmp, `${c.name}.compact.json`);
    writeFileSync(reports[c.name] as string, r.stdout);
  }

  const port = await freePort();
  url = `http://127.0.0.1:${port}`;
  server = Bun.spawn(["debuginfod", "-F", served, "-p", String(port), "-d", join(tmp, "db.sqlite"), "-t", "0", "-g", "0"], { stdout: "ignore", stderr: "ignore" });
  // ready when every file is served (the scan is asynchronous, in no set order); bounded
  const wants = readdirSync(served).map((f) => `${url}/buildid/${buildIdOf(join(served, f))}/${f.endsWith(".debug") ? "debuginfo" : "executable"}`);
  const deadline = performance.now() + SERVER_READY_MS;
  for (const want of wants) {
    for (;;) {
      const ok = await fetch(want, { signal: AbortSignal.timeout(2000) }).then(async (r) => (await r.arrayBuffer(), r.ok), () => false);
      if (ok) break;
      if (performance.now() > deadline || server.exitCode !== null) throw new Error(`debuginfod did not serve ${want} within ${SERVER_READY_MS} ms`);
      await Bun.sleep(100);
    }
  }
}, SERVER_READY_MS + 30_000);

afterAll(() => {
  server?.kill();
  rmSync(tmp, { recursive: true, force: true });
});

describe("debuginfod running", () => {
  test("--debuginfod URL: names, file:line and inlined frames of a compact report; elfutils' cache", () => {
    const cache = join(tmp, "cache-1");
    const r = crashkeep(["symbolize", reports.records as string, "--debuginfod", url, "--json", "--sysroot", EMPTY], { DEBUGINFOD_CACHE_PATH: cache });
    expect(r.err).toBe("");
    expect(r.code).toBe(0);
    const j = JSON.parse(r.out);
    const frames = j.threads[0].frames;
    expect(frames.slice(0, 5).map((f: { function: string; line: number; inlined: boolean }) => [f.function, f.line, f.inlined])).toEqual([
      ["check_invariant", 17, true], ["process_record", 21, true], ["run_batch", 26, false], ["start", 33, true], ["main", 38, false],
    ]);
    const mod = j.modules.find((m: { path: string }) => m.path === `${DIR}/records`);
    expect(mod).toMatchObject({ debugSource: "debuginfod", debugFile: join(cache, mod.buildId, "debuginfo") });
    expect(existsSync(join(cache, mod.buildId, "debuginfo"))).toBe(true);
  });
  test("DEBUGINFOD_URLS: glibc frames named from the served libc debug file; libstdc++ from /executable", () => {
    const cache = join(tmp, "cache-2");
    // an empty sysroot: no module file here, so the executables come from the server too
    const r = crashkeep(["symbolize", reports.terminate as string, "--sysroot", EMPTY, "--json"], { DEBUGINFOD_URLS: `${url} `, DEBUGINFOD_CACHE_PATH: cache });
    expect(r.code).toBe(0);
    const j = JSON.parse(r.out);
    expect(j.threads[0].frames[0]).toMatchObject({ function: "__pthread_kill_implementation", line: 44 });
    const libstdcxx = j.modules.find((m: { path: string }) => m.path.includes("libstdc++"));
    expect(existsSync(join(cache, libstdcxx.buildId, "executable"))).toBe(true);
    expect(j.threads[0].frames.map((f: { function: string | null }) => f.function)).toContain("__gxx_personality_v0");
  });
  test("the text form: function (file:line) per frame", () => {
    const r = crashkeep(["symbolize", reports.codec as string, "--debuginfod", url, "--sysroot", EMPTY], { DEBUGINFOD_CACHE_PATH: join(tmp, "cache-3") });
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/#04 pc 0+1056 {2}\/opt\/crashkeep-fixtures\/symbolize\/libcodec\.so \(must\) \(\S*codec\.c:6\) \(BuildId: [0-9a-f]+\) \[inlined\]/);
  });
});

describe("debuginfod unreachable", () => {
  test("server stopped: the report is printed, the warning says connection refused", async () => {
    const port = await freePort();
    const r = crashkeep(["symbolize", reports.records as string, "--debuginfod", `http://127.0.0.1:${port}`, "--json", "--sysroot", EMPTY], { DEBUGINFOD_CACHE_PATH: join(tmp, "cache-4") });
    expect(r.code).toBe(0);
    const j = JSON.parse(r.out);
    expect(j.threads[0].frames[0].file).toBeNull();
    expect(j.warnings.join("\n")).toMatch(/Cannot fetch "http:\/\/127\.0\.0\.1:\d+\/buildid\/[0-9a-f]+\/debuginfo": connection refused/);
  });
  test("a server that accepts and never answers: DEBUGINFOD_TIMEOUT, then the report", () => {
    const silent = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
    try {
      const r = crashkeep(["symbolize", reports.records as string, "--debuginfod", `http://127.0.0.1:${silent.port}`, "--sysroot", EMPTY], { DEBUGINFOD_CACHE_PATH: join(tmp, "cache-5"), DEBUGINFOD_TIMEOUT: "1" });
      expect(r.code).toBe(0);
      expect(r.out).toContain("backtrace (");
      expect(r.out).toMatch(/Warning: Cannot fetch ".*": no answer within 1 s \(DEBUGINFOD_TIMEOUT\), ignoring/);
      // each module with frames asked once, each request ended by the timeout (no wall-clock bound here: under
      // load it says nothing, and a request that never ended would hang the run into the test's own timeout)
      const timedOut = new Set([...r.out.matchAll(/Cannot fetch "[^"]*\/buildid\/([0-9a-f]+)\/debuginfo": no answer within 1 s/g)].map((m) => m[1]));
      expect(timedOut.size).toBeGreaterThan(0);
      expect([...r.out.matchAll(/\/buildid\/[0-9a-f]+\/debuginfo": no answer/g)].length).toBe(timedOut.size);
    } finally {
      silent.stop(true);
    }
  });
});

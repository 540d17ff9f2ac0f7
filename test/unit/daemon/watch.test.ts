// The daemon as a real process: log lines reach the journal on SIGUSR1 and
// on the interval, and SIGTERM makes one last pass and exits 0.
import { expect, test } from "bun:test";
import { appendFileSync, copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FIXTURES, fixtures, placeMappedFiles } from "../core/fixtures.ts";

const main = join(import.meta.dir, "../../../src/main.ts");

function cli(env: Record<string, string>, ...args: string[]) {
  const p = Bun.spawnSync([process.execPath, main, ...args], { env: { ...process.env, ...env } });
  return { code: p.exitCode, out: p.stdout.toString(), err: p.stderr.toString() };
}

/** Wait (bounded) until the journal's log tail satisfies `ok`: the daemon's pass is the event, not a sleep. */
async function tailUntil(env: Record<string, string>, dev: string, ok: (t: string) => boolean, ms = 15_000): Promise<string> {
  const end = Date.now() + ms;
  for (;;) {
    const t = tail(env, dev);
    if (ok(t)) return t;
    if (Date.now() > end) throw new Error(`Cannot see the expected log tail in ${ms} ms; it holds ${JSON.stringify(t)}`);
    await Bun.sleep(50);
  }
}

function tail(env: Record<string, string>, dev: string): string {
  const d = JSON.parse(cli(env, "dump", "--json", "--device", dev).out) as { logs: Array<{ tail: { data: string } }> };
  return d.logs[0]?.tail.data ?? "";
}

test("watch mirrors the log on SIGUSR1, on its interval, and once more on SIGTERM", async () => {
  const dir = mkdtempSync(join(tmpdir(), "crashkeep-watch-"));
  const dev = join(dir, "phram.bin");
  const log = join(dir, "messages");
  const config = join(dir, "config.json");
  writeFileSync(config, JSON.stringify({ logs: { files: [{ path: "/messages", tailBytes: "16ki" }], intervalSeconds: 1 }, journal: { device: "/phram.bin" } }));
  writeFileSync(dev, new Uint8Array(1 << 20));
  writeFileSync(log, "line 1 before the daemon\n");
  const env = { CRASHKEEP_CONFIG: config, CRASHKEEP_ROOT: dir };
  expect(cli(env, "clear").code).toBe(0);

  const daemon = Bun.spawn([process.execPath, main, "watch"], { env: { ...process.env, ...env }, stderr: "pipe" });
  try {
    expect(await tailUntil(env, dev, (t) => t !== "")).toBe("line 1 before the daemon\n");

    appendFileSync(log, "line 2 on demand\n");
    daemon.kill("SIGUSR1");
    expect(await tailUntil(env, dev, (t) => t.includes("line 2"))).toContain("line 2 on demand\n");

    // No signal now: only the 1 s interval can mirror it.
    appendFileSync(log, "line 3 on the interval\n");
    expect(await tailUntil(env, dev, (t) => t.includes("line 3"))).toContain("line 3 on the interval\n");

    appendFileSync(log, "line 4 just before SIGTERM\n");
    daemon.kill("SIGTERM");
    expect(await daemon.exited).toBe(0);
    expect(tail(env, dev)).toBe("line 1 before the daemon\nline 2 on demand\nline 3 on the interval\nline 4 just before SIGTERM\n");
  } finally {
    daemon.kill("SIGKILL");
  }
}, 60_000);

test("watch --once on a device that does not exist is one error line, exit 1", () => {
  const r = cli({ CRASHKEEP_CONFIG: "" }, "watch", "--once", "--device", "/nonexistent/mtd9");
  expect(r.code).toBe(1);
  expect(r.err).toBe('Cannot open "/nonexistent/mtd9" for writing: no such file or device\n');
});

test.each([
  ["the program's files under the root prefix: its symbols", true, ["level3", "level2", "level1", "main"]],
  ["none there: module + offset, whatever the machine's own root holds at those paths", false, [null, null, null, null]],
])("watch --once reads a core's program under the root prefix: %s", (_, placed, symbols) => {
  const nested = fixtures().find((f) => f.arch === "x86_64" && f.name === "nested");
  if (!nested) throw new Error("no x86_64 core fixture \"nested\"");
  const dir = mkdtempSync(join(tmpdir(), "crashkeep-watch-core-"));
  const config = join(dir, "config.json");
  writeFileSync(config, JSON.stringify({ logs: { files: [] }, journal: { device: "/phram.bin" }, cores: { mode: "watch", dir: "/cores" }, archive: { dir: "/archive" } }));
  writeFileSync(join(dir, "phram.bin"), new Uint8Array(1 << 20));
  mkdirSync(join(dir, "cores"));
  copyFileSync(nested.core, join(dir, "cores/core.nested.4242.1764100000"));
  if (placed) placeMappedFiles(join(FIXTURES, "x86_64/nested.files"), nested.sysroot, dir);
  const env = { CRASHKEEP_CONFIG: config, CRASHKEEP_ROOT: dir };
  expect(cli(env, "clear").code).toBe(0);
  const r = cli(env, "watch", "--once");
  expect(r.err).toStartWith("crashkeep watch: reported ");
  const [report] = readdirSync(join(dir, "archive/reports"));
  const j = JSON.parse(readFileSync(join(dir, "archive/reports", report ?? "", "report.json"), "utf8")) as { threads: Array<{ frames: Array<{ symbol: string | null }> }> };
  expect(j.threads[0]?.frames.slice(0, 4).map((f) => f.symbol)).toEqual(symbols);
});

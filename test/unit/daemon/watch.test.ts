// The daemon as a real process: log lines reach the journal on SIGUSR1 and
// on the interval, and SIGTERM makes one last pass and exits 0.
import { expect, test } from "bun:test";
import { appendFileSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const main = join(import.meta.dir, "../../../src/main.ts");

function cli(env: Record<string, string>, ...args: string[]) {
  const p = Bun.spawnSync([process.execPath, main, ...args], { env: { ...process.env, ...env } });
  return { code: p.exitCode, out: p.stdout.toString(), err: p.stderr.toString() };
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
    await Bun.sleep(700);
    expect(tail(env, dev)).toBe("line 1 before the daemon\n");

    appendFileSync(log, "line 2 on demand\n");
    daemon.kill("SIGUSR1");
    await Bun.sleep(400);
    expect(tail(env, dev)).toContain("line 2 on demand\n");

    appendFileSync(log, "line 3 on the interval\n");
    await Bun.sleep(1500);
    expect(tail(env, dev)).toContain("line 3 on the interval\n");

    appendFileSync(log, "line 4 just before SIGTERM\n");
    daemon.kill("SIGTERM");
    expect(await daemon.exited).toBe(0);
    expect(tail(env, dev)).toBe("line 1 before the daemon\nline 2 on demand\nline 3 on the interval\nline 4 just before SIGTERM\n");
  } finally {
    daemon.kill("SIGKILL");
  }
}, 20_000);

test("watch --once on a device that does not exist is one error line, exit 1", () => {
  const r = cli({ CRASHKEEP_CONFIG: "" }, "watch", "--once", "--device", "/nonexistent/mtd9");
  expect(r.code).toBe(1);
  expect(r.err).toBe('Cannot open "/nonexistent/mtd9" for writing: no such file or device\n');
});

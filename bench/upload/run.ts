// bench/upload: the upload path on this machine (native, not QEMU):
//   1. throughput: a backlog of ENTRIES crash messages (a real report from the
//      nested.core fixture, through the pipe handler) flushed by
//      `crashkeep upload --once` to a local mosquitto: entries/s, CPU time;
//   2. binary growth from MQTT.js: build/compile.ts's `bun build --compile`
//      with and without `--external mqtt` (the rest of the upload code is ours);
//   3. the daemon's anonymous RSS (RssAnon) after it settles: upload off,
//      upload on with nothing to send, upload on after one flush (which
//      ran in a child `crashkeep upload --once`: MQTT.js never enters the
//      daemon), and upload on after a core (watch mode: reported, then sent);
//   5. the daemon's send delay after `crashkeep note` (delaySeconds plus jitter).
// Targets, printed MET / NOT MET (never asserted): "a 1000-entry backlog in
// seconds" (issue 12; taken as ≤ 10 s, i.e. ≥ 100 entries/s), the daemon's
// RssAnon ≤ 8 MiB idle and ≤ 16 MiB after a core with upload on (issue 15).
// MQTT.js's binary growth has no target of its own (issue 12 asks for the
// figure; the binary's budget above a hello-world is bench/targets.ts's).
// Run with `node_modules/.bin/bun bench/upload/run.ts` after `make build`.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { enqueue } from "../../src/upload/outbox.ts";
import { crashPayload, type DeviceInfo } from "../../src/upload/payload.ts";
import { compactReport } from "../../src/core/format.ts";
import type { Report } from "../../src/core/report.ts";
import { mosquitto, Subscriber } from "../../test/integration/brokers.ts";
import { compileArgs } from "../../build/compile.ts";
import { verdict } from "../verdict.ts";

const ROOT = join(import.meta.dir, "../..");
const BIN = process.env.CRASHKEEP_BIN ?? join(ROOT, "out/crashkeep");
const BUN = join(ROOT, "node_modules/.bin/bun");
const ENTRIES = Number(process.env.ENTRIES ?? 1000);
/** upload.inFlight for the throughput run (the default is 8). */
const IN_FLIGHT = Number(process.env.IN_FLIGHT ?? 8);
/** SKIP=size,rss skips parts (the size builds take ~10 s each). */
const SKIP = new Set((process.env.SKIP ?? "").split(","));
/** RssAnon samples taken 1 s apart; settled when three in a row agree within 64 KiB. */
const RSS_MAX_SAMPLES = 30;
/** Issue 12: "a 1000-entry backlog in seconds": at most this long per 1000 entries. */
const BACKLOG_TARGET_S_PER_1000 = 10;
/** upload.delaySeconds of the send-delay part, and the time a child `crashkeep upload --once` may take to start and connect. */
const DELAY_S = 2;
const DELAY_SLACK_S = 2;
/** Issue 15: the daemon's anonymous RSS, idle and after a core (with upload on). */
const RSS_IDLE_TARGET_MIB = 8;
const RSS_AFTER_CORE_TARGET_MIB = 16;
/** The daemon's line after a flush that sent something (src/upload/sender.ts). */
const SENT = /upload: sent [1-9]\d* message/;

if (!existsSync(BIN)) throw new Error(`Cannot find "${BIN}": run make build first`);

function tree(upload: Record<string, unknown> | undefined, mode: "pipe" | "watch" = "pipe") {
  const root = mkdtempSync(join(tmpdir(), "crashkeep-bench-upload-"));
  mkdirSync(join(root, "dev"), { recursive: true });
  writeFileSync(join(root, "dev/phram"), new Uint8Array(1 << 20));
  const config = join(root, "config.json");
  writeFileSync(config, JSON.stringify({
    journal: { device: "/dev/phram" }, logs: { files: [] }, archive: { dir: "/archive", minFreeBytes: 0, maxEntries: 10000 },
    cores: { mode, dir: "/cores", reportsPerMinute: 600 },
    ...(upload ? { upload: { deviceId: "bench", delaySeconds: 0, ...upload } } : {}),
  }));
  const env = { ...(process.env as Record<string, string>), CRASHKEEP_ROOT: root, CRASHKEEP_CONFIG: config };
  Bun.spawnSync([BIN, "clear", "--yes"], { env });
  return { root, config, env, outbox: join(root, "archive/outbox") };
}

function rssAnonKiB(pid: number): number {
  const m = /RssAnon:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return Number(m?.[1] ?? NaN);
}

async function settledRss(pid: number): Promise<number> {
  const samples: number[] = [];
  for (let i = 0; i < RSS_MAX_SAMPLES; i++) {
    await Bun.sleep(1000);
    samples.push(rssAnonKiB(pid));
    const last = samples.slice(-3);
    if (last.length === 3 && Math.max(...last) - Math.min(...last) <= 64) break;
  }
  return samples.at(-1) as number;
}

const broker = await mosquitto();
await broker.start();
const results: string[] = [];
const verdicts: string[] = [];
try {
  // 1. Throughput.
  {
    const t = tree({ broker: `mqtt://127.0.0.1:${broker.port}`, inFlight: IN_FLIGHT });
    const core = Bun.spawnSync(["xz", "-dc", join(ROOT, "test/fixtures/cores/x86_64/nested.core.xz")]).stdout;
    const made = Bun.spawnSync([BIN, "core", "4242", "4242", "11", "1764100000", "!opt!crashkeep-fixtures!x86_64!nested"], { env: t.env, stdin: core });
    if (made.exitCode !== 0) throw new Error(`Cannot make the report: ${made.stderr.toString()}`);
    const reportDir = join(t.root, "archive/reports", readdirSync(join(t.root, "archive/reports"))[0] as string);
    const report = JSON.parse(readFileSync(join(reportDir, "report.json"), "utf8")) as Report;
    rmSync(t.outbox, { recursive: true, force: true });
    const device: DeviceInfo = { id: "bench", firmware: "1.0", hardware: null, kernel: null, arch: "x86_64", crashkeepVersion: "bench" };
    let bytes = 0;
    for (let i = 0; i < ENTRIES; i++) {
      const p = crashPayload(report, { device, maxMessageBytes: 102400, reportId: `bench-${i}`, time: new Date(), compact: () => compactReport(report) });
      bytes += JSON.stringify(p).length;
      enqueue(t.outbox, p, { maxEntries: 100000, maxBytes: 1 << 30, maxAgeDays: 7, minFreeBytes: 0 });
    }
    const sub = new Subscriber(broker.port, "bench-sub");
    await sub.connect();
    const started = performance.now();
    const p = Bun.spawn([BIN, "upload", "--once", "--json"], { env: t.env, stdout: "pipe", stderr: "ignore" });
    const out = await new Response(p.stdout).text();
    await p.exited;
    const wallMs = performance.now() - started;
    const usage = p.resourceUsage();
    await sub.waitForIds(ENTRIES, 120_000);
    await sub.close();
    const cpuMs = usage ? (Number(usage.cpuTime.user) + Number(usage.cpuTime.system)) / 1000 : NaN;
    const targetS = (BACKLOG_TARGET_S_PER_1000 * ENTRIES) / 1000;
    verdicts.push(verdict(`${ENTRIES}-entry backlog flushed by upload --once (inFlight ${IN_FLIGHT})`, `${(wallMs / 1000).toFixed(2)} s, ${Math.round(ENTRIES / (wallMs / 1000))} entries/s (CPU ${(cpuMs / 1000).toFixed(2)} s)`, `in seconds: ≤ ${targetS} s, ≥ ${1000 / BACKLOG_TARGET_S_PER_1000} entries/s`, wallMs / 1000 <= targetS));
    results.push(`throughput (upload.inFlight ${IN_FLIGHT}): ${ENTRIES} crash messages (${Math.round(bytes / ENTRIES)} B each, full report) in ${(wallMs / 1000).toFixed(2)} s = ${Math.round(ENTRIES / (wallMs / 1000))} entries/s; CPU ${(cpuMs / 1000).toFixed(2)} s (${Math.round((cpuMs / wallMs) * 100)} % of one core); max RSS ${usage ? Math.round(usage.maxRSS / 1024 / 1024) : "?"} MiB; result ${out.trim()}`);
  }

  // 2. Binary growth from MQTT.js.
  if (!SKIP.has("size")) {
    const dir = mkdtempSync(join(tmpdir(), "crashkeep-bench-size-"));
    const build = (extra: string[], name: string) => {
      // The project's own compile line (build/compile.ts), plus `extra`.
      const r = Bun.spawnSync([BUN, ...compileArgs(join(dir, name)), ...extra], { cwd: ROOT });
      if (r.exitCode !== 0) throw new Error(`bun build failed: ${r.stderr.toString()}`);
      return statSync(join(dir, name)).size;
    };
    const withMqtt = build([], "with");
    const without = build(["--external", "mqtt"], "without");
    verdicts.push(`(no target) MQTT.js adds ${((withMqtt - without) / 1024 / 1024).toFixed(2)} MiB to the binary (issue 12 asks for the figure; the binary's budget, ≤ 2 MiB above a hello-world, is bench/targets.ts's)`);
    results.push(`binary: ${withMqtt} bytes with MQTT.js, ${without} without (--external mqtt): MQTT.js adds ${withMqtt - without} bytes (${((withMqtt - without) / 1024 / 1024).toFixed(2)} MiB); out/crashkeep is ${statSync(BIN).size} bytes`);
    rmSync(dir, { recursive: true, force: true });
  }

  // 3. Daemon idle anonymous RSS.
  const on = { broker: `mqtt://127.0.0.1:${broker.port}` };
  for (const [label, upload, queue, targetMiB] of SKIP.has("rss") ? [] : [
    ["upload off", undefined, "nothing", RSS_IDLE_TARGET_MIB],
    ["upload on, nothing to send", on, "nothing", RSS_IDLE_TARGET_MIB],
    ["upload on, after one flush", on, "note", RSS_IDLE_TARGET_MIB],
    ["upload on, after a core (watch mode: reported, then sent)", on, "core", RSS_AFTER_CORE_TARGET_MIB],
  ] as const) {
    const t = tree(upload, queue === "core" ? "watch" : "pipe");
    const daemon = Bun.spawn([BIN, "watch"], { env: t.env, stdout: "ignore", stderr: "pipe" });
    let log = "";
    void (async () => {
      for await (const c of daemon.stderr) log += new TextDecoder().decode(c);
    })();
    try {
      if (queue === "core") {
        // Written beside the directory, then renamed in: the daemon sees a finished core.
        const core = Bun.spawnSync(["xz", "-dc", join(ROOT, "test/fixtures/cores/x86_64/nested.core.xz")]).stdout;
        mkdirSync(join(t.root, "cores"), { recursive: true });
        writeFileSync(join(t.root, "core.tmp"), core);
        renameSync(join(t.root, "core.tmp"), join(t.root, "cores/core.nested.4242"));
      }
      if (queue === "note") Bun.spawnSync([BIN, "note", "bench"], { env: t.env });
      if (queue !== "nothing") {
        const end = Date.now() + 60_000;
        while (!SENT.test(log) && Date.now() < end) await Bun.sleep(50);
        if (!SENT.test(log)) throw new Error(`the daemon did not send: ${log}`);
      }
      const kib = await settledRss(daemon.pid);
      results.push(`daemon RssAnon, ${label}: ${kib} KiB (${(kib / 1024).toFixed(2)} MiB)`);
      verdicts.push(verdict(`daemon RssAnon, ${label}`, `${(kib / 1024).toFixed(2)} MiB`, `≤ ${targetMiB} MiB`, kib / 1024 <= targetMiB));
    } finally {
      daemon.kill("SIGTERM");
      await daemon.exited;
    }
  }

  // 4. The daemon's RssAnon after a core, upload on (issue 15: ≤ 16 MiB after a
  // core): watch mode, one fixture core dropped into the watched directory as
  // bench/targets.ts does, reported, its crash message sent (by the child
  // `crashkeep upload --once`), then settled. SKIP=core-rss skips it.
  if (!SKIP.has("core-rss")) {
    const t = tree({ broker: `mqtt://127.0.0.1:${broker.port}` });
    const config = JSON.parse(readFileSync(t.config, "utf8")) as { cores: Record<string, unknown> };
    writeFileSync(t.config, JSON.stringify({ ...config, cores: { ...config.cores, mode: "watch" } }));
    const daemon = Bun.spawn([BIN, "watch"], { env: t.env, stdout: "ignore", stderr: "pipe" });
    let log = "";
    void (async () => {
      for await (const c of daemon.stderr) log += new TextDecoder().decode(c);
    })();
    try {
      await Bun.sleep(3000);
      const idle = rssAnonKiB(daemon.pid);
      const tmp = join(t.root, "core.tmp");
      writeFileSync(tmp, Bun.spawnSync(["xz", "-dc", join(ROOT, "test/fixtures/cores/x86_64/threads.core.xz")]).stdout);
      mkdirSync(join(t.root, "cores"), { recursive: true });
      renameSync(tmp, join(t.root, "cores/core.threads.1"));
      const end = Date.now() + 60_000;
      while (!/upload: sent [1-9]/.test(log) && Date.now() < end) await Bun.sleep(50);
      if (!/upload: sent [1-9]/.test(log)) throw new Error(`the daemon did not send the crash: ${log}`);
      const kib = await settledRss(daemon.pid);
      results.push(`daemon RssAnon, upload on: ${idle} KiB before the core, ${kib} KiB after it (reported and sent)`);
      results.push(verdict("daemon RssAnon, after a core with upload on", `${(kib / 1024).toFixed(2)} MiB`, "≤ 16 MiB", kib <= 16 * 1024));
    } finally {
      daemon.kill("SIGTERM");
      await daemon.exited;
    }
  }

  // 5. The daemon's send delay (moved here from test/integration/upload-mosquitto.test.ts, where it was a
  // timed assertion): from `crashkeep note` to the daemon's "sent" line, with upload.delaySeconds =
  // DELAY_S and logs.intervalSeconds = 1 (the pass that notices the entry). Target: at least
  // delaySeconds, at most 1.5 × delaySeconds (jitter) + the pass interval + DELAY_SLACK_S for the child
  // `crashkeep upload --once` to start and connect. test/unit/upload/sender.test.ts checks the due
  // time itself without a clock. SKIP=delay skips it.
  if (!SKIP.has("delay")) {
    const t = tree({ broker: `mqtt://127.0.0.1:${broker.port}`, delaySeconds: DELAY_S });
    const config = JSON.parse(readFileSync(t.config, "utf8")) as { logs: Record<string, unknown> };
    writeFileSync(t.config, JSON.stringify({ ...config, logs: { ...config.logs, intervalSeconds: 1 } }));
    const daemon = Bun.spawn([BIN, "watch"], { env: t.env, stdout: "ignore", stderr: "pipe" });
    let log = "";
    void (async () => {
      for await (const c of daemon.stderr) log += new TextDecoder().decode(c);
    })();
    try {
      await Bun.sleep(2000);
      const t0 = performance.now();
      Bun.spawnSync([BIN, "note", "bench delay"], { env: t.env });
      const end = Date.now() + 60_000;
      while (!SENT.test(log) && Date.now() < end) await Bun.sleep(20);
      if (!SENT.test(log)) throw new Error(`the daemon did not send the note: ${log}`);
      const s = (performance.now() - t0) / 1000;
      const max = 1.5 * DELAY_S + 1 + DELAY_SLACK_S;
      results.push(`daemon send delay (upload.delaySeconds ${DELAY_S}, logs.intervalSeconds 1): ${s.toFixed(2)} s from \`crashkeep note\` to "sent"`);
      verdicts.push(verdict("daemon send delay", `${s.toFixed(2)} s (${(s / DELAY_S).toFixed(2)} × delaySeconds)`, `${DELAY_S} s to ${max} s`, s >= DELAY_S && s <= max));
    } finally {
      daemon.kill("SIGTERM");
      await daemon.exited;
    }
  }
} finally {
  await broker.kill9();
}
for (const line of results) console.log(line);
console.log("");
for (const line of verdicts) console.log(line);


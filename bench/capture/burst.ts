// bench/capture/burst.ts: the daemon's memory through a burst of crashes
// (issue 24), native, compiled binary. BURST_CORES real cores (the x86_64
// fixtures of test/fixtures/cores, in turn) are moved into cores.dir at
// BURST_RATE per second (reportsPerMinute 600: every one is reported), while
// the daemon's RssAnon (/proc/PID/status) is sampled every 100 ms:
//   - peak RssAnon during the burst ≤ PEAK_TARGET_MIB;
//   - SETTLE_SECONDS after the last report, RssAnon ≤ SETTLE_RATIO × its idle
//     figure (before the first core).
// Twice: `crashkeep watch`, and the boot's single process `crashkeep watch
// --init` (init's work first, then the daemon).
// Run: make build && node_modules/.bin/bun bench/capture/burst.ts
// (BURST_CORES=200 BURST_RATE=20 SETTLE_SECONDS=20 for a quick look).
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { verdict } from "../verdict.ts";

const PEAK_TARGET_MIB = 16;
const SETTLE_RATIO = 1.5;
const ROOT = join(import.meta.dir, "../..");
const BIN = process.env.CRASHKEEP_BIN ?? join(ROOT, "out/crashkeep");
const CORES = Number(process.env.BURST_CORES ?? 1000);
const RATE = Number(process.env.BURST_RATE ?? 10);
const SETTLE_SECONDS = Number(process.env.SETTLE_SECONDS ?? 60);
const FIXTURES = join(ROOT, "test/fixtures/cores/x86_64");

if (!existsSync(BIN)) throw new Error(`Cannot find "${BIN}": run make build first`);

const cores = readdirSync(FIXTURES)
  .filter((n) => n.endsWith(".core.xz"))
  .sort()
  .map((n) => ({ name: n.replace(/\.core\.xz$/, ""), bytes: Bun.spawnSync(["xz", "-dc", join(FIXTURES, n)]).stdout }));

function rssAnonKiB(pid: number): number {
  const m = /RssAnon:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  if (!m) throw new Error(`Cannot read RssAnon of pid ${pid}`);
  return Number(m[1]);
}

/** utime + stime of pid in ms (USER_HZ = 100). */
function cpuMs(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]?.split(" ") ?? [];
  return (Number(f[11]) + Number(f[12])) * 10;
}

const mib = (kib: number) => `${(kib / 1024).toFixed(1)} MiB`;

async function burst(label: string, args: string[]): Promise<void> {
  const root = mkdtempSync(join(tmpdir(), "crashkeep-bench-burst-"));
  try {
    mkdirSync(join(root, "dev"), { recursive: true });
    writeFileSync(join(root, "dev/phram"), new Uint8Array(8 << 20));
    const config = join(root, "config.json");
    writeFileSync(config, JSON.stringify({ journal: { device: "/dev/phram" }, logs: { files: [] }, archive: { dir: "/archive" }, cores: { mode: "watch", dir: "/cores", reportsPerMinute: 600 } }));
    const env = { ...process.env, CRASHKEEP_ROOT: root, CRASHKEEP_CONFIG: config };
    Bun.spawnSync([BIN, "clear", "--yes"], { env });
    const pidfile = join(root, "watch.pid");
    const daemon = Bun.spawn([BIN, ...args, "--pidfile", pidfile], { env, stdout: "ignore", stderr: "ignore" });
    for (let i = 0; i < 600 && !existsSync(pidfile); i++) await Bun.sleep(50);
    if (!existsSync(pidfile)) throw new Error(`Cannot see "${pidfile}" within 30 s`);
    await Bun.sleep(2000);
    const idle = rssAnonKiB(daemon.pid);
    let peak = idle;
    const marks: string[] = [];
    const sampler = setInterval(() => {
      peak = Math.max(peak, rssAnonKiB(daemon.pid));
    }, 100);
    const reports = join(root, "archive/reports");
    const reported = () => (existsSync(reports) ? readdirSync(reports).length : 0);
    const cpu0 = cpuMs(daemon.pid);
    const t0 = performance.now();
    for (let i = 0; i < CORES; i++) {
      const c = cores[i % cores.length]!;
      // Written beside, then moved in: a whole core appears at once (IN_MOVED_TO), as when the kernel closes one.
      const tmp = join(root, `core.tmp${i}`);
      writeFileSync(tmp, c.bytes);
      renameSync(tmp, join(root, "cores", `core.${c.name}.${i}`));
      if ((i + 1) % (CORES / 5) === 0) marks.push(`${i + 1}: ${mib(rssAnonKiB(daemon.pid))}`);
      const due = t0 + ((i + 1) * 1000) / RATE;
      const wait = due - performance.now();
      if (wait > 0) await Bun.sleep(wait);
    }
    // Every core taken (the directory holds only kept/), then SETTLE_SECONDS.
    for (let i = 0; i < 1200 && readdirSync(join(root, "cores")).some((n) => n !== "kept"); i++) await Bun.sleep(50);
    const after = rssAnonKiB(daemon.pid);
    const burstCpu = cpuMs(daemon.pid) - cpu0;
    await Bun.sleep(SETTLE_SECONDS * 1000);
    clearInterval(sampler);
    const settled = rssAnonKiB(daemon.pid);
    const n = reported();
    daemon.kill("SIGTERM");
    await daemon.exited;
    console.log(`\n${label}: ${CORES} cores at ${RATE}/s (${n} report directories kept), RssAnon idle ${mib(idle)}; after ${marks.join(", ")}; at the end of the burst ${mib(after)}; CPU during the burst ${(burstCpu / 1000).toFixed(1)} s (${(burstCpu / CORES).toFixed(1)} ms a core)`);
    console.log(verdict(`${label}, peak RssAnon during the burst`, mib(peak), `≤ ${PEAK_TARGET_MIB} MiB`, peak / 1024 <= PEAK_TARGET_MIB));
    console.log(verdict(`${label}, RssAnon ${SETTLE_SECONDS} s after the burst`, `${mib(settled)} (${(settled / idle).toFixed(2)}× idle)`, `≤ ${SETTLE_RATIO}× idle (${mib(idle * SETTLE_RATIO)})`, settled <= idle * SETTLE_RATIO));
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

console.log(`burst benchmark (native, this machine; load ${readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ")})`);
await burst("crashkeep watch", ["watch"]);
if (process.env.BURST_INIT !== "0") await burst("crashkeep watch --init", ["watch", "--init"]);

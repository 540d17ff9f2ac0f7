// bench/targets: issue 15's targets, each as a ratio measured in this one run
// against a compiled Bun hello-world (H: same Bun, same flags) and the tool a
// user would use instead, printed with MET / NOT MET (never a failure: the
// exit code is 0 whatever the figures). Run with `make bench` (after
// `make build`; the pipe handler's 1 GiB core comes from bench/inspect/run.sh).
//
//   RUNS=31 bun bench/targets.ts            interleaved runs per comparison
//   SKIP_CROSS=1 bun bench/targets.ts       binary size of the native target only
//   ONLY=pipe,daemon bun bench/targets.ts   only these sections (startup, copy,
//                                           init, daemon, pipe, binary)
//   BIG_CORE=out/bench-random/core ...       the pipe handler on another 1 GiB core
//
// Wall times are whole-process (spawn to exit), medians of interleaved runs
// (A B C, B C A, ...); CPU is user+sys from rusage, also a median.
import { appendFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { COMPILE_FLAGS, compileArgs } from "../build/compile.ts";
import { makeFakeTree } from "../test/unit/boot/fake-tree.ts";
import { interleave, loadAverage, makeFile, median, verdict, type Stats } from "./lib/measure.ts";

const ROOT = join(import.meta.dir, "..");
const BUN = join(ROOT, "node_modules/.bin/bun");
const BIN = process.env.CRASHKEEP_BIN ?? join(ROOT, "out/crashkeep");
const OUT = join(ROOT, "out/bench/targets");
const RUNS = Number(process.env.RUNS ?? 31);
const MiB = 1024 * 1024;
/** The 1 GiB core; BIG_CORE= another one (e.g. `bigheap 1024 random`: incompressible). */
const BIG_CORE = process.env.BIG_CORE ?? join(ROOT, "out/bench-inspect/core.bigheap");
const SECTIONS = ["startup", "copy", "init", "daemon", "pipe", "binary"] as const;
const ONLY = (process.env.ONLY ?? "").split(",").map((s) => s.trim()).filter((s) => s !== "");
for (const s of ONLY) if (!(SECTIONS as readonly string[]).includes(s)) throw new Error(`Cannot run section "${s}": not one of ${SECTIONS.join(", ")}`);
const want = (s: (typeof SECTIONS)[number]) => ONLY.length === 0 || ONLY.includes(s);

interface Row {
  target: string;
  measured: string;
  ratio: string;
  limit: string;
  ok: boolean | undefined;
}
const rows: Row[] = [];
const notes: string[] = [];
function row(target: string, measured: string, ratio: number | string, limit: string, ok: boolean | undefined): void {
  rows.push({ target, measured, ratio: typeof ratio === "number" ? ratio.toFixed(2) : ratio, limit, ok });
}
const ms = (s: Stats) => `${s.wall.toFixed(1)} ms (cpu ${s.cpu.toFixed(0)})`;

function must(argv: string[], env?: Record<string, string>): string {
  const p = Bun.spawnSync(argv, { cwd: ROOT, stdout: "pipe", stderr: "pipe", ...(env ? { env: { ...process.env, ...env } } : {}) });
  if (p.exitCode !== 0) throw new Error(`Cannot run "${argv.join(" ")}": ${p.stderr.toString().trim()}`);
  return p.stdout.toString();
}

/** A compiled hello-world with the flags crashkeep is built with. */
function hello(target?: string): string {
  const dir = join(OUT, target ?? "native");
  mkdirSync(dir, { recursive: true });
  const src = join(OUT, "hello.ts");
  writeFileSync(src, 'console.log("hello");\n');
  const out = join(dir, "hello");
  must([BUN, "build", ...COMPILE_FLAGS, ...(target ? [`--target=${target}`] : []), src, "--outfile", out]);
  return out;
}

if (!existsSync(BIN)) throw new Error(`Cannot find "${BIN}": run make build first`);
mkdirSync(OUT, { recursive: true });
const H = want("startup") || want("copy") || want("init") || want("binary") ? hello() : "";
const version = must([BUN, "--version"]).trim();
console.log(`bench/targets: Bun ${version}, ${RUNS} interleaved runs per comparison, load average ${loadAverage()} at start${ONLY.length > 0 ? `; only ${ONLY.join(", ")}` : ""}`);

// 1. start-up -----------------------------------------------------------------
if (want("startup")) {
  const r = interleave({ H: { argv: [H] }, version: { argv: [BIN, "--version"] } }, RUNS);
  console.log(`\nstart-up: hello-world ${ms(r.H)}, crashkeep --version ${ms(r.version)}`);
  const ratio = r.version.wall / r.H.wall;
  const irH = instructions([H]);
  const irV = instructions([BIN, "--version"]);
  console.log(`  instructions (callgrind): H ${mIr(irH)}, crashkeep --version ${mIr(irV)}: ${(irV / irH).toFixed(2)}x`);
  row("start-up: crashkeep --version / H", `${r.version.wall.toFixed(1)} / ${r.H.wall.toFixed(1)} ms; cpu ${(r.version.cpu / r.H.cpu).toFixed(2)}x; instr ${(irV / irH).toFixed(2)}x`, ratio, "≤ 1.10", ratio <= 1.1);
}

// 2. copy into a regular file ------------------------------------------------
if (want("copy")) {
  const dir = join(ROOT, "out/bench/copy");
  mkdirSync(dir, { recursive: true });
  const src = join(dir, "src-1g.bin");
  const dst = join(dir, "dst-64m.bin");
  const dst1 = join(dir, "dst-1m.bin");
  makeFile(src, 1024 * MiB, true);
  makeFile(dst, 64 * MiB, false);
  makeFile(dst1, MiB, false);
  const method = JSON.parse(must([BIN, "copy", "--tail", "--json", src, dst])) as { method: string };
  const r = interleave({
    H: { argv: [H] },
    ck64: { argv: [BIN, "copy", "--tail", src, dst] },
    dd64: { argv: ["dd", `if=${src}`, `of=${dst}`, "bs=1M", "skip=960", "count=64", "conv=notrunc", "status=none"] },
    ck1: { argv: [BIN, "copy", "--tail", src, dst1] },
    dd1: { argv: ["dd", `if=${src}`, `of=${dst1}`, "bs=1M", "skip=1023", "count=1", "conv=notrunc", "status=none"] },
  }, RUNS);
  for (const [d, n] of [[dst, 64 * MiB], [dst1, MiB]] as const) {
    if (Bun.spawnSync(["sh", "-c", `tail -c ${n} '${src}' | cmp -s - '${d}'`]).exitCode !== 0) throw new Error(`Cannot trust the bench: ${d} differs from tail -c ${n}`);
  }
  console.log(`\ncopy (regular file, warm page cache; crashkeep used ${method.method} for 64 MiB): H ${ms(r.H)}`);
  console.log(`  64 MiB tail of 1 GiB: crashkeep copy --tail ${ms(r.ck64)}, dd bs=1M ${ms(r.dd64)}`);
  console.log(`  1 MiB window:         crashkeep copy --tail ${ms(r.ck1)}, dd bs=1M count=1 ${ms(r.dd1)}`);
  const r64 = (r.ck64.wall - r.H.wall) / r.dd64.wall;
  const r1 = (r.ck1.wall - r.H.wall) / r.dd1.wall;
  const cpu = (ck: Stats, dd: Stats) => ((ck.cpu - r.H.cpu) / dd.cpu).toFixed(2);
  row("copy 64 MiB → file: (crashkeep − H) / dd bs=1M", `${(r.ck64.wall - r.H.wall).toFixed(1)} / ${r.dd64.wall.toFixed(1)} ms; cpu ${cpu(r.ck64, r.dd64)}x`, r64, "≤ 1.10", r64 <= 1.1);
  row("copy 1 MiB window: (crashkeep − H) / dd bs=1M", `${(r.ck1.wall - r.H.wall).toFixed(1)} / ${r.dd1.wall.toFixed(1)} ms; cpu ${cpu(r.ck1, r.dd1)}x`, r1, "≤ 1.10", r1 <= 1.1);
}

// 3. init with nothing to collect (fake root) ---------------------------------
if (want("init")) {
  const tree = makeFakeTree();
  const config = join(tree.root, "etc/crashkeep/config.json");
  mkdirSync(join(tree.root, "etc/crashkeep"), { recursive: true });
  cpSync(join(ROOT, "rootfs-overlay/etc/crashkeep/config.json"), config);
  const env = { CRASHKEEP_ROOT: tree.root, CRASHKEEP_CONFIG: "" };
  must([BIN, "init"], env); // first boot: modules, journal format, config cache
  // Each timed run is a later boot after a clean shutdown: a new boot id,
  // the shutdown marker written (untimed), nothing in pstore, no cores.
  const newBoot = () => {
    writeFileSync(join(tree.root, "proc/sys/kernel/random/boot_id"), `${crypto.randomUUID()}\n`);
    must([BIN, "shutdown"], env);
  };
  const r = interleave({ H: { argv: [H] }, init: { argv: [BIN, "init"], env, setup: newBoot } }, RUNS);
  console.log(`\ninit, nothing to collect (fake root, later boot after a clean shutdown): H ${ms(r.H)}, crashkeep init ${ms(r.init)}`);
  const ratio = r.init.wall / r.H.wall;
  // fsync waits: the archive entry (file, its directory, the archive directory) and the fake device file.
  const trace = join(OUT, "init.strace");
  newBoot();
  Bun.spawnSync(["strace", "-f", "-T", "-e", "trace=fsync", "-o", trace, BIN, "init"], { env: { ...process.env, ...env }, stdout: "ignore", stderr: "ignore" });
  const fsyncMs = existsSync(trace) ? [...readFileSync(trace, "utf8").matchAll(/fsync\(\d+\)\s+= 0 <([\d.]+)>/g)].reduce((a, m) => a + Number(m[1]) * 1000, 0) : NaN;
  const irH = instructions([H]);
  const irI = instructions([BIN, "init"], env, newBoot);
  console.log(`  fsync waits in one init (strace): ${fsyncMs.toFixed(1)} ms; instructions: H ${mIr(irH)}, init ${mIr(irI)}`);
  row("init, nothing to collect (native) / H", `${r.init.wall.toFixed(1)} / ${r.H.wall.toFixed(1)} ms; cpu ${(r.init.cpu / r.H.cpu).toFixed(2)}x; instr ${(irI / irH).toFixed(2)}x`, ratio, "≤ 2.00", ratio <= 2);
}

/**
 * bench/inspect's bigheap core (1 GiB of touched heap, then SIGSEGV), made
 * here without touching the machine's settings when core_pattern is a plain
 * file name (the kernel writes it in the working directory); else left to
 * bench/inspect/run.sh, which sets core_pattern as root.
 */
function makeBigCore(): void {
  const pattern = readFileSync("/proc/sys/kernel/core_pattern", "utf8").trim();
  if (pattern.startsWith("|") || pattern.includes("/")) return;
  const dir = join(ROOT, "out/bench-inspect");
  mkdirSync(dir, { recursive: true });
  const made = Bun.spawnSync(["sh", "-c", `gcc -O2 -o bigheap '${join(ROOT, "bench/inspect/bigheap.c")}' && ulimit -c unlimited && (./bigheap; true) && f=$(ls -t core* 2>/dev/null | head -1) && [ -n "$f" ] && mv "$f" core.bigheap`], { cwd: dir, stderr: "pipe" });
  if (made.exitCode !== 0) notes.push(`could not make the 1 GiB core: ${made.stderr.toString().trim()}`);
}

/** Instructions executed (callgrind: repeatable on a loaded machine), or NaN without valgrind. */
function instructions(argv: string[], env?: Record<string, string>, setup?: () => void): number {
  setup?.();
  const p = Bun.spawnSync(["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", ...argv], {
    stdout: "ignore", stderr: "pipe", ...(env ? { env: { ...process.env, ...env } } : {}),
  });
  const m = /Collected : (\d+)/.exec(p.stderr.toString());
  return m ? Number(m[1]) : NaN;
}
function mIr(n: number): string {
  return `${(n / 1e6).toFixed(2)}M instr`;
}

// 4. memory ------------------------------------------------------------------
function rssAnonKiB(pid: number): number {
  return Number(/RssAnon:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] ?? NaN);
}
function journalTree(mode: "watch" | "pipe", cores: Record<string, unknown> = {}) {
  const root = mkdtempSync(join(tmpdir(), "crashkeep-bench-targets-"));
  mkdirSync(join(root, "dev"), { recursive: true });
  writeFileSync(join(root, "dev/phram"), new Uint8Array(8 * MiB));
  const config = join(root, "config.json");
  writeFileSync(config, JSON.stringify({ journal: { device: "/dev/phram" }, logs: { files: [] }, archive: { dir: "/archive" }, cores: { mode, dir: "/cores", reportsPerMinute: 600, ...cores } }));
  const env = { CRASHKEEP_ROOT: root, CRASHKEEP_CONFIG: config };
  must([BIN, "clear", "--yes"], env);
  return { root, env };
}
const smallCore = join(OUT, "threads.core");
writeFileSync(smallCore, Bun.spawnSync(["xz", "-dc", join(ROOT, "test/fixtures/cores/x86_64/threads.core.xz")]).stdout);
if (want("daemon")) {
  const t = journalTree("watch");
  const daemon = Bun.spawn([BIN, "watch"], { env: { ...process.env, ...t.env }, stdout: "ignore", stderr: "ignore" });
  await Bun.sleep(3000);
  const idle = rssAnonKiB(daemon.pid);
  const tmp = join(t.root, "core.tmp");
  writeFileSync(tmp, readFileSync(smallCore));
  mkdirSync(join(t.root, "cores"), { recursive: true });
  renameSync(tmp, join(t.root, "cores/core.threads.1"));
  const reports = join(t.root, "archive/reports");
  const end = Date.now() + 20_000;
  while (Date.now() < end && !(existsSync(reports) && readdirSync(reports).some((d) => existsSync(join(reports, d, "capture.json"))))) await Bun.sleep(20);
  await Bun.sleep(1000);
  const after = rssAnonKiB(daemon.pid);
  const status = readFileSync(`/proc/${daemon.pid}/status`, "utf8");
  daemon.kill("SIGTERM");
  await daemon.exited;
  const rssFile = Number(/RssFile:\s+(\d+)/.exec(status)?.[1] ?? NaN);
  console.log(`\ndaemon (crashkeep watch): RssAnon idle ${(idle / 1024).toFixed(1)} MiB, after one core ${(after / 1024).toFixed(1)} MiB (RssFile ${(rssFile / 1024).toFixed(1)} MiB, the shared executable)`);
  row("daemon RssAnon, idle", `${(idle / 1024).toFixed(1)} MiB`, `${(idle / 1024 / 8).toFixed(2)} of limit`, "≤ 8 MiB", idle <= 8 * 1024);
  row("daemon RssAnon, after a core", `${(after / 1024).toFixed(1)} MiB`, `${(after / 1024 / 16).toFixed(2)} of limit`, "≤ 16 MiB", after <= 16 * 1024);
}
if (want("pipe")) {
  // Peak RSS from /usr/bin/time (%M, KiB: the child's own ru_maxrss), median
  // of 3 runs. stdin is the core file (as ever in this bench) or a pipe from
  // cat (what the kernel gives); "saved": cores.saveCores with a 2 GiB cap,
  // so the whole core goes through gzip.
  type How = { pipe: boolean; save: boolean };
  const peak = (core: string, how: How) => {
    const xs: Array<{ wall: number; maxRssKiB: number }> = [];
    for (let i = 0; i < 3; i++) {
      const t = journalTree("pipe", how.save ? { saveCores: true, maxCoreBytes: "2Gi", maxTotalBytes: "4Gi" } : {});
      const argv = ["/usr/bin/time", "-f", "%e %M", BIN, "core", "1234", "1234", "11", String(Math.floor(Date.now() / 1000)), "!bench!bigheap"];
      const p = how.pipe
        ? Bun.spawnSync(["sh", "-c", `cat "$0" | exec "$@"`, core, ...argv], { env: { ...process.env, ...t.env }, stdout: "ignore", stderr: "pipe" })
        : Bun.spawnSync(argv, { env: { ...process.env, ...t.env }, stdin: Bun.file(core), stdout: "ignore", stderr: "pipe" });
      if (p.exitCode !== 0) throw new Error(`Cannot run crashkeep core: ${p.stderr.toString().trim()}`);
      const [wall = NaN, rss = NaN] = (p.stderr.toString().trim().split("\n").at(-1) ?? "").split(" ").map(Number);
      xs.push({ wall: wall * 1000, maxRssKiB: rss });
      rmSync(t.root, { recursive: true, force: true });
    }
    return { wall: median(xs.map((x) => x.wall)), maxRssKiB: median(xs.map((x) => x.maxRssKiB)) };
  };
  if (!existsSync(BIG_CORE)) makeBigCore();
  const hows: Array<[string, How]> = [["", { pipe: false, save: false }], [", stdin a pipe", { pipe: true, save: false }], [", stdin a pipe, core saved", { pipe: true, save: true }]];
  for (const [label, how] of hows) {
    const small = peak(smallCore, how);
    if (existsSync(BIG_CORE)) {
      const big = peak(BIG_CORE, how);
      const ratio = big.maxRssKiB / small.maxRssKiB;
      console.log(`\npipe handler peak RSS${label}: ${(statSync(smallCore).size / MiB).toFixed(0)} MiB core ${(small.maxRssKiB / 1024).toFixed(1)} MiB (${small.wall.toFixed(0)} ms), 1 GiB core ${(big.maxRssKiB / 1024).toFixed(1)} MiB (${big.wall.toFixed(0)} ms)`);
      row(`pipe handler peak RSS${label}: 1 GiB core / 3 MiB core`, `${(big.maxRssKiB / 1024).toFixed(1)} / ${(small.maxRssKiB / 1024).toFixed(1)} MiB`, ratio, "≤ 1.10 (flat)", ratio <= 1.1);
    } else {
      row(`pipe handler peak RSS${label}: 1 GiB core / 3 MiB core`, `${(small.maxRssKiB / 1024).toFixed(1)} MiB (3 MiB core); no 1 GiB core: run bench/inspect/run.sh`, "-", "≤ 1.10 (flat)", undefined);
    }
  }
}

// 5. binary size, per target --------------------------------------------------
if (want("binary")) {
  const targets = process.env.SKIP_CROSS ? [undefined] : [undefined, "bun-linux-x64-musl", "bun-linux-arm64"];
  const sizes: string[] = [];
  for (const target of targets) {
    const name = target ?? "native (bun-linux-x64)";
    try {
      const h = hello(target);
      const ck = target ? join(OUT, target, "crashkeep") : BIN;
      if (target) must([BUN, ...compileArgs(ck, { target })]);
      const extra = statSync(ck).size - statSync(h).size;
      sizes.push(`${name}: crashkeep ${(statSync(ck).size / MiB).toFixed(2)} MiB, hello ${(statSync(h).size / MiB).toFixed(2)} MiB`);
      row(`binary: crashkeep − H, ${name}`, `${(extra / MiB).toFixed(2)} MiB`, `${(extra / MiB / 2).toFixed(2)} of limit`, "≤ 2 MiB", extra <= 2 * MiB);
    } catch (err) {
      row(`binary: crashkeep − H, ${name}`, `cannot build: ${err instanceof Error ? err.message.split("\n")[0] : String(err)}`, "-", "≤ 2 MiB", undefined);
    }
  }
  // What each dependency adds: the same build with that dependency left out of the bundle (--external).
  const deps = (JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { dependencies?: Record<string, string> }).dependencies ?? {};
  console.log(`\nbinary sizes: ${sizes.join("; ")}`);
  for (const [dep, spec] of Object.entries(deps)) {
    const without = join(OUT, `without-${dep.replace(/[^a-z0-9]/gi, "_")}`);
    const args = compileArgs(without);
    must([BUN, ...args.slice(0, 1), "--external", dep, ...args.slice(1)]);
    const adds = statSync(BIN).size - statSync(without).size;
    // file:build/shims/...: what stands in for one of MQTT.js's dependencies (build/shims/README.md).
    const what = spec.startsWith("file:") ? ` (${spec.slice("file:".length)}, in place of MQTT.js's own)` : "";
    console.log(`${dep}${what} adds ${(adds / MiB).toFixed(2)} MiB to the native binary (source + bytecode)`);
    notes.push(`${dep} adds ${(adds / MiB).toFixed(2)} MiB`);
  }
}

// The table --------------------------------------------------------------------
console.log(`\nTargets (load average ${loadAverage()} at the end; H = compiled Bun hello-world, same Bun and flags):`);
console.log("| target | measured | ratio | limit | verdict |");
console.log("|---|---|---|---|---|");
for (const r of rows) console.log(`| ${r.target} | ${r.measured} | ${r.ratio} | ${r.limit} | ${r.ok === undefined ? "NOT MEASURED" : verdict(r.ok)} |`);
if (process.env.BENCH_TARGETS_OUT) appendFileSync(process.env.BENCH_TARGETS_OUT, JSON.stringify({ rows, notes, load: loadAverage() }) + "\n");

// Journal benchmark: record append latency, and the cost of one log-mirror
// update for 64 KiB, 1 MiB and 8 MiB areas against the naive way (copy the
// whole tail window, dd-style, on every update). Run:
//   node_modules/.bin/bun bench/journal/run.ts
// Devices are regular files on tmpfs (/dev/shm when present): RAM-backed
// like phram, reached through the same pread/pwrite path as mtdchar.
// Targets (issue 4: the mirror cost "must not grow with the area", measured
// against the naive whole-window copy), printed MET / NOT MET, never asserted:
// the 8 MiB area's median and bytes per update against the 64 KiB area's
// (flat: FLAT_RATIO), and per area mirrorLog against the naive copy (no more
// time, no more bytes). Append latency has no target: printed as measured.
import { appendFileSync, existsSync, mkdtempSync, openSync, readSync, closeSync, rmSync, writeFileSync, fstatSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openDevice, type BlockDevice } from "../../src/copy/block-device.ts";
import { appendRecord, formatJournal, openJournal } from "../../src/journal/journal.ts";
import { mirrorLog } from "../../src/journal/mirror.ts";
import { verdict } from "../verdict.ts";

/** "Flat": the 8 MiB area (128× the 64 KiB one) may cost at most this many times as much (room for this machine's noise). */
const FLAT_RATIO = 1.5;

const base = existsSync("/dev/shm") ? "/dev/shm" : tmpdir();
const dir = mkdtempSync(join(base, "crashkeep-bench-"));
const KiB = 1024;
const MiB = 1024 * KiB;

function counting(dev: BlockDevice): BlockDevice & { written: number } {
  const wrapped = {
    ...dev,
    written: 0,
    writeAt(buf: Uint8Array, position: number) {
      wrapped.written += buf.length;
      dev.writeAt(buf, position);
    },
  };
  return wrapped;
}

function stats(samplesUs: number[]): { median: number; p95: number } {
  const s = [...samplesUs].sort((a, b) => a - b);
  return { median: s[Math.floor(s.length / 2)] ?? 0, p95: s[Math.floor(s.length * 0.95)] ?? 0 };
}

const fmt = (us: number) => (us >= 1000 ? `${(us / 1000).toFixed(2)} ms` : `${us.toFixed(0)} µs`);
const fmtBytes = (b: number) => (b >= MiB ? `${(b / MiB).toFixed(1)} MiB` : b >= KiB ? `${(b / KiB).toFixed(1)} KiB` : `${b} B`);

function line(i: number): string {
  return `Nov 26 03:00:00 host app[${1000 + (i % 9000)}]: request ${i} served in ${i % 97} ms status=ok\n`;
}

// 1. Record append latency.
function benchAppend(locking: boolean): { median: number; p95: number } {
  const path = join(dir, `append-${locking}.img`);
  writeFileSync(path, new Uint8Array(8 * MiB));
  const dev = openDevice(path, { write: true });
  formatJournal(dev, { runDir: join(dir, "run"), locking });
  const journal = openJournal(dev, { runDir: join(dir, "run"), locking });
  const report = new TextEncoder().encode(JSON.stringify({ signal: "SIGSEGV", frames: Array.from({ length: 40 }, (_, i) => ({ pc: `0x${(0x400000 + i * 64).toString(16)}`, module: "/usr/bin/app", symbol: `fn_${i}+0x1c` })) }));
  const samples: number[] = [];
  for (let i = 0; i < 1200; i++) {
    const t = Bun.nanoseconds();
    appendRecord(journal, { kind: "crash-report", payload: report });
    if (i >= 200) samples.push((Bun.nanoseconds() - t) / 1000);
  }
  dev.close();
  return stats(samples);
}

// 2. Mirror update vs naive whole-window copy.
interface MirrorRow {
  area: number;
  mirror: { median: number; p95: number };
  mirrorBytes: number;
  naive: { median: number; p95: number };
  naiveBytes: number;
}

function benchMirror(areaBytes: number): MirrorRow {
  const path = join(dir, `mirror-${areaBytes}.img`);
  writeFileSync(path, new Uint8Array(areaBytes + 256 * KiB));
  const raw = openDevice(path, { write: true });
  const log = join(dir, `messages-${areaBytes}`);
  formatJournal(raw, { runDir: join(dir, "run"), slotBytes: 16 * KiB, logs: [{ path: log, bytes: areaBytes }] });
  const dev = counting(raw);
  const journal = openJournal(dev, { runDir: join(dir, "run") });
  // Fill the area completely first, so every update also wraps.
  let text = "";
  for (let i = 0; text.length < areaBytes * 1.2; i++) text += line(i);
  writeFileSync(log, text);
  mirrorLog(journal, { area: 0, path: log });
  for (let i = 0; i < 100; i++) {
    appendFileSync(log, line(i)); // warm-up: JIT and page cache, not measured
    mirrorLog(journal, { area: 0, path: log });
  }
  const rounds = 1000;
  const samples: number[] = [];
  dev.written = 0;
  for (let i = 0; i < rounds; i++) {
    appendFileSync(log, line(i) + line(i + 1)); // about two syslog lines per interval
    const t = Bun.nanoseconds();
    mirrorLog(journal, { area: 0, path: log });
    samples.push((Bun.nanoseconds() - t) / 1000);
  }
  const mirrorBytes = dev.written / rounds;

  // Naive: read the last areaBytes of the log and write the whole window, 1 MiB blocks (dd bs=1M).
  const window = areaBytes;
  const offset = 2 * 4096;
  const naive: number[] = [];
  const block = new Uint8Array(Math.min(MiB, window));
  dev.written = 0;
  const naiveRounds = areaBytes >= 8 * MiB ? 60 : rounds;
  for (let i = 0; i < naiveRounds; i++) {
    appendFileSync(log, line(i) + line(i + 1));
    const t = Bun.nanoseconds();
    const fd = openSync(log, "r");
    const size = Number(fstatSync(fd).size);
    const start = Math.max(0, size - window);
    for (let done = 0; done < window; done += block.length) {
      const n = readSync(fd, block, 0, Math.min(block.length, window - done), start + done);
      dev.writeAt(block.subarray(0, n), offset + done);
    }
    closeSync(fd);
    dev.sync();
    naive.push((Bun.nanoseconds() - t) / 1000);
  }
  const naiveBytes = dev.written / naiveRounds;
  raw.close();
  return { area: areaBytes, mirror: stats(samples), mirrorBytes, naive: stats(naive), naiveBytes };
}

try {
  const locked = benchAppend(true);
  const unlocked = benchAppend(false);
  const rows = [64 * KiB, 1 * MiB, 8 * MiB].map(benchMirror);
  const out: string[] = [];
  out.push(`Journal benchmark (${new Date().toISOString()}, bun ${Bun.version}, ${process.arch}, device files on ${base})`);
  out.push("");
  out.push("Record append (2.3 KiB JSON crash report, deflated, 8 MiB device, 1000 appends):");
  out.push("");
  out.push("| lock file | median | p95 |");
  out.push("|---|---|---|");
  out.push(`| yes | ${fmt(locked.median)} | ${fmt(locked.p95)} |`);
  out.push(`| no | ${fmt(unlocked.median)} | ${fmt(unlocked.p95)} |`);
  out.push("");
  out.push("Log mirror update (two new syslog lines, ~160 B, area already full and wrapping):");
  out.push("");
  out.push("| area | mirrorLog median | p95 | bytes written | naive window copy median | bytes written | naive / mirrorLog |");
  out.push("|---|---|---|---|---|---|---|");
  for (const r of rows) {
    out.push(
      `| ${fmtBytes(r.area)} | ${fmt(r.mirror.median)} | ${fmt(r.mirror.p95)} | ${fmtBytes(Math.round(r.mirrorBytes))} | ${fmt(r.naive.median)} | ${fmtBytes(Math.round(r.naiveBytes))} | ${(r.naive.median / r.mirror.median).toFixed(1)}× |`,
    );
  }
  const small = rows[0] as MirrorRow;
  const large = rows[rows.length - 1] as MirrorRow;
  const timeFlat = large.mirror.median / small.mirror.median;
  const bytesFlat = large.mirrorBytes / small.mirrorBytes;
  out.push("");
  out.push(verdict("mirrorLog time, 8 MiB area / 64 KiB area", `${fmt(large.mirror.median)} / ${fmt(small.mirror.median)} = ${timeFlat.toFixed(2)}×`, `≤ ${FLAT_RATIO}× (flat: must not grow with the area)`, timeFlat <= FLAT_RATIO));
  out.push(verdict("mirrorLog bytes written per update, 8 MiB area / 64 KiB area", `${fmtBytes(Math.round(large.mirrorBytes))} / ${fmtBytes(Math.round(small.mirrorBytes))} = ${bytesFlat.toFixed(2)}×`, `≤ ${FLAT_RATIO}× (O(new bytes), not O(area))`, bytesFlat <= FLAT_RATIO));
  for (const r of rows) {
    const ratio = r.naive.median / r.mirror.median;
    out.push(verdict(`mirrorLog vs naive window copy, ${fmtBytes(r.area)} area, time`, `naive / mirrorLog = ${ratio.toFixed(2)}× (${fmt(r.naive.median)} / ${fmt(r.mirror.median)})`, "≥ 1× (no slower than the naive copy)", ratio >= 1));
    out.push(verdict(`mirrorLog vs naive window copy, ${fmtBytes(r.area)} area, bytes written`, `naive / mirrorLog = ${(r.naiveBytes / r.mirrorBytes).toFixed(1)}× (${fmtBytes(Math.round(r.naiveBytes))} / ${fmtBytes(Math.round(r.mirrorBytes))})`, "≥ 1× (no more bytes than the naive copy)", r.naiveBytes >= r.mirrorBytes));
  }
  out.push(`(no target) record append: median ${fmt(locked.median)} with the lock file, ${fmt(unlocked.median)} without (issue 4 asks for the figure only)`);
  console.log(out.join("\n"));
} finally {
  rmSync(dir, { recursive: true, force: true });
}

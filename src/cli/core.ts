// crashkeep core: the core_pattern pipe handler (cores.mode "pipe"; init sets
// `|/usr/bin/crashkeep core %P %I %s %t %E`). The kernel runs it as root with
// the core on stdin; it is read forward-only, keeping only the notes and the
// stack memory the report needs, so memory does not grow with the core.
import { closeSync, fsyncSync, mkdirSync, openSync, renameSync, unlinkSync, writeSync } from "node:fs";
import { createGzip } from "node:zlib";
import { parseArgs, UsageError } from "./args.ts";
import { journalDevice, loadConfigOrDefaults } from "../config/load.ts";
import { openDevice, type BlockDevice } from "../copy/block-device.ts";
import { openJournal, type Journal } from "../journal/journal.ts";
import { readCoreStream } from "../core/source.ts";
import { buildReport } from "../core/report.ts";
import { captureReport, RATE_STATE_FILE, type CaptureContext } from "../daemon/capture.ts";
import { reportsDir } from "../daemon/reports-dir.ts";
import { retryPending } from "../daemon/journal-retry.ts";
import { RateLimiter } from "../daemon/rate-limit.ts";
import { enforceCoreLimits, KEPT_SUBDIR } from "../daemon/core-watcher.ts";
import { sanitizeName, stamp } from "../daemon/names.ts";
import { writeKmsg } from "../boot/init.ts";
import { makePaths, type Paths } from "../system/paths.ts";
import { removeStaleTemps, tempName } from "../archive/temp-files.ts";
import { fsyncDir, writeAll } from "../archive/durable.ts";
import { fdChunks } from "../system/fd-chunks.ts";
import { initWho, waitForInit } from "../boot/init-state.ts";

export const help = `Usage: crashkeep core PID TID SIGNAL TIME EXE   (core on stdin)

The kernel's core_pattern pipe handler: "crashkeep init" sets
  |/usr/bin/crashkeep core %P %I %s %t %E
when cores.mode is "pipe". Reads the core forward-only with bounded memory,
writes the report to the journal (compact) and <archive.dir>/reports (full),
and with cores.saveCores keeps the core gzip-compressed in cores.dir/kept,
cut at cores.maxCoreBytes. Problems go to the kernel log (/dev/kmsg): the
kernel does not show a pipe handler's output anywhere.`;

/** Bytes read from stdin at most: a core larger than this is drained and flagged, not read further. */
const MAX_STREAM_BYTES = 64 * 1024 ** 3;
/**
 * How long a crash early in a boot waits for this boot's init to open this
 * boot's journal record (init-state.ts INIT_RUNNING_FILE): the kernel holds
 * the crashed process meanwhile (core_pipe_limit bounds how many).
 */
export const CORE_INIT_WAIT_MS = 30_000;

async function* tee(stream: AsyncIterable<Uint8Array>, sink: ((chunk: Uint8Array) => Promise<void>) | undefined): AsyncGenerator<Uint8Array> {
  let total = 0;
  for await (const chunk of stream) {
    total += chunk.length;
    if (total > MAX_STREAM_BYTES) continue;
    if (sink) await sink(chunk);
    yield chunk;
  }
}

/**
 * Compressed bytes between two full garbage collections while a core is
 * saved. Every compressed chunk node:zlib hands out is a fresh buffer that
 * outlives the young generation; left to the collector they raised the peak
 * RSS by 8-10 MiB for a 1 GiB core (docs/BENCHMARKS.md, "Memory"). A full
 * collection costs about 5 ms here, against about 60 ms to compress 4 MiB.
 */
const GC_EVERY_OUTPUT_BYTES = 4 * 1024 * 1024;

/** A gzip writer into dir/name that stops taking input past capBytes of core. */
function coreSaver(dir: string, name: string, capBytes: number) {
  const tmp = `${dir}/${tempName(`.${name}.tmp`)}`;
  // A failing disk (EIO, ENOSPC) stops the saving, never the report: the
  // error is kept for finish(), not thrown at the reader (nor left unhandled).
  let failed: unknown;
  let failedNow = () => {};
  const failure = new Promise<void>((resolve) => {
    failedNow = resolve;
  });
  const fail = (err: unknown) => {
    failed ??= err;
    failedNow();
  };
  let fd: number | undefined;
  try {
    // A cores directory that cannot be made fails the saving, not the report.
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    removeStaleTemps(dir, `.${name}.tmp`);
    // "wx": O_CREAT|O_EXCL, which also refuses a symlink planted at the name.
    fd = openSync(tmp, "wx", 0o600);
  } catch (err) {
    fail(err);
  }
  const gzip = createGzip({ level: 1 });
  // Each compressed chunk goes to the file at once (a synchronous write) and
  // is garbage right after: a write stream queued them, and the pipe
  // handler's RSS grew with the core (docs/BENCHMARKS.md, "Memory").
  let output = 0;
  let collectedAt = 0;
  gzip.on("data", (out: Uint8Array) => {
    output += out.length;
    if (failed !== undefined || fd === undefined) return;
    try {
      writeAll(fd, out);
    } catch (err) {
      fail(err);
    }
  });
  gzip.on("error", fail);
  const ended = new Promise<void>((resolve) => {
    gzip.on("end", resolve);
  });
  let taken = 0;
  let truncated = false;
  const close = () => {
    if (fd === undefined) return;
    try {
      closeSync(fd);
    } catch (err) {
      fail(err);
    }
    fd = undefined;
  };
  return {
    /**
     * Resolves when gzip has consumed the chunk (or the saving failed): the
     * chunk is a view of the reader's reused buffer, and waiting for each one
     * keeps memory bounded whatever the core size.
     */
    async write(chunk: Uint8Array): Promise<void> {
      if (failed !== undefined) return;
      if (taken >= capBytes) {
        truncated = true;
        return;
      }
      const part = chunk.subarray(0, capBytes - taken);
      if (part.length < chunk.length) truncated = true;
      taken += part.length;
      try {
        const consumed = new Promise<void>((resolve) => {
          gzip.write(part, (err) => {
            if (err) fail(err);
            resolve();
          });
        });
        await Promise.race([consumed, failure]);
      } catch (err) {
        fail(err);
      }
      if (output - collectedAt >= GC_EVERY_OUTPUT_BYTES) {
        collectedAt = output;
        Bun.gc(true);
      }
    },
    async finish(): Promise<{ path: string; truncated: boolean }> {
      if (failed === undefined) {
        gzip.end();
        await Promise.race([ended, failure]);
      }
      // The archive's rule: the bytes on disk before the name says "whole core".
      if (failed === undefined && fd !== undefined) {
        try {
          fsyncSync(fd);
        } catch (err) {
          fail(err);
        }
      }
      close();
      if (failed !== undefined) throw failed instanceof Error ? failed : new Error(String(failed));
      const final = `${dir}/${name}${truncated ? ".truncated" : ""}.gz`;
      renameSync(tmp, final);
      fsyncDir(dir);
      return { path: final, truncated };
    },
    abort() {
      gzip.destroy();
      close();
      try {
        unlinkSync(tmp);
      } catch {
        // already gone
      }
    },
  };
}

/**
 * Where the handler looks for the crashed process's files: first through its
 * own view, /proc/PID/root (a container's or a chroot's files, at the paths
 * the core names), then under the root prefix. The kernel keeps the process,
 * and so /proc/PID, until the handler exits (core_pipe_limit, which init
 * sets); the build-id decides which file is the one that was mapped.
 */
function moduleRoots(paths: Paths, pid: string): string[] {
  return /^[1-9][0-9]*$/.test(pid) ? [paths.sys(`/proc/${pid}/root`), paths.root] : [paths.root];
}

export async function run(args: string[]): Promise<number> {
  const { positionals, values } = parseArgs(args, { values: ["config"] });
  if (positionals.length < 5) throw new UsageError("Needs PID TID SIGNAL TIME EXE (core_pattern: |crashkeep core %P %I %s %t %E)");
  const [pid = "", tid = "", signal = "", time = "", exeArg = ""] = positionals;
  const paths = makePaths();
  const { config, problems } = loadConfigOrDefaults(values.get("config"), { paths });
  if (problems.length > 0) problems.push("continuing with the default config");
  const exe = exeArg.replaceAll("!", "/"); // %E writes "/" as "!" (fs/coredump.c)
  let device: BlockDevice | undefined;
  let journal: Journal | undefined;
  const when = Number(time) > 0 ? new Date(Number(time) * 1000) : new Date();
  const saver = config.cores.saveCores && config.cores.maxCores > 0
    ? coreSaver(paths.sys(`${config.cores.dir}/${KEPT_SUBDIR}`), `${stamp(when)}-${sanitizeName(exe.split("/").pop())}-${sanitizeName(pid)}.core`, config.cores.maxCoreBytes)
    : undefined;
  try {
    const core = await readCoreStream(tee(fdChunks(0), saver ? (c) => saver.write(c) : undefined));
    // A crash early in a boot, while this boot's init (watch --init, in the background) has not yet
    // opened this boot's journal record (nor, maybe, the journal's device): the report waits for it,
    // or it would be the previous boot's. The core is read: only the kernel's hold on the process waits.
    const initPid = await waitForInit(paths, CORE_INIT_WAIT_MS);
    if (initPid !== undefined) problems.push(`this boot's init (${initWho(initPid)}) still runs after ${CORE_INIT_WAIT_MS / 1000} s: the report may go into the previous boot's journal record`);
    try {
      device = openDevice(journalDevice(config, paths), { write: true, paths });
      journal = openJournal(device, { paths });
    } catch (err) {
      problems.push(`${err instanceof Error ? err.message : String(err)}; the report goes to the archive only`);
    }
    const ctx: CaptureContext = { config, paths, journal, limiter: new RateLimiter(config.cores.reportsPerMinute, paths.sys(RATE_STATE_FILE)) };
    const result = captureReport({ exe, build: () => buildReport(core, { sysroot: moduleRoots(paths, pid) }), id: `pipe:${pid}:${tid}:${time}:${exe}` }, ctx, when);
    problems.push(...result.problems);
    let saved: { path: string; truncated: boolean } | undefined;
    if (saver) {
      try {
        saved = await saver.finish();
        enforceCoreLimits(paths.sys(`${config.cores.dir}/${KEPT_SUBDIR}`), config.cores.maxCores, config.cores.maxTotalBytes);
      } catch (err) {
        saver.abort();
        problems.push(`Cannot save the core of ${exe} (pid ${pid}) in "${paths.sys(`${config.cores.dir}/${KEPT_SUBDIR}`)}": ${err instanceof Error ? err.message : String(err)}`);
      }
    }
    writeKmsg(paths, `crashkeep: ${result.reported ? "reported" : "rate-limited"} crash of ${exe} (pid ${pid}, tid ${tid}, signal ${signal})` +
      (result.reportDir ? ` → ${result.reportDir}` : "") + (saved ? `; core kept${saved.truncated ? " (cut at cores.maxCoreBytes)" : ""}` : ""));
    // Earlier reports whose journal write failed (EIO...): written now if the device answers, unless it
    // just failed this crash's write (then the next pass, handler or boot tries; the first failure ends a try).
    if (journal && !result.journalFailed) {
      const retried = retryPending(journal, reportsDir(config, paths));
      for (const w of retried.written) writeKmsg(paths, `crashkeep: wrote the report ${w.report} into the journal (record ${w.seq}), after an earlier failure`);
      problems.push(...retried.problems);
    }
  } catch (err) {
    saver?.abort();
    problems.push(`Cannot report the crash of ${exe} (pid ${pid}): ${err instanceof Error ? err.message : String(err)}`);
  } finally {
    device?.close();
  }
  for (const p of problems) {
    const line = `crashkeep core: ${p}`;
    // The kernel log refused the line (EIO, full, absent): stderr is the last
    // place left (the kernel gives a pipe handler none, so fd 2 may be closed).
    if (!writeKmsg(paths, line)) {
      try {
        writeSync(2, `${line}\n`);
      } catch {
        // nowhere to say it; the exit status still does
      }
    }
  }
  return problems.length === 0 ? 0 : 1;
}

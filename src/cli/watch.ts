// crashkeep watch: the daemon. Mirrors the configured log tails into the
// journal every logs.intervalSeconds and on SIGUSR1; in cores.mode "watch"
// turns each finished core in cores.dir into a report (journal + archive)
// within a second. SIGTERM/SIGINT: a last mirror pass, then exit 0.
import { closeSync, constants, fstatSync, openSync, renameSync, rmSync, statSync, writeFileSync, writeSync, readFileSync } from "node:fs";
import type { Paths } from "../system/paths.ts";
import { parseArgs } from "./args.ts";
import { journalDevice, loadConfigOrDefaults } from "../config/load.ts";
import { openDevice, type BlockDevice } from "../copy/block-device.ts";
import { openJournal, type Journal } from "../journal/journal.ts";
import { mirrorAll } from "../daemon/log-mirror.ts";
import { CoreWatcher, type WatchEvent } from "../daemon/core-watcher.ts";
import { recordSuppressed, type CaptureContext } from "../daemon/capture.ts";
import { reportsDir } from "../daemon/reports-dir.ts";
import { retryPending } from "../daemon/journal-retry.ts";
import { RateLimiter } from "../daemon/rate-limit.ts";
import { makePaths } from "../system/paths.ts";
import type { Sender } from "../upload/sender.ts";
import { runInit } from "../boot/init.ts";
import { writeInitState } from "../boot/init-state.ts";
import { sdNotify } from "../system/sd-notify.ts";
import { writeKmsg } from "../boot/init.ts";
import { readBootId } from "../journal/boot-id.ts";
import type { RollbackDaemon } from "../rollback/daemon.ts";

export const help = `Usage: crashkeep watch [--init] [--config FILE] [--device PATH] [--pidfile FILE] [--once]

The daemon (started by /etc/init.d/S03crashkeep as "watch --init"):
  - mirrors the tail of each configured log (logs.files) into the journal
    every logs.intervalSeconds, and at once on SIGUSR1, so that the next boot
    can archive the last lines written before a panic, hang or reset;
  - with cores.mode "watch", reads each core the kernel finishes writing in
    cores.dir (inotify IN_CLOSE_WRITE: never a half-written one), writes its
    report to the journal (compact) and to <archive.dir>/reports (full JSON
    and text), keeps the core in cores.dir/kept within cores.maxCores and
    cores.maxTotalBytes; more than cores.reportsPerMinute crashes of one
    executable become one "suppressed N" record;
  - writes into the journal, at every pass, the reports whose journal write
    failed earlier (EIO...) once the device answers (docs/FORMAT.md);
  - with rollback.enabled, once the updater answers (waited for in the
    background): marks a good slot good, keeps a new install on probation
    for rollback.probationSeconds, counts a crash loop of a
    rollback.criticalExecutables, rolls back after rollback.maxBadBoots bad
    boots, and reports a fallback by the bootloader (docs/ROLLBACK.md).
SIGTERM or SIGINT: one last pass, then exit 0.

--init     first do what "crashkeep init" does (its lines on stdout, or on
           /dev/console when stdout is /dev/null, as under start-stop-daemon
           --background), then become the daemon: one process per boot. Its exit status and errors go to
           /run/crashkeep/init.json (crashkeep status shows them) once the
           daemon is ready; under systemd (Type=notify) READY=1 follows
--once     one mirror pass (and cores already waiting), and the rollback's
           decision for this boot carried out (no probation timer), then exit
--device   the journal device (default journal.device, else /dev/mtdchar/<phram.name>)
--pidfile  write the daemon's pid to FILE once it handles SIGUSR1/SIGTERM (a
           signal sent before then would kill it; with --init, before init's
           work: a SIGTERM then ends the daemon once init is done), remove it
           on exit; S03crashkeep waits for it before sending SIGTERM`;

/** Repeated failures of the same log are said once per this many passes, not every pass. */
const REPEAT_ERROR_EVERY = 150;

function say(line: string): void {
  console.error(`crashkeep watch: ${line}`);
}

function sayProblem(line: string | undefined): void {
  if (line !== undefined) say(line);
}

export async function run(args: string[]): Promise<number> {
  const { values, flags } = parseArgs(args, { values: ["config", "device", "pidfile"], flags: ["once", "init"] });
  const paths = makePaths();
  const pidfile = flags.has("once") ? undefined : values.get("pidfile");
  // The handlers first: with --init a signal may come while init still runs.
  // SIGTERM/SIGINT then wait for init's end (never cut through an archive
  // write), SIGUSR1 is dropped (the first pass comes anyway).
  const signals = { stopRequested: false, stop: undefined as (() => void) | undefined, usr1: undefined as (() => void) | undefined };
  const requestStop = () => {
    signals.stopRequested = true;
    signals.stop?.();
  };
  if (!flags.has("once")) {
    process.on("SIGTERM", requestStop);
    process.on("SIGINT", requestStop);
    process.on("SIGUSR1", () => signals.usr1?.());
  }
  let initStatus: { exitStatus: number; errors: string[] } | undefined;
  if (flags.has("init")) {
    if (pidfile) writePidfile(pidfile);
    const out = initOutput(paths);
    const result = await runInit({ configFile: values.get("config"), paths, report: out.line });
    out.close();
    initStatus = { exitStatus: result.ok ? 0 : 1, errors: result.errors };
  }
  const { config, problems } = loadConfigOrDefaults(values.get("config"), { paths });
  for (const line of problems) console.error(line);
  if (problems.length > 0) say("continuing with the default config");
  const path = values.get("device") ?? journalDevice(config, paths);
  let device: BlockDevice | undefined;
  let journal: Journal | undefined;
  try {
    device = openDevice(path, { write: true, paths });
    journal = openJournal(device, { paths });
  } catch (err) {
    // Without the journal the daemon still archives core reports (unless a device was asked for).
    if (config.cores.mode !== "watch" || values.has("device")) {
      // No daemon: init's outcome is kept all the same, and the pidfile names no one.
      if (initStatus) sayProblem(writeInitState(paths, { pid: process.pid, by: "watch --init", ...initStatus, exitStatus: 1 }));
      if (pidfile && flags.has("init")) removePidfile(pidfile);
      throw err;
    }
    say(`${err instanceof Error ? err.message : String(err)}; reports go to the archive only`);
  }
  // Upload on (upload.broker set): send what is queued, with delay and backoff.
  let sender: Sender | undefined;
  if (config.upload.broker !== undefined) {
    // Loaded only with upload on: the sender's outbox builds the payload
    // schemas (zod) and the client loads node:net, about 35M instructions
    // that a boot without upload would pay (docs/BENCHMARKS.md "boot").
    const { credentialProblems } = require("../upload/client.ts") as typeof import("../upload/client.ts");
    const { Sender } = require("../upload/sender.ts") as typeof import("../upload/sender.ts");
    const bad = credentialProblems(config, paths);
    for (const p of bad) say(`Cannot upload: ${p}`);
    if (bad.length === 0) sender = new Sender(config, paths, { log: (line) => say(`upload: ${line}`), configFile: values.get("config") });
  }
  const ctx: CaptureContext = { config, paths, journal, limiter: new RateLimiter(config.cores.reportsPerMinute) };
  // Rollback on (docs/ROLLBACK.md): src/rollback is loaded only then. Its lines go to the kernel log
  // too (the console), since a daemon started in the background has no terminal.
  let rollback: RollbackDaemon | undefined;
  if (config.rollback.enabled) {
    const { RollbackDaemon } = await import("../rollback/daemon.ts");
    const log = (line: string) => {
      say(`rollback: ${line}`);
      writeKmsg(paths, `crashkeep: rollback: ${line}`);
    };
    rollback = new RollbackDaemon({ config, paths, journal, bootId: readBootId(paths), log, once: flags.has("once") });
    ctx.onCrashLoop = () => void rollback?.crashLoop();
  }
  const lastError = new Map<string, { text: string; passes: number }>();
  const flushSuppressed = (force: boolean) => {
    for (const s of ctx.limiter.drain(Date.now(), force)) for (const p of recordSuppressed(ctx, s)) say(p);
  };
  /** Say a repeated failure once per REPEAT_ERROR_EVERY passes; undefined: `key` works again. */
  const sayOnce = (key: string, line: string | undefined) => {
    if (line === undefined) {
      lastError.delete(key);
      return;
    }
    const prev = lastError.get(key);
    if (!prev || prev.text !== line || prev.passes >= REPEAT_ERROR_EVERY) {
      say(line);
      lastError.set(key, { text: line, passes: 0 });
    } else {
      prev.passes++;
    }
  };
  let failed = 0;
  const pass = () => {
    if (journal) {
      for (const r of mirrorAll(journal, config, paths).results) sayOnce(r.path, r.error === undefined ? undefined : `Cannot mirror "${r.path}": ${r.error}`);
      // Reports whose journal write failed earlier (EIO...): written now if the device answers.
      const retried = retryPending(journal, reportsDir(config, paths));
      for (const w of retried.written) say(`wrote the report ${w.report} into the journal (record ${w.seq}), after an earlier failure`);
      sayOnce("journal retry", retried.problems.length > 0 ? retried.problems.join("; ") : undefined);
      failed += retried.problems.length > 0 ? 1 : 0;
    }
    flushSuppressed(false);
    rollback?.pass();
    sender?.poke();
  };
  const onEvent = (e: WatchEvent) => {
    if (e.error || (e.result?.problems.length ?? 0) > 0) failed++;
    if (e.error) say(e.error);
    else if (e.result?.reported) {
      say(`reported ${e.core}${e.result.reportDir ? ` → ${e.result.reportDir}` : ""}${e.result.problems.length ? ` (${e.result.problems.join("; ")})` : ""}`);
      sender?.poke();
    }
    else if (e.result) for (const p of e.result.problems) say(p);
  };
  const watcher = config.cores.mode === "watch" ? new CoreWatcher(ctx, onEvent) : undefined;
  pass();
  if (flags.has("once")) {
    // Exit 1 when a waiting core could not be reported and archived whole (it stays for the next run).
    if (watcher) {
      try {
        for (const name of watcher.pending()) onEvent(watcher.processOne(name));
      } catch (err) {
        onEvent({ core: watcher.dir, error: err instanceof Error ? err.message : String(err) });
      }
    }
    flushSuppressed(true);
    // The rollback's decision for this boot, after the waiting cores (a crash loop among them), carried out to its end.
    if (rollback) {
      void rollback.start();
      await rollback.idle();
      rollback.stop();
      failed += rollback.failures;
    }
    device?.close();
    if (sender) {
      await sender.stop(); // no timers: --once flushes here and exits
      const { flushOutbox } = await import("../upload/flush.ts");
      const r = await flushOutbox(config, paths, { log: (line) => say(`upload: ${line}`) });
      if (r.sent > 0 || r.remaining > 0) say(`upload: sent ${r.sent}, ${r.remaining} left${r.error ? `: ${r.error}` : ""}`);
    }
    if (initStatus) sayProblem(writeInitState(paths, { pid: process.pid, by: "watch --init", ...initStatus }));
    // A config that could not be read ran as the defaults: with rollback (or upload) meant on, this
    // run's decision was silently skipped; exit 1 says so (found by the fault sweep's rollback path).
    return failed > 0 || problems.length > 0 || (initStatus?.exitStatus ?? 0) !== 0 ? 1 : 0;
  }
  watcher?.start();
  return await new Promise<number>((resolve) => {
    const timer = setInterval(pass, config.logs.intervalSeconds * 1000);
    const stop = () => {
      clearInterval(timer);
      rollback?.stop();
      watcher?.stop();
      try {
        pass();
        flushSuppressed(true);
      } finally {
        device?.close();
        // Publishes in flight finish (or time out); what is not acknowledged stays queued.
        void (sender?.stop() ?? Promise.resolve()).finally(() => resolve(0));
      }
    };
    signals.stop = stop;
    signals.usr1 = () => {
      pass();
      flushSuppressed(true);
    };
    // Only now can a signal be handled: the pidfile says so to whoever sends one.
    if (pidfile && !flags.has("init")) writePidfile(pidfile);
    // Ready: watching, first pass done. Init's outcome for `status`, then systemd's READY=1.
    if (initStatus) sayProblem(writeInitState(paths, { pid: process.pid, by: "watch --init", ...initStatus }));
    // The previous boot is archived (init's work is done): decide for this boot, waiting for the updater in the background.
    void rollback?.start();
    try {
      sdNotify("READY=1");
    } catch (err) {
      say(err instanceof Error ? err.message : String(err));
    }
    if (signals.stopRequested) stop();
  }).finally(() => {
    if (pidfile) removePidfile(pidfile);
  });
}

/**
 * Where init's lines go: stdout (a terminal, systemd's journal, a pipe), or
 * /dev/console when stdout is /dev/null (start-stop-daemon --background):
 * the console S03crashkeep's "crashkeep init" printed on. O_NOCTTY: the
 * detached daemon must not take the console as its controlling terminal.
 */
function initOutput(paths: Paths): { line(line: string): void; close(): void } {
  const toStdout = { line: (line: string) => console.log(line), close: () => {} };
  let fd: number;
  try {
    const out = fstatSync(1);
    const devNull = statSync("/dev/null");
    if (out.dev !== devNull.dev || out.ino !== devNull.ino) return toStdout;
    fd = openSync(paths.sys("/dev/console"), constants.O_WRONLY | constants.O_APPEND | constants.O_NOCTTY);
  } catch {
    return toStdout; // no stdout to look at, or no console: stdout it is
  }
  return {
    line: (line) => {
      try {
        writeSync(fd, `${line}\n`); // one write a line: whole between other writers' lines
      } catch {
        // a console that stopped taking writes: the errors are in init.json, the evidence in the archive
      }
    },
    close: () => closeSync(fd),
  };
}

/** FILE holds the pid, whole or not at all (written beside it, then renamed). */
function writePidfile(file: string): void {
  const tmp = `${file}.${process.pid}.tmp`;
  try {
    writeFileSync(tmp, `${process.pid}\n`, { mode: 0o644 });
    renameSync(tmp, file);
  } catch (err) {
    rmSync(tmp, { force: true });
    // The daemon goes on: the evidence matters more than the pidfile.
    say(`Cannot write the pidfile "${file}": ${err instanceof Error ? err.message : String(err)}; going on without it`);
  }
}

/** Removed only while it still names this process (a new daemon may have taken it over). */
function removePidfile(file: string): void {
  try {
    if (readFileSync(file, "utf8").trim() === String(process.pid)) rmSync(file, { force: true });
  } catch {
    // gone already
  }
}

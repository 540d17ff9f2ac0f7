// Watch mode: the kernel writes cores into cores.dir (core_pattern set by
// init); a core is read only once the kernel has closed it (IN_CLOSE_WRITE,
// fs/coredump.c), never half-written. Reported cores move to cores.dir/kept,
// where cores.maxCores / maxTotalBytes bound what stays on disk. Symlinks and
// anything but a regular file with one link are never followed or read.
import { closeSync, constants, fstatSync, lstatSync, mkdirSync, openSync, readdirSync, renameSync, statSync, unlinkSync, chmodSync } from "node:fs";
import { Inotify, IN_CLOSE_WRITE, IN_DELETE_SELF, IN_IGNORED, IN_MOVE_SELF, IN_MOVED_TO, IN_Q_OVERFLOW } from "../system/inotify.ts";
import { captureReport, coreExe, type CaptureContext, type CaptureResult } from "./capture.ts";
import { sanitizeName, stamp } from "./names.ts";
import { fsyncDir } from "../archive/durable.ts";

export const KEPT_SUBDIR = "kept";
/** Cores waiting to be read at once; a flood beyond this is handled by a rescan when the queue drains. */
const MAX_QUEUED_CORES = 256;
/** How long to wait before watching a core directory again after it disappeared. */
const REWATCH_DELAY_MS = 1000;
/** Cores remembered as handled (name, size, mtime): enough for a crash loop's burst. */
const MAX_HANDLED_CORES = 1024;
/**
 * After each core, a full garbage collection and a heap shrink; once no
 * core came for GC_IDLE_MS, both again. Each core leaves megabytes of
 * garbage (its notes, the report's strings) that the JavaScript heap
 * otherwise keeps: a burst of 1000 cores at 10/s took the daemon's RssAnon
 * from 7 to 27 MiB and left it at 2× (issue 24; bench/capture/burst.ts).
 * Once per batch of cores was not enough: a loaded machine falls behind, the
 * batches grow, and so did the peak (34 MiB at load 19); a collection per
 * core without the shrink still peaked at 16.5 MiB. It costs CPU: about
 * 18 ms a core where 9–14 ms went before (docs/BENCHMARKS.md "capture").
 */
const GC_IDLE_MS = 2000;

export interface WatchEvent {
  core: string;
  result?: CaptureResult;
  error?: string;
}

function isCandidate(name: string): boolean {
  return !name.startsWith(".") && name !== KEPT_SUBDIR;
}

/** Keep the newest maxCores cores within maxTotalBytes in dir; delete the rest (oldest first). */
export function enforceCoreLimits(dir: string, maxCores: number, maxTotalBytes: number): string[] {
  let files: Array<{ name: string; size: number; mtime: number }> = [];
  try {
    files = readdirSync(dir)
      .map((name) => {
        const st = lstatSync(`${dir}/${name}`);
        return st.isFile() ? { name, size: st.size, mtime: st.mtimeMs } : undefined;
      })
      .filter((f): f is { name: string; size: number; mtime: number } => f !== undefined)
      .sort((a, b) => b.mtime - a.mtime || (a.name < b.name ? 1 : -1));
  } catch {
    return [];
  }
  const removed: string[] = [];
  let total = 0;
  files.forEach((f, i) => {
    total += f.size;
    if (i >= maxCores || total > maxTotalBytes) {
      unlinkSync(`${dir}/${f.name}`);
      removed.push(f.name);
      total -= f.size;
    }
  });
  return removed;
}

export class CoreWatcher {
  readonly dir: string;
  #ctx: CaptureContext;
  #report: (e: WatchEvent) => void;
  #ino: Inotify | undefined;
  #queue: string[] = [];
  #busy = false;
  #stopped = false;
  #overflowed = false;
  /** Core ids handled in this daemon's life → reported: a core seen twice is not counted twice. */
  #handled = new Map<string, boolean>();
  #gcTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(ctx: CaptureContext, report: (e: WatchEvent) => void) {
    this.#ctx = ctx;
    this.#report = report;
    this.dir = ctx.paths.sys(ctx.config.cores.dir);
  }

  /** Create the directory (0700), watch it, and pick up cores already there. */
  start(): void {
    this.#watch();
  }

  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#gcTimer);
    this.#ino?.close();
    this.#ino = undefined;
  }

  #watch(): void {
    if (this.#stopped) return;
    try {
      mkdirSync(this.dir, { recursive: true, mode: 0o700 });
      chmodSync(this.dir, 0o700);
      const ino = new Inotify();
      ino.add(this.dir, IN_CLOSE_WRITE | IN_MOVED_TO | IN_DELETE_SELF | IN_MOVE_SELF);
      this.#ino = ino;
      this.#loop(ino);
      this.#rescan();
    } catch (err) {
      this.#report({ core: this.dir, error: `Cannot watch "${this.dir}": ${err instanceof Error ? err.message : String(err)}; retrying` });
      setTimeout(() => this.#watch(), REWATCH_DELAY_MS);
    }
  }

  #loop(ino: Inotify): void {
    ino.next().then(
      (events) => {
        if (this.#stopped || ino !== this.#ino) return;
        let gone = false;
        for (const e of events) {
          if (e.mask & IN_Q_OVERFLOW) this.#overflowed = true;
          if (e.mask & (IN_DELETE_SELF | IN_MOVE_SELF | IN_IGNORED)) gone = true;
          else if (e.mask & (IN_CLOSE_WRITE | IN_MOVED_TO) && isCandidate(e.name)) this.#enqueue(e.name);
        }
        if (this.#overflowed) {
          this.#overflowed = false;
          this.#rescan();
        }
        if (gone) {
          // The directory was removed or moved: watch it again once it exists (we recreate it).
          ino.close();
          this.#ino = undefined;
          this.#report({ core: this.dir, error: `Core directory "${this.dir}" disappeared; recreating it` });
          setTimeout(() => this.#watch(), REWATCH_DELAY_MS);
          return;
        }
        this.#loop(ino);
      },
      (err: unknown) => {
        if (this.#stopped) return;
        this.#report({ core: this.dir, error: `Cannot read inotify events: ${err instanceof Error ? err.message : String(err)}` });
      },
    );
  }

  /** Core files waiting in the directory (not yet reported), oldest name first. */
  pending(): string[] {
    try {
      return readdirSync(this.dir).filter(isCandidate).sort();
    } catch (err) {
      // No directory: no cores. An unreadable one (EIO...) is not "no cores".
      if (err instanceof Error && (err as { code?: unknown }).code === "ENOENT") return [];
      throw new Error(`Cannot list core directory "${this.dir}": ${err instanceof Error ? err.message : String(err)}`);
    }
  }

  #rescan(): void {
    try {
      for (const n of this.pending()) this.#enqueue(n);
    } catch (err) {
      this.#report({ core: this.dir, error: err instanceof Error ? err.message : String(err) });
    }
  }

  #enqueue(name: string): void {
    if (this.#queue.includes(name)) return;
    if (this.#queue.length >= MAX_QUEUED_CORES) {
      this.#overflowed = true;
      return;
    }
    this.#queue.push(name);
    if (!this.#busy) setTimeout(() => this.#drain(), 0);
  }

  #drain(): void {
    if (this.#busy) return;
    this.#busy = true;
    try {
      for (let name = this.#queue.shift(); name !== undefined && !this.#stopped; name = this.#queue.shift()) {
        this.#report(this.processOne(name));
        this.#collectGarbage();
      }
    } finally {
      this.#busy = false;
    }
    if (this.#overflowed && !this.#stopped) {
      this.#overflowed = false;
      this.#rescan();
    }
  }

  /** A full collection and a shrink now; once idle for GC_IDLE_MS, both again. */
  #collectGarbage(): void {
    Bun.gc(true);
    Bun.shrink();
    clearTimeout(this.#gcTimer);
    this.#gcTimer = setTimeout(() => {
      this.#gcTimer = undefined;
      Bun.gc(true);
      Bun.shrink();
    }, GC_IDLE_MS);
  }

  /** Report one core file of the directory, then keep it within the limits or delete it. */
  processOne(name: string): WatchEvent {
    const path = `${this.dir}/${name}`;
    let fd: number;
    try {
      fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
    } catch (err) {
      const code = err instanceof Error && "code" in err ? (err as { code: unknown }).code : undefined;
      if (code === "ENOENT") return { core: path, error: `Cannot read core "${path}": it is gone` };
      // ELOOP: a symlink. Never followed; removed so it cannot be tried again.
      if (code === "ELOOP") this.#remove(path);
      return { core: path, error: `Cannot read core "${path}": ${code === "ELOOP" ? "a symbolic link, removed" : err instanceof Error ? err.message : String(err)}` };
    }
    try {
      const st = fstatSync(fd);
      if (!st.isFile() || st.nlink !== 1) {
        this.#remove(path);
        return { core: path, error: `Cannot read core "${path}": not a regular file with one link, removed` };
      }
      // Read through our descriptor: the name may be swapped, the file we checked may not.
      // The core reader and the report builder (unwinder, demangler) are
      // required at the first core: the daemon's start-up never pays for them.
      const { readCoreFile } = require("../core/source.ts") as typeof import("../core/source.ts");
      const { buildReport } = require("../core/report.ts") as typeof import("../core/report.ts");
      const core = readCoreFile(`/proc/self/fd/${fd}`);
      const { cores } = this.#ctx.config;
      const id = `${name}:${st.size}:${st.mtimeMs}`;
      const seen = this.#handled.get(id);
      if (seen !== undefined) {
        // The same core again (a second close event, or a rescan before it was moved on):
        // counted and reported once already; only its keeping is left to do.
        this.#keep(path, name, undefined, undefined, this.#ctx.config.cores.maxCores > 0 && seen);
        return { core: path, result: { reported: false, reportDir: undefined, journalSeq: undefined, journalFailed: false, problems: [] } };
      }
      // The mapped files under the root prefix: the process is gone once its core file is
      // closed, so there is no /proc/PID/root to read them through (the pipe handler has one).
      const build = () => buildReport(core, { sysroot: this.#ctx.paths.root });
      const result = captureReport({ exe: coreExe(core), build, coreClosedMs: st.mtimeMs, id }, this.#ctx);
      if (!(result.reported && result.reportDir === undefined)) {
        this.#handled.set(id, result.reported);
        if (this.#handled.size > MAX_HANDLED_CORES) this.#handled.delete(this.#handled.keys().next().value ?? "");
      }
      // Reported but not archived (a full or failing disk): the core stays for the next pass.
      if (!(result.reported && result.reportDir === undefined)) this.#keep(path, name, core.psinfo?.fname, core.psinfo?.pid, cores.maxCores > 0 && result.reported);
      return { core: path, result };
    } catch (err) {
      // A core that does not parse (RangeError, SyntaxError: STYLE.md rule 6) is removed, so it
      // is not tried forever; any other failure (EIO, ENOSPC...) says nothing about the core: it
      // stays for the next pass.
      const malformed = err instanceof RangeError || err instanceof SyntaxError;
      if (malformed) this.#remove(path);
      return { core: path, error: `Cannot read core "${path}": ${err instanceof Error ? err.message : String(err)}; ${malformed ? "removed" : "kept for the next pass"}` };
    } finally {
      closeSync(fd);
    }
  }

  #keep(path: string, name: string, comm: string | undefined, pid: number | undefined, keep: boolean): void {
    const { cores } = this.#ctx.config;
    if (!keep) {
      this.#remove(path);
      return;
    }
    const kept = `${this.dir}/${KEPT_SUBDIR}`;
    mkdirSync(kept, { recursive: true, mode: 0o700 });
    const target = `${kept}/${stamp(new Date(statSync(path).mtimeMs))}-${sanitizeName(comm ?? name)}-${pid ?? "unknown"}.core`;
    renameSync(path, target);
    chmodSync(target, 0o600);
    // Durable before the next crash: a panic right after an undurable rename brings the core
    // back into the directory on the next boot, to be reported (and counted) again.
    this.#sync(kept);
    this.#sync(this.dir);
    enforceCoreLimits(kept, cores.maxCores, cores.maxTotalBytes);
  }

  #sync(dir: string): void {
    try {
      fsyncDir(dir);
    } catch {
      // best effort: the report is durable already; at worst the core is seen again
    }
  }

  #remove(path: string): void {
    try {
      unlinkSync(path);
      this.#sync(this.dir);
    } catch {
      // already gone
    }
  }
}

// What the boot hook's init half ended with, for `crashkeep status`: with
// `watch --init` (one process per boot) no script sees init's exit status,
// so it is kept in /run (a tmpfs: one boot's) as INIT_STATE_FILE.
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import type { Paths } from "../system/paths.ts";
import { readUptime } from "../system/uptime.ts";

export const INIT_STATE_FILE = "/run/crashkeep/init.json";
/** Errors kept in the state file at most (the console and kernel log have them all). */
const MAX_STATE_ERRORS = 20;

export interface InitState {
  /** The process that ran init (the daemon's pid with `watch --init`). */
  pid: number;
  /** 0: every step went well; 1: at least one step failed (the boot went on). */
  exitStatus: number;
  errors: string[];
  finishedAt: string;
  /** /proc/uptime when init finished (null where it cannot be read). */
  uptimeSeconds: number | null;
  /** "watch --init" (the daemon ready: watching, handlers installed) or "init". */
  by: "init" | "watch --init";
}


/** Write the state whole (beside it, then renamed); returns a problem line, or undefined. */
export function writeInitState(paths: Paths, state: Omit<InitState, "finishedAt" | "uptimeSeconds">): string | undefined {
  const file = paths.sys(INIT_STATE_FILE);
  const tmp = `${file}.${process.pid}.tmp`;
  const full: InitState = { ...state, errors: state.errors.slice(0, MAX_STATE_ERRORS), finishedAt: new Date().toISOString(), uptimeSeconds: readUptime(paths) };
  try {
    const dir = paths.sys("/run/crashkeep");
    mkdirSync(dir, { recursive: true, mode: 0o755 });
    // An earlier run killed between its write and its rename left its temp file.
    for (const name of readdirSync(dir)) if (/^init\.json\.\d+\.tmp$/.test(name)) rmSync(`${dir}/${name}`, { force: true });
    writeFileSync(tmp, `${JSON.stringify(full, null, 2)}\n`, { mode: 0o644 });
    renameSync(tmp, file);
    return undefined;
  } catch (err) {
    try {
      rmSync(tmp, { force: true });
    } catch {
      // no directory to hold it: nothing was written
    }
    return `Cannot write "${file}": ${err instanceof Error ? err.message : String(err)}`;
  }
}

/** The state of this boot's init, undefined when none ran (or the file is not ours). */
export function readInitState(paths: Paths): InitState | undefined {
  try {
    const value = JSON.parse(readFileSync(paths.sys(INIT_STATE_FILE), "utf8")) as Partial<InitState>;
    if (typeof value.pid !== "number" || typeof value.exitStatus !== "number" || !Array.isArray(value.errors) || typeof value.finishedAt !== "string") return undefined;
    return { pid: value.pid, exitStatus: value.exitStatus, errors: value.errors.map(String), finishedAt: value.finishedAt, uptimeSeconds: typeof value.uptimeSeconds === "number" ? value.uptimeSeconds : null, by: value.by === "watch --init" ? "watch --init" : "init" };
  } catch {
    return undefined;
  }
}

/**
 * Present while this boot's init runs, with its pid: until init has
 * archived the previous boot and opened this boot's journal record, a write
 * to the journal by another process (`crashkeep note --reason`, run by a
 * script after S03crashkeep while `watch --init` works in the background)
 * would land in the previous boot's record: its reason taken for the
 * previous boot's, and lost for this one. Such writers wait for it to go
 * (waitForInit).
 */
export const INIT_RUNNING_FILE = "/run/crashkeep/init.running";

/** Say that this process runs init; returns a problem line, or undefined. */
export function markInitRunning(paths: Paths): string | undefined {
  const file = paths.sys(INIT_RUNNING_FILE);
  try {
    mkdirSync(paths.sys("/run/crashkeep"), { recursive: true, mode: 0o755 });
    writeFileSync(file, `${process.pid}\n`, { mode: 0o644 });
    return undefined;
  } catch (err) {
    return `Cannot write "${file}": ${err instanceof Error ? err.message : String(err)}`;
  }
}

/** Init is done (or gave up): the marker goes. */
export function clearInitRunning(paths: Paths): void {
  try {
    rmSync(paths.sys(INIT_RUNNING_FILE), { force: true });
  } catch {
    // /run not writable: markInitRunning said so already
  }
}

/**
 * What S03crashkeep writes before it starts the daemon (whose pid it cannot
 * know yet): taken for an init still starting for at most STARTING_GRACE_MS
 * after it was written (the daemon replaces it within one Bun start).
 */
export const INIT_STARTING = "starting";
const STARTING_GRACE_MS = 60_000;

/**
 * The pid of this boot's init while it runs, 0 while it is still starting
 * (INIT_STARTING); undefined when none runs (no marker, or its process is gone).
 */
export function runningInitPid(paths: Paths): number | undefined {
  const file = paths.sys(INIT_RUNNING_FILE);
  let pid: number;
  try {
    const text = readFileSync(file, "utf8").trim();
    if (text === INIT_STARTING) return Math.abs(Date.now() - statSync(file).mtimeMs) <= STARTING_GRACE_MS ? 0 : undefined;
    pid = Number(text);
  } catch {
    return undefined;
  }
  if (!Number.isSafeInteger(pid) || pid <= 0 || pid === process.pid) return undefined;
  try {
    process.kill(pid, 0);
    return pid;
  } catch (err) {
    // EPERM: it runs, as another user; ESRCH: killed during init, the marker is stale.
    return (err as NodeJS.ErrnoException).code === "EPERM" ? pid : undefined;
  }
}

/**
 * Wait until no init of this boot runs, at most `limitMs`; returns the pid
 * of the init still running at the limit (0: still starting), or undefined
 * once none runs.
 */
export async function waitForInit(paths: Paths, limitMs: number, pollMs = 50): Promise<number | undefined> {
  const deadline = Date.now() + limitMs;
  for (;;) {
    const pid = runningInitPid(paths);
    if (pid === undefined || Date.now() >= deadline) return pid;
    await Bun.sleep(pollMs);
  }
}

/** "pid N", or "still starting" for runningInitPid's 0: for messages. */
export function initWho(pid: number): string {
  return pid === 0 ? "still starting" : `pid ${pid}`;
}

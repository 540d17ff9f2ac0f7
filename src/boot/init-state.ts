// What the boot hook's init half ended with, for `crashkeep status`: with
// `watch --init` (one process per boot) no script sees init's exit status,
// so it is kept in /run (a tmpfs: one boot's) as INIT_STATE_FILE.
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
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

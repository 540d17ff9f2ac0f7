// Mutual exclusion between journal writers in different processes (init, the
// watch daemon, `crashkeep note`). Bun has no flock(2) binding, so this is an
// O_CREAT|O_EXCL lock file holding "pid starttime nonce"; a lock whose owner
// is gone (kill(pid, 0) fails with ESRCH, or the pid was reused: its start
// time in /proc/PID/stat differs) is stale and broken by renaming it aside,
// which only one breaker can win.
import { closeSync, linkSync, mkdirSync, openSync, readFileSync, renameSync, statSync, unlinkSync, writeSync, constants } from "node:fs";
import { errorCode } from "../system/read-bounded.ts";

/** How long a writer waits for the lock: journal updates take milliseconds, so this means a hung owner. */
export const LOCK_WAIT_MS = 5000;
/** Poll interval while waiting; short because holders are short. */
const LOCK_POLL_MS = 2;
/** An empty lock file older than this belongs to a writer that died between create and write. */
const EMPTY_LOCK_STALE_MS = 2000;

/** This process's start time, read once (it cannot change). */
let ownStart: string | undefined;

export interface LockHandle {
  readonly path: string;
  release(): void;
}

/** Field 22 of /proc/PID/stat (start time in clock ticks), "0" when unreadable. */
function startTime(pid: number): string {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // comm (field 2) may hold spaces and parentheses: split after the last ")".
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return fields[19] ?? "0";
  } catch {
    return "0";
  }
}

function ownerAlive(content: string): boolean {
  const [pidText, start] = content.trim().split(" ");
  const pid = Number(pidText);
  if (!Number.isSafeInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
  } catch (err) {
    if (errorCode(err) !== "EPERM") return false;
  }
  // Same pid but a different start time: the owner died and its pid was reused.
  const now = startTime(pid);
  return start === undefined || start === "0" || now === "0" || now === start;
}

function readLock(path: string): { content: string; ageMs: number } | null {
  try {
    const content = readFileSync(path, "utf8");
    const ageMs = Date.now() - statSync(path).mtimeMs;
    return { content, ageMs };
  } catch (err) {
    if (errorCode(err) === "ENOENT") return null;
    throw err;
  }
}

/** Move a stale lock aside; if what we moved is no longer the stale one, put it back. */
function breakStale(path: string, staleContent: string, nonce: string): void {
  const aside = `${path}.stale.${process.pid}.${nonce}`;
  try {
    renameSync(path, aside);
  } catch (err) {
    if (errorCode(err) === "ENOENT") return; // another breaker won
    throw err;
  }
  let moved = "";
  try {
    moved = readFileSync(aside, "utf8");
  } catch {
    // Unreadable: treat as the stale one.
    moved = staleContent;
  }
  if (moved !== staleContent) {
    // We moved a fresh lock taken after our check: restore it unless a new one exists.
    try {
      linkSync(aside, path);
    } catch {
      // EEXIST: someone holds a newer lock; the owner we displaced will find its lock gone on release.
    }
  }
  unlinkSync(aside);
}

/**
 * Take the lock file `path` (creating its directory), waiting up to
 * `timeoutMs`. Throws when a live owner keeps it longer.
 */
export function acquireLock(path: string, options: { timeoutMs?: number } = {}): LockHandle {
  const timeoutMs = options.timeoutMs ?? LOCK_WAIT_MS;
  // Web Crypto, not node:crypto (whose module load costs more than the boot hook's own work).
  const nonce = Array.from(crypto.getRandomValues(new Uint8Array(8)), (b) => b.toString(16).padStart(2, "0")).join("");
  ownStart ??= startTime(process.pid);
  const token = `${process.pid} ${ownStart} ${nonce}\n`;
  const dir = path.slice(0, Math.max(path.lastIndexOf("/"), 1));
  let madeDir = false;
  const deadline = Date.now() + timeoutMs;
  let lastOwner = "";
  for (;;) {
    try {
      const fd = openSync(path, constants.O_CREAT | constants.O_EXCL | constants.O_WRONLY, 0o644);
      try {
        writeSync(fd, token);
      } catch (err) {
        // Our own lock file, created but never filled: not left for others to wait on.
        try {
          unlinkSync(path);
        } catch {
          // gone already
        }
        throw err;
      } finally {
        closeSync(fd);
      }
      return {
        path,
        release() {
          let content: string | undefined;
          try {
            content = readLock(path)?.content;
          } catch {
            // Unreadable (EIO...): still ours, since a live owner's lock is never broken.
            content = token;
          }
          if (content === token) unlinkSync(path);
        },
      };
    } catch (err) {
      if (errorCode(err) === "ENOENT" && !madeDir) {
        // The run directory is created on first use (/run is a fresh tmpfs each boot).
        madeDir = true;
        try {
          mkdirSync(dir, { recursive: true });
        } catch (mkErr) {
          throw new Error(`Cannot create lock directory "${dir}": ${mkErr instanceof Error ? mkErr.message : String(mkErr)}`);
        }
        continue;
      }
      if (errorCode(err) !== "EEXIST") {
        throw new Error(`Cannot create lock file "${path}": ${err instanceof Error ? err.message : String(err)}`);
      }
    }
    const held = readLock(path);
    if (held !== null) {
      lastOwner = held.content.trim().split(" ")[0] ?? "";
      const stale = held.content === "" ? held.ageMs > EMPTY_LOCK_STALE_MS : !ownerAlive(held.content);
      if (stale) {
        breakStale(path, held.content, nonce);
        continue;
      }
    }
    if (Date.now() > deadline) {
      throw new Error(`Cannot lock journal "${path}": held by pid ${lastOwner || "unknown"} for over ${timeoutMs} ms`);
    }
    Bun.sleepSync(LOCK_POLL_MS);
  }
}

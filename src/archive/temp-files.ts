// Temp files named "<prefix><pid>" (the writer's pid) are renamed into place
// once written; a writer killed between create and rename leaves one behind.
// The next writer removes those whose process is gone, so a crash loop or
// a power cut cannot fill the directory with them.
import { readdirSync, unlinkSync } from "node:fs";

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: the pid exists, owned by someone else.
    return err instanceof Error && "code" in err && (err as { code: unknown }).code === "EPERM";
  }
}

/** The temp file name for `prefix` of this process. */
export function tempName(prefix: string): string {
  return `${prefix}${process.pid}`;
}

/**
 * Remove dir/<prefix><pid> left by dead processes; failures are ignored (best effort).
 * A RegExp prefix matches the whole name up to the pid (for writers whose
 * file names differ each time, such as outbox entries).
 */
export function removeStaleTemps(dir: string, prefix: string | RegExp): string[] {
  const removed: string[] = [];
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return removed;
  }
  for (const name of names) {
    let pidText: string;
    if (typeof prefix === "string") {
      if (!name.startsWith(prefix)) continue;
      pidText = name.slice(prefix.length);
    } else {
      const m = prefix.exec(name);
      if (!m || m.index !== 0) continue;
      pidText = name.slice(m[0].length);
    }
    if (!/^\d+$/.test(pidText)) continue;
    const pid = Number(pidText);
    if (pid === process.pid || alive(pid)) continue;
    try {
      unlinkSync(`${dir}/${name}`);
      removed.push(name);
    } catch {
      // gone already, or not ours to remove
    }
  }
  return removed;
}

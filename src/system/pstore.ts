// pstore: mounting it, listing the records ramoops left, and reading what the
// kernel wrote (fs/pstore/inode.c pstore_mkfile names "%s-%s-%llu%s";
// platform.c pstore_dump writes "Panic#N Part1" / "Oops#N Part1" first).
import { readdirSync, readFileSync, statSync } from "node:fs";
import type { Paths } from "./paths.ts";
import { findProgram, runProgram } from "./modules.ts";

export const PSTORE_DIR = "/sys/fs/pstore";

export function isPstoreMounted(paths: Paths): boolean {
  try {
    const mounts = readFileSync(paths.sys("/proc/mounts"), "utf8");
    return mounts.split("\n").some((l) => {
      const [, dir, type] = l.split(" ");
      return type === "pstore" && dir === PSTORE_DIR;
    });
  } catch {
    return false;
  }
}

export function mountPstore(paths: Paths): void {
  if (isPstoreMounted(paths)) return;
  const mount = findProgram("mount", paths);
  if (!mount) throw new Error(`Cannot mount pstore at "${PSTORE_DIR}": no mount program`);
  const r = runProgram([mount, "-t", "pstore", "pstore", paths.sys(PSTORE_DIR)]);
  if (r.code !== 0) throw new Error(`Cannot mount pstore at "${PSTORE_DIR}": ${r.output || `mount exited with ${r.code}`}`);
}

export type RecordKind = "dmesg" | "console" | "pmsg" | "ftrace" | "other";

export interface PstoreRecord {
  file: string;
  path: string;
  kind: RecordKind;
  backend: string;
  id: number;
  compressed: boolean;
  size: number;
  /** Record time (the kernel sets the inode's mtime from the record header). */
  timeMs: number;
}

const NAME = /^(dmesg|console|pmsg|ftrace|[a-z]+)-([a-z0-9_]+)-(\d+)(\.enc\.z)?$/;

export function listRecords(paths: Paths): PstoreRecord[] {
  const dir = paths.sys(PSTORE_DIR);
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch (err) {
    // No pstore directory: no records. Any other error (EIO...) is not "no records".
    if (err instanceof Error && "code" in err && err.code === "ENOENT") return [];
    throw err;
  }
  const out: PstoreRecord[] = [];
  for (const file of names.sort()) {
    const m = NAME.exec(file);
    if (!m) continue;
    const [, kind = "other", backend = "", id = "0", enc] = m;
    const path = `${dir}/${file}`;
    const st = statSync(path);
    if (!st.isFile()) continue;
    out.push({
      file,
      path,
      kind: (["dmesg", "console", "pmsg", "ftrace"].includes(kind) ? kind : "other") as RecordKind,
      backend,
      id: Number(id),
      compressed: enc !== undefined,
      size: st.size,
      timeMs: st.mtimeMs,
    });
  }
  return out;
}

export interface DmesgSummary {
  /** "panic" or "oops" from the first line ("Panic#1 Part1"), else what it says. */
  reason: string;
  count: number;
  part: number;
  panicMessage: string | undefined;
  outOfMemory: boolean;
  /** The oops/BUG line when there is one ("BUG: kernel NULL pointer dereference, address: ..."). */
  oopsLine: string | undefined;
  lastLine: string | undefined;
}

const PREFIX = /^<\d+>\[\s*\d+\.\d+\] /;

/** Strip the syslog prefix pstore_dump adds ("<0>[   12.345678] "). */
export function stripPrefix(line: string): string {
  return line.replace(PREFIX, "");
}

/** Read what the kernel wrote in a dmesg record; tolerant of damaged text. */
export function summarizeDmesg(text: string): DmesgSummary {
  const lines = text.split("\n");
  const head = /^(Panic|Oops|Emergency|Shutdown|Restart|Halt|Poweroff|Unknown)#(\d+) Part(\d+)/.exec(lines[0] ?? "");
  let panicMessage: string | undefined;
  let oopsLine: string | undefined;
  let oomKiller = false;
  let lastLine: string | undefined;
  for (const raw of lines.slice(1)) {
    const line = stripPrefix(raw).trimEnd();
    if (!line) continue;
    lastLine = line;
    const p = /Kernel panic - not syncing: (.*)$/.exec(line);
    if (p) panicMessage = (p[1] ?? "").trim();
    if (!oopsLine && /^(BUG: |Oops: |general protection fault|kernel BUG at)/.test(line)) oopsLine = line;
    if (/invoked oom-killer|Out of memory: |oom-kill:|oom_reaper/.test(line)) oomKiller = true;
  }
  const outOfMemory = (panicMessage !== undefined && /Out of memory|panic_on_oom|System is deadlocked on memory/.test(panicMessage)) ||
    (panicMessage !== undefined && oomKiller);
  return {
    reason: head ? (head[1] ?? "").toLowerCase() : "unknown",
    count: head ? Number(head[2]) : 0,
    part: head ? Number(head[3]) : 0,
    panicMessage,
    outOfMemory,
    oopsLine,
    lastLine,
  };
}

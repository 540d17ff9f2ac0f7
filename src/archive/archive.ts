// The on-disk archive: one directory per collected boot,
// <archive>/<time>-<reason>/ with an entry.json index and the files it names.
// An entry appears whole or not at all: it is assembled in a hidden
// directory, every file written durably, then renamed into place.
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, statfsSync } from "node:fs";
import { copyDurable, fsyncDir, writeDurable } from "./durable.ts";
import { stamp } from "../daemon/names.ts";

export const ENTRY_FILE = "entry.json";
export const ENTRY_VERSION = 1;
/** Largest entry.json read back: an index, not a log. */
const MAX_ENTRY_JSON_BYTES = 1024 * 1024;
/** What an entry's directory name may be: never ".incoming-...", never a path. */
const ENTRY_ID = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

export interface ArchivedFile {
  name: string;
  kind: string;
  bytes: number;
  /** Where it came from: "/sys/fs/pstore/dmesg-ramoops-0", "journal", ... */
  source: string;
}

export interface ArchiveEntry {
  version: number;
  id: string;
  /** When the entry was written (ISO 8601). */
  archivedAt: string;
  /** When the previous boot ended, if known (ISO 8601). */
  endedAt: string | undefined;
  reason: string;
  /** One line: the panic message, the noted reason's text... */
  detail: string | undefined;
  subreason: string | undefined;
  previousBootId: string | undefined;
  summary: string;
  files: ArchivedFile[];
  /** Anything the collector wants to keep with the entry (parsed records...). */
  facts: Record<string, unknown>;
}

export interface ArchiveLimits {
  maxBytes: number;
  maxEntries: number;
  minFreeBytes: number;
}

export class ArchiveFullError extends Error {
  override name = "ArchiveFullError";
}

export type PendingFile = { name: string; kind: string; source: string } & ({ path: string } | { bytes: Uint8Array | string });

/** "20261126T025500Z-kernel-panic"; sanitised so a reason can never leave the directory. */
export function entryId(time: Date, reason: string): string {
  const safe = reason.toLowerCase().replace(/[^a-z0-9-]+/g, "-").replace(/^-+|-+$/g, "").slice(0, 40) || "unknown";
  return `${stamp(time)}-${safe}`;
}

function dirBytes(dir: string): number {
  let total = 0;
  for (const name of readdirSync(dir)) {
    const st = statSync(`${dir}/${name}`);
    total += st.isDirectory() ? dirBytes(`${dir}/${name}`) : st.size;
  }
  return total;
}

/**
 * The ids of the entries in archiveDir, newest first: the directories with an
 * entry.json file, none of them read (the boot hook needs the newest entry
 * only, and the ids to prune by: its cost must not grow with the archive).
 */
export function listEntryIds(archiveDir: string): string[] {
  let names: string[];
  try {
    names = readdirSync(archiveDir);
  } catch {
    return [];
  }
  const out: Array<{ id: string; writtenMs: number }> = [];
  for (const name of names) {
    if (!ENTRY_ID.test(name)) continue;
    try {
      const st = statSync(`${archiveDir}/${name}/${ENTRY_FILE}`);
      if (st.isFile() && st.size <= MAX_ENTRY_JSON_BYTES) out.push({ id: name, writtenMs: st.mtimeMs });
    } catch {
      // no index: not an entry
    }
  }
  return out.sort(newerFirst).map((e) => e.id);
}

/** "20261126T025500Z": the part of an id that is its time (entryId). */
const STAMP_CHARS = 16;

/**
 * Newest first: ids start with the UTC time, in seconds. Two entries of the
 * same second (a boot noted and ended within a second of the previous
 * boot's archiving, as a quick update or crashkeep's own rollback does) are
 * ordered by when their index was written, not by their reasons' names.
 */
function newerFirst(a: { id: string; writtenMs: number }, b: { id: string; writtenMs: number }): number {
  const ta = a.id.slice(0, STAMP_CHARS);
  const tb = b.id.slice(0, STAMP_CHARS);
  if (ta !== tb) return ta < tb ? 1 : -1;
  if (a.writtenMs !== b.writtenMs) return b.writtenMs - a.writtenMs;
  return a.id < b.id ? 1 : a.id > b.id ? -1 : 0;
}

/** The newest entry that reads back whole, of ids as listEntryIds gives them. */
export function newestEntry(archiveDir: string, ids: readonly string[]): ArchiveEntry | undefined {
  for (const id of ids) {
    const entry = readEntry(archiveDir, id);
    if (entry) return entry;
  }
  return undefined;
}

export function listEntries(archiveDir: string): ArchiveEntry[] {
  const out: ArchiveEntry[] = [];
  for (const id of listEntryIds(archiveDir)) {
    const entry = readEntry(archiveDir, id);
    if (entry) out.push(entry);
  }
  return out;
}

export function readEntry(archiveDir: string, id: string): ArchiveEntry | undefined {
  if (!ENTRY_ID.test(id)) return undefined;
  const file = `${archiveDir}/${id}/${ENTRY_FILE}`;
  try {
    const st = statSync(file);
    if (!st.isFile() || st.size > MAX_ENTRY_JSON_BYTES) return undefined;
    const value: unknown = JSON.parse(readFileSync(file, "utf8"));
    if (value === null || typeof value !== "object" || (value as { id?: unknown }).id !== id) return undefined;
    return value as ArchiveEntry;
  } catch {
    return undefined;
  }
}

export interface ArchiveUsage {
  entries: number;
  bytes: number;
  freeBytes: number | undefined;
}

/** Bytes an unprivileged writer may still use on the archive's file system; undefined when statfs fails. */
function freeBytes(archiveDir: string): number | undefined {
  try {
    const s = statfsSync(archiveDir);
    return Number(s.bavail) * Number(s.bsize);
  } catch {
    return undefined;
  }
}

export function archiveUsage(archiveDir: string): ArchiveUsage {
  return { entries: listEntries(archiveDir).length, bytes: existsSync(archiveDir) ? dirBytes(archiveDir) : 0, freeBytes: freeBytes(archiveDir) };
}

/** Delete the oldest entries until `incoming` more bytes and one more entry fit. */
function prune(archiveDir: string, incoming: number, limits: WriteLimits): string[] {
  const removed: string[] = [];
  const ids = [...(limits.ids ?? listEntryIds(archiveDir))].reverse(); // oldest first
  let count = ids.length;
  let bytes = dirBytes(archiveDir);
  for (const id of ids) {
    if (count + 1 <= limits.maxEntries && bytes + incoming <= limits.maxBytes) break;
    const dir = `${archiveDir}/${id}`;
    const size = dirBytes(dir);
    rmSync(dir, { recursive: true, force: true });
    removed.push(id);
    count--;
    bytes -= size;
  }
  return removed;
}

function pendingSize(f: PendingFile): number {
  if ("path" in f) return statSync(f.path).size;
  return typeof f.bytes === "string" ? Buffer.byteLength(f.bytes) : f.bytes.length;
}

export interface WriteResult {
  entry: ArchiveEntry;
  dir: string;
  pruned: string[];
}

export interface WriteLimits extends ArchiveLimits {
  /** listEntryIds(archiveDir) as the caller just read it (the boot hook has): not listed again. */
  ids?: readonly string[];
}

/**
 * Write one entry durably. Limits are checked before the first byte: the
 * oldest entries are pruned to make room, and a file system without
 * minFreeBytes to spare is refused with ArchiveFullError.
 */
export function writeEntry(
  archiveDir: string,
  entry: Omit<ArchiveEntry, "files" | "version" | "id"> & { id?: string },
  files: readonly PendingFile[],
  limits: WriteLimits,
): WriteResult {
  mkdirSync(archiveDir, { recursive: true, mode: 0o700 });
  const incoming = files.reduce((sum, f) => sum + pendingSize(f), 0) + 4096;
  if (incoming > limits.maxBytes) throw new ArchiveFullError(`Cannot archive into "${archiveDir}": the entry (${incoming} bytes) is larger than archive.maxBytes (${limits.maxBytes})`);
  const pruned = prune(archiveDir, incoming, limits);
  // statfs alone: archiveUsage would list every entry and walk the archive again (prune just did).
  const free = freeBytes(archiveDir);
  if (free !== undefined && free - incoming < limits.minFreeBytes) {
    throw new ArchiveFullError(`Cannot archive into "${archiveDir}": ${free} bytes free, the entry needs ${incoming} and archive.minFreeBytes keeps ${limits.minFreeBytes}`);
  }
  let id = entry.id ?? entryId(new Date(entry.endedAt ?? entry.archivedAt), entry.reason);
  for (let n = 2; existsSync(`${archiveDir}/${id}`); n++) id = `${id.replace(/-\d+$/, "")}-${n}`;
  const staging = `${archiveDir}/.incoming-${id}`;
  rmSync(staging, { recursive: true, force: true });
  mkdirSync(staging, { mode: 0o700 });
  try {
    const written: ArchivedFile[] = [];
    for (const f of files) {
      const bytes = "path" in f ? copyDurable(f.path, staging, f.name) : pendingSize(f);
      if (!("path" in f)) writeDurable(staging, f.name, f.bytes);
      written.push({ name: f.name, kind: f.kind, bytes, source: f.source });
    }
    const full: ArchiveEntry = { ...entry, version: ENTRY_VERSION, id, files: written };
    writeDurable(staging, ENTRY_FILE, `${JSON.stringify(full, null, 2)}\n`);
    renameSync(staging, `${archiveDir}/${id}`);
    fsyncDir(archiveDir);
    return { entry: full, dir: `${archiveDir}/${id}`, pruned };
  } catch (err) {
    rmSync(staging, { recursive: true, force: true });
    throw err;
  }
}

// The outbox: <archive.dir>/outbox/, one file per message waiting for its
// PUBACK, holding exactly the bytes that are sent (so a redelivery is the
// same bytes and the same id). Written with the archive's durability rules
// (temp + fsync + rename + directory fsync: durable.ts); deleted only after
// the broker acknowledged it.
//
// Bounded by upload.outbox (maxEntries, maxBytes, maxAgeDays) and
// archive.minFreeBytes, checked before writing: the oldest entries go first,
// boot entries last, and what was dropped is counted in dropped.json until
// one note about it has been sent.
import { mkdirSync, readdirSync, readFileSync, statfsSync, statSync, unlinkSync } from "node:fs";
import { writeDurable } from "../archive/durable.ts";
import { acquireLock } from "../journal/lock.ts";
import { removeStaleTemps } from "../archive/temp-files.ts";
import { errorCode } from "../system/read-bounded.ts";
import { encodePayload, type Dropped, type PayloadKind, type UploadPayload } from "./payload.ts";

export const OUTBOX_SUBDIR = "outbox";
/** Drop counts waiting for their note: survives a reboot, cleared after the note's PUBACK. */
export const DROPPED_FILE = "dropped.json";
/** Last success / last error of the sender, for `crashkeep status`. */
export const STATE_FILE = "state.json";
const LOCK_FILE = ".lock";
/** Largest entry read back: a message is at most upload.maxMessageBytes (≤ 128 KB). */
const MAX_ENTRY_BYTES = 256 * 1024;
/** Largest state file read back. */
const MAX_STATE_BYTES = 16 * 1024;
/** How long an enqueue waits for another writer's prune: milliseconds normally. */
const LOCK_TIMEOUT_MS = 5000;

const NAME = /^(\d{15})-(\d{6})-(boot|crash|note|rollback)-([0-9a-f]{16})\.json$/;
const KIND_ORDER: Record<PayloadKind, number> = { note: 0, crash: 0, boot: 1, rollback: 1 };

export interface OutboxLimits {
  maxEntries: number;
  maxBytes: number;
  maxAgeDays: number;
  minFreeBytes: number;
}

export interface OutboxEntry {
  /** File name; sorts oldest first. */
  name: string;
  kind: PayloadKind;
  /** When it was queued (ms since the epoch). */
  queuedMs: number;
  bytes: number;
}

export class OutboxFullError extends Error {
  override name = "OutboxFullError";
}

/** A temp file of writeDurable in the outbox: ".<entry>.json.tmp<pid>", ".state.json.tmp<pid>", ".dropped.json.tmp<pid>". */
const STALE_TEMP = /\.[^/]*\.json\.tmp(?=\d+$)/;

/**
 * Remove what writers killed before their rename left (entry, state.json and
 * dropped.json temps): enqueue and the sender call it, so a killed flush's
 * state.json temp does not stay when nothing is queued afterwards.
 */
export function removeOutboxTemps(dir: string): string[] {
  return removeStaleTemps(dir, STALE_TEMP);
}

export function outboxDir(archiveDir: string): string {
  return `${archiveDir}/${OUTBOX_SUBDIR}`;
}

/** A 64-bit hash of the message id, so one message is queued once however often it is offered. */
function idHash(id: string): string {
  return Bun.hash.wyhash(id).toString(16).padStart(16, "0").slice(-16);
}

let sequence = 0;

/**
 * The entries waiting, oldest first. No directory is no entries; a directory
 * that cannot be read is none too, unless `strict` (the sender): an outbox it
 * cannot list must not pass for an empty one (found by the fault sweep: an
 * EIO there ended a flush with "sent 0, 4 left" and no reason).
 */
export function listOutbox(dir: string, options: { strict?: boolean } = {}): OutboxEntry[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch (err) {
    if (options.strict && errorCode(err) !== "ENOENT") throw new Error(`Cannot list the outbox "${dir}": ${err instanceof Error ? err.message : String(err)}`);
    return [];
  }
  const out: OutboxEntry[] = [];
  for (const name of names.sort()) {
    const m = NAME.exec(name);
    if (!m) continue;
    let bytes: number;
    try {
      bytes = statSync(`${dir}/${name}`).size;
    } catch {
      continue; // sent and deleted meanwhile
    }
    out.push({ name, kind: m[3] as PayloadKind, queuedMs: Number(m[1]), bytes });
  }
  return out;
}

export function readOutboxEntry(dir: string, entry: Pick<OutboxEntry, "name">): Uint8Array | undefined {
  try {
    const st = statSync(`${dir}/${entry.name}`);
    if (!st.isFile() || st.size > MAX_ENTRY_BYTES) return undefined;
    return readFileSync(`${dir}/${entry.name}`);
  } catch {
    return undefined;
  }
}

/** After the PUBACK. A deletion lost to a power cut only means one more redelivery. */
export function removeOutboxEntry(dir: string, entry: Pick<OutboxEntry, "name">): void {
  try {
    unlinkSync(`${dir}/${entry.name}`);
  } catch {
    // already gone: sent by another sender, or dropped by a quota
  }
}

function readJson<T>(path: string): T | undefined {
  try {
    if (statSync(path).size > MAX_STATE_BYTES) return undefined;
    return JSON.parse(readFileSync(path, "utf8")) as T;
  } catch {
    return undefined;
  }
}

export function readDropped(dir: string): Dropped | undefined {
  const d = readJson<Dropped>(`${dir}/${DROPPED_FILE}`);
  if (!d || typeof d.since !== "string") return undefined;
  const n = (v: unknown) => (typeof v === "number" && Number.isInteger(v) && v > 0 ? v : 0);
  const out = { boot: n(d.boot), crash: n(d.crash), note: n(d.note), since: d.since };
  return out.boot + out.crash + out.note > 0 ? out : undefined;
}

function addDropped(dir: string, dropped: OutboxEntry[]): void {
  if (dropped.length === 0) return;
  const prev = readDropped(dir);
  const next: Dropped = { boot: prev?.boot ?? 0, crash: prev?.crash ?? 0, note: prev?.note ?? 0, rollback: prev?.rollback ?? 0, since: prev?.since ?? new Date(dropped[0]?.queuedMs ?? Date.now()).toISOString() };
  for (const e of dropped) next[e.kind]++;
  writeDurable(dir, DROPPED_FILE, `${JSON.stringify(next)}\n`);
}

/** After the PUBACK of the note about them: subtract what it reported (more may have been dropped since). */
export function clearDropped(dir: string, reported: Dropped): void {
  const lock = acquireLock(`${dir}/${LOCK_FILE}`, { timeoutMs: LOCK_TIMEOUT_MS });
  try {
    const now = readDropped(dir);
    if (!now) return;
    const left: Dropped = { boot: Math.max(0, now.boot - reported.boot), crash: Math.max(0, now.crash - reported.crash), note: Math.max(0, now.note - reported.note), since: new Date().toISOString() };
    if (left.boot + left.crash + left.note === 0) unlinkSync(`${dir}/${DROPPED_FILE}`);
    else writeDurable(dir, DROPPED_FILE, `${JSON.stringify(left)}\n`);
  } finally {
    lock.release();
  }
}

/** Which entries must go so that `incoming` more bytes and one more entry fit: expired first, then oldest non-boot, then oldest boot. */
function victims(entries: OutboxEntry[], incoming: number, limits: OutboxLimits, nowMs: number): OutboxEntry[] {
  const maxAgeMs = limits.maxAgeDays * 86_400_000;
  const out: OutboxEntry[] = entries.filter((e) => nowMs - e.queuedMs > maxAgeMs);
  const gone = new Set(out.map((e) => e.name));
  let count = entries.length - out.length;
  let bytes = entries.reduce((s, e) => s + (gone.has(e.name) ? 0 : e.bytes), 0);
  const candidates = entries.filter((e) => !gone.has(e.name)).sort((a, b) => KIND_ORDER[a.kind] - KIND_ORDER[b.kind] || (a.name < b.name ? -1 : 1));
  for (const e of candidates) {
    if (count + 1 <= limits.maxEntries && bytes + incoming <= limits.maxBytes) break;
    out.push(e);
    count--;
    bytes -= e.bytes;
  }
  return out;
}

function freeBytes(dir: string): number | undefined {
  try {
    const s = statfsSync(dir);
    return Number(s.bavail) * Number(s.bsize);
  } catch {
    return undefined;
  }
}

export interface EnqueueResult {
  /** The file written, or the one already holding this message id. */
  name: string;
  /** false when this message id was queued already. */
  written: boolean;
  dropped: OutboxEntry[];
}

/**
 * Queue one message durably. Limits are applied before the first byte is
 * written; a file system without archive.minFreeBytes to spare is refused
 * with OutboxFullError.
 */
export function enqueue(dir: string, payload: UploadPayload, options: OutboxLimits & { nowMs?: number }): EnqueueResult {
  const bytes = encodePayload(payload);
  const size = Buffer.byteLength(bytes);
  const nowMs = options.nowMs ?? Date.now();
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const hash = idHash(payload.id);
  const lock = acquireLock(`${dir}/${LOCK_FILE}`, { timeoutMs: LOCK_TIMEOUT_MS });
  try {
    // Entry names differ each time, so writeDurable's own clean-up never meets a
    // killed writer's temp file: remove those of dead writers here, under the lock.
    removeOutboxTemps(dir);
    const entries = listOutbox(dir);
    const existing = entries.find((e) => e.name.endsWith(`-${hash}.json`));
    if (existing) return { name: existing.name, written: false, dropped: [] };
    if (size > options.maxBytes) throw new OutboxFullError(`Cannot queue the ${payload.kind} message "${payload.id}": ${size} bytes is more than upload.outbox.maxBytes (${options.maxBytes})`);
    const dropped = victims(entries, size, options, nowMs);
    for (const e of dropped) removeOutboxEntry(dir, e);
    addDropped(dir, dropped);
    const free = freeBytes(dir);
    if (free !== undefined && free - size < options.minFreeBytes) {
      throw new OutboxFullError(`Cannot queue the ${payload.kind} message "${payload.id}": ${free} bytes free, archive.minFreeBytes keeps ${options.minFreeBytes}`);
    }
    sequence = (sequence + 1) % 1_000_000;
    const name = `${String(nowMs).padStart(15, "0")}-${String((process.pid * 7 + sequence) % 1_000_000).padStart(6, "0")}-${payload.kind}-${hash}.json`;
    writeDurable(dir, name, bytes);
    return { name, written: true, dropped };
  } finally {
    lock.release();
  }
}

/** Drop (and count) what is older than maxAgeDays; the sender calls this before a flush, so a long outage without new entries still ages out. */
export function expireOutbox(dir: string, options: Pick<OutboxLimits, "maxAgeDays"> & { nowMs?: number }): OutboxEntry[] {
  const nowMs = options.nowMs ?? Date.now();
  const maxAgeMs = options.maxAgeDays * 86_400_000;
  if (!listOutbox(dir).some((e) => nowMs - e.queuedMs > maxAgeMs)) return [];
  const lock = acquireLock(`${dir}/${LOCK_FILE}`, { timeoutMs: LOCK_TIMEOUT_MS });
  try {
    const old = listOutbox(dir).filter((e) => nowMs - e.queuedMs > maxAgeMs);
    for (const e of old) removeOutboxEntry(dir, e);
    addDropped(dir, old);
    return old;
  } finally {
    lock.release();
  }
}

export interface UploadState {
  lastAttempt: string | null;
  lastSuccess: string | null;
  lastError: string | null;
  lastErrorAt: string | null;
  /** Which broker took the last message. */
  broker: string | null;
}

export function readUploadState(dir: string): UploadState {
  const s = readJson<Partial<UploadState>>(`${dir}/${STATE_FILE}`) ?? {};
  const str = (v: unknown) => (typeof v === "string" ? v : null);
  return { lastAttempt: str(s.lastAttempt), lastSuccess: str(s.lastSuccess), lastError: str(s.lastError), lastErrorAt: str(s.lastErrorAt), broker: str(s.broker) };
}

export function writeUploadState(dir: string, state: UploadState): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  writeDurable(dir, STATE_FILE, `${JSON.stringify(state)}\n`);
}

export interface OutboxUsage {
  entries: number;
  bytes: number;
  byKind: Record<PayloadKind, number>;
  oldest: string | null;
  dropped: Dropped | undefined;
  /** Why the outbox could not be listed (its counts are then unknown, not zero). */
  error?: string;
}

export function outboxUsage(dir: string): OutboxUsage {
  let entries: OutboxEntry[];
  let error: string | undefined;
  try {
    entries = listOutbox(dir, { strict: true });
  } catch (err) {
    entries = [];
    error = err instanceof Error ? err.message : String(err);
  }
  const byKind: Record<PayloadKind, number> = { boot: 0, crash: 0, note: 0, rollback: 0 };
  for (const e of entries) byKind[e.kind]++;
  const first = entries[0];
  return {
    entries: entries.length,
    bytes: entries.reduce((s, e) => s + e.bytes, 0),
    byKind,
    oldest: first ? new Date(first.queuedMs).toISOString() : null,
    dropped: readDropped(dir),
    ...(error === undefined ? {} : { error }),
  };
}

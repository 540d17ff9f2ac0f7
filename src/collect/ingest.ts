// One MQTT message in, at most one stored upload out. Everything a device sends
// is untrusted: size first, then UTF-8 and JSON, then the upload schema (zod),
// then the report inside a crash. A message that fails any step is counted and
// kept in the bounded rejects table with the reason; nothing here throws on bad
// input. What is stored is rebuilt from known keys (zod drops the rest), holds
// no NUL and no lone surrogate (PostgreSQL refuses them), and carries an id
// under its own device's topic. A value the database refuses for good (SQLSTATE
// class 22, 23, 54) is a reject too; only other database errors throw, and the
// subscriber retries those. The same id twice is stored once (the messages
// table's primary key); the same id with other content is a conflicting
// duplicate: counted, listed with the rejects, and the first is kept.
import { createHash } from "node:crypto";
import type { SQL } from "bun";
import type { Report } from "../core/report.ts";
import { MAX_MESSAGE_BYTES as DEVICE_MAX_MESSAGE_BYTES, payloadSchema, payloadTopic, UPLOAD_SCHEMA, type UploadPayload } from "../upload/payload.ts";
import { DEFAULT_MAX_CLOCK_SKEW_SECONDS, DEFAULT_MAX_NEW_GROUPS_PER_DEVICE_HOUR } from "../config/collect.ts";
import { MAX_STORED_REPORT_BYTES, readCrashReport } from "./crash.ts";
import { groupIdOf, signatureOf, type Signature } from "./signature.ts";
import { symbolizeReport, type SymbolizeOptions } from "./symbolize.ts";
import type { Store } from "./store.ts";

/** Largest message accepted: twice the most a device may send (upload's MAX_MESSAGE_BYTES, AWS IoT's limit). */
export const MAX_MESSAGE_BYTES = 2 * DEVICE_MAX_MESSAGE_BYTES;
/** Firmware version stored for a device that reports none. */
export const UNKNOWN_FIRMWARE = "unknown";
/** Rejected messages kept for reading (the oldest go first); all are counted. */
export const MAX_REJECTS_KEPT = 1000;
/** Characters of a rejected message kept with it. */
const REJECT_EXCERPT_CHARS = 512;
/** Stored messages between two SQLite `PRAGMA optimize` runs (planner statistics; PostgreSQL's autovacuum does its own). */
const OPTIMIZE_EVERY_MESSAGES = 1000;
/**
 * JSON nesting accepted: the upload schema nests 8 levels (payload, crash,
 * report, threads, thread, frames, frame, value); the rest is room for later
 * additions. Deeper text is refused before it is parsed: JSON.stringify of a
 * 40 000-deep value takes seconds, and the stack runs out where it recurses.
 */
export const MAX_JSON_DEPTH = 64;
/** Characters of a zod problem list kept as a reject reason. */
const REASON_CHARS = 400;
const HOUR_MS = 3600_000;

/** Reboot reasons that are a crash or an unexplained end; a boot ending in any other (clean, or a noted reason) is crash-free. */
export const CRASH_REASONS: ReadonlySet<string> = new Set(["kernel-panic", "kernel-oops", "unexpected-reset", "power-loss", "unknown"]);

/**
 * A device id is one MQTT topic level, as it is: no "/" "+" "#" (topic syntax),
 * no NUL or other control character (C0, DEL, C1). Mapping them to "_" would put
 * several devices behind one topic, so such ids are refused instead.
 */
export const DEVICE_ID = /^[^\u0000-\u001f\u007f-\u009f/+#]+$/;

/** The crash group that takes a device's crashes beyond maxNewGroupsPerDeviceHour. */
export const NOISE_GROUP: Signature = (() => {
  const text = "(noise): crashes of devices that opened more new groups per hour than allowed";
  return { id: "0000000000000000", text, exe: "(noise)", frames: [] };
})();

/** SQLSTATE classes of a value the database will never take, however often it is tried (PostgreSQL appendix A). */
const PERMANENT_SQLSTATE = /^(22|23|54)/;
/** Except unique_violation: a race between two collectors, which the next try sees as a duplicate. */
const RETRY_SQLSTATE = new Set(["23505"]);
/** SQLite result codes of the same kind (a value too big, a constraint, a type mismatch). */
const PERMANENT_SQLITE = /^SQLITE_(TOOBIG|CONSTRAINT(?!_PRIMARYKEY|_UNIQUE)|MISMATCH|RANGE)/;

export type Outcome =
  | { status: "stored"; id: string; kind: UploadPayload["kind"]; group?: string }
  | { status: "duplicate"; id: string; conflicting: boolean }
  | { status: "rejected"; reason: string };

export interface IngestOptions {
  topicPrefix: string;
  symbolize: SymbolizeOptions;
  /** Seconds a device time may be ahead of the receive time; later times are clamped for lists and sorts. */
  maxClockSkewSeconds?: number;
  /** New crash groups one device may open per hour. */
  maxNewGroupsPerDeviceHour?: number;
  /** The receive time (tests); default now. */
  now?: () => Date;
}

let rejectSeq = 0;
const storedSinceOptimize = new WeakMap<Store, number>();

class Reject extends Error {}

/** A NUL or a lone surrogate escape in JSON text (JSON.stringify writes both as \u escapes, ES2019), not preceded by an escaping backslash. */
const UNSTORABLE_ESCAPE = /(?<!\\)(?:\\\\)*\\u(0000|d[89a-f][0-9a-f]{2})/i;

/** The text to store: throws Reject when it holds what a database cannot keep. */
function storable(value: unknown): string {
  const text = JSON.stringify(value);
  const m = UNSTORABLE_ESCAPE.exec(text);
  if (m) throw new Reject(m[1] === "0000" ? "a string holds a NUL character (\\u0000), which PostgreSQL cannot store" : `a string holds a lone surrogate (\\u${m[1]}), which is not UTF-8`);
  return text;
}

const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

/** Control characters shown as \uXXXX, lone surrogates as U+FFFD: a reject's own text must always be storable. */
function printable(text: string): string {
  return text.replace(/[\u0000-\u0008\u000b-\u001f\u007f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`).replace(LONE_SURROGATE, "\ufffd");
}

/** The deepest nesting of [ and { in a JSON text (outside strings), counted up to STOP + 1: one pass, no recursion. */
function jsonDepth(text: string, stop: number): number {
  let depth = 0;
  let deepest = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++; // backslash: skip the escaped character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x7b || c === 0x5b) {
      if (++depth > deepest && (deepest = depth) > stop) return deepest;
    } else if (c === 0x7d || c === 0x5d) depth--;
  }
  return deepest;
}

function parse(topic: string, bytes: Uint8Array, prefix: string): UploadPayload {
  if (bytes.length > MAX_MESSAGE_BYTES) throw new Reject(`message is ${bytes.length} bytes, more than ${MAX_MESSAGE_BYTES}`);
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    throw new Reject("not UTF-8");
  }
  const depth = jsonDepth(text, MAX_JSON_DEPTH);
  if (depth > MAX_JSON_DEPTH) throw new Reject(`JSON nested deeper than ${MAX_JSON_DEPTH} levels`);
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new Reject(`not JSON: ${err instanceof Error ? err.message : String(err)}`);
  }
  if (json === null || typeof json !== "object" || Array.isArray(json)) throw new Reject("not a JSON object");
  const schema = (json as { schema?: unknown }).schema;
  if (schema !== UPLOAD_SCHEMA) throw new Reject(`unknown schema ${JSON.stringify(schema ?? null).slice(0, 80)}, expected "${UPLOAD_SCHEMA}"`);
  const result = payloadSchema.safeParse(json);
  if (!result.success) {
    const problems = result.error.issues.map((i) => `${i.path.map(String).join(".") || "(top level)"}: ${i.message}`).join("; ");
    throw new Reject(`not a valid upload: ${problems}`.slice(0, REASON_CHARS));
  }
  const p = result.data;
  if (!DEVICE_ID.test(p.device.id)) throw new Reject(`device id ${JSON.stringify(p.device.id.slice(0, 80))} holds "/", "+", "#" or a control character: it is not one topic level`);
  const expected = payloadTopic(prefix, p);
  if (topic !== expected) throw new Reject(`topic does not match the payload: expected "${expected}"`);
  const own = `${p.device.id}/${p.kind}/`;
  if (!p.id.startsWith(own) || p.id.length === own.length) throw new Reject(`id ${JSON.stringify(p.id.slice(0, 160))} is not under "${own}": a device names only its own messages`);
  return p;
}

function crashReport(p: Extract<UploadPayload, { kind: "crash" }>): Report {
  try {
    return readCrashReport(p.crash.form, p.crash.report);
  } catch (err) {
    throw new Reject(`crash report unreadable: ${err instanceof Error ? err.message : String(err)}`);
  }
}

async function reject(store: Store, topic: string, bytes: Uint8Array, reason: string, now: Date, counter = "rejected"): Promise<void> {
  const at = now.toISOString();
  const id = `${at}-${String(++rejectSeq).padStart(9, "0")}-${Math.random().toString(36).slice(2, 8)}`;
  const excerpt = printable(new TextDecoder("utf-8", { fatal: false }).decode(bytes.subarray(0, REJECT_EXCERPT_CHARS * 4)).slice(0, REJECT_EXCERPT_CHARS));
  await store.sql.begin(async (tx) => {
    await tx`INSERT INTO rejects (id, received_at, topic, reason, size_bytes, excerpt) VALUES (${id}, ${at}, ${printable(topic.slice(0, 512))}, ${printable(reason)}, ${bytes.length}, ${excerpt})`;
    await tx`DELETE FROM rejects WHERE id < (SELECT id FROM rejects ORDER BY id DESC LIMIT 1 OFFSET ${MAX_REJECTS_KEPT - 1})`;
    await bump(tx, counter);
  });
}

async function bump(q: SQL, name: string): Promise<void> {
  await q`INSERT INTO counters (name, value) VALUES (${name}, 1) ON CONFLICT (name) DO UPDATE SET value = counters.value + 1`;
}

/** Why the database will never take this message, or undefined when the error may pass (connection, lock, a race). */
export function permanentDatabaseError(err: unknown): string | undefined {
  if (!(err instanceof Error)) return undefined;
  const e = err as Error & { code?: unknown; errno?: unknown };
  if (e.name === "PostgresError" && e.code === "ERR_POSTGRES_SERVER_ERROR" && typeof e.errno === "string" && PERMANENT_SQLSTATE.test(e.errno) && !RETRY_SQLSTATE.has(e.errno)) {
    return `the database refused it: ${e.message} (SQLSTATE ${e.errno})`;
  }
  if (typeof e.code === "string" && PERMANENT_SQLITE.test(e.code)) return `the database refused it: ${e.message} (${e.code})`;
  return undefined;
}

/** An instant as stored: UTC, milliseconds, "Z" (so text order is time order), at most the receive time plus the allowed skew. */
function storedTime(deviceTime: string, latest: Date): string {
  const t = new Date(deviceTime);
  return (Number.isNaN(t.getTime()) || t > latest ? latest : t).toISOString();
}

/** The device row: its fields from the message with the newest device time (TIME, clamped), and when we last heard from it (RECEIVED, our clock). */
async function upsertDevice(q: SQL, p: UploadPayload, time: string, received: string): Promise<void> {
  const d = p.device;
  await q`INSERT INTO devices (id, firmware, hardware, kernel, arch, crashkeep_version, first_seen, last_seen, last_received)
    VALUES (${d.id}, ${d.firmware ?? UNKNOWN_FIRMWARE}, ${d.hardware ?? null}, ${d.kernel ?? null}, ${d.arch ?? null}, ${d.crashkeepVersion ?? null}, ${time}, ${time}, ${received})
    ON CONFLICT (id) DO UPDATE SET
      last_received = CASE WHEN excluded.last_received > devices.last_received THEN excluded.last_received ELSE devices.last_received END,
      firmware = CASE WHEN excluded.last_seen >= devices.last_seen THEN excluded.firmware ELSE devices.firmware END,
      hardware = CASE WHEN excluded.last_seen >= devices.last_seen THEN excluded.hardware ELSE devices.hardware END,
      kernel = CASE WHEN excluded.last_seen >= devices.last_seen THEN excluded.kernel ELSE devices.kernel END,
      arch = CASE WHEN excluded.last_seen >= devices.last_seen THEN excluded.arch ELSE devices.arch END,
      crashkeep_version = CASE WHEN excluded.last_seen >= devices.last_seen THEN excluded.crashkeep_version ELSE devices.crashkeep_version END,
      first_seen = CASE WHEN excluded.first_seen < devices.first_seen THEN excluded.first_seen ELSE devices.first_seen END,
      last_seen = CASE WHEN excluded.last_seen > devices.last_seen THEN excluded.last_seen ELSE devices.last_seen END`;
}

/** Store a group if it is new (several collectors may race to create it: the first wins, the rest do nothing). */
export async function upsertGroup(q: SQL, sig: { id: string; text: string; exe: string; frames: string[] }, createdBy: string | null = null, now = new Date()): Promise<void> {
  await q`INSERT INTO crash_groups (id, signature, exe, frames, created_at, created_by) VALUES (${sig.id}, ${sig.text}, ${sig.exe}, ${JSON.stringify(sig.frames)}, ${now.toISOString()}, ${createdBy})
    ON CONFLICT (id) DO NOTHING`;
}

/** The group a crash goes into: its signature's, or the noise group when its device opened too many new groups within the hour. */
async function groupFor(q: SQL, sig: Signature, deviceId: string, now: Date, limit: number): Promise<Signature> {
  const [known]: unknown[] = await q`SELECT 1 AS x FROM crash_groups WHERE id = ${sig.id}`;
  if (known !== undefined) return sig;
  const since = new Date(now.getTime() - HOUR_MS).toISOString();
  const [row]: Array<{ n: number }> = await q`SELECT CAST(COUNT(*) AS INTEGER) AS n FROM crash_groups WHERE created_by = ${deviceId} AND created_at >= ${since}`;
  return Number(row?.n ?? 0) >= limit ? NOISE_GROUP : sig;
}

/** Validate, de-duplicate, symbolize and store one message. Never throws for bad input; transient database errors do throw (the message is then not acknowledged). */
export async function ingest(store: Store, topic: string, bytes: Uint8Array, options: IngestOptions): Promise<Outcome> {
  const now = options.now?.() ?? new Date();
  let p: UploadPayload;
  let report: Report | undefined;
  let symbolized: Report | undefined;
  let sig: Signature | undefined;
  let text: string;
  let reportText = "";
  let symbolizedText = "";
  try {
    p = parse(topic, bytes, options.topicPrefix);
    if (p.kind === "crash") {
      report = crashReport(p);
      try {
        symbolized = (await symbolizeReport(report, options.symbolize)).report;
        sig = signatureOf(symbolized);
      } catch (err) {
        // nothing a device sends may stop the collector: a report the symbolizer chokes on is rejected
        throw new Reject(`crash report unreadable: ${err instanceof Error ? err.message : String(err)}`);
      }
      reportText = storable(report);
      symbolizedText = symbolized === report ? "" : storable(symbolized);
      if (reportText.length > MAX_STORED_REPORT_BYTES || symbolizedText.length > MAX_STORED_REPORT_BYTES) {
        throw new Reject(`crash report would be stored as ${Math.max(reportText.length, symbolizedText.length)} bytes, more than ${MAX_STORED_REPORT_BYTES}`);
      }
      // the report is stored once (crash_reports, rebuilt from known keys); the message row keeps its
      // digest, so the same id with another report is a conflicting duplicate, at no second copy
      p = { ...p, crash: { ...p.crash, report: { storedIn: "crash_reports", sha256: createHash("sha256").update(reportText).digest("hex") } } };
    }
    text = storable(p);
  } catch (err) {
    if (!(err instanceof Reject)) throw err;
    await reject(store, topic, bytes, err.message, now);
    return { status: "rejected", reason: err.message };
  }
  try {
    return await store1(store, { p, topic, size: bytes.length, text, report, reportText, symbolizedText, sig, now, options });
  } catch (err) {
    const why = permanentDatabaseError(err);
    if (why === undefined) throw err;
    await reject(store, topic, bytes, why, now);
    return { status: "rejected", reason: why };
  }
}

interface Prepared {
  p: UploadPayload;
  topic: string;
  size: number;
  text: string;
  report: Report | undefined;
  reportText: string;
  symbolizedText: string;
  sig: Signature | undefined;
  now: Date;
  options: IngestOptions;
}

async function store1(store: Store, x: Prepared): Promise<Outcome> {
  const { p, now } = x;
  const received = now.toISOString();
  const latest = new Date(now.getTime() + (x.options.maxClockSkewSeconds ?? DEFAULT_MAX_CLOCK_SKEW_SECONDS) * 1000);
  const time = storedTime(p.time, latest);
  let group = x.sig;
  const stored = await store.sql.begin(async (tx): Promise<boolean | "conflict"> => {
    const rows: unknown[] = await tx`INSERT INTO messages (id, kind, device_id, time, received_at, topic, size_bytes, payload)
      VALUES (${p.id}, ${p.kind}, ${p.device.id}, ${p.time}, ${received}, ${x.topic}, ${x.size}, ${x.text})
      ON CONFLICT (id) DO NOTHING RETURNING id`;
    if (rows.length === 0) {
      const [first]: Array<{ payload: string }> = await tx`SELECT payload FROM messages WHERE id = ${p.id}`;
      if (first !== undefined && first.payload !== x.text) return "conflict"; // counted with its reject entry below
      await bump(tx, "duplicates");
      return false;
    }
    await upsertDevice(tx, p, time, received);
    const fw = p.device.firmware ?? UNKNOWN_FIRMWARE;
    if (p.kind === "boot") {
      const b = p.boot;
      await tx`INSERT INTO boots (message_id, device_id, firmware, boot_id, reason, detail, crash_free, time, device_time, ended_at, panic_message, log_tail)
        VALUES (${p.id}, ${p.device.id}, ${fw}, ${b.previousBootId}, ${b.reason}, ${b.detail}, ${CRASH_REASONS.has(b.reason) ? 0 : 1}, ${time}, ${p.time},
          ${b.endedAt === null ? null : storedTime(b.endedAt, latest)}, ${b.panicMessage}, ${JSON.stringify({ logTails: b.logTails, panicLog: b.panicLog })})`;
    } else if (p.kind === "crash" && x.report !== undefined && x.sig !== undefined) {
      group = await groupFor(tx, x.sig, p.device.id, now, x.options.maxNewGroupsPerDeviceHour ?? DEFAULT_MAX_NEW_GROUPS_PER_DEVICE_HOUR);
      await upsertGroup(tx, group, group === NOISE_GROUP ? null : p.device.id, now);
      await tx`INSERT INTO crashes (message_id, device_id, firmware, time, device_time, group_id, exe, summary)
        VALUES (${p.id}, ${p.device.id}, ${fw}, ${time}, ${p.time}, ${group.id}, ${x.report.exe ?? p.crash.exe}, ${p.crash.signal})`;
      await tx`INSERT INTO crash_reports (message_id, report, symbolized) VALUES (${p.id}, ${x.reportText}, ${x.symbolizedText})`;
    } else if (p.kind === "note") {
      await tx`INSERT INTO notes (message_id, device_id, boot_id, time, device_time, reason, text) VALUES (${p.id}, ${p.device.id}, ${p.note.bootId}, ${time}, ${p.time}, ${p.note.reason}, ${p.note.text})`;
    } else if (p.kind === "rollback") {
      // zod bounded every string and the list (MAX_BAD_BOOTS) already; the times are clamped as the other kinds'
      const r = p.rollback;
      await tx`INSERT INTO rollbacks (message_id, device_id, archive_id, triggered_by, from_slot, from_firmware, to_slot, to_firmware, bad_boot_count, time, device_time, decided_at)
        VALUES (${p.id}, ${p.device.id}, ${r.archiveId}, ${r.trigger}, ${r.fromSlot}, ${r.fromFirmware ?? UNKNOWN_FIRMWARE}, ${r.toSlot}, ${r.toFirmware ?? UNKNOWN_FIRMWARE}, ${r.badBoots.length}, ${time}, ${p.time}, ${storedTime(r.decidedAt, latest)})`;
      for (const [seq, b] of r.badBoots.entries()) {
        await tx`INSERT INTO rollback_boots (message_id, seq, slot, boot_id, reason, detail, executable, signature, group_id, ended_at)
          VALUES (${p.id}, ${seq}, ${b.slot}, ${b.bootId}, ${b.reason}, ${b.detail}, ${b.executable}, ${b.signature}, ${b.signature === null ? null : groupIdOf(b.signature)},
            ${b.endedAt === null ? null : storedTime(b.endedAt, latest)})`;
      }
    }
    await bump(tx, "stored");
    return true;
  });
  if (stored === "conflict") {
    await reject(store, x.topic, new TextEncoder().encode(x.text), `conflicting duplicate: id ${JSON.stringify(p.id.slice(0, 160))} was stored before with other content, which is kept`, now, "conflicts");
    return { status: "duplicate", id: p.id, conflicting: true };
  }
  if (!stored) return { status: "duplicate", id: p.id, conflicting: false };
  const n = (storedSinceOptimize.get(store) ?? 0) + 1;
  storedSinceOptimize.set(store, n % OPTIMIZE_EVERY_MESSAGES);
  if (n >= OPTIMIZE_EVERY_MESSAGES && store.dialect === "sqlite") await store.sql`PRAGMA optimize`;
  return group !== undefined ? { status: "stored", id: p.id, kind: p.kind, group: group.id } : { status: "stored", id: p.id, kind: p.kind };
}

/** Reports re-symbolized per database round trip (they are read a batch at a time, never all at once). */
const RESYMBOLIZE_BATCH = 200;

/** Re-symbolize every stored crash (debug files added since) and move it to the group its new signature names. */
export async function resymbolize(store: Store, options: SymbolizeOptions): Promise<{ crashes: number; moved: number }> {
  let moved = 0;
  let crashes = 0;
  let after = "";
  for (;;) {
    const rows: Array<{ message_id: string; report: string; group_id: string }> = await store.sql`SELECT c.message_id, r.report, c.group_id
      FROM crashes c JOIN crash_reports r ON r.message_id = c.message_id WHERE c.message_id > ${after} ORDER BY c.message_id LIMIT ${RESYMBOLIZE_BATCH}`;
    if (rows.length === 0) break;
    after = (rows[rows.length - 1] as { message_id: string }).message_id;
    for (const row of rows) {
      crashes++;
      if (row.group_id === NOISE_GROUP.id) continue; // the noise group keeps what its device sent beyond the limit
      const report = JSON.parse(row.report) as Report;
      let symbolized: Report;
      let sig: Signature;
      try {
        symbolized = (await symbolizeReport(report, options)).report;
        sig = signatureOf(symbolized);
      } catch {
        continue; // it was readable on arrival; a symbolizer failure now leaves it where it is
      }
      await store.sql.begin(async (tx) => {
        await upsertGroup(tx, sig);
        await tx`UPDATE crashes SET group_id = ${sig.id} WHERE message_id = ${row.message_id}`;
        await tx`UPDATE crash_reports SET symbolized = ${symbolized === report ? "" : JSON.stringify(symbolized)} WHERE message_id = ${row.message_id}`;
      });
      if (sig.id !== row.group_id) moved++;
    }
  }
  await store.sql`DELETE FROM crash_groups WHERE NOT EXISTS (SELECT 1 FROM crashes WHERE crashes.group_id = crash_groups.id)`;
  return { crashes, moved };
}

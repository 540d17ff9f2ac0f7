// One MQTT message in, at most one stored upload out. Everything a device sends
// is untrusted: size first, then UTF-8 and JSON, then the upload schema (zod),
// then the report inside a crash. A message that fails any step is counted and
// kept in the bounded rejects table with the reason; nothing here throws on bad
// input. The same id twice is stored once (the messages table's primary key).
import type { SQL } from "bun";
import type { Report } from "../core/report.ts";
import { MAX_MESSAGE_BYTES as DEVICE_MAX_MESSAGE_BYTES, payloadSchema, payloadTopic, UPLOAD_SCHEMA, type UploadPayload } from "../upload/payload.ts";
import { readCrashReport } from "./crash.ts";
import { signatureOf, type Signature } from "./signature.ts";
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
/** Characters of a zod problem list kept as a reject reason. */
const REASON_CHARS = 400;

/** Reboot reasons that are a crash or an unexplained end; a boot ending in any other (clean, or a noted reason) is crash-free. */
export const CRASH_REASONS: ReadonlySet<string> = new Set(["kernel-panic", "kernel-oops", "unexpected-reset", "power-loss", "unknown"]);

export type Outcome =
  | { status: "stored"; id: string; kind: UploadPayload["kind"]; group?: string }
  | { status: "duplicate"; id: string }
  | { status: "rejected"; reason: string };

export interface IngestOptions {
  topicPrefix: string;
  symbolize: SymbolizeOptions;
}

let rejectSeq = 0;
const storedSinceOptimize = new WeakMap<Store, number>();

class Reject extends Error {}

function parse(topic: string, bytes: Uint8Array, prefix: string): UploadPayload {
  if (bytes.length > MAX_MESSAGE_BYTES) throw new Reject(`message is ${bytes.length} bytes, more than ${MAX_MESSAGE_BYTES}`);
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    throw new Reject("not UTF-8");
  }
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
  const expected = payloadTopic(prefix, p);
  if (topic !== expected) throw new Reject(`topic does not match the payload: expected "${expected}"`);
  return p;
}

function crashReport(p: Extract<UploadPayload, { kind: "crash" }>): Report {
  try {
    return readCrashReport(p.crash.form, p.crash.report);
  } catch (err) {
    throw new Reject(`crash report unreadable: ${err instanceof Error ? err.message : String(err)}`);
  }
}

async function reject(store: Store, topic: string, bytes: Uint8Array, reason: string): Promise<void> {
  const now = new Date().toISOString();
  const id = `${now}-${String(++rejectSeq).padStart(9, "0")}-${Math.random().toString(36).slice(2, 8)}`;
  const excerpt = new TextDecoder("utf-8", { fatal: false }).decode(bytes.subarray(0, REJECT_EXCERPT_CHARS * 4)).slice(0, REJECT_EXCERPT_CHARS);
  await store.sql.begin(async (tx) => {
    await tx`INSERT INTO rejects (id, received_at, topic, reason, size_bytes, excerpt) VALUES (${id}, ${now}, ${topic.slice(0, 512)}, ${reason}, ${bytes.length}, ${excerpt})`;
    await tx`DELETE FROM rejects WHERE id < (SELECT id FROM rejects ORDER BY id DESC LIMIT 1 OFFSET ${MAX_REJECTS_KEPT - 1})`;
    await bump(tx, "rejected");
  });
}

async function bump(q: SQL, name: string): Promise<void> {
  await q`INSERT INTO counters (name, value) VALUES (${name}, 1) ON CONFLICT (name) DO UPDATE SET value = counters.value + 1`;
}

async function upsertDevice(q: SQL, p: UploadPayload): Promise<void> {
  const d = p.device;
  await q`INSERT INTO devices (id, firmware, hardware, kernel, arch, crashkeep_version, first_seen, last_seen)
    VALUES (${d.id}, ${d.firmware ?? UNKNOWN_FIRMWARE}, ${d.hardware ?? null}, ${d.kernel ?? null}, ${d.arch ?? null}, ${d.crashkeepVersion ?? null}, ${p.time}, ${p.time})
    ON CONFLICT (id) DO UPDATE SET
      firmware = CASE WHEN excluded.last_seen >= devices.last_seen THEN excluded.firmware ELSE devices.firmware END,
      hardware = CASE WHEN excluded.last_seen >= devices.last_seen THEN excluded.hardware ELSE devices.hardware END,
      kernel = CASE WHEN excluded.last_seen >= devices.last_seen THEN excluded.kernel ELSE devices.kernel END,
      arch = CASE WHEN excluded.last_seen >= devices.last_seen THEN excluded.arch ELSE devices.arch END,
      crashkeep_version = CASE WHEN excluded.last_seen >= devices.last_seen THEN excluded.crashkeep_version ELSE devices.crashkeep_version END,
      first_seen = CASE WHEN excluded.first_seen < devices.first_seen THEN excluded.first_seen ELSE devices.first_seen END,
      last_seen = CASE WHEN excluded.last_seen > devices.last_seen THEN excluded.last_seen ELSE devices.last_seen END`;
}

/** Store a group if it is new (several collectors may race to create it: the first wins, the rest do nothing). */
export async function upsertGroup(q: SQL, sig: { id: string; text: string; exe: string; frames: string[] }): Promise<void> {
  await q`INSERT INTO crash_groups (id, signature, exe, frames, created_at) VALUES (${sig.id}, ${sig.text}, ${sig.exe}, ${JSON.stringify(sig.frames)}, ${new Date().toISOString()})
    ON CONFLICT (id) DO NOTHING`;
}

/** Validate, de-duplicate, symbolize and store one message. Never throws for bad input; database errors do throw (the message is then not acknowledged). */
export async function ingest(store: Store, topic: string, bytes: Uint8Array, options: IngestOptions): Promise<Outcome> {
  let p: UploadPayload;
  let report: Report | undefined;
  let symbolized: Report | undefined;
  let sig: Signature | undefined;
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
    }
  } catch (err) {
    if (!(err instanceof Reject)) throw err;
    await reject(store, topic, bytes, err.message);
    return { status: "rejected", reason: err.message };
  }
  const received = new Date().toISOString();
  const stored = await store.sql.begin(async (tx) => {
    const rows: unknown[] = await tx`INSERT INTO messages (id, kind, device_id, time, received_at, topic, size_bytes, payload)
      VALUES (${p.id}, ${p.kind}, ${p.device.id}, ${p.time}, ${received}, ${topic}, ${bytes.length}, ${new TextDecoder().decode(bytes)})
      ON CONFLICT (id) DO NOTHING RETURNING id`;
    if (rows.length === 0) {
      await bump(tx, "duplicates");
      return false;
    }
    await upsertDevice(tx, p);
    const fw = p.device.firmware ?? UNKNOWN_FIRMWARE;
    if (p.kind === "boot") {
      const b = p.boot;
      await tx`INSERT INTO boots (message_id, device_id, firmware, boot_id, reason, detail, crash_free, time, ended_at, panic_message, log_tail)
        VALUES (${p.id}, ${p.device.id}, ${fw}, ${b.previousBootId}, ${b.reason}, ${b.detail}, ${CRASH_REASONS.has(b.reason) ? 0 : 1}, ${p.time},
          ${b.endedAt}, ${b.panicMessage}, ${JSON.stringify({ logTails: b.logTails, panicLog: b.panicLog })})`;
    } else if (p.kind === "crash" && report !== undefined && symbolized !== undefined && sig !== undefined) {
      await upsertGroup(tx, sig);
      await tx`INSERT INTO crashes (message_id, device_id, firmware, time, group_id, exe, summary)
        VALUES (${p.id}, ${p.device.id}, ${fw}, ${p.time}, ${sig.id}, ${report.exe ?? p.crash.exe}, ${p.crash.signal})`;
      await tx`INSERT INTO crash_reports (message_id, report, symbolized) VALUES (${p.id}, ${JSON.stringify(report)}, ${symbolized === report ? "" : JSON.stringify(symbolized)})`;
    } else if (p.kind === "note") {
      await tx`INSERT INTO notes (message_id, device_id, boot_id, time, reason, text) VALUES (${p.id}, ${p.device.id}, ${p.note.bootId}, ${p.time}, ${p.note.reason}, ${p.note.text})`;
    }
    await bump(tx, "stored");
    return true;
  });
  if (!stored) return { status: "duplicate", id: p.id };
  const n = (storedSinceOptimize.get(store) ?? 0) + 1;
  storedSinceOptimize.set(store, n % OPTIMIZE_EVERY_MESSAGES);
  if (n >= OPTIMIZE_EVERY_MESSAGES && store.dialect === "sqlite") await store.sql`PRAGMA optimize`;
  return sig !== undefined ? { status: "stored", id: p.id, kind: p.kind, group: sig.id } : { status: "stored", id: p.id, kind: p.kind };
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

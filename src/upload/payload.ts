// The upload payload, "crashkeep.upload/1": one MQTT message per archived
// boot, crash report or note (issue 12). This file is the contract with the
// fleet collector (src/collect validates what it receives with payloadSchema):
// add fields, never rename or remove them. docs/upload.schema.json is
// generated from payloadSchema (build/gen-schema.ts).
//
// Every message fits in maxMessageBytes on its own: what does not fit is cut
// with a marker (CUT_MARKER) and `truncated: true`, never split.
import { closeSync, openSync, readSync, statSync } from "node:fs";
import { z } from "zod";
import type { ArchiveEntry } from "../archive/archive.ts";
import type { Report } from "../core/report.ts";
import type { CompactReport } from "../core/format.ts";

export const UPLOAD_SCHEMA = "crashkeep.upload/1";
export const PAYLOAD_KINDS = ["boot", "crash", "note", "rollback"] as const;
export type PayloadKind = (typeof PAYLOAD_KINDS)[number];

/** Smallest message a config may ask for: the envelope plus a compact report (at most 4 KiB) with room to spare. */
export const MIN_MESSAGE_BYTES = 8 * 1024;
/** AWS IoT Core's payload limit (128 KB): the largest message every fleet broker takes. */
export const MAX_MESSAGE_BYTES = 128 * 1000;
/** Lines kept of each log tail before any cutting: the last lines are what explain a hang. */
const LOG_TAIL_LINES = 200;
/** Bytes of the panic log read from its end before any cutting. */
const PANIC_LOG_BYTES = 64 * 1024;
/** Bytes of each log tail file read from its end. */
const LOG_TAIL_READ_BYTES = 64 * 1024;
/** Rounds of cutting before giving up on a payload: each round halves the largest cuttable field. */
const MAX_CUT_ROUNDS = 64;

const text = (max: number) => z.string().max(max);
const nullableText = (max: number) => text(max).nullable();
const isoTime = z.iso.datetime({ offset: true }).describe("ISO 8601 time, UTC");

export const deviceSchema = z.object({
  id: text(128).min(1).describe("upload.deviceId, else /etc/machine-id, else the hostname"),
  firmware: nullableText(128).describe("upload.firmware, else VERSION_ID (and BUILD_ID) of /etc/os-release"),
  hardware: nullableText(128).describe("upload.hardware, else the device-tree model or the DMI product name"),
  kernel: nullableText(128).describe("uname -r"),
  arch: text(32).describe("x86_64, aarch64, ..."),
  crashkeepVersion: text(64).describe("crashkeep version (and commit)"),
}).describe("the device that sent the message");

const envelope = {
  schema: z.literal(UPLOAD_SCHEMA),
  id: text(256).min(1).describe("stable unique id: the same for every redelivery of one message; receivers de-duplicate by it"),
  time: isoTime.describe("when the event happened (boot ended or archived, crash, note)"),
  device: deviceSchema,
  truncated: z.boolean().describe("true when something was cut to fit upload.maxMessageBytes (cut text carries the marker)"),
};

export const logTailSchema = z.object({
  path: text(4096).describe("the mirrored log file"),
  lines: z.array(z.string()).describe("its last lines before the boot ended, oldest first"),
});

export const bootBodySchema = z.object({
  archiveId: text(128).describe("the archive entry's id on the device (<time>-<reason>)"),
  reason: text(128).describe("reboot reason: kernel-panic, oom-panic, watchdog, clean-reboot, power-loss, ..."),
  subreason: nullableText(256),
  detail: nullableText(4096).describe("one line: the panic message, the noted reason..."),
  summary: text(4096).describe("the one-line summary init printed"),
  previousBootId: nullableText(64).describe("the boot id (/proc/sys/kernel/random/boot_id) of the boot that ended"),
  endedAt: isoTime.nullable().describe("when that boot ended, if known"),
  archivedAt: isoTime.describe("when init archived it"),
  panicMessage: nullableText(4096).describe('"Kernel panic - not syncing: ..." without the prefix'),
  panicLog: nullableText(MAX_MESSAGE_BYTES).describe("the end of the panic log (pstore dmesg record)"),
  logTails: z.array(logTailSchema).describe("the log tails the journal kept"),
  lastUserCrash: nullableText(1024).describe("the last user-space crash of that boot, in one line"),
  files: z.array(z.object({ name: text(256), kind: text(64), bytes: z.number().int().min(0) })).describe("what the archive entry holds on the device"),
});

export const crashBodySchema = z.object({
  reportId: text(256).describe("the report's directory name on the device"),
  form: z.enum(["full", "compact"]).describe("full: the report JSON; compact: the journal's compact form (the full one did not fit)"),
  comm: nullableText(64),
  exe: nullableText(4096),
  pid: z.number().int().nullable(),
  signal: text(256).describe('"SIGSEGV SEGV_MAPERR at 0x10"'),
  cause: text(1024),
  report: z.record(z.string(), z.unknown()).describe("the report (src/core/report.ts Report) or its compact form (src/core/format.ts CompactReport)"),
});

export const droppedSchema = z.object({
  boot: z.number().int().min(0),
  crash: z.number().int().min(0),
  note: z.number().int().min(0),
  rollback: z.number().int().min(0).optional(),
  since: isoTime.describe("time of the oldest dropped entry"),
}).describe("outbox entries dropped by its quotas, by kind");

export const noteBodySchema = z.object({
  text: text(MAX_MESSAGE_BYTES),
  reason: nullableText(1024).describe("the reboot reason noted with it (crashkeep note --reason)"),
  bootId: nullableText(64),
  dropped: droppedSchema.optional().describe("set when crashkeep itself wrote the note: the outbox quotas dropped entries"),
});

/** Bad boots listed at most in one rollback message (rollback.maxBadBoots is at most 16). */
export const MAX_BAD_BOOTS = 16;

export const badBootSchema = z.object({
  slot: text(64).describe("the slot that booted"),
  bootId: nullableText(64).describe("that boot's boot id, when it reached crashkeep"),
  reason: text(128).describe("kernel-panic, kernel-oops, unexpected-reset, crash-loop, never-reached-crashkeep"),
  detail: nullableText(4096).describe('one line: the panic line, the crash loop ("<exe> crashed N times in a minute: SIGSEGV ...")'),
  executable: nullableText(4096).describe("crash-loop: the critical executable"),
  signature: nullableText(256).describe("crash-loop: the crash signature of its last report, when known"),
  endedAt: isoTime.nullable().describe("when that boot ended (or the crash loop was seen), if known"),
});

export const rollbackBodySchema = z.object({
  archiveId: text(128).describe("the archive entry's id on the device"),
  trigger: z.enum(["crashkeep", "bootloader"]).describe("crashkeep: maxBadBoots reached; bootloader: the slot never reached crashkeep and the bootloader's counter fell back"),
  fromSlot: text(64).describe("the slot rolled back (the update)"),
  fromFirmware: nullableText(128).describe("that slot's firmware version, if known"),
  toSlot: nullableText(64).describe("the slot made active (the old firmware)"),
  toFirmware: nullableText(128).describe("that slot's firmware version, if known"),
  badBoots: z.array(badBootSchema).max(MAX_BAD_BOOTS).describe("each bad boot of fromSlot on probation, oldest first"),
  decidedAt: isoTime.describe("when the rollback was decided"),
});

export const bootPayloadSchema = z.object({ ...envelope, kind: z.literal("boot"), boot: bootBodySchema });
export const crashPayloadSchema = z.object({ ...envelope, kind: z.literal("crash"), crash: crashBodySchema });
export const notePayloadSchema = z.object({ ...envelope, kind: z.literal("note"), note: noteBodySchema });
export const rollbackPayloadSchema = z.object({ ...envelope, kind: z.literal("rollback"), rollback: rollbackBodySchema });

/** What a receiver validates: unknown extra fields are allowed (later versions add, never rename). */
export const payloadSchema = z.discriminatedUnion("kind", [bootPayloadSchema, crashPayloadSchema, notePayloadSchema, rollbackPayloadSchema]);

export type DeviceInfo = z.infer<typeof deviceSchema>;
export type BootBody = z.infer<typeof bootBodySchema>;
export type CrashBody = z.infer<typeof crashBodySchema>;
export type NoteBody = z.infer<typeof noteBodySchema>;
export type Dropped = z.infer<typeof droppedSchema>;
export type BadBoot = z.infer<typeof badBootSchema>;
export type RollbackBody = z.infer<typeof rollbackBodySchema>;
export type RollbackPayload = z.infer<typeof rollbackPayloadSchema>;
export type BootPayload = z.infer<typeof bootPayloadSchema>;
export type CrashPayload = z.infer<typeof crashPayloadSchema>;
export type NotePayload = z.infer<typeof notePayloadSchema>;
export type UploadPayload = z.infer<typeof payloadSchema>;

/** The JSON Schema committed as docs/upload.schema.json. */
export function payloadJsonSchema(): Record<string, unknown> {
  const schema = z.toJSONSchema(payloadSchema, { target: "draft-2020-12" });
  return { ...schema, title: "crashkeep upload payload (crashkeep.upload/1)", $id: "https://crashkeep.invalid/upload.schema.json" };
}

/** Parse and validate a received message; throws with the first problems named. */
export function parsePayload(bytes: Uint8Array | string): UploadPayload {
  const textForm = typeof bytes === "string" ? bytes : new TextDecoder().decode(bytes);
  let json: unknown;
  try {
    json = JSON.parse(textForm);
  } catch (err) {
    throw new SyntaxError(`Cannot parse upload payload: ${err instanceof Error ? err.message : String(err)}`);
  }
  const result = payloadSchema.safeParse(json);
  if (result.success) return result.data;
  const problems = result.error.issues.slice(0, 5).map((i) => `${i.path.map(String).join(".") || "(top level)"}: ${i.message}`);
  throw new SyntaxError(`Cannot accept upload payload: ${problems.join("; ")}`);
}

/** The payload as sent: compact JSON, UTF-8. */
export function encodePayload(p: UploadPayload): string {
  return JSON.stringify(p);
}

export function payloadBytes(p: UploadPayload): number {
  return Buffer.byteLength(encodePayload(p));
}

/** `<prefix>/<deviceId>/<kind>`; MQTT wildcards and separators in the device id become "_". */
export function payloadTopic(prefix: string, p: Pick<UploadPayload, "kind" | "device">): string {
  return `${prefix}/${topicLevel(p.device.id)}/${p.kind}`;
}

export function topicLevel(id: string): string {
  return id.replace(/[/+#\u0000]/g, "_") || "_";
}

/** "<deviceId>/<kind>/<local id>": unique across a fleet as long as device ids are. */
export function payloadId(device: DeviceInfo, kind: PayloadKind, localId: string): string {
  return `${device.id}/${kind}/${localId}`.slice(0, 256);
}

export function cutMarker(bytes: number): string {
  return `[crashkeep: ${bytes} bytes cut]`;
}

/** Keep the end of a text (the newest part of a log), with a marker in front. */
function keepEnd(s: string, keep: number): string {
  if (s.length <= keep) return s;
  return `${cutMarker(Buffer.byteLength(s.slice(0, s.length - keep)))}${s.slice(s.length - keep)}`;
}

/** Keep the start of a text (a note, a message), with a marker at the end. */
function keepStart(s: string, keep: number): string {
  if (s.length <= keep) return s;
  return `${s.slice(0, keep)}${cutMarker(Buffer.byteLength(s.slice(keep)))}`;
}

/** Read at most `limit` bytes from the end of a file. */
function readTail(path: string, limit: number): { text: string; cut: number } {
  const fd = openSync(path, "r");
  try {
    const size = statSync(path).size;
    const start = Math.max(0, size - limit);
    const buf = new Uint8Array(size - start);
    let n = 0;
    while (n < buf.length) {
      const got = readSync(fd, buf, n, buf.length - n, start + n);
      if (got === 0) break;
      n += got;
    }
    return { text: new TextDecoder("utf-8", { fatal: false }).decode(buf.subarray(0, n)), cut: start };
  } finally {
    closeSync(fd);
  }
}

function lastLines(s: string, max: number): string[] {
  const lines = s.split("\n");
  if (lines.at(-1) === "") lines.pop();
  return lines.slice(-max);
}

interface BuildOptions {
  device: DeviceInfo;
  maxMessageBytes: number;
}

/**
 * Shrink a payload until it fits: each round halves the largest cuttable
 * text (keeping a log's end, a note's start) and marks it. Throws RangeError
 * when even the envelope does not fit.
 */
function fit<P extends UploadPayload>(p: P, maxBytes: number, cuttables: Array<{ get(): string | null; set(v: string): void; keep: "end" | "start" }>): P {
  for (let round = 0; payloadBytes(p) > maxBytes; round++) {
    const largest = cuttables
      .map((c) => ({ c, len: c.get()?.length ?? 0 }))
      .sort((a, b) => b.len - a.len)[0];
    if (round >= MAX_CUT_ROUNDS || !largest || largest.len <= 64) {
      throw new RangeError(`Cannot fit the ${p.kind} message "${p.id}" into ${maxBytes} bytes`);
    }
    const value = largest.c.get() ?? "";
    const over = payloadBytes(p) - maxBytes;
    // Cut what is over, in proportion of bytes to characters (UTF-8), plus room for the marker;
    // JSON escapes make this an estimate, so the loop checks again.
    const valueBytes = Buffer.byteLength(value);
    const targetBytes = Math.max(0, valueBytes - over - 64);
    const keep = Math.min(value.length - 1, Math.floor((value.length * targetBytes) / valueBytes));
    largest.c.set(largest.c.keep === "end" ? keepEnd(value, keep) : keepStart(value, keep));
    p.truncated = true;
  }
  return p;
}

function linesCuttable(tail: { lines: string[] }) {
  return {
    get: () => tail.lines.join("\n"),
    set: (v: string) => {
      tail.lines = v.split("\n");
    },
    keep: "end" as const,
  };
}

/** The message for one archived boot; reads the panic log and log tails from entryDir. */
export function bootPayload(entry: ArchiveEntry, options: BuildOptions & { entryDir: string | undefined }): BootPayload {
  const { device, entryDir } = options;
  let truncated = false;
  const dmesgFacts = Array.isArray(entry.facts.pstore) ? (entry.facts.pstore as Array<{ dmesg?: { panicMessage?: string } }>) : [];
  const panicMessage = dmesgFacts.map((r) => r.dmesg?.panicMessage).find((m): m is string => typeof m === "string") ?? null;
  let panicLog: string | null = null;
  const logTails: Array<{ path: string; lines: string[] }> = [];
  if (entryDir) {
    // pstore numbers dmesg parts from the end (Part1 = dmesg-ramoops-0, the newest): its end is the panic.
    const dmesg = entry.files.filter((f) => f.kind === "pstore-dmesg").sort((a, b) => a.name.localeCompare(b.name))[0];
    if (dmesg) {
      try {
        const t = readTail(`${entryDir}/${dmesg.name}`, PANIC_LOG_BYTES);
        panicLog = t.cut > 0 ? `${cutMarker(t.cut)}${t.text}` : t.text;
      } catch {
        panicLog = null;
      }
    }
    for (const f of entry.files.filter((x) => x.kind === "log-tail")) {
      try {
        const t = readTail(`${entryDir}/${f.name}`, LOG_TAIL_READ_BYTES);
        const lines = lastLines(t.text, LOG_TAIL_LINES);
        if (t.cut > 0 && lines.length > 0) truncated = true;
        logTails.push({ path: sourcePath(f.source) ?? f.name, lines });
      } catch {
        // an unreadable tail is left out; the entry on the device still has it
      }
    }
  }
  const lastUserCrash = /last user-space crash before it: ([^;]*)/.exec(entry.summary)?.[1] ?? null;
  const p: BootPayload = {
    schema: UPLOAD_SCHEMA,
    id: payloadId(device, "boot", entry.id),
    kind: "boot",
    time: entry.endedAt ?? entry.archivedAt,
    device,
    truncated,
    boot: {
      archiveId: entry.id,
      reason: entry.reason,
      subreason: entry.subreason ?? null,
      detail: entry.detail ?? null,
      summary: entry.summary,
      previousBootId: entry.previousBootId ?? null,
      endedAt: entry.endedAt ?? null,
      archivedAt: entry.archivedAt,
      panicMessage,
      panicLog,
      logTails,
      lastUserCrash,
      files: entry.files.map((f) => ({ name: f.name, kind: f.kind, bytes: f.bytes })),
    },
  };
  return fit(p, options.maxMessageBytes, [
    { get: () => p.boot.panicLog, set: (v) => (p.boot.panicLog = v), keep: "end" },
    ...p.boot.logTails.map(linesCuttable),
    { get: () => p.boot.summary, set: (v) => (p.boot.summary = v), keep: "start" },
    { get: () => p.boot.detail, set: (v) => (p.boot.detail = v), keep: "start" },
  ]);
}

/** "journal log area 0 (/var/log/messages)" → "/var/log/messages". */
function sourcePath(source: string): string | undefined {
  return /\((\/[^)]*)\)$/.exec(source)?.[1];
}

/**
 * The message for one crash report: the full report when it fits, else the
 * compact form (which is at most limits.reportBytes and always fits).
 */
export function crashPayload(report: Report, options: BuildOptions & { reportId: string; time: Date; compact: () => string }): CrashPayload {
  const { device } = options;
  const p: CrashPayload = {
    schema: UPLOAD_SCHEMA,
    id: payloadId(device, "crash", options.reportId),
    kind: "crash",
    time: options.time.toISOString(),
    device,
    truncated: false,
    crash: {
      reportId: options.reportId,
      form: "full",
      comm: report.comm,
      exe: report.exe,
      pid: report.pid,
      signal: `${report.signal.name}${report.signal.summary ? ` ${report.signal.summary}` : ""}`,
      cause: report.cause.text,
      report: report as unknown as Record<string, unknown>,
    },
  };
  if (payloadBytes(p) <= options.maxMessageBytes) return p;
  p.crash.form = "compact";
  p.crash.report = JSON.parse(options.compact()) as CompactReport as unknown as Record<string, unknown>;
  p.truncated = true;
  return fit(p, options.maxMessageBytes, [{ get: () => p.crash.exe, set: (v) => (p.crash.exe = v), keep: "start" }]);
}

/** The message for one note (crashkeep note, or crashkeep's own "entries dropped" note). */
export function notePayload(
  note: { text: string; reason?: string | null; bootId?: string | null; time: Date; localId: string; dropped?: Dropped },
  options: BuildOptions,
): NotePayload {
  const { device } = options;
  const p: NotePayload = {
    schema: UPLOAD_SCHEMA,
    id: payloadId(device, "note", note.localId),
    kind: "note",
    time: note.time.toISOString(),
    device,
    truncated: false,
    note: {
      text: note.text,
      reason: note.reason ?? null,
      bootId: note.bootId ?? null,
      ...(note.dropped ? { dropped: note.dropped } : {}),
    },
  };
  return fit(p, options.maxMessageBytes, [{ get: () => p.note.text, set: (v) => (p.note.text = v), keep: "start" }]);
}

/** The message for one rollback (an archive entry of reason "rollback"): the body as archived, cut to fit. */
export function rollbackPayload(body: RollbackBody, options: BuildOptions): RollbackPayload {
  const { device } = options;
  const p: RollbackPayload = {
    schema: UPLOAD_SCHEMA,
    id: payloadId(device, "rollback", body.archiveId),
    kind: "rollback",
    time: body.decidedAt,
    device,
    truncated: false,
    rollback: { ...body, badBoots: body.badBoots.slice(-MAX_BAD_BOOTS).map((b) => ({ ...b })) },
  };
  return fit(p, options.maxMessageBytes, p.rollback.badBoots.map((b) => ({ get: () => b.detail, set: (v: string) => (b.detail = v), keep: "start" as const })));
}


// What the API returns and the pages draw: read-only queries over the store,
// the same SQL on SQLite and PostgreSQL (counts cast to INTEGER so both return
// numbers). Times are compared, sorted and shown as instants in UTC (utc()),
// never as the text a device sent: "2026-12-07T10:00:00+14:00" is before
// "2026-12-06T21:00:00Z". Every list is paged (offset + limit, at most
// MAX_PAGE_ITEMS) and every value a device once sent is bounded on the way out
// (bounded.ts), so each answer has a worst-case size (docs/COLLECT.md).
import type { Report } from "../core/report.ts";
import { boundJson, parseStored } from "./bounded.ts";
import { NOISE_GROUP } from "./ingest.ts";
import type { Store } from "./store.ts";

/** Days in a group's sparkline and a version's chart. */
export const HISTORY_DAYS = 30;
/** Most items in one page of a list (groups, devices, versions): also the default. */
export const MAX_PAGE_ITEMS = 100;
/** Reports in one page of a group's reports (newest first). */
export const GROUP_REPORTS = 10;
/** Devices and firmware versions listed with a group (its `devices` count says how many there are). */
export const GROUP_DETAIL_ROWS = 100;
/** Boots in one page of a device's timeline. */
export const DEVICE_BOOTS = 50;
/** Crashes placed in one page of a device's timeline. */
export const DEVICE_CRASHES = 200;
/** Top groups per firmware version. */
export const TOP_GROUPS_PER_VERSION = 5;
/** Rollbacks in one page of /api/rollbacks and /rollbacks (newest first): each is at most ~50 KiB (16 bad boots). */
export const ROLLBACKS_PAGE_ITEMS = 10;
/** Newest rollbacks shown with a device (`rollbackCount` says how many there are; /rollbacks?device= lists them all). */
export const DEVICE_ROLLBACKS = 5;

/** Bytes (as JSON) of one stored report in an answer: twice the largest message a device may send. */
export const REPORT_ANSWER_BYTES = 256 * 1024;
/**
 * The largest answer of each API endpoint, from the limits above (docs/COLLECT.md
 * shows the sums): a list page is MAX_PAGE_ITEMS items of at most ~5.9 KiB
 * (a version with its top groups); a group is GROUP_REPORTS reports of at
 * most REPORT_ANSWER_BYTES plus its devices and versions; a device is
 * DEVICE_BOOTS boots of at most ~43 KiB, DEVICE_CRASHES crashes of ~1.7 KiB and
 * DEVICE_ROLLBACKS rollbacks of ~50 KiB; a page of rollbacks is ROLLBACKS_PAGE_ITEMS of ~50 KiB.
 */
export const ANSWER_BOUNDS = { list: 600 * 1024, group: 3 * 1024 * 1024, device: 3 * 1024 * 1024, health: 64 * 1024, rollbacks: 600 * 1024 } as const;
/** Largest stored report read to be shown (characters): a report stored before ingest bounded them can be tens of MB, and parsing it whole costs several times that in memory. Larger ones are shown as a stub; the upload as received (at most ingest's MAX_MESSAGE_BYTES) stays at /api/messages/<id>. */
export const MAX_REPORT_READ_CHARS = 2 * 1024 * 1024;
/** Bytes (as JSON) of the log tails shown with a boot or a report, and of a boot's panic log. */
export const LOG_ANSWER_BYTES = 16 * 1024;
/** Bytes (as JSON) of a rollback's short fields (slots, boot ids, reasons, firmware: at most 128 characters as sent). */
const ROLLBACK_FIELD_BYTES = 256;
/** Bytes (as JSON) of a bad boot's detail (one line: the panic line, the crash loop). */
const ROLLBACK_DETAIL_BYTES = 1024;
/** Bytes (as JSON) of a time (UTC, from utc()) or one of our group ids (16 hex digits). */
const TIME_BYTES = 64;
/** Bytes (as JSON) of a short device string shown (ids, firmware, exe, reason, time, summary). */
const SHORT_BYTES = 512;
/** Bytes (as JSON) of a longer device string (signature, boot detail, panic message). */
const LONG_BYTES = 4096;
/** Bytes (as JSON) of a small list inside an item (a group's firmware versions, a version's reasons). */
const SMALL_LIST_BYTES = 2048;
/** Bytes (as JSON) of a group's signature frames. */
const FRAMES_BYTES = 16 * 1024;
/** Nesting kept of a stored report: the report schema needs 5 levels. */
const REPORT_DEPTH = 16;

export interface Page {
  offset: number;
  limit: number;
}

/** One page of a list, and whether another follows. */
export interface Paged<T> {
  items: T[];
  offset: number;
  limit: number;
  more: boolean;
}

export const FIRST_PAGE: Page = { offset: 0, limit: MAX_PAGE_ITEMS };

export interface GroupSummary {
  id: string;
  count: number;
  devices: number;
  firstSeen: string;
  lastSeen: string;
  signature: string;
  exe: string;
  firmware: string[];
  /** Crashes per day, oldest first, HISTORY_DAYS values ending today (UTC). */
  daily: number[];
}

export interface LogTail {
  path: string;
  lines: string[];
}

export interface GroupReport {
  id: string;
  deviceId: string;
  firmware: string;
  time: string;
  summary: string | null;
  /** Something of the stored report (or its log tails) was cut to fit REPORT_ANSWER_BYTES. */
  truncated: boolean;
  /** Characters of the stored report when it was over MAX_REPORT_READ_CHARS and so not read (`report` is then a stub without threads). */
  storedChars?: number;
  report: Report;
  /** The log tails of the boot the crash happened in, once that boot's upload has arrived. */
  logTails: LogTail[];
}

export interface GroupDetail extends GroupSummary {
  frames: string[];
  deviceList: Array<{ deviceId: string; count: number; firmware: string; lastSeen: string }>;
  versions: Array<{ firmware: string; count: number }>;
  reports: GroupReport[];
  /** Which page of the group's reports `reports` is. */
  reportPage: { offset: number; limit: number; more: boolean };
}

export interface VersionSummary {
  firmware: string;
  boots: number;
  reasons: Record<string, number>;
  crashFreeBootsPercent: number | null;
  devices: number;
  devicesAffected: number;
  topGroups: Array<{ id: string; signature: string; count: number }>;
  /** Rollbacks away from this version (it was the updated slot's firmware), and on how many devices. */
  rollbacks: number;
  rollbackDevices: number;
  /** Crash-free boots % per day, oldest first, HISTORY_DAYS values; null on a day without boots. */
  daily: Array<number | null>;
}

export interface DeviceBoot {
  messageId: string;
  bootId: string | null;
  time: string;
  firmware: string;
  reason: string;
  detail: string | null;
  crashFree: boolean;
  panicMessage: string | null;
  /** Its log tails or panic log were cut to fit LOG_ANSWER_BYTES. */
  truncated: boolean;
  logTails: LogTail[];
  /** The end of the panic log. */
  panicLog: string | null;
  crashes: Array<{ id: string; groupId: string; time: string; summary: string | null; exe: string | null }>;
}

export interface DeviceDetail {
  id: string;
  firmware: string;
  hardware: string | null;
  kernel: string | null;
  arch: string | null;
  crashkeepVersion: string | null;
  firstSeen: string;
  /** When a message of it was last received (the collector's clock; firstSeen is the oldest device time, clamped). */
  lastSeen: string;
  boots: DeviceBoot[];
  /** Crashes after the newest boot received: the running boot, or one whose upload is still on its way (first page only). */
  otherCrashes: DeviceBoot["crashes"];
  /** Its newest DEVICE_ROLLBACKS rollbacks, and how many it has. */
  rollbacks: Rollback[];
  rollbackCount: number;
  /** Which page of the device's boots `boots` is; `crashesMore` when more than DEVICE_CRASHES crashes fell in it. */
  bootPage: { offset: number; limit: number; more: boolean; crashesMore: boolean };
}

export interface RollbackBadBoot {
  slot: string;
  bootId: string | null;
  reason: string;
  detail: string | null;
  executable: string | null;
  signature: string | null;
  /** The crash group the signature names, when the collector has one by that signature. */
  groupId: string | null;
  endedAt: string | null;
}

export interface Rollback {
  id: string;
  deviceId: string;
  /** When the device archived it (clamped as every device time: receive time + maxClockSkewSeconds at most). */
  time: string;
  decidedAt: string;
  trigger: string;
  fromSlot: string;
  fromFirmware: string;
  toSlot: string | null;
  toFirmware: string;
  badBootCount: number;
  /** Oldest first, as the device listed them. */
  badBoots: RollbackBadBoot[];
}

/** Which rollbacks a list shows: all, one device's, or those away from one firmware version. */
export interface RollbackFilter {
  device?: string;
  firmware?: string;
}

export interface DeviceListItem {
  id: string;
  /** When a message of it was last received (the collector's clock): the list's order. */
  lastSeen: string;
  boots: number;
  crashes: number;
  firmware: string;
}

export interface Health {
  ok: true;
  schemaVersion: number;
  messages: number;
  stored: number;
  duplicates: number;
  rejected: number;
  /** Messages whose id was stored before with other content (the first is kept; each is listed with the rejects). */
  conflicts: number;
  rejects: Array<{ receivedAt: string; topic: string; reason: string; sizeBytes: number }>;
}

/** A device string within MAX_BYTES as JSON (cut with "…"). */
function text(s: string, maxBytes = SHORT_BYTES): string {
  return (boundJson(s, { maxBytes, maxDepth: 1, maxStringChars: maxBytes }).value as string | null) ?? "";
}

function textOrNull(s: string | null, maxBytes = SHORT_BYTES): string | null {
  return s === null ? null : text(s, maxBytes);
}

/** A list of device strings within MAX_BYTES as JSON (the items that fit). */
function texts(list: readonly string[], maxBytes = SMALL_LIST_BYTES): string[] {
  return (boundJson(list, { maxBytes, maxDepth: 2, maxStringChars: maxBytes }).value as string[] | null) ?? [];
}

/**
 * COLUMN (a stored time, ISO 8601 with any offset) as UTC text with milliseconds,
 * "2026-12-06T20:00:00.000Z": text order is then time order. Our own column
 * names only (it is SQL text).
 */
function utc(store: Store, column: string) {
  if (store.dialect === "sqlite") return store.sql.unsafe(`COALESCE(strftime('%Y-%m-%dT%H:%M:%fZ', ${column}), ${column})`);
  // PostgreSQL has no year 0 (ISO 8601's 0000 is 1 BC): such a time sorts first instead of failing the query
  return store.sql.unsafe(
    `CASE WHEN ${column} < '0001-01-02' THEN '0001-01-01T00:00:00.000Z' ELSE to_char(CAST(${column} AS timestamptz) AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') END`,
  );
}

function days(now: Date): string[] {
  const out: string[] = [];
  const today = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate());
  for (let i = HISTORY_DAYS - 1; i >= 0; i--) out.push(new Date(today - i * 86400_000).toISOString().slice(0, 10));
  return out;
}

/** The log tails and panic log stored with a boot, each field checked (it came from a device) and bounded. */
function parseBootTail(stored: string): { logTails: LogTail[]; panicLog: string | null; truncated: boolean } {
  const t = parseStored<{ logTails?: unknown; panicLog?: unknown }>(stored, {});
  const all = (Array.isArray(t.logTails) ? t.logTails : [])
    .filter((x): x is { path: unknown; lines: unknown } => x !== null && typeof x === "object")
    .map((x) => ({ path: typeof x.path === "string" ? x.path : "?", lines: Array.isArray(x.lines) ? x.lines.filter((l): l is string => typeof l === "string") : [] }));
  // a log's end is what matters (the newest lines, the panic itself): cut from the front
  const tails = boundJson(
    all.map((x) => ({ path: x.path, lines: [...x.lines].reverse() })),
    { maxBytes: LOG_ANSWER_BYTES, maxDepth: 4, maxStringChars: LOG_ANSWER_BYTES },
  );
  const logTails = tails.value.map((x) => ({ path: x.path ?? "?", lines: Array.isArray(x.lines) ? [...x.lines].reverse() : [] }));
  const panic = typeof t.panicLog === "string" ? lastPart(t.panicLog, LOG_ANSWER_BYTES) : { value: null, truncated: false };
  return { logTails, panicLog: panic.value, truncated: tails.truncated || panic.truncated };
}

/** The end of TEXT within MAX_BYTES as JSON, "…" in front when cut. */
function lastPart(text: string, maxBytes: number): { value: string; truncated: boolean } {
  const bytes = (s: string): number => Buffer.byteLength(JSON.stringify(s));
  if (bytes(text) <= maxBytes) return { value: text, truncated: false };
  let keep = Math.min(text.length, maxBytes);
  for (;;) {
    let start = text.length - keep;
    // never start on the second half of a surrogate pair
    if (start > 0 && /[\udc00-\udfff]/.test(text.charAt(start))) start++;
    const out = `…${text.slice(start)}`;
    const cost = bytes(out);
    if (cost <= maxBytes || keep <= 0) return { value: cost <= maxBytes ? out : "", truncated: true };
    keep = Math.max(0, Math.floor(keep * (maxBytes / cost)) - 1);
  }
}

/** A stored report (text of any size or nesting) as a Report within REPORT_ANSWER_BYTES; `threads` always an array. */
function boundReport(stored: string, maxBytes: number): { report: Report; truncated: boolean } {
  const parsed = parseStored<unknown>(stored, null);
  const b = boundJson(parsed !== null && typeof parsed === "object" && !Array.isArray(parsed) ? parsed : { threads: [] }, { maxBytes, maxDepth: REPORT_DEPTH, maxStringChars: LONG_BYTES });
  const report = b.value as Record<string, unknown>;
  if (!Array.isArray(report.threads)) report.threads = [];
  report.threads = (report.threads as unknown[]).filter((t) => t !== null && typeof t === "object" && !Array.isArray(t));
  return { report: report as unknown as Report, truncated: b.truncated };
}

/** The log tails of the boot a crash at TIME happened in: the device's first boot that ended at or after it. */
async function bootTails(store: Store, deviceId: string, time: string): Promise<{ logTails: LogTail[]; truncated: boolean }> {
  const t = utc(store, "time");
  const [row]: Array<{ log_tail: string }> = await store.sql`SELECT log_tail FROM boots WHERE device_id = ${deviceId} AND ${t} >= ${time} ORDER BY ${t}, message_id LIMIT 1`;
  return row ? parseBootTail(row.log_tail) : { logTails: [], truncated: false };
}

interface GroupRow {
  id: string;
  signature: string;
  exe: string;
  count: number;
  devices: number;
  first_seen: string;
  last_seen: string;
}

async function groupRows(store: Store, where: { id: string } | Page): Promise<GroupRow[]> {
  const sql = store.sql;
  const t = utc(store, "c.time");
  const filter = "id" in where ? sql`WHERE g.id = ${where.id}` : sql``;
  const limit = "id" in where ? 1 : where.limit + 1;
  const offset = "id" in where ? 0 : where.offset;
  // grouped by the key alone (PostgreSQL: the other columns depend on it): a stored signature can be long
  return await sql`SELECT g.id, g.signature, g.exe, CAST(COUNT(*) AS INTEGER) AS count,
      CAST(COUNT(DISTINCT c.device_id) AS INTEGER) AS devices, MIN(${t}) AS first_seen, MAX(${t}) AS last_seen
    FROM crash_groups g JOIN crashes c ON c.group_id = g.id ${filter}
    GROUP BY g.id ORDER BY MAX(${t}) DESC, g.id LIMIT ${limit} OFFSET ${offset}`;
}

async function summarize(store: Store, rows: GroupRow[], now: Date): Promise<GroupSummary[]> {
  const sql = store.sql;
  const dayList = days(now);
  const since = dayList[0] as string;
  const ids = rows.map((r) => r.id);
  const fw = new Map<string, string[]>();
  const daily = new Map<string, number[]>();
  if (ids.length > 0) {
    const fwRows: Array<{ group_id: string; firmware: string }> = await sql`SELECT DISTINCT group_id, firmware FROM crashes WHERE group_id IN ${sql(ids)} ORDER BY firmware`;
    for (const r of fwRows) fw.set(r.group_id, [...(fw.get(r.group_id) ?? []), r.firmware]);
    const t = utc(store, "time");
    const dayRows: Array<{ group_id: string; day: string; n: number }> = await sql`SELECT group_id, SUBSTR(${t}, 1, 10) AS day, CAST(COUNT(*) AS INTEGER) AS n
      FROM crashes WHERE group_id IN ${sql(ids)} AND ${t} >= ${since} GROUP BY group_id, SUBSTR(${t}, 1, 10)`;
    const index = new Map(dayList.map((d, i) => [d, i]));
    for (const r of dayRows) {
      const i = index.get(r.day);
      if (i === undefined) continue;
      const series = daily.get(r.group_id) ?? new Array<number>(HISTORY_DAYS).fill(0);
      series[i] = Number(r.n);
      daily.set(r.group_id, series);
    }
  }
  // the numbers first: a bounded item keeps them whole
  return rows.map((r) => ({
    id: text(r.id, TIME_BYTES),
    count: Number(r.count),
    devices: Number(r.devices),
    firstSeen: text(r.first_seen, TIME_BYTES),
    lastSeen: text(r.last_seen, TIME_BYTES),
    signature: text(r.signature, LONG_BYTES / 2),
    exe: text(r.exe),
    firmware: texts(fw.get(r.id) ?? []),
    daily: daily.get(r.id) ?? new Array<number>(HISTORY_DAYS).fill(0),
  }));
}

function paged<T>(items: T[], page: Page): Paged<T> {
  return { items: items.slice(0, page.limit), offset: page.offset, limit: page.limit, more: items.length > page.limit };
}

/** One page of crash groups, the one crashed in most recently first. */
export async function pageOfGroups(store: Store, page: Page = FIRST_PAGE, now = new Date()): Promise<Paged<GroupSummary>> {
  const rows = await groupRows(store, page);
  return paged(await summarize(store, rows, now), page);
}

/** The first page of crash groups. */
export async function listGroups(store: Store, now = new Date()): Promise<GroupSummary[]> {
  return (await pageOfGroups(store, FIRST_PAGE, now)).items;
}

function signatureFrames(stored: string): string[] {
  const frames = parseStored<unknown>(stored, []);
  return Array.isArray(frames) ? frames.filter((f): f is string => typeof f === "string") : [];
}

/** A group, with one page of its reports (newest first). */
export async function groupDetail(store: Store, id: string, page: Page = { offset: 0, limit: GROUP_REPORTS }, now = new Date()): Promise<GroupDetail | undefined> {
  const rows = await groupRows(store, { id });
  const row = rows[0];
  if (row === undefined) return undefined;
  const [summary] = await summarize(store, rows, now);
  const sql = store.sql;
  const [frames]: Array<{ frames: string }> = await sql`SELECT frames FROM crash_groups WHERE id = ${id}`;
  const t = utc(store, "time");
  const devices: Array<{ device_id: string; count: number; firmware: string; last_seen: string }> = await sql`SELECT device_id, CAST(COUNT(*) AS INTEGER) AS count, MAX(firmware) AS firmware, MAX(${t}) AS last_seen
    FROM crashes WHERE group_id = ${id} GROUP BY device_id ORDER BY MAX(${t}) DESC, device_id LIMIT ${GROUP_DETAIL_ROWS}`;
  const versions: Array<{ firmware: string; count: number }> = await sql`SELECT firmware, CAST(COUNT(*) AS INTEGER) AS count FROM crashes WHERE group_id = ${id}
    GROUP BY firmware ORDER BY firmware LIMIT ${GROUP_DETAIL_ROWS}`;
  const tc = utc(store, "c.time");
  const reports: Array<{ message_id: string; device_id: string; firmware: string; time: string; summary: string | null }> = await sql`SELECT c.message_id, c.device_id, c.firmware, ${tc} AS time, c.summary
    FROM crashes c WHERE c.group_id = ${id} ORDER BY ${tc} DESC, c.message_id LIMIT ${page.limit + 1} OFFSET ${page.offset}`;
  const shown: GroupReport[] = [];
  // One stored report at a time: a report stored before ingest bounded them can be megabytes.
  for (const r of reports.slice(0, page.limit)) {
    // symbolized is "" when symbolization added nothing: the report as received is the one to show
    const [stored]: Array<{ text: string | null; n: number }> = await sql`SELECT CASE WHEN LENGTH(x.t) <= ${MAX_REPORT_READ_CHARS} THEN x.t END AS text, CAST(LENGTH(x.t) AS INTEGER) AS n
      FROM (SELECT CASE WHEN symbolized <> '' THEN symbolized ELSE report END AS t FROM crash_reports WHERE message_id = ${r.message_id}) x`;
    const tails = await bootTails(store, r.device_id, r.time);
    const tooLarge = stored !== undefined && stored.text === null;
    const { report, truncated } = boundReport(stored?.text ?? "", REPORT_ANSWER_BYTES - LOG_ANSWER_BYTES - 4 * SHORT_BYTES - 256);
    shown.push({
      ...(tooLarge ? { storedChars: Number(stored.n) } : {}),
      id: text(r.message_id),
      deviceId: text(r.device_id),
      firmware: text(r.firmware),
      time: text(r.time, TIME_BYTES),
      summary: textOrNull(r.summary),
      truncated: truncated || tails.truncated || tooLarge,
      report,
      logTails: tails.logTails,
    });
  }
  return {
    ...(summary as GroupSummary),
    frames: texts(signatureFrames(frames?.frames ?? "[]"), FRAMES_BYTES),
    deviceList: devices.map((d) => ({ deviceId: text(d.device_id), count: Number(d.count), firmware: text(d.firmware), lastSeen: text(d.last_seen, TIME_BYTES) })),
    versions: versions.map((v) => ({ firmware: text(v.firmware), count: Number(v.count) })),
    reports: shown,
    reportPage: { offset: page.offset, limit: page.limit, more: reports.length > page.limit },
  };
}

/** A device, with one page of its boot timeline (newest first) and the crashes in those boots. */
export async function deviceDetail(store: Store, id: string, page: Page = { offset: 0, limit: DEVICE_BOOTS }): Promise<DeviceDetail | undefined> {
  const sql = store.sql;
  const [d]: Array<{ id: string; firmware: string; hardware: string | null; kernel: string | null; arch: string | null; crashkeep_version: string | null; first_seen: string; last_seen: string }> =
    await sql`SELECT id, firmware, hardware, kernel, arch, crashkeep_version, ${utc(store, "first_seen")} AS first_seen, ${utc(store, "last_received")} AS last_seen FROM devices WHERE id = ${id}`;
  if (d === undefined) return undefined;
  const t = utc(store, "time");
  // One boot more than shown: its end is where the oldest shown boot began.
  const rows: Array<{ message_id: string; boot_id: string | null; time: string; firmware: string; reason: string; detail: string | null; crash_free: number; panic_message: string | null; log_tail: string }> =
    await sql`SELECT message_id, boot_id, ${t} AS time, firmware, reason, detail, crash_free, panic_message, log_tail FROM boots WHERE device_id = ${id}
      ORDER BY ${t} DESC, message_id LIMIT ${page.limit + 1} OFFSET ${page.offset}`;
  const boots = rows.slice(0, page.limit);
  const since = rows.length > page.limit ? (rows[page.limit] as { time: string }).time : "";
  // After the first page, the crashes newer than this page's newest boot belong to the pages before.
  const until = page.offset > 0 ? sql`AND ${t} <= ${boots[0]?.time ?? ""}` : sql``;
  const crashes: Array<{ message_id: string; group_id: string; time: string; summary: string | null; exe: string | null }> = await sql`SELECT message_id, group_id, ${t} AS time, summary, exe
    FROM crashes WHERE device_id = ${id} AND ${t} > ${since} ${until} ORDER BY ${t} DESC, message_id LIMIT ${DEVICE_CRASHES + 1}`;
  const [rbCount]: Array<{ n: number }> = await sql`SELECT CAST(COUNT(*) AS INTEGER) AS n FROM rollbacks WHERE device_id = ${id}`;
  // Boots newest first: a crash belongs to the oldest boot that ended at or after it.
  const byBoot = boots.map((): DeviceBoot["crashes"] => []);
  const other: DeviceBoot["crashes"] = [];
  for (const c of crashes.slice(0, DEVICE_CRASHES)) {
    const item = { id: text(c.message_id), groupId: text(c.group_id, TIME_BYTES), time: text(c.time, TIME_BYTES), summary: textOrNull(c.summary), exe: textOrNull(c.exe) };
    let at = -1;
    for (let i = 0; i < boots.length && (boots[i] as { time: string }).time >= c.time; i++) at = i;
    if (at < 0) other.push(item);
    else byBoot[at]?.push(item);
  }
  return {
    id: text(d.id),
    firmware: text(d.firmware),
    hardware: textOrNull(d.hardware),
    kernel: textOrNull(d.kernel),
    arch: textOrNull(d.arch),
    crashkeepVersion: textOrNull(d.crashkeep_version),
    firstSeen: text(d.first_seen, TIME_BYTES),
    lastSeen: text(d.last_seen, TIME_BYTES),
    boots: boots.map((b, i) => {
      const tail = parseBootTail(b.log_tail);
      return {
        messageId: text(b.message_id),
        bootId: textOrNull(b.boot_id),
        time: text(b.time, TIME_BYTES),
        firmware: text(b.firmware),
        reason: text(b.reason),
        detail: textOrNull(b.detail, LONG_BYTES),
        crashFree: Number(b.crash_free) === 1,
        panicMessage: textOrNull(b.panic_message, LONG_BYTES),
        truncated: tail.truncated,
        logTails: tail.logTails,
        panicLog: tail.panicLog,
        crashes: byBoot[i] ?? [],
      };
    }),
    otherCrashes: other,
    rollbacks: (await rollbackRows(store, { device: id }, { offset: 0, limit: DEVICE_ROLLBACKS })).slice(0, DEVICE_ROLLBACKS),
    rollbackCount: Number(rbCount?.n ?? 0),
    bootPage: { offset: page.offset, limit: page.limit, more: rows.length > page.limit, crashesMore: crashes.length > DEVICE_CRASHES },
  };
}

/** Firmware versions, newest first: "10.0" after "9.1" (numeric runs compare as numbers). */
function versionOrder(a: string, b: string): number {
  return b.localeCompare(a, "en", { numeric: true });
}

/**
 * One page of firmware versions (newest version first): boots by reason, crash-free boots %, devices affected,
 * top groups, rollbacks away from it, daily crash-free %. Only the version names are read for all versions (the
 * order is numeric, which SQL does not sort the same on SQLite and PostgreSQL); the aggregates only for the page.
 */
export async function pageOfVersions(store: Store, page: Page = FIRST_PAGE, now = new Date()): Promise<Paged<VersionSummary>> {
  const sql = store.sql;
  const nameRows: Array<{ firmware: string }> = await sql`SELECT firmware FROM boots UNION SELECT firmware FROM crashes UNION SELECT from_firmware AS firmware FROM rollbacks`;
  const names = nameRows.map((r) => r.firmware).sort(versionOrder).slice(page.offset, page.offset + page.limit + 1);
  if (names.length === 0) return paged([], page);
  const inPage = sql(names);
  const reasonRows: Array<{ firmware: string; reason: string; n: number }> = await sql`SELECT firmware, reason, CAST(COUNT(*) AS INTEGER) AS n FROM boots
    WHERE firmware IN ${inPage} GROUP BY firmware, reason`;
  const totals: Array<{ firmware: string; boots: number; clean: number; devices: number; affected: number }> = await sql`SELECT firmware,
      CAST(COUNT(*) AS INTEGER) AS boots, CAST(SUM(crash_free) AS INTEGER) AS clean, CAST(COUNT(DISTINCT device_id) AS INTEGER) AS devices,
      CAST(COUNT(DISTINCT CASE WHEN crash_free = 0 THEN device_id END) AS INTEGER) AS affected
    FROM boots WHERE firmware IN ${inPage} GROUP BY firmware`;
  // the top groups of each version on the page, ranked in the database (not every version-group pair read)
  const top: Array<{ firmware: string; group_id: string; signature: string; n: number }> = await sql`SELECT x.firmware, x.group_id, g.signature, x.n
    FROM (SELECT firmware, group_id, CAST(COUNT(*) AS INTEGER) AS n, ROW_NUMBER() OVER (PARTITION BY firmware ORDER BY COUNT(*) DESC, group_id) AS pos
      FROM crashes WHERE firmware IN ${inPage} GROUP BY firmware, group_id) x
    JOIN crash_groups g ON g.id = x.group_id WHERE x.pos <= ${TOP_GROUPS_PER_VERSION} ORDER BY x.firmware, x.pos`;
  const rollbacks: Array<{ firmware: string; n: number; devices: number }> = await sql`SELECT from_firmware AS firmware, CAST(COUNT(*) AS INTEGER) AS n,
      CAST(COUNT(DISTINCT device_id) AS INTEGER) AS devices FROM rollbacks WHERE from_firmware IN ${inPage} GROUP BY from_firmware`;
  const dayList = days(now);
  const since = dayList[0] as string;
  const t = utc(store, "time");
  const dayRows: Array<{ firmware: string; day: string; boots: number; clean: number }> = await sql`SELECT firmware, SUBSTR(${t}, 1, 10) AS day,
      CAST(COUNT(*) AS INTEGER) AS boots, CAST(SUM(crash_free) AS INTEGER) AS clean FROM boots WHERE firmware IN ${inPage} AND ${t} >= ${since} GROUP BY firmware, SUBSTR(${t}, 1, 10)`;
  const index = new Map(dayList.map((d, i) => [d, i]));
  const versions = new Map<string, VersionSummary>(
    names.map((fw) => [fw, { firmware: fw, boots: 0, reasons: {}, crashFreeBootsPercent: null, devices: 0, devicesAffected: 0, topGroups: [], rollbacks: 0, rollbackDevices: 0, daily: new Array<number | null>(HISTORY_DAYS).fill(null) }]),
  );
  for (const x of totals) {
    const v = versions.get(x.firmware);
    if (v === undefined) continue;
    v.boots = Number(x.boots);
    v.devices = Number(x.devices);
    v.devicesAffected = Number(x.affected);
    v.crashFreeBootsPercent = v.boots > 0 ? Math.round((Number(x.clean) / v.boots) * 1000) / 10 : null;
  }
  for (const r of reasonRows) {
    const v = versions.get(r.firmware);
    if (v !== undefined) v.reasons[r.reason] = Number(r.n);
  }
  for (const x of top) {
    const v = versions.get(x.firmware);
    if (v !== undefined && v.topGroups.length < TOP_GROUPS_PER_VERSION) v.topGroups.push({ id: text(x.group_id, TIME_BYTES), signature: text(x.signature, SHORT_BYTES), count: Number(x.n) });
  }
  for (const r of rollbacks) {
    const v = versions.get(r.firmware);
    if (v === undefined) continue;
    v.rollbacks = Number(r.n);
    v.rollbackDevices = Number(r.devices);
  }
  for (const d of dayRows) {
    const i = index.get(d.day);
    const v = versions.get(d.firmware);
    if (v !== undefined && i !== undefined && Number(d.boots) > 0) v.daily[i] = Math.round((Number(d.clean) / Number(d.boots)) * 1000) / 10;
  }
  const items = names.map((fw) => versions.get(fw) as VersionSummary).map((v) => ({
    ...v,
    firmware: text(v.firmware),
    reasons: boundJson(v.reasons, { maxBytes: SMALL_LIST_BYTES, maxDepth: 2, maxStringChars: SHORT_BYTES }).value,
  }));
  return paged(items, page);
}

/** A crash-loop bad boot without a signature links to its device's last crash of that executable this long before the loop was seen. */
export const CRASH_LOOP_LINK_MS = 10 * 60_000;
/** Crashes of the device in that window looked at, newest first, for one crash-loop bad boot. */
const CRASH_LOOP_LINK_CANDIDATES = 50;

/**
 * The crash group of a crash loop the device named by its executable only (crashkeep's device cannot compute
 * the collector's signature: it has no debug info): the group of the device's newest crash of that executable
 * (same base name) in the CRASH_LOOP_LINK_MS before ENDED_AT, outside the noise group; null if none.
 */
async function crashLoopGroup(store: Store, deviceId: string, executable: string, endedAt: string): Promise<string | null> {
  const end = Date.parse(endedAt);
  if (!Number.isFinite(end)) return null;
  const base = (path: string) => path.slice(path.lastIndexOf("/") + 1);
  const name = base(executable);
  const t = utc(store, "time");
  const rows: Array<{ group_id: string; exe: string | null }> = await store.sql`SELECT c.group_id, c.exe FROM crashes c
    WHERE c.device_id = ${deviceId} AND ${t} >= ${new Date(end - CRASH_LOOP_LINK_MS).toISOString()} AND ${t} <= ${new Date(end).toISOString()}
      AND c.group_id <> ${NOISE_GROUP.id}
    ORDER BY ${t} DESC LIMIT ${CRASH_LOOP_LINK_CANDIDATES}`;
  return rows.find((r) => r.exe !== null && base(r.exe) === name)?.group_id ?? null;
}

/** Rollbacks matching FILTER, newest first: one more than PAGE's limit (so the caller knows whether another page follows). */
async function rollbackRows(store: Store, filter: RollbackFilter, page: Page): Promise<Rollback[]> {
  const sql = store.sql;
  // r.time is stored by ingest as UTC text (storedTime): it sorts as it is, by the rollbacks_time and rollbacks_device indexes
  const byDevice = filter.device !== undefined ? sql`AND r.device_id = ${filter.device}` : sql``;
  const byFirmware = filter.firmware !== undefined ? sql`AND r.from_firmware = ${filter.firmware}` : sql``;
  const rows: Array<{ message_id: string; device_id: string; time: string; decided_at: string; triggered_by: string; from_slot: string; from_firmware: string; to_slot: string | null; to_firmware: string; bad_boot_count: number }> =
    await sql`SELECT r.message_id, r.device_id, r.time, r.decided_at, r.triggered_by, r.from_slot, r.from_firmware, r.to_slot, r.to_firmware, r.bad_boot_count
      FROM rollbacks r WHERE 1 = 1 ${byDevice} ${byFirmware} ORDER BY r.time DESC, r.message_id LIMIT ${page.limit + 1} OFFSET ${page.offset}`;
  if (rows.length === 0) return [];
  const ids = rows.map((r) => r.message_id);
  const boots: Array<{ message_id: string; slot: string; boot_id: string | null; reason: string; detail: string | null; executable: string | null; signature: string | null; group_id: string | null; known: string | null; ended_at: string | null }> =
    await sql`SELECT b.message_id, b.slot, b.boot_id, b.reason, b.detail, b.executable, b.signature, b.group_id, g.id AS known, b.ended_at
      FROM rollback_boots b LEFT JOIN crash_groups g ON g.id = b.group_id WHERE b.message_id IN ${sql(ids)} ORDER BY b.message_id, b.seq`;
  const byMessage = new Map<string, RollbackBadBoot[]>();
  const deviceOf = new Map(rows.map((r) => [r.message_id, r.device_id]));
  for (const b of boots) {
    const list = byMessage.get(b.message_id) ?? [];
    const device = deviceOf.get(b.message_id);
    if (b.known === null && b.signature === null && b.reason === "crash-loop" && b.executable !== null && b.ended_at !== null && device !== undefined) {
      b.known = await crashLoopGroup(store, device, b.executable, b.ended_at);
    }
    list.push({
      slot: text(b.slot, ROLLBACK_FIELD_BYTES),
      bootId: textOrNull(b.boot_id, ROLLBACK_FIELD_BYTES),
      reason: text(b.reason, ROLLBACK_FIELD_BYTES),
      detail: textOrNull(b.detail, ROLLBACK_DETAIL_BYTES),
      executable: textOrNull(b.executable),
      signature: textOrNull(b.signature),
      groupId: b.known === null ? null : text(b.known, TIME_BYTES),
      endedAt: textOrNull(b.ended_at, TIME_BYTES),
    });
    byMessage.set(b.message_id, list);
  }
  return rows.map((r) => ({
    id: text(r.message_id),
    deviceId: text(r.device_id),
    time: text(r.time, TIME_BYTES),
    decidedAt: text(r.decided_at, TIME_BYTES),
    trigger: text(r.triggered_by, ROLLBACK_FIELD_BYTES),
    fromSlot: text(r.from_slot, ROLLBACK_FIELD_BYTES),
    fromFirmware: text(r.from_firmware, ROLLBACK_FIELD_BYTES),
    toSlot: textOrNull(r.to_slot, ROLLBACK_FIELD_BYTES),
    toFirmware: text(r.to_firmware, ROLLBACK_FIELD_BYTES),
    badBootCount: Number(r.bad_boot_count),
    badBoots: byMessage.get(r.message_id) ?? [],
  }));
}

/** One page of rollbacks (all, one device's, or away from one firmware version), newest first. */
export async function pageOfRollbacks(store: Store, filter: RollbackFilter = {}, page: Page = { offset: 0, limit: ROLLBACKS_PAGE_ITEMS }): Promise<Paged<Rollback>> {
  return paged(await rollbackRows(store, filter, page), page);
}

/** The upload as received (ingest stored at most its MAX_MESSAGE_BYTES of it), or undefined. */
export async function storedMessage(store: Store, id: string): Promise<string | undefined> {
  const [row]: Array<{ payload: string }> = await store.sql`SELECT payload FROM messages WHERE id = ${id}`;
  return row?.payload;
}

/** The first page of firmware versions. */
export async function listVersions(store: Store, now = new Date()): Promise<VersionSummary[]> {
  return (await pageOfVersions(store, FIRST_PAGE, now)).items;
}

/** Rejects listed by /api/health. */
const HEALTH_REJECTS = 20;

export async function health(store: Store): Promise<Health> {
  const sql = store.sql;
  const counters: Array<{ name: string; value: number }> = await sql`SELECT name, value FROM counters`;
  const c = new Map(counters.map((r) => [r.name, Number(r.value)]));
  const [m]: Array<{ n: number }> = await sql`SELECT CAST(COUNT(*) AS INTEGER) AS n FROM messages`;
  const [v]: Array<{ v: number }> = await sql`SELECT CAST(MAX(version) AS INTEGER) AS v FROM schema_migrations`;
  const rejects: Array<{ received_at: string; topic: string; reason: string; size_bytes: number }> =
    await sql`SELECT received_at, topic, reason, size_bytes FROM rejects ORDER BY id DESC LIMIT ${HEALTH_REJECTS}`;
  return {
    ok: true,
    schemaVersion: Number(v?.v ?? 0),
    messages: Number(m?.n ?? 0),
    stored: c.get("stored") ?? 0,
    duplicates: c.get("duplicates") ?? 0,
    rejected: c.get("rejected") ?? 0,
    conflicts: c.get("conflicts") ?? 0,
    rejects: rejects.map((r) => ({ receivedAt: text(r.received_at, TIME_BYTES), topic: text(r.topic, 2 * SHORT_BYTES), reason: text(r.reason, 2 * SHORT_BYTES), sizeBytes: Number(r.size_bytes) })),
  };
}

/** One page of devices, the one heard from most recently first. */
export async function pageOfDevices(store: Store, page: Page = FIRST_PAGE): Promise<Paged<DeviceListItem>> {
  const sql = store.sql;
  // by when a message of it was last received (our clock, stored as UTC text): a device clock ahead of ours cannot keep a device on top
  const rows: Array<{ id: string; firmware: string; last_seen: string; boots: number; crashes: number }> = await sql`SELECT d.id, d.firmware, ${utc(store, "d.last_received")} AS last_seen,
      CAST((SELECT COUNT(*) FROM boots b WHERE b.device_id = d.id) AS INTEGER) AS boots,
      CAST((SELECT COUNT(*) FROM crashes c WHERE c.device_id = d.id) AS INTEGER) AS crashes
    FROM devices d ORDER BY d.last_received DESC, d.id LIMIT ${page.limit + 1} OFFSET ${page.offset}`;
  return paged(
    rows.map((r) => ({ id: text(r.id), lastSeen: text(r.last_seen, TIME_BYTES), boots: Number(r.boots), crashes: Number(r.crashes), firmware: text(r.firmware) })),
    page,
  );
}

/** The day labels (YYYY-MM-DD, UTC) of the HISTORY_DAYS series. */
export function historyDays(now = new Date()): string[] {
  return days(now);
}

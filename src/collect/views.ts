// What the API returns and the pages draw: read-only queries over the store,
// the same SQL on SQLite and PostgreSQL (counts cast to INTEGER so both return
// numbers; times are ISO 8601 text, compared and cut as text).
import type { Report } from "../core/report.ts";
import type { Store } from "./store.ts";

/** Days in a group's sparkline and a version's chart. */
export const HISTORY_DAYS = 30;
/** Newest reports shown with a group. */
export const GROUP_REPORTS = 10;
/** Groups listed (newest first) by /api/groups and the front page. */
export const MAX_GROUPS_LISTED = 500;
/** Boots shown in a device's timeline. */
export const DEVICE_BOOTS = 200;
/** Crashes placed in a device's timeline. */
export const DEVICE_CRASHES = 2000;
/** Top groups per firmware version. */
export const TOP_GROUPS_PER_VERSION = 5;

export interface GroupSummary {
  id: string;
  signature: string;
  exe: string;
  count: number;
  devices: number;
  firstSeen: string;
  lastSeen: string;
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
  report: Report;
  /** The log tails of the boot the crash happened in, once that boot's upload has arrived. */
  logTails: LogTail[];
}

export interface GroupDetail extends GroupSummary {
  frames: string[];
  deviceList: Array<{ deviceId: string; count: number; firmware: string; lastSeen: string }>;
  versions: Array<{ firmware: string; count: number }>;
  reports: GroupReport[];
}

export interface VersionSummary {
  firmware: string;
  boots: number;
  reasons: Record<string, number>;
  crashFreeBootsPercent: number | null;
  devices: number;
  devicesAffected: number;
  topGroups: Array<{ id: string; signature: string; count: number }>;
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
  lastSeen: string;
  boots: DeviceBoot[];
  /** Crashes after the newest boot received: the running boot, or one whose upload is still on its way. */
  otherCrashes: DeviceBoot["crashes"];
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

function days(now: Date): string[] {
  const out: string[] = [];
  const today = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate());
  for (let i = HISTORY_DAYS - 1; i >= 0; i--) out.push(new Date(today - i * 86400_000).toISOString().slice(0, 10));
  return out;
}

function parseJson<T>(text: string | null, fallback: T): T {
  if (text === null) return fallback;
  try {
    return JSON.parse(text) as T;
  } catch {
    return fallback;
  }
}

/** The log tails and panic log stored with a boot, each field checked (it came from a device). */
function parseBootTail(text: string): { logTails: LogTail[]; panicLog: string | null } {
  const t = parseJson<{ logTails?: unknown; panicLog?: unknown }>(text, {});
  const logTails = (Array.isArray(t.logTails) ? t.logTails : [])
    .filter((x): x is { path: unknown; lines: unknown } => x !== null && typeof x === "object")
    .map((x) => ({ path: typeof x.path === "string" ? x.path : "?", lines: Array.isArray(x.lines) ? x.lines.filter((l): l is string => typeof l === "string") : [] }));
  return { logTails, panicLog: typeof t.panicLog === "string" ? t.panicLog : null };
}

/** The log tails of the boot a crash at TIME happened in: the device's first boot that ended at or after it. */
async function bootTails(store: Store, deviceId: string, time: string): Promise<LogTail[]> {
  const [row]: Array<{ log_tail: string }> = await store.sql`SELECT log_tail FROM boots WHERE device_id = ${deviceId} AND time >= ${time} ORDER BY time, message_id LIMIT 1`;
  return row ? parseBootTail(row.log_tail).logTails : [];
}

interface GroupRow {
  id: string;
  signature: string;
  exe: string;
  frames: string;
  count: number;
  devices: number;
  first_seen: string;
  last_seen: string;
}

async function groupRows(store: Store, id: string | undefined): Promise<GroupRow[]> {
  const sql = store.sql;
  const where = id === undefined ? sql`` : sql`WHERE g.id = ${id}`;
  return await sql`SELECT g.id, g.signature, g.exe, g.frames, CAST(COUNT(*) AS INTEGER) AS count,
      CAST(COUNT(DISTINCT c.device_id) AS INTEGER) AS devices, MIN(c.time) AS first_seen, MAX(c.time) AS last_seen
    FROM crash_groups g JOIN crashes c ON c.group_id = g.id ${where}
    GROUP BY g.id, g.signature, g.exe, g.frames ORDER BY MAX(c.time) DESC, g.id LIMIT ${MAX_GROUPS_LISTED}`;
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
    const dayRows: Array<{ group_id: string; day: string; n: number }> = await sql`SELECT group_id, SUBSTR(time, 1, 10) AS day, CAST(COUNT(*) AS INTEGER) AS n
      FROM crashes WHERE group_id IN ${sql(ids)} AND time >= ${since} GROUP BY group_id, SUBSTR(time, 1, 10)`;
    const index = new Map(dayList.map((d, i) => [d, i]));
    for (const r of dayRows) {
      const i = index.get(r.day);
      if (i === undefined) continue;
      const series = daily.get(r.group_id) ?? new Array<number>(HISTORY_DAYS).fill(0);
      series[i] = Number(r.n);
      daily.set(r.group_id, series);
    }
  }
  return rows.map((r) => ({
    id: r.id,
    signature: r.signature,
    exe: r.exe,
    count: Number(r.count),
    devices: Number(r.devices),
    firstSeen: r.first_seen,
    lastSeen: r.last_seen,
    firmware: fw.get(r.id) ?? [],
    daily: daily.get(r.id) ?? new Array<number>(HISTORY_DAYS).fill(0),
  }));
}

/** Crash groups, the one crashed in most recently first. */
export async function listGroups(store: Store, now = new Date()): Promise<GroupSummary[]> {
  return summarize(store, await groupRows(store, undefined), now);
}

export async function groupDetail(store: Store, id: string, now = new Date()): Promise<GroupDetail | undefined> {
  const rows = await groupRows(store, id);
  const row = rows[0];
  if (row === undefined) return undefined;
  const [summary] = await summarize(store, rows, now);
  const sql = store.sql;
  const devices: Array<{ device_id: string; count: number; firmware: string; last_seen: string }> = await sql`SELECT device_id, CAST(COUNT(*) AS INTEGER) AS count, MAX(firmware) AS firmware, MAX(time) AS last_seen
    FROM crashes WHERE group_id = ${id} GROUP BY device_id ORDER BY MAX(time) DESC`;
  const versions: Array<{ firmware: string; count: number }> = await sql`SELECT firmware, CAST(COUNT(*) AS INTEGER) AS count FROM crashes WHERE group_id = ${id} GROUP BY firmware ORDER BY firmware`;
  // symbolized is "" when symbolization added nothing: the report as received is the one to show
  const reports: Array<{ message_id: string; device_id: string; firmware: string; time: string; summary: string | null; report: string; symbolized: string }> =
    await sql`SELECT c.message_id, c.device_id, c.firmware, c.time, c.summary, r.report, r.symbolized FROM crashes c JOIN crash_reports r ON r.message_id = c.message_id
      WHERE c.group_id = ${id} ORDER BY c.time DESC, c.message_id LIMIT ${GROUP_REPORTS}`;
  const tails = await Promise.all(reports.map((r) => bootTails(store, r.device_id, r.time)));
  return {
    ...(summary as GroupSummary),
    frames: parseJson<string[]>(row.frames, []),
    deviceList: devices.map((d) => ({ deviceId: d.device_id, count: Number(d.count), firmware: d.firmware, lastSeen: d.last_seen })),
    versions: versions.map((v) => ({ firmware: v.firmware, count: Number(v.count) })),
    reports: reports.map((r, i) => ({
      id: r.message_id,
      deviceId: r.device_id,
      firmware: r.firmware,
      time: r.time,
      summary: r.summary,
      report: parseJson<Report>(r.symbolized !== "" ? r.symbolized : r.report, { threads: [] } as unknown as Report),
      logTails: tails[i] ?? [],
    })),
  };
}

export async function deviceDetail(store: Store, id: string): Promise<DeviceDetail | undefined> {
  const sql = store.sql;
  const [d]: Array<{ id: string; firmware: string; hardware: string | null; kernel: string | null; arch: string | null; crashkeep_version: string | null; first_seen: string; last_seen: string }> =
    await sql`SELECT id, firmware, hardware, kernel, arch, crashkeep_version, first_seen, last_seen FROM devices WHERE id = ${id}`;
  if (d === undefined) return undefined;
  // One boot more than shown: its end is where the oldest shown boot began.
  const rows: Array<{ message_id: string; boot_id: string | null; time: string; firmware: string; reason: string; detail: string | null; crash_free: number; panic_message: string | null; log_tail: string }> =
    await sql`SELECT message_id, boot_id, time, firmware, reason, detail, crash_free, panic_message, log_tail FROM boots WHERE device_id = ${id} ORDER BY time DESC, message_id LIMIT ${DEVICE_BOOTS + 1}`;
  const boots = rows.slice(0, DEVICE_BOOTS);
  const since = rows.length > DEVICE_BOOTS ? (rows[DEVICE_BOOTS] as { time: string }).time : "";
  const crashes: Array<{ message_id: string; group_id: string; time: string; summary: string | null; exe: string | null }> =
    await sql`SELECT message_id, group_id, time, summary, exe FROM crashes WHERE device_id = ${id} AND time > ${since} ORDER BY time DESC, message_id LIMIT ${DEVICE_CRASHES}`;
  // Boots newest first: a crash belongs to the oldest boot that ended at or after it.
  const byBoot = boots.map((): DeviceBoot["crashes"] => []);
  const other: DeviceBoot["crashes"] = [];
  for (const c of crashes) {
    const item = { id: c.message_id, groupId: c.group_id, time: c.time, summary: c.summary, exe: c.exe };
    let at = -1;
    for (let i = 0; i < boots.length && (boots[i] as { time: string }).time >= c.time; i++) at = i;
    if (at < 0) other.push(item);
    else byBoot[at]?.push(item);
  }
  return {
    id: d.id,
    firmware: d.firmware,
    hardware: d.hardware,
    kernel: d.kernel,
    arch: d.arch,
    crashkeepVersion: d.crashkeep_version,
    firstSeen: d.first_seen,
    lastSeen: d.last_seen,
    boots: boots.map((b, i) => {
      const tail = parseBootTail(b.log_tail);
      return {
        messageId: b.message_id,
        bootId: b.boot_id,
        time: b.time,
        firmware: b.firmware,
        reason: b.reason,
        detail: b.detail,
        crashFree: Number(b.crash_free) === 1,
        panicMessage: b.panic_message,
        logTails: tail.logTails,
        panicLog: tail.panicLog,
        crashes: byBoot[i] ?? [],
      };
    }),
    otherCrashes: other,
  };
}

/** Per firmware version: boots by reason, crash-free boots %, devices affected, top groups, daily crash-free %. */
export async function listVersions(store: Store, now = new Date()): Promise<VersionSummary[]> {
  const sql = store.sql;
  const reasonRows: Array<{ firmware: string; reason: string; n: number }> = await sql`SELECT firmware, reason, CAST(COUNT(*) AS INTEGER) AS n FROM boots GROUP BY firmware, reason`;
  const totals: Array<{ firmware: string; boots: number; clean: number; devices: number; affected: number }> = await sql`SELECT firmware,
      CAST(COUNT(*) AS INTEGER) AS boots, CAST(SUM(crash_free) AS INTEGER) AS clean, CAST(COUNT(DISTINCT device_id) AS INTEGER) AS devices,
      CAST(COUNT(DISTINCT CASE WHEN crash_free = 0 THEN device_id END) AS INTEGER) AS affected
    FROM boots GROUP BY firmware`;
  const crashFw: Array<{ firmware: string }> = await sql`SELECT DISTINCT firmware FROM crashes`;
  const top: Array<{ firmware: string; group_id: string; signature: string; n: number }> = await sql`SELECT c.firmware, c.group_id, g.signature, CAST(COUNT(*) AS INTEGER) AS n
    FROM crashes c JOIN crash_groups g ON g.id = c.group_id GROUP BY c.firmware, c.group_id, g.signature ORDER BY COUNT(*) DESC, c.group_id`;
  const dayList = days(now);
  const since = dayList[0] as string;
  const dayRows: Array<{ firmware: string; day: string; boots: number; clean: number }> = await sql`SELECT firmware, SUBSTR(time, 1, 10) AS day,
      CAST(COUNT(*) AS INTEGER) AS boots, CAST(SUM(crash_free) AS INTEGER) AS clean FROM boots WHERE time >= ${since} GROUP BY firmware, SUBSTR(time, 1, 10)`;
  const index = new Map(dayList.map((d, i) => [d, i]));
  const versions = new Map<string, VersionSummary>();
  const get = (fw: string): VersionSummary => {
    let v = versions.get(fw);
    if (!v) {
      v = { firmware: fw, boots: 0, reasons: {}, crashFreeBootsPercent: null, devices: 0, devicesAffected: 0, topGroups: [], daily: new Array<number | null>(HISTORY_DAYS).fill(null) };
      versions.set(fw, v);
    }
    return v;
  };
  for (const t of totals) {
    const v = get(t.firmware);
    v.boots = Number(t.boots);
    v.devices = Number(t.devices);
    v.devicesAffected = Number(t.affected);
    v.crashFreeBootsPercent = v.boots > 0 ? Math.round((Number(t.clean) / v.boots) * 1000) / 10 : null;
  }
  for (const r of reasonRows) get(r.firmware).reasons[r.reason] = Number(r.n);
  for (const c of crashFw) get(c.firmware);
  for (const t of top) {
    const v = get(t.firmware);
    if (v.topGroups.length < TOP_GROUPS_PER_VERSION) v.topGroups.push({ id: t.group_id, signature: t.signature, count: Number(t.n) });
  }
  for (const d of dayRows) {
    const i = index.get(d.day);
    if (i !== undefined && Number(d.boots) > 0) get(d.firmware).daily[i] = Math.round((Number(d.clean) / Number(d.boots)) * 1000) / 10;
  }
  return [...versions.values()].sort((a, b) => b.firmware.localeCompare(a.firmware, "en", { numeric: true }));
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
    rejects: rejects.map((r) => ({ receivedAt: r.received_at, topic: r.topic, reason: r.reason, sizeBytes: Number(r.size_bytes) })),
  };
}

/** Devices listed by /api/devices and the devices page. */
export const MAX_DEVICES_LISTED = 2000;

export async function listDevices(store: Store): Promise<Array<{ id: string; firmware: string; lastSeen: string; boots: number; crashes: number }>> {
  const sql = store.sql;
  const rows: Array<{ id: string; firmware: string; last_seen: string; boots: number; crashes: number }> = await sql`SELECT d.id, d.firmware, d.last_seen,
      CAST((SELECT COUNT(*) FROM boots b WHERE b.device_id = d.id) AS INTEGER) AS boots,
      CAST((SELECT COUNT(*) FROM crashes c WHERE c.device_id = d.id) AS INTEGER) AS crashes
    FROM devices d ORDER BY d.last_seen DESC, d.id LIMIT ${MAX_DEVICES_LISTED}`;
  return rows.map((r) => ({ id: r.id, firmware: r.firmware, lastSeen: r.last_seen, boots: Number(r.boots), crashes: Number(r.crashes) }));
}

/** The day labels (YYYY-MM-DD, UTC) of the HISTORY_DAYS series. */
export function historyDays(now = new Date()): string[] {
  return days(now);
}

// The collector's database schema, versioned in the code and applied at start
// (store.ts). One statement list serves SQLite and PostgreSQL: TEXT times in
// ISO 8601 (they sort), INTEGER counts, text keys (group ids are hashes of the
// signature, so no auto-increment, whose syntax differs). Never edit a
// released migration; append one.
export interface Migration {
  version: number;
  name: string;
  statements: readonly string[];
}

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: "messages, devices, boots, crash groups, crashes, rejects, counters",
    statements: [
      `CREATE TABLE messages (
        id TEXT PRIMARY KEY, kind TEXT NOT NULL, device_id TEXT NOT NULL, time TEXT NOT NULL,
        received_at TEXT NOT NULL, topic TEXT NOT NULL, size_bytes INTEGER NOT NULL, payload TEXT NOT NULL)`,
      `CREATE TABLE devices (
        id TEXT PRIMARY KEY, firmware TEXT NOT NULL, hardware TEXT, kernel TEXT, arch TEXT,
        crashkeep_version TEXT, first_seen TEXT NOT NULL, last_seen TEXT NOT NULL)`,
      `CREATE TABLE boots (
        message_id TEXT PRIMARY KEY, device_id TEXT NOT NULL, firmware TEXT NOT NULL, boot_id TEXT,
        reason TEXT NOT NULL, detail TEXT, crash_free INTEGER NOT NULL, time TEXT NOT NULL,
        ended_at TEXT, panic_message TEXT, log_tail TEXT NOT NULL)`,
      `CREATE INDEX boots_device ON boots (device_id, time)`,
      `CREATE INDEX boots_firmware ON boots (firmware, time)`,
      `CREATE TABLE crash_groups (
        id TEXT PRIMARY KEY, signature TEXT NOT NULL, exe TEXT NOT NULL, frames TEXT NOT NULL, created_at TEXT NOT NULL)`,
      // A crash belongs to the device's first boot that ended at or after its time (the payload carries no boot id).
      `CREATE TABLE crashes (
        message_id TEXT PRIMARY KEY, device_id TEXT NOT NULL, firmware TEXT NOT NULL,
        time TEXT NOT NULL, group_id TEXT NOT NULL, exe TEXT, summary TEXT)`,
      // The reports themselves (tens of KiB each) apart, so the aggregates over crashes read narrow rows.
      `CREATE TABLE crash_reports (message_id TEXT PRIMARY KEY, report TEXT NOT NULL, symbolized TEXT NOT NULL)`,
      `CREATE INDEX crashes_group ON crashes (group_id, time)`,
      `CREATE INDEX crashes_device ON crashes (device_id, time)`,
      // Covering indexes for the aggregates (counts, devices, versions per group and firmware).
      `CREATE INDEX crashes_agg ON crashes (group_id, firmware, device_id, time)`,
      `CREATE INDEX crashes_firmware ON crashes (firmware, group_id)`,
      `CREATE INDEX boots_agg ON boots (firmware, reason, crash_free, device_id, time)`,
      `CREATE TABLE notes (
        message_id TEXT PRIMARY KEY, device_id TEXT NOT NULL, boot_id TEXT, time TEXT NOT NULL, reason TEXT, text TEXT NOT NULL)`,
      `CREATE TABLE rejects (
        id TEXT PRIMARY KEY, received_at TEXT NOT NULL, topic TEXT NOT NULL, reason TEXT NOT NULL,
        size_bytes INTEGER NOT NULL, excerpt TEXT NOT NULL)`,
      `CREATE INDEX rejects_received ON rejects (received_at)`,
      `CREATE TABLE counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL)`,
    ],
  },
  {
    version: 2,
    name: "device times beside the stored (clamped) ones; who opened each crash group",
    statements: [
      // time: the instant lists and sorts use (UTC, at most receive time + collect.maxClockSkewSeconds); device_time: as the device sent it
      `ALTER TABLE boots ADD COLUMN device_time TEXT`,
      `ALTER TABLE crashes ADD COLUMN device_time TEXT`,
      `ALTER TABLE notes ADD COLUMN device_time TEXT`,
      `UPDATE boots SET device_time = time`,
      `UPDATE crashes SET device_time = time`,
      `UPDATE notes SET device_time = time`,
      // rows stored before: a time later than the receive time (a device clock in the year 9999) becomes the receive time
      ...["boots", "crashes", "notes"].map(
        (t) => `UPDATE ${t} SET time = (SELECT m.received_at FROM messages m WHERE m.id = ${t}.message_id)
          WHERE time > (SELECT m.received_at FROM messages m WHERE m.id = ${t}.message_id)`,
      ),
      `UPDATE devices SET last_seen = (SELECT MAX(m.received_at) FROM messages m WHERE m.device_id = devices.id)
        WHERE last_seen > (SELECT MAX(m.received_at) FROM messages m WHERE m.device_id = devices.id)`,
      `UPDATE devices SET first_seen = last_seen WHERE first_seen > last_seen`,
      // the device whose crash opened the group, for collect.maxNewGroupsPerDeviceHour
      `ALTER TABLE crash_groups ADD COLUMN created_by TEXT`,
      `CREATE INDEX crash_groups_created_by ON crash_groups (created_by, created_at)`,
    ],
  },
  {
    version: 3,
    name: "rollbacks (issue 23): one row per rollback message, one per bad boot in it",
    statements: [
      // time, decided_at: clamped as the other kinds' (receive time + collect.maxClockSkewSeconds); device_time as sent.
      // from_firmware, to_firmware: as the device sent them, "unknown" when it did not know (as boots' firmware); the versions aggregate reads from_firmware.
      `CREATE TABLE rollbacks (
        message_id TEXT PRIMARY KEY, device_id TEXT NOT NULL, archive_id TEXT NOT NULL, triggered_by TEXT NOT NULL,
        from_slot TEXT NOT NULL, from_firmware TEXT NOT NULL, to_slot TEXT, to_firmware TEXT NOT NULL, bad_boot_count INTEGER NOT NULL,
        time TEXT NOT NULL, device_time TEXT NOT NULL, decided_at TEXT NOT NULL)`,
      `CREATE INDEX rollbacks_device ON rollbacks (device_id, time)`,
      `CREATE INDEX rollbacks_firmware ON rollbacks (from_firmware, device_id)`,
      `CREATE INDEX rollbacks_time ON rollbacks (time)`,
      // group_id: the id of the crash group its signature names (signature.ts groupIdOf), whether or not that group exists (yet)
      `CREATE TABLE rollback_boots (
        message_id TEXT NOT NULL, seq INTEGER NOT NULL, slot TEXT NOT NULL, boot_id TEXT, reason TEXT NOT NULL, detail TEXT,
        executable TEXT, signature TEXT, group_id TEXT, ended_at TEXT, PRIMARY KEY (message_id, seq))`,
    ],
  },
  {
    version: 4,
    name: "devices: when a message of theirs was last received",
    statements: [
      // The device list sorts by it, not by last_seen (the newest device time, clamped to receive time + the skew):
      // a device whose clock is ahead, or that sends times in 9999, stayed above the others for up to
      // maxClockSkewSeconds after it fell silent. last_seen still decides which message's device fields win.
      `ALTER TABLE devices ADD COLUMN last_received TEXT`,
      `UPDATE devices SET last_received = (SELECT MAX(m.received_at) FROM messages m WHERE m.device_id = devices.id)`,
      `UPDATE devices SET last_received = last_seen WHERE last_received IS NULL`,
      `CREATE INDEX devices_last_received ON devices (last_received, id)`,
    ],
  },
];

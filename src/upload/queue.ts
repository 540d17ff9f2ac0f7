// Putting messages into the outbox, from wherever something is archived:
// init (a boot), the watcher and the pipe handler (a crash report),
// `crashkeep note` (a note). No broker configured = upload off: nothing is
// queued and nothing else changes. Never throws: returns problem lines for
// the caller to report, because the archive write it follows has succeeded.
import type { Config } from "../config/schema.ts";
import type { Paths } from "../system/paths.ts";
import type { ArchiveEntry } from "../archive/archive.ts";
import type { Report } from "../core/report.ts";
import type { OutboxLimits } from "./outbox.ts";
import type { DeviceInfo, RollbackBody, UploadPayload } from "./payload.ts";

// The outbox, the payload builders (zod schemas) and the device facts are
// required on first use, with upload on: init, the watcher and the pipe
// handler import this file, and with upload off they must not pay for zod
// (payload.ts's schemas cost millions of instructions to build; see
// docs/BENCHMARKS.md "init").
type Payloads = typeof import("./payload.ts");

export function uploadEnabled(config: Config): boolean {
  return config.upload.broker !== undefined;
}

export function outboxLimits(config: Config): OutboxLimits {
  return { ...config.upload.outbox, minFreeBytes: config.archive.minFreeBytes };
}

export function deviceInfo(config: Config, paths: Paths): DeviceInfo {
  const { readDeviceInfo } = require("./device.ts") as typeof import("./device.ts");
  return readDeviceInfo(paths, { deviceId: config.upload.deviceId, firmware: config.upload.firmware, hardware: config.upload.hardware });
}

function queue(config: Config, paths: Paths, what: string, build: (payloads: Payloads, device: DeviceInfo) => UploadPayload): string[] {
  if (!uploadEnabled(config)) return [];
  try {
    const { enqueue, outboxDir } = require("./outbox.ts") as typeof import("./outbox.ts");
    const payloads = require("./payload.ts") as Payloads;
    const dir = outboxDir(paths.sys(config.archive.dir));
    // What the quotas drop is counted in the outbox and reported by one note: not a problem of this caller.
    enqueue(dir, build(payloads, deviceInfo(config, paths)), outboxLimits(config));
    return [];
  } catch (err) {
    return [`Cannot queue ${what} for upload: ${err instanceof Error ? err.message : String(err)}`];
  }
}

export function queueBoot(config: Config, paths: Paths, archived: { entry: ArchiveEntry; entryDir: string | undefined }): string[] {
  return queue(config, paths, `boot "${archived.entry.id}"`, ({ bootPayload }, device) =>
    bootPayload(archived.entry, { device, entryDir: archived.entryDir, maxMessageBytes: config.upload.maxMessageBytes }));
}

export function queueCrash(config: Config, paths: Paths, crash: { report: Report; reportId: string; time: Date; compact: () => string }): string[] {
  return queue(config, paths, `crash report "${crash.reportId}"`, ({ crashPayload }, device) =>
    crashPayload(crash.report, { device, maxMessageBytes: config.upload.maxMessageBytes, reportId: crash.reportId, time: crash.time, compact: crash.compact }));
}

export function queueNote(config: Config, paths: Paths, note: { text: string; reason?: string | null; bootId?: string | null; time: Date; localId: string }): string[] {
  return queue(config, paths, `note "${note.localId}"`, ({ notePayload }, device) => notePayload(note, { device, maxMessageBytes: config.upload.maxMessageBytes }));
}

export function queueRollback(config: Config, paths: Paths, body: RollbackBody): string[] {
  return queue(config, paths, `rollback "${body.archiveId}"`, ({ rollbackPayload }, device) => rollbackPayload(body, { device, maxMessageBytes: config.upload.maxMessageBytes }));
}


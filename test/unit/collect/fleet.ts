// Test helper: upload messages for a simulated fleet, built by the device's own
// payload builders (src/upload/payload.ts), with crash reports made from the
// real core fixtures (test/fixtures/cores/x86_64).
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { ArchiveEntry } from "../../../src/archive/archive.ts";
import { buildReport, type Report } from "../../../src/core/report.ts";
import { compactReport } from "../../../src/core/format.ts";
import { readCoreFile } from "../../../src/core/source.ts";
import {
  bootPayload,
  crashPayload,
  encodePayload,
  MAX_MESSAGE_BYTES,
  notePayload,
  payloadId,
  payloadTopic,
  UPLOAD_SCHEMA,
  type BadBoot,
  type DeviceInfo,
  type RollbackBody,
  type UploadPayload,
} from "../../../src/upload/payload.ts";
import { fixtures } from "../core/fixtures.ts";
import { debugFixtures } from "../debuginfo/symbolize-fixtures.ts";

export const PREFIX = "crashkeep/v1";

export interface Message {
  topic: string;
  payload: UploadPayload;
  bytes: Uint8Array;
}

const reports = new Map<string, Report>();

/** FN given a fresh temp dir named PREFIX…, removed when FN returns: the helpers leave nothing in /tmp. */
function inTempDir<T>(prefix: string, fn: (dir: string) => T): T {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  try {
    return fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function fixture(name: string) {
  const f = fixtures().find((x) => x.arch === "x86_64" && x.name === name);
  if (!f) throw new Error(`no x86_64 core fixture "${name}"`);
  return f;
}

/** The report of core fixture NAME (x86_64), built once; with `bare`, as a device without the program's files on disk makes it (no symbols). */
export function fixtureReport(name: string, options: { bare?: boolean } = {}): Report {
  const key = `${name}${options.bare ? " bare" : ""}`;
  let r = reports.get(key);
  if (!r) {
    const f = fixture(name);
    // bare: an empty sysroot, not the machine's own root (whose /opt may hold a fixture script's leftovers)
    r = options.bare ? inTempDir("ck-fleet-empty-sysroot-", (empty) => buildReport(readCoreFile(f.core), { sysroot: empty })) : buildReport(readCoreFile(f.core), { sysroot: f.sysroot });
    reports.set(key, r);
  }
  return structuredClone(r);
}

/**
 * The symbolizer's fixture (test/fixtures/symbolize): the report of a crash of
 * the stripped -O2 -g program `records` as its device makes it (no function
 * names: module + offset), and the build-id tree of its debug file.
 */
export function strippedReport(): Report {
  const fx = debugFixtures();
  const core = fx.cores.find((c) => c.name === "records");
  if (!core) throw new Error("no symbolize fixture \"records\"");
  return buildReport(readCoreFile(core.core), { sysroot: fx.sysroot });
}

export function strippedDebugDir(): string {
  return debugFixtures().debugDir;
}

/** What strippedReport() groups as before and after symbolization. */
export const STRIPPED_SIGNATURE = "records: records+0x11e0 < records+0x10b0 < records+0x10f1";
export const SYMBOLIZED_SIGNATURE = "records: check_invariant < process_record < run_batch < start < main";

export function device(id: string, firmware: string | null): DeviceInfo {
  return { id, firmware, hardware: "qemu-x86_64", kernel: "6.1.0-test", arch: "x86_64", crashkeepVersion: "0.1.0" };
}

function wrap(payload: UploadPayload): Message {
  return { topic: payloadTopic(PREFIX, payload), payload, bytes: new TextEncoder().encode(encodePayload(payload)) };
}

let seq = 0;

/** An archived boot of DEV as upload sends it; with a panic log and log tails written where bootPayload reads them. */
export function bootMessage(dev: DeviceInfo, o: { reason: string; bootId: string; time: string; detail?: string; panicMessage?: string; panicLog?: string; logTail?: string[] }): Message {
  const id = `${o.time.replace(/[-:.]/g, "")}-${o.reason}-${++seq}`;
  // bootPayload reads the entry's files while it builds the message: the directory goes right after
  return inTempDir("ck-fleet-entry-", (dir) => bootEntryMessage(dev, id, dir, o));
}

function bootEntryMessage(dev: DeviceInfo, id: string, dir: string, o: Parameters<typeof bootMessage>[1]): Message {
  const files: ArchiveEntry["files"] = [];
  if (o.panicLog !== undefined) {
    writeFileSync(join(dir, "dmesg-ramoops-0"), o.panicLog);
    files.push({ name: "dmesg-ramoops-0", kind: "pstore-dmesg", source: "pstore", bytes: Buffer.byteLength(o.panicLog) });
  }
  if (o.logTail !== undefined) {
    const text = `${o.logTail.join("\n")}\n`;
    writeFileSync(join(dir, "log-0.txt"), text);
    files.push({ name: "log-0.txt", kind: "log-tail", source: "journal log area 0 (/var/log/messages)", bytes: Buffer.byteLength(text) });
  }
  const entry: ArchiveEntry = {
    version: 1,
    id,
    archivedAt: o.time,
    endedAt: o.time,
    reason: o.reason,
    detail: o.detail,
    subreason: undefined,
    previousBootId: o.bootId,
    summary: `previous boot ended: ${o.reason}`,
    files,
    facts: o.panicMessage !== undefined ? { pstore: [{ dmesg: { panicMessage: o.panicMessage } }] } : {},
  };
  return wrap(bootPayload(entry, { device: dev, maxMessageBytes: MAX_MESSAGE_BYTES, entryDir: dir }));
}

export function crashMessage(dev: DeviceInfo, report: Report, o: { time: string; compact?: boolean }): Message {
  const p = crashPayload(report, {
    device: dev,
    maxMessageBytes: o.compact ? 4096 + 2048 : MAX_MESSAGE_BYTES,
    reportId: `${o.time.replace(/[-:.]/g, "")}-${report.pid ?? 0}-${++seq}`,
    time: new Date(o.time),
    compact: () => compactReport(report),
  });
  return wrap(p);
}

export function noteMessage(dev: DeviceInfo, o: { text: string; time: string; reason?: string }): Message {
  return wrap(notePayload({ text: o.text, reason: o.reason ?? null, bootId: null, time: new Date(o.time), localId: `note-${++seq}` }, { device: dev, maxMessageBytes: MAX_MESSAGE_BYTES }));
}

/** Days (and minutes) before now, as ISO 8601 (so data falls in the 30-day charts). */
export function daysAgo(days: number, minutes = 0): string {
  return new Date(Date.now() - days * 86400_000 - minutes * 60_000).toISOString();
}

/**
 * A rollback message of DEV as docs/upload.schema.json describes it (commit 1439de9), written here field by
 * field: the device's own builder is the rbdevice branch's (issue 23). Defaults: crashkeep rolled back from
 * slot B (firmware FROM) to A after two kernel-panic boots.
 */
export function rollbackMessage(dev: DeviceInfo, o: { time: string; from: string | null; to?: string | null; trigger?: RollbackBody["trigger"]; badBoots?: BadBoot[] }): Message {
  const localId = `${o.time.replace(/[-:.]/g, "")}-rollback-${++seq}`;
  const panic = (i: number): BadBoot => ({
    slot: "B",
    bootId: `bad-${seq}-${i}`,
    reason: "kernel-panic",
    detail: "Kernel panic - not syncing: Attempted to kill init! exitcode=0x0000000b",
    executable: null,
    signature: null,
    endedAt: new Date(new Date(o.time).getTime() - (2 - i) * 60_000).toISOString(),
  });
  return wrap({
    schema: UPLOAD_SCHEMA,
    id: payloadId(dev, "rollback", localId),
    kind: "rollback",
    time: o.time,
    device: dev,
    truncated: false,
    rollback: {
      archiveId: localId,
      trigger: o.trigger ?? "crashkeep",
      fromSlot: "B",
      fromFirmware: o.from,
      toSlot: "A",
      toFirmware: o.to === undefined ? dev.firmware : o.to,
      badBoots: o.badBoots ?? [panic(0), panic(1)],
      decidedAt: o.time,
    },
  });
}

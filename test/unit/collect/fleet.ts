// Test helper: upload payloads (crashkeep.upload/1) for a simulated fleet, with
// crash reports made from the real core fixtures (test/fixtures/cores/x86_64).
import { buildReport, type Report } from "../../../src/core/report.ts";
import { compactReport } from "../../../src/core/format.ts";
import { readCoreFile } from "../../../src/core/source.ts";
import { PAYLOAD_SCHEMA, DEFAULT_TOPIC_PREFIX } from "../../../src/collect/payload.ts";
import { fixtures } from "../core/fixtures.ts";

export interface Device {
  id: string;
  firmware: string;
}

export interface Message {
  topic: string;
  payload: Record<string, unknown>;
  bytes: Uint8Array;
}

const reports = new Map<string, Report>();

/** The report of core fixture NAME (x86_64), built once. */
export function fixtureReport(name: string): Report {
  let r = reports.get(name);
  if (!r) {
    const f = fixtures().find((x) => x.arch === "x86_64" && x.name === name);
    if (!f) throw new Error(`no x86_64 core fixture "${name}"`);
    r = buildReport(readCoreFile(f.core), { sysroot: f.sysroot });
    reports.set(name, r);
  }
  return structuredClone(r);
}

let seq = 0;

function message(dev: Device, kind: string, time: string, body: Record<string, unknown>, id?: string): Message {
  const payload = {
    schema: PAYLOAD_SCHEMA,
    id: id ?? `${dev.id}-${kind}-${++seq}`,
    kind,
    time,
    device: { id: dev.id, firmware: dev.firmware, hardware: "qemu-x86_64", kernel: "6.1.0-test", arch: "x86_64", crashkeepVersion: "0.1.0" },
    [kind]: body,
  };
  return { topic: `${DEFAULT_TOPIC_PREFIX}/${dev.id}/${kind}`, payload, bytes: new TextEncoder().encode(JSON.stringify(payload)) };
}

export function bootMessage(dev: Device, o: { reason: string; bootId: string; time: string; detail?: string; panicMessage?: string; logTail?: string[]; id?: string }): Message {
  return message(dev, "boot", o.time, { reason: o.reason, bootId: o.bootId, detail: o.detail ?? null, panicMessage: o.panicMessage ?? null, logTail: o.logTail ?? [] }, o.id);
}

export function crashMessage(dev: Device, report: Report, o: { bootId: string; time: string; logTail?: string[]; compact?: boolean; id?: string }): Message {
  const body = o.compact ? { bootId: o.bootId, compact: compactReport(report), logTail: o.logTail ?? [] } : { bootId: o.bootId, report, logTail: o.logTail ?? [] };
  return message(dev, "crash", o.time, body, o.id);
}

export function noteMessage(dev: Device, o: { text: string; time: string; reason?: string }): Message {
  return message(dev, "note", o.time, { text: o.text, reason: o.reason ?? null });
}

/** Days before now, as ISO 8601 (so data falls in the 30-day charts). */
export function daysAgo(days: number, minutes = 0): string {
  return new Date(Date.now() - days * 86400_000 - minutes * 60_000).toISOString();
}

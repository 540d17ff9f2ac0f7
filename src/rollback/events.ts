// The rollback's records in the journal (record kind "rollback", JSON): what
// the running boot learned and did, kept where the next boot's init finds it
// with the rest of the boot's evidence (DESIGN.md "Rollback": never in a file
// of its own). docs/ROLLBACK.md "Journal records".
import { appendRecord, type Journal, type JournalRecord } from "../journal/journal.ts";

export const EVENTS_VERSION = 1;

export interface SlotFacts {
  slot: string;
  install: string;
  firmware: string | null;
  /** This boot's install was on probation when the boot started. */
  onProbation: boolean;
  /** The bootloader had fallen back from this slot on its own (when the updater tells). */
  fellBackFrom: { slot: string; install: string | null } | null;
}

export type RollbackEvent =
  /** The slot facts of this boot, once the updater answered. */
  | ({ v: 1; event: "boot" } & SlotFacts)
  /** A critical executable crash-looped (more than cores.reportsPerMinute crashes in a minute). */
  | { v: 1; event: "crash-loop"; executable: string; crashes: number; windowStart: string }
  /** Probation passed: the slot was marked good. */
  | { v: 1; event: "good" };

/** Largest event payload read back: one JSON line. */
const MAX_EVENT_BYTES = 4096;

export function encodeEvent(e: RollbackEvent): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(e));
}

/** The event a record holds; undefined for another kind or a payload that is not one. */
export function decodeEvent(r: Pick<JournalRecord, "kind" | "payload">): RollbackEvent | undefined {
  if (r.kind !== "rollback" || r.payload.length > MAX_EVENT_BYTES) return undefined;
  try {
    const e = JSON.parse(new TextDecoder().decode(r.payload)) as Partial<RollbackEvent> & Record<string, unknown>;
    if (e.v !== EVENTS_VERSION) return undefined;
    if (e.event === "boot" && typeof e.slot === "string" && typeof e.install === "string" && typeof e.onProbation === "boolean") {
      return {
        v: 1, event: "boot", slot: e.slot, install: e.install, firmware: typeof e.firmware === "string" ? e.firmware : null, onProbation: e.onProbation,
        fellBackFrom: e.fellBackFrom && typeof (e.fellBackFrom as { slot?: unknown }).slot === "string" ? { slot: String((e.fellBackFrom as { slot: string }).slot), install: typeof (e.fellBackFrom as { install?: unknown }).install === "string" ? String((e.fellBackFrom as { install: string }).install) : null } : null,
      };
    }
    if (e.event === "crash-loop" && typeof e.executable === "string") {
      return { v: 1, event: "crash-loop", executable: e.executable, crashes: typeof e.crashes === "number" ? e.crashes : 0, windowStart: typeof e.windowStart === "string" ? e.windowStart : "" };
    }
    if (e.event === "good") return { v: 1, event: "good" };
  } catch {
    // not JSON: not an event
  }
  return undefined;
}

/** The events of one boot, oldest first, from records as the journal gives them (oldest first). */
export function eventsOf(records: readonly JournalRecord[], bootId: string): Array<RollbackEvent & { timeMs: number }> {
  const out: Array<RollbackEvent & { timeMs: number }> = [];
  for (const r of records) {
    if (r.bootId !== bootId) continue;
    const e = decodeEvent(r);
    if (e) out.push({ ...e, timeMs: r.timeMs });
  }
  return out;
}

export function appendEvent(journal: Journal, event: RollbackEvent, options: { timeMs?: number } = {}): number {
  return appendRecord(journal, { kind: "rollback", payload: encodeEvent(event) }, { compress: "never", ...options }).seq;
}

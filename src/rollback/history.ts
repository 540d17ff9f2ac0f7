// The rollback's view of the archive: every archived boot's facts.rollback
// (facts.ts) and every rollback entry, newest first; from it the policy's
// inputs for the install now booted. The archive is read whole (bounded by
// archive.maxEntries), by the daemon, never by the boot hook.
import { readdirSync, readFileSync, statSync } from "node:fs";
import { ENTRY_FILE, entryId, writeEntry, type ArchiveEntry } from "../archive/archive.ts";
import type { Config } from "../config/schema.ts";
import type { RollbackBody } from "../upload/payload.ts";
import type { BootRollbackFacts } from "./facts.ts";
import type { Ending, PolicyInput } from "./policy.ts";
import type { SlotState } from "./backend.ts";

/** The archive entry's reason for a rollback: its id is <time>-rollback. */
export const ROLLBACK_REASON = "rollback";

export interface ArchivedBoot {
  kind: "boot";
  id: string;
  bootId: string | null;
  endedAt: string | null;
  facts: BootRollbackFacts;
}

export interface RollbackFacts extends RollbackBody {
  /** The install rolled back (fromSlot's), so that one install is rolled back (and reported) once. */
  install: string | null;
  /** The boot that decided it. */
  decidedInBoot: string | null;
}

export interface ArchivedRollback {
  kind: "rollback";
  id: string;
  facts: RollbackFacts;
}

export type HistoryItem = ArchivedBoot | ArchivedRollback;

function rollbackOf(e: ArchiveEntry): ArchivedRollback | undefined {
  const f = e.facts.rollback as Partial<RollbackFacts> | undefined;
  if (e.reason !== ROLLBACK_REASON || !f || typeof f.fromSlot !== "string" || (f.trigger !== "crashkeep" && f.trigger !== "bootloader")) return undefined;
  return { kind: "rollback", id: e.id, facts: { ...(f as RollbackFacts), archiveId: e.id } };
}

function bootOf(e: ArchiveEntry): ArchivedBoot | undefined {
  const f = e.facts.rollback as Partial<BootRollbackFacts> | undefined;
  if (e.reason === ROLLBACK_REASON || !f || typeof f.slot !== "string" || typeof f.install !== "string" || typeof f.reason !== "string") return undefined;
  return { kind: "boot", id: e.id, bootId: e.previousBootId ?? null, endedAt: e.endedAt ?? null, facts: f as BootRollbackFacts };
}

/** What an entry's directory name may be (archive.ts ENTRY_ID): never ".incoming-...". */
const ENTRY_ID = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;
/** Largest entry.json read (archive.ts MAX_ENTRY_JSON_BYTES). */
const MAX_ENTRY_JSON_BYTES = 1024 * 1024;

const errCode = (err: unknown) => (err as { code?: unknown }).code;
const errText = (err: unknown) => (err instanceof Error ? err.message : String(err));

/**
 * Every entry, newest first, read strictly: the count of bad boots must not
 * come out smaller because a read failed (archive.ts's listEntries takes an
 * unreadable entry for none, which is right for `history`, not for a
 * decision). An I/O error throws; a missing or damaged entry.json is no entry.
 */
function readEntriesStrictly(archiveDir: string): ArchiveEntry[] {
  let names: string[];
  try {
    names = readdirSync(archiveDir);
  } catch (err) {
    if (errCode(err) === "ENOENT") return [];
    throw new Error(`Cannot read the archive "${archiveDir}": ${errText(err)}`);
  }
  const out: ArchiveEntry[] = [];
  for (const id of names.filter((n) => ENTRY_ID.test(n)).sort().reverse()) {
    const file = `${archiveDir}/${id}/${ENTRY_FILE}`;
    let text: string;
    try {
      if (statSync(file).size > MAX_ENTRY_JSON_BYTES) continue;
      text = readFileSync(file, "utf8");
    } catch (err) {
      if (errCode(err) === "ENOENT" || errCode(err) === "ENOTDIR") continue;
      throw new Error(`Cannot read the archive entry "${file}": ${errText(err)}`);
    }
    try {
      const value = JSON.parse(text) as ArchiveEntry;
      if (value !== null && typeof value === "object" && value.id === id && typeof value.facts === "object" && value.facts !== null) out.push(value);
    } catch {
      // a damaged entry.json: not an entry (as archive.ts reads it)
    }
  }
  return out;
}

/** Archived boots with rollback facts and rollback entries, newest first; throws on an I/O error. */
export function readHistory(archiveDir: string): HistoryItem[] {
  const out: HistoryItem[] = [];
  for (const e of readEntriesStrictly(archiveDir)) {
    const item = rollbackOf(e) ?? bootOf(e);
    if (item) out.push(item);
  }
  return out;
}

const sameInstall = (b: ArchivedBoot, slot: string, install: string) => b.facts.slot === slot && b.facts.install === install;

/** Boots of this install, oldest first. */
export function bootsOf(history: readonly HistoryItem[], slot: string, install: string): ArchivedBoot[] {
  return history.filter((h): h is ArchivedBoot => h.kind === "boot" && sameInstall(h, slot, install)).reverse();
}

/** The rollback of this install, if one is archived (any trigger). */
export function rollbackOfInstall(history: readonly HistoryItem[], slot: string, install: string | null, trigger?: "crashkeep" | "bootloader"): ArchivedRollback | undefined {
  return history.find((h): h is ArchivedRollback => h.kind === "rollback" && h.facts.fromSlot === slot && h.facts.install === install && (trigger === undefined || h.facts.trigger === trigger));
}

/**
 * Is the bootloader's fallback from `from` reported already? With its
 * install known (RAUC): a rollback of that install is archived. Without
 * (the command backend): one was archived since the fallback began, i.e.
 * newer than the newest boot that did not see it.
 */
export function fallbackReported(history: readonly HistoryItem[], from: { slot: string; install: string | null }): boolean {
  if (from.install !== null) return rollbackOfInstall(history, from.slot, from.install) !== undefined;
  for (const h of history) {
    if (h.kind === "rollback" && h.facts.fromSlot === from.slot) return true;
    if (h.kind === "boot" && h.facts.fellBackFrom?.slot !== from.slot) return false;
  }
  return false;
}

/** The policy's inputs but for the moment; `onProbation` is what this boot's "boot" event says. */
export function policyInputs(history: readonly HistoryItem[], state: SlotState, config: Config): Omit<PolicyInput, "moment"> & { factory: boolean } {
  const boots = bootsOf(history, state.booted, state.install);
  // The first boot crashkeep sees (no archived boot carries rollback facts) runs the factory install: good,
  // unless the updater says it installed this slot (an update installed before crashkeep recorded the
  // factory slot: taking it for the factory one would mark a panicking update good at every boot).
  const factory = !history.some((h) => h.kind === "boot") && state.installedByUpdater !== true;
  const endings: Ending[] = boots.filter((b) => b.facts.onProbation).map((b) => b.facts.reason);
  return {
    endings,
    knownGood: factory || boots.some((b) => !b.facts.onProbation),
    rollbackDecided: rollbackOfInstall(history, state.booted, state.install, "crashkeep") !== undefined,
    maxBadBoots: config.rollback.maxBadBoots,
    fallback: state.fellBackFrom === null ? "none" : fallbackReported(history, state.fellBackFrom) ? "reported" : "new",
    factory,
  };
}

/**
 * Write a rollback entry (entry.json only: the evidence is in the boots' own
 * entries). Its id comes from the deciding boot's start time and the trigger,
 * not from the clock: a run cut while writing it and run again writes the
 * same staging directory (writeEntry replaces it), never a second one.
 */
export function archiveRollback(config: Config, archiveDir: string, facts: Omit<RollbackFacts, "archiveId">, options: { now: Date; bootStart: Date }): { id: string; facts: RollbackFacts } {
  const detail = `rollback from slot ${facts.fromSlot}${facts.fromFirmware ? ` (${facts.fromFirmware})` : ""}${facts.toSlot ? ` to slot ${facts.toSlot}` : ""}: ${facts.trigger === "bootloader" ? `slot ${facts.fromSlot} never reached crashkeep, the bootloader fell back` : `${facts.badBoots.length} bad boot(s): ${facts.badBoots.map((b) => b.reason).join(", ")}`}`;
  const id = entryId(options.bootStart, facts.trigger === "bootloader" ? `${ROLLBACK_REASON}-bootloader` : ROLLBACK_REASON);
  const { entry } = writeEntry(archiveDir, {
    id,
    archivedAt: options.now.toISOString(),
    endedAt: undefined,
    reason: ROLLBACK_REASON,
    subreason: facts.trigger,
    detail,
    previousBootId: undefined,
    summary: `crashkeep: ${detail}`,
    facts: { rollback: { ...facts, archiveId: id } },
  }, [], { maxBytes: config.archive.maxBytes, maxEntries: config.archive.maxEntries, minFreeBytes: config.archive.minFreeBytes });
  return { id: entry.id, facts: { ...facts, archiveId: entry.id } };
}

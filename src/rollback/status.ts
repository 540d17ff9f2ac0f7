// What `crashkeep status` says of the rollback: this boot's slot facts and
// events (the journal), the bad boots counted so far (the archive), the time
// left on probation. Read only: the updater is not asked (the daemon does).
import type { Config } from "../config/schema.ts";
import type { Paths } from "../system/paths.ts";
import type { JournalRecord } from "../journal/journal.ts";
import { eventsOf } from "./events.ts";
import { policyInputs, readHistory, type HistoryItem } from "./history.ts";
import { decide } from "./policy.ts";
import { readUptime } from "../system/uptime.ts";

export interface RollbackStatus {
  enabled: boolean;
  backend: string;
  probationSeconds: number;
  maxBadBoots: number;
  /** This boot's slot, once the daemon learned it from the updater (null before). */
  slot: string | null;
  install: string | null;
  firmware: string | null;
  /** The install is on probation in this boot (not yet marked good). */
  onProbation: boolean | null;
  /** Probation passed in this boot: marked good. */
  markedGood: boolean;
  /** A critical executable crash-looped in this boot. */
  crashLoop: string | null;
  /** Uptime still needed before it is marked good (null: not on probation, or already bad). */
  probationLeftSeconds: number | null;
  /** Bad boots of this install so far, this one included when it crash-looped. */
  badBoots: number | null;
  /** Rollback entries in the archive. */
  rollbacks: number;
  lastRollback: { id: string; trigger: string; fromSlot: string; decidedAt: string } | null;
  /** Why the archive could not be read (the rest is then unknown). */
  error?: string;
}

export function rollbackStatus(config: Config, paths: Paths, journal: { records: readonly JournalRecord[]; bootId: string } | undefined): RollbackStatus {
  let history: HistoryItem[];
  try {
    history = readHistory(paths.sys(config.archive.dir));
  } catch (err) {
    return {
      enabled: config.rollback.enabled, backend: config.rollback.backend, probationSeconds: config.rollback.probationSeconds, maxBadBoots: config.rollback.maxBadBoots,
      slot: null, install: null, firmware: null, onProbation: null, markedGood: false, crashLoop: null, probationLeftSeconds: null, badBoots: null, rollbacks: 0, lastRollback: null,
      error: err instanceof Error ? err.message : String(err),
    };
  }
  const rollbacks = history.filter((h) => h.kind === "rollback");
  const last = rollbacks[0];
  const base: RollbackStatus = {
    enabled: config.rollback.enabled,
    backend: config.rollback.backend,
    probationSeconds: config.rollback.probationSeconds,
    maxBadBoots: config.rollback.maxBadBoots,
    slot: null, install: null, firmware: null, onProbation: null, markedGood: false, crashLoop: null, probationLeftSeconds: null, badBoots: null,
    rollbacks: rollbacks.length,
    lastRollback: last?.kind === "rollback" ? { id: last.id, trigger: last.facts.trigger, fromSlot: last.facts.fromSlot, decidedAt: last.facts.decidedAt } : null,
  };
  const events = journal ? eventsOf(journal.records.filter((r) => r.kind === "rollback"), journal.bootId) : [];
  const boot = events.find((e) => e.event === "boot");
  if (boot?.event !== "boot") return base;
  const first = events.find((e) => e.event === "good" || e.event === "crash-loop");
  const markedGood = first?.event === "good";
  const crashLoop = first?.event === "crash-loop" ? first.executable : null;
  const inputs = policyInputs(history, { booted: boot.slot, install: boot.install, firmware: boot.firmware, other: null, fellBackFrom: null }, config);
  const counted = decide({ ...inputs, moment: crashLoop ? "crash-loop" : "start" }).badBoots;
  const onProbation = boot.onProbation && !markedGood;
  const uptime = readUptime(paths);
  return {
    ...base,
    slot: boot.slot,
    install: boot.install,
    firmware: boot.firmware,
    onProbation,
    markedGood,
    crashLoop,
    probationLeftSeconds: onProbation && crashLoop === null && uptime !== null ? Math.max(0, Math.ceil(config.rollback.probationSeconds - uptime)) : null,
    badBoots: boot.onProbation ? counted : 0,
  };
}

/** The human line. */
export function rollbackLine(s: RollbackStatus): string {
  if (s.error !== undefined) return `rollback: ${s.error}`;
  if (s.slot === null) return `rollback: ${s.backend} backend: no slot facts in this boot yet (the daemon waits for the updater)${s.rollbacks > 0 ? `; ${s.rollbacks} rollback(s) archived` : ""}`;
  const what = s.crashLoop !== null
    ? `bad: ${s.crashLoop} crash-looped, ${s.badBoots} of ${s.maxBadBoots} bad boots`
    : s.onProbation
      ? `on probation, ${s.probationLeftSeconds ?? "?"} s left, ${s.badBoots} of ${s.maxBadBoots} bad boots so far`
      : s.markedGood ? "passed probation in this boot: marked good" : "good";
  const last = s.lastRollback ? `; last rollback ${s.lastRollback.id} (${s.lastRollback.trigger}, from slot ${s.lastRollback.fromSlot})` : "";
  return `rollback: slot ${s.slot}${s.firmware ? ` (${s.firmware})` : ""}: ${what}${last}`;
}

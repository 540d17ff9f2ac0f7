// What the boot hook needs to decide the previous boot's reboot reason
// (DESIGN.md "Reboot reasons"), read before it starts a new boot.
import type { NotedReason } from "./control-block.ts";
import { readUncollected, type Journal, type JournalRecord } from "./journal.ts";
import type { JournalLayout } from "./layout.ts";
import type { LogTail } from "./log-area.ts";

export interface BootEvidence {
  /** false: no valid control block — memory was not retained (power loss, cold boot) or never formatted. */
  retained: boolean;
  /** The boot the journal last recorded (when init runs: the boot that just ended); null when not retained. */
  bootId: string | null;
  bootCounter: number;
  bootStartMs: number | null;
  /** `crashkeep shutdown` ran during that boot. */
  cleanShutdown: { timeMs: number } | null;
  /** `crashkeep note --reason` during that boot. */
  notedReason: NotedReason | null;
  /** Records not yet collected, of any boot, oldest first (each carries its boot id). */
  records: JournalRecord[];
  /** Records lost to a bad CRC (torn or flipped), among the slots where uncollected records can be (readUncollected). */
  corruptRecords: number;
  logs: LogTail[];
  /** The layout the journal was formatted with; null when not retained. */
  layout: JournalLayout | null;
}

export function readBootEvidence(journal: Journal): BootEvidence {
  const view = readUncollected(journal);
  const c = view.control;
  return {
    retained: view.retained,
    bootId: c?.currentBootId ?? null,
    bootCounter: c?.bootCounter ?? 0,
    bootStartMs: c?.bootStartMs ?? null,
    cleanShutdown: c?.cleanShutdownMs == null ? null : { timeMs: c.cleanShutdownMs },
    notedReason: c?.notedReason ?? null,
    records: view.records,
    corruptRecords: view.corruptRecords,
    logs: view.logs,
    layout: c?.layout ?? null,
  };
}

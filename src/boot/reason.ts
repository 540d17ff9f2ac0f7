// The previous boot's reboot reason, from its evidence, in DESIGN.md's order:
// kernel panic / oops (pstore), the reason noted with `crashkeep note
// --reason`, clean shutdown (marker), journal retained without a marker →
// unexpected reset (watchdog, hang, reboot -f), journal not retained → power
// loss. Without a journal device and without pstore records: unknown.
import type { DmesgSummary } from "../system/pstore.ts";

export interface RebootReason {
  reason: string;
  subreason: string | undefined;
  detail: string | undefined;
}

export interface JournalEvidence {
  retained: boolean;
  cleanShutdown: { timeMs: number } | null;
  notedReason: { text: string; timeMs: number } | null;
}

export interface ReasonEvidence {
  dmesg: readonly DmesgSummary[];
  /** undefined when there is no journal device to read. */
  journal: JournalEvidence | undefined;
}

/** A noted reason as a reason word: "Firmware update" → "firmware-update". */
export function reasonWord(text: string): string {
  return text.toLowerCase().replace(/[^a-z0-9]+/g, "-").replace(/^-+|-+$/g, "").slice(0, 40) || "noted";
}

export function decideReason(evidence: ReasonEvidence): RebootReason {
  const panic = evidence.dmesg.find((d) => d.reason === "panic" || d.panicMessage !== undefined);
  if (panic) {
    return {
      reason: "kernel-panic",
      subreason: panic.outOfMemory ? "out-of-memory" : undefined,
      detail: panic.panicMessage ?? panic.oopsLine,
    };
  }
  const oops = evidence.dmesg.find((d) => d.reason === "oops");
  if (oops) return { reason: "kernel-oops", subreason: undefined, detail: oops.oopsLine ?? oops.lastLine };
  const j = evidence.journal;
  if (j === undefined) return { reason: "unknown", subreason: undefined, detail: undefined };
  if (!j.retained) return { reason: "power-loss", subreason: undefined, detail: "the journal was not retained: RAM lost power (or a cold boot)" };
  if (j.notedReason) return { reason: reasonWord(j.notedReason.text), subreason: undefined, detail: j.notedReason.text };
  if (j.cleanShutdown) return { reason: "clean", subreason: undefined, detail: `clean shutdown at ${new Date(j.cleanShutdown.timeMs).toISOString()}` };
  return { reason: "unexpected-reset", subreason: undefined, detail: "no clean-shutdown marker: watchdog, hang or forced reboot" };
}

// What an archived boot says of the rollback (its entry's facts.rollback),
// from the boot's rollback events and its reboot reason: the slot and
// install it ran, whether it was on probation, how it ended for the policy
// and the verdict. Computed by init when it archives the boot; the policy
// later reads it back (history.ts). A boot without a "boot" event (crashkeep
// never learned its slot: the updater did not answer, or the journal was not
// retained — a power loss) carries none, and never counts.
import type { Ending } from "./policy.ts";
import { isBad } from "./policy.ts";
import type { RollbackEvent } from "./events.ts";

export interface BootRollbackFacts {
  slot: string;
  install: string;
  firmware: string | null;
  onProbation: boolean;
  /** good: probation passed in it; bad: it counts against the install; none: neither (or not on probation). */
  verdict: "good" | "bad" | "none";
  /** How it ended, for the policy (policy.ts Ending). */
  reason: Ending;
  /** The panic line, the crash loop: one line. */
  detail: string | null;
  /** crash-loop: the critical executable. */
  executable: string | null;
  fellBackFrom: { slot: string; install: string | null } | null;
}

/** The reboot reason as archived (boot/reason.ts) and whether it was a noted one, as a policy ending. */
export function endingOf(reason: string, noted: boolean): Ending {
  if (reason === "kernel-panic" || reason === "kernel-oops" || reason === "unexpected-reset" || reason === "power-loss" || reason === "clean") return reason;
  // A noted reason (crashkeep's own "rollback from slot B" included), or unknown (no journal): never counted.
  return noted ? "noted" : "clean";
}

export function bootFacts(events: readonly RollbackEvent[], archived: { reason: string; noted: boolean; detail: string | undefined }): BootRollbackFacts | undefined {
  const boot = events.find((e) => e.event === "boot");
  if (!boot || boot.event !== "boot") return undefined;
  // The first of "good" and "crash-loop" decides: the daemon never marks a boot good after its crash loop,
  // and a crash loop after probation passed is not the update's probation.
  const first = events.find((e) => e.event === "good" || e.event === "crash-loop");
  let reason: Ending = endingOf(archived.reason, archived.noted);
  let detail: string | null = archived.detail ?? null;
  let executable: string | null = null;
  if (first?.event === "good") reason = "probation-passed";
  else if (first?.event === "crash-loop") {
    reason = "crash-loop";
    executable = first.executable;
    detail = `${first.executable} crashed more than ${Math.max(0, first.crashes - 1)} times in the minute from ${first.windowStart}`;
  }
  const verdict = !boot.onProbation ? "none" : reason === "probation-passed" ? "good" : isBad(reason) ? "bad" : "none";
  return { slot: boot.slot, install: boot.install, firmware: boot.firmware, onProbation: boot.onProbation, verdict, reason, detail, executable, fellBackFrom: boot.fellBackFrom };
}

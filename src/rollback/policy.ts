// The rollback policy (docs/ROLLBACK.md "Rules"), a pure function: from how
// the earlier boots of the install now booted ended, and what just happened
// in this boot, what crashkeep does. Everything it reads and writes (the
// journal, the archive, the updater) is wired elsewhere (engine.ts).

/**
 * How one boot of an install ended, as far as the rollback is concerned
 * (facts.ts turns an archived boot into one of these):
 *   kernel-panic, kernel-oops, unexpected-reset: the reboot reason (pstore, no
 *     clean-shutdown marker in a retained journal);
 *   power-loss: the journal in RAM was not retained;
 *   clean: `crashkeep shutdown` ran; noted: a reason noted with `note --reason`;
 *   crash-loop: a critical executable crash-looped in that boot (whatever the
 *     boot's ending was afterwards);
 *   probation-passed: that boot ran probationSeconds without a bad verdict and
 *     crashkeep marked the slot good (whatever came after).
 */
export const ENDINGS = ["kernel-panic", "kernel-oops", "unexpected-reset", "power-loss", "clean", "noted", "crash-loop", "probation-passed"] as const;
export type Ending = (typeof ENDINGS)[number];

/** Endings that make a boot on probation bad. */
const BAD: ReadonlySet<Ending> = new Set<Ending>(["kernel-panic", "kernel-oops", "unexpected-reset", "crash-loop"]);

export function isBad(ending: Ending): boolean {
  return BAD.has(ending);
}

/**
 * When the decision is taken:
 *   start: the daemon learned this boot's slot (after the previous boot was archived);
 *   probation-elapsed: this boot ran probationSeconds of uptime without a bad verdict;
 *   crash-loop: a critical executable crash-loops in this boot.
 */
export type Moment = "start" | "probation-elapsed" | "crash-loop";

export interface PolicyInput {
  /** Earlier boots of the install now booted, oldest first (boots of other installs are not listed). */
  endings: readonly Ending[];
  /**
   * The install ran as good before, not on probation: the first install
   * crashkeep ever saw (the factory one), or one marked good whose
   * probation-passed boot was pruned from the archive since.
   */
  knownGood: boolean;
  /** A rollback of this install was decided already (an archived rollback entry): it is carried out again. */
  rollbackDecided: boolean;
  moment: Moment;
  maxBadBoots: number;
  /**
   * At start, what the updater says of the other slot: "none"; "new": the
   * bootloader fell back from it on its own (its install never reached
   * crashkeep, or never got marked good) and no rollback of that install is
   * archived yet; "reported": such a rollback is archived already.
   */
  fallback: "none" | "new" | "reported";
}

/**
 * good: the install is good: mark it good at once (the bootloader counts
 *   every boot until told: RAUC's U-Boot script decrements BOOT_x_LEFT at each);
 * on-probation: wait for probationSeconds of uptime (or a crash loop);
 * mark-good: probation passed: mark it good and record it;
 * count-bad: this boot is bad, below maxBadBoots: record it, reboot cleanly for the next try;
 * roll-back: mark the slot bad, switch to the other, record why, reboot;
 * ignore: nothing to do (a crash loop of a slot not on probation).
 */
export type Action = "good" | "on-probation" | "mark-good" | "count-bad" | "roll-back" | "ignore";

export interface Decision {
  action: Action;
  /** Archive and upload a rollback with trigger "bootloader" (once per install of the other slot). */
  reportFallback: boolean;
  /** Bad boots of this install counted so far, this one included when it is bad. */
  badBoots: number;
}

export function decide(input: PolicyInput): Decision {
  if (!Number.isInteger(input.maxBadBoots) || input.maxBadBoots < 1) throw new RangeError(`Cannot decide with maxBadBoots ${input.maxBadBoots}: must be a whole number from 1`);
  const passed = input.endings.indexOf("probation-passed");
  // Bad boots count only while the install was on probation: before the boot that passed it.
  const onProbation = input.endings.slice(0, passed === -1 ? undefined : passed);
  const earlier = onProbation.filter(isBad).length;
  // While a rollback of the booted install is carried out, the switch it made is not a fallback (until the reboot).
  const reportFallback = input.moment === "start" && input.fallback === "new" && !input.rollbackDecided;
  const out = (action: Action, badBoots = earlier): Decision => ({ action, reportFallback, badBoots });
  // A decided rollback is carried out until the slot is left, whatever else is known.
  if (input.rollbackDecided) return out("roll-back");
  if (input.knownGood || passed !== -1) return out(input.moment === "start" ? "good" : "ignore");
  if (earlier >= input.maxBadBoots) return out("roll-back");
  switch (input.moment) {
    case "start":
      return out("on-probation");
    case "probation-elapsed":
      return out("mark-good");
    case "crash-loop":
      return out(earlier + 1 >= input.maxBadBoots ? "roll-back" : "count-bad", earlier + 1);
  }
}

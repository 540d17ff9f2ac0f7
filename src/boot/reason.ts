// The previous boot's reboot reason, from its evidence, in DESIGN.md's order:
// kernel panic / oops (pstore) first. The journal adds noted reasons, clean
// shutdown, unexpected reset and power loss.
import type { DmesgSummary } from "../system/pstore.ts";

export interface RebootReason {
  reason: string;
  subreason: string | undefined;
  detail: string | undefined;
}

export interface ReasonEvidence {
  dmesg: readonly DmesgSummary[];
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
  return { reason: "unknown", subreason: undefined, detail: undefined };
}

// What make fleet-demo (build/fleet-demo.ts) tells its user, checked against
// the collector's API rather than assumed: the QEMU guest is said to have
// "uploaded" only once the collector shows its kernel-panic boot and its
// crash; otherwise the demo names what is missing and where the guest's
// console log is. Groups still named by module + offset are pointed out, since
// on a fresh machine they were the sign that the devices lacked their
// programs' files (issue 19).

/** The part of GET /api/devices/<id> (src/collect/views.ts DeviceDetail) these checks read. */
export interface GuestView {
  boots: Array<{ reason: string; panicMessage: string | null; crashes: Array<{ exe: string | null }> }>;
  otherCrashes?: Array<{ exe: string | null }>;
}

/** What the guest must have sent: its kernel panic with this message and a crash of this program. */
export interface Expected {
  deviceId: string;
  exe: string;
  panicMessage: string;
}

/** What the collector does not show yet, one phrase each; empty when all of it arrived. */
export function missingFromGuest(view: GuestView | undefined, expected: Expected): string[] {
  if (!view) return [`any message from ${expected.deviceId} (the collector answers "no such device")`];
  const missing: string[] = [];
  const panic = view.boots.find((b) => b.reason === "kernel-panic");
  if (!panic) {
    const seen = view.boots.map((b) => b.reason).join(", ");
    missing.push(`its kernel-panic boot (boots received: ${seen || "none"})`);
  } else if (panic.panicMessage !== expected.panicMessage) {
    missing.push(`the panic message "${expected.panicMessage}" (received: ${panic.panicMessage === null ? "none" : `"${panic.panicMessage}"`})`);
  }
  const crashes = [...view.boots.flatMap((b) => b.crashes), ...(view.otherCrashes ?? [])];
  const named = (exe: string | null) => exe !== null && (exe === expected.exe || exe.endsWith(`/${expected.exe}`));
  if (!crashes.some((c) => named(c.exe))) missing.push(`its crash of ${expected.exe}`);
  return missing;
}

/**
 * Asks `look` (the device's API view, undefined while unknown) every pollMs
 * until nothing is missing or timeoutMs have passed; resolves to what is still
 * missing then (empty: all arrived).
 */
export async function waitForGuest(look: () => Promise<GuestView | undefined>, expected: Expected, options: { timeoutMs: number; pollMs?: number }): Promise<string[]> {
  const deadline = Date.now() + options.timeoutMs;
  for (;;) {
    const missing = missingFromGuest(await look(), expected);
    if (missing.length === 0 || Date.now() >= deadline) return missing;
    await Bun.sleep(options.pollMs ?? 1000);
  }
}

/** The demo's one line about the guest: "uploaded" only when nothing is missing. */
export function guestLine(missing: readonly string[], o: { deviceId: string; page: string; waitedSeconds: number; consoleLog: string }): string {
  if (missing.length === 0) return `${o.deviceId}: uploaded, its kernel-panic boot and its crash are in the collector: ${o.page}`;
  return `${o.deviceId}: not uploaded after ${o.waitedSeconds} s; the collector lacks ${missing.join("; ")}. The guest's console log: ${o.consoleLog}`;
}

/** Signatures that still hold a frame named by module + offset (`fpe+0x1147`): groups the symbols did not reach. */
export function unsymbolized(groups: ReadonlyArray<{ signature: string }>): string[] {
  return groups.map((g) => g.signature).filter((s) => /\+0x[0-9a-f]+/.test(s));
}

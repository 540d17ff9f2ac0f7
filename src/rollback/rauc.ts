// The rauc backend: RAUC's command line (Debian bookworm ships 1.8), which
// talks to its D-Bus service. What is read and why, from RAUC 1.8's source
// (github.com/rauc/rauc, tag v1.8):
//   - `rauc status --detailed --output-format=json` (src/main.c
//     r_status_formatter_json): {"compatible", "variant", "booted": the
//     booted slot's bootname (or device, from rauc.slot= / root= on the
//     kernel command line), "boot_primary": the primary slot's *name*
//     ("rootfs.0", not its bootname), "slots": [{"<name>": {"class",
//     "device", "type", "bootname", "state": "booted" | "active" |
//     "inactive", "parent", "mountpoint", "boot_status": "good" | "bad" |
//     null, "slot_status": {"bundle": {"compatible", "version"?,
//     "description"?, "build"?}, "checksum"?, "installed"?: {"timestamp",
//     "count"}, "activated"?, "status"?}}}, ...]};
//   - boot_status with U-Boot (src/bootchooser.c uboot_get_state): "bad"
//     when the slot is not in BOOT_ORDER or its BOOT_x_LEFT is 0; and
//     boot_primary skips slots with no attempts left (uboot_get_primary), so
//     after the bootloader fell back on its own the primary IS the booted
//     slot: the fallback shows as the other slot's boot_status "bad" with a
//     newer install than the booted one;
//   - `rauc status mark-good booted`, `mark-bad booted` (removes it from
//     BOOT_ORDER, BOOT_x_LEFT=0) and `mark-active other` (first in
//     BOOT_ORDER, attempts reset): src/mark.c, bootchooser.c uboot_set_state
//     and uboot_set_primary.
import type { Backend, OtherSlot, SlotState } from "./backend.ts";
import { UPDATER_CALL_TIMEOUT_MS } from "./backend.ts";
import { runCommand } from "./run-command.ts";

/** The rauc executable, found on PATH as the service's clients are. */
const RAUC = "rauc";

interface RaucSlot {
  name: string;
  class: string | null;
  bootname: string | null;
  state: string | null;
  parent: string | null;
  device: string | null;
  bootStatus: string | null;
  version: string | null;
  installed: string | null;
}

const str = (v: unknown): string | null => (typeof v === "string" ? v : null);
const obj = (v: unknown): Record<string, unknown> | undefined => (v !== null && typeof v === "object" && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined);

function slotsOf(status: Record<string, unknown>): RaucSlot[] {
  if (!Array.isArray(status.slots)) throw new SyntaxError('no "slots" array');
  const out: RaucSlot[] = [];
  for (const item of status.slots) {
    for (const [name, value] of Object.entries(obj(item) ?? {})) {
      const s = obj(value) ?? {};
      const st = obj(s.slot_status);
      out.push({
        name,
        class: str(s.class),
        bootname: str(s.bootname),
        state: str(s.state),
        parent: str(s.parent),
        device: str(s.device),
        bootStatus: str(s.boot_status),
        version: str(obj(st?.bundle)?.version),
        installed: str(obj(st?.installed)?.timestamp),
      });
    }
  }
  return out;
}

function installOf(s: RaucSlot): string | null {
  return s.installed === null ? null : `${s.version ?? "no version"} installed ${s.installed}`;
}

/** The slot state from `rauc status --detailed --output-format=json`; osFirmware stands in for a slot RAUC never installed (the factory image). */
export function parseRaucStatus(text: string, osFirmware: string | null): SlotState {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new SyntaxError(`Cannot read rauc status: ${err instanceof Error ? err.message : String(err)}`);
  }
  const status = obj(value);
  if (!status) throw new SyntaxError("Cannot read rauc status: not a JSON object");
  let slots: RaucSlot[];
  try {
    slots = slotsOf(status);
  } catch (err) {
    throw new SyntaxError(`Cannot read rauc status: ${err instanceof Error ? err.message : String(err)}`);
  }
  const bootedName = str(status.booted);
  const booted = slots.find((s) => s.state === "booted") ?? slots.find((s) => bootedName !== null && (s.bootname === bootedName || s.device === bootedName));
  if (!booted || booted.bootname === null) throw new Error(`Cannot find the booted slot in rauc status (booted ${JSON.stringify(bootedName)}): no bootable slot in state "booted"`);
  const otherSlot = slots.find((s) => s !== booted && s.class === booted.class && s.parent === null && s.bootname !== null);
  const other: OtherSlot | null = otherSlot?.bootname ? { slot: otherSlot.bootname, install: installOf(otherSlot), firmware: otherSlot.version } : null;
  // The other slot got an install after the booted one's and has no attempts left: the bootloader fell back from it.
  const fell = otherSlot !== undefined && otherSlot.bootStatus === "bad" && otherSlot.installed !== null && (booted.installed === null || otherSlot.installed > booted.installed);
  return {
    booted: booted.bootname,
    install: installOf(booted) ?? osFirmware ?? "factory",
    firmware: booted.version ?? osFirmware,
    other,
    fellBackFrom: fell ? other : null,
    installedByUpdater: booted.installed !== null,
  };
}

export class RaucBackend implements Backend {
  readonly name = "rauc";

  constructor(readonly osFirmware: string | null) {}

  async state(): Promise<SlotState> {
    const out = await runCommand([RAUC, "status", "--detailed", "--output-format=json"], { what: "read the rauc status", timeoutMs: UPDATER_CALL_TIMEOUT_MS });
    return parseRaucStatus(out, this.osFirmware);
  }

  async markGood(): Promise<void> {
    await runCommand([RAUC, "status", "mark-good", "booted"], { what: "mark the booted slot good", timeoutMs: UPDATER_CALL_TIMEOUT_MS });
  }

  async markBadAndSwitch(): Promise<void> {
    await runCommand([RAUC, "status", "mark-bad", "booted"], { what: "mark the booted slot bad", timeoutMs: UPDATER_CALL_TIMEOUT_MS });
    await runCommand([RAUC, "status", "mark-active", "other"], { what: "make the other slot active", timeoutMs: UPDATER_CALL_TIMEOUT_MS });
  }
}

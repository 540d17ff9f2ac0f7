// The command backend: rollback.commands, each run by /bin/sh -c, for
// SWUpdate, Mender or a home-grown updater. bootedSlot prints the booted
// slot; primarySlot (optional) prints the slot the bootloader was told to try
// first (U-Boot: the first word of BOOT_ORDER): when it differs from the
// booted one, the bootloader fell back on its own. The install identity is
// the firmware version (upload.firmware, else /etc/os-release).
import type { Config } from "../config/schema.ts";
import type { Backend, SlotState } from "./backend.ts";
import { UPDATER_CALL_TIMEOUT_MS } from "./backend.ts";
import { runCommand, shell } from "./run-command.ts";

/** A slot name as printed by bootedSlot / primarySlot: one short word. */
const SLOT_NAME = /^[A-Za-z0-9._-]{1,64}$/;
/** What a slot command may print: one line. */
const MAX_SLOT_OUTPUT_BYTES = 4096;

type Commands = NonNullable<Config["rollback"]["commands"]>;

export class CommandBackend implements Backend {
  readonly name = "command";

  constructor(
    readonly commands: Commands,
    readonly firmware: string | null,
  ) {}

  async #slot(line: string, what: string): Promise<string> {
    const out = (await runCommand(shell(line), { what, timeoutMs: UPDATER_CALL_TIMEOUT_MS, maxOutputBytes: MAX_SLOT_OUTPUT_BYTES })).trim();
    const first = out.split(/\s+/)[0] ?? "";
    if (!SLOT_NAME.test(first)) throw new Error(`Cannot ${what} ("${line}"): it printed ${JSON.stringify(out.slice(0, 80))}, not a slot name`);
    return first;
  }

  async state(): Promise<SlotState> {
    const booted = await this.#slot(this.commands.bootedSlot, "read the booted slot");
    const primary = this.commands.primarySlot === undefined ? undefined : await this.#slot(this.commands.primarySlot, "read the primary slot");
    return {
      booted,
      install: this.firmware ?? "unknown",
      firmware: this.firmware,
      other: null,
      fellBackFrom: primary !== undefined && primary !== booted ? { slot: primary, install: null, firmware: null } : null,
    };
  }

  async markGood(): Promise<void> {
    await runCommand(shell(this.commands.markGood), { what: "mark the booted slot good", timeoutMs: UPDATER_CALL_TIMEOUT_MS });
  }

  async markBadAndSwitch(): Promise<void> {
    await runCommand(shell(this.commands.markBadAndSwitch), { what: "mark the booted slot bad and switch", timeoutMs: UPDATER_CALL_TIMEOUT_MS });
  }
}

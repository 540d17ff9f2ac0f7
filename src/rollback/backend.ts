// One small interface to the updater (DESIGN.md "Rollback"): which slot is
// booted and what is installed in it, mark it good, mark it bad and switch to
// the other. Two backends: the rauc command line (rauc.ts) and configured
// commands for SWUpdate, Mender or a home-grown updater (command.ts).
import type { Config } from "../config/schema.ts";
import type { Paths } from "../system/paths.ts";
import { readFileSync } from "node:fs";
import { parseOsRelease } from "../upload/device.ts";

export interface OtherSlot {
  /** The slot's name as the bootloader knows it ("A", "B"). */
  slot: string;
  /** What is installed in it, when the updater says (RAUC: bundle version and install time). */
  install: string | null;
  firmware: string | null;
}

export interface SlotState {
  /** The booted slot ("A", "B"). */
  booted: string;
  /** What identifies the install in the booted slot: a new value is a new install, on probation. */
  install: string;
  /** Its firmware version, if known. */
  firmware: string | null;
  /** The slot a rollback switches to, when the updater says. */
  other: OtherSlot | null;
  /** The bootloader fell back from this slot on its own (its attempts ran out), when the updater can tell. */
  fellBackFrom: OtherSlot | null;
  /**
   * The updater says it installed the booted slot (RAUC: the slot has an
   * install record). Such a slot is never taken for the factory install,
   * even when crashkeep has no history yet: an update installed before
   * crashkeep first recorded its slot starts on probation.
   */
  installedByUpdater?: boolean;
}

export interface Backend {
  readonly name: "rauc" | "command";
  state(): Promise<SlotState>;
  markGood(): Promise<void>;
  markBadAndSwitch(): Promise<void>;
}

/** How long one updater call may take: RAUC's D-Bus calls answer in well under a second. */
export const UPDATER_CALL_TIMEOUT_MS = 30_000;
/** How long the daemon waits for the updater after boot (RAUC needs D-Bus and its service up). */
export const BACKEND_WAIT_MS = 180_000;
/** watch --once waits this long at most: a command run to its end, not the boot's background wait. */
export const BACKEND_WAIT_ONCE_MS = 20_000;
/** Between two tries while waiting. */
export const BACKEND_RETRY_MS = 2_000;

/** os-release is one short file. */
const MAX_OS_RELEASE_BYTES = 16 * 1024;

/**
 * The firmware version of the running system, as the upload's device object
 * has it (upload.firmware, else /etc/os-release VERSION_ID (BUILD_ID)), read
 * strictly: it is the command backend's install identity, so a read that
 * fails must not pass for another install. No os-release at all: null.
 */
export function runningFirmware(config: Config, paths: Paths): string | null {
  if (config.upload.firmware !== undefined) return config.upload.firmware;
  for (const file of ["/etc/os-release", "/usr/lib/os-release"]) {
    let text: string;
    try {
      text = readFileSync(paths.sys(file), "utf8").slice(0, MAX_OS_RELEASE_BYTES);
    } catch (err) {
      if ((err as { code?: unknown }).code === "ENOENT") continue;
      throw new Error(`Cannot read "${paths.sys(file)}": ${err instanceof Error ? err.message : String(err)}`);
    }
    const fields = parseOsRelease(text);
    const version = fields.get("VERSION_ID");
    const build = fields.get("BUILD_ID");
    const firmware = version && build ? `${version} (${build})` : (version ?? build);
    return firmware?.trim().slice(0, 128) || null;
  }
  return null;
}

export async function makeBackend(config: Config, paths: Paths): Promise<Backend> {
  if (config.rollback.backend === "rauc") {
    const { RaucBackend } = await import("./rauc.ts");
    return new RaucBackend(runningFirmware(config, paths));
  }
  const commands = config.rollback.commands;
  if (!commands) throw new Error('Cannot use the rollback backend "command": rollback.commands is not set');
  const { CommandBackend } = await import("./command.ts");
  return new CommandBackend(commands, runningFirmware(config, paths));
}

/**
 * The updater's state, tried every BACKEND_RETRY_MS until it answers or
 * timeoutMs passes (then the last error is thrown). `stopped` ends the wait
 * early (the daemon is stopping).
 */
export async function waitForBackend(backend: Backend, options: { timeoutMs: number; retryMs: number; stopped: () => boolean }): Promise<SlotState> {
  const deadline = Date.now() + options.timeoutMs;
  for (;;) {
    try {
      return await backend.state();
    } catch (err) {
      if (options.stopped() || Date.now() + options.retryMs > deadline) {
        throw new Error(`${err instanceof Error ? err.message : String(err)} (waited ${Math.round(options.timeoutMs / 1000)} s for the ${backend.name} backend)`);
      }
    }
    await Bun.sleep(options.retryMs);
  }
}

// Who is sending: the `device` object of every upload payload. Configured
// values win; otherwise /etc/machine-id (the hostname without one),
// /etc/os-release VERSION_ID + BUILD_ID, the device-tree model or DMI name.
import { closeSync, openSync, readSync } from "node:fs";
import { hostname, release } from "node:os";
import type { Paths } from "../system/paths.ts";
import type { DeviceInfo } from "./payload.ts";
import pkg from "../../package.json" with { type: "json" };

declare const CRASHKEEP_COMMIT: string | undefined;

/** Bytes read of each identity file: they are one line each. */
const MAX_ID_FILE_BYTES = 4096;

function readSmall(path: string): string | undefined {
  let fd: number;
  try {
    fd = openSync(path, "r");
  } catch {
    return undefined;
  }
  try {
    const buf = new Uint8Array(MAX_ID_FILE_BYTES);
    const n = readSync(fd, buf, 0, buf.length, 0);
    return new TextDecoder().decode(buf.subarray(0, n));
  } catch {
    return undefined;
  } finally {
    closeSync(fd);
  }
}

/** os-release(5): KEY=value lines, values optionally quoted. */
export function parseOsRelease(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of text.split("\n")) {
    const m = /^([A-Z0-9_]+)=(.*)$/.exec(line.trim());
    if (!m?.[1]) continue;
    out.set(m[1], (m[2] ?? "").replace(/^(["'])(.*)\1$/, "$2"));
  }
  return out;
}

function clean(s: string | undefined, max = 128): string | null {
  // Device-tree strings end in NUL.
  const t = s?.replace(/\u0000/g, "").trim();
  return t ? t.slice(0, max) : null;
}

export function crashkeepVersion(): string {
  const commit = typeof CRASHKEEP_COMMIT === "string" && CRASHKEEP_COMMIT !== "" ? `+${CRASHKEEP_COMMIT}` : "";
  return `${pkg.version}${commit}`;
}

function archName(): string {
  return process.arch === "x64" ? "x86_64" : process.arch === "arm64" ? "aarch64" : process.arch;
}

export interface DeviceOverrides {
  deviceId?: string | undefined;
  firmware?: string | undefined;
  hardware?: string | undefined;
}

/** Characters a device id may not hold as one MQTT topic level (syntax, NUL and other controls), and "%" itself. */
const NOT_IN_TOPIC_LEVEL = /[\u0000-\u001f\u007f-\u009f/+#%]/g;

/**
 * A machine-id or hostname as a device id: what cannot stand in one topic
 * level is percent-encoded ("a/b" → "a%2Fb"), so no two ids share a topic
 * (the collector refuses ids that hold such characters; issue 22).
 */
export function topicSafeId(raw: string): string {
  return raw.replace(NOT_IN_TOPIC_LEVEL, (c) => [...new TextEncoder().encode(c)].map((b) => `%${b.toString(16).toUpperCase().padStart(2, "0")}`).join(""));
}

export function readDeviceInfo(paths: Paths, overrides: DeviceOverrides = {}): DeviceInfo {
  const osRelease = parseOsRelease(readSmall(paths.sys("/etc/os-release")) ?? readSmall(paths.sys("/usr/lib/os-release")) ?? "");
  const version = osRelease.get("VERSION_ID");
  const build = osRelease.get("BUILD_ID");
  const firmware = overrides.firmware ?? (version && build ? `${version} (${build})` : (version ?? build));
  const id = overrides.deviceId ?? clean(readSmall(paths.sys("/etc/machine-id"))) ?? (clean(readSmall(paths.sys("/proc/sys/kernel/hostname"))) || hostname());
  const hardware = overrides.hardware ?? clean(readSmall(paths.sys("/sys/firmware/devicetree/base/model"))) ?? clean(readSmall(paths.sys("/sys/class/dmi/id/product_name"))) ?? undefined;
  return {
    id: overrides.deviceId ?? (topicSafeId(id.slice(0, 128)).slice(0, 128).replace(/%[0-9A-F]?$/, "") || "unknown"),
    firmware: clean(firmware),
    hardware: clean(hardware),
    kernel: clean(readSmall(paths.sys("/proc/sys/kernel/osrelease"))) ?? clean(release()),
    arch: archName(),
    crashkeepVersion: crashkeepVersion(),
  };
}

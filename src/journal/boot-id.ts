// The kernel's per-boot UUID (/proc/sys/kernel/random/boot_id, random(4)),
// stored in the journal as its 16 raw bytes. All zeros means "unknown".
import { readFileSync } from "node:fs";
import type { Paths } from "../system/paths.ts";

export const BOOT_ID_BYTES = 16;

/** The nil UUID, used when the boot id could not be read. */
export const UNKNOWN_BOOT_ID = "00000000-0000-0000-0000-000000000000";

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** Parse a canonical UUID string into 16 bytes; SyntaxError when malformed. */
export function bootIdToBytes(id: string): Uint8Array {
  const text = id.trim().toLowerCase();
  if (!UUID_RE.test(text)) throw new SyntaxError(`Cannot parse boot id "${id}": not a UUID`);
  const hex = text.replaceAll("-", "");
  const out = new Uint8Array(BOOT_ID_BYTES);
  for (let i = 0; i < BOOT_ID_BYTES; i++) out[i] = Number.parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return out;
}

/** Format 16 bytes as a canonical lower-case UUID string. */
export function bootIdFromBytes(bytes: Uint8Array): string {
  if (bytes.length !== BOOT_ID_BYTES) throw new RangeError(`Cannot format boot id: ${bytes.length} bytes, need ${BOOT_ID_BYTES}`);
  const hex = Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** The running kernel's boot id, or UNKNOWN_BOOT_ID when /proc does not have it. */
export function readBootId(paths: Paths): string {
  try {
    const text = readFileSync(paths.sys("/proc/sys/kernel/random/boot_id"), "utf8").trim();
    bootIdToBytes(text);
    return text.toLowerCase();
  } catch {
    return UNKNOWN_BOOT_ID;
  }
}

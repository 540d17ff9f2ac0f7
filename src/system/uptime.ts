// /proc/uptime: seconds since boot (the first field), or null where it cannot be read.
import { readFileSync } from "node:fs";
import type { Paths } from "./paths.ts";

export function readUptime(paths: Paths): number | null {
  try {
    const value = Number(readFileSync(paths.sys("/proc/uptime"), "utf8").split(" ")[0]);
    return Number.isFinite(value) ? value : null;
  } catch {
    return null;
  }
}

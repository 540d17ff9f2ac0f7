// When to try again: exponential backoff from upload.minBackoffSeconds to
// upload.maxBackoffSeconds, with jitter so that a fleet coming back after a
// broker outage does not reconnect in lockstep.
import type { Config } from "../config/schema.ts";

/** Jitter added to every wait, as a fraction of it: 0 to +50 %. */
const JITTER = 0.5;

/** The wait before retry number `failures` (1 = after the first failure), in ms. */
export function backoffMs(failures: number, config: Config, random = Math.random): number {
  const { minBackoffSeconds: min, maxBackoffSeconds: max } = config.upload;
  const base = Math.min(max, min * 2 ** Math.max(0, Math.min(failures - 1, 30)));
  return Math.round(Math.min(max, base * (1 + JITTER * random())) * 1000);
}

/** The wait before sending what was just queued: upload.delaySeconds plus jitter, in ms. */
export function delayMs(config: Config, random = Math.random): number {
  return Math.round(config.upload.delaySeconds * (1 + JITTER * random()) * 1000);
}

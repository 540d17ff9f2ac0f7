// Mirroring the configured logs into the journal every intervalSeconds (and
// on SIGUSR1): the daemon's half of "log tails that survive a panic".
import type { Config } from "../config/schema.ts";
import { mirrorLog, type MirrorResult } from "../journal/mirror.ts";
import type { Journal } from "../journal/journal.ts";
import type { Paths } from "../system/paths.ts";

export interface MirrorPass {
  results: Array<{ path: string; result?: MirrorResult; error?: string }>;
}

/** One pass over every configured log; a failing log does not stop the others. */
export function mirrorAll(journal: Journal, config: Config, paths: Paths): MirrorPass {
  const results: MirrorPass["results"] = [];
  config.logs.files.forEach((f, area) => {
    try {
      results.push({ path: f.path, result: mirrorLog(journal, { area, path: paths.sys(f.path) }) });
    } catch (err) {
      results.push({ path: f.path, error: err instanceof Error ? err.message : String(err) });
    }
  });
  return { results };
}

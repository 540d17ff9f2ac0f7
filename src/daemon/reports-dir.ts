// Where the reports of the running boot go: a module of its own, so that the
// boot hook (which retries their journal writes) does not load the capture code.
import type { Config } from "../config/schema.ts";
import type { Paths } from "../system/paths.ts";

/** Where reports of the running boot go, under archive.dir. */
export const REPORTS_SUBDIR = "reports";

export function reportsDir(config: Config, paths: Paths): string {
  return paths.sys(`${config.archive.dir}/${REPORTS_SUBDIR}`);
}

// The debug-info options `inspect` and `symbolize` share: --debug-dir DIR
// (repeatable), --debuginfod URL (repeatable; else DEBUGINFOD_URLS), --sysroot.
import type { ParsedArgs } from "./args.ts";
import { UsageError } from "./args.ts";
import { debuginfodConfig } from "../debuginfo/debuginfod.ts";
import type { SymbolizeOptions } from "../debuginfo/symbolize.ts";

export const DEBUG_OPTION_SPEC = { values: ["sysroot"], lists: ["debug-dir", "debuginfod"] } as const;

export const DEBUG_OPTION_HELP = `  --sysroot DIR     the device's files under DIR (the modules themselves, DIR/usr/lib/debug)
  --debug-dir DIR   debug files under DIR: a .build-id tree (/usr/lib/debug) or unstripped
                    copies at the modules' paths (Buildroot output/staging); repeatable
  --debuginfod URL  a debuginfod server (repeatable); default: DEBUGINFOD_URLS, none if unset`;

export function debugOptions(a: ParsedArgs, env: Readonly<Record<string, string | undefined>> = process.env): SymbolizeOptions {
  let debuginfod;
  try {
    debuginfod = debuginfodConfig(env, a.lists.get("debuginfod") ?? []);
  } catch (err) {
    throw new UsageError(err instanceof Error ? err.message : String(err));
  }
  return { sysroot: a.values.get("sysroot"), debugDirs: a.lists.get("debug-dir") ?? [], debuginfod };
}

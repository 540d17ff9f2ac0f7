// Pointing the kernel at crashkeep (core(5), fs/coredump.c): in watch mode
// core files go to cores.dir; in pipe mode the kernel runs `crashkeep core`
// with the core on stdin. core_pattern holds at most 127 characters.
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import type { Config } from "../config/schema.ts";
import type { Paths } from "../system/paths.ts";

/** fs/coredump.c: char core_pattern[CORENAME_MAX_SIZE] with CORENAME_MAX_SIZE 128, so 127 characters. */
export const CORE_PATTERN_MAX = 127;
/**
 * core_pipe_limit: concurrent pipe dumps the kernel waits for. Not 0, so the
 * crashed process stays in /proc while the handler runs; small, so a crash
 * storm cannot start dozens of handlers at once.
 */
export const CORE_PIPE_LIMIT = 4;

export function corePatternFor(config: Config, selfPath: string): string | undefined {
  const { cores } = config;
  if (cores.mode === "off") return undefined;
  if (cores.mode === "pipe") return `|${selfPath} core %P %I %s %t %E`;
  // Absolute (the kernel resolves a relative pattern against the crashed
  // task's cwd) and the real path: the root prefix is for reading, not for the kernel.
  return `${cores.dir}/${cores.pattern}`;
}

export interface PatternResult {
  pattern: string | undefined;
  previous: string | undefined;
}

export function setCorePattern(config: Config, selfPath: string, paths: Paths): PatternResult {
  const pattern = corePatternFor(config, selfPath);
  const file = paths.sys("/proc/sys/kernel/core_pattern");
  let previous: string | undefined;
  try {
    previous = readFileSync(file, "utf8").trim();
  } catch {
    previous = undefined;
  }
  if (pattern === undefined) return { pattern, previous };
  if (pattern.length > CORE_PATTERN_MAX) throw new Error(`Cannot set core_pattern "${pattern}": longer than ${CORE_PATTERN_MAX} characters`);
  if (config.cores.mode === "watch") {
    const dir = paths.sys(config.cores.dir);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    chmodSync(dir, 0o700);
  } else {
    writeFileSync(paths.sys("/proc/sys/kernel/core_pipe_limit"), `${CORE_PIPE_LIMIT}\n`);
  }
  if (previous !== pattern) writeFileSync(file, `${pattern}\n`);
  return { pattern, previous };
}

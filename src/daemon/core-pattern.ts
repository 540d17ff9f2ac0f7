// Pointing the kernel at crashkeep (core(5), fs/coredump.c): in watch mode
// core files go to cores.dir; in pipe mode the kernel runs `crashkeep core`
// with the core on stdin. core_pattern holds at most 127 characters.
import { chmodSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import type { Config } from "../config/schema.ts";
import type { Paths } from "../system/paths.ts";
import { writeDurable } from "../archive/durable.ts";

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

/**
 * The core_pattern this boot set, kept for the next boot: S03crashkeep and
 * crashkeep.service write it into the kernel before they start the daemon, so
 * that a service crashing before the daemon sets core_pattern itself (one Bun
 * start later) is captured too (docs/FIRMWARE.md, step 6). Fixed, not from
 * the config: the init script reads no JSON. Beside the config cache.
 */
export const CORE_PATTERN_KEPT = "/var/cache/crashkeep/core_pattern";

/** fs/coredump.c's default core_pattern ("core" in the crashed task's cwd). */
const KERNEL_DEFAULT_PATTERN = "core";

/** The pattern kept by the last boot (CORE_PATTERN_KEPT), or undefined. */
export function keptPattern(paths: Paths): string | undefined {
  try {
    return readFileSync(paths.sys(CORE_PATTERN_KEPT), "utf8").trim() || undefined;
  } catch {
    return undefined;
  }
}

export interface PatternResult {
  pattern: string | undefined;
  previous: string | undefined;
  /** Set when the pattern could not be kept for the next boot (CORE_PATTERN_KEPT). */
  keepProblem?: string;
}

/**
 * CORE_PATTERN_KEPT holds the pattern (written only when it changed), or is
 * removed when this boot sets none (cores.mode "off"): the next boot's script
 * must not point the kernel at crashkeep then. Best effort: the problem, or
 * undefined.
 */
export function keepCorePattern(pattern: string | undefined, paths: Paths): string | undefined {
  const file = paths.sys(CORE_PATTERN_KEPT);
  try {
    if (pattern === undefined) {
      rmSync(file, { force: true });
      return undefined;
    }
    if (keptPattern(paths) === pattern) return undefined;
    const dir = file.slice(0, file.lastIndexOf("/"));
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    writeDurable(dir, file.slice(dir.length + 1), `${pattern}\n`, 0o644);
    return undefined;
  } catch (err) {
    return `Cannot keep core_pattern for the next boot in "${CORE_PATTERN_KEPT}": ${err instanceof Error ? err.message : String(err)}`;
  }
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
  if (pattern === undefined) {
    // cores.mode "off" now, but the init script set the last boot's pattern:
    // back to the kernel's default, or cores would pile up where no daemon looks.
    if (previous !== undefined && previous === keptPattern(paths)) writeFileSync(file, `${KERNEL_DEFAULT_PATTERN}\n`);
    const keepProblem = keepCorePattern(undefined, paths);
    return { pattern, previous, ...(keepProblem ? { keepProblem } : {}) };
  }
  if (pattern.length > CORE_PATTERN_MAX) {
    keepCorePattern(undefined, paths); // the next boot's script sets no pattern this boot could not
    throw new Error(`Cannot set core_pattern "${pattern}": longer than ${CORE_PATTERN_MAX} characters`);
  }
  if (config.cores.mode === "watch") {
    const dir = paths.sys(config.cores.dir);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    chmodSync(dir, 0o700);
  } else {
    writeFileSync(paths.sys("/proc/sys/kernel/core_pipe_limit"), `${CORE_PIPE_LIMIT}\n`);
  }
  if (previous !== pattern) writeFileSync(file, `${pattern}\n`);
  const keepProblem = keepCorePattern(pattern, paths);
  return { pattern, previous, ...(keepProblem ? { keepProblem } : {}) };
}

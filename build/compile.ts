#!/usr/bin/env bun
// The one way to compile crashkeep (Makefile, build/dist.ts, benches):
//   bun build/compile.ts --outfile out/crashkeep [--target bun-linux-arm64] [--commit abc1234]
// Entry points: src/main.ts (tiny), src/cli/dispatch.ts (every command) and
// src/cli/<name>.ts for each COMMANDS entry with ownEntry, whose names reach
// main.ts as CRASHKEEP_ENTRIES (see the comment at the top of src/main.ts).
import { COMMANDS } from "../src/cli/commands.ts";
import { join } from "node:path";

const ROOT = join(import.meta.dir, "..");

/**
 * The `bun build` flags of every build (docs/BENCHMARKS.md "start-up" has the
 * measurements). --compile-jit-policy=16: JIT tier-up thresholds 16x the
 * default, so that code run a few times (every command runs once) stays in the
 * interpreter instead of being compiled on a JIT thread: init 110M -> 92M
 * instructions, inspect 83M -> 67M (callgrind). --bytecode-order (profiles of
 * init, copy, --version) measured worse for init (100M -> 107M) and
 * --compile-exec-argv=--smol worse everywhere (init 121M, copy 11.1M vs 8.4M):
 * neither is used.
 */
export const COMPILE_FLAGS: readonly string[] = ["--compile", "--minify", "--bytecode", "--compile-jit-policy=16"];

export function ownEntries(): string[] {
  return Object.entries(COMMANDS).filter(([, c]) => c.ownEntry).map(([name]) => name);
}

/**
 * The `bun build` argument list (without the bun executable) for one output.
 * runtime: the Bun executable to embed the program in (build/dist.ts passes
 * the npm package's own binary); without it Bun uses itself for its own
 * target and downloads any other.
 */
export function compileArgs(outfile: string, options: { target?: string; commit?: string; runtime?: string } = {}): string[] {
  const own = ownEntries();
  return [
    "build", ...COMPILE_FLAGS,
    ...(options.target ? [`--target=${options.target}`] : []),
    ...(options.runtime ? [`--compile-executable-path=${options.runtime}`] : []),
    "src/main.ts", "src/cli/dispatch.ts", ...own.map((name) => `src/cli/${name}.ts`),
    "--outfile", outfile,
    "--define", `CRASHKEEP_ENTRIES=${JSON.stringify(own.join(","))}`,
    "--define", `CRASHKEEP_COMMIT=${JSON.stringify(options.commit ?? "")}`,
  ];
}

if (import.meta.main) {
  const args = process.argv.slice(2);
  const opt = (name: string): string | undefined => {
    const i = args.indexOf(`--${name}`);
    return i >= 0 ? args[i + 1] : undefined;
  };
  const outfile = opt("outfile");
  if (!outfile) {
    console.error("Usage: bun build/compile.ts --outfile FILE [--target BUN_TARGET] [--commit SHA]");
    process.exit(2);
  }
  const target = opt("target");
  const commit = opt("commit");
  const p = Bun.spawnSync([process.execPath, ...compileArgs(outfile, { ...(target ? { target } : {}), ...(commit ? { commit } : {}) })], {
    cwd: ROOT, stdout: "inherit", stderr: "inherit",
  });
  process.exit(p.exitCode ?? 1);
}

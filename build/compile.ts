#!/usr/bin/env bun
// The one way to compile crashkeep (Makefile, build/dist.ts, benches):
//   bun build/compile.ts --outfile out/crashkeep [--target bun-linux-arm64] [--commit abc1234]
// One entry point, src/main.ts, split into chunks (ESM, --splitting): every
// import() and require() of a module is a chunk loaded when the call runs,
// so a command loads only its own code (see the comment at the top of src/main.ts).
import { join } from "node:path";

const ROOT = join(import.meta.dir, "..");

/**
 * The `bun build` flags of every build (docs/BENCHMARKS.md "start-up" and
 * "boot" have the measurements). --format=esm --splitting: each command, and
 * each module required at its point of use (zod's schemas, MQTT), is a chunk
 * of its own, loaded only by the run that calls it; against the CommonJS
 * bundle with init and copy as their own entry points: `watch --init` 27.6M
 * -> 24.1M instructions, `init --help` 10.1M -> 8.3M, the binary 0.9 MB
 * smaller (nothing is bundled twice). --compile-jit-policy=16: JIT tier-up
 * thresholds 16x the default, so that code run a few times (every command
 * runs once) stays in the interpreter instead of being compiled on a JIT
 * thread: init 110M -> 92M instructions, inspect 83M -> 67M (callgrind);
 * `watch --init` without it 30.7M, with 64 the same as 16. Measured worse or
 * no better, and not used: --bytecode-order (init 100M -> 107M),
 * --compile-exec-argv=--smol (init 121M, copy 11.1M vs 8.4M),
 * --bytecode-depth=0 / 1 (`watch --init` 64.7M / 41.8M), --no-optimize-bytecode
 * (27.9M); without --bytecode `watch --init` takes 220M.
 */
export const COMPILE_FLAGS: readonly string[] = ["--compile", "--minify", "--bytecode", "--format=esm", "--splitting", "--compile-jit-policy=16"];

/**
 * The `bun build` argument list (without the bun executable) for one output.
 * runtime: the Bun executable to embed the program in (build/dist.ts passes
 * the npm package's own binary); without it Bun uses itself for its own
 * target and downloads any other.
 */
export function compileArgs(outfile: string, options: { target?: string; commit?: string; runtime?: string } = {}): string[] {
  return [
    "build", ...COMPILE_FLAGS,
    ...(options.target ? [`--target=${options.target}`] : []),
    ...(options.runtime ? [`--compile-executable-path=${options.runtime}`] : []),
    "src/main.ts",
    "--outfile", outfile,
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

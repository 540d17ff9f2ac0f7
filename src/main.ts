#!/usr/bin/env bun
// crashkeep: argv → src/cli/<command>.ts. Only src/cli prints or exits.
//
// Kept tiny on purpose: Bun's start-up with --bytecode grows with the size of
// the bundle the executable loads, whatever part of it runs (docs/BENCHMARKS.md
// "start-up"). build/compile.ts therefore compiles this file, src/cli/dispatch.ts
// (the COMMANDS table and every command) and each command marked `ownEntry`
// in that table as separate entry points of one executable, and passes their
// names in CRASHKEEP_ENTRIES; this file loads them by a path built at run
// time, so that the bundler does not fold them into this one. Without the
// define (`bun src/main.ts`, tests, a plain `bun build --compile src/main.ts`)
// everything is one bundle, as before.
import pkg from "../package.json" with { type: "json" };
import type { CommandModule } from "./cli/commands.ts";

declare const CRASHKEEP_COMMIT: string | undefined;
/** Comma-separated commands compiled as their own entry points (set by build/compile.ts). */
declare const CRASHKEEP_ENTRIES: string | undefined;

function version(): string {
  const commit = typeof CRASHKEEP_COMMIT === "string" && CRASHKEEP_COMMIT !== "" ? ` (${CRASHKEEP_COMMIT})` : "";
  return `crashkeep ${pkg.version}${commit}`;
}

/**
 * A module of the compiled executable's own file system, by a path the
 * bundler cannot resolve. require(), not import(): the asynchronous loader
 * hands the module over between threads, which on a loaded machine cost
 * 10+ ms of waiting for a CPU (measured: `copy --help` 40 ms against 28 ms
 * for --version, with the same CPU time).
 */
function entry<T>(...parts: string[]): T {
  return require(["./cli", ...parts].join("/")) as T;
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === "--version" || name === "-V" || name === "version") {
    console.log(version());
    return 0;
  }
  if (typeof CRASHKEEP_ENTRIES !== "string") {
    const { dispatch } = require("./cli/dispatch.ts") as typeof import("./cli/dispatch.ts");
    return dispatch(argv);
  }
  if (name !== undefined && CRASHKEEP_ENTRIES.split(",").includes(name)) {
    const { invoke } = require("./cli/invoke.ts") as typeof import("./cli/invoke.ts");
    return invoke(name, entry<CommandModule>(`${name}.js`), rest);
  }
  const { dispatch } = entry<{ dispatch(argv: string[]): Promise<number> }>("dispatch.js");
  return dispatch(argv);
}

if (import.meta.main) {
  // No top-level await: --bytecode compiles the bundle as CommonJS.
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      console.error(err instanceof Error ? err.message : String(err));
      process.exitCode = 1;
    },
  );
}

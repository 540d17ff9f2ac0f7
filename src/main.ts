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

/** A module of the compiled executable's own file system, by a path the bundler cannot resolve. */
function entry<T>(...parts: string[]): Promise<T> {
  return import(["./cli", ...parts].join("/")) as Promise<T>;
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === "--version" || name === "-V" || name === "version") {
    console.log(version());
    return 0;
  }
  if (typeof CRASHKEEP_ENTRIES !== "string") {
    const { dispatch } = await import("./cli/dispatch.ts");
    return dispatch(argv);
  }
  if (name !== undefined && CRASHKEEP_ENTRIES.split(",").includes(name)) {
    const [mod, { invoke }] = await Promise.all([entry<CommandModule>(`${name}.js`), import("./cli/invoke.ts")]);
    return invoke(name, mod, rest);
  }
  const { dispatch } = await entry<{ dispatch(argv: string[]): Promise<number> }>("dispatch.js");
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

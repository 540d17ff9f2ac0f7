#!/usr/bin/env bun
// crashkeep: argv → src/cli/<command>.ts. Only src/cli prints or exits.
//
// Kept tiny on purpose: the compiled executable is one ESM bundle split
// into chunks (build/compile.ts), and a start-up pays for the chunks it loads.
// --version loads only this one; every other command loads src/cli/dispatch.ts
// (required below: a chunk loaded at the call) and then its own module's chunk
// (the COMMANDS table's import()). `bun src/main.ts` runs the same way from source.
import pkg from "../package.json" with { type: "json" };

declare const CRASHKEEP_COMMIT: string | undefined;

function version(): string {
  const commit = typeof CRASHKEEP_COMMIT === "string" && CRASHKEEP_COMMIT !== "" ? ` (${CRASHKEEP_COMMIT})` : "";
  return `crashkeep ${pkg.version}${commit}`;
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === "--version" || name === "-V" || name === "version") {
    console.log(version());
    return 0;
  }
  // require(), not import(): the asynchronous loader hands the module over
  // between threads, which on a loaded machine cost 10+ ms of waiting for a
  // CPU (measured: `copy --help` 40 ms against 28 ms for --version, with the
  // same CPU time).
  const { dispatch } = require("./cli/dispatch.ts") as typeof import("./cli/dispatch.ts");
  return dispatch(argv);
}

if (import.meta.main) {
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

// Fallback entry point for the bench when src/main.ts cannot be compiled with
// --bytecode on this branch (src/main.ts uses top-level await, which
// `bun build --bytecode` rejects in its default CJS format, and commands.ts
// names modules of other branches). Dispatches `inspect` exactly as main.ts does.
import { UsageError } from "../../src/cli/args.ts";
import { run } from "../../src/cli/inspect.ts";

const [name, ...rest] = process.argv.slice(2);
if (name !== "inspect") {
  console.error(`Unknown command "${name ?? ""}"; valid commands: inspect`);
  process.exitCode = 2;
} else {
  run(rest).then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      console.error(err instanceof Error ? err.message : String(err));
      process.exitCode = err instanceof UsageError ? 2 : 1;
    },
  );
}

#!/usr/bin/env bun
// crashkeep: argv → src/cli/<command>.ts. Only src/cli prints or exits.
import { COMMANDS } from "./cli/commands.ts";
import { failure, UsageError } from "./cli/args.ts";
import pkg from "../package.json" with { type: "json" };

declare const CRASHKEEP_COMMIT: string | undefined;

function version(): string {
  const commit = typeof CRASHKEEP_COMMIT === "string" && CRASHKEEP_COMMIT !== "" ? ` (${CRASHKEEP_COMMIT})` : "";
  return `crashkeep ${pkg.version}${commit}`;
}

function usage(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((n) => n.length));
  const lines = Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(width)}  ${c.summary}`);
  return [
    "Usage: crashkeep <command> [options]",
    "",
    "Keeps the evidence of a crash (kernel panic logs, core backtraces, log tails)",
    "in RAM reserved with memmap= across the reboot that follows it.",
    "",
    "Commands:",
    ...lines,
    "",
    "Options: --help (also after a command), --version",
    "Run 'crashkeep <command> --help' for a command's options.",
  ].join("\n");
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === "--help" || name === "-h" || name === "help") {
    if (name === "help" && rest[0] !== undefined && COMMANDS[rest[0]]) {
      const mod = await (COMMANDS[rest[0]] as { load(): Promise<{ help: string }> }).load();
      console.log(mod.help);
      return 0;
    }
    console.log(usage());
    return name === undefined ? 2 : 0;
  }
  if (name === "--version" || name === "-V" || name === "version") {
    console.log(version());
    return 0;
  }
  const entry = COMMANDS[name];
  if (!entry) {
    console.error(`Unknown command "${name}"; valid commands: ${Object.keys(COMMANDS).join(", ")}`);
    return 2;
  }
  const mod = await entry.load();
  if (rest.includes("--help") || rest.includes("-h")) {
    console.log(mod.help);
    return 0;
  }
  try {
    return await mod.run(rest);
  } catch (err) {
    if (err instanceof UsageError) {
      console.error(`crashkeep ${name}: ${err.message}`);
      console.error(`Run 'crashkeep ${name} --help' for usage.`);
      return 2;
    }
    console.error(failure(`Cannot run "crashkeep ${name}"`, err));
    return 1;
  }
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

// Every command but --version: argv → the command's module in the COMMANDS
// table. src/main.ts requires this file at run time (in the compiled binary a
// chunk of its own, see build/compile.ts), so that --version never loads it;
// each command's module is a chunk of its own too.
import { COMMANDS } from "./commands.ts";
import { invoke } from "./invoke.ts";
import pkg from "../../package.json" with { type: "json" };

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

export async function dispatch(argv: string[]): Promise<number> {
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
  return invoke(name, await entry.load(), rest);
}

// Run one command module with the binary's error voice: exit 2 and a usage
// hint for bad usage, 1 and one line on stderr for a failure (src/cli/dispatch.ts
// runs every command through it). Bad usage is told by the error's name, not
// by instanceof UsageError: a check that holds whichever copy of args.ts
// threw it (the compiled binary once had a copy per entry point).
import type { CommandModule } from "./commands.ts";

export async function invoke(name: string, mod: CommandModule, rest: string[]): Promise<number> {
  if (rest.includes("--help") || rest.includes("-h")) {
    console.log(mod.help);
    return 0;
  }
  try {
    return await mod.run(rest);
  } catch (err) {
    if (err instanceof Error && err.name === "UsageError") {
      console.error(`crashkeep ${name}: ${err.message}`);
      console.error(`Run 'crashkeep ${name} --help' for usage.`);
      return 2;
    }
    // One line in the error voice: a bare system error ("EIO: i/o error, write") gets the command's context.
    const message = err instanceof Error ? err.message : String(err);
    console.error(/^Cannot /.test(message) ? message : `Cannot run "crashkeep ${name}": ${message}`);
    return 1;
  }
}

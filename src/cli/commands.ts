// The command table: name → one-line summary and the module that runs it
// (STYLE.md rule 1). Each module exports run(args): Promise<number> and help.
export interface CommandModule {
  run(args: string[]): Promise<number>;
  help: string;
}

export interface CommandEntry {
  summary: string;
  load(): Promise<CommandModule>;
}

export const COMMANDS: Readonly<Record<string, CommandEntry>> = {
  config: { summary: "check or show the configuration", load: () => import("./config.ts") },
  copy: { summary: "copy the head or tail of a file into a device window, block-aligned", load: () => import("./copy.ts") },
  dump: { summary: "write the raw bytes of the phram device to stdout", load: () => import("./dump.ts") },
  inspect: { summary: "report on an ELF core file: signal, cause, backtraces (gdb-accurate)", load: () => import("./inspect.ts") },
  clear: { summary: "zero the phram device in aligned blocks", load: () => import("./clear.ts") },
};

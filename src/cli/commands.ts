// The command table: name → one-line summary and the module that runs it
// (STYLE.md rule 1). Each module exports run(args): Promise<number> and help.
// A new command is one entry here. Each import() is a chunk of the compiled
// executable of its own (build/compile.ts): a run loads only its command's.
export interface CommandModule {
  run(args: string[]): Promise<number>;
  help: string;
}

export interface CommandEntry {
  summary: string;
  load(): Promise<CommandModule>;
}

export const COMMANDS: Readonly<Record<string, CommandEntry>> = {
  init: { summary: "boot hook: check regions, insert modules, collect and archive the previous boot", load: () => import("./init.ts") },
  watch: { summary: "the daemon: mirror log tails into the journal (and, with core capture, watch for cores)", load: () => import("./watch.ts") },
  core: { summary: "core_pattern pipe handler: a core on stdin → a report (cores.mode pipe)", load: () => import("./core.ts") },
  status: { summary: "config, regions, modules, device, pstore and archive at a glance", load: () => import("./status.ts") },
  history: { summary: "archived boots: why each ended, panic logs", load: () => import("./history.ts") },
  config: { summary: "check or show the configuration", load: () => import("./config.ts") },
  copy: { summary: "copy the head or tail of a file into a device window, block-aligned", load: () => import("./copy.ts") },
  dump: { summary: "what the journal holds now (or, with --raw, its bytes)", load: () => import("./dump.ts") },
  inspect: { summary: "report on an ELF core file: signal, cause, backtraces (gdb-accurate)", load: () => import("./inspect.ts") },
  symbolize: { summary: "re-symbolize a device's report by build-id: names, file:line, inlined frames", load: () => import("./symbolize.ts") },
  clear: { summary: "re-format the journal (or, with --raw, zero the device)", load: () => import("./clear.ts") },
  note: { summary: "add a note (and optionally the reboot reason) to the crash journal", load: () => import("./note.ts") },
  upload: { summary: "send the outbox (archived boots, crash reports, notes) to the MQTT broker now", load: () => import("./upload.ts") },
  shutdown: { summary: "write the clean-shutdown marker into the crash journal", load: () => import("./shutdown.ts") },
  collect: { summary: "fleet side: receive uploads over MQTT, group crashes, crash-free boots per firmware, web page + API", load: () => import("./collect.ts") },
};

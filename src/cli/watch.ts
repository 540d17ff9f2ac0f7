// crashkeep watch: the daemon. Mirrors the configured log tails into the
// journal every logs.intervalSeconds and on SIGUSR1; stops cleanly on
// SIGTERM/SIGINT after a last mirror pass.
import { parseArgs } from "./args.ts";
import { ConfigError, journalDevice, loadConfig, parseConfig } from "../config/load.ts";
import type { Config } from "../config/schema.ts";
import { openDevice } from "../copy/block-device.ts";
import { openJournal } from "../journal/journal.ts";
import { mirrorAll } from "../daemon/log-mirror.ts";
import { makePaths } from "../system/paths.ts";

export const help = `Usage: crashkeep watch [--config FILE] [--device PATH] [--once]

The daemon (started by /etc/init.d/S03crashkeep after "crashkeep init"):
mirrors the tail of each configured log (logs.files) into the journal every
logs.intervalSeconds, and at once on SIGUSR1, so that the next boot can
archive the last lines written before a panic, hang or reset. SIGTERM or
SIGINT: one last pass, then exit 0.

--once     one pass, then exit (for scripts and tests)
--device   the journal device (default journal.device, else /dev/mtdchar/<phram.name>)`;

/** Repeated failures of the same log are said once per this many passes, not every pass. */
const REPEAT_ERROR_EVERY = 150;

export async function run(args: string[]): Promise<number> {
  const { values, flags } = parseArgs(args, { values: ["config", "device"], flags: ["once"] });
  const paths = makePaths();
  let config: Config;
  try {
    config = loadConfig(values.get("config"), { paths }).config;
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    for (const line of err.message.split("\n")) console.error(line);
    console.error("crashkeep watch: continuing with the default config");
    config = parseConfig({});
  }
  const path = values.get("device") ?? journalDevice(config, paths);
  const device = openDevice(path, { write: true, paths });
  const journal = openJournal(device, { paths });
  const lastError = new Map<string, { text: string; passes: number }>();
  const pass = () => {
    for (const r of mirrorAll(journal, config).results) {
      if (r.error === undefined) {
        lastError.delete(r.path);
        continue;
      }
      const prev = lastError.get(r.path);
      if (!prev || prev.text !== r.error || prev.passes >= REPEAT_ERROR_EVERY) {
        console.error(`Cannot mirror "${r.path}": ${r.error}`);
        lastError.set(r.path, { text: r.error, passes: 0 });
      } else {
        prev.passes++;
      }
    }
  };
  pass();
  if (flags.has("once")) {
    device.close();
    return 0;
  }
  return await new Promise<number>((resolve) => {
    const timer = setInterval(pass, config.logs.intervalSeconds * 1000);
    const stop = () => {
      clearInterval(timer);
      try {
        pass();
      } finally {
        device.close();
        resolve(0);
      }
    };
    process.on("SIGTERM", stop);
    process.on("SIGINT", stop);
    process.on("SIGUSR1", pass);
  });
}

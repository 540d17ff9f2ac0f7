// crashkeep upload [--once] [--json]: send what the outbox holds now (for
// cron, a test, or a device without the daemon). Exit 0 when the outbox is
// empty afterwards, 1 when entries remain.
import { parseArgs } from "./args.ts";
import { loadConfig } from "../config/load.ts";
import { makePaths } from "../system/paths.ts";
import { credentialProblems } from "../upload/client.ts";
import { backoffMs } from "../upload/backoff.ts";
import { outboxDir, outboxUsage } from "../upload/outbox.ts";

export const help = `Usage: crashkeep upload [--once] [--json] [--config FILE]

Send the messages waiting in the outbox (<archive.dir>/outbox) to the MQTT
broker(s) of upload.broker, oldest first; each is deleted after its PUBACK.
Without --once, a failed connection is retried with the daemon's backoff
(upload.minBackoffSeconds doubling up to upload.maxBackoffSeconds) until the
outbox is empty or SIGINT/SIGTERM; with --once, every broker is tried once.
Exit status: 0 when the outbox is empty afterwards, 1 when entries remain.

--json   print the result as JSON on stdout: sent, remaining, error, refused,
         broker (log lines still go to stderr); the daemon runs
         "crashkeep upload --once --json" for each flush`;

function say(line: string): void {
  console.error(`crashkeep upload: ${line}`);
}

export async function run(args: string[]): Promise<number> {
  const { values, flags } = parseArgs(args, { values: ["config"], flags: ["once", "json"] });
  const paths = makePaths();
  const { config } = loadConfig(values.get("config"), { paths });
  const dir = outboxDir(paths.sys(config.archive.dir));
  const print = (r: { sent: number; remaining: number; error: string | undefined; refused?: boolean; broker?: string | undefined }) => {
    if (flags.has("json")) console.log(JSON.stringify({ sent: r.sent, remaining: r.remaining, error: r.error ?? null, refused: r.refused ?? false, broker: r.broker ?? null }));
    else console.log(`sent ${r.sent}, ${r.remaining} left${r.error ? `: ${r.error}` : ""}`);
  };
  if (config.upload.broker === undefined) {
    const left = outboxUsage(dir).entries;
    print({ sent: 0, remaining: left, error: left > 0 ? "upload is off (no upload.broker)" : undefined });
    return left > 0 ? 1 : 0;
  }
  const problems = credentialProblems(config, paths);
  if (problems.length > 0) {
    for (const p of problems) console.error(`Cannot use config: ${p}`);
    print({ sent: 0, remaining: outboxUsage(dir).entries, error: problems[0], refused: true });
    return 1;
  }
  const abort = new AbortController();
  const stop = () => abort.abort();
  process.on("SIGINT", stop);
  process.on("SIGTERM", stop);
  const { flushOutbox } = await import("../upload/flush.ts");
  const log = say;
  let total = 0;
  for (let failures = 0; ; ) {
    const r = await flushOutbox(config, paths, { log, signal: abort.signal });
    total += r.sent;
    if (r.remaining === 0 || flags.has("once") || abort.signal.aborted || r.refused) {
      print({ sent: total, remaining: r.remaining, error: r.error, refused: r.refused, broker: r.broker });
      return r.remaining === 0 ? 0 : 1;
    }
    failures = r.sent > 0 ? 1 : failures + 1;
    const wait = backoffMs(failures, config);
    log(`${r.remaining} left (${r.error ?? "unknown"}); next try in ${Math.round(wait / 1000)} s`);
    await new Promise<void>((resolve) => {
      const t = setTimeout(resolve, wait);
      abort.signal.addEventListener("abort", () => {
        clearTimeout(t);
        resolve();
      });
    });
  }
}

// The daemon's sender: notices what init, the pipe handler, `note` or the
// watcher queued, sends it upload.delaySeconds later (with jitter), and
// retries with backoff while no broker takes it. One flush at a time.
//
// Each flush is a child process, `crashkeep upload --once --json`: MQTT.js
// and TLS cost ~9 MiB of anonymous memory once loaded (bench/upload), which
// the daemon would otherwise keep for the rest of its life; the child
// returns it to the system when it exits.
import { readdirSync } from "node:fs";
import type { Config } from "../config/schema.ts";
import type { Paths } from "../system/paths.ts";
import { backoffMs, delayMs } from "./backoff.ts";
import { DROPPED_FILE, outboxDir } from "./outbox.ts";
import type { FlushResult } from "./flush.ts";

export interface SenderEvents {
  log(line: string): void;
  /** After every flush (tests, status). */
  flushed?(result: FlushResult): void;
}

export class Sender {
  readonly #config: Config;
  readonly #paths: Paths;
  readonly #events: SenderEvents;
  readonly #dir: string;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #dueMs: number | undefined;
  #failures = 0;
  #flushing: Promise<void> | undefined;
  readonly #abort = new AbortController();
  readonly #configFile: string | undefined;

  /** configFile: what the child reads (the daemon's --config; else CRASHKEEP_CONFIG or the default, as the daemon did). */
  constructor(config: Config, paths: Paths, events: SenderEvents & { configFile?: string | undefined }) {
    this.#configFile = events.configFile;
    this.#config = config;
    this.#paths = paths;
    this.#events = events;
    this.#dir = outboxDir(paths.sys(config.archive.dir));
  }

  /** Anything waiting? A directory listing only: called on every daemon pass, it must stay cheap. */
  #waiting(): boolean {
    try {
      return readdirSync(this.#dir).some((n) => n.endsWith(".json") && !n.startsWith(".") && (/^\d/.test(n) || n === DROPPED_FILE));
    } catch {
      return false;
    }
  }

  /** Called on every daemon pass and after a report: schedule a flush when something waits and none is due. */
  poke(): void {
    if (this.#abort.signal.aborted || this.#flushing || this.#timer || !this.#waiting()) return;
    this.#schedule(delayMs(this.#config));
  }

  #schedule(ms: number): void {
    this.#dueMs = Date.now() + ms;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#dueMs = undefined;
      this.#flushing = this.#flush().finally(() => {
        this.#flushing = undefined;
      });
    }, ms);
  }

  async #flush(): Promise<void> {
    const result = await this.#runChild();
    this.#events.flushed?.(result);
    if (result.sent > 0) this.#events.log(`sent ${result.sent} message(s)${result.broker ? ` to ${result.broker}` : ""}, ${result.remaining} left`);
    if (this.#abort.signal.aborted) return;
    if (result.remaining === 0) {
      this.#failures = 0;
      return;
    }
    this.#failures = result.sent > 0 ? 1 : this.#failures + 1;
    const wait = backoffMs(this.#failures, this.#config);
    this.#events.log(`${result.remaining} message(s) left (${result.error ?? "unknown"}); next try in ${Math.round(wait / 1000)} s`);
    this.#schedule(wait);
  }

  /** `crashkeep upload --once --json` with this daemon's config; its log lines are relayed. */
  async #runChild(): Promise<FlushResult> {
    const self = Bun.main.startsWith("/$bunfs/") ? [process.execPath] : [process.execPath, Bun.main];
    const args = [...self, "upload", "--once", "--json", ...(this.#configFile ? ["--config", this.#configFile] : [])];
    let child: ReturnType<typeof Bun.spawn<"ignore", "pipe", "pipe">>;
    try {
      child = Bun.spawn(args, { stdin: "ignore", stdout: "pipe", stderr: "pipe" });
    } catch (err) {
      return { sent: 0, remaining: 1, error: `Cannot start "${args.join(" ")}": ${err instanceof Error ? err.message : String(err)}`, refused: false, broker: undefined };
    }
    const stop = () => child.kill("SIGTERM");
    this.#abort.signal.addEventListener("abort", stop);
    const relay = (async () => {
      let rest = "";
      for await (const chunk of child.stderr) {
        rest += new TextDecoder().decode(chunk);
        const lines = rest.split("\n");
        rest = lines.pop() ?? "";
        for (const line of lines) if (line) this.#events.log(line.replace(/^crashkeep upload: /, ""));
      }
      if (rest) this.#events.log(rest.replace(/^crashkeep upload: /, ""));
    })();
    const [out] = await Promise.all([new Response(child.stdout).text(), relay, child.exited]);
    this.#abort.signal.removeEventListener("abort", stop);
    try {
      const r = JSON.parse(out.trim().split("\n").pop() ?? "") as { sent: number; remaining: number; error: string | null; refused?: boolean; broker?: string | null };
      return { sent: r.sent, remaining: r.remaining, error: r.error ?? undefined, refused: r.refused ?? false, broker: r.broker ?? undefined };
    } catch {
      return { sent: 0, remaining: 1, error: `"crashkeep upload" exited with ${child.exitCode ?? child.signalCode} without a result`, refused: false, broker: undefined };
    }
  }

  /** When the next flush is due (ms since the epoch), if one is. */
  get dueMs(): number | undefined {
    return this.#dueMs;
  }

  /** Stop: no new publishes; a flush in progress finishes its window first. */
  async stop(): Promise<void> {
    this.#abort.abort();
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.#flushing;
  }
}

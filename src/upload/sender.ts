// The daemon's sender: notices what init, the pipe handler, `note` or the
// watcher queued, sends it upload.delaySeconds later (with jitter), and
// retries with backoff while no broker takes it. One flush at a time.
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

  constructor(config: Config, paths: Paths, events: SenderEvents) {
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
    // Loaded on first use: with nothing to send the daemon never pays for MQTT.js.
    const { flushOutbox } = await import("./flush.ts");
    let result: FlushResult;
    try {
      result = await flushOutbox(this.#config, this.#paths, { log: this.#events.log, signal: this.#abort.signal });
    } catch (err) {
      result = { sent: 0, remaining: 1, error: err instanceof Error ? err.message : String(err), refused: false, broker: undefined };
    }
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

// The rollback in the daemon (`watch`, one process per boot): once the
// previous boot is archived (watch --init) and the updater answers, decide
// for the install now booted (policy.ts) and act: mark it good, keep it on
// probation with a timer, count a crash loop and reboot for the next try, or
// roll it back. Never blocks the boot: the updater is waited for in the
// background, bounded (BACKEND_WAIT_MS). Every step is kept where a kill or
// a power cut cannot lose it twice: the journal (this boot's events) and
// the archive (rollback entries); docs/ROLLBACK.md "Steps and faults".
import { statSync } from "node:fs";
import type { Config } from "../config/schema.ts";
import type { Paths } from "../system/paths.ts";
import { readUptime } from "../system/uptime.ts";
import { appendRecord, readControlBlock, readJournal, type Journal } from "../journal/journal.ts";
import { queueRollback } from "../upload/queue.ts";
import { MAX_BAD_BOOTS, type BadBoot, type RollbackBody } from "../upload/payload.ts";
import { BACKEND_RETRY_MS, BACKEND_WAIT_MS, BACKEND_WAIT_ONCE_MS, makeBackend, waitForBackend, type Backend, type SlotState } from "./backend.ts";
import { appendEvent, eventsOf, type RollbackEvent } from "./events.ts";
import { archiveRollback, bootsOf, policyInputs, readHistory, rollbackOfInstall, type HistoryItem, type RollbackFacts } from "./history.ts";
import { decide, type Decision, type Moment } from "./policy.ts";
import { runCommand, shell } from "./run-command.ts";

/** How long rollback.rebootCommand may take to return (reboot(8) returns at once; the system then goes down). */
export const REBOOT_TIMEOUT_MS = 60_000;
/** Tries of mark-good when the updater fails it, and the wait between two. */
const MARK_GOOD_TRIES = 5;
const MARK_GOOD_RETRY_MS = 30_000;
/** The pipe handler's rate-limit state (daemon/capture.ts RATE_STATE_FILE): it changes when a crash is counted. */
const RATE_STATE_FILE = "/run/crashkeep/rate.json";

export interface RollbackContext {
  config: Config;
  paths: Paths;
  journal: Journal | undefined;
  bootId: string;
  log(line: string): void;
  /** watch --once: no timer is left behind; probation already over is acted on at once. */
  once?: boolean;
}

type Events = Array<RollbackEvent & { timeMs: number }>;


function failure(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

export class RollbackDaemon {
  readonly #ctx: RollbackContext;
  #backend: Backend | undefined;
  #state: SlotState | undefined;
  #chain: Promise<void> = Promise.resolve();
  #timer: ReturnType<typeof setTimeout> | undefined;
  #stopped = false;
  /** A reboot (rollback or count-bad) is under way: nothing more is decided in this process. */
  #leaving = false;
  #rateMtime = 0;
  #failures = 0;

  constructor(ctx: RollbackContext) {
    this.#ctx = ctx;
  }

  /** Steps run one at a time, in order; each logs its own failure. */
  #run(step: () => Promise<void>): Promise<void> {
    this.#chain = this.#chain.then(async () => {
      if (this.#stopped || this.#leaving) return;
      try {
        await step();
      } catch (err) {
        this.#failures++;
        this.#ctx.log(failure(err));
      }
    });
    return this.#chain;
  }

  /** Wait for the updater and decide at the start of this boot (in the background). */
  start(): Promise<void> {
    return this.#run(() => this.#start());
  }

  /** A critical executable crash-looped (its event is in the journal): decide now. */
  crashLoop(): Promise<void> {
    return this.#run(() => this.#decideNow());
  }

  /** Each daemon pass: the pipe handler counts crashes in another process; a change of its state is looked at. */
  pass(): void {
    if (this.#ctx.config.cores.mode !== "pipe" || this.#state === undefined) return;
    let mtime = 0;
    try {
      mtime = statSync(this.#ctx.paths.sys(RATE_STATE_FILE)).mtimeMs;
    } catch {
      return;
    }
    if (mtime === this.#rateMtime) return;
    this.#rateMtime = mtime;
    void this.#run(() => this.#decideNow());
  }

  #problems(lines: string[]): void {
    for (const line of lines) {
      this.#failures++;
      this.#ctx.log(line);
    }
  }

  /** Steps that failed (each said in its log line). */
  get failures(): number {
    return this.#failures;
  }

  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#timer);
  }

  /** Resolves once every step queued is done, those queued meanwhile included (watch --once). */
  async idle(): Promise<void> {
    for (let seen: Promise<void> | undefined; seen !== this.#chain; ) {
      seen = this.#chain;
      await seen;
    }
  }

  #events(): Events {
    const journal = this.#ctx.journal;
    if (!journal) return [];
    return eventsOf(readJournal(journal).records.filter((r) => r.kind === "rollback"), this.#ctx.bootId);
  }

  /** When this boot started (init's record in the journal): the same for every run in this boot. */
  #bootStart(): Date {
    const journal = this.#ctx.journal;
    const ms = journal ? readControlBlock(journal, "read the boot start from").bootStartMs : null;
    return new Date(ms ?? Date.now());
  }

  #archiveDir(): string {
    return this.#ctx.paths.sys(this.#ctx.config.archive.dir);
  }

  async #start(): Promise<void> {
    const { config, paths, log } = this.#ctx;
    if (!this.#ctx.journal) throw new Error("Cannot decide the rollback: no journal (the boots' evidence and this boot's events live there)");
    this.#backend = await makeBackend(config, paths);
    const state = await waitForBackend(this.#backend, { timeoutMs: this.#ctx.once ? BACKEND_WAIT_ONCE_MS : BACKEND_WAIT_MS, retryMs: BACKEND_RETRY_MS, stopped: () => this.#stopped });
    this.#state = state;
    const history = readHistory(this.#archiveDir());
    const inputs = policyInputs(history, state, config);
    const events = this.#events();
    const moment = this.#moment(events);
    // Probation passed in this boot already (a daemon started again): nothing is left to decide.
    const decision = decide({ ...inputs, moment: moment === "passed" ? "start" : moment });
    // The fallback is archived before this boot's facts: a kill between leaves no facts, and the next look finds the entry.
    if (decision.reportFallback && state.fellBackFrom) this.#reportFallback(state, history);
    if (!events.some((e) => e.event === "boot")) {
      const onProbation = decision.action !== "good" && !inputs.knownGood;
      appendEvent(this.#ctx.journal, { v: 1, event: "boot", slot: state.booted, install: state.install, firmware: state.firmware, onProbation, fellBackFrom: state.fellBackFrom ? { slot: state.fellBackFrom.slot, install: state.fellBackFrom.install } : null });
    }
    if (moment === "passed") {
      log(`slot ${state.booted} (${state.install}): passed probation in this boot, marked good already`);
      return;
    }
    log(`slot ${state.booted} (${state.install}): ${inputs.factory ? "the first install seen, " : ""}${this.#describe(decision)}`);
    await this.#act(decision, state, history, events);
  }

  /** Where this boot stands: a crash loop recorded before any "good" is the crash-loop moment. */
  #moment(events: Events): Moment | "passed" {
    const first = events.find((e) => e.event === "good" || e.event === "crash-loop");
    return first?.event === "crash-loop" ? "crash-loop" : first?.event === "good" ? "passed" : "start";
  }

  #describe(d: Decision): string {
    const max = this.#ctx.config.rollback.maxBadBoots;
    switch (d.action) {
      case "good": return "good, marking it good";
      case "on-probation": return `on probation (${d.badBoots} of ${max} bad boots so far)`;
      case "mark-good": return "probation passed, marking it good";
      case "count-bad": return `bad boot ${d.badBoots} of ${max}`;
      case "roll-back": return `rolling back (${d.badBoots} of ${max} bad boots)`;
      case "ignore": return "nothing to do";
    }
  }

  async #decideNow(): Promise<void> {
    const state = this.#state;
    if (!state) return; // the start decides once the updater answers; it reads the journal's events then
    const events = this.#events();
    const moment = this.#moment(events);
    if (moment !== "crash-loop") return;
    const history = readHistory(this.#archiveDir());
    const decision = decide({ ...policyInputs(history, state, this.#ctx.config), moment });
    this.#ctx.log(`crash loop of a critical executable on slot ${state.booted}: ${this.#describe(decision)}`);
    await this.#act(decision, state, history, events);
  }

  async #act(decision: Decision, state: SlotState, history: HistoryItem[], events: Events): Promise<void> {
    const backend = this.#backend;
    if (!backend) return;
    if (decision.action === "good") await this.#markGood(backend, false);
    else if (decision.action === "on-probation" && this.#moment(events) === "start") this.#armTimer();
    else if (decision.action === "count-bad") await this.#countBad(state, decision);
    else if (decision.action === "roll-back") await this.#rollBack(backend, state, history, events, decision);
  }

  #armTimer(): void {
    const { config, paths, log } = this.#ctx;
    const left = Math.max(0, config.rollback.probationSeconds - (readUptime(paths) ?? 0));
    log(`marking slot ${this.#state?.booted} good after ${Math.ceil(left)} s more without a bad verdict`);
    clearTimeout(this.#timer);
    if (this.#ctx.once) {
      if (left === 0) void this.#run(() => this.#probationElapsed());
      return;
    }
    this.#timer = setTimeout(() => void this.#run(() => this.#probationElapsed()), left * 1000);
  }

  async #probationElapsed(): Promise<void> {
    const state = this.#state;
    const backend = this.#backend;
    if (!state || !backend) return;
    const events = this.#events();
    if (this.#moment(events) !== "start") return; // a crash loop came first (never marked good), or marked good already
    const decision = decide({ ...policyInputs(readHistory(this.#archiveDir()), state, this.#ctx.config), moment: "probation-elapsed" });
    if (decision.action !== "mark-good") return;
    await this.#markGood(backend, true);
  }

  /** Mark good; `passed`: probation passed, recorded in the journal once the updater took it. */
  async #markGood(backend: Backend, passed: boolean): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        await backend.markGood();
        break;
      } catch (err) {
        if (attempt >= MARK_GOOD_TRIES || this.#stopped) throw err;
        this.#ctx.log(`${failure(err)}; trying again in ${MARK_GOOD_RETRY_MS / 1000} s`);
        await Bun.sleep(MARK_GOOD_RETRY_MS);
      }
    }
    if (passed && this.#ctx.journal) {
      appendEvent(this.#ctx.journal, { v: 1, event: "good" });
      this.#ctx.log(`slot ${this.#state?.booted} passed probation: marked good`);
    } else this.#ctx.log(`slot ${this.#state?.booted} marked good`);
  }

  /** A bad boot below maxBadBoots: say why in the journal, then reboot cleanly so that the next try comes. */
  async #countBad(state: SlotState, decision: Decision): Promise<void> {
    const loop = this.#events().find((e) => e.event === "crash-loop");
    const what = loop?.event === "crash-loop" ? `crash loop of ${loop.executable}` : "bad boot";
    this.#note(`${what} on slot ${state.booted}: bad boot ${decision.badBoots} of ${this.#ctx.config.rollback.maxBadBoots}, rebooting for the next try`);
    await this.#reboot();
  }

  #note(text: string): void {
    const journal = this.#ctx.journal;
    if (!journal) return;
    // Run again after a kill: the reason is there already, not noted twice.
    if (readControlBlock(journal, "read the noted reason from").notedReason?.text === text) return;
    appendRecord(journal, { kind: "note", payload: new TextEncoder().encode(text) }, { notedReason: text });
  }

  async #reboot(): Promise<void> {
    this.#leaving = true;
    clearTimeout(this.#timer);
    const command = this.#ctx.config.rollback.rebootCommand;
    this.#ctx.log(`rebooting: ${command}`);
    await runCommand(shell(command), { what: "reboot", timeoutMs: REBOOT_TIMEOUT_MS });
  }

  #badBoots(history: readonly HistoryItem[], slot: string, install: string | null): BadBoot[] {
    if (install === null) return [];
    return bootsOf(history, slot, install)
      .filter((b) => b.facts.verdict === "bad")
      .map((b) => ({ slot, bootId: b.bootId, reason: b.facts.reason, detail: b.facts.detail, executable: b.facts.executable, signature: null, endedAt: b.endedAt }));
  }

  async #rollBack(backend: Backend, state: SlotState, history: HistoryItem[], events: Events, decision: Decision): Promise<void> {
    const { config, paths, log } = this.#ctx;
    // 1. The archive entry (once per install: a run again finds it), 2. the upload message (same id: queued once).
    let facts: RollbackFacts | undefined = rollbackOfInstall(history, state.booted, state.install, "crashkeep")?.facts;
    if (!facts) {
      const badBoots = this.#badBoots(history, state.booted, state.install);
      const loop = events.find((e) => e.event === "crash-loop");
      if (loop?.event === "crash-loop") {
        badBoots.push({ slot: state.booted, bootId: this.#ctx.bootId, reason: "crash-loop", detail: `${loop.executable} crashed more than ${Math.max(0, loop.crashes - 1)} times in the minute from ${loop.windowStart}`, executable: loop.executable, signature: null, endedAt: new Date(loop.timeMs).toISOString() });
      }
      const now = new Date();
      facts = archiveRollback(config, this.#archiveDir(), {
        trigger: "crashkeep",
        fromSlot: state.booted,
        fromFirmware: state.firmware,
        toSlot: state.other?.slot ?? null,
        toFirmware: state.other?.firmware ?? null,
        badBoots: badBoots.slice(-MAX_BAD_BOOTS),
        decidedAt: now.toISOString(),
        install: state.install,
        decidedInBoot: this.#ctx.bootId,
      }, { now, bootStart: this.#bootStart() }).facts;
      log(`archived ${facts.archiveId}`);
    }
    // A message that cannot be queued is said (exit 1 with --once) but does not hold the rollback up: a run again queues it.
    this.#problems(queueRollback(config, paths, bodyOf(facts)));
    // 3. The updater: idempotent (a second mark-bad of a bad slot changes nothing).
    await backend.markBadAndSwitch();
    // 4. Why this boot ends, then 5. the clean reboot.
    const reasons = facts.badBoots.map((b) => b.reason).join(", ");
    this.#note(`rollback from slot ${state.booted}${state.firmware ? ` (${state.firmware})` : ""}: ${decision.badBoots} bad boot(s) on probation${reasons ? `: ${reasons}` : ""}`);
    await this.#reboot();
  }

  #reportFallback(state: SlotState, history: HistoryItem[]): void {
    const from = state.fellBackFrom;
    if (!from) return;
    const { config, paths, log } = this.#ctx;
    const badBoots = this.#badBoots(history, from.slot, from.install);
    if (badBoots.length === 0) {
      badBoots.push({ slot: from.slot, bootId: null, reason: "never-reached-crashkeep", detail: `slot ${from.slot} never reached crashkeep: the bootloader's own counter fell back to slot ${state.booted}`, executable: null, signature: null, endedAt: null });
    }
    const now = new Date();
    const { facts } = archiveRollback(config, this.#archiveDir(), {
      trigger: "bootloader",
      fromSlot: from.slot,
      fromFirmware: from.firmware,
      toSlot: state.booted,
      toFirmware: state.firmware,
      badBoots: badBoots.slice(-MAX_BAD_BOOTS),
      decidedAt: now.toISOString(),
      install: from.install,
      decidedInBoot: this.#ctx.bootId,
    }, { now, bootStart: this.#bootStart() });
    log(`slot ${from.slot} never reached crashkeep: the bootloader fell back to slot ${state.booted}; archived ${facts.archiveId}`);
    this.#problems(queueRollback(config, paths, bodyOf(facts)));
  }
}

/** The upload body: the archived facts without the device-side keys. */
function bodyOf(f: RollbackFacts): RollbackBody {
  return { archiveId: f.archiveId, trigger: f.trigger, fromSlot: f.fromSlot, fromFirmware: f.fromFirmware, toSlot: f.toSlot, toFirmware: f.toFirmware, badBoots: f.badBoots, decidedAt: f.decidedAt };
}

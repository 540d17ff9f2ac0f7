// Reports per executable per minute (cores.reportsPerMinute): a crash loop
// becomes a few reports and one "suppressed N" record, not a flood that
// evicts every older record from the journal ring. The state is a small
// JSON file under /run, so the pipe handler (a new process per crash)
// counts across crashes too.
import { readFileSync, writeFileSync, renameSync, mkdirSync, unlinkSync } from "node:fs";
import { basename, dirname } from "node:path";
import { removeStaleTemps, tempName } from "../archive/temp-files.ts";

export const RATE_WINDOW_MS = 60_000;
/** Executables tracked at once; the least recently seen are forgotten first. */
const MAX_TRACKED_EXES = 64;

interface Window {
  start: number;
  reported: number;
  suppressed: number;
}

export interface Decision {
  report: boolean;
  /** Crashes of exe suppressed in its current window, this one included (0 when reported): 1 is a crash loop's start. */
  suppressed: number;
  /** A window that ended with crashes suppressed: write its "suppressed N" record. */
  flush: { exe: string; suppressed: number; windowStart: number } | undefined;
}

export class RateLimiter {
  #windows = new Map<string, Window>();

  constructor(
    readonly perMinute: number,
    readonly stateFile?: string,
  ) {
    if (stateFile) this.#load(stateFile);
  }

  #load(file: string): void {
    try {
      const data = JSON.parse(readFileSync(file, "utf8")) as Record<string, Window>;
      for (const [exe, w] of Object.entries(data).slice(0, MAX_TRACKED_EXES)) {
        if (typeof w?.start === "number" && typeof w.reported === "number" && typeof w.suppressed === "number") this.#windows.set(exe, w);
      }
    } catch {
      // no state yet, or a damaged one: start counting afresh
    }
  }

  save(): void {
    if (!this.stateFile) return;
    const dir = dirname(this.stateFile);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const prefix = `${basename(this.stateFile)}.tmp`;
    removeStaleTemps(dir, prefix);
    const tmp = `${dir}/${tempName(prefix)}`;
    try {
      writeFileSync(tmp, JSON.stringify(Object.fromEntries(this.#windows)), { mode: 0o600 });
      renameSync(tmp, this.stateFile);
    } catch (err) {
      try {
        unlinkSync(tmp);
      } catch {
        // never created
      }
      throw err;
    }
  }

  /** Count one crash of exe at time now. */
  decide(exe: string, now: number): Decision {
    let w = this.#windows.get(exe);
    let flush: Decision["flush"];
    if (w && now - w.start >= RATE_WINDOW_MS) {
      if (w.suppressed > 0) flush = { exe, suppressed: w.suppressed, windowStart: w.start };
      w = undefined;
    }
    if (!w) {
      w = { start: now, reported: 0, suppressed: 0 };
      if (this.#windows.size >= MAX_TRACKED_EXES) {
        const oldest = [...this.#windows.entries()].sort((a, b) => a[1].start - b[1].start)[0];
        if (oldest) this.#windows.delete(oldest[0]);
      }
    }
    this.#windows.delete(exe);
    this.#windows.set(exe, w);
    if (w.reported < this.perMinute) {
      w.reported++;
      return { report: true, suppressed: 0, flush };
    }
    w.suppressed++;
    return { report: false, suppressed: w.suppressed, flush };
  }

  /** When exe's current window started (ms), if one is open. */
  windowStart(exe: string): number | undefined {
    return this.#windows.get(exe)?.start;
  }

  /** Windows with suppressed crashes (all of them with force, else only ended ones), cleared. */
  drain(now: number, force = false): Array<{ exe: string; suppressed: number; windowStart: number }> {
    const out: Array<{ exe: string; suppressed: number; windowStart: number }> = [];
    for (const [exe, w] of this.#windows) {
      if (w.suppressed > 0 && (force || now - w.start >= RATE_WINDOW_MS)) {
        out.push({ exe, suppressed: w.suppressed, windowStart: w.start });
        w.suppressed = 0;
      }
    }
    return out;
  }
}

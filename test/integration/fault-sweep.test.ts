// Issue 14: the compiled binary, killed or failed by the kernel at every
// call that moves evidence (strace fault injection, no test hook in the
// product). For each path of fault/paths.ts, a fault-free traced run counts
// the calls; then for every call N of every swept syscall:
//   kill at N, run again           → everything kept exactly once, no temp files;
//   EIO / ENOSPC at N              → exit 0 with everything kept, or a clear error
//                                    line, non-zero exit and nothing lost;
//                                    then a fault-free run keeps everything.
// SWEEP_PATHS=init,watch (a substring of a path's name) narrows the run; a
// name that matches no path fails the run (a typo must not pass as a sweep of
// nothing). Without out/crashkeep or strace: skipped, saying so, except under
// CI, where it fails (test/needs.ts).
import { describe, expect, test } from "bun:test";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { countCalls, FAULTS, pool, run, runFaulted, type Fault, type Run, type SweptSyscall } from "./fault/strace.ts";
import { BINARY, dropScenario, leftovers, PATHS, scenarioFrom, type SweepPath } from "./fault/paths.ts";
import { file, needs, tool } from "../needs.ts";

const only = (process.env.SWEEP_PATHS ?? "").split(",").filter(Boolean);
const selected = PATHS.filter((p) => only.length === 0 || only.some((o) => p.name.includes(o)));
const need = needs({ "out/crashkeep (make build)": file(BINARY), "strace (make deps)": tool("strace") });

/** A line of crashkeep's error voice (STYLE.md rule 9), or the loader's / runtime's own one-line refusal. */
function clearError(r: Run): string | undefined {
  const lines = `${r.stderr}${r.stdout}`.split("\n").filter((l) => l.trim() !== "");
  return lines.find((l) => /Cannot [a-z]|error while loading shared libraries|^crashkeep [a-z]+: /.test(l));
}

/** A JavaScript stack trace or a runtime crash report: never a clear error. */
function crashed(r: Run): boolean {
  return /^\s+at .+:\d+|Bun has crashed|panic\(|Segmentation fault|Illegal instruction/m.test(`${r.stderr}${r.stdout}`);
}

interface Outcome {
  path: string;
  point: string;
  fault: Fault;
  /** What the faulted run did: "killed", "exit N", "exit 0". */
  result: string;
  problems: string[];
}

async function sweepOne(path: SweepPath, template: string, syscall: SweptSyscall, n: number, fault: Fault, inStartup: boolean): Promise<Outcome> {
  const s = scenarioFrom(template);
  const point = `${syscall} #${n}`;
  const problems: string[] = [];
  try {
    path.prepare?.(s);
    const log = path.log?.(s);
    const logged = log && existsSync(log) ? readFileSync(log, "utf8").length : 0;
    const faulted = await runFaulted(path.invocation(s), syscall, n, fault);
    const result = faulted.signal ? `signal ${faulted.signal}` : `exit ${faulted.code}`;
    // What the run said: stderr, stdout and (the pipe handler) its new lines in /dev/kmsg.
    if (log && existsSync(log)) faulted.stderr += readFileSync(log, "utf8").slice(logged);
    const said = `${faulted.stderr}${faulted.stdout}`;
    // Bun aborts when its own start-up reads fail (e.g. /proc/self/maps): the
    // runtime's refusal, before any crashkeep code; nothing may have changed.
    if (crashed(faulted) && !(inStartup && fault !== "kill")) problems.push(`crashed: ${`${faulted.stderr}${faulted.stdout}`.slice(0, 400)}`);
    if (fault === "kill") {
      if (faulted.signal !== "SIGKILL" && faulted.code === 0) {
        problems.push(...(await path.complete(s, { notes: 0 }, said)).map((p) => `not killed, exit 0 but ${p}`));
      } else if (faulted.signal === "SIGKILL") {
        problems.push(...(await path.intact(s, path.snapshot(s))).map((p) => `after the kill: ${p}`));
      }
    } else if (faulted.code === 0) {
      problems.push(...(await path.complete(s, { notes: 0 }, said)).map((p) => `exit 0 but ${p}`));
    } else {
      if (!clearError(faulted) && !(inStartup && crashed(faulted))) problems.push(`exit ${result} without a clear error line: ${JSON.stringify(`${faulted.stderr}${faulted.stdout}`.slice(0, 300))}`);
      problems.push(...(await path.intact(s, path.snapshot(s))).map((p) => `after the failure: ${p}`));
    }
    if (faulted.code !== 0) {
      // The same command again, no fault: everything kept, once, nothing half-written left.
      const before = path.snapshot(s);
      const again = await run(path.invocation(s));
      if (again.code !== 0) problems.push(`the run after it exited ${again.code ?? again.signal}: ${`${again.stderr}${again.stdout}`.trim().slice(0, 300)}`);
      problems.push(...(await path.complete(s, before, said)).map((p) => `after the run again: ${p}`));
    }
    const left = leftovers(s.root);
    if (left.length > 0) problems.push(`left behind: ${left.join(", ")}`);
    return { path: path.name, point, fault, result, problems };
  } catch (err) {
    return { path: path.name, point, fault, result: "harness error", problems: [err instanceof Error ? err.stack ?? err.message : String(err)] };
  } finally {
    dropScenario(s);
  }
}

describe("fault injection into out/crashkeep (strace)", () => {
  test("SWEEP_PATHS names paths that exist", () => {
    const unknown = only.filter((o) => !PATHS.some((p) => p.name.includes(o)));
    expect({ unknown, selected: selected.length > 0 }).toEqual({ unknown: [], selected: true });
  });

  test.skipIf(need.skip)(`every call that moves evidence: kill, EIO and ENOSPC at each${need.note}`, async () => {
    need.check();
    expect(selected.length).toBeGreaterThan(0);
    const started = performance.now();
    const lines: string[] = [];
    const failures: Outcome[] = [];
    let total = 0;
    let startupSwept = false;
    for (const path of selected) {
      const t0 = performance.now();
      try {
        const template = await path.template();
        // The dry run on its own copy: the counts, and the proof the fault-free path is complete.
        const dry = scenarioFrom(template);
        path.prepare?.(dry);
        const { counts, startup, otherThreads, run: dryRun } = await countCalls(path.invocation(dry), join(dry.root, "..", `${dry.root.split("/").pop()}.strace`), dry.root);
        expect({ path: path.name, exit: dryRun.code, problems: await path.complete(dry, { notes: 0 }, "") }).toEqual({ path: path.name, exit: 0, problems: [] });
        dropScenario(dry);
        // The runtime's start-up calls (before crashkeep touches the tree) are
        // the same for every command: swept in full for the first path only.
        const sweepStartup = !startupSwept;
        startupSwept = true;
        const jobs: Array<() => Promise<Outcome>> = [];
        for (const [syscall, count] of counts) {
          const first = sweepStartup ? 1 : (startup.get(syscall) ?? 0) + 1;
          for (let n = first; n <= count; n++) for (const fault of FAULTS) jobs.push(() => sweepOne(path, template, syscall, n, fault, n <= (startup.get(syscall) ?? 0)));
        }
        const outcomes = await pool(jobs);
        dropScenario({ root: template });
        total += outcomes.length;
        failures.push(...outcomes.filter((o) => o.problems.length > 0));
        const points = [...counts.values()].reduce((a, b) => a + b, 0);
        const early = [...startup.values()].reduce((a, b) => a + b, 0);
        const perCall = [...counts].map(([s, c]) => `${s} ${c}`).join(", ");
        const swept = outcomes.length / FAULTS.length;
        const line = `${path.name}: ${points} calls (${perCall}; per thread, the most; ${otherThreads} by other threads), ${early} of them the runtime's start-up; ${swept} points swept${sweepStartup ? " (start-up included)" : ""} × ${FAULTS.join("/")} = ${outcomes.length} runs, ${((performance.now() - t0) / 1000).toFixed(1)} s, ${outcomes.filter((o) => o.problems.length > 0).length} failing`;
        console.log(`fault sweep: ${line}`);
        lines.push(line);
        expect(swept).toBe(sweepStartup ? points : points - early);
      } finally {
        await path.close?.();
      }
    }
    console.log(`fault sweep (strace):\n  ${lines.join("\n  ")}\n  total ${total} faulted runs in ${((performance.now() - started) / 1000).toFixed(1)} s`);
    for (const f of failures.slice(0, 40)) console.log(`FAIL ${f.path} ${f.fault} at ${f.point} (${f.result}): ${f.problems.join("; ")}`);
    // every selected path swept something (a path whose dry run made no call would prove nothing)
    expect(lines.length).toBe(selected.length);
    expect(total).toBeGreaterThan(0);
    expect(failures.map((f) => `${f.path} ${f.fault} at ${f.point}: ${f.problems.join("; ")}`)).toEqual([]);
  }, 900_000);
});

// Running the updater: one command at a time, with a timeout and an output
// limit, its failure said in one line (exit status or signal, and the first
// line it wrote to stderr). Never blocks the event loop: the daemon keeps
// mirroring logs and taking cores while an updater call runs.
import { spawn, type ChildProcess } from "node:child_process";

/** What is read of a command's stdout at most: RAUC's detailed status JSON of a few slots is about 2 KiB. */
export const MAX_COMMAND_OUTPUT_BYTES = 64 * 1024;
/** What is kept of its stderr for the error line. */
const MAX_STDERR_BYTES = 4096;
/** After the command exits, how long its pipes may stay open (a child it left in the background holds them). */
const CLOSE_GRACE_MS = 2000;

export interface CommandOptions {
  /** What the command is for, in the error line: "mark the booted slot good". */
  what: string;
  timeoutMs: number;
  maxOutputBytes?: number;
}

export class CommandError extends Error {
  override name = "CommandError";
}

/**
 * Run argv; resolve with its stdout when it exits 0 within the timeout.
 * Throws CommandError: `Cannot <what> ("<command>"): <why>`. The command runs
 * in a process group of its own (a shell line's children included), which
 * is killed whole on a timeout or too much output: a killed `sh -c` alone
 * would leave its children holding the pipe.
 */
export async function runCommand(argv: readonly string[], options: CommandOptions): Promise<string> {
  const shown = argv[0] === "/bin/sh" && argv[1] === "-c" ? (argv[2] ?? "") : argv.join(" ");
  const fail = (why: string) => new CommandError(`Cannot ${options.what} ("${shown.slice(0, 200)}"): ${why}`);
  const limit = options.maxOutputBytes ?? MAX_COMMAND_OUTPUT_BYTES;
  const [file, ...args] = argv;
  if (file === undefined) throw fail("no command");
  return await new Promise<string>((resolve, reject) => {
    let child: ChildProcess;
    try {
      child = spawn(file, args, { stdio: ["ignore", "pipe", "pipe"], detached: true });
    } catch (err) {
      reject(fail(err instanceof Error ? err.message : String(err)));
      return;
    }
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let outBytes = 0;
    let errBytes = 0;
    let killed: string | undefined;
    const killGroup = (why: string) => {
      killed ??= why;
      try {
        if (child.pid !== undefined) process.kill(-child.pid, "SIGKILL");
      } catch {
        // gone already
      }
    };
    const timer = setTimeout(() => killGroup(`no answer within ${options.timeoutMs / 1000} s (killed)`), options.timeoutMs);
    child.stdout?.on("data", (chunk: Buffer) => {
      if (outBytes + chunk.length > limit) {
        killGroup(`more than ${limit} bytes of output (killed)`);
        return;
      }
      out.push(chunk);
      outBytes += chunk.length;
    });
    child.stderr?.on("data", (chunk: Buffer) => {
      if (errBytes >= MAX_STDERR_BYTES) return;
      err.push(chunk);
      errBytes += chunk.length;
    });
    child.on("exit", () => {
      setTimeout(() => {
        child.stdout?.destroy();
        child.stderr?.destroy();
      }, CLOSE_GRACE_MS).unref();
    });
    child.on("error", (e) => {
      clearTimeout(timer);
      reject(fail(e.message));
    });
    // "close": the process exited and its pipes are closed (every member of its group gone or killed).
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      if (killed !== undefined) {
        reject(fail(killed));
        return;
      }
      const firstLine = Buffer.concat(err).toString("utf8").split("\n").map((l) => l.trim()).find((l) => l !== "");
      if (code !== 0) {
        const status = code === null ? `killed by ${signal ?? "a signal"}` : `exit ${code}`;
        reject(fail(`${status}${firstLine ? `: ${firstLine.slice(0, 300)}` : ""}`));
        return;
      }
      resolve(Buffer.concat(out).toString("utf8"));
    });
  });
}

/** A configured command line, run by the shell (rollback.commands, rollback.rebootCommand). */
export function shell(line: string): string[] {
  return ["/bin/sh", "-c", line];
}

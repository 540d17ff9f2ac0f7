// The QEMU harness (STYLE.md rule 14): one class that boots the test image
// made by build/make-image.sh, drives the root shell on the serial console,
// follows reboots and keeps the console log of every boot.
//
// How a command runs: the guest's /etc/profile turns terminal echo and the
// prompt off, so the console carries only output. run() sends
//   printf '@@CK-S-<id>@@\n'; { <cmd>
//   } </dev/null 2>&1; printf '@@CK-E-<id>-%d@@\n' $?
// and returns what lies between the two markers plus the exit code. The
// markers carry printf formats, so even an echoed command line cannot match.
//
// Boots: the image's rcS prints CRASHKEEP-BOOT-START, /etc/profile prints
// CRASHKEEP-READY when the shell reads commands. A reset (panic=1, sysrq,
// reboot) keeps QEMU running and the guest RAM (reference/kernel-facts.md §7);
// powerCycle() starts a new QEMU process, which loses it. The console log is
// split into boots at the first sign of life of each: SeaBIOS's banner (it
// prints on the serial port), else "Linux version" (not with quiet), else
// CRASHKEEP-BOOT-START. The panic text stays with the boot that panicked.
//
// Logs: out/qemu-logs/<scenario>/console.log is written as the guest prints,
// so a run killed by a test timeout still leaves it; stop() adds boot-N.log
// files and deletes the folder unless the scenario failed (or
// CRASHKEEP_KEEP_LOGS=1).
import { type Subprocess } from "bun";
import { appendFileSync, copyFileSync, existsSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { createConnection } from "node:net";
import { join, resolve } from "node:path";

const REPO = resolve(import.meta.dir, "../..");
const OUT = resolve(REPO, process.env["OUT"] ?? "out");

/** The reserved RAM, as the project lays it out (DESIGN.md, kernel-facts.md §6). */
export const MEMMAP = "16M$0x7000000";

const BOOT_START = "CRASHKEEP-BOOT-START";
const READY = /CRASHKEEP-READY[^\n]*\n/;
/** Signs of life of a boot, in the order they appear: firmware, kernel, init. */
const BOOT_SIGNS: readonly RegExp[] = [/^SeaBIOS \(version /, /^Linux version \d/, new RegExp(BOOT_START)];

/** Long enough for a TCG boot of the 115 MB initramfs on a busy 2-core host. */
const DEFAULT_BOOT_TIMEOUT_MS = 90_000;
const DEFAULT_RUN_TIMEOUT_MS = 30_000;

export interface QemuVmOptions {
  /** Scenario name: logs go to out/qemu-logs/<name>/, the disk to out/qemu/run/<name>/. */
  name: string;
  /** Folder with vmlinuz, initrd.img, data.pristine.img (default out/qemu). */
  imageDir?: string;
  memoryMiB?: number;
  /** Guest CPUs (default 1); TCG runs one host thread per CPU. */
  cpus?: number;
  /** Extra kernel command line arguments. */
  append?: string[];
  /** Init scripts rcS must skip, e.g. ["S03crashkeep"] (crashkeep_test.skip=). */
  skipInit?: string[];
  /** Drop "quiet": the whole kernel log goes to the console (slower). */
  verbose?: boolean;
  bootTimeoutMs?: number;
  /** A virtio NIC on QEMU user networking: the guest reaches the host's loopback at 10.0.2.2. */
  net?: boolean;
}

export interface RunResult {
  output: string;
  code: number;
}

export interface BootTiming {
  boot: number;
  /** From QEMU start or the reboot action (crash, reboot, reset) to CRASHKEEP-READY, in ms. */
  readyMs: number;
  /** Guest uptime when the shell was ready, in seconds. */
  uptimeSeconds: number;
}

/**
 * posix_spawn failed with ETXTBSY on this sandbox a few times while other
 * processes were busy (never reproducible on its own): retry a few times.
 */
function retryBusy<T>(spawn: () => T): T {
  for (let attempt = 1; ; attempt++) {
    try {
      return spawn();
    } catch (err) {
      const code = err instanceof Error && "code" in err ? (err as { code: unknown }).code : undefined;
      if (code !== "ETXTBSY" || attempt >= 5) throw err;
      Bun.sleepSync(200 * attempt);
    }
  }
}

export class QemuVm {
  static readonly #live = new Set<QemuVm>();

  /**
   * Boot a VM, run fn, stop the VM; the logs are kept when fn throws.
   * Prefer this over new/boot/stop in tests.
   */
  static async scenario<T>(options: QemuVmOptions, fn: (vm: QemuVm) => Promise<T>): Promise<T> {
    const vm = new QemuVm(options);
    let ok = false;
    try {
      await vm.boot();
      const result = await fn(vm);
      ok = true;
      return result;
    } finally {
      await vm.stop({ keepLogs: !ok });
    }
  }

  /** Kill every QEMU this process started (afterAll, test timeouts). */
  static killAll(): void {
    for (const vm of QemuVm.#live) vm.#proc?.kill("SIGKILL");
  }

  readonly name: string;
  readonly logDir: string;
  readonly runDir: string;
  readonly timings: BootTiming[] = [];
  /** What QEMU itself printed on stderr. */
  stderr = "";

  readonly #options: QemuVmOptions;
  readonly #imageDir: string;
  #proc: Subprocess<"pipe", "pipe", "pipe"> | undefined;
  #exitCode: number | null = null;
  #text = "";
  #partial = "";
  #cursor = 0;
  #bootStarts: number[] = [0];
  /** Highest BOOT_SIGNS index seen in the current boot, -1 for none. */
  #bootSign = -1;
  #seq = 0;
  #wake: () => void = () => {};
  #changed: Promise<void>;
  #resetAt = 0;
  #stopped = false;

  constructor(options: QemuVmOptions) {
    this.#options = options;
    this.name = options.name.replace(/[^A-Za-z0-9._-]+/g, "-");
    this.#imageDir = resolve(REPO, options.imageDir ?? join(OUT, "qemu"));
    this.logDir = join(OUT, "qemu-logs", this.name);
    this.runDir = join(OUT, "qemu", "run", this.name);
    this.#changed = this.#newChanged();
    for (const file of ["vmlinuz", "initrd.img", "data.pristine.img"]) {
      if (!existsSync(join(this.#imageDir, file))) {
        throw new Error(`Cannot find "${join(this.#imageDir, file)}": run build/make-image.sh`);
      }
    }
  }

  /** Index of the current boot, 0 for the first. */
  get bootIndex(): number {
    return this.#bootStarts.length - 1;
  }

  /** Console text of each boot so far (carriage returns and escapes removed). */
  get boots(): string[] {
    return this.#bootStarts.map((start, i) => this.#text.slice(start, this.#bootStarts[i + 1] ?? this.#text.length));
  }

  /** The whole console text so far. */
  get console(): string {
    return this.#text;
  }

  /** Power on with a clean data disk and wait until the shell is ready. */
  async boot(): Promise<BootTiming> {
    rmSync(this.logDir, { recursive: true, force: true });
    rmSync(this.runDir, { recursive: true, force: true });
    mkdirSync(this.logDir, { recursive: true });
    mkdirSync(this.runDir, { recursive: true });
    // A sparse copy of the template: a scenario starts from a clean disk.
    const cp = retryBusy(() => Bun.spawnSync(["cp", "--sparse=always", join(this.#imageDir, "data.pristine.img"), this.#disk()]));
    if (cp.exitCode !== 0) {
      copyFileSync(join(this.#imageDir, "data.pristine.img"), this.#disk());
    }
    this.#start();
    return this.waitForReady();
  }

  /**
   * Wait until the console shows marker after everything already consumed;
   * returns the match and consumes up to its end.
   */
  async waitFor(marker: string | RegExp, timeoutMs: number): Promise<RegExpExecArray> {
    // Without g/y flags exec() ignores lastIndex: every search starts at the cursor.
    const pattern = typeof marker === "string" ? new RegExp(escapeRegExp(marker)) : new RegExp(marker.source, marker.flags.replace(/[gy]/g, ""));
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const rest = this.#text.slice(this.#cursor);
      const match = pattern.exec(rest);
      if (match) {
        this.#cursor += match.index + match[0].length;
        return match;
      }
      if (this.#exitCode !== null) {
        throw new Error(
          `QEMU exited with code ${this.#exitCode} while waiting for ${pattern} (scenario ${this.name}, boot ${this.bootIndex}); last line seen: ${JSON.stringify(this.#lastLine())}; QEMU stderr: ${JSON.stringify(this.stderr.trim())}`,
        );
      }
      const left = deadline - Date.now();
      if (left <= 0) {
        throw new Error(
          `Timed out after ${timeoutMs} ms waiting for ${pattern} (scenario ${this.name}, boot ${this.bootIndex}); last line seen: ${JSON.stringify(this.#lastLine())}`,
        );
      }
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([this.#changed, new Promise<void>((wake) => (timer = setTimeout(wake, left)))]);
      clearTimeout(timer);
    }
  }

  /** Wait for the shell of the current or next boot to be ready. */
  async waitForReady(timeoutMs = this.#options.bootTimeoutMs ?? DEFAULT_BOOT_TIMEOUT_MS): Promise<BootTiming> {
    const match = await this.waitFor(READY, timeoutMs);
    const uptime = /uptime=([\d.]+)/.exec(match[0]);
    const timing: BootTiming = {
      boot: this.bootIndex,
      readyMs: Date.now() - this.#resetAt,
      uptimeSeconds: uptime?.[1] !== undefined ? Number(uptime[1]) : Number.NaN,
    };
    this.timings.push(timing);
    return timing;
  }

  /** Run a shell command in the guest; stdin is /dev/null, stderr joins stdout. */
  async run(cmd: string, options: { timeoutMs?: number } = {}): Promise<RunResult> {
    const id = ++this.#seq;
    this.send(`printf '@@CK-S-%d@@\\n' ${id}; { ${cmd}\n} </dev/null 2>&1; printf '@@CK-E-${id}-%d@@\\n' $?\n`);
    const timeoutMs = options.timeoutMs ?? DEFAULT_RUN_TIMEOUT_MS;
    const started = Date.now();
    try {
      await this.waitFor(new RegExp(`@@CK-S-${id}@@\\n`), timeoutMs);
      const from = this.#cursor;
      const end = await this.waitFor(new RegExp(`@@CK-E-${id}-(\\d+)@@\\n`), Math.max(1, timeoutMs - (Date.now() - started)));
      const output = this.#text.slice(from, this.#cursor - end[0].length);
      return { output, code: Number(end[1]) };
    } catch (err) {
      // The guest shell may still be busy with it: the scenario should end here.
      const why = err instanceof Error ? err.message : String(err);
      throw new Error(`Cannot run ${JSON.stringify(cmd)} in the guest within ${timeoutMs} ms: ${why}`);
    }
  }

  /** run(), but a non-zero exit code throws with the command's output. */
  async runOk(cmd: string, options: { timeoutMs?: number } = {}): Promise<string> {
    const result = await this.run(cmd, options);
    if (result.code !== 0) {
      throw new Error(`Cannot run ${JSON.stringify(cmd)} in the guest: exit code ${result.code}, output:\n${result.output}`);
    }
    return result.output;
  }

  /** Type text on the serial console as is. */
  send(text: string): void {
    const proc = this.#proc;
    if (!proc || this.#exitCode !== null) throw new Error(`Cannot send to scenario ${this.name}: QEMU is not running`);
    proc.stdin.write(text);
    proc.stdin.flush();
  }

  /**
   * Crash the kernel with sysrq (panic=1 reboots it) and wait for the next
   * boot; returns the console text of the boot that crashed.
   */
  async crash(options: { timeoutMs?: number } = {}): Promise<string> {
    return this.expectReboot(() => this.send("echo c > /proc/sysrq-trigger\n"), options);
  }

  /**
   * Reboot from inside: "reboot -f" (force: no init scripts, a warm reset)
   * or "reboot" (rcK runs the stop scripts). Returns the old boot's text.
   */
  async reboot(options: { force?: boolean; timeoutMs?: number } = {}): Promise<string> {
    return this.expectReboot(() => this.send(options.force ? "reboot -f\n" : "reboot\n"), options);
  }

  /** A hardware reset from QEMU's monitor (RAM kept), like a watchdog. */
  async reset(options: { timeoutMs?: number } = {}): Promise<string> {
    return this.expectReboot(() => this.#monitor("system_reset"), options);
  }

  /**
   * Power loss: kill QEMU and start a new one on the same disk. The reserved
   * RAM is gone (a new process has fresh memory). Returns the old boot's text.
   */
  async powerCycle(options: { timeoutMs?: number } = {}): Promise<string> {
    const before = this.bootIndex;
    await this.#kill();
    this.#startBoot();
    this.#start();
    await this.waitForReady(options.timeoutMs);
    return this.boots[before] ?? "";
  }

  /**
   * Do action, then wait until a new boot has started and its shell is
   * ready. Returns the console text of the boot that ended.
   */
  async expectReboot(action: () => unknown, options: { timeoutMs?: number } = {}): Promise<string> {
    const before = this.bootIndex;
    this.#resetAt = Date.now();
    await action();
    const timeoutMs = options.timeoutMs ?? this.#options.bootTimeoutMs ?? DEFAULT_BOOT_TIMEOUT_MS;
    await this.waitFor(BOOT_START, timeoutMs);
    if (this.bootIndex === before) {
      throw new Error(`Cannot detect a reboot of scenario ${this.name}: still boot ${before} after ${BOOT_START}`);
    }
    await this.waitForReady(timeoutMs);
    return this.boots[before] ?? "";
  }

  /** Kill QEMU and write the logs; they are deleted unless keepLogs. Only the first call counts. */
  async stop(options: { keepLogs?: boolean } = {}): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    await this.#kill();
    QemuVm.#live.delete(this);
    this.#flushPartial();
    const boots = this.boots;
    boots.forEach((text, i) => writeFileSync(join(this.logDir, `boot-${i}.log`), text));
    writeFileSync(join(this.logDir, "timings.json"), JSON.stringify(this.timings, null, 2) + "\n");
    const keep = options.keepLogs === true || process.env["CRASHKEEP_KEEP_LOGS"] === "1";
    if (!keep) rmSync(this.logDir, { recursive: true, force: true });
    rmSync(this.runDir, { recursive: true, force: true });
  }

  #disk(): string {
    return join(this.runDir, "data.img");
  }

  #monitorPath(): string {
    return join(this.runDir, "monitor.sock");
  }

  #start(): void {
    if (this.#stopped) throw new Error(`Cannot start scenario ${this.name} again: it was stopped`);
    const append = [
      "console=ttyS0",
      `memmap=${MEMMAP}`,
      "panic=1",
      ...(this.#options.verbose ? [] : ["quiet"]),
      ...(this.#options.skipInit?.length ? [`crashkeep_test.skip=${this.#options.skipInit.join(",")}`] : []),
      ...(this.#options.append ?? []),
    ];
    const argv = [
      "qemu-system-x86_64",
      "-accel", "tcg", "-cpu", "max", // Bun's x64 build needs AVX2; /dev/kvm is not usable here
      "-m", String(this.#options.memoryMiB ?? 1024),
      "-smp", String(this.#options.cpus ?? 1),
      "-nographic", "-no-user-config", "-nodefaults",
      "-serial", "stdio",
      "-monitor", `unix:${this.#monitorPath()},server=on,wait=off`,
      "-kernel", join(this.#imageDir, "vmlinuz"),
      "-initrd", join(this.#imageDir, "initrd.img"),
      "-drive", `file=${this.#disk()},format=raw,if=virtio`,
      ...(this.#options.net ? ["-netdev", "user,id=net0", "-device", "virtio-net-pci,netdev=net0"] : []),
      "-append", append.join(" "),
    ];
    appendFileSync(join(this.logDir, "console.log"), `### ${new Date().toISOString()} ${argv.join(" ")}\n`);
    const proc = retryBusy(() => Bun.spawn(argv, { stdin: "pipe", stdout: "pipe", stderr: "pipe" }));
    this.#proc = proc;
    this.#exitCode = null;
    this.#resetAt = Date.now();
    QemuVm.#live.add(this);
    void this.#read(proc.stdout, false);
    void this.#read(proc.stderr, true);
    void proc.exited.then((code) => {
      if (this.#proc === proc) {
        this.#exitCode = code;
        this.#wake();
      }
    });
  }

  async #kill(): Promise<void> {
    const proc = this.#proc;
    if (!proc) return;
    this.#proc = undefined;
    proc.kill("SIGKILL");
    await proc.exited;
  }

  async #read(stream: ReadableStream<Uint8Array>, isStderr: boolean): Promise<void> {
    const decoder = new TextDecoder();
    const file = join(this.logDir, "console.log");
    for await (const chunk of stream) {
      const text = decoder.decode(chunk, { stream: true });
      appendFileSync(file, isStderr ? prefixLines(text, "[qemu stderr] ") : text);
      if (isStderr) {
        // Kept apart from the console text: QEMU's own complaints.
        this.stderr += text;
      } else {
        this.#partial += text;
        this.#takeLines();
      }
      this.#wake();
    }
  }

  /** Move complete lines from #partial into #text, cleaned, marking boot starts. */
  #takeLines(): void {
    const last = this.#partial.lastIndexOf("\n");
    if (last < 0) return;
    const lines = this.#partial.slice(0, last + 1);
    this.#partial = this.#partial.slice(last + 1);
    for (const raw of lines.split("\n").slice(0, -1)) {
      this.#addLine(clean(raw));
    }
  }

  #flushPartial(): void {
    if (this.#partial !== "") {
      this.#addLine(clean(this.#partial));
      this.#partial = "";
    }
  }

  #addLine(line: string): void {
    // A sign of life that this boot already passed means a new boot began.
    const sign = BOOT_SIGNS.findIndex((re) => re.test(line));
    if (sign >= 0) {
      if (sign <= this.#bootSign) this.#startBoot();
      this.#bootSign = sign;
    }
    this.#text += line + "\n";
  }

  #startBoot(): void {
    const at = this.#text.length;
    if (this.#bootStarts[this.#bootStarts.length - 1] !== at) this.#bootStarts.push(at);
    this.#bootSign = -1;
  }

  #lastLine(): string {
    const partial = clean(this.#partial).trim();
    if (partial !== "") return partial;
    const lines = this.#text.trimEnd().split("\n");
    return lines[lines.length - 1] ?? "";
  }

  #newChanged(): Promise<void> {
    return new Promise<void>((resolveChanged) => {
      this.#wake = () => {
        this.#changed = this.#newChanged();
        resolveChanged();
      };
    });
  }

  /** One HMP command over the monitor socket; resolves with its output. */
  #monitor(command: string): Promise<string> {
    return new Promise((resolveOutput, reject) => {
      const socket = createConnection(this.#monitorPath());
      let data = "";
      let sent = false;
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new Error(`Cannot run monitor command "${command}": no answer in 10 s`));
      }, 10_000);
      socket.on("data", (chunk) => {
        data += chunk.toString();
        if (!sent && data.includes("(qemu) ")) {
          sent = true;
          data = "";
          socket.write(`${command}\n`);
        } else if (sent && data.includes("(qemu) ")) {
          clearTimeout(timer);
          socket.end();
          resolveOutput(data);
        }
      });
      socket.on("error", (err) => {
        clearTimeout(timer);
        reject(new Error(`Cannot run monitor command "${command}": ${err.message}`));
      });
    });
  }
}

function clean(line: string): string {
  // Drop carriage returns and terminal escapes (SeaBIOS and the kernel clear the screen).
  // eslint-disable-next-line no-control-regex
  return line.replace(/\x1b(\[[0-9;?]*[A-Za-z]|[c78])/g, "").replace(/\r/g, "");
}

function prefixLines(text: string, prefix: string): string {
  return text.replace(/^(?=.)/gm, prefix);
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

// No QEMU may outlive the test run (a CI job would wait on it or lose a core).
process.on("exit", () => QemuVm.killAll());
for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
  process.once(signal, () => {
    QemuVm.killAll();
    process.kill(process.pid, signal);
  });
}

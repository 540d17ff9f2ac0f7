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
// Machines: x86_64 (the default; out/qemu, memmap= reserves the RAM) and
// aarch64 (out/qemu-arm64: -M virt -cpu cortex-a57, PL011 console ttyAMA0;
// a PSCI SYSTEM_RESET keeps the RAM as well). virt has no firmware banner,
// so an aarch64 boot adds loglevel=6 after quiet: "Linux version" is
// KERN_NOTICE and marks each boot (rcS puts the console back to quiet's 4
// for the scripts and the shell: crashkeep_test.loglevel=4). Two ways to
// reserve the RAM on aarch64 (docs/AARCH64.md): "dt", QEMU's own device tree dumped with the same
// machine options plus a /reserved-memory node with ramoops and phram
// children made from the image's config (the drivers bind it with no
// parameters), or "mem", mem= below the regions and the module parameters.
//
// Kernels: QEMU_KERNEL=6.12 in the environment (build/test-qemu.sh's "-6.12"
// groups) boots the images made with KERNEL=6.12 (out/qemu-6.12,
// out/qemu-arm64-6.12: Debian's 6.12 kernel), and the scenario's logs and
// disks get a "-6.12" suffix so that both kernels' groups can run side by side.
//
// A Buildroot image (build/buildroot-image.sh, out/buildroot/qemu: its "kind"
// file says "buildroot") boots the same way: its initrd loads the disk
// modules and hands over to Buildroot's init on the data disk, which is the
// image's rootfs.ext4; its test overlay prints the two markers, and
// imageRoot is its target tree. The KERNEL=buildroot image
// (out/buildroot/kernel-buildroot/qemu) has no initrd: its kernel has the
// disk and ext4 built in and mounts root=/dev/vda itself.
//
// A U-Boot image (build/rollback-image.sh, out/qemu-rollback: its "kind" file
// says "uboot") boots QEMU virt (-cpu cortex-a53, 1 GiB) from Debian's U-Boot
// in the first pflash bank: no -kernel, -append or -dtb; U-Boot's boot script
// picks the slot and sets the kernel command line. Its disk (boot partition,
// two slots, /var) is copied per scenario like the data disk; bundles.img, the
// signed RAUC bundles, is attached read-only as the second virtio disk.
// U-Boot's banner marks each boot.
//
// Logs: out/qemu-logs/<scenario>/console.log is written as the guest prints,
// so a run killed by a test timeout still leaves it; stop() adds boot-N.log
// files and deletes the folder unless the scenario failed (or
// CRASHKEEP_KEEP_LOGS=1).
import { type Subprocess } from "bun";
import { appendFileSync, copyFileSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { createConnection } from "node:net";
import { join, resolve } from "node:path";
import { parseConfig } from "../../src/config/load.ts";

const REPO = resolve(import.meta.dir, "../..");
const OUT = resolve(REPO, process.env["OUT"] ?? "out");

/** The reserved RAM, as the project lays it out (DESIGN.md, kernel-facts.md §6). */
export const MEMMAP = "16M$0x7000000";

/**
 * Shell: the daemon's pid, once it can take a signal. `crashkeep watch
 * --pidfile` (S03crashkeep) writes the file only after installing its
 * SIGUSR1/SIGTERM handlers; waits at most 60 s for it, else prints nothing.
 */
export const DAEMON_PID = "$(n=0; until [ -s /var/run/crashkeep.pid ] || [ $n -ge 600 ]; do n=$((n+1)); sleep 0.1; done; cat /var/run/crashkeep.pid)";

export type Arch = "x86_64" | "aarch64";

/** The Debian kernel series the images are built from (build/make-image.sh KERNEL=). */
export type KernelSeries = "6.1" | "6.12";
const KERNEL_SERIES: readonly KernelSeries[] = ["6.1", "6.12"];

/** The kernel series this run boots: QEMU_KERNEL, else 6.1. */
export function kernelSeries(): KernelSeries {
  const value = process.env["QEMU_KERNEL"] ?? "6.1";
  const series = KERNEL_SERIES.find((k) => k === value);
  if (series === undefined) throw new Error(`Cannot use QEMU_KERNEL "${value}": it must be ${KERNEL_SERIES.join(" or ")}`);
  return series;
}

/** out/qemu, out/qemu-arm64; with QEMU_KERNEL=6.12 out/qemu-6.12, out/qemu-arm64-6.12. */
export function imageDirOf(arch: Arch): string {
  const series = kernelSeries();
  return join(OUT, `${arch === "aarch64" ? "qemu-arm64" : "qemu"}${series === "6.1" ? "" : `-${series}`}`);
}
/** How an aarch64 guest reserves the RAM: a device-tree node, or mem= plus module parameters. */
export type Reserve = "dt" | "mem";

/**
 * The aarch64 machine: virt's RAM starts at 0x40000000, so 512 MiB end at
 * 0x5fffffff; the image's config (build/buildroot/board/qemu/aarch64-virt)
 * puts ramoops and phram in the top 16 MiB, which mem=496M leaves out.
 */
const AARCH64_MACHINE = ["-M", "virt", "-cpu", "cortex-a57"] as const;
const AARCH64_MEMORY_MIB = 512;
const AARCH64_MEM_LIMIT = "mem=496M";
/**
 * A U-Boot image (kind "uboot"): the CPU of the rollback proof and more RAM
 * than the 512 MiB the config's regions top out at, so that U-Boot, which
 * relocates itself to the top of RAM, never writes into them (its boot script
 * passes mem=496M).
 */
const UBOOT_MACHINE = ["-M", "virt", "-cpu", "cortex-a53"] as const;
const UBOOT_MEMORY_MIB = 1024;
const UBOOT_FILES = ["flash0.img", "flash1.pristine.img", "disk.pristine.img"] as const;

const BOOT_START = "CRASHKEEP-BOOT-START";
const READY = /CRASHKEEP-READY[^\n]*\n/;
/** Signs of life of a boot, in the order they appear: firmware, kernel, init. */
// "Linux version" with or without printk's time stamp (Debian: CONFIG_PRINTK_TIME=y).
const BOOT_SIGNS: readonly RegExp[] = [/^(?:SeaBIOS \(version |U-Boot 20\d\d\.)/, /^(?:\[\s*\d+\.\d+\] )?Linux version \d/, new RegExp(BOOT_START)];

/**
 * Long enough for a TCG boot of the 115 MB initramfs on a busy 2-core host.
 * (The aarch64 scenarios pass their own, longer bootTimeoutMs.)
 */
const DEFAULT_BOOT_TIMEOUT_MS = 90_000;
const DEFAULT_RUN_TIMEOUT_MS = 30_000;

export interface QemuVmOptions {
  /** Scenario name: logs go to out/qemu-logs/<name>/, the disk to out/qemu/run/<name>/. */
  name: string;
  /**
   * Folder with vmlinuz, initrd.img, data.pristine.img (default out/qemu,
   * out/qemu-arm64 for aarch64; out/buildroot/qemu for the Buildroot image,
   * whose data disk is its root file system).
   */
  imageDir?: string;
  /** The guest machine (default x86_64); the image's "arch" file must agree. */
  arch?: Arch;
  /** aarch64 only: how the RAM is reserved (default "dt"). */
  reserve?: Reserve;
  /**
   * aarch64 "dt" only: the test image loads ramoops and phram (no parameters)
   * before S03crashkeep, as a board's modalias coldplug or built-in drivers
   * would, so init finds them bound; without it init loads them itself.
   */
  coldplug?: boolean;
  /**
   * A second raw disk of this many MiB (/dev/vdb in the guest) for copyOut();
   * none by default.
   */
  transferDiskMiB?: number;
  /**
   * A host folder whose files the transfer disk holds at power-on, as a tar
   * archive (the guest unpacks it with "tar -xf /dev/vdb -C /").
   */
  transferFrom?: string;
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
  /** Default time limit of run()/runOk() (30 s). */
  runTimeoutMs?: number;
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

  readonly arch: Arch;
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
  /** The image boots from U-Boot in pflash (kind "uboot"). */
  readonly #uboot: boolean;

  constructor(options: QemuVmOptions) {
    this.#options = options;
    this.arch = options.arch ?? "x86_64";
    const series = kernelSeries();
    this.name = `${options.name}${series === "6.1" ? "" : `-${series}`}`.replace(/[^A-Za-z0-9._-]+/g, "-");
    this.#imageDir = resolve(REPO, options.imageDir ?? imageDirOf(this.arch));
    // A Buildroot image (build/buildroot-image.sh) or a U-Boot one (build/rollback-image.sh) says so in its "kind" file.
    const kind = existsSync(join(this.#imageDir, "kind")) ? readFileSync(join(this.#imageDir, "kind"), "utf8").trim() : "";
    const buildroot = kind === "buildroot";
    this.#uboot = kind === "uboot";
    const make = buildroot
      ? "make buildroot-image BUILDROOT=..."
      : this.#uboot
        ? "make rollback-image"
        : `${this.arch === "aarch64" ? "ARCH=arm64 " : ""}${series === "6.1" ? "" : `KERNEL=${series} `}build/make-image.sh`;
    this.logDir = join(OUT, "qemu-logs", this.name);
    this.runDir = join(OUT, "qemu", "run", this.name);
    this.#changed = this.#newChanged();
    // Only a Buildroot image may come without an initrd (its kernel mounts the disk).
    const needed = this.#uboot ? [...UBOOT_FILES] : buildroot ? ["vmlinuz", "data.pristine.img"] : ["vmlinuz", "initrd.img", "data.pristine.img"];
    for (const file of needed) {
      if (!existsSync(join(this.#imageDir, file))) {
        throw new Error(`Cannot find "${join(this.#imageDir, file)}": run ${make}`);
      }
    }
    // Images made before make-image.sh wrote "arch" are x86_64 ones.
    const arch = existsSync(join(this.#imageDir, "arch")) ? readFileSync(join(this.#imageDir, "arch"), "utf8").trim() : "amd64";
    if (arch !== (this.arch === "aarch64" ? "arm64" : "amd64")) {
      throw new Error(`Cannot boot "${this.#imageDir}" as ${this.arch}: it is an ${arch} image (run ${make})`);
    }
  }

  /**
   * The guest's root tree on the host: the staged initramfs of a hand-made
   * image, the target tree of a Buildroot image ("root").
   */
  get imageRoot(): string {
    const initramfs = join(this.#imageDir, "initramfs");
    return existsSync(initramfs) ? initramfs : join(this.#imageDir, "root");
  }

  /** The guest's config, as the image ships it (the device tree's regions come from it). */
  get imageConfig(): ReturnType<typeof parseConfig> {
    const file = join(this.imageRoot, "etc", "crashkeep", "config.json");
    return parseConfig(JSON.parse(readFileSync(file, "utf8")), file);
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
    // A sparse copy of the template: a scenario starts from a clean disk
    // (a U-Boot image: the whole disk and the second pflash bank).
    const copies: [string, string][] = this.#uboot
      ? [
          ["disk.pristine.img", this.#disk()],
          ["flash1.pristine.img", this.#flash1()],
        ]
      : [["data.pristine.img", this.#disk()]];
    for (const [from, to] of copies) {
      const cp = retryBusy(() => Bun.spawnSync(["cp", "--sparse=always", join(this.#imageDir, from), to]));
      if (cp.exitCode !== 0) {
        copyFileSync(join(this.#imageDir, from), to);
      }
    }
    if (this.#options.transferDiskMiB !== undefined) {
      writeFileSync(this.#transferDisk(), "");
      const from = this.#options.transferFrom;
      if (from !== undefined) {
        const tar = Bun.spawnSync(["tar", "-cf", this.#transferDisk(), "-C", from, "."], { stderr: "pipe" });
        if (tar.exitCode !== 0) throw new Error(`Cannot put "${from}" on the transfer disk of scenario ${this.name}: ${tar.stderr.toString().trim()}`);
      }
      Bun.spawnSync(["truncate", "-s", `${this.#options.transferDiskMiB}M`, this.#transferDisk()]);
    }
    this.#start();
    return this.waitForReady();
  }

  /**
   * Copy guest files to a host folder through the transfer disk (option
   * transferDiskMiB): the guest writes a tar archive onto /dev/vdb, the host
   * unpacks the disk image. Returns the host paths, in the order given.
   */
  async copyOut(guestPaths: string[], hostDir: string): Promise<string[]> {
    if (this.#options.transferDiskMiB === undefined) throw new Error(`Cannot copy out of scenario ${this.name}: it has no transfer disk`);
    const rel = guestPaths.map((p) => p.replace(/^\/+/, ""));
    await this.runOk(`tar -C / -cf /dev/vdb ${rel.map((p) => `'${p}'`).join(" ")} && sync`, { timeoutMs: 60_000 });
    mkdirSync(hostDir, { recursive: true });
    const tar = Bun.spawnSync(["tar", "-xf", this.#transferDisk(), "-C", hostDir, ...rel]);
    if (tar.exitCode !== 0) throw new Error(`Cannot unpack the transfer disk of scenario ${this.name}: ${tar.stderr.toString().trim()}`);
    return rel.map((p) => join(hostDir, p));
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
    const timeoutMs = options.timeoutMs ?? this.#options.runTimeoutMs ?? DEFAULT_RUN_TIMEOUT_MS;
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

  /** The scenario's copy of the second pflash bank (U-Boot image). */
  #flash1(): string {
    return join(this.runDir, "flash1.img");
  }

  /** The scenario's disk on the host (a U-Boot image: the whole partitioned disk). */
  get diskPath(): string {
    return this.#disk();
  }

  #transferDisk(): string {
    return join(this.runDir, "transfer.img");
  }

  #monitorPath(): string {
    return join(this.runDir, "monitor.sock");
  }

  #start(): void {
    if (this.#stopped) throw new Error(`Cannot start scenario ${this.name} again: it was stopped`);
    const aarch64 = this.arch === "aarch64";
    const reserve = this.#options.reserve ?? "dt";
    const initrd = join(this.#imageDir, "initrd.img");
    const hasInitrd = existsSync(initrd);
    const append = [
      aarch64 ? "console=ttyAMA0" : "console=ttyS0",
      ...(hasInitrd ? [] : ["root=/dev/vda", "rootwait"]),
      ...(aarch64 ? (reserve === "mem" ? [AARCH64_MEM_LIMIT] : this.#options.coldplug ? ["crashkeep_test.coldplug=1"] : []) : [`memmap=${MEMMAP}`]),
      "panic=1",
      ...(this.#options.verbose ? [] : aarch64 ? ["quiet", "loglevel=6", "crashkeep_test.loglevel=4"] : ["quiet"]),
      ...(this.#options.skipInit?.length ? [`crashkeep_test.skip=${this.#options.skipInit.join(",")}`] : []),
      ...(this.#options.append ?? []),
    ];
    const machine = [
      ...(this.#uboot ? [...UBOOT_MACHINE] : aarch64 ? [...AARCH64_MACHINE] : ["-accel", "tcg", "-cpu", "max"]), // Bun's x64 build needs x86-64-v2 (qemu64 lacks SSE4.2, POPCNT); /dev/kvm is not usable here
      "-m", String(this.#options.memoryMiB ?? (this.#uboot ? UBOOT_MEMORY_MIB : aarch64 ? AARCH64_MEMORY_MIB : 1024)),
      "-smp", String(this.#options.cpus ?? 1),
    ];
    const argv = this.#uboot ? this.#ubootArgv(machine) : [
      aarch64 ? "qemu-system-aarch64" : "qemu-system-x86_64",
      ...machine,
      ...(aarch64 && reserve === "dt" ? ["-dtb", this.#deviceTree(machine)] : []),
      "-nographic", "-no-user-config", "-nodefaults",
      "-serial", "stdio",
      "-monitor", `unix:${this.#monitorPath()},server=on,wait=off`,
      "-kernel", join(this.#imageDir, "vmlinuz"),
      ...(hasInitrd ? ["-initrd", initrd] : []),
      "-drive", `file=${this.#disk()},format=raw,if=virtio`,
      ...(this.#options.transferDiskMiB !== undefined ? ["-drive", `file=${this.#transferDisk()},format=raw,if=virtio`] : []),
      ...(this.#options.net ? ["-netdev", "user,id=net0", "-device", "virtio-net-pci,netdev=net0"] : []),
      "-append", append.join(" "),
    ];
    if (this.#uboot && (this.#options.append !== undefined || this.#options.skipInit !== undefined || this.#options.reserve !== undefined)) {
      throw new Error(`Cannot boot scenario ${this.name} with append, skipInit or reserve: U-Boot's boot script sets the command line (extra_bootargs)`);
    }
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

  /** QEMU's arguments for a U-Boot image: firmware in pflash, the disks; no kernel of QEMU's own. */
  #ubootArgv(machine: string[]): string[] {
    const bundles = join(this.#imageDir, "bundles.img");
    return [
      "qemu-system-aarch64",
      ...machine,
      "-nographic", "-no-user-config", "-nodefaults",
      "-serial", "stdio",
      "-monitor", `unix:${this.#monitorPath()},server=on,wait=off`,
      "-drive", `if=pflash,format=raw,readonly=on,file=${join(this.#imageDir, "flash0.img")}`,
      "-drive", `if=pflash,format=raw,file=${this.#flash1()}`,
      "-drive", `file=${this.#disk()},format=raw,if=virtio`,
      ...(existsSync(bundles) ? ["-drive", `file=${bundles},format=raw,if=virtio,readonly=on`] : []),
      ...(this.#options.transferDiskMiB !== undefined ? ["-drive", `file=${this.#transferDisk()},format=raw,if=virtio`] : []),
      ...(this.#options.net ? ["-netdev", "user,id=net0", "-device", "virtio-net-pci,netdev=net0"] : []),
    ];
  }

  /**
   * The device tree of the aarch64 "dt" route: QEMU's own for these machine
   * options (dumpdtb), plus /reserved-memory with the image config's ramoops
   * and phram regions. Made once per machine options and config.
   */
  #deviceTree(machine: string[]): string {
    const c = this.imageConfig;
    const hex = (n: number) => `0x${n.toString(16)}`;
    const cells = (n: number) => `${hex(Math.floor(n / 2 ** 32))} ${hex(n % 2 ** 32)}`;
    // Property names: Documentation/devicetree/bindings/reserved-memory/ramoops.yaml
    // and phram.yaml; the config holds max-reason as enum kmsg_dump_reason already.
    const node = [
      "\treserved-memory {",
      "\t\t#address-cells = <2>;",
      "\t\t#size-cells = <2>;",
      "\t\tranges;",
      `\t\tramoops@${c.ramoops.address.toString(16)} {`,
      '\t\t\tcompatible = "ramoops";',
      `\t\t\treg = <${cells(c.ramoops.address)} ${cells(c.ramoops.sizeBytes)}>;`,
      `\t\t\trecord-size = <${hex(c.ramoops.recordSizeBytes)}>;`,
      `\t\t\tconsole-size = <${hex(c.ramoops.consoleSizeBytes)}>;`,
      `\t\t\tpmsg-size = <${hex(c.ramoops.pmsgSizeBytes)}>;`,
      `\t\t\tftrace-size = <${hex(c.ramoops.ftraceSizeBytes)}>;`,
      `\t\t\tecc-size = <${c.ramoops.eccBytes}>;`,
      `\t\t\tmem-type = <${c.ramoops.memType}>;`,
      `\t\t\tmax-reason = <${c.ramoops.maxReason}>;`,
      "\t\t};",
      `\t\tphram@${c.phram.address.toString(16)} {`,
      '\t\t\tcompatible = "phram";',
      `\t\t\tlabel = "${c.phram.name}";`,
      `\t\t\treg = <${cells(c.phram.address)} ${cells(c.phram.sizeBytes)}>;`,
      "\t\t\tno-map;",
      "\t\t};",
      "\t};",
    ].join("\n");
    const key = Bun.hash(JSON.stringify([machine, node])).toString(16);
    const dir = join(this.#imageDir, "dtb");
    const dtb = join(dir, `virt-crashkeep-${key}.dtb`);
    if (existsSync(dtb)) return dtb;
    mkdirSync(dir, { recursive: true });
    const tmp = join(dir, `.${key}.${process.pid}`);
    const run = (argv: string[]) => {
      const r = retryBusy(() => Bun.spawnSync(argv, { stderr: "pipe" }));
      if (r.exitCode !== 0) throw new Error(`Cannot make the device tree of scenario ${this.name}: ${argv.join(" ")}: ${r.stderr.toString().trim()}`);
    };
    // dumpdtb writes QEMU's generated tree and exits before running the guest.
    const withDump = machine.map((arg) => (arg === "virt" ? `virt,dumpdtb=${tmp}.virt.dtb` : arg));
    run(["qemu-system-aarch64", ...withDump, "-nographic", "-no-user-config", "-nodefaults"]);
    run(["dtc", "-q", "-I", "dtb", "-O", "dts", "-o", `${tmp}.dts`, `${tmp}.virt.dtb`]);
    const dts = readFileSync(`${tmp}.dts`, "utf8");
    const end = dts.lastIndexOf("};");
    if (end < 0) throw new Error(`Cannot add /reserved-memory to "${tmp}.dts": no closing "};"`);
    writeFileSync(`${tmp}.dts`, `${dts.slice(0, end)}\n${node}\n${dts.slice(end)}`);
    run(["dtc", "-q", "-I", "dts", "-O", "dtb", "-o", `${tmp}.dtb`, `${tmp}.dts`]);
    writeFileSync(join(dir, `virt-crashkeep-${key}.dts`), readFileSync(`${tmp}.dts`));
    renameSync(`${tmp}.dtb`, dtb);
    for (const f of [`${tmp}.dts`, `${tmp}.virt.dtb`]) rmSync(f, { force: true });
    return dtb;
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

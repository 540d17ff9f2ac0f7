// Guest steps the QEMU scenarios share (test/qemu/*.test.ts, build/demo.ts,
// build/fleet-demo.ts): crashkeep's JSON views, a mirrored log line, the
// archived panic, an upload config that outlives a panic, a queued crash.
import { expect } from "bun:test";
import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { readGdbReference } from "../unit/core/gdb-reference.ts";
import type { Config } from "../../src/config/schema.ts";
import { DAEMON_PID, kernelSeries, type QemuVm } from "./harness.ts";

/**
 * A TCG aarch64 boot of the 116 MB initramfs took 25–70 s of guest uptime on
 * a 2-core host at load 12, and went past 180 s at load 20 with four VMs.
 */
export const BOOT_TIMEOUT_MS = 300_000;
/**
 * A guest command: `crashkeep dump --json` took over 30 s in a TCG aarch64
 * guest with four VMs on two cores at load 19.
 */
export const RUN_TIMEOUT_MS = 90_000;
/** A chain of up to six boots with its steps. */
export const CHAIN_TIMEOUT_MS = 2_400_000;

export interface HistoryEntry {
  id: string;
  reason: string;
  subreason?: string;
  detail?: string;
  previousBootId?: string;
  files: Array<{ name: string; kind: string }>;
}

export async function history(vm: QemuVm): Promise<HistoryEntry[]> {
  return JSON.parse(await vm.runOk("crashkeep history --json")) as HistoryEntry[];
}

export async function newest(vm: QemuVm): Promise<HistoryEntry> {
  const [entry] = await history(vm);
  if (!entry) throw new Error("Cannot find an archived boot: history is empty");
  return entry;
}

export interface DumpRecord {
  seq: number;
  collected: boolean;
  kind: string;
  payload: { data: string };
}

export async function records(vm: QemuVm): Promise<DumpRecord[]> {
  return (JSON.parse(await vm.runOk("crashkeep dump --json")) as { records: DumpRecord[] }).records;
}

/** Tries of the wait for a logged line to reach the journal (each a `crashkeep dump`, 0.5–2 s under TCG). */
const LOG_LINE_TRIES = 60;

/**
 * A syslog line (`line`, else tag-<time>), then wait until the journal's log
 * tail holds it: a SIGUSR1 asks the daemon for a mirror pass at once (the
 * pid from its pidfile, written only once the daemon handles the signal),
 * else its next pass every logs.intervalSeconds finds it; fails naming the
 * tail it last saw.
 */
export async function logLine(vm: QemuVm, tag: string, line = `${tag}-${Date.now().toString(16)}`): Promise<string> {
  const out = await vm.run(
    `logger -t app '${line}'; kill -USR1 ${DAEMON_PID} 2>/dev/null; n=0; found=0; ` +
      `while [ $n -lt ${LOG_LINE_TRIES} ]; do ` +
      `if crashkeep dump --json | grep -qF '${line}'; then found=1; break; fi; n=$((n+1)); sleep 0.3; done; ` +
      `[ $found = 1 ] || { echo "not in the journal after $n tries; its log tail ends:"; crashkeep dump | tail -n 3; ` +
      `echo "daemon:"; ps | grep '[c]rashkeep watch'; echo "kernel log ends:"; dmesg | tail -n 8; false; }`,
    { timeoutMs: 180_000 },
  );
  if (out.code !== 0) throw new Error(`Cannot find the logged line "${line}" in the journal: ${out.output.trim()}`);
  return line;
}

/** The archived panic: reason, the panic line, the log tail holding line. */
export async function expectPanicWithTail(vm: QemuVm, line: string): Promise<HistoryEntry> {
  const entry = await newest(vm);
  expect(entry).toMatchObject({ reason: "kernel-panic", detail: "sysrq triggered crash" });
  const names = entry.files.map((f) => f.name);
  expect(names).toContain("dmesg-ramoops-0");
  expect(names).toContain("log-0-messages");
  // The record as pstore_dump wrote it (the header line ramoops' read strips; decompressed on both series).
  expect(await vm.runOk(`head -n 1 /var/lib/crashkeep/${entry.id}/dmesg-ramoops-0`)).toBe("Panic#1 Part1\n");
  expect(await vm.runOk(`cat /var/lib/crashkeep/${entry.id}/log-0-messages`)).toContain(line);
  const shown = await vm.runOk(`crashkeep history show ${entry.id}`);
  expect(shown).toContain("Kernel panic - not syncing: sysrq triggered crash");
  expect(shown).toContain(line);
  // Collected: nothing left in pstore.
  expect(await vm.runOk("ls /sys/fs/pstore | wc -l")).toBe("0\n");
  return entry;
}

export function gunzip(file: string): string {
  const r = Bun.spawnSync(["gzip", "-dkf", file]);
  if (r.exitCode !== 0) throw new Error(`Cannot decompress "${file}": ${r.stderr.toString().trim()}`);
  return file.replace(/\.gz$/, "");
}

/**
 * gdb-multiarch's threads and frames for a core of the image's program, with
 * the commands test/fixtures/cores/make.sh uses for the fixtures and the
 * image's root tree (QemuVm.imageRoot) as the sysroot (no separate debug info).
 */
export function gdbThreads(root: string, program: string, core: string, out: string) {
  const exe = join(root, "usr/bin", program);
  if (!existsSync(exe)) throw new Error(`Cannot find "${exe}": remake the image`);
  const r = Bun.spawnSync([
    "gdb-multiarch", "-nx", "-batch",
    "-ex", "set pagination off", "-ex", "set width 0", "-ex", "set debuginfod enabled off",
    "-ex", "set debug-file-directory /nonexistent", "-ex", `set sysroot ${root}`,
    "-ex", `file ${exe}`, "-ex", `core-file ${core}`,
    "-ex", "info threads", "-ex", "thread apply all bt", "-ex", "thread apply all frame apply all -q p/x $pc",
  ]);
  writeFileSync(out, r.stdout);
  if (r.exitCode !== 0) throw new Error(`Cannot run gdb-multiarch on "${core}": ${r.stderr.toString().trim()}`);
  return readGdbReference(out);
}

/**
 * The guest's daemon uploads with UPLOAD (the config's "upload" object) now and
 * after every reboot: the image's config with it is written to
 * /var/crashkeep-test/config.json, which S01testimage copies to /etc at each
 * boot, and to /etc now, then the daemon restarts. The sync is needed: a panic
 * soon after found the file still in the page cache (ext4 delayed
 * allocation), it came back empty after the reset, and the next boot ran on
 * the defaults: upload off.
 */
export async function uploadWith(vm: QemuVm, upload: Record<string, unknown>): Promise<void> {
  const overlay = JSON.parse(await Bun.file(join(import.meta.dir, "../../rootfs-overlay/etc/crashkeep/config.json")).text()) as Record<string, unknown>;
  const b64 = Buffer.from(JSON.stringify({ ...overlay, upload })).toString("base64");
  await vm.runOk(`mkdir -p /var/crashkeep-test && echo ${b64} | base64 -d > /var/crashkeep-test/config.json && cp /var/crashkeep-test/config.json /etc/crashkeep/config.json && sync && /etc/init.d/S03crashkeep restart`, { timeoutMs: 60_000 });
}

/** Runs the image's `crasher` (SIGSEGV) and waits up to 30 s until the daemon has queued its report in the outbox. */
export async function crashIntoOutbox(vm: QemuVm): Promise<void> {
  await vm.runOk(
    "ulimit -c unlimited; crasher; n=0; until ls /var/lib/crashkeep/outbox 2>/dev/null | grep -q -- '-crash-'; do n=$((n+1)); [ $n -gt 150 ] && break; sleep 0.2; done",
    { timeoutMs: 60_000 },
  );
}

/** QEMU user networking in the guest (the image leaves eth0 down at boot): the host's loopback is 10.0.2.2. */
export async function networkUp(vm: QemuVm): Promise<void> {
  await vm.runOk("ip link set eth0 up && ip addr add 10.0.2.15/24 dev eth0 && ip route add default via 10.0.2.2");
}

const escapeRe = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

/**
 * What crashkeep init and status read from the kernel, as the booted kernel
 * series has it (reference/kernel-facts.md; docs/QEMU.md "Kernel versions"):
 * run on the first boot of a scenario whose init loaded or found ramoops and
 * phram, on 6.1 and on 6.12 alike, so that a difference between the series is
 * seen here and not assumed.
 * - the release is the image's kernel, of the series asked for (QEMU_KERNEL);
 * - modules.dep (modules.ts): the module files are .ko on 6.1 and .ko.xz on
 *   6.12 (CONFIG_MODULE_COMPRESS_XZ), each with the dependency init loads
 *   first; arm64's phram.ko is the out-of-tree build under updates/;
 * - /proc/mtd (mtd.ts): the header and the `mtd%d: %8.8llx %8.8x "%s"` line;
 * - ramoops' parameters (bound.ts): decimal, the bound region's, by either route;
 * - 6.12 adds ramoops' mem_name parameter and its device-tree alias
 *   (MODULE_DEVICE_TABLE(of), so a modalias coldplug loads it), neither in 6.1.
 */
export async function expectKernelFacts(vm: QemuVm, config: Config): Promise<void> {
  const series = kernelSeries();
  const release = (await vm.runOk("uname -r")).trim();
  expect(release.startsWith(`${series}.`), `uname -r ${release} on a ${series} lane`).toBe(true);
  expect(release).toBe((await vm.runOk("cat /etc/test-image-kernel")).trim());

  const ko = series === "6.1" ? ".ko" : ".ko.xz";
  const dep = await vm.runOk(`cat /lib/modules/${release}/modules.dep`);
  const phram = vm.arch === "aarch64" ? "updates/phram.ko" : `kernel/drivers/mtd/devices/phram${ko}`;
  for (const line of [
    `kernel/drivers/mtd/mtd${ko}:`,
    `${phram}: kernel/drivers/mtd/mtd${ko}`,
    `kernel/lib/reed_solomon/reed_solomon${ko}:`,
    `kernel/fs/pstore/ramoops${ko}: kernel/lib/reed_solomon/reed_solomon${ko}`,
  ]) {
    expect(dep).toMatch(new RegExp(`^${escapeRe(line)}$`, "m"));
  }
  expect(await vm.runOk("cut -d' ' -f1 /proc/modules | grep -x -e mtd -e phram -e reed_solomon -e ramoops | sort")).toBe("mtd\nphram\nramoops\nreed_solomon\n");

  await expectRegionsAsConfigured(vm, config);
  const memName = await vm.run("test -e /sys/module/ramoops/parameters/mem_name");
  expect(memName.code === 0, "ramoops has mem_name").toBe(series === "6.12");
  const alias = await vm.runOk(`grep -c '^alias of:N\\*T\\*Cramoops ramoops$' /lib/modules/${release}/modules.alias || true`);
  expect(alias.trim(), "ramoops' device-tree alias").toBe(series === "6.12" ? "1" : "0");
}

/** The phram MTD device and ramoops's parameters as the config sets them (a module's or a built-in driver's alike). */
async function expectRegionsAsConfigured(vm: QemuVm, config: Config): Promise<void> {
  const size = config.phram.sizeBytes.toString(16).padStart(8, "0");
  const erase = config.phram.eraseSizeBytes.toString(16).padStart(8, "0");
  expect(await vm.runOk("cat /proc/mtd")).toMatch(new RegExp(`^dev:    size   erasesize  name\\nmtd\\d+: ${size} ${erase} "${escapeRe(config.phram.name)}"\\n$`));
  const param = async (name: string) => (await vm.runOk(`cat /sys/module/ramoops/parameters/${name}`)).trim();
  expect(await param("mem_address")).toBe(String(config.ramoops.address));
  expect(await param("mem_size")).toBe(String(config.ramoops.sizeBytes));
  expect(await param("record_size")).toBe(String(config.ramoops.recordSizeBytes));
}

/**
 * What crashkeep init and status read from a kernel that has MTD, phram and
 * ramoops built in (=y: the Buildroot image with KERNEL=buildroot, Linux
 * 6.12), where expectKernelFacts' modules do not exist; run once init has
 * found both drivers bound, by the device tree or the kernel command line:
 * - the release is 6.12 (Buildroot's kernel, not Debian's: no ABI suffix);
 * - none of mtd, phram, reed_solomon, ramoops is a loaded module, and
 *   modules.builtin lists each (Buildroot's modules_install wrote it), so
 *   status says "builtin" for all four;
 * - /sys/module/phram/parameters/phram exists although phram was never
 *   inserted (a built-in driver's parameters live there too; init adds a
 *   device through it when neither route named one);
 * - ramoops' parameters hold the bound region (ramoops_probe writes back the
 *   device tree's values as well as the command line's), and 6.12 has
 *   mem_name;
 * - /proc/mtd has the phram device, as with the module.
 */
export async function expectBuiltinKernelFacts(vm: QemuVm, config: Config): Promise<void> {
  const release = (await vm.runOk("uname -r")).trim();
  expect(release).toMatch(/^6\.12\.\d+$/);
  expect(await vm.runOk("cut -d' ' -f1 /proc/modules | grep -x -e mtd -e phram -e reed_solomon -e ramoops || true")).toBe("");
  const builtin = await vm.runOk(`cat /lib/modules/${release}/modules.builtin`);
  for (const path of ["kernel/drivers/mtd/mtd.ko", "kernel/drivers/mtd/devices/phram.ko", "kernel/lib/reed_solomon/reed_solomon.ko", "kernel/fs/pstore/ramoops.ko"]) {
    expect(builtin).toMatch(new RegExp(`^${escapeRe(path)}$`, "m"));
  }
  expect(await vm.runOk("crashkeep status | grep '^modules:'")).toBe("modules:  mtd builtin, phram builtin, reed_solomon builtin, ramoops builtin\n");
  expect((await vm.run("test -e /sys/module/phram/parameters/phram")).code, "/sys/module/phram/parameters/phram").toBe(0);

  await expectRegionsAsConfigured(vm, config);
  expect((await vm.run("test -e /sys/module/ramoops/parameters/mem_name")).code, "ramoops has mem_name").toBe(0);
}

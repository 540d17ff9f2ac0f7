// Issue 20: the Buildroot image (make buildroot-image: Buildroot 2025.02 LTS,
// the BR2_EXTERNAL package from the release tarball, Buildroot's skeleton,
// BusyBox init with its own S01syslogd and S02klogd, Debian's arm64 kernel)
// booted by the QEMU harness on the device-tree route, in one chain of boots:
//
//   first boot: the package's executable is crashkeep (not a stripped Bun),
//     init binds the /reserved-memory nodes; the upload config goes in;
//   a crash of a threaded -O2 program → report whose frames equal
//     gdb-multiarch's for the core copied out of the guest;
//   a line logged through Buildroot's syslogd (/var/log → /tmp), sysrq
//     panic → archived entry with the reason, the panic line and that line;
//   the network comes up: the panic boot and the crash reach a host mosquitto;
//   clean reboot, reboot -f, power cut.
//
// and the mem= route once: init inserts the modules with the config's
// parameters; a logged line, a sysrq panic → the same entry; then a root
// remounted read-only and an archive under /var/log (tmpfs): status and init
// name what to set.
//
// BUILDROOT_KERNEL=buildroot runs the same on the KERNEL=buildroot image
// (Linux 6.12 built by Buildroot with crashkeep's kernel fixups, MTD, phram
// and ramoops built in, no initrd): on the device-tree route both drivers
// bind the /reserved-memory nodes at boot, on the mem= route they take the
// config's parameters from the kernel command line (phram.phram=,
// ramoops.*), and init uses them as they are (expectBuiltinKernelFacts).
//
// Run: make buildroot-image BUILDROOT=... && node_modules/.bin/bun test test/qemu/buildroot.test.ts
// (make test-buildroot [KERNEL=buildroot], make test-buildroot-kernel)
import { afterAll, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import type { Report } from "../../src/core/report.ts";
import { mosquitto, Subscriber, waitFor, type Received } from "../integration/brokers.ts";
import { QemuVm } from "./harness.ts";
import { phramParams, ramoopsParams } from "../../src/system/modules.ts";
import { BOOT_TIMEOUT_MS, CHAIN_TIMEOUT_MS, RUN_TIMEOUT_MS, expectBuiltinKernelFacts, expectPanicWithTail, gdbThreads, gunzip, history, logLine, newest, records } from "./steps.ts";

/** Which image (make buildroot-image KERNEL=): debian (Debian's 6.1, modules) or buildroot (6.12 built by Buildroot, drivers built in). */
const KERNEL = process.env["BUILDROOT_KERNEL"] ?? "debian";
if (KERNEL !== "debian" && KERNEL !== "buildroot") throw new Error(`Cannot test BUILDROOT_KERNEL "${KERNEL}": it must be debian or buildroot`);
const BUILTIN = KERNEL === "buildroot";
const IMAGE = resolve(import.meta.dir, BUILTIN ? "../../out/buildroot/kernel-buildroot/qemu" : "../../out/buildroot/qemu");
/** Scenario names (logs, disks) per image, so both can be kept side by side. */
const SUFFIX = BUILTIN ? "-kernel" : "";
const escapeRe = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
const VERSION = (JSON.parse(readFileSync(resolve(import.meta.dir, "../../package.json"), "utf8")) as { version: string }).version;
/** How long the daemon may take to send once the network is up (as upload.test.ts). */
const SEND_TIMEOUT_MS = 180_000;

const cleanups: Array<() => unknown> = [];
afterAll(async () => {
  QemuVm.killAll();
  for (const c of cleanups.reverse()) await c();
});

test(
  "Buildroot image, device-tree route: crashkeep as packaged; threaded crash → gdb's frames; syslogd line + sysrq panic → kernel-panic entry; upload to mosquitto; clean, reboot -f, power cut",
  async () => {
    const broker = await mosquitto();
    cleanups.push(() => broker.kill9());
    await broker.start();
    const sub = new Subscriber(broker.port, "buildroot-collector");
    cleanups.push(() => sub.close());
    await sub.connect();
    const host = mkdtempSync(join(tmpdir(), "crashkeep-buildroot-"));
    cleanups.push(() => rmSync(host, { recursive: true, force: true }));

    const options = { name: `buildroot-dt${SUFFIX}`, imageDir: IMAGE, arch: "aarch64" as const, reserve: "dt" as const, net: true, transferDiskMiB: 16, bootTimeoutMs: BOOT_TIMEOUT_MS, runTimeoutMs: RUN_TIMEOUT_MS };
    await QemuVm.scenario(options, async (vm) => {
      const config = vm.imageConfig;
      // Buildroot's own system: its os-release, skeleton and init scripts.
      expect(await vm.runOk("grep -e ^ID= -e ^VERSION_ID= /etc/os-release")).toMatch(/^ID=buildroot\nVERSION_ID=2025\.02\.\d+\n$/);
      expect(await vm.runOk("readlink /var/log; readlink /var/run")).toBe("../tmp\n../run\n");
      expect(await vm.runOk("ls /etc/init.d | cat")).toMatch(/S01syslogd\nS02klogd\n(?:.*\n)*S03crashkeep\n/);
      expect(await vm.runOk("awk '$2 == \"/\" { print $4 }' /proc/mounts")).toMatch(/^rw[,\n]/);
      // The package's executable survived target-finalize's strip (a stripped one is plain Bun).
      expect(await vm.runOk("crashkeep --version")).toStartWith(`crashkeep ${VERSION}`);
      expect(await vm.runOk("ls -l /usr/bin/crashkeep | cat")).toStartWith("-rwxr-xr-x");
      const boot0 = vm.boots[0] ?? "";
      expect(boot0).toContain("Starting crashkeep: ");
      if (BUILTIN) {
        // The built-in drivers bound the device-tree nodes before init ran: nothing inserted.
        expect(boot0).toMatch(new RegExp(`crashkeep: phram device "${escapeRe(config.phram.name)}" already present \\(mtd\\d+\\)\n`));
        expect(boot0).toContain(`crashkeep: ramoops already bound at 0x${config.ramoops.address.toString(16)} (${config.ramoops.sizeBytes} bytes, records of ${config.ramoops.recordSizeBytes})\n`);
        expect(boot0).not.toContain("crashkeep: module ");
        await expectBuiltinKernelFacts(vm, config);
      } else {
        expect(boot0).toContain(`crashkeep: phram "${config.phram.name}" from the device tree's /reserved-memory/phram@${config.phram.address.toString(16)} (`);
        expect(boot0).toContain("crashkeep: module ramoops: loaded\n");
      }
      expect(boot0).toContain("crashkeep: first boot: no journal and no archive yet, nothing to collect");
      const firstBootId = (await vm.runOk("cat /proc/sys/kernel/random/boot_id")).trim();
      expect(await history(vm)).toEqual([]);

      // The upload config, on the root file system (read-write, persistent); the daemon restarted with it.
      const uploadConfig = {
        ...(JSON.parse(await vm.runOk("cat /etc/crashkeep/config.json")) as Record<string, unknown>),
        upload: { broker: `mqtt://10.0.2.2:${broker.port}`, deviceId: "buildroot-guest", delaySeconds: 1, minBackoffSeconds: 2, maxBackoffSeconds: 4, connectTimeoutSeconds: 10 },
      };
      const b64 = Buffer.from(JSON.stringify(uploadConfig)).toString("base64");
      await vm.runOk(`echo ${b64} | base64 -d > /etc/crashkeep/config.json && sync && crashkeep config check && /etc/init.d/S03crashkeep restart`, { timeoutMs: 120_000 });

      // A crash in the second thread of a dynamically linked -O2 program (Buildroot's glibc), no network yet.
      const crash = await vm.run(
        "ulimit -c unlimited; threadcrash; echo exit=$?; " +
          "n=0; until crashkeep dump --json | grep -q crash-report; do n=$((n+1)); [ $n -gt 150 ] && break; sleep 0.2; done",
        { timeoutMs: 120_000 },
      );
      expect(crash.output).toContain("exit=139");
      const [record] = (await records(vm)).filter((r) => r.kind === "crash-report");
      expect((JSON.parse(record?.payload.data ?? "{}") as { comm: string }).comm).toBe("threadcrash");
      const reportDir = (await vm.runOk("ls -d /var/lib/crashkeep/reports/*/")).trim();
      const kept = (await vm.runOk("ls -1 /var/lib/crashkeep/cores/kept/")).trim().split("\n");
      expect(kept).toHaveLength(1);
      const [reportFile, coreFile] = await vm.copyOut([`${reportDir}report.json`, `/var/lib/crashkeep/cores/kept/${kept[0]}`], host);
      if (!reportFile || !coreFile) throw new Error("Cannot copy the report and the core out of the guest");
      const report = JSON.parse(readFileSync(reportFile, "utf8")) as Report;
      const crashing = report.threads.find((t) => t.crashing);
      expect(crashing?.frames.slice(0, 4).map((f) => f.symbol)).toEqual(["threadcrash_level_three", "threadcrash_level_two", "threadcrash_level_one", "threadcrash_worker"]);
      const gdb = gdbThreads(vm.imageRoot, "threadcrash", coreFile.endsWith(".gz") ? gunzip(coreFile) : coreFile, join(host, "gdb.txt"));
      const reference = gdb.find((t) => t.lwp === report.tid);
      expect(reference, `gdb's thread ${report.tid}`).toBeDefined();
      const n = reference?.frames.length ?? 0;
      expect(n).toBeGreaterThanOrEqual(4);
      expect(crashing?.frames.slice(0, n).map((f) => f.pc)).toEqual(reference?.frames.map((f) => `0x${f.pc.toString(16).padStart(16, "0")}`));

      // A line through Buildroot's syslogd (S01syslogd: /var/log/messages is /tmp/messages), then a sysrq panic.
      const line = await logLine(vm, "buildroot-line");
      expect(await vm.runOk(`grep -c '${line}' /tmp/messages`)).toBe("1\n");
      await vm.crash();
      expect(vm.boots[1]).toMatch(/previous boot ended in kernel-panic: sysrq triggered crash; last user-space crash before it: threadcrash \(pid \d+, SEGV_MAPERR at 0x18\)/);
      expect((await expectPanicWithTail(vm, line)).previousBootId).toBe(firstBootId);

      // The network comes up (QEMU user networking): the daemon sends the panic boot and the crash.
      await vm.runOk("ip link set eth0 up && ip addr add 10.0.2.15/24 dev eth0 && ip route add default via 10.0.2.2");
      const kinds = (k: string) => [...sub.byId.values()].filter((r) => r.payload.kind === k);
      await waitFor("the boot and the crash message on the host", () => kinds("boot").length >= 1 && kinds("crash").length >= 1, SEND_TIMEOUT_MS, () => `${sub.byId.size} message(s)`);
      const boot = kinds("boot")[0] as Received;
      expect(boot.topic).toBe("crashkeep/v1/buildroot-guest/boot");
      expect(boot.payload).toMatchObject({ device: { id: "buildroot-guest", arch: "aarch64" }, boot: { reason: "kernel-panic", panicMessage: "sysrq triggered crash" } });
      expect((kinds("crash")[0] as Received).payload).toMatchObject({ crash: { comm: "threadcrash" } });
      expect(sub.invalid).toEqual([]);

      // Clean reboot (rcK → crashkeep shutdown), reboot -f, a power cut.
      const secondBootId = (await vm.runOk("cat /proc/sys/kernel/random/boot_id")).trim();
      await vm.reboot();
      expect(await newest(vm)).toMatchObject({ reason: "clean", previousBootId: secondBootId });
      await vm.reboot({ force: true });
      expect((await newest(vm)).reason).toBe("unexpected-reset");
      await vm.powerCycle();
      expect((await history(vm)).map((e) => e.reason)).toEqual(["power-loss", "unexpected-reset", "clean", "kernel-panic"]);
    });
  },
  CHAIN_TIMEOUT_MS,
);

test(
  BUILTIN
    ? "Buildroot image, kernel built by Buildroot, mem= route: built-in ramoops and phram take the config's parameters from the kernel command line, init inserts nothing; a syslogd line, sysrq panic → kernel-panic entry"
    : "Buildroot image, mem= route: crashkeep inserts ramoops and phram with its parameters; a syslogd line, sysrq panic → kernel-panic entry",
  async () => {
    // Built in, the drivers take their parameters only from the command line: the config's, as init would pass them to modprobe.
    const config = new QemuVm({ name: `buildroot-mem${SUFFIX}`, imageDir: IMAGE, arch: "aarch64" }).imageConfig;
    const append = BUILTIN ? [...phramParams(config).map((p) => `phram.${p}`), ...ramoopsParams(config).map((p) => `ramoops.${p}`)] : [];
    await QemuVm.scenario({ name: `buildroot-mem${SUFFIX}`, imageDir: IMAGE, arch: "aarch64", reserve: "mem", append, bootTimeoutMs: BOOT_TIMEOUT_MS, runTimeoutMs: RUN_TIMEOUT_MS }, async (vm) => {
      expect(await vm.runOk("cat /proc/cmdline")).toContain("mem=496M");
      const boot0 = vm.boots[0] ?? "";
      if (BUILTIN) {
        expect(boot0).toMatch(new RegExp(`crashkeep: phram device "${escapeRe(config.phram.name)}" already present \\(mtd\\d+\\)\n`));
        expect(boot0).toContain(`crashkeep: ramoops already bound at 0x${config.ramoops.address.toString(16)} (${config.ramoops.sizeBytes} bytes, records of ${config.ramoops.recordSizeBytes})\n`);
        expect(boot0).not.toContain("crashkeep: module ");
        await expectBuiltinKernelFacts(vm, config);
      } else {
        expect(boot0).toContain(`crashkeep: module phram: loaded (phram=${config.phram.name},0x${config.phram.address.toString(16)},${config.phram.sizeBytes})`);
        expect(boot0).toContain(`crashkeep: module ramoops: loaded (mem_address=0x${config.ramoops.address.toString(16)} mem_size=${config.ramoops.sizeBytes} `);
      }
      const line = await logLine(vm, "buildroot-mem-line");
      await vm.crash();
      expect(vm.boots[1]).toContain("crashkeep: previous boot ended in kernel-panic: sysrq triggered crash; archived 1 pstore record(s)");
      await expectPanicWithTail(vm, line);

      // Where Buildroot's skeleton defeats the archive, status and init say what to set:
      // a root left read-only (no BR2_TARGET_GENERIC_REMOUNT_ROOTFS_RW), an archive under /var/log (tmpfs).
      const readOnly = await vm.run("mount -o remount,ro / && { crashkeep status; crashkeep init; }; mount -o remount,rw /", { timeoutMs: 120_000 });
      const roLine = 'Cannot write the archive "/var/lib/crashkeep": / is mounted read-only; remount it read-write at boot (Buildroot: BR2_TARGET_GENERIC_REMOUNT_ROOTFS_RW=y)';
      expect(readOnly.output).toContain(`archive:  ${roLine}`);
      expect(readOnly.output).toContain(`\n${roLine}`);
      const tmpfs = await vm.runOk(`sed 's|"/var/lib/crashkeep|"/var/log/crashkeep|g' /etc/crashkeep/config.json > /tmp/tmpfs.json && crashkeep status --config /tmp/tmpfs.json`);
      expect(tmpfs).toContain('archive:  Cannot keep the archive "/var/log/crashkeep" across reboots: it is on tmpfs (/tmp); set archive.dir to a directory on persistent storage');
    });
  },
  CHAIN_TIMEOUT_MS,
);

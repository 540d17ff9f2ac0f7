// Issue 10's aarch64 boot scenarios (Debian's arm64 kernel on QEMU virt,
// phram.ko built out of tree, the Bun arm64 executable; docs/AARCH64.md),
// each a chain of boots in one VM to save TCG boots:
//
//   arm64-dt (device-tree route): init finds the /reserved-memory nodes and
//     loads ramoops and phram with no parameters; first boot → log line →
//     sysrq panic → kernel-panic with the panic log and the log tail; clean
//     reboot, reboot -f, a noted reason, a power cut.
//   arm64-mem (mem= route): init inserts the modules with the config's
//     parameters over the RAM above mem=; log line → sysrq panic → the same.
// (arm64-capture.test.ts covers the other device-tree case: drivers already
// bound before init runs.)
//
// Run: make qemu-image TARGET=arm64 && node_modules/.bin/bun test test/qemu/arm64-boot.test.ts
import { afterAll, expect, test } from "bun:test";
import { QemuVm } from "./harness.ts";
import { BOOT_TIMEOUT_MS, CHAIN_TIMEOUT_MS, RUN_TIMEOUT_MS, expectKernelFacts, expectPanicWithTail, history, logLine, newest } from "./steps.ts";

afterAll(() => QemuVm.killAll());

test(
  "aarch64, device-tree route: reserved-memory nodes bound, sysrq panic → kernel-panic with panic log and log tail; clean, reboot -f, noted reason, power cut",
  async () => {
    await QemuVm.scenario({ name: "arm64-dt", arch: "aarch64", reserve: "dt", bootTimeoutMs: BOOT_TIMEOUT_MS, runTimeoutMs: RUN_TIMEOUT_MS }, async (vm) => {
      const config = vm.imageConfig;
      expect(await vm.runOk("uname -m")).toBe("aarch64\n");
      // init loaded the drivers with no parameters and they bound the device tree's nodes (no mem=).
      expect(await vm.runOk("cat /proc/cmdline")).not.toContain("mem=");
      const ramoops = config.ramoops.address.toString(16);
      const phram = config.phram.address.toString(16);
      expect(await vm.runOk("ls /sys/bus/platform/devices | grep -e ramoops -e phram")).toBe(`${ramoops}.ramoops\n${phram}.phram\n`);
      expect(await vm.runOk("cat /proc/device-tree/reserved-memory/phram@*/label")).toBe(`${config.phram.name}\0`);
      expect(await vm.runOk("cat /proc/mtd")).toContain(`"${config.phram.name}"`);
      const boot0 = vm.boots[0] ?? "";
      expect(boot0).toContain(`crashkeep: ramoops from the device tree's /reserved-memory/ramoops@${ramoops} (`);
      expect(boot0).toContain(`crashkeep: phram "${config.phram.name}" from the device tree's /reserved-memory/phram@${phram} (`);
      expect(boot0).toContain("crashkeep: module phram: loaded\n");
      expect(boot0).toContain("crashkeep: module ramoops: loaded\n");
      expect(boot0).toContain("crashkeep: first boot: no journal and no archive yet, nothing to collect");
      expect(await vm.runOk(`readlink /dev/mtdchar/${config.phram.name}`)).toMatch(/^\.\.\/mtd\d+\n$/);
      await expectKernelFacts(vm, config);
      const dump = JSON.parse(await vm.runOk("crashkeep dump --json")) as { retained: boolean; control: { currentBootId: string } };
      const firstBootId = (await vm.runOk("cat /proc/sys/kernel/random/boot_id")).trim();
      expect(dump.control.currentBootId).toBe(firstBootId);
      expect(await history(vm)).toEqual([]);

      // 1. A log line, then a sysrq panic: the next boot archives both.
      const line = await logLine(vm, "arm64-dt-line");
      await vm.crash();
      expect(vm.boots[1]).toContain("crashkeep: previous boot ended in kernel-panic: sysrq triggered crash; archived 1 pstore record(s)");
      expect((await expectPanicWithTail(vm, line)).previousBootId).toBe(firstBootId);

      // 4. clean reboot (rcK → crashkeep shutdown), reboot -f, a noted reason, a power cut.
      const secondBootId = (await vm.runOk("cat /proc/sys/kernel/random/boot_id")).trim();
      await vm.reboot();
      expect(await newest(vm)).toMatchObject({ reason: "clean", previousBootId: secondBootId });
      await vm.reboot({ force: true });
      expect((await newest(vm)).reason).toBe("unexpected-reset");
      await vm.runOk("crashkeep note --reason firmware-update 'flashing 2.1'");
      await vm.reboot({ force: true });
      const noted = await newest(vm);
      expect(noted).toMatchObject({ reason: "firmware-update" });
      const note = noted.files.find((f) => f.kind === "journal-note");
      expect(await vm.runOk(`cat /var/lib/crashkeep/${noted.id}/${note?.name}`)).toBe("flashing 2.1");
      await vm.powerCycle();
      expect((await history(vm)).map((e) => e.reason)).toEqual(["power-loss", "firmware-update", "unexpected-reset", "clean", "kernel-panic"]);
    });
  },
  CHAIN_TIMEOUT_MS,
);

test(
  "aarch64, mem= route: crashkeep inserts ramoops and phram with its parameters; a log line, sysrq panic → kernel-panic with panic log and log tail",
  async () => {
    await QemuVm.scenario({ name: "arm64-mem-crashkeep", arch: "aarch64", reserve: "mem", bootTimeoutMs: BOOT_TIMEOUT_MS, runTimeoutMs: RUN_TIMEOUT_MS }, async (vm) => {
      const config = vm.imageConfig;
      expect(await vm.runOk("cat /proc/cmdline")).toContain("mem=496M");
      const boot0 = vm.boots[0] ?? "";
      expect(boot0).toContain(`crashkeep: module phram: loaded (phram=${config.phram.name},0x${config.phram.address.toString(16)},${config.phram.sizeBytes})`);
      expect(boot0).toContain(`crashkeep: module ramoops: loaded (mem_address=0x${config.ramoops.address.toString(16)} mem_size=${config.ramoops.sizeBytes} `);
      expect(boot0).toContain("crashkeep: first boot: no journal and no archive yet, nothing to collect");
      await expectKernelFacts(vm, config);
      const line = await logLine(vm, "arm64-mem-line");
      await vm.crash();
      expect(vm.boots[1]).toContain("crashkeep: previous boot ended in kernel-panic: sysrq triggered crash; archived 1 pstore record(s)");
      await expectPanicWithTail(vm, line);
    });
  },
  CHAIN_TIMEOUT_MS,
);

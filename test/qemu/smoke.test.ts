// Smoke scenarios: prove the test image and the harness without crashkeep
// itself. The modules are inserted by hand with the project's layout
// (ramoops over the first 8 MiB at 0x7000000, phram "crashkeep" over the
// second 8 MiB at 0x7800000), so S03crashkeep is skipped: its "crashkeep
// init" would insert them too and collect pstore before the test looks.
//
// Run: build/make-image.sh && node_modules/.bin/bun test test/qemu
import { afterAll, describe, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { QemuVm, type QemuVmOptions } from "./harness.ts";

const MOD = "/lib/modules/$(uname -r)/kernel";
const RAMOOPS_ARGS = "mem_address=0x7000000 mem_size=0x800000 record_size=0x10000";
const PHRAM_ARGS = "phram=crashkeep,0x7800000,8Mi";
const PSTORE = "/sys/fs/pstore";

/** Per scenario; a boot, panic and second boot take about 25 s under TCG. */
const SCENARIO_TIMEOUT_MS = 240_000;

/** Less RAM for memhog to fill under TCG; the 115 MB initramfs still fits. */
const OOM_MEMORY_MIB = 512;

/** The variant with BusyBox modprobe: MODPROBE=busybox build/make-image.sh. */
const MODPROBE_IMAGE = "out/qemu-modprobe";

const timings: string[] = [];

afterAll(() => {
  QemuVm.killAll();
  if (timings.length > 0) console.log(`QEMU scenario timings:\n${timings.join("\n")}`);
});

async function scenario(
  name: string,
  fn: (vm: QemuVm) => Promise<void>,
  options: Partial<QemuVmOptions> = {},
): Promise<void> {
  const started = Date.now();
  let boots = "";
  await QemuVm.scenario({ name, skipInit: ["S03crashkeep"], ...options }, async (vm) => {
    await fn(vm);
    boots = vm.timings.map((t) => `boot ${t.boot} ready in ${(t.readyMs / 1000).toFixed(1)} s (guest uptime ${t.uptimeSeconds} s)`).join("; ");
  });
  timings.push(`  ${name}: ${((Date.now() - started) / 1000).toFixed(1)} s — ${boots}`);
}

/** insmod the four modules (dependencies first) and mount pstore. */
async function insertModules(vm: QemuVm): Promise<void> {
  await vm.runOk(
    [
      `insmod ${MOD}/drivers/mtd/mtd.ko`,
      `insmod ${MOD}/drivers/mtd/devices/phram.ko ${PHRAM_ARGS}`,
      `insmod ${MOD}/lib/reed_solomon/reed_solomon.ko`,
      `insmod ${MOD}/fs/pstore/ramoops.ko ${RAMOOPS_ARGS}`,
      `grep -q " ${PSTORE} " /proc/mounts || mount -t pstore pstore ${PSTORE}`,
    ].join(" && "),
  );
}

describe("QEMU smoke", () => {
  test(
    "a sysrq panic reboots; pstore, phram and /var keep their evidence",
    async () => {
      await scenario("smoke-sysrq", async (vm) => {
        await insertModules(vm);
        expect(await vm.runOk("cat /proc/mtd")).toContain('mtd0: 00800000 00001000 "crashkeep"');
        expect(await vm.runOk(`ls ${PSTORE}`)).toBe("");

        const canary = `crashkeep-canary-${Date.now().toString(16)}`;
        await vm.runOk(`printf '%s' '${canary}' > /dev/mtd0`);
        await vm.runOk("echo kept > /var/smoke.txt && sync");

        const crashed = await vm.crash();
        expect(crashed).toContain("Kernel panic - not syncing: sysrq triggered crash");
        expect(vm.bootIndex).toBe(1);
        // Each boot's log runs from the firmware banner to its last line.
        expect(crashed.match(/^SeaBIOS /gm)).toHaveLength(1);
        expect(vm.boots[1]).toStartWith("SeaBIOS ");

        await insertModules(vm);
        expect(await vm.runOk(`ls ${PSTORE}`)).toContain("dmesg-ramoops-0");
        const record = await vm.runOk(`cat ${PSTORE}/dmesg-ramoops-0`);
        expect(record).toContain("Panic#1 Part1");
        expect(record).toContain("sysrq triggered crash");
        expect(await vm.runOk(`head -c ${canary.length} /dev/mtd0; echo`)).toBe(`${canary}\n`);
        expect(await vm.runOk("cat /var/smoke.txt")).toBe("kept\n");
      });
    },
    SCENARIO_TIMEOUT_MS,
  );

  test(
    "an OOM with vm.panic_on_oom=1 panics and pstore keeps the OOM killer's report",
    async () => {
      await scenario("smoke-oom", async (vm) => {
        await insertModules(vm);
        await vm.runOk("sysctl -w vm.panic_on_oom=1");
        // No end marker will come back: the kernel panics while memhog runs.
        const crashed = await vm.expectReboot(() => vm.send("memhog 16\n"));
        expect(crashed).toContain("memhog: 64 MiB");

        await insertModules(vm);
        const record = await vm.runOk(`cat ${PSTORE}/dmesg-ramoops-0`);
        expect(record).toContain("memhog invoked oom-killer");
        expect(record).toContain("Kernel panic - not syncing: Out of memory");
      }, { memoryMiB: OOM_MEMORY_MIB });
    },
    SCENARIO_TIMEOUT_MS,
  );

  test(
    "reboot runs rcK; reboot -f and a monitor reset keep the reserved RAM; a power cycle loses it but not /var",
    async () => {
      await scenario("smoke-resets", async (vm) => {
        const stopped = await vm.reboot();
        expect(stopped).toContain("Stopping syslogd: OK");
        expect(stopped).not.toContain("Stopping crashkeep"); // skipped by rcS, so not stopped by rcK

        await insertModules(vm);
        const canary = `crashkeep-canary-${Date.now().toString(16)}`;
        const readCanary = `head -c ${canary.length} /dev/mtd0; echo`;
        await vm.runOk(`printf '%s' '${canary}' > /dev/mtd0 && echo kept > /var/smoke.txt && sync`);

        await vm.reboot({ force: true });
        await insertModules(vm);
        expect(await vm.runOk(readCanary)).toBe(`${canary}\n`);

        await vm.reset();
        await insertModules(vm);
        expect(await vm.runOk(readCanary)).toBe(`${canary}\n`);

        await vm.powerCycle();
        await insertModules(vm);
        expect(await vm.runOk(readCanary)).not.toBe(`${canary}\n`);
        expect(await vm.runOk("cat /var/smoke.txt")).toBe("kept\n");
        expect(vm.bootIndex).toBe(4);
        expect(vm.boots).toHaveLength(5);
      });
    },
    SCENARIO_TIMEOUT_MS,
  );

  test.skipIf(!existsSync(`${MODPROBE_IMAGE}/initrd.img`))(
    "BusyBox modprobe resolves the generated modules.dep (image variant MODPROBE=busybox)",
    async () => {
      await scenario(
        "smoke-modprobe",
        async (vm) => {
          await vm.runOk(`modprobe phram ${PHRAM_ARGS} && modprobe ramoops ${RAMOOPS_ARGS}`);
          const modules = await vm.runOk("cut -d' ' -f1 /proc/modules");
          for (const name of ["mtd", "phram", "reed_solomon", "ramoops"]) expect(modules).toContain(`${name}\n`);
          expect(await vm.runOk("cat /proc/mtd")).toContain('"crashkeep"');
          await vm.runOk("modprobe -r phram");
          expect(await vm.runOk("cut -d' ' -f1 /proc/modules")).not.toContain("mtd\n");
        },
        { imageDir: MODPROBE_IMAGE },
      );
    },
    SCENARIO_TIMEOUT_MS,
  );
});

// The QEMU part of build/demo.sh: boot, panic, reboot, show what was kept.
// Environment (set by demo.sh): RECOVER_CMD, CRASH, PANIC_ON_OOM.
import { QemuVm } from "../test/qemu/harness.ts";

const RECOVER_CMD = process.env["RECOVER_CMD"] ?? "tail -n 12 /sys/fs/pstore/dmesg-ramoops-0";
const CRASH = process.env["CRASH"] ?? "echo c > /proc/sysrq-trigger";
const PANIC_ON_OOM = process.env["PANIC_ON_OOM"] === "1";

// Until "crashkeep init" inserts the modules at boot (S03crashkeep), the demo
// does it, with the project's layout; it leaves modules already loaded alone.
const MOD = "/lib/modules/$(uname -r)/kernel";
const SETUP = [
  `grep -q '^mtd ' /proc/modules || insmod ${MOD}/drivers/mtd/mtd.ko`,
  `grep -q '^phram ' /proc/modules || insmod ${MOD}/drivers/mtd/devices/phram.ko phram=crashkeep,0x7800000,8Mi`,
  `grep -q '^reed_solomon ' /proc/modules || insmod ${MOD}/lib/reed_solomon/reed_solomon.ko`,
  `grep -q '^ramoops ' /proc/modules || insmod ${MOD}/fs/pstore/ramoops.ko mem_address=0x7000000 mem_size=0x800000 record_size=0x10000`,
  "grep -q ' /sys/fs/pstore ' /proc/mounts || mount -t pstore pstore /sys/fs/pstore",
].join(" && ");

function say(text: string): void {
  console.log(`\n-- ${text}`);
}

function indent(text: string): string {
  return text.replace(/^/gm, "   ").trimEnd();
}

const started = Date.now();
await QemuVm.scenario({ name: "demo" }, async (vm) => {
  say(`booted in ${((Date.now() - started) / 1000).toFixed(1)} s; boot log:`);
  console.log(indent((vm.boots[0] ?? "").split("CRASHKEEP-BOOT-START\n")[1] ?? ""));

  say("reserved RAM and modules");
  console.log(indent(await vm.runOk(`${SETUP} && grep -i -e reserved -e ramoops /proc/iomem; cat /proc/mtd; ls -l /sys/fs/pstore`)));
  await vm.runOk("echo 'demo: written before the crash' > /var/log/demo.txt && sync");
  if (PANIC_ON_OOM) await vm.runOk("sysctl -w vm.panic_on_oom=1");

  say(`crashing the guest: ${CRASH}`);
  const crashed = await vm.expectReboot(() => vm.send(`${CRASH}\n`));
  const panic = crashed.split("\n").filter((l) => /Kernel panic|Rebooting in|sysrq|oom-killer/.test(l));
  console.log(indent(panic.join("\n")));

  say(`rebooted (boot ${vm.bootIndex}); what was kept:`);
  await vm.runOk(SETUP);
  console.log(indent(`$ ${RECOVER_CMD}`));
  console.log(indent(await vm.runOk(RECOVER_CMD)));
  console.log(indent(`$ cat /var/log/demo.txt\n${await vm.runOk("cat /var/log/demo.txt")}`));
  await vm.stop({ keepLogs: true });
});
say(`done in ${((Date.now() - started) / 1000).toFixed(1)} s; console logs in out/qemu-logs/demo/`);

// The QEMU part of build/demo.sh (make demo): boot the test image, where
// S03crashkeep runs `crashkeep init` and starts `crashkeep watch`; write a
// log line; panic the kernel; let it reboot; show what crashkeep recovered.
// Environment (set by demo.sh): CRASH, PANIC_ON_OOM, GUEST (x86_64 or
// aarch64), RESERVE (aarch64: dt or mem).
import { QemuVm } from "../test/qemu/harness.ts";
import { logLine } from "../test/qemu/steps.ts";

const CRASH = process.env["CRASH"] ?? "echo c > /proc/sysrq-trigger";
const PANIC_ON_OOM = process.env["PANIC_ON_OOM"] === "1";
const ARCH = process.env["GUEST"] === "aarch64" ? "aarch64" : "x86_64";
const RESERVE = process.env["RESERVE"] === "mem" ? "mem" : "dt";
const NAME = ARCH === "aarch64" ? "demo-arm64" : "demo";

function say(text: string): void {
  console.log(`\n-- ${text}`);
}

/** What crashkeep printed on the console, without the kernel's copy of its kmsg lines (aarch64 boots show notices). */
function saidByCrashkeep(boot: string): string {
  return boot.split("\n").filter((l) => /crashkeep: /.test(l) && !/^\[\s*\d+\.\d+\] /.test(l)).join("\n");
}

function indent(text: string): string {
  return text.replace(/^/gm, "   ").trimEnd();
}

const started = Date.now();
const options = ARCH === "aarch64" ? { name: NAME, arch: ARCH, reserve: RESERVE, bootTimeoutMs: 300_000, runTimeoutMs: 90_000 } as const : { name: NAME };
await QemuVm.scenario(options, async (vm) => {
  say(`booted in ${((Date.now() - started) / 1000).toFixed(1)} s; what crashkeep init said:`);
  console.log(indent(saidByCrashkeep(vm.boots[0] ?? "")));

  say("$ uname -m");
  console.log(indent(await vm.runOk("uname -m")));
  if (ARCH === "aarch64") {
    say(RESERVE === "dt" ? "the RAM is reserved by the device tree (/reserved-memory):" : "the RAM is kept from Linux by mem= on the command line:");
    console.log(indent(await vm.runOk(RESERVE === "dt" ? "cd /proc/device-tree/reserved-memory && for n in *@*; do echo \"$n: compatible $(cat $n/compatible)$(cat $n/label 2>/dev/null | sed 's/^/, label /')\"; done; ls /sys/bus/platform/devices | grep -e ramoops -e phram | sed 's/^/bound: /'" : "cat /proc/cmdline")));
  }

  say("$ crashkeep status");
  console.log(indent(await vm.runOk("crashkeep status")));

  const line = "demo: the last thing the application logged before the crash";
  say(`$ logger '${line}'   (the daemon mirrors /var/log/messages into the phram journal)`);
  await logLine(vm, "demo", line);
  if (PANIC_ON_OOM) await vm.runOk("sysctl -w vm.panic_on_oom=1");

  say(`crashing the guest: ${CRASH}`);
  const crashed = await vm.expectReboot(() => vm.send(`${CRASH}\n`));
  console.log(indent(crashed.split("\n").filter((l) => /Kernel panic|Rebooting in|sysrq|oom-killer/.test(l)).join("\n")));

  say(`rebooted (boot ${vm.bootIndex}); crashkeep init said:`);
  console.log(indent(saidByCrashkeep(vm.boots[vm.bootIndex] ?? "")));

  say("$ crashkeep history");
  console.log(indent(await vm.runOk("crashkeep history")));
  const id = (await vm.runOk("crashkeep history --json | grep -m1 '\"id\"' | cut -d'\"' -f4")).trim();
  say(`$ crashkeep history show ${id} | (head; the log tail's end; the panic log's end)`);
  const shown = await vm.runOk(`crashkeep history show ${id}`);
  const [head, ...sections] = shown.split("\n--- ");
  console.log(indent(head ?? ""));
  for (const s of sections) {
    const [title, ...body] = s.split("\n");
    const lines = body.filter((l) => l.trim());
    // The panic log: the lines that say what happened; a log tail: its last lines.
    const key = lines.filter((l) => /Kernel panic|sysrq: |Oops|BUG: |oom-kill|Out of memory/.test(l));
    console.log(indent(`--- ${title}\n[...]\n${(key.length > 0 ? key : lines.slice(-8)).join("\n")}`));
  }
  await vm.stop({ keepLogs: true });
});
say(`done in ${((Date.now() - started) / 1000).toFixed(1)} s; console logs in out/qemu-logs/${NAME}/`);

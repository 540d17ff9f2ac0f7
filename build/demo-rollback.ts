// make demo-rollback: the rollback proof's image (build/rollback-image.sh) as a
// user sees it. The device runs the factory firmware 1.0 from slot A; RAUC
// installs a signed update, 2.1-panic, whose kernel panics 40 s after every
// boot; U-Boot boots it from slot B; after maxBadBoots bad boots crashkeep
// marks B bad, makes A active and reboots; 1.0 runs again, and the reason is
// in crashkeep's archive and on a mosquitto on the host.
//
//   node_modules/.bin/bun build/demo-rollback.ts    (after make rollback-image)
//
// Console logs stay in out/qemu-logs/demo-rollback/.
import { mosquitto, Subscriber, waitFor } from "../test/integration/brokers.ts";
import { QemuVm } from "../test/qemu/harness.ts";
import { networkUp } from "../test/qemu/steps.ts";
import { readFileSync } from "node:fs";
import { join, resolve } from "node:path";

const IMAGE = resolve(import.meta.dir, "../out/qemu-rollback");
const BOOT_TIMEOUT_MS = 300_000;
const ROLLBACK = { enabled: true, backend: "rauc", probationSeconds: 90, maxBadBoots: 2, criticalExecutables: ["sensord"] };

function say(text: string): void {
  console.log(`\n-- ${text}`);
}

function indent(text: string): string {
  return text.replace(/^/gm, "   ").trimEnd();
}

/** What a boot showed that a user cares about: U-Boot's choice, the firmware defect, the panic, what crashkeep found of the boot before. */
function highlights(boot: string): string {
  return boot
    .split("\n")
    .filter((l) => /^Found valid slot|^No valid slot|Firmware defect|Kernel panic - not syncing|^crashkeep: (previous boot|first boot)/.test(l))
    .join("\n");
}

const started = Date.now();
const broker = await mosquitto();
await broker.start();
const sub = new Subscriber(broker.port, "demo-rollback-collector");
await sub.connect();
try {
  await QemuVm.scenario({ name: "demo-rollback", imageDir: IMAGE, arch: "aarch64", bootTimeoutMs: BOOT_TIMEOUT_MS, runTimeoutMs: 90_000, net: true }, async (vm) => {
    say(`booted in ${((Date.now() - started) / 1000).toFixed(0)} s: U-Boot from flash, its boot script chose:`);
    console.log(indent(highlights(vm.boots[0] ?? "")));
    say("$ grep PRETTY /etc/os-release; fw_printenv BOOT_ORDER BOOT_A_LEFT BOOT_B_LEFT");
    console.log(indent(await vm.runOk("grep PRETTY /etc/os-release; fw_printenv BOOT_ORDER BOOT_A_LEFT BOOT_B_LEFT")));

    const base = JSON.parse(readFileSync(join(vm.imageRoot, "etc/crashkeep/config.json"), "utf8")) as Record<string, unknown>;
    const config = { ...base, rollback: ROLLBACK, upload: { broker: `mqtt://10.0.2.2:${broker.port}`, deviceId: "demo-device", delaySeconds: 1, minBackoffSeconds: 2, maxBackoffSeconds: 4, connectTimeoutSeconds: 10 } };
    say(`crashkeep's config: rollback ${JSON.stringify(ROLLBACK)}, upload to the host's mosquitto (port ${broker.port})`);
    const b64 = Buffer.from(JSON.stringify(config)).toString("base64");
    await vm.runOk(`mkdir -p /var/crashkeep-test && echo ${b64} | base64 -d > /var/crashkeep-test/config.json && cp /var/crashkeep-test/config.json /etc/crashkeep/config.json && sync && /etc/init.d/S03crashkeep restart`, { timeoutMs: 120_000 });
    // crashkeep learns the factory slot from RAUC in the background; the update comes after that.
    await waitFor("crashkeep to record the factory slot", async () => /^rollback: slot A /m.test(await vm.runOk("crashkeep status")), 180_000);
    say("$ crashkeep status | grep rollback");
    console.log(indent(await vm.runOk("crashkeep status | grep '^rollback'")));

    say("$ rauc install /run/bundles/fw-2.1-panic.raucb   (signed by the test CA; its kernel panics 40 s after every boot)");
    const t0 = Date.now();
    const out = await vm.runOk("mkdir -p /run/bundles && mount -t ext4 -o ro /dev/vdb /run/bundles && rauc install /run/bundles/fw-2.1-panic.raucb", { timeoutMs: 600_000 });
    console.log(indent(out.split("\n").filter((l) => /succeeded|error|fail/i.test(l)).join("\n")));
    console.log(indent(`(${((Date.now() - t0) / 1000).toFixed(0)} s) ${(await vm.runOk("fw_printenv BOOT_ORDER")).trim()}`));

    say("$ reboot");
    const first = vm.bootIndex + 1;
    vm.send("reboot\n");
    await vm.waitFor(/^Found valid slot A, \d attempts remaining$/m, 6 * BOOT_TIMEOUT_MS);
    await vm.waitForReady(BOOT_TIMEOUT_MS);
    for (let i = first; i <= vm.bootIndex; i++) {
      say(`boot ${i}:`);
      console.log(indent(highlights(vm.boots[i] ?? "")));
    }

    say("back on the old firmware: $ grep PRETTY /etc/os-release; fw_printenv ...; rauc status");
    console.log(indent(await vm.runOk("grep PRETTY /etc/os-release; fw_printenv BOOT_ORDER BOOT_A_LEFT BOOT_B_LEFT; rauc status 2>/dev/null | grep -E 'Booted from|boot status|bundle.version'")));
    say("$ crashkeep status");
    console.log(indent(await vm.runOk("crashkeep status")));
    say("$ crashkeep history");
    console.log(indent(await vm.runOk("crashkeep history")));

    say("network up: the queued messages go to the host");
    await networkUp(vm);
    await waitFor("the rollback message on the host", () => [...sub.byId.values()].some((r) => r.payload.kind === "rollback"), 180_000);
    for (const r of sub.all) {
      say(`host received ${r.topic}`);
      if (r.payload.kind === "rollback") console.log(indent(JSON.stringify(r.payload, null, 2)));
    }
    await vm.stop({ keepLogs: true });
  });
} finally {
  await sub.close();
  await broker.kill9();
}
say(`done in ${((Date.now() - started) / 1000).toFixed(0)} s; console logs in out/qemu-logs/demo-rollback/`);

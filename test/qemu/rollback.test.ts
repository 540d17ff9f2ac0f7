// Issue 23's proof with real parts (docs/ROLLBACK-QEMU.md): the rollback image
// (build/rollback-image.sh, out/qemu-rollback) boots Debian's U-Boot from
// pflash on QEMU virt (cortex-a53); U-Boot's boot script does RAUC's A/B
// choice with BOOT_ORDER and BOOT_x_LEFT; RAUC 1.8 (Debian's arm64 package)
// runs as a D-Bus service in the guest and installs bundles signed on the host
// with the test CA.
//
//   rauc-uboot: the parts alone, crashkeep's rollback policy off. The boot
//     counter is decremented and saved by U-Boot; `rauc status mark-good`,
//     mark-bad and mark-active change it as fw_printenv shows; a signed bundle
//     installs into slot B and the next boot runs it; a bundle signed by
//     another CA is refused; a firmware that panics before crashkeep starts
//     is given up by U-Boot after 3 tries, and slot A boots again.
//
// Then issue 23's scenarios with crashkeep's rollback on (backend rauc,
// probationSeconds 90, maxBadBoots 2 below U-Boot's 3 attempts,
// criticalExecutables sensord), each from a fresh disk on the factory slot A:
//   1. good-update: 2.0 runs its probation out and crashkeep marks slot B good;
//   2. panic-update: 2.1-panic panics every boot; after 2 bad boots crashkeep
//      marks B bad, makes A active and reboots; 1.0 runs again; the rollback
//      is archived and reaches a mosquitto on the host;
//   3. crashloop-update: sensord crash-loops on 2.2-crashloop: each bad boot
//      ends in a clean reboot, the second in the rollback;
//   4. power-cut: a power cut during 2.0's probation is no bad boot;
//   5. early-panic-update: 2.3-early-panic panics before crashkeep runs;
//      U-Boot's counter alone brings A back, whose crashkeep reports "slot B
//      never reached crashkeep".
// make test runs 2 and 5; ROLLBACK_SCENARIOS=all (make test-rollback) all of them
// and rauc-uboot.
//
// Run: make rollback-image && node_modules/.bin/bun test --timeout 2400000 test/qemu/rollback.test.ts
import { afterAll, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { QemuVm } from "./harness.ts";
import { BOOT_TIMEOUT_MS, CHAIN_TIMEOUT_MS, RUN_TIMEOUT_MS, history, networkUp, type HistoryEntry } from "./steps.ts";
import { mosquitto, Subscriber, waitFor, type Received } from "../integration/brokers.ts";
import { api, startCollector, type Collector } from "../integration/servers.ts";

/** An entry of the collector's /api/rollbacks (docs/COLLECT.md). */
interface CollectedRollback {
  deviceId: string;
  trigger: string;
  fromSlot: string;
  fromFirmware: string | null;
  toSlot: string;
  badBootCount: number;
  badBoots: Array<{ reason: string; detail: string | null }>;
}

/** make test-rollback: every scenario; make test: the two main ones (2 and 5). */
const ALL = process.env["ROLLBACK_SCENARIOS"] === "all";

const cleanups: Array<() => unknown> = [];
afterAll(() => {
  QemuVm.killAll();
  for (const c of cleanups.reverse()) c();
});

function run(argv: string[]): void {
  const r = Bun.spawnSync(argv, { stdout: "pipe", stderr: "pipe" });
  if (r.exitCode !== 0) throw new Error(`Cannot run ${argv.join(" ")}: ${r.stderr.toString().trim()}`);
}

/**
 * A CA of its own (openssl) and a 1 MiB bundle it signs for the right
 * compatible, in <dir>/transfer/rogue.raucb.
 */
function rogueBundle(dir: string): void {
  const content = join(dir, "content");
  mkdirSync(content, { recursive: true });
  mkdirSync(join(dir, "transfer"), { recursive: true });
  run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", join(dir, "key.pem"), "-out", join(dir, "cert.pem"), "-days", "1", "-subj", "/CN=rogue CA"]);
  run(["mke2fs", "-q", "-t", "ext4", join(content, "rootfs.ext4"), "1M"]);
  writeFileSync(join(content, "manifest.raucm"), "[update]\ncompatible=crashkeep-qemu-aarch64\nversion=6.6.6\n\n[bundle]\nformat=plain\n\n[image.rootfs]\nfilename=rootfs.ext4\n");
  run(["rauc", "bundle", `--cert=${join(dir, "cert.pem")}`, `--key=${join(dir, "key.pem")}`, content, join(dir, "transfer", "rogue.raucb")]);
}

const IMAGE = resolve(import.meta.dir, "../../out/qemu-rollback");
/** `rauc install` of an 85 MB bundle under TCG: signature check over the bundle, 160 MiB written to the slot. */
const INSTALL_TIMEOUT_MS = 600_000;

/** The boot state U-Boot's script keeps (fw_printenv of the three variables). */
async function bootState(vm: QemuVm): Promise<Record<string, string>> {
  const out = await vm.runOk("fw_printenv BOOT_ORDER BOOT_A_LEFT BOOT_B_LEFT");
  return Object.fromEntries(out.trim().split("\n").map((line) => [line.slice(0, line.indexOf("=")), line.slice(line.indexOf("=") + 1)]));
}

interface RaucSlot {
  class: string;
  device: string;
  bootname?: string;
  state: string;
  boot_status?: string;
  slot_status?: { bundle?: { version?: string } };
}
interface RaucStatus {
  compatible: string;
  booted: string;
  boot_primary: string;
  slots: Array<Record<string, RaucSlot>>;
}

async function raucStatus(vm: QemuVm): Promise<RaucStatus> {
  return JSON.parse(await vm.runOk("rauc status --detailed --output-format=json 2>/dev/null")) as RaucStatus;
}

function slot(status: RaucStatus, name: string): RaucSlot {
  const found = status.slots.find((s) => name in s)?.[name];
  if (found === undefined) throw new Error(`Cannot find slot "${name}" in rauc status: ${JSON.stringify(status)}`);
  return found;
}

/** The bundles disk (/dev/vdb, read-only), mounted at /run/bundles. */
const MOUNT_BUNDLES = "mkdir -p /run/bundles && { grep -q ' /run/bundles ' /proc/mounts || mount -t ext4 -o ro /dev/vdb /run/bundles; }";

/** Lines U-Boot's boot script printed, in order, over the whole console. */
function slotChoices(console: string): string[] {
  return [...console.matchAll(/^Found valid slot ([AB]), (\d) attempts remaining$/gm)].map((m) => `${m[1]}${m[2]}`);
}

test.skipIf(!ALL)(
  "U-Boot + RAUC, no crashkeep policy: boot counter saved by U-Boot, mark-good/-bad/-active, signed install into B and its boot, foreign signature refused, U-Boot falls back to A after 3 failed tries of B",
  async () => {
    // A rogue CA made here, and a small bundle it signs (the guest must refuse it): on the transfer disk (/dev/vdc).
    const rogue = mkdtempSync(join(tmpdir(), "crashkeep-rogue-ca-"));
    cleanups.push(() => rmSync(rogue, { recursive: true, force: true }));
    rogueBundle(rogue);
    const options = { name: "rauc-uboot", imageDir: IMAGE, arch: "aarch64" as const, bootTimeoutMs: BOOT_TIMEOUT_MS, runTimeoutMs: RUN_TIMEOUT_MS, transferDiskMiB: 8, transferFrom: join(rogue, "transfer") };
    await QemuVm.scenario(options, async (vm) => {
      const started = Date.now();
      // 1. U-Boot from pflash, its boot script from the boot partition, slot A (factory 1.0).
      const boot0 = vm.boots[0] ?? "";
      expect(boot0).toMatch(/^U-Boot 2023\.01/m);
      expect(boot0).toContain("Found U-Boot script /boot.scr");
      expect(slotChoices(vm.console)).toEqual(["A2"]);
      expect(await vm.runOk("cat /proc/cmdline")).toContain("rauc.slot=A");
      expect(await vm.runOk(". /etc/os-release; echo $VERSION_ID")).toBe("1.0\n");
      // U-Boot saved the decremented counter before booting; fw_printenv reads it.
      expect(await bootState(vm)).toEqual({ BOOT_ORDER: "A B", BOOT_A_LEFT: "2", BOOT_B_LEFT: "3" });
      // RAUC's service answers on D-Bus and knows the booted slot from rauc.slot=.
      const status = await raucStatus(vm);
      expect(status).toMatchObject({ compatible: "crashkeep-qemu-aarch64", booted: "A", boot_primary: "rootfs.0" });
      expect(slot(status, "rootfs.0")).toMatchObject({ bootname: "A", state: "booted", boot_status: "good" });

      // 2. mark-good puts the counter back to 3.
      await vm.runOk("rauc status mark-good");
      expect(await bootState(vm)).toEqual({ BOOT_ORDER: "A B", BOOT_A_LEFT: "3", BOOT_B_LEFT: "3" });

      // 3. A bundle signed by a CA the firmware does not trust is refused before anything is written.
      await vm.runOk("mkdir -p /tmp/rogue && tar -xf /dev/vdc -C /tmp/rogue");
      const refused = await vm.run("rauc install /tmp/rogue/rogue.raucb", { timeoutMs: INSTALL_TIMEOUT_MS });
      expect(refused.code).not.toBe(0);
      expect(refused.output).toMatch(/signature verification failed|Verification failed|unable to get local issuer certificate/i);
      expect(await bootState(vm)).toEqual({ BOOT_ORDER: "A B", BOOT_A_LEFT: "3", BOOT_B_LEFT: "3" });

      // 4. Install the good update 2.0: RAUC writes slot B and makes it the first to try.
      const installStarted = Date.now();
      const install = await vm.run(`${MOUNT_BUNDLES} && rauc install /run/bundles/fw-2.0.raucb`, { timeoutMs: INSTALL_TIMEOUT_MS });
      const installMs = Date.now() - installStarted;
      expect(install.output).toContain("Installing `/run/bundles/fw-2.0.raucb` succeeded");
      expect(install.code).toBe(0);
      expect(await bootState(vm)).toEqual({ BOOT_ORDER: "B A", BOOT_A_LEFT: "3", BOOT_B_LEFT: "3" });
      const installed = await raucStatus(vm);
      expect(installed.boot_primary).toBe("rootfs.1");
      expect(slot(installed, "rootfs.1").slot_status?.bundle?.version).toBe("2.0");

      // 5. Reboot: U-Boot tries B, the update runs.
      await vm.reboot({ timeoutMs: BOOT_TIMEOUT_MS });
      expect(slotChoices(vm.boots[1] ?? "")).toEqual(["B2"]);
      expect(await vm.runOk(". /etc/os-release; echo $VERSION_ID")).toBe("2.0\n");
      expect((await raucStatus(vm)).booted).toBe("B");
      expect(await bootState(vm)).toEqual({ BOOT_ORDER: "B A", BOOT_A_LEFT: "3", BOOT_B_LEFT: "2" });

      // 6. mark-bad on the booted slot: no attempts left for B, and RAUC 1.8 takes it out of
      // BOOT_ORDER; mark-active of the other slot: A first, 3 attempts.
      await vm.runOk("rauc status mark-bad");
      expect(await bootState(vm)).toEqual({ BOOT_ORDER: "A", BOOT_A_LEFT: "3", BOOT_B_LEFT: "0" });
      expect(slot(await raucStatus(vm), "rootfs.1").boot_status).toBe("bad");
      await vm.runOk("rauc status mark-active other");
      expect(await bootState(vm)).toEqual({ BOOT_ORDER: "A", BOOT_A_LEFT: "3", BOOT_B_LEFT: "0" });
      await vm.reboot({ timeoutMs: BOOT_TIMEOUT_MS });
      expect(slotChoices(vm.boots[2] ?? "")).toEqual(["A2"]);
      expect(await vm.runOk(". /etc/os-release; echo $VERSION_ID")).toBe("1.0\n");
      await vm.runOk("rauc status mark-good");

      // 7. Scenario 5's bootloader half: an update that panics before crashkeep runs. U-Boot tries B
      // three times (2, 1, 0 attempts left), then finds none left and boots A.
      const early = await vm.run(`${MOUNT_BUNDLES} && rauc install /run/bundles/fw-2.3-early-panic.raucb`, { timeoutMs: INSTALL_TIMEOUT_MS });
      expect(early.code).toBe(0);
      const before = vm.bootIndex;
      await vm.reboot({ timeoutMs: 4 * BOOT_TIMEOUT_MS });
      const tail = vm.boots.slice(before + 1).join("");
      expect(slotChoices(tail)).toEqual(["B2", "B1", "B0", "A2"]);
      expect(tail.match(/Firmware defect: kernel panic before crashkeep starts/g)?.length).toBe(3);
      expect(await vm.runOk(". /etc/os-release; echo $VERSION_ID")).toBe("1.0\n");
      expect(await bootState(vm)).toEqual({ BOOT_ORDER: "B A", BOOT_A_LEFT: "2", BOOT_B_LEFT: "0" });
      const fellBack = await raucStatus(vm);
      expect(fellBack.booted).toBe("A");
      expect(slot(fellBack, "rootfs.1").boot_status).toBe("bad");
      console.log(`rauc-uboot: install ${(installMs / 1000).toFixed(1)} s, whole scenario ${((Date.now() - started) / 1000).toFixed(0)} s`);
    });
  },
  CHAIN_TIMEOUT_MS,
);

interface BadBootFacts {
  slot: string;
  bootId: string | null;
  reason: string;
  detail: string | null;
  executable: string | null;
}
interface RollbackFacts {
  trigger: string;
  fromSlot: string;
  fromFirmware: string | null;
  toSlot: string;
  badBoots: BadBootFacts[];
  decidedInBoot?: string;
}
/** A history entry of kind rollback (crashkeep history --json). */
type RollbackEntry = HistoryEntry & { facts: { rollback: RollbackFacts } };

/** The rollback section the scenarios run with (docs/ROLLBACK.md). */
const ROLLBACK = { enabled: true, backend: "rauc", probationSeconds: 90, maxBadBoots: 2, criticalExecutables: ["sensord"] } as const;
/** Boots of a scenario: up to 3 tries of B, the rollback's reboot, A, each a TCG boot of the 70 MB initramfs. */
const ROLLBACK_CHAIN_MS = 6 * BOOT_TIMEOUT_MS;

/**
 * The image's config plus `extra` (rollback, upload), for every boot from now on
 * (S01testimage's hook copies /var/crashkeep-test/config.json to /etc at each
 * boot, on either slot); the daemon restarts with it now.
 */
async function configure(vm: QemuVm, extra: Record<string, unknown>): Promise<void> {
  const base = JSON.parse(readFileSync(join(vm.imageRoot, "etc/crashkeep/config.json"), "utf8")) as Record<string, unknown>;
  const b64 = Buffer.from(JSON.stringify({ ...base, ...extra })).toString("base64");
  await vm.runOk(`mkdir -p /var/crashkeep-test && echo ${b64} | base64 -d > /var/crashkeep-test/config.json && cp /var/crashkeep-test/config.json /etc/crashkeep/config.json && sync && crashkeep config check && /etc/init.d/S03crashkeep restart`, { timeoutMs: 120_000 });
  // The factory slot is known good (as a device leaves the factory): A's attempts back to 3.
  await vm.runOk("rauc status mark-good booted");
  // crashkeep has the factory slot's facts before any update (it waits for RAUC in the background):
  // an install before that makes crashkeep take the new slot for the factory one (docs/ROLLBACK-QEMU.md).
  await waitFor("crashkeep to record the factory slot", async () => /^rollback: slot A \(1\.0\): /m.test(await vm.runOk("crashkeep status")), 180_000);
}

/** rauc install of one of the image's bundles; returns its wall time in ms. */
async function install(vm: QemuVm, firmware: string): Promise<number> {
  const t0 = Date.now();
  const out = await vm.runOk(`${MOUNT_BUNDLES} && rauc install /run/bundles/fw-${firmware}.raucb`, { timeoutMs: INSTALL_TIMEOUT_MS });
  expect(out).toContain(`Installing \`/run/bundles/fw-${firmware}.raucb\` succeeded`);
  return Date.now() - t0;
}

/**
 * crashkeep's rollback on (plus `extra`), the bundle of `version` installed,
 * reboot into it; returns the index of the update's first boot and the
 * install's wall time.
 */
async function updateTo(vm: QemuVm, version: string, extra: Record<string, unknown> = {}): Promise<{ first: number; installMs: number }> {
  await configure(vm, { rollback: ROLLBACK, ...extra });
  const installMs = await install(vm, version);
  const first = vm.bootIndex + 1;
  await vm.reboot({ timeoutMs: BOOT_TIMEOUT_MS });
  return { first, installMs };
}

/** Waits until U-Boot picks `slot` (after everything already read) and its shell is ready. */
async function waitForSlot(vm: QemuVm, slot: "A" | "B", timeoutMs: number): Promise<void> {
  await vm.waitFor(new RegExp(`^Found valid slot ${slot}, \\d attempts remaining$`, "m"), timeoutMs);
  await vm.waitForReady(timeoutMs);
}

async function firmware(vm: QemuVm): Promise<string> {
  return (await vm.runOk(". /etc/os-release; echo $VERSION_ID")).trim();
}

/** The seconds a scenario took, printed for docs/ROLLBACK-QEMU.md. */
function took(name: string, started: number, extra = ""): void {
  console.log(`${name}: ${((Date.now() - started) / 1000).toFixed(0)} s wall${extra}`);
}

function scenarioOptions(name: string, net = false) {
  return { name, imageDir: IMAGE, arch: "aarch64" as const, bootTimeoutMs: BOOT_TIMEOUT_MS, runTimeoutMs: RUN_TIMEOUT_MS, net };
}

test.skipIf(!ALL)(
  "1. good update: 2.0 runs its probation out on slot B, crashkeep marks B good (U-Boot's counter back to 3)",
  async () => {
    await QemuVm.scenario(scenarioOptions("rollback-good"), async (vm) => {
      const started = Date.now();
      await updateTo(vm, "2.0");
      expect(await firmware(vm)).toBe("2.0");
      expect(await bootState(vm)).toMatchObject({ BOOT_ORDER: "B A", BOOT_B_LEFT: "2" });
      // A new install in B: on probation until 90 s of uptime pass without a bad verdict.
      await waitFor("crashkeep to put slot B on probation", async () => /^rollback: slot B \(2\.0\): on probation, \d+ s left, 0 of 2 bad boots so far$/m.test(await vm.runOk("crashkeep status")), 180_000);
      // Then mark-good: U-Boot's counter back to 3.
      await waitFor("crashkeep to mark slot B good", async () => (await bootState(vm))["BOOT_B_LEFT"] === "3", 240_000);
      expect(await vm.runOk("crashkeep status")).toMatch(/^rollback: slot B \(2\.0\): passed probation in this boot: marked good$/m);
      expect(slot(await raucStatus(vm), "rootfs.1").boot_status).toBe("good");
      expect(await firmware(vm)).toBe("2.0");
      took("rollback-good", started);
    });
  },
  ROLLBACK_CHAIN_MS,
);

test(
  "2. an update whose kernel panics 40 s after boot, every boot: after 2 bad boots crashkeep marks B bad, makes A active, reboots; 1.0 runs; the rollback is archived and reaches a host mosquitto",
  async () => {
    const broker = await mosquitto();
    cleanups.push(() => broker.kill9());
    await broker.start();
    const sub = new Subscriber(broker.port, "qemu-rollback-subscriber");
    cleanups.push(() => sub.close());
    await sub.connect();
    // The fleet collector (the compiled binary's `collect`) on the same broker.
    const dir = mkdtempSync(join(tmpdir(), "ck-qemu-rollback-collect-"));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const collector: Collector = await startCollector(["--broker", `mqtt://127.0.0.1:${broker.port}`, "--db", `sqlite://${dir}/c.db`, "--client-id", "ck-qemu-rollback"]);
    cleanups.push(() => collector.stop());
    await QemuVm.scenario(scenarioOptions("rollback-panic", true), async (vm) => {
      const started = Date.now();
      const upload = { broker: "mqtt://10.0.2.2:" + broker.port, deviceId: "qemu-rollback", delaySeconds: 1, minBackoffSeconds: 2, maxBackoffSeconds: 4, connectTimeoutSeconds: 10 };
      const { first, installMs } = await updateTo(vm, "2.1-panic", { upload });
      expect(await firmware(vm)).toBe("2.1-panic");
      // B panics, boots again, panics again; the third boot of B rolls back. Its own panic comes 40 s
      // after boot: on a host at load 4 crashkeep's clean reboot comes first; with three heavy
      // processes on the two cores the panic was once seen to come after crashkeep's switch and
      // before its reboot (docs/ROLLBACK-QEMU.md). Either way it is crashkeep's switch: RAUC's
      // mark-bad took B out of BOOT_ORDER, which U-Boot's own fallback leaves as "B A".
      await waitForSlot(vm, "A", ROLLBACK_CHAIN_MS - 2 * BOOT_TIMEOUT_MS);
      const chain = vm.boots.slice(first).join("");
      expect(slotChoices(chain)).toEqual(["B2", "B1", "B0", "A2"]);
      const thirdPanicked = chain.match(/Kernel panic - not syncing: sysrq triggered crash/g)?.length === 3;
      expect(chain.match(/Kernel panic - not syncing: sysrq triggered crash/g)?.length).toBe(thirdPanicked ? 3 : 2);
      expect(await firmware(vm)).toBe("1.0");
      expect(await bootState(vm)).toEqual({ BOOT_ORDER: "A", BOOT_A_LEFT: "2", BOOT_B_LEFT: "0" });
      const status = await raucStatus(vm);
      expect(status.booted).toBe("A");
      expect(slot(status, "rootfs.1").boot_status).toBe("bad");
      // crashkeep decided in the third boot of B, from the two archived panics of the boots before.
      const entries = await history(vm);
      const panics = entries.filter((e) => e.reason === "kernel-panic");
      expect(panics.length).toBe(thirdPanicked ? 3 : 2);
      const decision = entries.find((e) => e.reason === "rollback") as RollbackEntry | undefined;
      expect(decision).toBeDefined();
      const facts = decision?.facts.rollback;
      expect(decision?.subreason).toBe("crashkeep");
      expect(facts).toMatchObject({ trigger: "crashkeep", fromSlot: "B", fromFirmware: "2.1-panic", toSlot: "A" });
      const counted = panics.slice(thirdPanicked ? 1 : 0).reverse();
      expect(facts?.badBoots.map((b) => [b.slot, b.bootId, b.reason, b.detail])).toEqual(
        counted.map((p) => ["B", p.previousBootId ?? null, "kernel-panic", "sysrq triggered crash"]),
      );
      // The boot that rolled back is the newest archived one; it ended with the noted reason unless it panicked first.
      expect(entries[0]?.previousBootId).toBe(facts?.decidedInBoot);
      const noted = `rollback from slot B (2.1-panic): 2 bad boot(s) on probation: kernel-panic, kernel-panic`;
      if (!thirdPanicked) {
        expect(entries[0]?.detail).toBe(noted);
        expect(vm.boots[vm.bootIndex]).toContain(noted);
      }
      expect(await vm.runOk("crashkeep status")).toMatch(new RegExp(`last rollback ${decision?.id} \\(crashkeep, from slot B\\)`));
      // The evidence reaches the host once the network is up: the same facts as the archive entry.
      await networkUp(vm);
      await waitFor("the rollback message on the host", () => [...sub.byId.values()].some((r) => r.payload.kind === "rollback"), 180_000, () => `${sub.byId.size} message(s)`);
      const rollback = [...sub.byId.values()].find((r) => r.payload.kind === "rollback") as Received;
      expect(rollback.topic).toBe("crashkeep/v1/qemu-rollback/rollback");
      expect(rollback.payload).toMatchObject({ device: { id: "qemu-rollback", firmware: "2.1-panic", arch: "aarch64" } });
      expect((rollback.payload as unknown as { rollback: RollbackFacts }).rollback).toMatchObject({
        archiveId: decision?.id,
        trigger: "crashkeep",
        fromSlot: "B",
        fromFirmware: "2.1-panic",
        toSlot: "A",
        badBoots: facts?.badBoots,
      });
      expect(sub.invalid).toEqual([]);
      // The collector shows it: per device and per firmware version, each bad boot with its reason.
      const listed = await waitFor(
        "the collector to list the rollback",
        async () => (await api<CollectedRollback[]>(collector.base, "/api/rollbacks?firmware=2.1-panic")).find((r) => r.deviceId === "qemu-rollback"),
        60_000,
      );
      expect(listed).toMatchObject({ trigger: "crashkeep", fromSlot: "B", fromFirmware: "2.1-panic", toSlot: "A", badBootCount: 2 });
      expect(listed.badBoots.map((b) => [b.reason, b.detail])).toEqual([
        ["kernel-panic", "sysrq triggered crash"],
        ["kernel-panic", "sysrq triggered crash"],
      ]);
      took("rollback-panic", started, `, install ${(installMs / 1000).toFixed(1)} s`);
    });
  },
  ROLLBACK_CHAIN_MS,
);

test.skipIf(!ALL)(
  "3. an update whose critical daemon crash-loops: each bad boot ends in a clean reboot, the second in the rollback to A",
  async () => {
    await QemuVm.scenario(scenarioOptions("rollback-crashloop"), async (vm) => {
      const started = Date.now();
      const { first } = await updateTo(vm, "2.2-crashloop");
      await waitForSlot(vm, "A", ROLLBACK_CHAIN_MS - 2 * BOOT_TIMEOUT_MS);
      const chain = vm.boots.slice(first).join("");
      expect(slotChoices(chain)).toEqual(["B2", "B1", "A2"]);
      expect(chain).not.toContain("Kernel panic");
      expect(await firmware(vm)).toBe("1.0");
      expect(slot(await raucStatus(vm), "rootfs.1").boot_status).toBe("bad");
      // Two boots of B, each ended by crashkeep's clean reboot after sensord's crash loop; the second rolled back.
      const entries = await history(vm);
      const decision = entries.find((e) => e.reason === "rollback") as RollbackEntry | undefined;
      expect(decision?.facts.rollback).toMatchObject({ trigger: "crashkeep", fromSlot: "B", fromFirmware: "2.2-crashloop", toSlot: "A" });
      expect(decision?.facts.rollback.badBoots.map((b) => [b.slot, b.reason, b.executable])).toEqual([
        ["B", "crash-loop", "sensord"],
        ["B", "crash-loop", "sensord"],
      ]);
      expect(entries[0]?.detail).toBe("rollback from slot B (2.2-crashloop): 2 bad boot(s) on probation: crash-loop, crash-loop");
      took("rollback-crashloop", started);
    });
  },
  ROLLBACK_CHAIN_MS,
);

test.skipIf(!ALL)(
  "4. a power cut during 2.0's probation is no bad boot: the next boot of B finishes probation and is marked good",
  async () => {
    await QemuVm.scenario(scenarioOptions("rollback-power-cut"), async (vm) => {
      const started = Date.now();
      await updateTo(vm, "2.0");
      expect(await firmware(vm)).toBe("2.0");
      await vm.powerCycle({ timeoutMs: BOOT_TIMEOUT_MS });
      expect(await firmware(vm)).toBe("2.0");
      // U-Boot counted the second try of B; crashkeep counts no bad boot: the journal was not retained (power-loss).
      expect(slotChoices(vm.console).slice(-2)).toEqual(["B2", "B1"]);
      const entries: HistoryEntry[] = await history(vm);
      expect(entries[0]?.reason).toBe("power-loss");
      await waitFor("crashkeep to keep slot B on probation", async () => /^rollback: slot B \(2\.0\): on probation, \d+ s left, 0 of 2 bad boots so far$/m.test(await vm.runOk("crashkeep status")), 180_000);
      await waitFor("crashkeep to mark slot B good", async () => (await bootState(vm))["BOOT_B_LEFT"] === "3", 240_000);
      expect(await bootState(vm)).toMatchObject({ BOOT_ORDER: "B A" });
      expect((await history(vm)).some((e) => e.reason === "rollback")).toBe(false);
      took("rollback-power-cut", started);
    });
  },
  ROLLBACK_CHAIN_MS,
);

test(
  "5. an update on which crashkeep never runs (panic in S00): U-Boot's counter alone falls back to A; crashkeep on A reports that slot B never reached crashkeep",
  async () => {
    await QemuVm.scenario(scenarioOptions("rollback-early-panic"), async (vm) => {
      const started = Date.now();
      await configure(vm, { rollback: ROLLBACK });
      await install(vm, "2.3-early-panic");
      const first = vm.bootIndex + 1;
      vm.send("reboot\n");
      await waitForSlot(vm, "A", ROLLBACK_CHAIN_MS - BOOT_TIMEOUT_MS);
      const chain = vm.boots.slice(first).join("");
      expect(slotChoices(chain)).toEqual(["B2", "B1", "B0", "A2"]);
      expect(chain.match(/Firmware defect: kernel panic before crashkeep starts/g)?.length).toBe(3);
      expect(await firmware(vm)).toBe("1.0");
      // crashkeep on A: once RAUC answers, B's install is newer than A's and B has no attempts left
      // (boot_status bad): it reports the fallback, with the reason that B never reached it.
      const reported = await waitFor(
        "crashkeep on A to report the bootloader's fallback",
        async () => (await history(vm)).find((e) => e.reason === "rollback") as RollbackEntry | undefined,
        180_000,
      );
      expect(reported.subreason).toBe("bootloader");
      expect(reported.facts.rollback).toMatchObject({ trigger: "bootloader", fromSlot: "B", fromFirmware: "2.3-early-panic", toSlot: "A" });
      expect(reported.facts.rollback.badBoots).toEqual([
        expect.objectContaining({ slot: "B", bootId: null, reason: "never-reached-crashkeep", detail: "slot B never reached crashkeep: the bootloader's own counter fell back to slot A" }),
      ]);
      expect(await vm.runOk("crashkeep status")).toMatch(new RegExp(`last rollback ${reported.id} \\(bootloader, from slot B\\)`));
      // Reported once per install: the next boot of A adds no second rollback entry.
      await vm.reboot({ timeoutMs: BOOT_TIMEOUT_MS });
      await waitFor("crashkeep on A to have decided in this boot", async () => /^rollback: slot A /m.test(await vm.runOk("crashkeep status")), 180_000);
      expect((await history(vm)).filter((e) => e.reason === "rollback").map((e) => e.id)).toEqual([reported.id]);
      took("rollback-early-panic", started);
    });
  },
  ROLLBACK_CHAIN_MS,
);

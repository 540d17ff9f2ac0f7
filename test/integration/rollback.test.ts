// Issue 23: crash-aware rollback, the compiled binary on a fake tree, the
// updater behind the command backend (small shell scripts: the real
// backend), and the test as the bootloader: RAUC's documented U-Boot script
// (docs/integration.rst "U-Boot": for each slot in BOOT_ORDER with
// BOOT_x_LEFT > 0, decrement it and boot that slot; none left: reset the
// attempts and try again). Each boot: `crashkeep init` (the previous boot
// collected), then `crashkeep watch --once` (the rollback's decision for
// this boot carried out) or the daemon itself (`watch --init`) where a timer
// or the core watcher matters; then the boot ends as the scenario says
// (a panic in pstore, a power loss: the journal RAM not retained, a clean
// shutdown, a reset).
import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { makeFakeTree } from "../unit/boot/fake-tree.ts";
import { abortCore, ARCHIVE, BINARY, journalOf, PANIC_RECORD } from "./fault/paths.ts";
import { listOutbox, readOutboxEntry } from "../../src/upload/outbox.ts";

/** The bootloader's attempts per slot (RAUC's boot-attempts default, the QEMU proof's BOOT_x_LEFT). */
const ATTEMPTS = 3;
const FIRMWARE: Record<string, string> = { A: "1.0", B: "2.0" };

type Ending = "panic" | "power-loss" | "clean" | "reset" | "rebooted";

class Device {
  readonly root: string;
  boots = 0;
  slot = "";
  constructor(rollback: Record<string, unknown>, extra: Record<string, unknown> = {}) {
    const tree = makeFakeTree({ pstoreMounted: true });
    this.root = tree.root;
    const env = join(this.root, "uboot");
    const sh = (body: string) => body.replaceAll("$E", env);
    tree.write("uboot/BOOT_ORDER", "A B");
    tree.write("uboot/BOOT_A_LEFT", String(ATTEMPTS));
    tree.write("uboot/BOOT_B_LEFT", String(ATTEMPTS));
    tree.write("etc/crashkeep/config.json", JSON.stringify({
      cores: { mode: "watch", reportsPerMinute: 2 },
      upload: { broker: "mqtt://127.0.0.1:9", deviceId: "rollback-device" },
      rollback: {
        enabled: true,
        backend: "command",
        probationSeconds: 60,
        maxBadBoots: 2,
        criticalExecutables: ["abort"],
        rebootCommand: `touch ${this.root}/reboot-requested`,
        commands: {
          bootedSlot: sh("cat $E/booted"),
          primarySlot: sh("set -- $(cat $E/BOOT_ORDER); echo $1"),
          // RAUC's mark-good / mark-bad booted + mark-active other (src/bootchooser.c uboot_set_state, uboot_set_primary)
          markGood: sh('echo 3 > $E/BOOT_$(cat $E/booted)_LEFT && echo good >> $E/calls'),
          markBadAndSwitch: sh('b=$(cat $E/booted); if [ $b = A ]; then o=B; else o=A; fi; echo 0 > $E/BOOT_${b}_LEFT; echo "$o" > $E/BOOT_ORDER; echo 3 > $E/BOOT_${o}_LEFT; echo bad-and-switch >> $E/calls'),
        },
        ...rollback,
      },
      ...extra,
    }));
  }

  env(name: string): string {
    return readFileSync(join(this.root, "uboot", name), "utf8").trim();
  }

  setEnv(name: string, value: string): void {
    writeFileSync(join(this.root, "uboot", name), `${value}\n`);
  }

  /** An update installed into the other slot: RAUC's install makes it primary with fresh attempts. */
  install(slot: string): void {
    const order = this.env("BOOT_ORDER").split(" ").filter((s) => s !== slot);
    this.setEnv("BOOT_ORDER", [slot, ...order].join(" "));
    this.setEnv(`BOOT_${slot}_LEFT`, String(ATTEMPTS));
  }

  /** The bootloader chooses; the kernel starts with a new boot id and the slot's os-release. */
  powerOn(options: { uptime?: number } = {}): string {
    const order = this.env("BOOT_ORDER").split(" ");
    let chosen = order.find((s) => Number(this.env(`BOOT_${s}_LEFT`)) > 0);
    if (!chosen) {
      for (const s of order) this.setEnv(`BOOT_${s}_LEFT`, String(ATTEMPTS));
      chosen = order[0] ?? "A";
    }
    this.setEnv(`BOOT_${chosen}_LEFT`, String(Number(this.env(`BOOT_${chosen}_LEFT`)) - 1));
    this.setEnv("booted", chosen);
    this.slot = chosen;
    this.boots++;
    const n = String(this.boots).padStart(12, "0");
    writeFileSync(join(this.root, "proc/sys/kernel/random/boot_id"), `00000000-0000-4000-8000-${n}\n`);
    writeFileSync(join(this.root, "etc/os-release"), `ID=crashkeep-test\nVERSION_ID=${FIRMWARE[chosen]}\n`);
    writeFileSync(join(this.root, "proc/uptime"), `${options.uptime ?? 5}.00 1.00\n`);
    rmSync(join(this.root, "reboot-requested"), { force: true });
    return chosen;
  }

  ck(args: string[]): { code: number | null; out: string } {
    const r = Bun.spawnSync([BINARY, ...args], { cwd: this.root, env: { PATH: process.env.PATH ?? "/usr/bin:/bin", CRASHKEEP_ROOT: this.root }, stdout: "pipe", stderr: "pipe" });
    return { code: r.exitCode, out: `${r.stdout.toString()}${r.stderr.toString()}` };
  }

  /** init, then the daemon's decision carried out (watch --once); `cores` crashes of abort waiting for it. */
  run(options: { cores?: number } = {}): string {
    const init = this.ck(["init"]);
    if (init.code !== 0) throw new Error(`init failed in boot ${this.boots}: ${init.out}`);
    for (let i = 0; i < (options.cores ?? 0); i++) writeFileSync(join(this.root, ARCHIVE, `cores/core.abort.${4000 + i}.${1700000000 + i}`), abortCore());
    const watch = this.ck(["watch", "--once"]);
    if (watch.code !== 0) throw new Error(`watch --once failed in boot ${this.boots}: ${watch.out}`);
    return watch.out;
  }

  get rebootRequested(): boolean {
    return existsSync(join(this.root, "reboot-requested"));
  }

  end(how: Ending): void {
    // Each panic's record differs (as two real panics' do): its header names the boot.
    if (how === "panic") writeFileSync(join(this.root, "sys/fs/pstore/dmesg-ramoops-0"), Buffer.from(PANIC_RECORD.toString("latin1").replace("Panic#1 Part1", `Panic#${this.boots} Part1`), "latin1"));
    if (how === "power-loss") writeFileSync(join(this.root, "dev/mtd0"), new Uint8Array(readFileSync(join(this.root, "dev/mtd0")).length));
    if (how === "clean" || how === "rebooted") {
      const r = this.ck(["shutdown"]);
      if (r.code !== 0) throw new Error(`shutdown failed: ${r.out}`);
    }
  }

  entries(): Array<{ id: string; reason: string; facts: { rollback?: Record<string, unknown> } }> {
    const dir = join(this.root, ARCHIVE);
    return readdirSync(dir)
      .filter((n) => existsSync(join(dir, n, "entry.json")))
      .sort()
      .map((n) => JSON.parse(readFileSync(join(dir, n, "entry.json"), "utf8")) as { id: string; reason: string; facts: { rollback?: Record<string, unknown> } });
  }

  verdicts(): string[] {
    return this.entries().filter((e) => e.reason !== "rollback" && e.facts.rollback).map((e) => `${e.facts.rollback?.slot}:${e.facts.rollback?.reason}:${e.facts.rollback?.verdict}`);
  }

  rollbacks(): Array<Record<string, unknown>> {
    return this.entries().filter((e) => e.reason === "rollback").map((e) => e.facts.rollback ?? {});
  }

  outbox(kind: string): Array<Record<string, unknown>> {
    const dir = join(this.root, ARCHIVE, "outbox");
    return listOutbox(dir).filter((e) => e.kind === kind).map((e) => JSON.parse(new TextDecoder().decode(readOutboxEntry(dir, e) ?? new Uint8Array())) as Record<string, unknown>);
  }

  calls(): string[] {
    const f = join(this.root, "uboot/calls");
    return existsSync(f) ? readFileSync(f, "utf8").trim().split("\n") : [];
  }

  status(): Record<string, unknown> {
    const r = this.ck(["status", "--json"]);
    return (JSON.parse(r.out.slice(r.out.indexOf("{"))) as { rollback: Record<string, unknown> }).rollback;
  }
}

const devices: Device[] = [];
afterAll(() => {
  for (const d of devices) rmSync(d.root, { recursive: true, force: true });
});
function device(rollback: Record<string, unknown> = {}): Device {
  const d = new Device(rollback);
  devices.push(d);
  return d;
}

/** The factory boot on A (good, marked good), then an update into B. */
function updatedDevice(rollback: Record<string, unknown> = {}): Device {
  const d = device(rollback);
  expect(d.powerOn()).toBe("A");
  expect(d.run()).toContain("rollback: slot A (1.0): the first install seen, good, marking it good");
  d.end("clean");
  d.install("B");
  return d;
}

describe.skipIf(!existsSync(BINARY))("rollback (command backend, a simulated U-Boot)", () => {
  test("a good update: on probation, then marked good once it ran probationSeconds; later boots mark it good at once", () => {
    const d = updatedDevice();
    expect(d.powerOn({ uptime: 5 })).toBe("B");
    expect(d.run()).toContain("rollback: slot B (2.0): on probation (0 of 2 bad boots so far)");
    expect(d.status()).toMatchObject({ slot: "B", onProbation: true, probationLeftSeconds: 55, badBoots: 0, maxBadBoots: 2 });
    expect(d.calls()).toEqual(["good"]); // A's, not B's
    // A power loss during probation: not counted.
    d.end("power-loss");
    expect(d.powerOn({ uptime: 61 })).toBe("B");
    expect(d.run()).toContain("slot B passed probation: marked good");
    expect(d.calls()).toEqual(["good", "good"]);
    expect(d.status()).toMatchObject({ slot: "B", onProbation: false, markedGood: true, badBoots: 0 });
    d.end("reset"); // a reset after probation passed: not the update's fault
    expect(d.powerOn()).toBe("B");
    expect(d.run()).toContain("rollback: slot B (2.0): good, marking it good");
    expect(d.env("BOOT_B_LEFT")).toBe("3");
    // B's first boot lost its journal (power loss: no facts); the second passed probation, then reset.
    expect(d.verdicts()).toEqual(["A:clean:none", "B:probation-passed:good"]);
    expect(d.rollbacks()).toEqual([]);
  });

  test("an update that panics every boot: rolled back after maxBadBoots; the old slot boots; archived and queued for upload", () => {
    const d = updatedDevice();
    expect(d.powerOn()).toBe("B");
    d.run();
    d.end("panic");
    expect(d.powerOn()).toBe("B");
    expect(d.run()).toContain("on probation (1 of 2 bad boots so far)");
    expect(d.status()).toMatchObject({ slot: "B", onProbation: true, badBoots: 1 });
    d.end("panic");
    expect(d.powerOn()).toBe("B");
    const out = d.run();
    expect(out).toContain("rolling back (2 of 2 bad boots)");
    expect(d.rebootRequested).toBe(true);
    expect(d.calls()).toEqual(["good", "bad-and-switch"]);
    expect({ order: d.env("BOOT_ORDER"), b: d.env("BOOT_B_LEFT") }).toEqual({ order: "A", b: "0" });
    const [rb] = d.rollbacks();
    expect(rb).toMatchObject({ trigger: "crashkeep", fromSlot: "B", fromFirmware: "2.0", toSlot: null, install: "2.0" });
    expect((rb?.badBoots as Array<{ reason: string; detail: string }>).map((b) => b.reason)).toEqual(["kernel-panic", "kernel-panic"]);
    expect((rb?.badBoots as Array<{ detail: string }>)[0]?.detail).toContain("sysrq triggered crash");
    const [msg] = d.outbox("rollback");
    expect(msg).toMatchObject({ kind: "rollback", id: `rollback-device/rollback/${rb?.archiveId}`, rollback: { archiveId: rb?.archiveId, trigger: "crashkeep", fromSlot: "B" } });
    d.end("rebooted");
    expect(d.powerOn()).toBe("A");
    expect(d.run()).toContain("slot A (1.0): good, marking it good");
    // The boot that rolled back ended with its noted reason: archived, not counted.
    expect(d.verdicts()).toEqual(["A:clean:none", "B:kernel-panic:bad", "B:kernel-panic:bad", "B:noted:none"]);
    expect(d.rollbacks()).toHaveLength(1);
    const history = d.ck(["history"]).out;
    expect(history).toMatch(/-rollback {2}\S+ {2}rollback \(crashkeep\): rollback from slot B \(2\.0\): 2 bad boot\(s\): kernel-panic, kernel-panic/);
    expect(history).toMatch(/kernel-panic.*\[slot B, on probation, bad\]/);
  });

  test("a crash loop of a critical executable: a clean reboot for the next try, then the rollback at the second", () => {
    const d = updatedDevice();
    expect(d.powerOn()).toBe("B");
    expect(d.run({ cores: 3 })).toContain("bad boot 1 of 2");
    expect(d.rebootRequested).toBe(true);
    d.end("rebooted");
    expect(d.powerOn()).toBe("B");
    expect(d.run({ cores: 3 })).toContain("rolling back (2 of 2 bad boots)");
    const [rb] = d.rollbacks();
    expect((rb?.badBoots as Array<{ reason: string; executable: string }>).map((b) => `${b.reason}:${b.executable}`)).toEqual(["crash-loop:abort", "crash-loop:abort"]);
    d.end("rebooted");
    expect(d.powerOn()).toBe("A");
    d.run();
    expect(d.verdicts()).toEqual(["A:clean:none", "B:crash-loop:bad", "B:crash-loop:bad"]);
  });

  test("power losses during probation are never counted", () => {
    const d = updatedDevice({ maxBadBoots: 1 });
    for (let i = 0; i < 3; i++) {
      expect(d.powerOn()).toBe("B");
      d.setEnv("BOOT_B_LEFT", "3"); // keep the bootloader's counter out of it
      expect(d.run()).toContain("on probation (0 of 1 bad boots so far)");
      d.end("power-loss");
    }
    expect(d.rollbacks()).toEqual([]);
  });

  test("the bootloader's counter falls back on its own (crashkeep never ran on B): reported once, on A", () => {
    const d = updatedDevice();
    for (let i = 0; i < ATTEMPTS; i++) {
      expect(d.powerOn()).toBe("B"); // B's kernel never reaches crashkeep: no init, no daemon
      d.end("reset");
    }
    expect(d.powerOn()).toBe("A");
    expect(d.run()).toContain("slot B never reached crashkeep: the bootloader fell back to slot A");
    const [rb] = d.rollbacks();
    expect(rb).toMatchObject({ trigger: "bootloader", fromSlot: "B", toSlot: "A", toFirmware: "1.0", badBoots: [{ slot: "B", reason: "never-reached-crashkeep", bootId: null }] });
    expect(d.outbox("rollback")).toHaveLength(1);
    d.end("clean");
    expect(d.powerOn()).toBe("A"); // BOOT_ORDER still says "B A": still fallen back, not reported again
    expect(d.run()).not.toContain("never reached crashkeep");
    d.end("power-loss"); // even after a boot whose facts were lost
    expect(d.powerOn()).toBe("A");
    expect(d.run()).not.toContain("never reached crashkeep");
    expect(d.rollbacks()).toHaveLength(1);
    expect(d.outbox("rollback")).toHaveLength(1);
  });

  describe("the daemon itself (watch --init: the timer and the core watcher)", () => {
    async function until(what: string, ok: () => boolean, p: { exitCode: number | null }, ms = 60_000): Promise<void> {
      const deadline = Date.now() + ms;
      while (!ok()) {
        if (Date.now() > deadline || p.exitCode !== null) throw new Error(`Cannot see ${what} within ${ms / 1000} s (daemon exit ${p.exitCode})`);
        await Bun.sleep(50);
      }
    }
    const daemon = (d: Device) => Bun.spawn([BINARY, "watch", "--init"], { cwd: d.root, env: { PATH: process.env.PATH ?? "/usr/bin:/bin", CRASHKEEP_ROOT: d.root }, stdout: "pipe", stderr: "pipe" });

    test("probationSeconds (10) after boot, with no bad verdict: marked good by the timer, the daemon still running", async () => {
      const d = updatedDevice({ probationSeconds: 10 });
      expect(d.powerOn({ uptime: 5 })).toBe("B"); // 5 s of uptime left to run
      const p = daemon(d);
      try {
        await until("the probation timer's mark-good", () => d.calls().length === 2, p);
        expect(d.calls()).toEqual(["good", "good"]);
        expect(d.status()).toMatchObject({ slot: "B", onProbation: false, markedGood: true });
        expect(p.exitCode).toBeNull();
      } finally {
        p.kill("SIGTERM");
        await p.exited;
      }
      expect(await new Response(p.stderr).text()).toContain("crashkeep watch: rollback: slot B passed probation: marked good");
    });

    test("a crash loop seen by the core watcher: the boot is bad at once, never marked good, a clean reboot requested with its reason noted", async () => {
      const d = updatedDevice({ probationSeconds: 10 });
      expect(d.powerOn({ uptime: 5 })).toBe("B");
      const p = daemon(d);
      try {
        await until("the rollback's start decision", () => d.status().onProbation === true, p);
        for (let i = 0; i < 3; i++) writeFileSync(join(d.root, ARCHIVE, `cores/core.abort.${4100 + i}.${1700000100 + i}`), abortCore());
        await until("the reboot request", () => d.rebootRequested, p);
        expect(d.status()).toMatchObject({ slot: "B", onProbation: true, crashLoop: "abort", badBoots: 1, probationLeftSeconds: null });
        expect(journalOf(d.root).control?.notedReason?.text).toBe("crash loop of abort on slot B: bad boot 1 of 2, rebooting for the next try");
        await Bun.sleep(6000); // past probationSeconds: a bad boot is never marked good
        expect(d.calls()).toEqual(["good"]);
      } finally {
        p.kill("SIGTERM");
        await p.exited;
      }
    });
  });
});

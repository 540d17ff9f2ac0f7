// Issue 3's scenarios: crashkeep init at boot (S03crashkeep) on the real
// Debian kernel, asserting on what crashkeep itself prints in the next boot
// (status --json, history --json).
//
// Run: make qemu-image && node_modules/.bin/bun test test/qemu/boot.test.ts
import { afterAll, describe, expect, test } from "bun:test";
import { QemuVm } from "./harness.ts";
import { expectKernelFacts } from "./steps.ts";

/** A boot, a panic and a second boot take 25–60 s under TCG on a busy host. */
const SCENARIO_TIMEOUT_MS = 240_000;

afterAll(() => QemuVm.killAll());

interface HistoryEntry {
  id: string;
  reason: string;
  subreason?: string;
  detail?: string;
  files: Array<{ name: string; kind: string; bytes: number }>;
}

async function history(vm: QemuVm): Promise<HistoryEntry[]> {
  return JSON.parse(await vm.runOk("crashkeep history --json")) as HistoryEntry[];
}

async function status(vm: QemuVm) {
  return JSON.parse(await vm.runOk("crashkeep status --json")) as {
    config: { ok: boolean; errors: string[] };
    regions: Array<{ name: string; ok: boolean; reason?: string }>;
    modules: Record<string, string>;
    device?: { name: string; index: number; link?: string };
    pstore: { mounted: boolean; records: Array<{ file: string }> };
    archive: { entries: number };
  };
}

/** Install a config that the next boot's S01testimage copies into /etc (the initramfs is fresh on reset). */
async function configForNextBoot(vm: QemuVm, config: string): Promise<void> {
  await vm.runOk(`mkdir -p /var/crashkeep-test && cat > /var/crashkeep-test/config.json <<'CKEOF'\n${config}\nCKEOF\nsync`);
}

describe("crashkeep init at boot", () => {
  test(
    "first boot: modules in, /dev/mtdchar/crashkeep present, pstore empty, nothing archived; then sysrq panic → reboot → archived panic log, reason kernel-panic, pstore empty",
    async () => {
      await QemuVm.scenario({ name: "boot-first-sysrq" }, async (vm) => {
        expect(vm.boots[0]).toContain("crashkeep: first boot: no journal and no archive yet, nothing to collect");
        const s = await status(vm);
        expect(s.config.ok).toBe(true);
        expect(s.regions.every((r) => r.ok)).toBe(true);
        expect(s.modules).toEqual({ mtd: "loaded", phram: "loaded", reed_solomon: "loaded", ramoops: "loaded" });
        expect(s.device).toMatchObject({ name: "crashkeep", link: "/dev/mtdchar/crashkeep" });
        expect(await vm.runOk("readlink /dev/mtdchar/crashkeep")).toBe(`../mtd${s.device?.index}\n`);
        await expectKernelFacts(vm, vm.imageConfig);
        expect(s.pstore).toEqual({ mounted: true, records: [] });
        expect(await history(vm)).toEqual([]);
        // Idempotent: a second init inserts nothing and still succeeds.
        const again = await vm.run("crashkeep init");
        expect(again.code).toBe(0);
        expect(again.output).toContain("ramoops already bound at 0x7000000");

        await vm.crash();
        expect(vm.boots[1]).toContain("crashkeep: previous boot ended in kernel-panic: sysrq triggered crash; archived 1 pstore record(s)");
        const h = await history(vm);
        expect(h).toHaveLength(1);
        expect(h[0]).toMatchObject({ reason: "kernel-panic", detail: "sysrq triggered crash" });
        expect(h[0]?.files.map((f) => f.name)).toContain("dmesg-ramoops-0");
        expect(await vm.runOk(`head -n 1 /var/lib/crashkeep/${h[0]?.id}/dmesg-ramoops-0`)).toBe("Panic#1 Part1\n");
        const shown = await vm.runOk(`crashkeep history show ${h[0]?.id}`);
        expect(shown).toContain("Kernel panic - not syncing: sysrq triggered crash");
        expect(shown).toContain("reason:   kernel-panic");
        expect((await status(vm)).pstore.records).toEqual([]);
        expect(await vm.runOk("dmesg | grep 'crashkeep: previous boot'")).toContain("kernel-panic");
      });
    },
    SCENARIO_TIMEOUT_MS,
  );

  test(
    "out of memory with vm.panic_on_oom=1 → kernel-panic / out-of-memory, the OOM killer's lines archived",
    async () => {
      await QemuVm.scenario({ name: "boot-oom" }, async (vm) => {
        await vm.runOk("sysctl -w vm.panic_on_oom=1");
        await vm.expectReboot(() => vm.send("memhog 16\n"));
        const h = await history(vm);
        expect(h).toHaveLength(1);
        expect(h[0]).toMatchObject({ reason: "kernel-panic", subreason: "out-of-memory" });
        expect(h[0]?.detail).toContain("Out of memory");
        const shown = await vm.runOk(`crashkeep history show ${h[0]?.id}`);
        expect(shown).toContain("invoked oom-killer");
      });
    },
    SCENARIO_TIMEOUT_MS,
  );

  test(
    "a broken config: boot goes on, the error on the console, the panic record collected with defaults; then a region in System RAM: the memmap= to add, no module inserted, boot goes on",
    async () => {
      await QemuVm.scenario({ name: "boot-bad-config" }, async (vm) => {
        await configForNextBoot(vm, '{ "phram": { "sizeBytes": 1000 }, "colour": "blue" }');
        await vm.crash();
        const boot = vm.boots[1] ?? "";
        expect(boot).toContain('Cannot load config "/etc/crashkeep/config.json": phram.sizeBytes: must be a multiple of 4096, got 1000');
        expect(boot).toContain('Cannot load config "/etc/crashkeep/config.json": colour: unknown key');
        expect(boot).toContain("crashkeep: continuing with the default config");
        expect(boot).toContain("CRASHKEEP-INIT-DONE");
        // history reads the same broken config: it says so, exit 1, one line per problem.
        const bad = await vm.run("crashkeep history --json");
        expect(bad.code).toBe(1);
        expect(bad.output).toContain("phram.sizeBytes: must be a multiple of 4096, got 1000");
        await vm.runOk("rm /etc/crashkeep/config.json");
        const h = await history(vm);
        expect(h[0]).toMatchObject({ reason: "kernel-panic", detail: "sysrq triggered crash" });

        await configForNextBoot(vm, '{ "ramoops": { "address": "0x10000000" }, "phram": { "address": "0x10800000" } }');
        await vm.reboot({ force: true });
        const next = vm.boots[2] ?? "";
        expect(next).toContain("Cannot use the ramoops region: ramoops region 0x10000000-0x107fffff overlaps System RAM");
        expect(next).toContain("crashkeep: add memmap=16M$0x10000000 to the kernel command line; no module inserted");
        expect(next).toContain("CRASHKEEP-INIT-DONE");
        const s = await status(vm);
        expect(s.modules).toEqual({ mtd: "absent", phram: "absent", reed_solomon: "absent", ramoops: "absent" });
        expect(s.regions.map((r) => r.ok)).toEqual([false, false]);
      });
    },
    SCENARIO_TIMEOUT_MS,
  );
});

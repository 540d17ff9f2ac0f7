// Issue 4's scenarios in one VM (one boot chain saves ~20 s of TCG boot per
// scenario): every way a boot can end, and what the next boot says of it,
// asserted on `crashkeep history --json` and `crashkeep dump --json`.
//
// Run: make qemu-image && node_modules/.bin/bun test test/qemu/journal.test.ts
import { afterAll, expect, test } from "bun:test";
import { QemuVm } from "./harness.ts";
import { logLine } from "./steps.ts";

afterAll(() => QemuVm.killAll());

interface HistoryEntry {
  id: string;
  reason: string;
  detail?: string;
  previousBootId?: string;
  files: Array<{ name: string; kind: string }>;
}

async function newest(vm: QemuVm): Promise<HistoryEntry> {
  const h = JSON.parse(await vm.runOk("crashkeep history --json")) as HistoryEntry[];
  if (!h[0]) throw new Error("Cannot find an archived boot: history is empty");
  return h[0];
}

test(
  "clean reboot, reboot -f, a noted reason, a panic with the log tail, a power cut",
  async () => {
    await QemuVm.scenario({ name: "journal-reasons" }, async (vm) => {
      const dump = JSON.parse(await vm.runOk("crashkeep dump --json")) as { retained: boolean; control: { currentBootId: string } };
      expect(dump.retained).toBe(true);
      const firstBootId = (await vm.runOk("cat /proc/sys/kernel/random/boot_id")).trim();
      expect(dump.control.currentBootId).toBe(firstBootId);
      expect(await vm.runOk("crashkeep history --json")).toBe("[]\n");

      // 1. reboot: rcK stops S03crashkeep, which writes the clean-shutdown marker.
      await vm.reboot();
      expect(await newest(vm)).toMatchObject({ reason: "clean", previousBootId: firstBootId });

      // 2. reboot -f: no init scripts, no marker.
      await vm.reboot({ force: true });
      expect((await newest(vm)).reason).toBe("unexpected-reset");

      // 3. A planned reboot noted before it happens.
      await vm.runOk("crashkeep note --reason firmware-update 'flashing 2.1'");
      await vm.reboot({ force: true });
      const noted = await newest(vm);
      expect(noted).toMatchObject({ reason: "firmware-update", detail: "firmware-update" });
      const note = noted.files.find((f) => f.kind === "journal-note");
      expect(await vm.runOk(`cat /var/lib/crashkeep/${noted.id}/${note?.name}`)).toBe("flashing 2.1");

      // 4. A user-space log line, then a kernel panic: both reach the next boot's archive.
      const line = await logLine(vm, "crashkeep-test-line");
      await vm.crash();
      const panic = await newest(vm);
      expect(panic.reason).toBe("kernel-panic");
      const tail = panic.files.find((f) => f.kind === "log-tail");
      expect(tail?.name).toBe("log-0-messages");
      expect(await vm.runOk(`cat /var/lib/crashkeep/${panic.id}/${tail?.name}`)).toContain(line);
      const shown = await vm.runOk(`crashkeep history show ${panic.id}`);
      expect(shown).toContain("sysrq triggered crash");
      expect(shown).toContain(line);

      // 5. A power cut: a new QEMU process, the reserved RAM is gone.
      await vm.powerCycle();
      expect((await newest(vm)).reason).toBe("power-loss");
      expect(JSON.parse(await vm.runOk("crashkeep history --json")).map((e: HistoryEntry) => e.reason)).toEqual([
        "power-loss", "kernel-panic", "firmware-update", "unexpected-reset", "clean",
      ]);
    });
  },
  600_000,
);

// Issue 14 in the guest: the real pstore, the real phram MTD device, and the
// whole machine reset (QEMU system_reset: RAM kept, like a watchdog) while
// `crashkeep init` is collecting a panicked boot, at a bounded sample of
// moments; the next init must archive that boot exactly once. And the raw
// device commands on the real MTD char device. (The every-call sweep of the
// same paths runs natively: test/integration/fault-sweep.test.ts.)
//
// Run: make qemu-image && node_modules/.bin/bun test test/qemu/faults.test.ts
import { afterAll, expect, test } from "bun:test";
import { QemuVm } from "./harness.ts";

afterAll(() => QemuVm.killAll());

/** Host-side delays between starting init and the reset (TCG: init takes about 1–2 s). */
const RESET_AFTER_MS = [150, 700];

interface HistoryEntry {
  id: string;
  reason: string;
  previousBootId?: string;
  files: Array<{ name: string; kind: string }>;
}

test(
  "a reset while init collects a panicked boot: that boot archived once, nothing half-written left",
  async () => {
    // S03crashkeep skipped: init runs when the test says, so a reset can land inside it.
    await QemuVm.scenario({ name: "faults-reset", skipInit: ["S03crashkeep"] }, async (vm) => {
      await vm.runOk("crashkeep init >/dev/null 2>&1; true", { timeoutMs: 60_000 });
      for (const delay of RESET_AFTER_MS) {
        // A boot with evidence: a note in the journal, then a panic (pstore record).
        const crashed = (await vm.runOk("cat /proc/sys/kernel/random/boot_id")).trim();
        await vm.runOk(`crashkeep note "before the panic, sample ${delay}"`);
        await vm.crash();
        // init collecting that boot, and the machine reset under it.
        vm.send("crashkeep init >/dev/null 2>&1 &\n");
        await Bun.sleep(delay); // the sampled moment itself, not an ordering wait
        await vm.reset();
        await vm.runOk("crashkeep init >/dev/null 2>&1; true", { timeoutMs: 60_000 });
        const history = JSON.parse(await vm.runOk("crashkeep history --json")) as HistoryEntry[];
        const ofCrashed = history.filter((e) => e.previousBootId === crashed);
        expect({ delay, entries: ofCrashed.length }).toEqual({ delay, entries: 1 });
        const files = ofCrashed[0]?.files.map((f) => f.kind) ?? [];
        expect(files).toContain("pstore-dmesg");
        expect(files).toContain("journal-note");
        expect(ofCrashed[0]?.reason).toBe("kernel-panic");
        expect(await vm.runOk("ls /sys/fs/pstore")).toBe("");
        expect(await vm.runOk("find /var/lib/crashkeep /var/cache/crashkeep /run/crashkeep -name '.incoming-*' -o -name '*.tmp[0-9]*' -o -name '*.lock' 2>/dev/null | wc -l")).toBe("0\n");
      }
    });
  },
  900_000,
);

test(
  "copy, dump --raw and clear --raw on the real phram MTD char device",
  async () => {
    // No daemon (S03crashkeep skipped, init by hand): nothing else writes the device meanwhile.
    await QemuVm.scenario({ name: "faults-mtd", skipInit: ["S03crashkeep"] }, async (vm) => {
      await vm.runOk("crashkeep init >/dev/null 2>&1; true", { timeoutMs: 60_000 });
      const dev = "/dev/mtdchar/crashkeep";
      // dump --raw is the device's bytes, as dd reads them.
      await vm.runOk(`crashkeep dump --raw --bytes 8192 > /tmp/raw && dd if=${dev} bs=4096 count=2 2>/dev/null > /tmp/dd && cmp /tmp/raw /tmp/dd`);
      // copy --tail into a window of the device: exactly those bytes there, the rest untouched.
      await vm.runOk("head -c 6000 /dev/urandom > /tmp/src && tail -c 4096 /tmp/src > /tmp/want");
      await vm.runOk(`dd if=${dev} bs=4096 count=1 2>/dev/null > /tmp/before0`);
      await vm.runOk(`crashkeep copy --tail --bytes 4096 --offset 8192 /tmp/src ${dev}`);
      await vm.runOk(`dd if=${dev} bs=4096 skip=2 count=1 2>/dev/null > /tmp/got && cmp /tmp/want /tmp/got`);
      await vm.runOk(`dd if=${dev} bs=4096 count=1 2>/dev/null > /tmp/after0 && cmp /tmp/before0 /tmp/after0`);
      // clear --raw: every byte of the device zero.
      await vm.runOk(`crashkeep clear --raw --yes ${dev}`);
      expect(await vm.runOk(`crashkeep dump --raw ${dev} | tr -d '\\000' | wc -c`)).toBe("0\n");
      expect(await vm.runOk(`crashkeep dump --raw ${dev} | wc -c`)).toBe(`${8 * 1024 * 1024}\n`);
    });
  },
  600_000,
);

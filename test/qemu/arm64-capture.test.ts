// Issue 10's aarch64 capture scenarios, one chain of boots (device-tree
// route): a crash of a threaded -O2 program without frame pointers in watch
// mode, whose crashing-thread frames must equal gdb-multiarch's for the same
// core (copied out of the guest), and a log line; then a sysrq panic → one
// archive entry joins them; an OOM panic; pipe mode with a capped core.
//
// Run: make qemu-image TARGET=arm64 && node_modules/.bin/bun test test/qemu/arm64-capture.test.ts
import { afterAll, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Report } from "../../src/core/report.ts";
import { QemuVm } from "./harness.ts";
import { BOOT_TIMEOUT_MS, CHAIN_TIMEOUT_MS, RUN_TIMEOUT_MS, expectPanicWithTail, gdbThreads, gunzip, logLine, newest, records } from "./steps.ts";

afterAll(() => QemuVm.killAll());

test(
  "aarch64: a threaded -O2 crash in watch mode (frames equal gdb-multiarch's) and a log line, sysrq panic → one entry joins them; OOM panic; pipe mode with a capped core",
  async () => {
    const host = mkdtempSync(join(tmpdir(), "crashkeep-arm64-"));
    try {
      // coldplug: ramoops and phram are bound before init runs (a board's mdev/udev or built-in drivers).
      await QemuVm.scenario({ name: "arm64-capture", arch: "aarch64", coldplug: true, transferDiskMiB: 16, bootTimeoutMs: BOOT_TIMEOUT_MS, runTimeoutMs: RUN_TIMEOUT_MS }, async (vm) => {
        const config = vm.imageConfig;
        expect(vm.boots[0]).toContain(`crashkeep: ramoops already bound at 0x${config.ramoops.address.toString(16)} (${config.ramoops.sizeBytes} bytes, records of ${config.ramoops.recordSizeBytes})\n`);
        expect(vm.boots[0]).toContain(`crashkeep: phram device "${config.phram.name}" already present`);
        // 5. A crash in the second thread of a dynamically linked -O2 program without frame pointers.
        const crash = await vm.run(
          "ulimit -c unlimited; threadcrash; echo exit=$?; " +
            "n=0; until crashkeep dump --json | grep -q crash-report; do n=$((n+1)); [ $n -gt 150 ] && break; sleep 0.2; done",
          { timeoutMs: 90_000 },
        );
        expect(crash.output).toContain("exit=139");
        const [record] = (await records(vm)).filter((r) => r.kind === "crash-report");
        const compact = JSON.parse(record?.payload.data ?? "{}") as { comm: string; signal: string; threads: Array<{ frames: string[] }> };
        expect(compact.comm).toBe("threadcrash");
        expect(compact.signal).toBe("SEGV_MAPERR at 0x18");

        // The core and the full report, out of the guest; gdb-multiarch on the host reads the core
        // with the image's own files as its sysroot (the exe and libc the guest ran).
        const reportDir = (await vm.runOk("ls -d /var/lib/crashkeep/reports/*/")).trim();
        const kept = (await vm.runOk("ls -1 /var/lib/crashkeep/cores/kept/")).trim().split("\n");
        expect(kept).toHaveLength(1);
        const [reportFile, coreFile] = await vm.copyOut([`${reportDir}report.json`, `/var/lib/crashkeep/cores/kept/${kept[0]}`], host);
        if (!reportFile || !coreFile) throw new Error("Cannot copy the report and the core out of the guest");
        const core = coreFile.endsWith(".gz") ? gunzip(coreFile) : coreFile;
        const report = JSON.parse(readFileSync(reportFile, "utf8")) as Report;
        expect(report.arch).toBe("aarch64");
        expect(report.tid).not.toBe(report.pid);
        const crashing = report.threads.find((t) => t.crashing);
        expect(crashing?.tid).toBe(report.tid ?? -1);
        const symbols = crashing?.frames.map((f) => f.symbol) ?? [];
        expect(symbols.slice(0, 4)).toEqual(["threadcrash_level_three", "threadcrash_level_two", "threadcrash_level_one", "threadcrash_worker"]);
        const gdb = gdbThreads(vm.imageRoot, "threadcrash", core, join(host, "gdb.txt"));
        const reference = gdb.find((t) => t.lwp === report.tid);
        expect(reference, `gdb's thread ${report.tid}`).toBeDefined();
        const n = reference?.frames.length ?? 0;
        expect(n).toBeGreaterThanOrEqual(4);
        expect(crashing?.frames.slice(0, n).map((f) => f.pc)).toEqual(reference?.frames.map((f) => `0x${f.pc.toString(16).padStart(16, "0")}`));
        expect(crashing?.frames.slice(0, n).map((f, i) => (reference?.frames[i]?.name === null ? null : f.symbol))).toEqual(reference?.frames.map((f) => f.name));

        // A log line, then a sysrq panic: one entry joins the panic, the tail and the crash.
        const line = await logLine(vm, "arm64-mem-line");
        await vm.crash();
        expect(vm.boots[1]).toMatch(/previous boot ended in kernel-panic: sysrq triggered crash; last user-space crash before it: threadcrash \(pid \d+, SEGV_MAPERR at 0x18\)/);
        const entry = await expectPanicWithTail(vm, line);
        const file = entry.files.find((f) => f.kind === "journal-crash-report")?.name;
        expect(await vm.runOk(`cat /var/lib/crashkeep/${entry.id}/${file}`)).toContain("threadcrash_level_three");

        // 3. Out of memory with vm.panic_on_oom=1.
        await vm.runOk("sysctl -w vm.panic_on_oom=1");
        await vm.expectReboot(() => vm.send("memhog 16\n"));
        const oom = await newest(vm);
        expect(oom).toMatchObject({ reason: "kernel-panic", subreason: "out-of-memory" });
        expect(oom.detail).toContain("Out of memory");
        expect(await vm.runOk(`crashkeep history show ${oom.id}`)).toContain("invoked oom-killer");

        // 6. Pipe mode, the core saved compressed and capped at 64 KiB.
        await vm.runOk(
          "mkdir -p /var/crashkeep-test && cat > /var/crashkeep-test/config.json <<'EOF2'\n" +
            JSON.stringify({ ...JSON.parse(await vm.runOk("cat /etc/crashkeep/config.json")), cores: { mode: "pipe", saveCores: true, maxCoreBytes: "64ki" } }) +
            "\nEOF2\nsync",
        );
        await vm.reboot({ force: true });
        expect(await vm.runOk("cat /proc/sys/kernel/core_pattern")).toBe("|/usr/bin/crashkeep core %P %I %s %t %E\n");
        expect((await vm.run("crasher", { timeoutMs: 90_000 })).code).toBe(139);
        const piped = (await records(vm)).filter((r) => r.kind === "crash-report" && !r.collected);
        expect(piped).toHaveLength(1);
        expect(JSON.parse(piped[0]?.payload.data ?? "{}").signal).toBe("SEGV_MAPERR at 0x10");
        const saved = (await vm.runOk("ls /var/lib/crashkeep/cores/kept/ | grep gz")).trim();
        expect(saved).toMatch(/-crasher-\d+\.core\.truncated\.gz$/);
        expect(Number(await vm.runOk(`gzip -dc /var/lib/crashkeep/cores/kept/${saved} | wc -c`))).toBe(65536);
      });
    } finally {
      rmSync(host, { recursive: true, force: true });
    }
  },
  CHAIN_TIMEOUT_MS,
);

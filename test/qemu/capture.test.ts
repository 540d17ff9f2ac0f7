// Issue 6's scenarios in one VM chain: a crash in watch mode then a kernel
// panic; a crash loop; the pipe handler with a saved, capped core; the pipe
// handler on a crash inside a chroot (the program read through /proc/PID/root).
//
// Run: make qemu-image && node_modules/.bin/bun test test/qemu/capture.test.ts
import { afterAll, expect, test } from "bun:test";
import { DAEMON_PID, QemuVm } from "./harness.ts";

afterAll(() => QemuVm.killAll());

interface DumpRecord {
  seq: number;
  collected: boolean;
  kind: string;
  payload: { data: string };
}

async function records(vm: QemuVm): Promise<DumpRecord[]> {
  return (JSON.parse(await vm.runOk("crashkeep dump --json")) as { records: DumpRecord[] }).records;
}

test(
  "watch mode: crash → report in the journal within a second → panic → the archive joins them; a crash loop; pipe mode; pipe mode in a chroot",
  async () => {
    await QemuVm.scenario({ name: "capture" }, async (vm) => {
      expect(await vm.runOk("cat /proc/sys/kernel/core_pattern")).toBe("/var/lib/crashkeep/cores/core.%e.%p.%t\n");

      // 1. A segfault three calls deep. Time from the crash to the record in the journal.
      await vm.runOk(
        "ulimit -c unlimited; crasher; " +
          "n=0; until crashkeep dump --json | grep -q crash-report; do n=$((n+1)); [ $n -gt 100 ] && break; sleep 0.2; done",
        { timeoutMs: 60_000 },
      );
      // The daemon notes when the kernel closed the core and when the record went into the journal.
      const capture = JSON.parse(await vm.runOk("cat /var/lib/crashkeep/reports/*/capture.json")) as { coreClosedAt: string; journalWrittenAt: string };
      const latencyMs = Date.parse(capture.journalWrittenAt) - Date.parse(capture.coreClosedAt);
      console.log(`core closed → report in the journal: ${latencyMs} ms (guest clock, TCG)`);
      const [report] = (await records(vm)).filter((r) => r.kind === "crash-report");
      const compact = JSON.parse(report?.payload.data ?? "{}") as { comm: string; signal: string; threads: Array<{ frames: string[] }> };
      expect(compact.comm).toBe("crasher");
      expect(compact.signal).toBe("SEGV_MAPERR at 0x10");
      const frames = compact.threads[0]?.frames.join("\n") ?? "";
      expect(frames).toMatch(/crasher_level_three\+/);
      expect(frames).toMatch(/crasher_level_two\+/);
      expect(frames).toMatch(/crasher_level_one\+/);
      expect(frames).toMatch(/main\+/);
      expect(await vm.runOk("ls /var/lib/crashkeep/cores/kept | wc -l")).toBe("1\n");
      expect(await vm.runOk("stat -c %a /var/lib/crashkeep/cores /var/lib/crashkeep/cores/kept/*")).toMatch(/^700\n600\n$/);

      // ... then a kernel panic: the next boot's entry holds both.
      await vm.crash();
      const boot1 = vm.boots[1] ?? "";
      expect(boot1).toMatch(/previous boot ended in kernel-panic: sysrq triggered crash; last user-space crash before it: crasher \(pid \d+, SEGV_MAPERR at 0x10\)/);
      const [entry] = JSON.parse(await vm.runOk("crashkeep history --json")) as Array<{ id: string; reason: string; files: Array<{ name: string; kind: string }> }>;
      expect(entry?.reason).toBe("kernel-panic");
      const kinds = entry?.files.map((f) => f.kind) ?? [];
      expect(kinds).toContain("pstore-dmesg");
      expect(kinds).toContain("journal-crash-report");
      const file = entry?.files.find((f) => f.kind === "journal-crash-report")?.name;
      expect(await vm.runOk(`cat /var/lib/crashkeep/${entry?.id}/${file}`)).toContain("crasher_level_three");

      // 2. A crash loop: 50 crashes in about 10 s. The daemon stays up and bounded.
      const pid = (await vm.runOk(`echo ${DAEMON_PID}`)).trim();
      // The rate limit counts in 60 s windows (RATE_WINDOW_MS): the loop must fit in one, or the
      // counts below mean nothing. Guest clock, seconds.
      const loopSeconds = Number(
        (await vm.runOk("ulimit -c unlimited; s=$(date +%s); i=0; while [ $i -lt 50 ]; do crasher; i=$((i+1)); sleep 0.2; done 2>/dev/null; echo $(( $(date +%s) - s ))", { timeoutMs: 120_000 })).trim(),
      );
      console.log(`crash loop: 50 crashes in ${loopSeconds} s (guest clock)`);
      expect(loopSeconds).toBeLessThan(60);
      // Every core handled (none left waiting), then SIGUSR1 flushes the window's count: wait for
      // each event in the guest, bounded, instead of sleeping.
      await vm.runOk("(n=0; while ls /var/lib/crashkeep/cores | grep -q '^core\\.'; do n=$((n+1)); [ $n -gt 300 ] && exit 1; sleep 0.2; done)", { timeoutMs: 90_000 });
      await vm.runOk(`kill -USR1 ${pid}; (n=0; until crashkeep dump --json | grep -q '"suppressed '; do n=$((n+1)); [ $n -gt 150 ] && exit 1; sleep 0.2; done)`, { timeoutMs: 90_000 });
      expect((await vm.runOk(`kill -0 ${pid} && echo alive`)).trim()).toBe("alive");
      const rss = Number((await vm.runOk(`grep VmRSS /proc/${pid}/status | tr -s ' ' | cut -d' ' -f2`)).trim());
      console.log(`daemon RSS after the crash loop: ${rss} KiB`);
      const loop = (await records(vm)).filter((r) => !r.collected);
      const reports = loop.filter((r) => r.kind === "crash-report");
      const suppressed = loop.filter((r) => r.kind === "note" && r.payload.data.startsWith("suppressed "));
      expect(reports.length).toBe(5);
      expect(suppressed).toHaveLength(1);
      // 50 crashes, 5 reported, 45 counted: a core seen twice by the watcher is counted once.
      const n = Number(/^suppressed (\d+) crash report\(s\) of \/usr\/bin\/crasher /.exec(suppressed[0]?.payload.data ?? "")?.[1]);
      expect(n).toBe(45);
      const kept = Number((await vm.runOk("ls /var/lib/crashkeep/cores/kept | wc -l")).trim());
      expect(kept).toBeGreaterThanOrEqual(1);
      expect(kept).toBeLessThanOrEqual(4);

      // 3. Pipe mode, saving the core compressed and capped at 64 KiB.
      await vm.runOk(
        "mkdir -p /var/crashkeep-test && cat > /var/crashkeep-test/config.json <<'EOF2'\n" +
          '{ "cores": { "mode": "pipe", "saveCores": true, "maxCoreBytes": "64ki" } }\nEOF2\nsync',
      );
      await vm.reboot({ force: true });
      expect(await vm.runOk("cat /proc/sys/kernel/core_pattern")).toBe("|/usr/bin/crashkeep core %P %I %s %t %E\n");
      // core_pipe_limit > 0: the kernel waits for the handler before the shell sees the crash.
      expect((await vm.run("crasher", { timeoutMs: 60_000 })).code).toBe(139);
      const piped = (await records(vm)).filter((r) => r.kind === "crash-report" && !r.collected);
      expect(piped).toHaveLength(1);
      expect(JSON.parse(piped[0]?.payload.data ?? "{}").signal).toBe("SEGV_MAPERR at 0x10");
      const saved = (await vm.runOk("ls /var/lib/crashkeep/cores/kept/ | grep gz")).trim();
      expect(saved).toMatch(/-crasher-\d+\.core\.truncated\.gz$/);
      expect(Number(await vm.runOk(`gzip -dc /var/lib/crashkeep/cores/kept/${saved} | wc -c`))).toBe(65536);
      expect(await vm.runOk("dmesg | grep 'crashkeep: reported crash'")).toContain("/usr/bin/crasher");

      // 4. Pipe mode, a crash inside a chroot: the core names /srv/app/crasher, which the root does not
      // have; the handler reads it through /proc/PID/root while the kernel keeps the process (core_pipe_limit).
      await vm.runOk("mkdir -p /var/jail/srv/app && cp /usr/bin/crasher /var/jail/srv/app/crasher && ! test -e /srv/app/crasher");
      expect((await vm.run("chroot /var/jail /srv/app/crasher", { timeoutMs: 60_000 })).code).toBe(139);
      const jailed = JSON.parse(await vm.runOk("cat $(grep -l '\"exe\": \"/srv/app/crasher\"' /var/lib/crashkeep/reports/*/report.json)")) as {
        threads: Array<{ frames: Array<{ symbol: string | null }> }>;
        modules: Array<{ path: string; problem: string | null }>;
      };
      expect(jailed.threads[0]?.frames.slice(0, 4).map((f) => f.symbol)).toEqual(["crasher_level_three", "crasher_level_two", "crasher_level_one", "main"]);
      expect(jailed.modules.find((m) => m.path === "/srv/app/crasher")?.problem).toBeNull();
    });
  },
  900_000,
);

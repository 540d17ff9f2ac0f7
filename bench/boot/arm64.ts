// bench/boot/arm64: what crashkeep costs at boot in the aarch64 guest (QEMU
// virt, TCG, device-tree route), as ratios to a compiled Bun hello-world run
// in the same guest (goal ≤ 2×, printed MET / NOT MET, never asserted):
//   - `crashkeep init` with nothing to collect (run again in a booted guest:
//     modules bound, journal open, pstore empty);
//   - the boot-time cost of S03crashkeep: how long rcS spends in it
//     (CRASHKEEP-SCRIPT S03crashkeep <start> <end>, guest uptime), on a first
//     boot and on a later one (after `reboot -f`); beside it, the uptime when
//     the init scripts are done (CRASHKEEP-INIT-DONE) with and without
//     S03crashkeep, two VMs in turn (noisy on a shared host: informative only);
// each against the hello-world's first run and its second run. Then the watch
// latency: core closed → report in the journal (the daemon's capture.json).
//
// The hello-world is built like out/arm64/crashkeep (bun build --compile
// --minify --bytecode --target=bun-linux-arm64) and carried in on the
// harness's transfer disk into /tmp (tmpfs), so both binaries run from RAM.
// Times in the guest come from /proc/uptime (10 ms steps).
//
// Run: make qemu-image TARGET=arm64 && node_modules/.bin/bun bench/boot/arm64.ts
import { mkdtempSync, mkdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { QemuVm } from "../../test/qemu/harness.ts";

const REPO = resolve(import.meta.dir, "../..");
const GOAL_RATIO = 2;
/** The hello-world tar (about 110 MB) plus room. */
const TRANSFER_MIB = 160;

const work = mkdtempSync(join(tmpdir(), "crashkeep-bench-arm64-"));
try {
  mkdirSync(join(work, "tmp"));
  await Bun.write(join(work, "hello.ts"), 'console.log("hello");\n');
  const build = Bun.spawnSync(
    [join(REPO, "node_modules/.bin/bun"), "build", "--compile", "--minify", "--bytecode", "--target=bun-linux-arm64", join(work, "hello.ts"), "--outfile", join(work, "tmp/hello")],
    { stderr: "pipe" },
  );
  if (build.exitCode !== 0) throw new Error(`Cannot build the Bun hello-world for arm64: ${build.stderr.toString().trim()}`);
  rmSync(join(work, "hello.ts"));

  /** Seconds one command takes in the guest, from /proc/uptime. */
  const timed = async (vm: QemuVm, cmd: string): Promise<number> => {
    const out = await vm.runOk(`a=$(cut -d' ' -f1 /proc/uptime); ${cmd} >/dev/null 2>&1; b=$(cut -d' ' -f1 /proc/uptime); echo "TIMED $a $b"`, { timeoutMs: 120_000 });
    const m = /^TIMED ([\d.]+) ([\d.]+)$/m.exec(out);
    if (!m) throw new Error(`Cannot time "${cmd}" in the guest: output ${JSON.stringify(out)}`);
    return Number(m[2]) - Number(m[1]);
  };
  const s03 = (text: string | undefined, what: string): number => {
    const m = /CRASHKEEP-SCRIPT S03crashkeep ([\d.]+) ([\d.]+)/.exec(text ?? "");
    if (!m) throw new Error(`Cannot find CRASHKEEP-SCRIPT S03crashkeep in ${what}`);
    return Number(m[2]) - Number(m[1]);
  };
  const initDone = (text: string | undefined, what: string): number => {
    const m = /CRASHKEEP-INIT-DONE uptime=([\d.]+)/.exec(text ?? "");
    if (!m) throw new Error(`Cannot find CRASHKEEP-INIT-DONE in ${what}`);
    return Number(m[1]);
  };

  const withCk = await QemuVm.scenario(
    { name: "bench-arm64-with", arch: "aarch64", transferDiskMiB: TRANSFER_MIB, transferFrom: work, bootTimeoutMs: 300_000, runTimeoutMs: 120_000 },
    async (vm) => {
      const first = initDone(vm.boots[0], "the first boot with S03crashkeep");
      const s03First = s03(vm.boots[0], "the first boot");
      await vm.reboot({ force: true });
      const later = initDone(vm.boots[1], "the later boot with S03crashkeep");
      const s03Later = s03(vm.boots[1], "the later boot");
      await vm.runOk("tar -xf /dev/vdb -C /", { timeoutMs: 120_000 });
      const helloFirst = await timed(vm, "/tmp/hello");
      const helloSecond = await timed(vm, "/tmp/hello");
      const init = await timed(vm, "crashkeep init");
      await vm.runOk(
        "ulimit -c unlimited; crasher; n=0; until ls /var/lib/crashkeep/reports/*/capture.json >/dev/null 2>&1; do n=$((n+1)); [ $n -gt 300 ] && break; sleep 0.2; done",
        { timeoutMs: 120_000 },
      );
      const c = JSON.parse(await vm.runOk("cat /var/lib/crashkeep/reports/*/capture.json")) as { coreClosedAt: string; journalWrittenAt: string };
      return { first, later, s03First, s03Later, helloFirst, helloSecond, init, latencyMs: Date.parse(c.journalWrittenAt) - Date.parse(c.coreClosedAt) };
    },
  );
  const without = await QemuVm.scenario(
    { name: "bench-arm64-without", arch: "aarch64", skipInit: ["S03crashkeep"], bootTimeoutMs: 300_000 },
    async (vm) => {
      const first = initDone(vm.boots[0], "the first boot without S03crashkeep");
      await vm.reboot({ force: true });
      return { first, later: initDone(vm.boots[1], "the later boot without S03crashkeep") };
    },
  );

  const s = (x: number) => `${x.toFixed(2)} s`;
  const ratio = (x: number, base: number) => `${(x / base).toFixed(2)}× (${x / base <= GOAL_RATIO ? "MET" : "NOT MET"})`;
  const rows: Array<[string, number]> = [
    ["`crashkeep init`, nothing to collect (booted guest)", withCk.init],
    ["S03crashkeep in a first boot (init formats the journal, starts watch)", withCk.s03First],
    ["S03crashkeep in a later boot (after `reboot -f`: archives the previous boot)", withCk.s03Later],
  ];
  console.log(`arm64 boot benchmark: QEMU virt cortex-a57 TCG, device-tree route, one run each (${new Date().toISOString()})`);
  console.log(`Bun hello-world in the same guest: first run ${s(withCk.helloFirst)}, second run ${s(withCk.helloSecond)}`);
  console.log(`init scripts done (guest uptime, two VMs in turn): first boot ${s(without.first)} without S03crashkeep, ${s(withCk.first)} with; later boot ${s(without.later)} without, ${s(withCk.later)} with`);
  console.log(`\n| measured | time | ÷ hello first run (goal ≤ ${GOAL_RATIO}×) | ÷ hello second run (goal ≤ ${GOAL_RATIO}×) |`);
  console.log("|---|---|---|---|");
  for (const [what, t] of rows) console.log(`| ${what} | ${s(t)} | ${ratio(t, withCk.helloFirst)} | ${ratio(t, withCk.helloSecond)} |`);
  console.log(`\nwatch mode, core closed → report in the journal: ${withCk.latencyMs} ms (guest clock)`);
} finally {
  rmSync(work, { recursive: true, force: true });
  QemuVm.killAll();
}

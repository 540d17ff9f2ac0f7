// bench/boot: what `crashkeep init` adds to a boot, and how long a finished
// core takes to reach the journal, on the QEMU image (TCG). Boots the image
// RUNS times with S03crashkeep and RUNS times without it; compares the guest
// uptime at which the init scripts are done (CRASHKEEP-INIT-DONE). Then one
// crash in watch mode: core closed → journal record, from the daemon's
// capture.json. Run with `make bench` (needs `make qemu-image`).
import { QemuVm } from "../../test/qemu/harness.ts";

const RUNS = Number(process.env.RUNS ?? 3);

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] as number;
}

/** Boot, then reboot -f: the second boot is the steady state (journal retained, config cached, one entry archived). */
async function initDone(name: string, skip: boolean): Promise<{ first: number; done: number; crashkeepInit?: number }> {
  return QemuVm.scenario({ name, ...(skip ? { skipInit: ["S03crashkeep"] } : {}) }, async (vm) => {
    const first = /CRASHKEEP-INIT-DONE uptime=([\d.]+)/.exec(vm.boots[0] ?? "");
    await vm.reboot({ force: true });
    const m = /CRASHKEEP-INIT-DONE uptime=([\d.]+)/.exec(vm.boots[1] ?? "");
    if (!m || !first) throw new Error(`Cannot find CRASHKEEP-INIT-DONE in the boots of ${name}`);
    let crashkeepInit: number | undefined;
    if (!skip) {
      // A second init on the running system: nothing to collect, modules loaded.
      const t = await vm.runOk("a=$(cut -d' ' -f1 /proc/uptime); crashkeep init >/dev/null; echo \"$a $(cut -d' ' -f1 /proc/uptime)\"");
      const [a = 0, b = 0] = t.trim().split(" ").map(Number);
      crashkeepInit = b - a;
    }
    return { first: Number(first[1]), done: Number(m[1]), ...(crashkeepInit === undefined ? {} : { crashkeepInit }) };
  });
}

const without: number[] = [];
const withoutFirst: number[] = [];
const withCk: number[] = [];
const withFirst: number[] = [];
const rerun: number[] = [];
for (let i = 0; i < RUNS; i++) {
  const wo = await initDone(`bench-boot-without-${i}`, true);
  without.push(wo.done);
  withoutFirst.push(wo.first);
  const w = await initDone(`bench-boot-with-${i}`, false);
  withCk.push(w.done);
  withFirst.push(w.first);
  if (w.crashkeepInit !== undefined) rerun.push(w.crashkeepInit);
}

const latency = await QemuVm.scenario({ name: "bench-capture" }, async (vm) => {
  await vm.runOk("ulimit -c unlimited; crasher; n=0; until ls /var/lib/crashkeep/reports/*/capture.json >/dev/null 2>&1; do n=$((n+1)); [ $n -gt 150 ] && break; sleep 0.2; done", { timeoutMs: 60_000 });
  const c = JSON.parse(await vm.runOk("cat /var/lib/crashkeep/reports/*/capture.json")) as { coreClosedAt: string; journalWrittenAt: string };
  return Date.parse(c.journalWrittenAt) - Date.parse(c.coreClosedAt);
});

console.log(`boot benchmark: QEMU TCG, median of ${RUNS} boots each, guest uptime (s) when the init scripts are done`);
console.log("| boot | first boot (s) | later boot, after reboot -f (s) |");
console.log("|---|---|---|");
console.log(`| without S03crashkeep | ${median(withoutFirst).toFixed(2)} | ${median(without).toFixed(2)} |`);
console.log(`| with S03crashkeep (init + starting watch) | ${median(withFirst).toFixed(2)} | ${median(withCk).toFixed(2)} |`);
console.log(`\ncrashkeep adds ${(median(withFirst) - median(withoutFirst)).toFixed(2)} s to a first boot (formats the journal, validates the config) ` +
  `and ${(median(withCk) - median(without)).toFixed(2)} s to a later boot (archives the previous one); ` +
  `"crashkeep init" run again in a booted guest, nothing to collect: ${median(rerun).toFixed(2)} s`);
console.log(`core closed → compact report in the journal (watch mode): ${latency} ms`);
QemuVm.killAll();

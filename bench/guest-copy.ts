// bench/guest-copy: in the x86_64 QEMU guest (TCG), what the phram MTD device
// accepts (crashkeep copy --json names the method and each fallback) and the
// wall time of crashkeep copy / dd / crashkeep --version / crashkeep init
// there, N runs each, interleaved, timed by the guest's /proc/uptime (10 ms
// steps). Needs `make qemu-image`. No hello-world is in the image (another
// 110 MB copy of Bun would slow every test boot), so `crashkeep --version`
// (1.05-1.10x H natively, bench/targets.ts) stands in for H.
import { QemuVm } from "../test/qemu/harness.ts";
import { verdict } from "./verdict.ts";

/** Issue 15: (crashkeep copy − H) ≤ 1.1× dd bs=1M, into a real MTD device too. */
const COPY_RATIO = 1.1;

const N = Number(process.env.GUEST_RUNS ?? 5); // not RUNS: that one is bench/targets.ts's
const out = await QemuVm.scenario({ name: "bench-guest-copy" }, async (vm) => {
  const lines: string[] = [];
  const mtd = (await vm.runOk("readlink -f /dev/mtdchar/crashkeep")).trim();
  lines.push(`phram MTD: ${mtd}; ${(await vm.runOk(`cat /sys/class/mtd/$(basename ${mtd})/size /sys/class/mtd/$(basename ${mtd})/erasesize | tr '\\n' ' '`)).trim()} (size, erasesize)`);
  await vm.runOk("dd if=/dev/urandom of=/tmp/src bs=1M count=16 2>/dev/null", { timeoutMs: 120_000 });
  // 8 MiB: at the kernel-copy threshold, so the copier tries copy_file_range and sendfile on the MTD node.
  lines.push(`8 MiB into ${mtd}: ${(await vm.runOk(`crashkeep copy --tail --json --bytes 8Mi /tmp/src ${mtd}`, { timeoutMs: 120_000 })).trim()}`);
  const exact = (await vm.run(`tail -c 8388608 /tmp/src | cmp - ${mtd} && echo yes`, { timeoutMs: 120_000 })).output.trim() === "yes";
  const cmds: Record<string, string> = {
    version: "crashkeep --version >/dev/null",
    "copy 1 MiB": `crashkeep copy --tail --bytes 1Mi /tmp/src ${mtd} >/dev/null`,
    "dd bs=1M count=1": `dd if=/tmp/src of=${mtd} bs=1M skip=15 count=1 2>/dev/null`,
    // The whole phram (8 MiB): the largest copy the device takes.
    "copy 8 MiB": `crashkeep copy --tail --bytes 8Mi /tmp/src ${mtd} >/dev/null`,
    "dd bs=1M count=8": `dd if=/tmp/src of=${mtd} bs=1M skip=8 count=8 2>/dev/null`,
    init: "crashkeep init >/dev/null 2>&1",
  };
  const t: Record<string, number[]> = Object.fromEntries(Object.keys(cmds).map((k) => [k, []]));
  for (let i = 0; i < N; i++) {
    for (const [k, c] of Object.entries(cmds)) {
      const r = await vm.runOk(`a=$(cut -d' ' -f1 /proc/uptime); ${c}; b=$(cut -d' ' -f1 /proc/uptime); echo "$a $b"`, { timeoutMs: 120_000 });
      const [a = 0, b = 0] = r.trim().split(" ").map(Number);
      t[k]?.push((b - a) * 1000);
    }
  }
  const med = (xs: number[]) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)] ?? NaN;
  for (const [k, xs] of Object.entries(t)) lines.push(`${k}: median ${med(xs).toFixed(0)} ms of ${xs.map((x) => x.toFixed(0)).join(", ")}`);
  const v = med(t.version ?? []);
  const above = (copy: string, dd: string) => {
    const c = med(t[copy] ?? []);
    const d = med(t[dd] ?? []);
    const ratio = (c - v) / d;
    return verdict(`MTD ${copy}: (crashkeep copy − --version) / ${dd}`, `(${c.toFixed(0)} − ${v.toFixed(0)}) / ${d.toFixed(0)} ms = ${ratio.toFixed(2)}`, `≤ ${COPY_RATIO} (--version stands in for H; 10 ms steps)`, ratio <= COPY_RATIO);
  };
  lines.push(verdict("8 MiB into the phram MTD, byte-exact (cmp)", exact ? "yes" : "no", "yes", exact));
  lines.push(above("copy 1 MiB", "dd bs=1M count=1"));
  lines.push(above("copy 8 MiB", "dd bs=1M count=8"));
  lines.push(`init / --version in the guest: ${(med(t.init ?? []) / v).toFixed(2)} (init's target is bench/boot's, against a real hello-world)`);
  return lines;
});
console.log(`guest (QEMU x86_64 TCG), ${N} interleaved runs:\n${out.join("\n")}`);
QemuVm.killAll();

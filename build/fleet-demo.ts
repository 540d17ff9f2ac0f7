// make fleet-demo: a local fleet on this machine. Starts mosquitto, the
// compiled collector (web page on 127.0.0.1:8080, or $PORT), and a few
// simulated devices that are the compiled binary itself, each in its own fake
// root: `crashkeep init` collects a kernel panic from pstore, the core_pattern
// handler turns real cores (test/fixtures/cores) into reports, `crashkeep
// note`, then `crashkeep upload --once` sends the outbox. A month of older
// boots and crashes is queued into the same outboxes so the charts have a
// history. Prints the URL; then a QEMU guest (out/qemu, `make qemu-image`)
// crashes a program, panics its kernel, and after the reboot its daemon
// uploads both to the same broker (a few minutes under TCG). Runs until Ctrl-C.
import { existsSync, readFileSync } from "node:fs";
import { QemuVm } from "../test/qemu/harness.ts";
import { join } from "node:path";
import { device as deviceRoot } from "../test/integration/brokers.ts";
import { startCollector, startMosquitto, uploadAsDevices, ROOT } from "../test/integration/servers.ts";
import { bootMessage, crashMessage, daysAgo, device, fixtureReport, type Message } from "../test/unit/collect/fleet.ts";
import { makeFakeTree } from "../test/unit/boot/fake-tree.ts";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
// (the history goes through uploadAsDevices: the same outbox and `crashkeep upload` as today's events)

const PORT = Number(process.env.PORT ?? 8080);
const PANIC = readFileSync(join(ROOT, "test/fixtures/pstore/sysrq/dmesg-ramoops-0"));
const CORES = ["nested", "fpe", "abort", "threads"];
const DEVICES = 6;

const broker = await startMosquitto();
const db = join(mkdtempSync(join(tmpdir(), "ck-fleet-demo-")), "collect.db");
const collector = await startCollector(["--broker", broker.url, "--db", `sqlite://${db}`, "--client-id", "fleet-demo", "--listen", `127.0.0.1:${PORT}`]);

// A month of history, sent by the devices' own uploader.
const history: Message[] = [];
for (let i = 0; i < DEVICES; i++) {
  const dev = device(`demo-${i}`, i < 3 ? "2.3.0" : "2.4.0");
  for (let d = 29; d >= 1; d -= 2) {
    const reason = (i + d) % 7 === 0 ? "kernel-panic" : (i + d) % 5 === 0 ? "unexpected-reset" : (i + d) % 11 === 0 ? "firmware-update" : "clean";
    if ((i * 3 + d) % 4 === 0) history.push(crashMessage(dev, fixtureReport(CORES[(i + d) % CORES.length] as string), { time: daysAgo(d, 90) }));
    history.push(bootMessage(dev, { reason, bootId: `demo-${i}-${d}`, time: daysAgo(d), logTail: [`demo-${i}: app started`, `demo-${i}: day ${d}`] }));
  }
}
await uploadAsDevices(broker.url, history);

// Today: each device's compiled binary collects a kernel panic, reports a crash through the pipe handler, notes, uploads.
for (let i = 0; i < DEVICES; i++) {
  const tree = makeFakeTree();
  const d = deviceRoot({ broker: broker.url, deviceId: `demo-${i}`, firmware: i < 3 ? "2.3.0" : "2.4.0" }, {}, tree.root);
  if (i % 2 === 0) tree.write("sys/fs/pstore/dmesg-ramoops-0", PANIC);
  d.run(["init"]);
  const name = CORES[i % CORES.length] as string;
  const core = Bun.spawnSync(["xz", "-dc", join(ROOT, `test/fixtures/cores/x86_64/${name}.core.xz`)]).stdout;
  d.run(["core", String(7000 + i), String(7000 + i), "11", String(Math.floor(Date.now() / 1000)), `!opt!crashkeep-fixtures!x86_64!${name}`], { stdin: core });
  d.run(["note", `demo device ${i} says hello`]);
  const up = await d.runAsync(["upload", "--once"]);
  if (up.code !== 0) console.error(`demo-${i}: upload failed: ${up.out}${up.err}`);
}

console.log(`\nfleet demo: ${DEVICES} devices sent their boots, crashes and notes.`);
console.log(`open ${collector.base}/  (API: ${collector.base}/api/groups) — Ctrl-C stops it`);
const stop = async () => {
  QemuVm.killAll();
  await collector.stop();
  await broker.stop();
  process.exit(0);
};
process.on("SIGINT", () => void stop());
process.on("SIGTERM", () => void stop());

// The QEMU guest: a real kernel panic and a real crash, uploaded over QEMU user networking (host = 10.0.2.2).
if (!existsSync(join(ROOT, "out/qemu/vmlinuz"))) {
  console.log("(no QEMU image in out/qemu: `make qemu-image` adds a QEMU guest to this demo)");
} else {
  console.log("qemu-guest: booting (TCG; its crash and kernel panic arrive in a few minutes)...");
  const port = new URL(broker.url).port;
  void QemuVm.scenario({ name: "fleet-demo", net: true }, async (vm) => {
    const overlay = JSON.parse(readFileSync(join(ROOT, "rootfs-overlay/etc/crashkeep/config.json"), "utf8")) as Record<string, unknown>;
    const config = { ...overlay, upload: { broker: `mqtt://10.0.2.2:${port}`, deviceId: "qemu-guest", firmware: "2.4.0", delaySeconds: 1, minBackoffSeconds: 2, maxBackoffSeconds: 4 } };
    const b64 = Buffer.from(JSON.stringify(config)).toString("base64");
    await vm.runOk(`mkdir -p /var/crashkeep-test && echo ${b64} | base64 -d > /var/crashkeep-test/config.json && cp /var/crashkeep-test/config.json /etc/crashkeep/config.json && /etc/init.d/S03crashkeep restart`, { timeoutMs: 60_000 });
    await vm.runOk("ulimit -c unlimited; crasher; sleep 3", { timeoutMs: 60_000 });
    console.log("qemu-guest: crasher crashed; panicking the kernel (echo c > /proc/sysrq-trigger)...");
    await vm.crash();
    await vm.runOk("ip link set eth0 up && ip addr add 10.0.2.15/24 dev eth0 && ip route add default via 10.0.2.2");
    for (let i = 0; i < 120; i++) {
      const res = await fetch(`${collector.base}/api/devices/qemu-guest`);
      if (res.ok && ((await res.json()) as { boots: Array<{ reason: string }> }).boots.some((b) => b.reason === "kernel-panic")) break;
      await Bun.sleep(1000);
    }
    console.log(`qemu-guest: uploaded — ${collector.base}/devices/qemu-guest`);
  }).catch((err: unknown) => console.error(`qemu-guest: ${err instanceof Error ? err.message : String(err)}`));
}
await new Promise(() => {});

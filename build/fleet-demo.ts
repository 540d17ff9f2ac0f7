// make fleet-demo: a local fleet on this machine. Starts mosquitto, the
// compiled collector (web page on 127.0.0.1:8080, or $PORT), and a few
// simulated devices that are the compiled binary itself, each in its own fake
// root: `crashkeep init` collects a kernel panic from pstore, the core_pattern
// handler turns real cores (test/fixtures/cores) into reports, `crashkeep
// note`, then `crashkeep upload --once` sends the outbox. A month of older
// boots and crashes is queued into the same outboxes so the charts have a
// history. Prints the URL and runs until Ctrl-C.
import { readFileSync } from "node:fs";
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
  await collector.stop();
  await broker.stop();
  process.exit(0);
};
process.on("SIGINT", () => void stop());
process.on("SIGTERM", () => void stop());
await new Promise(() => {});

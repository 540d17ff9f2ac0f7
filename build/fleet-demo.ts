// make fleet-demo: a local fleet on this machine. Starts mosquitto, the
// compiled collector (web page on 127.0.0.1:8080, or $PORT), and a few
// simulated devices that are the compiled binary itself, each in its own fake
// root: `crashkeep init` collects a kernel panic from pstore, the core_pattern
// handler turns real cores (test/fixtures/cores) into reports, `crashkeep
// note`, then `crashkeep upload --once` sends the outbox. Each device root
// holds the files its crashed program mapped (the program, libc, ld.so, from
// the fixtures' sysroot), at the paths its core names, as the device that
// crashed had them: the handler reads them there for their symbols and unwind
// tables, so its groups are symbolized on any machine. A month of older boots
// and crashes is queued into the same outboxes so the charts have a history.
// Prints the URL; then a QEMU guest (out/qemu, `make qemu-image`) crashes a
// program, panics its kernel, and after the reboot its daemon uploads both to
// the same broker (a few minutes under TCG); the demo says "uploaded" only
// once the collector shows them, else what is missing and where the guest's
// console log is. Runs until Ctrl-C.
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { QemuVm } from "../test/qemu/harness.ts";
import { crashIntoOutbox, networkUp, uploadWith } from "../test/qemu/steps.ts";
import { device as deviceRoot } from "../test/integration/brokers.ts";
import { api, startCollector, startMosquitto, uploadAsDevices, waitFor, ROOT } from "../test/integration/servers.ts";
import { bootMessage, crashMessage, daysAgo, device, fixtureReport, type Message } from "../test/unit/collect/fleet.ts";
import { fixtures, FIXTURES, placeMappedFiles } from "../test/unit/core/fixtures.ts";
import { makeFakeTree } from "../test/unit/boot/fake-tree.ts";
import { guestLine, unsymbolized, waitForGuest, type GuestView } from "./fleet-demo-checks.ts";
// (the history goes through uploadAsDevices: the same outbox and `crashkeep upload` as today's events)

const PORT = Number(process.env.PORT ?? 8080);
const PANIC = readFileSync(join(ROOT, "test/fixtures/pstore/sysrq/dmesg-ramoops-0"));
const CORES = ["nested", "fpe", "abort", "threads"];
const DEVICES = 6;
/** The guest's daemon: its backoff (≤ 4 s) and a TCG start of `crashkeep upload` after the reboot (as test/qemu/collect.test.ts). */
const GUEST_SEND_TIMEOUT_MS = 180_000;
const GUEST = { deviceId: "qemu-guest", exe: "crasher", panicMessage: "sysrq triggered crash" };

/** Core fixture NAME (x86_64), decompressed, with the sysroot holding the files it maps. */
function coreFixture(name: string) {
  const f = fixtures().find((x) => x.arch === "x86_64" && x.name === name);
  if (!f) throw new Error(`Cannot find core fixture "${name}": not in ${FIXTURES}/x86_64`);
  return f;
}

/** The collector's view of device ID; undefined while it answers "no such device" (404). */
async function deviceView(base: string, id: string): Promise<GuestView | undefined> {
  const res = await fetch(`${base}/api/devices/${encodeURIComponent(id)}`);
  if (res.status === 404) return undefined;
  if (!res.ok) throw new Error(`Cannot read device "${id}" from the collector: HTTP ${res.status}`);
  return (await res.json()) as GuestView;
}

const broker = await startMosquitto();
const dbDir = mkdtempSync(join(tmpdir(), "ck-fleet-demo-"));
const db = join(dbDir, "collect.db");
/** Removed at Ctrl-C: the database and the device roots (each with its program's files, about 12 MB). */
const temps = [dbDir];
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
let sent = history.length;
for (let i = 0; i < DEVICES; i++) {
  const tree = makeFakeTree();
  temps.push(tree.root);
  const d = deviceRoot({ broker: broker.url, deviceId: `demo-${i}`, firmware: i < 3 ? "2.3.0" : "2.4.0" }, {}, tree.root);
  if (i % 2 === 0) tree.write("sys/fs/pstore/dmesg-ramoops-0", PANIC);
  const name = CORES[i % CORES.length] as string;
  // the files the crashed program mapped, where this device's handler looks for them: under its root
  placeMappedFiles(join(FIXTURES, "x86_64", `${name}.files`), coreFixture(name).sysroot, tree.root);
  const steps: Array<[string[], Uint8Array?]> = [
    [["init"]],
    [["core", String(7000 + i), String(7000 + i), "11", String(Math.floor(Date.now() / 1000)), `!opt!crashkeep-fixtures!x86_64!${name}`], readFileSync(coreFixture(name).core)],
    [["note", `demo device ${i} says hello`]],
  ];
  for (const [args, stdin] of steps) {
    const r = d.run(args, stdin ? { stdin } : {});
    if (r.code !== 0) console.error(`demo-${i}: crashkeep ${args[0]} failed (exit ${r.code}): ${r.out}${r.err}`);
  }
  const up = await d.runAsync(["upload", "--once", "--json"]);
  if (up.code !== 0) console.error(`demo-${i}: upload failed: ${up.out}${up.err}`);
  else sent += (JSON.parse(up.out) as { sent: number }).sent;
}
await waitFor(`the collector to store the ${sent} messages sent`, async () => {
  const h = await api<{ messages: number; rejected: number }>(collector.base, "/api/health");
  return h.messages + h.rejected >= sent ? h : undefined;
}).catch((err: unknown) => console.error(`fleet demo: ${err instanceof Error ? err.message : String(err)}`));
const bare = unsymbolized(await api<Array<{ signature: string }>>(collector.base, "/api/groups"));
if (bare.length > 0) console.error(`fleet demo: ${bare.length} groups are not symbolized (the handler did not read the programs' files in the device roots):\n  ${bare.join("\n  ")}`);

console.log(`\nfleet demo: ${DEVICES} devices sent their boots, crashes and notes.`);
console.log(`open ${collector.base}/  (API: ${collector.base}/api/groups) — Ctrl-C stops it`);
const stop = async () => {
  QemuVm.killAll();
  await collector.stop();
  await broker.stop();
  for (const dir of temps) rmSync(dir, { recursive: true, force: true });
  process.exit(0);
};
process.on("SIGINT", () => void stop());
process.on("SIGTERM", () => void stop());

// The QEMU guest: a real kernel panic and a real crash, uploaded over QEMU user networking (host = 10.0.2.2).
if (!existsSync(join(ROOT, "out/qemu/vmlinuz"))) {
  console.log("(no QEMU image in out/qemu: `make qemu-image` adds a QEMU guest to this demo)");
} else {
  console.log(`${GUEST.deviceId}: booting (TCG; its crash and kernel panic arrive in a few minutes)...`);
  const port = new URL(broker.url).port;
  let consoleLog = join(ROOT, "out/qemu-logs/fleet-demo/console.log");
  void QemuVm.scenario({ name: "fleet-demo", net: true }, async (vm) => {
    consoleLog = join(vm.logDir, "console.log");
    await uploadWith(vm, { broker: `mqtt://10.0.2.2:${port}`, deviceId: GUEST.deviceId, firmware: "2.4.0", delaySeconds: 1, minBackoffSeconds: 2, maxBackoffSeconds: 4 });
    await crashIntoOutbox(vm);
    console.log(`${GUEST.deviceId}: ${GUEST.exe} crashed; panicking the kernel (echo c > /proc/sysrq-trigger)...`);
    await vm.crash();
    await networkUp(vm);
    const missing = await waitForGuest(() => deviceView(collector.base, GUEST.deviceId), GUEST, { timeoutMs: GUEST_SEND_TIMEOUT_MS });
    const line = guestLine(missing, { deviceId: GUEST.deviceId, page: `${collector.base}/devices/${GUEST.deviceId}`, waitedSeconds: GUEST_SEND_TIMEOUT_MS / 1000, consoleLog });
    // a failed scenario keeps its console log (the harness deletes it after a good one)
    if (missing.length > 0) throw new Error(line);
    console.log(line);
  }).catch((err: unknown) => {
    const text = err instanceof Error ? err.message : String(err);
    console.error(text.startsWith(`${GUEST.deviceId}: `) ? text : `${GUEST.deviceId}: ${text}. The guest's console log: ${consoleLog}`);
  });
}
await new Promise(() => {});

// Simulated devices that are the device code itself: N fake device roots (the
// upload tests' helper), each running the compiled binary's init (a panic
// record in pstore), its core_pattern handler (a real core), note, and
// `crashkeep upload --once` to a real mosquitto; the compiled collector stores
// what they send, symbolizes the reports on arrival with its --debug-dir, and
// its API shows each device's boots and the crash group.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { makeFakeTree } from "../unit/boot/fake-tree.ts";
import { device } from "./brokers.ts";
import { api, ROOT, startCollector, startMosquitto, waitFor, type Collector, type Running } from "./servers.ts";
import { strippedDebugDir, SYMBOLIZED_SIGNATURE } from "../unit/collect/fleet.ts";
import { debugFixtures, FIXTURES as SYMBOLIZE_FIXTURES } from "../unit/debuginfo/symbolize-fixtures.ts";
import { placeMappedFiles } from "../unit/core/fixtures.ts";

const PANIC = readFileSync(join(ROOT, "test/fixtures/pstore/sysrq/dmesg-ramoops-0"));
const DEVICES = 3;
let broker: Running;
let collector: Collector;
let dir: string;

beforeAll(async () => {
  broker = await startMosquitto();
  dir = mkdtempSync(join(tmpdir(), "ck-collect-devices-"));
  // the devices' reports carry no symbols (their roots hold the stripped program: CFI, no names); the collector has the debug files
  collector = await startCollector(["--broker", broker.url, "--db", `sqlite://${dir}/c.db`, "--client-id", "ck-devices", "--debug-dir", strippedDebugDir()]);
});
afterAll(async () => {
  await collector?.stop();
  await broker?.stop();
  rmSync(dir, { recursive: true, force: true });
});

test(`${DEVICES} devices (init, core handler, note, upload --once) reach the collector`, async () => {
  // a crash of the stripped -O2 -g program of the symbolizer's fixtures: the device can only say module + offset
  const fx = debugFixtures();
  const core = readFileSync((fx.cores.find((c) => c.name === "records") as { core: string }).core);
  let sent = 0;
  for (let i = 0; i < DEVICES; i++) {
    const tree = makeFakeTree();
    // the program and the libraries the core maps, where this device's handler looks: under its root
    placeMappedFiles(join(SYMBOLIZE_FIXTURES, "records.files"), fx.sysroot, tree.root);
    const d = device({ broker: broker.url, deviceId: `sim-${i}`, firmware: `7.${i % 2}.0` }, {}, tree.root);
    tree.write("sys/fs/pstore/dmesg-ramoops-0", PANIC);
    expect(d.run(["init"]).code).toBe(0);
    expect(d.run(["core", String(5000 + i), String(5000 + i), "11", "1764100000", "!opt!crashkeep-fixtures!symbolize!records"], { stdin: core }).code).toBe(0);
    expect(d.run(["note", "--reason", "maintenance", `device ${i} going down`]).code).toBe(0);
    const up = await d.runAsync(["upload", "--once", "--json"]);
    expect(up.code).toBe(0);
    const r = JSON.parse(up.out) as { sent: number; remaining: number };
    expect(r.remaining).toBe(0);
    sent += r.sent;
  }
  const h = await waitFor("every upload stored", async () => {
    const x = await api<{ messages: number; rejected: number; rejects: unknown[] }>(collector.base, "/api/health");
    return x.messages + x.rejected >= sent ? x : undefined;
  });
  expect(h.rejects).toEqual([]);
  expect(h.messages).toBe(sent);
  const groups = await api<Array<{ exe: string; count: number; devices: number; firmware: string[] }>>(collector.base, "/api/groups");
  expect(groups).toHaveLength(1);
  expect(groups[0]).toMatchObject({ exe: "records", count: DEVICES, devices: DEVICES, firmware: ["7.0.0", "7.1.0"] });
  // symbolized on arrival: function names (inlined frames included), not module + offset
  expect((groups[0] as unknown as { signature: string }).signature).toBe(SYMBOLIZED_SIGNATURE);
  for (let i = 0; i < DEVICES; i++) {
    const dev = await api<{ firmware: string; boots: Array<{ reason: string; panicLog: string | null }> }>(collector.base, `/api/devices/sim-${i}`);
    expect(dev.firmware).toBe(`7.${i % 2}.0`);
    expect(dev.boots.map((b) => b.reason)).toEqual(["kernel-panic"]);
    expect(dev.boots[0]?.panicLog).toContain("Kernel panic - not syncing: sysrq triggered crash");
  }
  const versions = await api<Array<{ firmware: string; reasons: Record<string, number>; crashFreeBootsPercent: number }>>(collector.base, "/api/versions");
  expect(versions.map((v) => [v.firmware, v.reasons, v.crashFreeBootsPercent])).toEqual([
    ["7.1.0", { "kernel-panic": 1 }, 0],
    ["7.0.0", { "kernel-panic": 2 }, 0],
  ]);
}, 120_000);

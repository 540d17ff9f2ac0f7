// Issue 13 end to end: the QEMU guest's uploads reach `crashkeep collect` on
// the host. A user-space crash, then a kernel panic; after the reboot the
// guest's daemon sends the crash report and the kernel-panic boot to a
// mosquitto on the host (QEMU user networking: the host's loopback is
// 10.0.2.2 in the guest); the compiled collector stores them, and its web
// page shows the guest's kernel-panic boot with the crash in it, and the
// crash's group.
//
// Run: make qemu-image && node_modules/.bin/bun test test/qemu/collect.test.ts
import { afterAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { imageDirOf, QemuVm } from "./harness.ts";
import { crashIntoOutbox, networkUp, uploadWith } from "./steps.ts";
import { api, startCollector, startMosquitto, waitFor, type Collector, type Running } from "../integration/servers.ts";

const cleanups: Array<() => unknown> = [];
afterAll(async () => {
  QemuVm.killAll();
  for (const c of cleanups.reverse()) await c();
});

/** The daemon's backoff (≤ 4 s) and a TCG start of `crashkeep upload` in the guest. */
const SEND_TIMEOUT_MS = 180_000;

/**
 * The crasher's signature from a reference that is not crashkeep: gdb runs the image's own
 * (static) crasher on the host until its SIGSEGV and prints the backtrace, past main; the
 * signature is the program's name and the first 5 frames (docs/COLLECT.md: all of them are
 * the program's own code in a static binary).
 */
function gdbSignature(): string {
  const crasher = join(imageDirOf("x86_64"), "programs/crasher");
  const r = Bun.spawnSync(["gdb", "-batch", "-nx", "-ex", "set backtrace past-main on", "-ex", "run", "-ex", "bt", crasher], { stdout: "pipe", stderr: "pipe", cwd: tmpdir() });
  const frames = [...r.stdout.toString().matchAll(/^#\d+\s+(?:0x[0-9a-f]+ in )?([A-Za-z_][A-Za-z0-9_]*) \(/gm)].map((m) => m[1] as string);
  if (frames.length < 5) throw new Error(`Cannot read the crasher's backtrace from gdb: ${r.stdout.toString()}${r.stderr.toString()}`);
  return `crasher: ${frames.slice(0, 5).join(" < ")}`;
}

interface DeviceView {
  boots: Array<{ reason: string; panicMessage: string | null; crashes: Array<{ groupId: string; exe: string | null }> }>;
}

test(
  "the guest's crash and kernel-panic boot reach the collector; its pages show them",
  async () => {
    const broker: Running = await startMosquitto();
    cleanups.push(() => broker.stop());
    const dir = mkdtempSync(join(tmpdir(), "ck-qemu-collect-"));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const collector: Collector = await startCollector(["--broker", broker.url, "--db", `sqlite://${dir}/c.db`, "--client-id", "ck-qemu"]);
    cleanups.push(() => collector.stop());
    const port = new URL(broker.url).port;

    await QemuVm.scenario({ name: "collect", net: true }, async (vm) => {
      await uploadWith(vm, { broker: `mqtt://10.0.2.2:${port}`, deviceId: "qemu-guest", firmware: "qemu-1.0", delaySeconds: 1, minBackoffSeconds: 2, maxBackoffSeconds: 4, connectTimeoutSeconds: 10 });
      await crashIntoOutbox(vm);
      await vm.crash();
      await networkUp(vm);
      await waitFor(
        "the guest's boot and crash in the collector",
        async () => {
          const d = await api<DeviceView>(collector.base, "/api/devices/qemu-guest").catch(() => undefined);
          return d && d.boots.some((b) => b.reason === "kernel-panic" && b.crashes.length > 0) ? d : undefined;
        },
        SEND_TIMEOUT_MS,
      );
    });

    const device = await api<DeviceView>(collector.base, "/api/devices/qemu-guest");
    const panic = device.boots.find((b) => b.reason === "kernel-panic");
    expect(panic?.panicMessage).toBe("sysrq triggered crash");
    expect(panic?.crashes.map((c) => c.exe)).toEqual([expect.stringMatching(/crasher$/)]);
    const groups = await api<Array<{ id: string; exe: string; signature: string; count: number; firmware: string[] }>>(collector.base, "/api/groups");
    // One crash, one message: a redelivery keeps its id (a duplicate, not a second crash). The double
    // upload this test once allowed for was the watcher's undurable move of the handled core: the panic
    // brought the core back and the next boot reported it again under a new id (fixed by f4110f8).
    expect(groups).toEqual([expect.objectContaining({ id: panic?.crashes[0]?.groupId, exe: "crasher", count: 1, firmware: ["qemu-1.0"] })]);
    expect(groups[0]?.signature).toBe(gdbSignature());
    const health = await api<{ rejected: number }>(collector.base, "/api/health");
    expect(health.rejected).toBe(0);

    // the pages a person opens
    const devicePage = await (await fetch(`${collector.base}/devices/qemu-guest`)).text();
    expect(devicePage).toContain('data-reason="kernel-panic"');
    expect(devicePage).toContain("sysrq triggered crash");
    expect(devicePage).toContain(`href="/groups/${groups[0]?.id}"`);
    const groupPage = await (await fetch(`${collector.base}/groups/${groups[0]?.id}`)).text();
    expect(groupPage).toContain("crasher");
    expect(groupPage).toContain("SEGV_MAPERR at 0x10");
    const versions = await api<Array<{ firmware: string; reasons: Record<string, number>; crashFreeBootsPercent: number }>>(collector.base, "/api/versions");
    expect(versions.find((v) => v.firmware === "qemu-1.0")).toMatchObject({ reasons: { "kernel-panic": 1 }, crashFreeBootsPercent: 0 });
  },
  600_000,
);

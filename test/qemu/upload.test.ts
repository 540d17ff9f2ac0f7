// Issue 12 end to end: a user-space crash is queued in the outbox while the
// guest has no network, the kernel panics, the next boot's init archives the
// boot and queues it, and once the network is up the daemon sends both to a
// mosquitto on the host (QEMU user networking: the host's loopback is
// 10.0.2.2 in the guest).
//
// Run: make qemu-image && node_modules/.bin/bun test test/qemu/upload.test.ts
import { afterAll, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { QemuVm } from "./harness.ts";
import { mosquitto, Subscriber, waitFor, type Received } from "../integration/brokers.ts";

const cleanups: Array<() => unknown> = [];
afterAll(async () => {
  QemuVm.killAll();
  for (const c of cleanups.reverse()) await c();
});

/** How long the daemon may take to send once the network is up: backoff ≤ 4 s, TCG start-up of `crashkeep upload` in the guest. */
const SEND_TIMEOUT_MS = 180_000;

test(
  "crash (no network) → panic → reboot → init queues the boot → network up → the daemon sends the boot (kernel-panic) and the crash to the host",
  async () => {
    const broker = await mosquitto();
    cleanups.push(() => broker.kill9());
    await broker.start();
    const sub = new Subscriber(broker.port, "qemu-collector");
    cleanups.push(() => sub.close());
    await sub.connect();

    await QemuVm.scenario({ name: "upload", net: true }, async (vm) => {
      const overlay = JSON.parse(readFileSync(join(import.meta.dir, "../../rootfs-overlay/etc/crashkeep/config.json"), "utf8")) as Record<string, unknown>;
      const config = {
        ...overlay,
        upload: { broker: `mqtt://10.0.2.2:${broker.port}`, deviceId: "qemu-guest", delaySeconds: 1, minBackoffSeconds: 2, maxBackoffSeconds: 4, connectTimeoutSeconds: 10 },
      };
      const b64 = Buffer.from(JSON.stringify(config)).toString("base64");
      // The test hook of S01testimage copies /var/crashkeep-test/config.json to /etc at every boot; restart the daemon with it now.
      await vm.runOk(`mkdir -p /var/crashkeep-test && echo ${b64} | base64 -d > /var/crashkeep-test/config.json && cp /var/crashkeep-test/config.json /etc/crashkeep/config.json && sync && crashkeep config check && /etc/init.d/S03crashkeep restart`, { timeoutMs: 60_000 });

      // 1. A crash while the guest has no network: the report is queued, durably, and cannot be sent.
      await vm.runOk(
        "ulimit -c unlimited; crasher; n=0; until ls /var/lib/crashkeep/outbox 2>/dev/null | grep -q -- '-crash-'; do n=$((n+1)); [ $n -gt 150 ] && break; sleep 0.2; done",
        { timeoutMs: 60_000 },
      );
      expect(await vm.runOk("ls /var/lib/crashkeep/outbox | grep -c -- '-crash-'")).toBe("1\n");

      // 2. Kernel panic; the next boot's init archives it and queues the boot message.
      await vm.crash();
      expect(vm.boots[1] ?? "").toMatch(/previous boot ended in kernel-panic: sysrq triggered crash; last user-space crash before it: crasher/);
      expect(await vm.runOk("ls /var/lib/crashkeep/outbox | grep -c -- '-boot-'")).toBe("1\n");
      expect(await vm.runOk("ls /var/lib/crashkeep/outbox | grep -c -- '-crash-'")).toBe("1\n");

      // 3. Network up (QEMU user networking: static address, the host at 10.0.2.2): the daemon's next try sends both.
      await vm.runOk("ip link set eth0 up && ip addr add 10.0.2.15/24 dev eth0 && ip route add default via 10.0.2.2");
      const kinds = (k: string) => [...sub.byId.values()].filter((r) => r.payload.kind === k);
      await waitFor("the boot and the crash message on the host", () => kinds("boot").length >= 1 && kinds("crash").length >= 1, SEND_TIMEOUT_MS, () => `${sub.byId.size} message(s)`);
      const boot = kinds("boot")[0] as Received;
      const crash = kinds("crash")[0] as Received;
      expect(boot.topic).toBe("crashkeep/v1/qemu-guest/boot");
      expect(boot.payload).toMatchObject({ schema: "crashkeep.upload/1", device: { id: "qemu-guest", arch: "x86_64" }, boot: { reason: "kernel-panic", panicMessage: "sysrq triggered crash" } });
      expect((boot.payload as unknown as { boot: { panicLog: string; lastUserCrash: string } }).boot.panicLog).toContain("sysrq triggered crash");
      expect((boot.payload as unknown as { boot: { lastUserCrash: string } }).boot.lastUserCrash).toMatch(/^crasher \(pid \d+, SEGV_MAPERR at 0x10\)$/);
      expect(crash.topic).toBe("crashkeep/v1/qemu-guest/crash");
      expect(crash.payload).toMatchObject({ crash: { comm: "crasher", form: "full", signal: "SIGSEGV SEGV_MAPERR at 0x10" } });
      expect(Date.parse((crash.payload as unknown as { time: string }).time)).toBeLessThan(Date.parse((boot.payload as unknown as { boot: { archivedAt: string } }).boot.archivedAt));
      expect(sub.invalid).toEqual([]);
      await waitFor("the guest's outbox to empty", async () => (await vm.runOk("ls /var/lib/crashkeep/outbox | grep -c -- '-' || true")) === "0\n", 60_000);
      expect(await vm.runOk("crashkeep status")).toMatch(/upload: +mqtt:\/\/10\.0\.2\.2:\d+: 0 pending/);
    });
  },
  600_000,
);

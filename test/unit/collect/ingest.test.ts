import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { ingest, MAX_MESSAGE_BYTES, MAX_REJECTS_KEPT, resymbolize } from "../../../src/collect/ingest.ts";
import { openStore, schemaVersions, type Store } from "../../../src/collect/store.ts";
import { CRASH_LOOP_LINK_MS, deviceDetail, groupDetail, health, listGroups, listVersions, pageOfVersions } from "../../../src/collect/views.ts";
import type { BadBoot } from "../../../src/upload/payload.ts";
import { signatureOf } from "../../../src/collect/signature.ts";
import { readCrashReport } from "../../../src/collect/crash.ts";
import { compactReport } from "../../../src/core/format.ts";
import { bootMessage, crashMessage, daysAgo, device, fixtureReport, noteMessage, rollbackMessage, strippedDebugDir, strippedReport, STRIPPED_SIGNATURE, SYMBOLIZED_SIGNATURE, type Message } from "./fleet.ts";

const options = { topicPrefix: "crashkeep/v1", symbolize: { debugDirs: [], debuginfod: undefined } };
let dir: string;
let store: Store;

const send = (m: Message) => ingest(store, m.topic, m.bytes, options);
const raw = (topic: string, text: string | Uint8Array) => ingest(store, topic, typeof text === "string" ? new TextEncoder().encode(text) : text, options);

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "ck-collect-"));
  store = await openStore(`sqlite://${dir}/collect.db`);
});
afterAll(async () => {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

describe("signature", () => {
  test("skips libc frames and keeps function names without offsets", () => {
    const sig = signatureOf(fixtureReport("abort"));
    expect(sig.frames[0]).toBe("check");
    expect(sig.text).toStartWith("abort: check < process < main");
    expect(sig.frames.length).toBeLessThanOrEqual(5);
  });
  test("module + offset when a binary has no symbols", () => {
    const sig = signatureOf(fixtureReport("stripped"));
    for (const f of sig.frames) expect(f).toMatch(/^stripped\+0x[0-9a-f]+$/);
  });
  test("the compact form gives the same signature as the full report", () => {
    for (const name of ["nested", "threads", "abort", "fpe"]) {
      const r = fixtureReport(name);
      expect(signatureOf(readCrashReport("compact", JSON.parse(compactReport(r)) as Record<string, unknown>)).text).toBe(signatureOf(r).text);
    }
  });
});

describe("the fleet helper (fleet.ts)", () => {
  test("leaves nothing in the temp directory: a boot's entry files and a bare report's empty sysroot are removed once the message is built", () => {
    const ours = () => readdirSync(tmpdir()).filter((n) => n.startsWith("ck-fleet-entry-") || n.startsWith("ck-fleet-empty-sysroot-")).sort();
    const before = ours();
    const m = bootMessage(device("tmp-1", "1.0"), { reason: "kernel-panic", bootId: "t", time: daysAgo(0, 1), panicLog: "Kernel panic - not syncing: x\n", logTail: ["a", "b"] });
    // the files were read: the message carries them
    expect(m.payload.kind === "boot" && [m.payload.boot.panicLog, m.payload.boot.logTails[0]?.lines]).toEqual(["Kernel panic - not syncing: x\n", ["a", "b"]]);
    fixtureReport("fpe", { bare: true });
    expect(ours()).toEqual(before);
  });
});

describe("ingest", () => {
  test("migrations are applied once, also on a second open", async () => {
    const again = await openStore(`sqlite://${dir}/collect.db`);
    expect(await schemaVersions(again)).toEqual([1, 2, 3, 4]);
    await again.close();
  });

  test("boots, crashes and notes are stored; the same id twice is stored once", async () => {
    const a = device("dev-a", "1.0.0");
    const b = device("dev-b", "1.1.0");
    const boot = bootMessage(a, { reason: "kernel-panic", bootId: "boot-a1", time: daysAgo(2), panicMessage: "sysrq triggered crash", panicLog: "...\nKernel panic - not syncing: sysrq triggered crash\n", logTail: ["app: starting", "app: level3"] });
    expect(await send(boot)).toMatchObject({ status: "stored", kind: "boot" });
    expect(await send(boot)).toEqual({ status: "duplicate", id: boot.payload.id, conflicting: false });
    expect(await send(bootMessage(a, { reason: "clean", bootId: "boot-a2", time: daysAgo(1) }))).toMatchObject({ status: "stored" });
    expect(await send(bootMessage(b, { reason: "firmware-update", bootId: "boot-b1", time: daysAgo(1) }))).toMatchObject({ status: "stored" });
    expect(await send(bootMessage(b, { reason: "unexpected-reset", bootId: "boot-b2", time: daysAgo(0, 30) }))).toMatchObject({ status: "stored" });
    const c1 = await send(crashMessage(a, fixtureReport("nested"), { time: daysAgo(2, 10) }));
    const c2m = crashMessage(b, fixtureReport("nested"), { time: daysAgo(0, 40), compact: true });
    expect(c2m.payload.kind === "crash" && c2m.payload.crash.form).toBe("compact");
    const c2 = await send(c2m);
    const c3 = await send(crashMessage(b, fixtureReport("fpe"), { time: daysAgo(0, 35) }));
    const c4 = await send(crashMessage(b, fixtureReport("fpe"), { time: daysAgo(0, 5) }));
    expect(c4.status).toBe("stored");
    expect(c1.status).toBe("stored");
    expect(c1.status === "stored" && c2.status === "stored" && c1.group === c2.group).toBe(true);
    expect(c3.status === "stored" && c1.status === "stored" && c3.group !== c1.group).toBe(true);
    expect(await send(noteMessage(a, { text: "operator reboot", time: daysAgo(1), reason: "maintenance" }))).toMatchObject({ status: "stored", kind: "note" });

    const groups = await listGroups(store);
    expect(groups.map((g) => [g.exe, g.count, g.devices])).toEqual([
      ["fpe", 2, 1],
      ["nested", 2, 2],
    ]);
    const nested = groups.find((g) => g.exe === "nested");
    expect(nested?.firmware).toEqual(["1.0.0", "1.1.0"]);
    expect(nested?.daily.reduce((x, y) => x + y, 0)).toBe(2);

    const versions = await listVersions(store);
    expect(versions.map((v) => [v.firmware, v.boots, v.reasons, v.crashFreeBootsPercent, v.devicesAffected])).toEqual([
      ["1.1.0", 2, { "firmware-update": 1, "unexpected-reset": 1 }, 50, 1],
      ["1.0.0", 2, { "kernel-panic": 1, clean: 1 }, 50, 1],
    ]);

    const dev = await deviceDetail(store, "dev-b");
    // a crash belongs to the first boot that ended after it; the one after the newest boot is in the running boot
    expect(dev?.boots.map((x) => [x.reason, x.crashes.length])).toEqual([
      ["unexpected-reset", 2],
      ["firmware-update", 0],
    ]);
    expect(dev?.otherCrashes).toHaveLength(1);
    const devA = await deviceDetail(store, "dev-a");
    expect(devA?.boots.map((x) => [x.reason, x.crashes.length])).toEqual([
      ["clean", 0],
      ["kernel-panic", 1],
    ]);
    expect(devA?.boots[1]?.panicLog).toContain("Kernel panic - not syncing");
    const detail = await groupDetail(store, nested?.id ?? "");
    expect(detail?.reports.map((r) => r.deviceId)).toEqual(["dev-b", "dev-a"]);
    expect(detail?.reports[1]?.logTails).toEqual([{ path: "/var/log/messages", lines: ["app: starting", "app: level3"] }]);
  });

  test("versions: rollbacks away from each version (devices counted once), beside crash-free boots; numeric order, paged", async () => {
    const c = device("dev-c", "1.0.0");
    const d = device("dev-d", "1.0.0");
    for (const [dev, from, minutes] of [[c, "1.2.0", 50], [c, "1.2.0", 45], [d, "1.2.0", 40], [d, "1.10.0", 35]] as const) {
      expect(await send(rollbackMessage(dev, { time: daysAgo(0, minutes), from }))).toMatchObject({ status: "stored", kind: "rollback" });
    }
    const versions = await listVersions(store);
    expect(versions.map((v) => [v.firmware, v.boots, v.crashFreeBootsPercent, v.rollbacks, v.rollbackDevices])).toEqual([
      ["1.10.0", 0, null, 1, 1],
      ["1.2.0", 0, null, 3, 2],
      ["1.1.0", 2, 50, 0, 0],
      ["1.0.0", 2, 50, 0, 0],
    ]);
    const page = await pageOfVersions(store, { offset: 1, limit: 2 });
    expect([page.items.map((v) => v.firmware), page.more]).toEqual([["1.2.0", "1.1.0"], true]);
    expect((await pageOfVersions(store, { offset: 3, limit: 2 })).more).toBe(false);
    // the top groups still come with the page's versions
    expect(page.items[1]?.topGroups.map((g) => g.count)).toEqual([2, 1]);
  });

  test.each([
    ["not JSON", "crashkeep/v1/x/boot", "{nope", /not JSON/],
    ["not an object", "crashkeep/v1/x/boot", "[1,2]", /not a JSON object/],
    ["unknown schema", "crashkeep/v1/x/boot", JSON.stringify({ schema: "crashkeep.upload/9", id: "a" }), /unknown schema "crashkeep.upload\/9"/],
    ["missing fields", "crashkeep/v1/x/boot", JSON.stringify({ schema: "crashkeep.upload/1", id: "a", kind: "boot" }), /not a valid upload/],
    ["bad device id", "crashkeep/v1/x/boot", JSON.stringify({ schema: "crashkeep.upload/1", id: "a", kind: "boot", time: new Date().toISOString(), truncated: false, device: { id: 7, firmware: "1" }, boot: { reason: "clean" } }), /device\.id/],
  ])("rejects %s", async (_name, topic, text, reason) => {
    const before = (await health(store)).rejected;
    const out = await raw(topic, text);
    expect(out.status).toBe("rejected");
    expect(out.status === "rejected" && out.reason).toMatch(reason);
    const h = await health(store);
    expect(h.rejected).toBe(before + 1);
    expect(h.rejects[0]?.reason).toMatch(reason);
  });

  test("rejects a message whose topic names another device", async () => {
    const m = bootMessage(device("dev-c", "1"), { reason: "clean", bootId: "x", time: daysAgo(0) });
    const out = await raw("crashkeep/v1/dev-d/boot", m.bytes);
    expect(out.status === "rejected" && out.reason).toMatch(/topic does not match/);
  });

  test("rejects oversized messages before parsing them", async () => {
    const out = await raw("crashkeep/v1/x/crash", new Uint8Array(MAX_MESSAGE_BYTES + 1).fill(0x20));
    expect(out.status === "rejected" && out.reason).toMatch(/more than/);
  });

  test("rejects a crash whose report is malformed", async () => {
    const m = crashMessage(device("dev-e", "1"), fixtureReport("nested"), { time: daysAgo(0) });
    if (m.payload.kind !== "crash") throw new Error("not a crash");
    m.payload.crash.report.threads = [{ frames: [{ module: 42 }] }];
    const out = await raw(m.topic, JSON.stringify(m.payload));
    expect(out.status === "rejected" && out.reason).toMatch(/crash report unreadable/);
  });

  test("the rejects table is bounded", async () => {
    const before = (await health(store)).rejected;
    for (let i = 0; i < MAX_REJECTS_KEPT + 5; i++) await raw("crashkeep/v1/x/boot", `junk ${i}`);
    const [n] = await store.sql`SELECT CAST(COUNT(*) AS INTEGER) AS n FROM rejects`;
    expect(n.n).toBe(MAX_REJECTS_KEPT);
    expect((await health(store)).rejected).toBe(before + MAX_REJECTS_KEPT + 5);
  });

  test("a report without symbols groups by module + offset; re-symbolized with the debug files it moves to its right group", async () => {
    const out = await send(crashMessage(device("dev-f", "1.0.0"), strippedReport(), { time: daysAgo(0, 2) }));
    if (out.status !== "stored") throw new Error(JSON.stringify(out));
    expect((await listGroups(store)).find((g) => g.id === out.group)?.signature).toBe(STRIPPED_SIGNATURE);
    const moved = await resymbolize(store, { debugDirs: ["/nonexistent", strippedDebugDir()], debuginfod: undefined });
    expect(moved.moved).toBe(1);
    const after = await listGroups(store);
    expect(after.find((g) => g.id === out.group)).toBeUndefined();
    const named = after.find((g) => g.signature === SYMBOLIZED_SIGNATURE);
    expect(named?.count).toBe(1);
    // the group page has file:line and the inlined frames
    const detail = await groupDetail(store, named?.id ?? "");
    const frames = detail?.reports[0]?.report.threads[0]?.frames ?? [];
    expect(frames.slice(0, 3).map((f) => [f.function, f.line, f.inlined])).toEqual([
      ["check_invariant", 17, true],
      ["process_record", 21, true],
      ["run_batch", 26, false],
    ]);
    const { handle } = await import("../../../src/collect/server.ts");
    const page = await (await handle(store, new Request(`http://x/groups/${named?.id}`), undefined)).text();
    expect(page).toContain("/opt/crashkeep-fixtures/symbolize/src/records.c:17");
    expect(page).toMatch(/check_invariant<\/code> <span class="muted">\(inlined\)/);
  });

  test("symbolized on arrival when the collector has the debug files", async () => {
    const out = await ingest(store, ...(() => {
      const m = crashMessage(device("dev-g", "1.0.0"), strippedReport(), { time: daysAgo(0, 2) });
      return [m.topic, m.bytes] as const;
    })(), { ...options, symbolize: { debugDirs: [strippedDebugDir()], debuginfod: undefined } });
    if (out.status !== "stored") throw new Error(JSON.stringify(out));
    expect((await listGroups(store)).find((g) => g.id === out.group)).toMatchObject({ signature: SYMBOLIZED_SIGNATURE, count: 2 });
  });

  test("a debug file whose build-id differs is not used", async () => {
    const { symbolizeReport } = await import("../../../src/collect/symbolize.ts");
    const bare = strippedReport();
    const mod = bare.modules.find((m) => m.path.endsWith("/records"))!;
    const id = mod.buildId!;
    // at the very path the lookup opens for records' build-id: another program's debug file (trap's)
    const tree = mkdtempSync(join(tmpdir(), "ck-collect-wrong-id-"));
    const other = readdirSync(join(strippedDebugDir(), ".build-id"), { recursive: true }).map(String).find((f) => f.endsWith(".debug") && f.replace("/", "") !== `${id}.debug`)!;
    const otherId = other.replace("/", "").slice(0, -".debug".length);
    const at = join(tree, ".build-id", id.slice(0, 2), `${id.slice(2)}.debug`);
    mkdirSync(dirname(at), { recursive: true });
    copyFileSync(join(strippedDebugDir(), ".build-id", other), at);
    const out = await symbolizeReport(bare, { debugDirs: [tree], debuginfod: undefined });
    rmSync(tree, { recursive: true, force: true });
    const refusal = `Cannot use debug file "${at}": it has build-id ${otherId}, the module has ${id}`;
    expect(out.report.modules.find((m) => m.path === mod.path)).toMatchObject({ problem: refusal, debugFile: null });
    expect(out.report.warnings).toContain(`${refusal}, ignoring`);
    expect(out.report.threads[0]!.frames.filter((f) => f.module === mod.path).map((f) => [f.function, f.file, f.line])).toEqual(
      bare.threads[0]!.frames.filter((f) => f.module === mod.path).map((f) => [f.symbol, null, null]),
    );
  });

  test("module paths with .. and build-ids that are not hex are rejected (they would steer debug-file lookups)", async () => {
    for (const bad of [
      (r: ReturnType<typeof strippedReport>) => ((r.threads[0] as { frames: Array<{ module: string | null }> }).frames[0]!.module = "/opt/../../etc/passwd"),
      (r: ReturnType<typeof strippedReport>) => ((r.threads[0] as { frames: Array<{ buildId: string | null }> }).frames[0]!.buildId = "../../x"),
    ]) {
      const r = strippedReport();
      bad(r);
      const m = crashMessage(device("dev-h", "1"), r, { time: daysAgo(0, 1) });
      const out = await send(m);
      expect(out.status === "rejected" && out.reason).toMatch(/crash report unreadable: .*(\.\.|not hex)/);
    }
  });

  test("mutated reports are stored or rejected, never thrown", async () => {
    const base = crashMessage(device("dev-fuzz", "1"), fixtureReport("threads"), { time: daysAgo(0, 3) }).payload;
    let seed = 12345;
    const rand = (n: number) => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % n;
    };
    const values: unknown[] = [null, 0, -1, 1e308, "", "<script>", [], {}, [1, 2], { a: 1 }, true, "0xzz"];
    const statuses = new Set<string>();
    for (let i = 0; i < 300; i++) {
      const p = structuredClone(base) as unknown as Record<string, unknown>;
      p.id = `dev-fuzz/crash/fuzz-${i}`;
      // walk to a random node of the crash body and replace it
      let node = p.crash as Record<string, unknown>;
      for (let depth = 0; depth < 6; depth++) {
        const keys = Object.keys(node);
        const k = keys[rand(keys.length)] as string;
        const child = node[k];
        if (child !== null && typeof child === "object" && rand(3) > 0) node = child as Record<string, unknown>;
        else {
          node[k] = values[rand(values.length)];
          break;
        }
      }
      const out = await raw(`crashkeep/v1/dev-fuzz/crash`, JSON.stringify(p));
      statuses.add(out.status);
    }
    expect([...statuses].every((s) => s === "stored" || s === "rejected")).toBe(true);
    expect(statuses.has("rejected")).toBe(true);
    // what was stored renders
    const { handle } = await import("../../../src/collect/server.ts");
    for (const g of await listGroups(store)) expect((await handle(store, new Request(`http://x/groups/${g.id}`), undefined)).status).toBe(200);
    expect((await handle(store, new Request("http://x/devices/dev-fuzz"), undefined)).status).toBe(200);
  });

  test("resymbolize with the same debug files again moves nothing and drops no crash", async () => {
    const dirs = { debugDirs: [strippedDebugDir()], debuginfod: undefined };
    const before = await listGroups(store);
    const out = await resymbolize(store, dirs);
    expect(out).toEqual({ crashes: before.reduce((a, g) => a + g.count, 0), moved: 0 });
    expect((await listGroups(store)).map((g) => [g.id, g.count])).toEqual(before.map((g) => [g.id, g.count]));
  });
});

describe("a crash loop the device names by its executable only", () => {
  test("links to the group of the device's newest crash of that executable in the CRASH_LOOP_LINK_MS before the loop; an older crash, another executable or another device does not", async () => {
    const dev = device("dev-loop", "3.0.0");
    const fpe = await send(crashMessage(dev, fixtureReport("fpe"), { time: daysAgo(0, 30) }));
    const abort = await send(crashMessage(dev, fixtureReport("abort"), { time: daysAgo(0, 29) }));
    await send(crashMessage(device("dev-other", "3.0.0"), fixtureReport("nested"), { time: daysAgo(0, 29) }));
    expect([fpe.status, abort.status]).toEqual(["stored", "stored"]);
    const fpeGroup = (fpe.status === "stored" && fpe.group) || "no fpe group";
    const abortGroup = (abort.status === "stored" && abort.group) || "no abort group";
    expect(fpeGroup).toBeString();
    expect(fpeGroup).not.toBe(abortGroup);
    const loop = (executable: string, minutesAgo: number): BadBoot => ({
      slot: "B", bootId: `loop-${executable}-${minutesAgo}`, reason: "crash-loop", detail: `${executable} crashed 6 times`, executable, signature: null, endedAt: daysAgo(0, minutesAgo),
    });
    const windowMinutes = CRASH_LOOP_LINK_MS / 60_000;
    const badBoots = [
      loop("fpe", 28), // the fpe crash 2 minutes before: its group
      loop("/usr/bin/fpe", 28), // a path: compared by base name
      loop("fpe", 30 + windowMinutes + 1), // the crash came after this loop was seen: nothing
      loop("fpe", 30 - windowMinutes - 1), // the crash lies more than the window before: nothing
      loop("nested", 28), // only another device crashed "nested": nothing
      loop("abort", 28), // the newer crash of the device, its own group
    ];
    expect(await send(rollbackMessage(dev, { time: daysAgo(0, 20), from: "3.1.0", badBoots }))).toMatchObject({ status: "stored" });
    const r = (await deviceDetail(store, "dev-loop"))?.rollbacks[0];
    expect(r?.badBoots.map((b) => b.groupId)).toEqual([fpeGroup, fpeGroup, null, null, null, abortGroup]);
  });
});

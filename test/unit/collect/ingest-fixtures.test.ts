// The collector checked from a source of its own: hand-written upload messages
// (test/fixtures/upload, README.md there), validated against the committed
// docs/upload.schema.json with ajv, sent as their file bytes on topics spelled
// out here, and read back from the tables with plain SQL. Nothing here is
// built by src/upload/payload.ts or read through src/collect/views.ts, so a
// field renamed on both the device and the collector side fails this suite.
// Also: device fields follow the newest message, not the last received;
// signatures of crashes entirely inside the C/C++ runtime; orphan groups
// after --resymbolize.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Ajv2020 from "ajv/dist/2020";
import addFormats from "ajv-formats";
import { ingest, resymbolize } from "../../../src/collect/ingest.ts";
import { openStore, type Store } from "../../../src/collect/store.ts";
import { deviceDetail, pageOfRollbacks, pageOfVersions } from "../../../src/collect/views.ts";
import { crashMessage, daysAgo, device, strippedDebugDir, strippedReport } from "./fleet.ts";

const TOP = join(import.meta.dir, "../../..");
const FIXTURES = join(TOP, "test/fixtures/upload");
const options = { topicPrefix: "crashkeep/v1", symbolize: { debugDirs: [], debuginfod: undefined } };

const ajv = new Ajv2020({ allErrors: true, strict: false });
addFormats(ajv);
const validate = ajv.compile(JSON.parse(readFileSync(join(TOP, "docs/upload.schema.json"), "utf8")) as object);

type Json = Record<string, unknown> & { id: string; kind: string; time: string; device: Record<string, unknown> & { id: string } };

function fixture(name: string): Json {
  return JSON.parse(readFileSync(join(FIXTURES, name), "utf8")) as Json;
}

/** Topic as docs/UPLOAD.md spells it: <prefix>/<device id>/<kind>. */
const topicOf = (m: Json) => `crashkeep/v1/${m.device.id}/${m.kind}`;

let dir: string;
let store: Store;

const send = (m: Json) => ingest(store, topicOf(m), new TextEncoder().encode(JSON.stringify(m)), options);
const sendFile = (name: string) => {
  const bytes = readFileSync(join(FIXTURES, name));
  return ingest(store, topicOf(JSON.parse(bytes.toString("utf8")) as Json), new Uint8Array(bytes), options);
};

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "ck-collect-fixtures-"));
  store = await openStore(`sqlite://${dir}/collect.db`);
});
afterAll(async () => {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

describe("hand-written messages (test/fixtures/upload)", () => {
  const files = readdirSync(FIXTURES).filter((n) => n.endsWith(".json")).sort();

  test("there are fixtures of every kind", () => {
    expect(new Set(files.map((f) => fixture(f).kind))).toEqual(new Set(["boot", "crash", "note", "rollback"]));
  });

  test.each(files)("%s conforms to docs/upload.schema.json", (name) => {
    const ok = validate(fixture(name));
    expect(ok ? "" : ajv.errorsText(validate.errors)).toBe("");
  });

  test("a renamed field fails the schema and is rejected by the collector, naming the field", async () => {
    const { device: d, ...rest } = fixture("boot-clean.json");
    const renamed = { ...rest, dev: d, id: `${d.id}/boot/renamed` };
    expect(validate(renamed)).toBe(false);
    const out = await ingest(store, `crashkeep/v1/${d.id}/boot`, new TextEncoder().encode(JSON.stringify(renamed)), options);
    expect(out.status === "rejected" && out.reason).toMatch(/not a valid upload: .*device/);
  });

  test("each is stored from its file's bytes, and the tables hold what the file says", async () => {
    for (const f of files) expect(await sendFile(f)).toMatchObject({ status: "stored" });
    const boot = fixture("boot-kernel-panic.json") as Json & { boot: Record<string, unknown> };
    const boots: Array<Record<string, unknown>> = await store.sql`SELECT device_id, firmware, boot_id, reason, detail, crash_free, time, ended_at, panic_message FROM boots WHERE message_id = ${boot.id}`;
    expect(boots).toEqual([
      {
        device_id: "field-unit-7",
        firmware: "2.4.1 (20261101)",
        boot_id: "6f1c1a52-8d7e-4d61-9a43-0c2b1f7e9d10",
        reason: "kernel-panic",
        detail: "Oops",
        crash_free: 0,
        time: "2026-11-04T08:15:00.000Z",
        ended_at: "2026-11-04T08:14:58.000Z",
        panic_message: "Fatal exception in interrupt",
      },
    ]);
    const clean: Array<{ crash_free: number }> = await store.sql`SELECT crash_free FROM boots WHERE message_id = ${fixture("boot-clean.json").id}`;
    expect(clean).toEqual([{ crash_free: 1 }]);
    const note: Array<Record<string, unknown>> = await store.sql`SELECT device_id, text FROM notes WHERE message_id = ${fixture("note-dropped.json").id}`;
    expect(note).toEqual([{ device_id: "field-unit-7", text: "crashkeep dropped 3 crash, 1 note message(s) queued since 2026-11-01T00:00:00.000Z to stay within upload.outbox limits" }]);
    const stored: Array<{ payload: string }> = await store.sql`SELECT payload FROM messages WHERE id = ${boot.id}`;
    // rebuilt from known keys (docs/COLLECT.md): every field of the documented message, nothing lost
    expect(JSON.parse(stored[0]?.payload ?? "null")).toEqual(boot);
  });

  test("a crash groups by its own frames, by name, innermost first, the libc frames skipped (worked out by hand from the fixture)", async () => {
    const m = fixture("crash-abort-compact.json");
    const rows: Array<{ signature: string; exe: string; frames: string; summary: string; firmware: string }> =
      await store.sql`SELECT g.signature, g.exe, g.frames, c.summary, c.firmware FROM crashes c JOIN crash_groups g ON g.id = c.group_id WHERE c.message_id = ${m.id}`;
    expect(rows).toEqual([{ signature: "sensord: parse_line < read_config < main < _start", exe: "sensord", frames: JSON.stringify(["parse_line", "read_config", "main", "_start"]), summary: "SIGABRT (SI_TKILL)", firmware: "2.4.1 (20261101)" }]);
  });

  test("a crash with every frame in libc or libstdc++ keeps those frames (module + offset where no name), not an empty signature", async () => {
    const m = fixture("crash-runtime-only-compact.json");
    const rows: Array<{ signature: string }> = await store.sql`SELECT g.signature FROM crashes c JOIN crash_groups g ON g.id = c.group_id WHERE c.message_id = ${m.id}`;
    expect(rows).toEqual([{ signature: "uplinkd: libc.so.6+0x81e40 < raise < abort < libstdc++.so.6.0.30+0xa9a3c < __cxa_throw" }]);
  });
});

describe("rollbacks (hand-written, stored by the test above)", () => {
  const panicked = "field-unit-9/rollback/20261121T101500Z-rollback";
  const looped = "field-unit-7/rollback/20261122T071000Z-rollback";
  const bootloader = "field-unit-9/rollback/20261123T120000Z-rollback-bootloader";

  test("the rollbacks table holds what each file says; a firmware the device did not know is stored as unknown", async () => {
    const rows: Array<Record<string, unknown>> = await store.sql`SELECT message_id, device_id, archive_id, triggered_by, from_slot, from_firmware, to_slot, to_firmware, bad_boot_count, time, device_time, decided_at
      FROM rollbacks ORDER BY message_id`;
    expect(rows).toEqual([
      {
        message_id: looped, device_id: "field-unit-7", archive_id: "20261122T071000Z-rollback", triggered_by: "crashkeep", from_slot: "rootfs.1", from_firmware: "2.5.0 (20261120)",
        to_slot: "rootfs.0", to_firmware: "2.4.1 (20261101)", bad_boot_count: 2, time: "2026-11-22T07:10:00.000Z", device_time: "2026-11-22T07:10:00.000Z", decided_at: "2026-11-22T07:09:58.000Z",
      },
      {
        message_id: panicked, device_id: "field-unit-9", archive_id: "20261121T101500Z-rollback", triggered_by: "crashkeep", from_slot: "B", from_firmware: "2.5.0 (20261120)",
        to_slot: "A", to_firmware: "2.4.1 (20261101)", bad_boot_count: 2, time: "2026-11-21T10:15:00.000Z", device_time: "2026-11-21T10:15:00.000Z", decided_at: "2026-11-21T10:14:57.000Z",
      },
      {
        message_id: bootloader, device_id: "field-unit-9", archive_id: "20261123T120000Z-rollback-bootloader", triggered_by: "bootloader", from_slot: "B", from_firmware: "unknown",
        to_slot: "A", to_firmware: "2.4.1 (20261101)", bad_boot_count: 1, time: "2026-11-23T12:00:00.000Z", device_time: "2026-11-23T12:00:00.000Z", decided_at: "2026-11-23T11:59:58.000Z",
      },
    ]);
  });

  test("each bad boot is a row, in the device's order, with the group id its signature names", async () => {
    const rows: Array<Record<string, unknown>> = await store.sql`SELECT message_id, seq, slot, boot_id, reason, detail, executable, signature, group_id, ended_at FROM rollback_boots
      WHERE message_id IN (${looped}, ${bootloader}) ORDER BY message_id, seq`;
    const [sensord]: Array<{ id: string }> = await store.sql`SELECT id FROM crash_groups WHERE signature = ${"sensord: parse_line < read_config < main < _start"}`;
    expect(rows).toEqual([
      {
        message_id: looped, seq: 0, slot: "rootfs.1", boot_id: "3c0a9b6e-1f2d-4e8a-b7c3-5d6e7f809a1b", reason: "crash-loop", detail: "/usr/bin/sensord crashed 5 times in a minute: SIGABRT (SI_TKILL)",
        executable: "/usr/bin/sensord", signature: "sensord: parse_line < read_config < main < _start", group_id: sensord?.id, ended_at: "2026-11-22T06:58:30.000Z",
      },
      {
        message_id: looped, seq: 1, slot: "rootfs.1", boot_id: "e4b1c2d3-a5f6-4789-8abc-def012345678", reason: "crash-loop", detail: "/usr/bin/sensord crashed 5 times in a minute: SIGSEGV SEGV_MAPERR at 0x0",
        executable: "/usr/bin/sensord", signature: "sensord: load_plugin < main", group_id: expect.stringMatching(/^[0-9a-f]{16}$/), ended_at: "2026-11-22T07:04:02.000Z",
      },
      {
        message_id: bootloader, seq: 0, slot: "B", boot_id: null, reason: "never-reached-crashkeep", detail: "slot B never reached crashkeep: the bootloader fell back to slot A (BOOT_B_LEFT=0)",
        executable: null, signature: null, group_id: null, ended_at: null,
      },
    ]);
  });

  test("the device lists its rollbacks; a signature links to its crash group only when the collector has that group", async () => {
    const d = await deviceDetail(store, "field-unit-7");
    expect(d?.rollbackCount).toBe(1);
    const r = d?.rollbacks[0];
    expect(r).toMatchObject({ id: looped, trigger: "crashkeep", fromSlot: "rootfs.1", fromFirmware: "2.5.0 (20261120)", toSlot: "rootfs.0", toFirmware: "2.4.1 (20261101)", badBootCount: 2 });
    const [sensord]: Array<{ id: string }> = await store.sql`SELECT id FROM crash_groups WHERE signature = ${"sensord: parse_line < read_config < main < _start"}`;
    expect(r?.badBoots.map((b) => [b.reason, b.signature, b.groupId])).toEqual([
      ["crash-loop", "sensord: parse_line < read_config < main < _start", sensord?.id ?? "no group"],
      ["crash-loop", "sensord: load_plugin < main", null],
    ]);
    expect((await deviceDetail(store, "field-unit-9"))?.rollbacks.map((x) => x.id)).toEqual([bootloader, panicked]);
  });

  test("/versions: rollbacks away from each firmware version (count, devices) beside its crash-free boots", async () => {
    const all = (await pageOfVersions(store)).items;
    const at = (fw: string) => all.find((v) => v.firmware === fw);
    expect(at("2.5.0 (20261120)")).toMatchObject({ rollbacks: 2, rollbackDevices: 2, boots: 0, crashFreeBootsPercent: null });
    expect(at("unknown")).toMatchObject({ rollbacks: 1, rollbackDevices: 1 });
    // the version rolled back to: its boot (the kernel panic: 0 % crash-free), no rollback away from it
    expect(at("2.4.1 (20261101)")).toMatchObject({ rollbacks: 0, rollbackDevices: 0, boots: 1, crashFreeBootsPercent: 0 });
  });

  test("/api/rollbacks lists them newest first, by device or by the firmware rolled back from", async () => {
    expect((await pageOfRollbacks(store)).items.map((r) => r.id)).toEqual([bootloader, looped, panicked]);
    expect((await pageOfRollbacks(store, { firmware: "2.5.0 (20261120)" })).items.map((r) => r.id)).toEqual([looped, panicked]);
    expect((await pageOfRollbacks(store, { device: "field-unit-9" }, { offset: 1, limit: 1 })).items.map((r) => r.id)).toEqual([panicked]);
    expect(await pageOfRollbacks(store, { device: "field-unit-9" }, { offset: 0, limit: 1 })).toMatchObject({ more: true });
  });
});

describe("device fields: newest wins", () => {
  interface DeviceRow {
    firmware: string;
    hardware: string | null;
    kernel: string | null;
    arch: string | null;
    crashkeep_version: string | null;
    first_seen: string;
    last_seen: string;
  }
  const row = async (id: string): Promise<DeviceRow | undefined> =>
    ((await store.sql`SELECT firmware, hardware, kernel, arch, crashkeep_version, first_seen, last_seen FROM devices WHERE id = ${id}`) as DeviceRow[])[0];

  /** The clean boot fixture as device ID at TIME with firmware FW (and the rest of the device fields following it). */
  function bootAt(id: string, time: string, fw: string): Json {
    const b = fixture("boot-clean.json");
    return {
      ...b,
      id: `${id}/boot/${time}-clean`,
      time,
      device: { ...b.device, id, firmware: fw, hardware: `board ${fw}`, kernel: `kernel ${fw}`, arch: fw === "old" ? "armv7l" : "aarch64", crashkeepVersion: `ck ${fw}` },
    };
  }

  test("an older message received after a newer one changes no device field; first_seen still moves back", async () => {
    const newer = bootAt("ooo-1", "2026-11-05T10:00:00.000Z", "new");
    const older = bootAt("ooo-1", "2026-11-01T10:00:00.000Z", "old");
    for (const m of [newer, older]) expect(validate(m)).toBe(true);
    expect(await send(newer)).toMatchObject({ status: "stored" });
    expect(await send(older)).toMatchObject({ status: "stored" });
    expect(await row("ooo-1")).toEqual({
      firmware: "new",
      hardware: "board new",
      kernel: "kernel new",
      arch: "aarch64",
      crashkeep_version: "ck new",
      first_seen: "2026-11-01T10:00:00.000Z",
      last_seen: "2026-11-05T10:00:00.000Z",
    });
  });

  test("in order, each newer message takes over every field", async () => {
    await send(bootAt("ooo-2", "2026-11-01T10:00:00.000Z", "old"));
    await send(bootAt("ooo-2", "2026-11-05T10:00:00.000Z", "new"));
    expect(await row("ooo-2")).toEqual({
      firmware: "new",
      hardware: "board new",
      kernel: "kernel new",
      arch: "aarch64",
      crashkeep_version: "ck new",
      first_seen: "2026-11-01T10:00:00.000Z",
      last_seen: "2026-11-05T10:00:00.000Z",
    });
  });
});

describe("--resymbolize", () => {
  test("a group left without crashes is deleted; no crash is left pointing at a missing group", async () => {
    const out = await ingest(store, ...(() => {
      const m = crashMessage(device("orphan-1", "1.0.0"), strippedReport(), { time: daysAgo(0, 2) });
      return [m.topic, m.bytes] as const;
    })(), options);
    if (out.status !== "stored" || out.group === undefined) throw new Error(JSON.stringify(out));
    const groups = async () => ((await store.sql`SELECT id FROM crash_groups`) as Array<{ id: string }>).map((g) => g.id);
    expect(await groups()).toContain(out.group);
    const r = await resymbolize(store, { debugDirs: [strippedDebugDir()], debuginfod: undefined });
    expect(r.moved).toBe(1);
    // the module+offset group had only that crash: gone from the table itself, not only from the listing
    expect(await groups()).not.toContain(out.group);
    const orphans: unknown[] = await store.sql`SELECT id FROM crash_groups g WHERE NOT EXISTS (SELECT 1 FROM crashes c WHERE c.group_id = g.id)`;
    expect(orphans).toEqual([]);
    const dangling: unknown[] = await store.sql`SELECT message_id FROM crashes c WHERE NOT EXISTS (SELECT 1 FROM crash_groups g WHERE g.id = c.group_id)`;
    expect(dangling).toEqual([]);
    // the groups of the hand-written crashes (no debug files for them) are kept
    expect((await groups()).length).toBe(3);
  });
});

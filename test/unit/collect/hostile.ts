// Test helper: what a hostile or broken device sends (issue 22), built from
// the device's own payload builders (fleet.ts) and then bent: a NUL in a
// string, an id naming another device, times in the year 9999, one-token
// frames by the ten thousand, an unknown key nested 39 999 levels deep.
// Shared by the unit tests (SQLite, in process) and the hostile-device
// integration test (the compiled collector, mosquitto, PostgreSQL).
import { encodePayload, payloadTopic, type DeviceInfo, type UploadPayload } from "../../../src/upload/payload.ts";
import { bootMessage, crashMessage, daysAgo, fixtureReport, noteMessage, PREFIX, rollbackMessage, type Message } from "./fleet.ts";

/** A payload as it is sent on its device's topic. */
export function rewrap(payload: UploadPayload, topic = payloadTopic(PREFIX, payload)): Message {
  return { topic, payload, bytes: new TextEncoder().encode(encodePayload(payload)) };
}

/** A message of each kind, each with a NUL in one of its strings (boot detail, the report's cmdline, note text, a bad boot's detail). */
export function nulMessages(dev: DeviceInfo): Record<UploadPayload["kind"], Message> {
  const report = fixtureReport("nested");
  report.cmdline = "nested\u0000--evil";
  return {
    boot: bootMessage(dev, { reason: "kernel-panic", bootId: "nul-boot", time: daysAgo(0, 50), detail: "before\u0000after" }),
    crash: crashMessage(dev, report, { time: daysAgo(0, 49) }),
    note: noteMessage(dev, { text: "note\u0000with a NUL", time: daysAgo(0, 48) }),
    rollback: rollbackMessage(dev, {
      time: daysAgo(0, 47),
      from: "9.0",
      badBoots: [{ slot: "B", bootId: "nul", reason: "kernel-panic", detail: "Kernel panic\u0000hidden", executable: null, signature: null, endedAt: daysAgo(0, 48) }],
    }),
  };
}

/** ATTACKER's boot, published on its own topic, with an id that names VICTIM's kernel-panic boot. */
export function spoofedBoot(attacker: DeviceInfo, victimBoot: Message): Message {
  const m = bootMessage(attacker, { reason: "clean", bootId: "spoof", time: daysAgo(0, 30) });
  return rewrap({ ...m.payload, id: victimBoot.payload.id });
}

/** The same id as M with other content (a different detail). */
export function conflicting(m: Message): Message {
  if (m.payload.kind !== "boot") throw new Error("a boot message expected");
  return rewrap({ ...m.payload, boot: { ...m.payload.boot, detail: "rewritten by someone" } });
}

/** A crash of a program named EXE, dated TIME (an ISO 8601 text, any offset). */
export function datedCrash(dev: DeviceInfo, exe: string, time: string): Message {
  const report = fixtureReport("nested");
  report.exe = `/usr/bin/${exe}`;
  report.comm = exe.slice(0, 15);
  const m = crashMessage(dev, report, { time: daysAgo(0, 1) });
  return rewrap({ ...m.payload, time } as UploadPayload);
}

/** Frames of the amplifying compact crash: 41 000 one-token frames ("0x1") make a 246 KB message. */
export const AMPLIFY_FRAMES = 41_000;

/** A compact crash whose one thread holds AMPLIFY_FRAMES one-token frames (each expands to a ~240-byte frame object). */
export function amplifyingCrash(dev: DeviceInfo): Message {
  const m = crashMessage(dev, fixtureReport("nested"), { time: daysAgo(0, 20), compact: true });
  if (m.payload.kind !== "crash") throw new Error("a crash message expected");
  const body = { v: 2, arch: "x86_64", pid: 1, tid: 1, comm: "amp", exe: "/usr/bin/amp", signal: "SIGSEGV SEGV_MAPERR at 0x10", cause: "null pointer dereference", incomplete: false, modules: [], threads: [{ tid: 1, frames: Array.from({ length: AMPLIFY_FRAMES }, () => "0x1") }] };
  return rewrap({ ...m.payload, crash: { ...m.payload.crash, form: "compact", report: body } });
}

/** Levels of the unknown key in deepCrash. */
export const DEEP_LEVELS = 39_999;

/** A full-form crash whose report carries an unknown key nested LEVELS levels deep (built as text: no recursion here). */
export function deepCrash(dev: DeviceInfo, levels = DEEP_LEVELS): Message {
  const m = crashMessage(dev, fixtureReport("fpe"), { time: daysAgo(0, 10) });
  const deep = `${'{"d":'.repeat(levels)}1${"}".repeat(levels)}`;
  const text = encodePayload(m.payload).replace('"report":{', `"report":{"deepUnknown":${deep},`);
  if (!text.includes("deepUnknown")) throw new Error("no report object to put the key into");
  return { topic: m.topic, payload: m.payload, bytes: new TextEncoder().encode(text) };
}

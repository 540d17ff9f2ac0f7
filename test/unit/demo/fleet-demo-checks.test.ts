// make fleet-demo's account of the QEMU guest and of its groups
// (build/fleet-demo-checks.ts): "uploaded" only when the collector shows the
// kernel-panic boot with its message and the crash; otherwise each missing
// piece is named with the console log's path (issue 19: the demo said
// "uploaded" when its wait ran out with the device unknown to the collector).
import { describe, expect, test } from "bun:test";
import { guestLine, missingFromGuest, unsymbolized, waitForGuest, type GuestView } from "../../../build/fleet-demo-checks.ts";

const EXPECTED = { deviceId: "qemu-guest", exe: "crasher", panicMessage: "sysrq triggered crash" };
const CRASH = { exe: "/usr/bin/crasher" };
const PANIC_BOOT = { reason: "kernel-panic", panicMessage: "sysrq triggered crash", crashes: [CRASH] };
const LINE = { deviceId: "qemu-guest", page: "http://127.0.0.1:8080/devices/qemu-guest", waitedSeconds: 180, consoleLog: "/x/out/qemu-logs/fleet-demo/console.log" };

describe("missingFromGuest", () => {
  test.each<[string, GuestView | undefined, string[]]>([
    ["everything: the panic boot holds the crash", { boots: [PANIC_BOOT] }, []],
    ["the crash came after the newest boot received", { boots: [{ ...PANIC_BOOT, crashes: [] }], otherCrashes: [CRASH] }, []],
    ["the exe as a bare name", { boots: [{ ...PANIC_BOOT, crashes: [{ exe: "crasher" }] }] }, []],
    ["unknown device (404)", undefined, ['any message from qemu-guest (the collector answers "no such device")']],
    ["a clean boot and no crash", { boots: [{ reason: "clean", panicMessage: null, crashes: [] }] }, ["its kernel-panic boot (boots received: clean)", "its crash of crasher"]],
    ["no boot, the crash only", { boots: [], otherCrashes: [CRASH] }, ["its kernel-panic boot (boots received: none)"]],
    ["another panic message", { boots: [{ ...PANIC_BOOT, panicMessage: "Oops" }] }, ['the panic message "sysrq triggered crash" (received: "Oops")']],
    ["a panic without a message", { boots: [{ ...PANIC_BOOT, panicMessage: null }] }, ['the panic message "sysrq triggered crash" (received: none)']],
    ["another program's crash (a name that only ends the same)", { boots: [{ ...PANIC_BOOT, crashes: [{ exe: "/usr/bin/notcrasher" }, { exe: null }] }] }, ["its crash of crasher"]],
  ])("%s", (_, view, missing) => {
    expect(missingFromGuest(view, EXPECTED)).toEqual(missing);
  });
});

describe("waitForGuest", () => {
  test("asks again until everything arrived", async () => {
    const views: Array<GuestView | undefined> = [undefined, { boots: [{ ...PANIC_BOOT, crashes: [] }] }, { boots: [PANIC_BOOT] }];
    let asked = 0;
    const missing = await waitForGuest(async () => views[asked++], EXPECTED, { timeoutMs: 5_000, pollMs: 1 });
    expect(missing).toEqual([]);
    expect(asked).toBe(3);
  });

  test("when the time is up: what is still missing, never an empty list", async () => {
    let asked = 0;
    const started = Date.now();
    const missing = await waitForGuest(async () => {
      asked++;
      return undefined;
    }, EXPECTED, { timeoutMs: 60, pollMs: 10 });
    expect(missing).toEqual(['any message from qemu-guest (the collector answers "no such device")']);
    expect(Date.now() - started).toBeGreaterThanOrEqual(60);
    expect(asked).toBeGreaterThan(1);
  });

  test("a collector that fails to answer is an error, not a missing device", async () => {
    await expect(waitForGuest(() => Promise.reject(new Error("HTTP 500")), EXPECTED, { timeoutMs: 10 })).rejects.toThrow("HTTP 500");
  });
});

describe("guestLine", () => {
  test("uploaded, with the page, when nothing is missing", () => {
    expect(guestLine([], LINE)).toBe("qemu-guest: uploaded, its kernel-panic boot and its crash are in the collector: http://127.0.0.1:8080/devices/qemu-guest");
  });

  test("not uploaded: what is missing and where the console log is", () => {
    const line = guestLine(["its kernel-panic boot (boots received: none)", "its crash of crasher"], LINE);
    expect(line).toBe(
      "qemu-guest: not uploaded after 180 s; the collector lacks its kernel-panic boot (boots received: none); its crash of crasher. The guest's console log: /x/out/qemu-logs/fleet-demo/console.log",
    );
    expect(line).not.toContain("uploaded,");
  });
});

describe("unsymbolized", () => {
  test("names the groups that still hold module + offset frames", () => {
    expect(
      unsymbolized([
        { signature: "fpe: fpe+0x1147 < fpe+0x1169 < fpe+0x1195 < fpe+0x1071" },
        { signature: "abort: check < process < main < _start" },
        { signature: "threads: worker < start_thread < libc.so.6+0x1269c0" },
      ]),
    ).toEqual(["fpe: fpe+0x1147 < fpe+0x1169 < fpe+0x1195 < fpe+0x1071", "threads: worker < start_thread < libc.so.6+0x1269c0"]);
  });
});

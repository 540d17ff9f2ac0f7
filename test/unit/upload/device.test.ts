// The device id a device derives from its machine-id or hostname: one MQTT
// topic level, unambiguous (issue 22: "a/b", "a+b", "a#b", "a\0b" and "a_b"
// were five devices behind one topic).
import { expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DEVICE_ID } from "../../../src/collect/ingest.ts";
import { readDeviceInfo, topicSafeId } from "../../../src/upload/device.ts";
import { makePaths } from "../../../src/system/paths.ts";

test("hostnames that are not one topic level are percent-encoded, each to its own id", () => {
  const names = ["a/b", "a+b", "a#b", "a\u0001b", "a_b", "a%2Fb", "a\u007fb"];
  const ids = names.map(topicSafeId);
  expect(ids).toEqual(["a%2Fb", "a%2Bb", "a%23b", "a%01b", "a_b", "a%252Fb", "a%7Fb"]);
  expect(new Set(ids).size).toBe(names.length);
  for (const id of ids) expect(DEVICE_ID.test(id)).toBe(true);
});

test("readDeviceInfo encodes a hostname with a slash; a configured id is taken as it is (the config schema allows only safe characters)", () => {
  const root = mkdtempSync(join(tmpdir(), "ck-device-id-"));
  try {
    mkdirSync(join(root, "proc/sys/kernel"), { recursive: true });
    writeFileSync(join(root, "proc/sys/kernel/hostname"), "rack/7+unit#2\n");
    expect(readDeviceInfo(makePaths(root)).id).toBe("rack%2F7%2Bunit%232");
    expect(readDeviceInfo(makePaths(root), { deviceId: "cfg-1" }).id).toBe("cfg-1");
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

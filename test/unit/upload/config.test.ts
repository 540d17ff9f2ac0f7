// The upload section of the config: every bad value is one line with its key path.
import { describe, expect, test } from "bun:test";
import { ConfigError, parseConfig } from "../../../src/config/load.ts";
import { backoffMs, delayMs } from "../../../src/upload/backoff.ts";

function problems(upload: unknown): string[] {
  try {
    parseConfig({ upload });
    return [];
  } catch (err) {
    if (err instanceof ConfigError) return [...err.problems];
    throw err;
  }
}

describe("upload config", () => {
  test("no broker: upload off, every default in place", () => {
    const c = parseConfig({});
    expect(c.upload.broker).toBeUndefined();
    expect(c.upload).toMatchObject({ topicPrefix: "crashkeep/v1", maxMessageBytes: 102400, delaySeconds: 10, minBackoffSeconds: 60, maxBackoffSeconds: 3600, inFlight: 8, outbox: { maxEntries: 1000, maxBytes: 16 * 1024 * 1024, maxAgeDays: 7 } });
  });

  test("one broker or a list, kept in order", () => {
    expect(parseConfig({ upload: { broker: "mqtts://a.example:8883" } }).upload.broker).toEqual(["mqtts://a.example:8883"]);
    expect(parseConfig({ upload: { broker: ["mqtt://n1:1883", "mqtt://n2"] } }).upload.broker).toEqual(["mqtt://n1:1883", "mqtt://n2"]);
  });

  test.each([
    [{ broker: "http://x" }, 'upload.broker: must be "mqtt://host[:port]" or "mqtts://host[:port]", got "http://x"'],
    [{ broker: "mqtt://user:pw@x" }, 'upload.broker: must be "mqtt://host[:port]" or "mqtts://host[:port]", got "mqtt://user:pw@x"'],
    [{ broker: ["mqtt://ok", "mqtt://"] }, 'upload.broker.1: must be "mqtt://host[:port]" or "mqtts://host[:port]", got "mqtt://"'],
    [{ topicPrefix: "a/b/c/d/e/f/g" }, 'upload.topicPrefix: must have at most 5 slashes (AWS IoT: 7 in the whole topic), got "a/b/c/d/e/f/g"'],
    [{ topicPrefix: "fleet/+/x" }, 'upload.topicPrefix: must be topic levels without +, # or empty levels, got "fleet/+/x"'],
    [{ certFile: "/etc/c.pem" }, "upload.keyFile: mutual TLS needs both upload.certFile and upload.keyFile"],
    [{ caFile: "ca.pem" }, 'upload.caFile: must be an absolute path, got "ca.pem"'],
    [{ maxMessageBytes: "200ki" }, "upload.maxMessageBytes: must be at most 128000 (AWS IoT Core's limit), got \"200ki\""],
    [{ maxMessageBytes: 1000 }, "upload.maxMessageBytes: must be at least 8ki, got 1000"],
    [{ minBackoffSeconds: 100, maxBackoffSeconds: 50 }, "upload.minBackoffSeconds: must not exceed upload.maxBackoffSeconds (50), got 100"],
    [{ deviceId: "a/b" }, 'upload.deviceId: must be 1-128 characters of A-Z a-z 0-9 _ . : -, got "a/b"'],
    [{ inFlight: 0 }, "upload.inFlight: must be at least 1, got 0"],
  ])("%j → %s", (upload, line) => {
    expect(problems(upload).map((p) => p.replace(/^Cannot load config "\(inline\)": /, ""))).toContain(line);
  });
});

describe("backoff", () => {
  const config = parseConfig({ upload: { minBackoffSeconds: 60, maxBackoffSeconds: 3600, delaySeconds: 10 } });
  test.each([
    [1, 0, 60_000], [1, 1, 90_000], [2, 0, 120_000], [6, 0, 1_920_000], [7, 0, 3_600_000], [7, 1, 3_600_000], [40, 0.5, 3_600_000],
  ])("failure %i, random %d → %i ms", (failures, r, ms) => {
    expect(backoffMs(failures, config, () => r)).toBe(ms);
  });
  test("delay: delaySeconds plus up to 50 %", () => {
    expect(delayMs(config, () => 0)).toBe(10_000);
    expect(delayMs(config, () => 1)).toBe(15_000);
  });
});

// The collector config's limits on what devices may do (issue 22): defaults,
// and a bad value named with its key path.
import { expect, test } from "bun:test";
import { DEFAULT_MAX_CLOCK_SKEW_SECONDS, DEFAULT_MAX_NEW_GROUPS_PER_DEVICE_HOUR, parseCollectConfig } from "../../../src/config/collect.ts";

test("maxClockSkewSeconds and maxNewGroupsPerDeviceHour have their defaults, and take a value", () => {
  const d = parseCollectConfig({});
  expect([d.maxClockSkewSeconds, d.maxNewGroupsPerDeviceHour]).toEqual([DEFAULT_MAX_CLOCK_SKEW_SECONDS, DEFAULT_MAX_NEW_GROUPS_PER_DEVICE_HOUR]);
  const c = parseCollectConfig({ collect: { maxClockSkewSeconds: 0, maxNewGroupsPerDeviceHour: 5 } });
  expect([c.maxClockSkewSeconds, c.maxNewGroupsPerDeviceHour]).toEqual([0, 5]);
});

test.each([
  [{ maxClockSkewSeconds: -1 }, "collect.maxClockSkewSeconds"],
  [{ maxClockSkewSeconds: "600" }, "collect.maxClockSkewSeconds"],
  [{ maxNewGroupsPerDeviceHour: 0 }, "collect.maxNewGroupsPerDeviceHour"],
])("%j is refused, named by its key", (collect, key) => {
  expect(() => parseCollectConfig({ collect }, "c.json")).toThrow(key);
});

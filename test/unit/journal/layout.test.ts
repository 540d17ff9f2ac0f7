import { describe, expect, test } from "bun:test";
import { computeLayout, sameLayout, validateLayout } from "../../../src/journal/layout.ts";

const KiB = 1024;
const MiB = 1024 * KiB;

describe("computeLayout", () => {
  test.each([
    // device, erase, options, ringOffset, slotCount, log areas
    [1 * MiB, 4096, {}, 73728, 59, [{ offset: 8192, bytes: 65536 }]],
    [8 * MiB, 4096, {}, 73728, 507, [{ offset: 8192, bytes: 65536 }]],
    [8 * MiB, 65536, {}, 196608, 500, [{ offset: 131072, bytes: 65536 }]],
    [2 * MiB, 4096, { slotBytes: 64 * KiB, logs: [{ path: "/a", bytes: 64 * KiB }, { path: "/b", bytes: 1 * MiB }] }, 1122304, 14,
      [{ offset: 8192, bytes: 65536 }, { offset: 73728, bytes: 1048576 }]],
    [64 * KiB, 4096, { slotBytes: 1024, logs: [] }, 8192, 56, []],
    [1 * MiB, 512, { logs: [{ path: "/a", bytes: 5200 }] }, 7168, 63, [{ offset: 1024, bytes: 6144 }]],
  ])("%i bytes, erase %i, %o", (size, erase, options, ringOffset, slotCount, logs) => {
    const layout = computeLayout(size, erase, options);
    expect(layout.ringOffset).toBe(ringOffset);
    expect(layout.slotCount).toBe(slotCount);
    expect(layout.logs).toEqual(logs);
    expect(layout.ringOffset + layout.slotCount * layout.slotBytes).toBeLessThanOrEqual(size);
    expect(() => validateLayout(layout, size)).not.toThrow();
    expect(sameLayout(layout, computeLayout(size, erase, options))).toBe(true);
  });

  test.each([
    ["a device too small for two slots", 64 * KiB, 4096, {}, /room for 0 slots/],
    ["an erase size that is not a power of two", 1 * MiB, 3000, {}, /erase size 3000/],
    ["an unaligned slot size", 1 * MiB, 4096, { slotBytes: 1000 }, /slot size 1000/],
    ["too many logs", 8 * MiB, 4096, { logs: Array.from({ length: 9 }, () => ({ path: "/x", bytes: 8192 })) }, /9 logs, at most 8/],
    ["a tiny log area", 1 * MiB, 4096, { logs: [{ path: "/x", bytes: 1024 }] }, /log area for "\/x" is 1024 bytes/],
    ["a device past 4 GiB", 2 ** 33, 4096, {}, /device size/],
  ])("refuses %s", (_name, size, erase, options, message) => {
    expect(() => computeLayout(size, erase, options)).toThrow(message);
  });

  test("validateLayout refuses a layout moved by a bit flip or made for another size", () => {
    const layout = computeLayout(1 * MiB, 4096);
    expect(() => validateLayout({ ...layout, slotCount: layout.slotCount + 1 }, 1 * MiB)).toThrow(SyntaxError);
    expect(() => validateLayout({ ...layout, ringOffset: layout.ringOffset + 4096 }, 1 * MiB)).toThrow(SyntaxError);
    expect(() => validateLayout(layout, 2 * MiB)).toThrow(SyntaxError);
  });
});

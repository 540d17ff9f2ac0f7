// Shared set-up for the journal property tests: a small formatted journal on
// an in-memory device (small slots and areas keep the per-byte loops fast).
import { fakeDevice, type FakeDevice } from "./fake-device.ts";
import { formatJournal, openJournal, parseJournal, type Journal, type JournalView } from "../../../src/journal/journal.ts";
import type { LayoutOptions } from "../../../src/journal/layout.ts";

export const BOOT_A = "aaaaaaaa-0000-4000-8000-000000000001";
export const BOOT_B = "bbbbbbbb-0000-4000-8000-000000000002";

export interface Fixture {
  dev: FakeDevice;
  journal: Journal;
}

/** 64 KiB device, 4 KiB erase blocks, 1 KiB slots, one 8 KiB log area (6 data blocks). */
export function smallJournal(options: LayoutOptions & { deviceBytes?: number } = {}): Fixture {
  const dev = fakeDevice(new Uint8Array(options.deviceBytes ?? 64 * 1024));
  formatJournal(dev, {
    locking: false,
    bootId: BOOT_A,
    timeMs: 1_000,
    slotBytes: options.slotBytes ?? 1024,
    logs: options.logs ?? [{ path: "/var/log/messages", bytes: 8 * 1024 }],
  });
  return { dev, journal: openJournal(dev, { locking: false }) };
}

export const text = (s: string) => new TextEncoder().encode(s);
export const untext = (b: Uint8Array) => new TextDecoder().decode(b);

/** seq → payload text of the valid records. */
export function recordMap(view: JournalView): Map<number, string> {
  return new Map(view.records.map((r) => [r.seq, untext(r.payload)]));
}

/** Every (write index, torn byte count) of the recorded writes: each prefix of each write, plus all writes done. */
export function* tornPoints(dev: FakeDevice): Generator<[number, number]> {
  for (let i = 0; i < dev.writes.length; i++) {
    const length = (dev.writes[i] as { bytes: Uint8Array }).bytes.length;
    for (let b = 0; b < length; b++) yield [i, b];
  }
  yield [dev.writes.length, 0];
}

export function viewAt(dev: FakeDevice, count: number, torn: number): JournalView {
  return parseJournal(dev.replay(count, torn));
}

// An archived boot's rollback facts (from its journal events and reboot
// reason), the archive read back into the policy's inputs, and the
// once-per-install rule of a bootloader fallback.
import { afterAll, describe, expect, test } from "bun:test";
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { bootFacts, type BootRollbackFacts } from "../../../src/rollback/facts.ts";
import { fallbackReported, policyInputs, readHistory, type HistoryItem } from "../../../src/rollback/history.ts";
import type { RollbackEvent } from "../../../src/rollback/events.ts";
import { parseConfig } from "../../../src/config/load.ts";

const boot = (onProbation: boolean, slot = "B", install = "2.0"): RollbackEvent => ({ v: 1, event: "boot", slot, install, firmware: install, onProbation, fellBackFrom: null });
const loop: RollbackEvent = { v: 1, event: "crash-loop", executable: "myappd", crashes: 6, windowStart: "2026-12-08T00:00:00.000Z" };
const good: RollbackEvent = { v: 1, event: "good" };
const panic = { reason: "kernel-panic", noted: false, detail: "Kernel panic - not syncing: sysrq triggered crash" };

describe("bootFacts", () => {
  test.each([
    ["a panic on probation: bad, with the panic line", [boot(true)], panic, "kernel-panic", "bad"],
    ["a panic not on probation: counted nowhere", [boot(false)], panic, "kernel-panic", "none"],
    ["a crash loop, then a clean reboot with its noted reason: bad as a crash loop", [boot(true), loop], { reason: "crash-loop-of-myappd", noted: true, detail: "crash loop" }, "crash-loop", "bad"],
    ["passed probation, then a panic: good (probation passed first)", [boot(true), good, loop], panic, "probation-passed", "good"],
    ["a noted reason on probation: not counted", [boot(true)], { reason: "firmware-update", noted: true, detail: "firmware update" }, "noted", "none"],
    ["a reset without a marker on probation: bad", [boot(true)], { reason: "unexpected-reset", noted: false, detail: undefined }, "unexpected-reset", "bad"],
  ] as const)("%s", (_what, events, archived, reason, verdict) => {
    expect(bootFacts(events, archived)).toMatchObject({ reason, verdict });
  });

  test("no boot event (the updater never answered, or the journal was lost): no facts, never counted", () => {
    expect(bootFacts([loop], panic)).toBeUndefined();
  });

  test("a crash loop's detail and executable", () => {
    expect(bootFacts([boot(true), loop], panic)).toMatchObject({ executable: "myappd", detail: "myappd crashed more than 5 times in the minute from 2026-12-08T00:00:00.000Z" });
  });
});

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function archive(entries: Array<{ id: string; reason: string; rollback: Partial<BootRollbackFacts> | Record<string, unknown> }>): string {
  const dir = mkdtempSync(join(tmpdir(), "crashkeep-rb-archive-"));
  dirs.push(dir);
  for (const e of entries) {
    mkdirSync(join(dir, e.id));
    writeFileSync(join(dir, e.id, "entry.json"), JSON.stringify({ version: 1, id: e.id, reason: e.reason, previousBootId: `boot-${e.id}`, files: [], facts: { rollback: e.rollback } }));
  }
  return dir;
}

const fact = (slot: string, install: string, onProbation: boolean, reason: string, verdict: string) => ({ slot, install, firmware: install, onProbation, reason, verdict, detail: null, executable: null, fellBackFrom: null });

describe("the archive as the policy's inputs", () => {
  const config = parseConfig({ rollback: { enabled: true, maxBadBoots: 2 } });

  test("bad boots of the booted install only, oldest first; the factory install good", () => {
    const dir = archive([
      { id: "20261208T000001Z-clean", reason: "clean", rollback: fact("A", "1.0", false, "clean", "none") },
      { id: "20261208T000002Z-kernel-panic", reason: "kernel-panic", rollback: fact("B", "2.0", true, "kernel-panic", "bad") },
      { id: "20261208T000003Z-power-loss", reason: "power-loss", rollback: fact("B", "1.9", true, "kernel-oops", "bad") },
      { id: "20261208T000004Z-unexpected-reset", reason: "unexpected-reset", rollback: fact("B", "2.0", true, "unexpected-reset", "bad") },
    ]);
    const history = readHistory(dir);
    expect(history.map((h) => h.id)).toEqual(["20261208T000004Z-unexpected-reset", "20261208T000003Z-power-loss", "20261208T000002Z-kernel-panic", "20261208T000001Z-clean"]);
    const state = { booted: "B", install: "2.0", firmware: "2.0", other: null, fellBackFrom: null };
    expect(policyInputs(history, state, config)).toEqual({ endings: ["kernel-panic", "unexpected-reset"], knownGood: false, rollbackDecided: false, maxBadBoots: 2, fallback: "none", factory: false });
    expect(policyInputs(history, { ...state, booted: "A", install: "1.0" }, config)).toMatchObject({ endings: [], knownGood: true });
    expect(policyInputs([], state, config)).toMatchObject({ knownGood: true, factory: true });
    // No history yet, but the updater installed the booted slot: an update, on probation, never the factory install.
    expect(policyInputs([], { ...state, installedByUpdater: true }, config)).toMatchObject({ endings: [], knownGood: false, factory: false });
  });

  test("an unreadable archive is an error, never fewer bad boots", () => {
    if (process.getuid?.() === 0) return; // root reads a mode-000 file: nothing to prove here
    const dir = archive([{ id: "20261208T000002Z-kernel-panic", reason: "kernel-panic", rollback: fact("B", "2.0", true, "kernel-panic", "bad") }]);
    chmodSync(join(dir, "20261208T000002Z-kernel-panic", "entry.json"), 0);
    expect(() => readHistory(dir)).toThrow(/^Cannot read the archive entry /);
  });

  test("a directory in place of entry.json's file (EISDIR) is an error too", () => {
    const dir = archive([]);
    mkdirSync(join(dir, "20261208T000002Z-kernel-panic", "entry.json"), { recursive: true });
    expect(() => readHistory(dir)).toThrow(/^Cannot read the archive entry .*EISDIR/);
  });
});

describe("a bootloader fallback is reported once", () => {
  const bootItem = (id: string, fell: { slot: string; install: string | null } | null): HistoryItem => ({ kind: "boot", id, bootId: id, endedAt: null, facts: { ...fact("A", "1.0", false, "clean", "none"), fellBackFrom: fell } as BootRollbackFacts });
  const rollback = (id: string, slot: string, install: string | null): HistoryItem => ({ kind: "rollback", id, facts: { archiveId: id, trigger: "bootloader", fromSlot: slot, fromFirmware: null, toSlot: "A", toFirmware: null, badBoots: [], decidedAt: "2026-12-08T00:00:00Z", install, decidedInBoot: null } });

  test("with the install known (rauc): once per install, however old the report", () => {
    expect(fallbackReported([bootItem("3", null), rollback("2", "B", "2.0 installed x")], { slot: "B", install: "2.0 installed x" })).toBe(true);
    expect(fallbackReported([rollback("2", "B", "2.0 installed x")], { slot: "B", install: "2.1 installed y" })).toBe(false);
  });

  test("without (command): reported since the fallback began, i.e. newer than the newest boot that did not see it", () => {
    const fell = { slot: "B", install: null };
    // newest first: this fallback reported two boots ago, boots since saw it too
    expect(fallbackReported([bootItem("5", fell), bootItem("4", fell), rollback("3", "B", null), bootItem("2", null)], fell)).toBe(true);
    // an old report, then a boot that did not see a fallback, then a new fallback
    expect(fallbackReported([bootItem("5", fell), bootItem("4", null), rollback("3", "B", null)], fell)).toBe(false);
  });
});

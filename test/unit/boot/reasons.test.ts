// Reboot reasons end to end on a fake tree with a file-backed phram device:
// init (first boot) → what happened during the boot → a new boot id → init.
import { describe, expect, test } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { runInit } from "../../../src/boot/init.ts";
import { listEntries } from "../../../src/archive/archive.ts";
import { openDevice } from "../../../src/copy/block-device.ts";
import { appendRecord, markCleanShutdown, openJournal, setNotedReason } from "../../../src/journal/journal.ts";
import { makePaths } from "../../../src/system/paths.ts";
import { makeFakeTree, type FakeTree } from "./fake-tree.ts";

let bootN = 1;
function newBootId(tree: FakeTree): string {
  bootN++;
  const id = `${String(bootN).padStart(8, "0")}-2222-4222-8222-222222222222`;
  tree.write("proc/sys/kernel/random/boot_id", `${id}\n`);
  return id;
}

async function boot(tree: FakeTree) {
  const lines: string[] = [];
  const result = await runInit({ configFile: undefined, paths: makePaths(tree.root), report: (l) => lines.push(l) });
  return { result, lines };
}

function withJournal(tree: FakeTree, fn: (j: ReturnType<typeof openJournal>) => void): void {
  const paths = makePaths(tree.root);
  const dev = openDevice(join(tree.root, "dev/mtdchar/crashkeep"), { write: true, paths });
  try {
    fn(openJournal(dev, { paths }));
  } finally {
    dev.close();
  }
}

async function firstBoot(): Promise<{ tree: FakeTree; firstId: string }> {
  const tree = makeFakeTree();
  const firstId = readFileSync(join(tree.root, "proc/sys/kernel/random/boot_id"), "utf8").trim();
  const { result } = await boot(tree);
  expect(result.journal).toMatchObject({ retained: false, action: "formatted" });
  expect(listEntries(join(tree.root, "var/lib/crashkeep"))).toEqual([]);
  return { tree, firstId };
}

describe("reboot reasons from the journal", () => {
  test("no marker: unexpected-reset, keyed by the previous boot id", async () => {
    const { tree, firstId } = await firstBoot();
    newBootId(tree);
    const { result, lines } = await boot(tree);
    expect(result.journal).toMatchObject({ retained: true, action: "new-boot" });
    expect(lines).toContain("crashkeep: previous boot ended in unexpected-reset: no clean-shutdown marker: watchdog, hang or forced reboot; archived 0 pstore record(s) in " + join(tree.root, "var/lib/crashkeep", result.collected?.entry?.id ?? ""));
    expect(result.collected?.entry).toMatchObject({ reason: "unexpected-reset", previousBootId: firstId });
  });

  test("clean-shutdown marker: clean", async () => {
    const { tree } = await firstBoot();
    withJournal(tree, (j) => markCleanShutdown(j));
    newBootId(tree);
    const { result } = await boot(tree);
    expect(result.collected?.reason.reason).toBe("clean");
  });

  test("a noted reason wins over the clean marker, and the note is archived", async () => {
    const { tree } = await firstBoot();
    withJournal(tree, (j) => {
      appendRecord(j, { kind: "note", payload: new TextEncoder().encode("updating to 2.1") });
      setNotedReason(j, "Firmware update");
      markCleanShutdown(j);
    });
    newBootId(tree);
    const { result } = await boot(tree);
    const entry = result.collected?.entry;
    expect(entry).toMatchObject({ reason: "firmware-update", detail: "Firmware update" });
    const note = entry?.files.find((f) => f.kind === "journal-note");
    expect(note).toBeDefined();
    expect(readFileSync(join(tree.root, "var/lib/crashkeep", entry?.id ?? "", note?.name ?? ""), "utf8")).toBe("updating to 2.1");
  });

  test("records are archived once: collected records are not archived again", async () => {
    const { tree } = await firstBoot();
    withJournal(tree, (j) => appendRecord(j, { kind: "note", payload: new TextEncoder().encode("one") }));
    newBootId(tree);
    const second = await boot(tree);
    expect(second.result.collected?.entry?.files.map((f) => f.kind)).toEqual(["journal-note"]);
    newBootId(tree);
    const third = await boot(tree);
    expect(third.result.collected?.entry?.files).toEqual([]);
  });

  test("init run twice in one boot does not archive the boot twice or lose the marker", async () => {
    const { tree } = await firstBoot();
    newBootId(tree);
    await boot(tree);
    withJournal(tree, (j) => markCleanShutdown(j));
    const again = await boot(tree);
    // Same boot id: the journal keeps this boot's record and its marker, and nothing is archived.
    expect(again.result.journal?.action).toBe("new-boot");
    expect(again.lines).toContain("crashkeep: init already ran in this boot; only pstore is collected");
    expect(again.result.collected?.entry).toBeUndefined();
    newBootId(tree);
    const next = await boot(tree);
    expect(next.result.collected?.reason.reason).toBe("clean");
  });

  test("RAM lost (zeroed or random device): power-loss, the journal formatted afresh", async () => {
    const { tree } = await firstBoot();
    newBootId(tree);
    await boot(tree);
    writeFileSync(join(tree.root, "dev/mtd0"), new Uint8Array(8 << 20).map(() => (Math.random() * 256) | 0));
    newBootId(tree);
    const { result } = await boot(tree);
    expect(result.collected?.entry).toMatchObject({ reason: "power-loss" });
    expect(result.journal).toMatchObject({ retained: false, action: "formatted" });
  });

  test("an archive that cannot take the entry leaves the records on the device", async () => {
    const { tree } = await firstBoot();
    withJournal(tree, (j) => appendRecord(j, { kind: "note", payload: new TextEncoder().encode("keep me") }));
    tree.write("etc/crashkeep/config.json", JSON.stringify({ archive: { minFreeBytes: "1000000Gi" } }));
    newBootId(tree);
    const blocked = await boot(tree);
    expect(blocked.result.collected?.error).toMatch(/archive.minFreeBytes keeps/);
    expect(blocked.lines).toContain("crashkeep: 1 journal record(s) kept on the device until the archive can take them");
    tree.write("etc/crashkeep/config.json", "{}");
    newBootId(tree);
    const later = await boot(tree);
    const files = later.result.collected?.entry?.files.map((f) => f.kind);
    expect(files).toEqual(["journal-note"]);
  });
});

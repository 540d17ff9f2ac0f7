// Real concurrent writer processes (records, log mirror, control updates) on
// one file-backed device must not corrupt each other.
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openDevice } from "../../../src/copy/block-device.ts";
import { formatJournal, openJournal, readJournal } from "../../../src/journal/journal.ts";

const dir = mkdtempSync(join(tmpdir(), "crashkeep-conc-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const bun = process.execPath;
const script = join(import.meta.dir, "writer-process.ts");

function payloadFor(writer: string, i: number): string {
  return `writer ${writer} record ${i} `.padEnd(300 + (i % 7) * 40, String.fromCharCode(97 + (i % 26)));
}

describe("concurrent writers", () => {
  test("four record writers, a log mirror and a control updater, all at once", async () => {
    const device = join(dir, "phram.img");
    const runDir = join(dir, "run");
    const log = join(dir, "messages");
    writeFileSync(device, new Uint8Array(1024 * 1024));
    writeFileSync(log, "");
    const dev = openDevice(device, { write: true });
    formatJournal(dev, { runDir, slotBytes: 1024, logs: [{ path: log, bytes: 64 * 1024 }] });
    dev.close();

    const writers = ["w0", "w1", "w2", "w3"];
    const perWriter = 40;
    const procs = [
      ...writers.map((id) => Bun.spawn([bun, script, device, runDir, "records", id, String(perWriter)], { stderr: "pipe" })),
      Bun.spawn([bun, script, device, runDir, "mirror", "m", "60", log], { stderr: "pipe" }),
      Bun.spawn([bun, script, device, runDir, "mirror", "n", "60", log], { stderr: "pipe" }),
      Bun.spawn([bun, script, device, runDir, "control", "c", "40"], { stderr: "pipe" }),
    ];
    const codes = await Promise.all(procs.map((p) => p.exited));
    const errors = await Promise.all(procs.map((p) => new Response(p.stderr).text()));
    expect(errors.join("")).toBe("");
    expect(codes).toEqual(procs.map(() => 0));

    const view = readJournal(openJournal(openDevice(device), { runDir }));
    expect(view.retained).toBe(true);
    expect(view.corruptRecords).toBe(0);
    const total = writers.length * perWriter;
    expect(view.records.map((r) => r.seq)).toEqual(Array.from({ length: total }, (_, i) => i + 1));
    const texts = new Set(view.records.map((r) => new TextDecoder().decode(r.payload)));
    for (const id of writers) for (let i = 0; i < perWriter; i++) expect(texts.has(payloadFor(id, i))).toBe(true);
    expect(view.control?.nextSeq).toBe(total + 1);
    expect(view.control?.notedReason?.text).toBe("reason 39");
    expect(view.control?.cleanShutdownMs).not.toBeNull();
    const tail = view.logs[0]!;
    const source = readFileSync(log, "utf8");
    expect(tail.gaps).toEqual([]);
    expect(tail.header?.sourceOffset).toBe(source.length);
    expect(source.endsWith(new TextDecoder().decode(tail.bytes))).toBe(true);
    expect(tail.bytes.length).toBe(source.length);
    expect(tail.header?.rotations).toBe(0);
  }, 30_000);
});

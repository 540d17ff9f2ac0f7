// A separate journal writer process for the concurrency test (not a test
// file). Usage: bun writer-process.ts DEVICE RUNDIR MODE ID COUNT [LOG]
// MODE: records | mirror | control. CRASHKEEP_TEST_NO_LOCK=1 disables locking.
import { appendFileSync } from "node:fs";
import { openDevice } from "../../../src/copy/block-device.ts";
import { appendRecord, markCleanShutdown, openJournal, setNotedReason } from "../../../src/journal/journal.ts";
import { mirrorLog } from "../../../src/journal/mirror.ts";

const [device, runDir, mode, id, countText, log] = process.argv.slice(2);
if (device === undefined || runDir === undefined || mode === undefined || id === undefined || countText === undefined) {
  throw new Error("usage: writer-process.ts DEVICE RUNDIR MODE ID COUNT [LOG]");
}
const count = Number(countText);
const dev = openDevice(device, { write: true });
const journal = openJournal(dev, { runDir, locking: process.env.CRASHKEEP_TEST_NO_LOCK !== "1", lockTimeoutMs: 30_000 });

/** The payload writer ID puts in its record I: recognisable and a few hundred bytes. */
function payloadFor(writer: string, i: number): string {
  return `writer ${writer} record ${i} `.padEnd(300 + (i % 7) * 40, String.fromCharCode(97 + (i % 26)));
}

for (let i = 0; i < count; i++) {
  if (mode === "records") {
    appendRecord(journal, { kind: "note", payload: new TextEncoder().encode(payloadFor(id, i)) }, { compress: "never" });
  } else if (mode === "mirror") {
    if (log === undefined) throw new Error("mirror needs LOG");
    appendFileSync(log, `mirror line ${i} ${"m".repeat(i % 50)}\n`);
    mirrorLog(journal, { area: 0, path: log });
  } else if (mode === "control") {
    setNotedReason(journal, `reason ${i}`);
    markCleanShutdown(journal);
  }
}
dev.close();

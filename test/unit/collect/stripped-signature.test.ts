// STRIPPED_SIGNATURE (fleet.ts), which the collector tests expect for the
// stripped records report, derived here from gdb instead of from crashkeep:
// test/fixtures/symbolize/x86_64/records.past-main.gdb (past-main.sh: gdb with
// `set backtrace past-main on` on the carried core, and its load map). Each
// records frame's offset is gdb's pc minus the load address of records' first
// mapping (file offset 0), _start's beyond main included.
import { expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { signatureOf } from "../../../src/collect/signature.ts";
import { FIXTURES } from "../debuginfo/symbolize-fixtures.ts";
import { strippedReport, STRIPPED_SIGNATURE } from "./fleet.ts";

const MODULE = "/opt/crashkeep-fixtures/symbolize/records";

function gdbOffsets(): bigint[] {
  const text = readFileSync(join(FIXTURES, "records.past-main.gdb"), "utf8");
  const pcs = [...text.matchAll(/^\$\d+ = (0x[0-9a-f]+)$/gm)].map((m) => BigInt(m[1] as string));
  const maps = [...text.matchAll(/^\s+(0x[0-9a-f]+)\s+(0x[0-9a-f]+)\s+0x[0-9a-f]+\s+(0x[0-9a-f]+) (\S+)$/gm)].map((m) => ({ start: BigInt(m[1] as string), end: BigInt(m[2] as string), offset: BigInt(m[3] as string), file: m[4] }));
  const mine = maps.filter((m) => m.file === MODULE);
  const base = mine.find((m) => m.offset === 0n)?.start;
  if (base === undefined || pcs.length === 0) throw new Error("records.past-main.gdb has no pcs or no mapping of records at offset 0");
  return pcs.filter((pc) => mine.some((m) => pc >= m.start && pc < m.end)).map((pc) => pc - base);
}

test("gdb past main: three frames in records, _start's the last", () => {
  expect(gdbOffsets().map((o) => `0x${o.toString(16)}`)).toEqual(["0x11e0", "0x10b0", "0x10f1"]);
});

test("STRIPPED_SIGNATURE is gdb's records frames, and the signature of the stripped report", () => {
  const fromGdb = `records: ${gdbOffsets().map((o) => `records+0x${o.toString(16)}`).join(" < ")}`;
  expect(STRIPPED_SIGNATURE).toBe(fromGdb);
  expect(signatureOf(strippedReport()).text).toBe(fromGdb);
});

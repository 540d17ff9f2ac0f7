// Accuracy against gdb: every core fixture (made by real crashes, see
// test/fixtures/cores/README.md) is unwound with its sysroot and compared
// with gdb's backtrace of the same core, frame by frame.
import { describe, expect, test } from "bun:test";
import { readCoreFile } from "../../../src/core/source.ts";
import { buildReport } from "../../../src/core/report.ts";
import { MAX_FRAMES } from "../../../src/core/unwind.ts";
import { fixtures } from "./fixtures.ts";
import { readGdbReference } from "./gdb-reference.ts";

const all = fixtures();

describe("unwinding matches gdb", () => {
  test("fixtures exist", () => {
    expect(all.length).toBeGreaterThanOrEqual(10);
  });
  test.each(all.map((f) => [`${f.arch}/${f.name}`, f] as const))("%s", (_name, f) => {
    const report = buildReport(readCoreFile(f.core), { sysroot: f.sysroot });
    const gdb = readGdbReference(f.gdb);
    expect(gdb.length).toBeGreaterThan(0);
    expect(report.threads.length).toBe(gdb.length);
    for (const g of gdb) {
      const ours = report.threads.find((t) => t.tid === g.lwp);
      expect(ours, `thread ${g.lwp}`).toBeDefined();
      if (!ours) continue;
      // gdb stops at main; we go on to _start. The crashing thread must match gdb's frames
      // one by one (up to our frame limit), and so must the other threads.
      const n = Math.min(g.frames.length, MAX_FRAMES);
      const gdbPcs = g.frames.slice(0, n).map((x) => "0x" + x.pc.toString(16).padStart(16, "0"));
      const ourPcs = ours.frames.slice(0, n).map((x) => x.pc);
      expect(ourPcs, `thread ${g.lwp} pcs`).toEqual(gdbPcs);
      const gdbNames = g.frames.slice(0, n).map((x) => x.name);
      const ourNames = ours.frames.slice(0, n).map((x, i) => (gdbNames[i] === null ? null : x.symbol));
      expect(ourNames, `thread ${g.lwp} symbols`).toEqual(gdbNames);
    }
  });
});

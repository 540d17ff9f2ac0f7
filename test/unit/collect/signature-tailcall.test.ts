// Tail-call frames in the collector's signatures (issue 21): they count like
// inlined frames — gdb shows both, both are the program's own code on the way
// to the crash, and both come from the same build's DWARF, so the same crash
// symbolized with the same debug files always gets them. Where the tail calls
// are ambiguous none is added, so no group depends on which path ran.
import { expect, test } from "bun:test";
import { signatureOf } from "../../../src/collect/signature.ts";
import { buildReport } from "../../../src/core/report.ts";
import { readCoreFile } from "../../../src/core/source.ts";
import { symbolizeReport } from "../../../src/debuginfo/symbolize.ts";
import { tailcallFixtures } from "../debuginfo/tailcall-fixtures.ts";

const fx = tailcallFixtures("x86_64");

async function signature(name: string): Promise<string> {
  const device = buildReport(readCoreFile(fx.core(name)), { sysroot: fx.sysroot });
  return signatureOf(await symbolizeReport(device, { sysroot: fx.sysroot, debugDirs: fx.debugDirs })).text;
}

test("a chain of two tail calls: both frames are in the signature", async () => {
  expect(await signature("chain")).toBe("tailcall: crash < chain_second < chain_first < main < _start");
});

test("a tail call into a library: the library is the program's own code, the tail-call frame counts", async () => {
  expect(await signature("library")).toBe("tailcall: lib_fail < to_library < main < _start");
});

test("below glibc's abort: glibc's tail-call frame is runtime and left out like its other frames", async () => {
  expect(await signature("noreturn")).toBe("tailcall: fail < check_invariant < checked < main < _start");
});

test("ambiguous tail calls add nothing: the signature does not depend on the path taken", async () => {
  expect(await signature("ambiguous")).toBe("tailcall: crash < main < _start");
});

// symbolizeReport's promises beyond gdb equality: a report whose build-ids no
// debug source knows keeps its addresses and says why; a version-1 report
// comes back as version 2; nothing is printed (the library API the fleet
// collector uses).
import { describe, expect, spyOn, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { readCoreFile } from "../../../src/core/source.ts";
import { buildReport } from "../../../src/core/report.ts";
import { compactReport } from "../../../src/core/format.ts";
import { parseReports } from "../../../src/debuginfo/report-input.ts";
import { symbolizeReport } from "../../../src/debuginfo/symbolize.ts";
import { debugFixtures } from "./symbolize-fixtures.ts";

const fx = debugFixtures();
const core = fx.cores.find((c) => c.name === "records")!;
const device = buildReport(readCoreFile(core.core), { sysroot: fx.sysroot });
const empty = mkdtempSync(join(tmpdir(), "crashkeep-empty-sysroot-"));

describe("no debug source knows the build-id", () => {
  test("the frames keep their addresses and names; a warning per module says where it looked", async () => {
    const input = parseReports(compactReport(device))[0]!.report;
    const r = await symbolizeReport(input, { sysroot: empty, debugDirs: [join(empty, "nothing")] });
    expect(r.threads[0]!.frames.map((f) => [f.pc, f.moduleOffset, f.symbol, f.file, f.inlined])).toEqual(
      input.threads[0]!.frames.map((f) => [f.pc, f.moduleOffset, f.symbol, null, false]),
    );
    const id = device.modules.find((m) => m.path.endsWith("/records"))!.buildId!;
    const w = r.warnings.find((x) => x.startsWith(`Cannot find debug info for module "/opt/crashkeep-fixtures/symbolize/records" (build-id ${id}): not in `));
    expect(w).toBeDefined();
    expect(w).toContain(join(empty, "nothing", ".build-id", id.slice(0, 2), `${id.slice(2)}.debug`));
    expect(w).toEndWith(", ignoring");
    expect(r.modules.find((m) => m.path.endsWith("/records"))).toMatchObject({ debugFile: null, debugSource: null });
  });
});

describe("library API", () => {
  test("a version-1 report comes back as version 2, nothing printed", async () => {
    const log = spyOn(console, "log");
    const err = spyOn(console, "error");
    const v1 = JSON.parse(JSON.stringify({ ...device, version: 1 }));
    const r = await symbolizeReport(parseReports(JSON.stringify(v1))[0]!.report, { sysroot: fx.sysroot, debugDirs: [fx.debugDir] });
    expect(r.version).toBe(2);
    expect(r.threads[0]!.frames[0]).toMatchObject({ function: "check_invariant", inlined: true, line: 17 });
    expect(log).not.toHaveBeenCalled();
    expect(err).not.toHaveBeenCalled();
    log.mockRestore();
    err.mockRestore();
  });
  test("the input report is not modified", async () => {
    const before = JSON.stringify(device);
    await symbolizeReport(device, { sysroot: fx.sysroot, debugDirs: [fx.debugDir] });
    expect(JSON.stringify(device)).toBe(before);
  });
});

describe("names from DWARF when the symbol table has none", () => {
  test("a debug file without .symtab: the concrete frames are named by their DWARF subprogram", async () => {
    const id = device.modules.find((m) => m.path.endsWith("/records"))!.buildId!;
    const tree = mkdtempSync(join(tmpdir(), "crashkeep-nosymtab-"));
    const dest = join(tree, ".build-id", id.slice(0, 2), `${id.slice(2)}.debug`);
    mkdirSync(dirname(dest), { recursive: true });
    const src = join(fx.debugDir, ".build-id", id.slice(0, 2), `${id.slice(2)}.debug`);
    const r0 = Bun.spawnSync(["objcopy", "--strip-all", "--keep-section=.debug_*", src, dest]);
    expect(r0.exitCode).toBe(0);
    const r = await symbolizeReport(device, { sysroot: fx.sysroot, debugDirs: [tree] });
    const runBatch = r.threads[0]!.frames.find((f) => !f.inlined && f.line === 26);
    expect(runBatch).toMatchObject({ symbol: "run_batch", symbolOffset: null, function: "run_batch" });
    rmSync(tree, { recursive: true, force: true });
  });
});

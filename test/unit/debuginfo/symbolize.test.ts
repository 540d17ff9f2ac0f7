// symbolizeReport's promises beyond gdb equality: a report whose build-ids no
// debug source knows keeps its addresses and says why; a version-1 report
// comes back as version 2; nothing is printed (the library API the fleet
// collector uses).
import { describe, expect, spyOn, test } from "bun:test";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
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
    const w = r.warnings.find((x) => x.startsWith(`no debug info for module "/opt/crashkeep-fixtures/symbolize/records" (build-id ${id}): not in `));
    expect(w).toBeDefined();
    expect(w).toContain(join(empty, "nothing", ".build-id", id.slice(0, 2), `${id.slice(2)}.debug`));
    expect(w).toEndWith("its frames keep their addresses");
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

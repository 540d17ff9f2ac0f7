// symbolizeReport's promises beyond gdb equality: a report whose build-ids no
// debug source knows keeps its addresses and says why; a version-1 report
// comes back as version 2; nothing is printed (the library API the fleet
// collector uses).
import { describe, expect, spyOn, test } from "bun:test";
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { readCoreFile } from "../../../src/core/source.ts";
import { buildReport } from "../../../src/core/report.ts";
import { compactReport } from "../../../src/core/format.ts";
import { parseReports } from "../../../src/debuginfo/report-input.ts";
import { MAX_INLINED_PER_FRAME, symbolizeReport } from "../../../src/debuginfo/symbolize.ts";
import { abbrevs, cstr, elfWith, line5, u32, u64, uleb, unit5 } from "./build-elf.ts";
import { debugFixtures, FIXTURES } from "./symbolize-fixtures.ts";

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

describe("dwz: a debug file whose shared DIEs and strings are in a supplementary file", () => {
  // dwz -m (as Debian's -dbgsym packages are built) at test time on records' debug file
  const id = device.modules.find((m) => m.path.endsWith("/records"))!.buildId!;
  const work = mkdtempSync(join(tmpdir(), "crashkeep-dwz-"));
  const tree = join(work, "tree");
  const dest = join(tree, ".build-id", id.slice(0, 2), `${id.slice(2)}.debug`);
  mkdirSync(dirname(dest), { recursive: true });
  // two copies: dwz moves what they share into the common file
  copyFileSync(join(fx.debugDir, ".build-id", id.slice(0, 2), `${id.slice(2)}.debug`), dest);
  copyFileSync(dest, join(work, "twin.debug"));
  const dwz = Bun.spawnSync(["dwz", "-m", join(work, "common.debug"), "-M", "/usr/lib/debug/.dwz/crashkeep-common.debug", dest, join(work, "twin.debug")]);
  const common = Bun.spawnSync(["eu-readelf", "-n", join(work, "common.debug")]);
  const commonId = /Build ID: ([0-9a-f]+)/.exec(common.stdout.toString())?.[1] ?? "";

  test("dwz made a supplementary file and linked the debug file to it", () => {
    expect(dwz.exitCode).toBe(0);
    expect(commonId).toMatch(/^[0-9a-f]{40}$/);
  });
  test("without the supplementary file: lines, but a warning naming it", async () => {
    const r = await symbolizeReport(device, { sysroot: fx.sysroot, debugDirs: [tree] });
    expect(r.threads[0]!.frames[0]).toMatchObject({ line: 17, inlined: true });
    // the inlined function's name lives in the supplementary file
    expect(r.threads[0]!.frames[0]!.function).toBeNull();
    expect(r.warnings.join("\n")).toContain(`build-id ${commonId}`);
  });
  test("with it in the build-id tree: the same frames as the plain debug file", async () => {
    const sup = join(tree, ".build-id", commonId.slice(0, 2), `${commonId.slice(2)}.debug`);
    mkdirSync(dirname(sup), { recursive: true });
    copyFileSync(join(work, "common.debug"), sup);
    const view = (rep: Awaited<ReturnType<typeof symbolizeReport>>) => rep.threads[0]!.frames.map((f) => [f.function, f.file, f.line, f.inlined]);
    const plain = await symbolizeReport(device, { sysroot: fx.sysroot, debugDirs: [fx.debugDir] });
    const r = await symbolizeReport(device, { sysroot: fx.sysroot, debugDirs: [tree] });
    expect(view(r)).toEqual(view(plain));
    expect(r.warnings.join("\n")).not.toContain("supplementary");
    rmSync(work, { recursive: true, force: true });
  });
});

describe("exact pc after a signal frame (trap: SIGILL at trap_here's first instruction, its handler aborts)", () => {
  // trap.nm: the program's symbol table before it was stripped (nm -n, make.sh), independent of crashkeep
  const nm = new Map(
    readFileSync(join(FIXTURES, "trap.nm"), "utf8")
      .split("\n")
      .map((l) => l.split(" "))
      .filter((w) => w.length === 3)
      .map((w) => [w[2] as string, BigInt("0x" + w[0])]),
  );
  const trap = fx.cores.find((c) => c.name === "trap")!;
  /** DW_AT_comp_dir + DW_AT_name (gdb prints the name alone: "trap.c"). */
  const SRC = "/opt/crashkeep-fixtures/symbolize/src/trap.c";
  const report = buildReport(readCoreFile(trap.core), { sysroot: fx.sysroot });
  const debugDirs = [fx.debugDir, fx.glibcDebugDir];
  const named = (rep: typeof report) => rep.threads[0]!.frames.filter((f) => !f.inlined && f.tailCall !== true).map((f) => [f.moduleOffset, f.function, f.file, f.line]);

  test("the reference: on_ill's return address is trap_here's first byte, the interrupted pc is the same byte", () => {
    const start = nm.get("trap_here")!;
    expect(nm.get("on_ill")! < start).toBe(true);
    const offsets = report.threads[0]!.frames.filter((f) => f.module?.endsWith("/trap")).map((f) => f.moduleOffset);
    // on_ill (a return address: pc - 1 is its call of abort), trap_here (exact), main
    expect(offsets.slice(0, 2)).toEqual(["0x" + start.toString(16), "0x" + start.toString(16)]);
  });

  test("the frame after __restore_rt is looked up at its pc (trap_here), the handler's at pc - 1 (on_ill), as gdb does", async () => {
    const r = await symbolizeReport(report, { sysroot: fx.sysroot, debugDirs });
    const frames = named(r);
    const at = frames.findIndex((f) => f[1] === "__restore_rt");
    expect(at).toBeGreaterThan(0);
    // gdb's bt (trap.gdb): #4 on_ill at trap.c:22, #5 <signal handler called>, #6 trap_here at trap.c:17, #7 main at trap.c:32
    expect(frames[at - 1]!.slice(1)).toEqual(["on_ill", SRC, 22]);
    expect(frames[at + 1]!.slice(1)).toEqual(["trap_here", SRC, 17]);
    expect(frames[at + 2]!.slice(1)).toEqual(["main", SRC, 32]);
    // symbol offsets are the pc's (a return address's lookup is at pc - 1, its offset is not): from trap.nm
    const physical = r.threads[0]!.frames.filter((f) => !f.inlined && f.tailCall !== true);
    const offsetIn = (i: number, name: string) => Number(BigInt(physical[i]!.moduleOffset!) - nm.get(name)!);
    expect(physical[at - 1]).toMatchObject({ symbol: "on_ill", symbolOffset: offsetIn(at - 1, "on_ill") });
    expect(physical[at + 1]).toMatchObject({ symbol: "trap_here", symbolOffset: 0 });
    expect(physical[at + 2]).toMatchObject({ symbol: "main", symbolOffset: offsetIn(at + 2, "main") });
    expect(offsetIn(at - 1, "on_ill")).toBe(12);
  });

  test("the device's libc.so.6 has no symbol table: the trampoline is known from the debug file's, not the report", () => {
    const tramp = report.threads[0]!.frames.find((f) => f.module?.endsWith("/libc.so.6") && f.symbol === null && f.index > 0 && report.threads[0]!.frames[f.index + 1]?.module?.endsWith("/trap"));
    expect(tramp).toBeDefined();
  });

  test("a frame found from a saved context (method context) is looked up at its pc; the same frame as a return address is not", async () => {
    // the trampoline made unknowable (no module): only the frame's method says its pc is exact
    const frames = report.threads[0]!.frames;
    const tramp = frames.findIndex((f, i) => i > 0 && frames[i + 1]?.module?.endsWith("/trap") === true && f.module?.endsWith("/libc.so.6") === true);
    const hide = (method: "context" | "cfi") => ({
      ...report,
      threads: [{ ...report.threads[0]!, frames: frames.map((f, i) => (i === tramp ? { ...f, module: null, moduleOffset: null, buildId: null } : i === tramp + 1 ? { ...f, method } : f)) }],
    });
    const exact = named(await symbolizeReport(hide("context"), { sysroot: fx.sysroot, debugDirs }));
    const returned = named(await symbolizeReport(hide("cfi"), { sysroot: fx.sysroot, debugDirs }));
    expect(exact[tramp + 1]!.slice(1)).toEqual(["trap_here", SRC, 17]);
    expect(returned[tramp + 1]!.slice(1)).toEqual(["on_ill", SRC, 22]);
  });
});

describe("limits", () => {
  test(`more than MAX_INLINED_PER_FRAME (${MAX_INLINED_PER_FRAME}) nested inlined calls at one pc: that many inlined frames, then the concrete one`, async () => {
    // a module with its own DWARF (hand-made, DWARF 5): "outer" over [0x1000, 0x1020) and 70 inlined calls nested in it
    const TAG_CU = 0x11, TAG_SUB = 0x2e, TAG_INL = 0x1d, AT_NAME = 0x03, AT_STMT = 0x10, AT_LOW = 0x11, AT_HIGH = 0x12, AT_ORIGIN = 0x31, AT_CALL_LINE = 0x59;
    const F_ADDR = 0x01, F_DATA4 = 0x06, F_STRING = 0x08, F_REF4 = 0x13, F_SEC = 0x17, F_DATA1 = 0x0b;
    const root = [1, ...cstr("a.c"), ...u32(0), ...u64(0x1000n), ...u32(0x100)];
    const outer = [2, ...cstr("outer"), ...u64(0x1000n), ...u32(0x20)];
    const outerAt = 12 + root.length;
    const dies = [...root, ...outer];
    for (let i = 0; i < 70; i++) dies.push(3, ...u32(outerAt), ...u64(0x1000n), ...u32(0x20), (i % 200) + 1);
    dies.push(...new Array<number>(70 + 2).fill(0));
    const program = [4, 0, 0, 9, 2, ...u64(0x1000n), 3, ...uleb(9), 1, 2, ...uleb(0x20), 0, 1, 1];
    const elf = elfWith([
      { name: ".debug_info", data: unit5(dies) },
      { name: ".debug_abbrev", data: abbrevs([
        [1, TAG_CU, true, [[AT_NAME, F_STRING], [AT_STMT, F_SEC], [AT_LOW, F_ADDR], [AT_HIGH, F_DATA4]]],
        [2, TAG_SUB, true, [[AT_NAME, F_STRING], [AT_LOW, F_ADDR], [AT_HIGH, F_DATA4]]],
        [3, TAG_INL, true, [[AT_ORIGIN, F_REF4], [AT_LOW, F_ADDR], [AT_HIGH, F_DATA4], [AT_CALL_LINE, F_DATA1]]],
      ]) },
      { name: ".debug_line", data: line5(program) },
    ]);
    const sys = mkdtempSync(join(tmpdir(), "crashkeep-deep-inline-"));
    writeFileSync(join(sys, "deep.so"), elf);
    const frame = { ...device.threads[0]!.frames[0]!, module: "/deep.so", buildId: null, moduleOffset: "0x1004", symbol: null, symbolOffset: null };
    const r = await symbolizeReport({ ...device, threads: [{ ...device.threads[0]!, frames: [frame] }] }, { sysroot: sys });
    rmSync(sys, { recursive: true, force: true });
    const frames = r.threads[0]!.frames;
    expect(frames.length).toBe(MAX_INLINED_PER_FRAME + 1);
    expect(frames.slice(0, -1).every((f) => f.inlined && f.function === "outer")).toBe(true);
    expect(frames.at(-1)).toMatchObject({ inlined: false, function: "outer", line: 1 });
  });
});

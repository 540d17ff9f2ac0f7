// The done-criterion of issue 11: on real cores of stripped -O2 programs
// (test/fixtures/symbolize, made by make.sh), `inspect` with the debug dirs and
// `symbolize` of the device's report (full JSON and the journal's compact form)
// both give gdb's frames — function, file, line, inlined frames — frame by frame.
import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { buildIdOf, parseElfHeader, parseNotes, parseSectionHeaders, SHT_NOTE } from "../../../src/core/elf.ts";
import { readCoreFile } from "../../../src/core/source.ts";
import { buildReport, type ReportFrame } from "../../../src/core/report.ts";
import { compactReport } from "../../../src/core/format.ts";
import { parseReports } from "../../../src/debuginfo/report-input.ts";
import { symbolizeReport } from "../../../src/debuginfo/symbolize.ts";
import { debugFixtures } from "./symbolize-fixtures.ts";
import { readGdbFrames, sameFile, withoutParameters, type GdbSourceFrame } from "./gdb-frames.ts";

const fx = debugFixtures();
const debugDirs = [fx.debugDir, fx.glibcDebugDir];
const SHF_COMPRESSED = 0x800n;


/** gdb prints the signal trampoline's frame as "<signal handler called>"; crashkeep names the trampoline's symbol. */
const SIGNAL_FRAME = { function: "<signal handler called>", file: null, line: null };

function view(
  f: { pc: string | bigint; function: string | null; file: string | null; line: number | null; inlined: boolean; tailCall?: boolean; signal?: boolean },
  gdb?: { file: string | null; signal: boolean },
) {
  if (f.signal === true) return { pc: f.pc as bigint, ...SIGNAL_FRAME, inlined: false };
  if (gdb?.signal === true && f.function === "__restore_rt") return { pc: BigInt(f.pc), ...SIGNAL_FRAME, inlined: f.inlined };
  return {
    pc: typeof f.pc === "string" ? BigInt(f.pc) : f.pc,
    // gdb prints a C++ frame with debug info by its demangled name without the parameters ("Parser::parse (this=…, n=…)")
    function: f.function === null ? null : withoutParameters(f.function),
    // reported as gdb's name when it is the same file (see sameFile), else as is
    file: gdb !== undefined && sameFile(f.file, gdb.file) ? gdb.file : f.file,
    line: f.line,
    inlined: f.inlined,
    tailCall: f.tailCall === true,
  };
}

function compare(ours: ReportFrame[], gdb: GdbSourceFrame[], limit = Infinity): void {
  // gdb's tail-call frames (glibc's __pthread_kill_internal) included: crashkeep rebuilds them from DW_TAG_call_site
  const want = gdb.slice(0, limit);
  expect(want.length).toBeGreaterThan(2);
  // gdb stops at main; crashkeep goes on to _start
  const got = ours.slice(0, want.length).map((f, i) => view(f, want[i]));
  expect(got).toEqual(want.map((f) => view(f)));
}

/** The build-id of an ELF file (its SHT_NOTE sections) and whether its .debug_info is SHF_COMPRESSED. */
function elfFacts(path: string): { buildId: string | undefined; compressed: boolean } {
  const bytes = new Uint8Array(readFileSync(path));
  const sections = parseSectionHeaders(bytes, parseElfHeader(bytes));
  const notes = sections.filter((s) => s.type === SHT_NOTE).flatMap((s) => parseNotes(bytes.subarray(s.offset, s.offset + s.size)).notes);
  const info = sections.find((s) => s.name === ".debug_info");
  return { buildId: buildIdOf(notes), compressed: info !== undefined && (info.flags & SHF_COMPRESSED) !== 0n };
}

test("the carried glibc debug file is the cores' libc's, zlib-compressed as libc6-dbg ships it (not the host's /usr/lib/debug)", () => {
  const id = fx.libcBuildId;
  expect(id).toMatch(/^[0-9a-f]{40}$/);
  expect(elfFacts(join(fx.sysroot, "usr/lib/x86_64-linux-gnu/libc.so.6")).buildId).toBe(id);
  const debug = join(fx.glibcDebugDir, ".build-id", id.slice(0, 2), `${id.slice(2)}.debug`);
  expect(elfFacts(debug)).toEqual({ buildId: id, compressed: true });
  expect(debugDirs.some((d) => d.startsWith("/usr/lib/debug"))).toBe(false);
});

describe.each(fx.cores.map((c) => [c.name, c] as const))("%s", (_name, c) => {
  const gdb = readGdbFrames(c.gdb);
  const device = buildReport(readCoreFile(c.core), { sysroot: fx.sysroot });

  test("gdb's reference has inlined frames or glibc frames named from glibc's debug file", () => {
    const g = gdb[0]?.frames ?? [];
    expect(g.some((f) => f.inlined) || g.some((f) => f.file?.includes("nptl/pthread_kill.c"))).toBe(true);
  });

  test("the device's report has no file:line (stripped modules)", () => {
    expect(device.threads[0]?.frames.every((f) => f.file === null && !f.inlined)).toBe(true);
  });

  test("inspect with the debug dirs", async () => {
    const r = await symbolizeReport(device, { sysroot: fx.sysroot, debugDirs });
    expect(r.threads).toHaveLength(gdb.length);
    for (const g of gdb) compare(r.threads.find((t) => t.tid === g.lwp)?.frames ?? [], g.frames);
  });

  test("symbolize of the device's report JSON, no core", async () => {
    const [input] = parseReports(JSON.stringify(device));
    const r = await symbolizeReport(input!.report, { sysroot: fx.sysroot, debugDirs });
    for (const g of gdb) compare(r.threads.find((t) => t.tid === g.lwp)?.frames ?? [], g.frames);
  });

  test("symbolize of the journal's compact form", async () => {
    const [input] = parseReports(compactReport(device));
    const r = await symbolizeReport(input!.report, { debugDirs: [...debugDirs], sysroot: fx.sysroot });
    const g = gdb[0]!;
    compare(r.threads[0]?.frames ?? [], g.frames);
  });

  test("symbolizing twice gives the same report", async () => {
    const once = await symbolizeReport(device, { sysroot: fx.sysroot, debugDirs });
    expect(await symbolizeReport(once, { sysroot: fx.sysroot, debugDirs })).toEqual(once);
  });
});

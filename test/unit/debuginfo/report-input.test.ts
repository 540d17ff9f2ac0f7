// The forms a device's report reaches `symbolize` in: the archive's report JSON
// (version 1 and 2), the compact journal form, `dump --json` output, an archive
// entry with its files beside it — and garbage, refused with a reason.
import { afterAll, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { readCoreFile } from "../../../src/core/source.ts";
import { buildReport } from "../../../src/core/report.ts";
import { compactReport } from "../../../src/core/format.ts";
import { parseReports, readReportFile } from "../../../src/debuginfo/report-input.ts";
import { debugFixtures } from "./symbolize-fixtures.ts";

const fx = debugFixtures();
const core = fx.cores.find((c) => c.name === "records")!;
const report = buildReport(readCoreFile(core.core), { sysroot: fx.sysroot });
const tmp = mkdtempSync(join(tmpdir(), "crashkeep-input-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function dump(payloads: Array<[string, string]>): string {
  return JSON.stringify({
    retained: true,
    control: null,
    records: payloads.map(([kind, data], i) => ({ seq: i + 1, kind, payload: { encoding: "utf-8", data } })),
    corruptRecords: 0,
    logs: [],
  });
}

describe("forms", () => {
  test("the full report: as it is", () => {
    const [r, more] = parseReports(JSON.stringify(report));
    expect(more).toBeUndefined();
    expect(r?.report).toEqual(report);
  });
  test("a version-1 report (no function/file/line/inlined, no debugFile): completed with nulls", () => {
    const v1 = JSON.parse(JSON.stringify(report));
    v1.version = 1;
    for (const t of v1.threads) for (const f of t.frames) for (const k of ["function", "file", "line", "column", "inlined"]) delete f[k];
    for (const m of v1.modules) for (const k of ["debugFile", "debugSource"]) delete m[k];
    const r = parseReports(JSON.stringify(v1))[0]!.report;
    expect(r.version).toBe(1);
    const f0 = r.threads[0]!.frames[0]!;
    expect(f0).toMatchObject({ file: null, line: null, column: null, inlined: false, function: report.threads[0]!.frames[0]!.symbol });
  });
  test("the compact form: frames by module index + offset, build-ids from its table", () => {
    const r = parseReports(compactReport(report))[0]!.report;
    const want = report.threads[0]!.frames.map((f) => [f.pc, f.module, f.moduleOffset, f.buildId, f.symbol, f.symbolOffset]);
    expect(r.threads[0]!.frames.map((f) => [f.pc, f.module, f.moduleOffset, f.buildId, f.symbol, f.symbolOffset])).toEqual(want);
    expect(r.signal).toMatchObject({ name: "SIGSEGV", number: 11, codeName: "SEGV_MAPERR", faultAddress: report.signal.faultAddress });
    expect(r.cause.kind).toBe(report.cause.kind);
  });
  test("dump --json: every crash-report record, other records skipped", () => {
    const text = dump([["note", "hello"], ["crash-report", compactReport(report)], ["crash-report", compactReport(report)]]);
    const out = parseReports(text);
    expect(out.map((x) => x.origin)).toEqual(["record 2", "record 3"]);
  });
  test("an archive entry: its journal crash reports, read beside it", () => {
    const dir = join(tmp, "entry");
    mkdirSync(dir);
    writeFileSync(join(dir, "journal-7-crash-report.json"), compactReport(report));
    const entry = { version: 1, id: "20261130T100000Z-unexpected-reset", files: [{ name: "journal-7-crash-report.json", kind: "journal-crash-report", bytes: 1, source: "journal record 7" }, { name: "log-0-messages", kind: "log-tail", bytes: 1, source: "x" }], facts: {} };
    writeFileSync(join(dir, "entry.json"), JSON.stringify(entry));
    const out = readReportFile(join(dir, "entry.json"));
    expect(out.map((x) => x.origin)).toEqual(["journal-7-crash-report.json"]);
    rmSync(join(dir, "journal-7-crash-report.json"));
    expect(() => readReportFile(join(dir, "entry.json"))).toThrow(/names journal-7-crash-report\.json, which is not in .*entry \(copy the whole entry directory\)/);
  });
});

describe("garbage is refused with a reason", () => {
  test.each([
    ["not JSON", "{ nope", /^not JSON$/],
    ["a number", "42", /^not a report \(a JSON number\)$/],
    ["another JSON object", '{"hello":"world"}', /^not a crash report, a compact report/],
    ["a report with a bad frame", JSON.stringify({ ...report, threads: [{ tid: 1, frames: [{ index: 0, pc: "12", sp: "0x0" }] }] }), /^threads\.0\.frames\.0\.pc: /],
    ["a frame whose mangled name is not a string", JSON.stringify({ ...report, threads: [{ ...report.threads[0], frames: [{ ...report.threads[0]?.frames[0], mangled: 7 }] }] }), /^threads\.0\.frames\.0\.mangled: /],
    ["a compact report with a bad frame", JSON.stringify({ ...JSON.parse(compactReport(report)), threads: [{ tid: 1, frames: ["hello world"] }] }), /^threads\.0\.frames\.0: "hello world" is not a compact frame$/],
    ["a compact frame naming a module not in the table", JSON.stringify({ ...JSON.parse(compactReport(report)), modules: [], threads: [{ tid: 1, frames: ["0x1000 m3+0x10"] }] }), /module m3 is not in the module table/],
    ["a dump without crash reports", dump([["note", "x"]]), /^it holds no crash report$/],
    ["a dump whose record is not JSON", dump([["crash-report", "{"]]), /^record 1: the payload is not JSON$/],
  ])("%s", (_name, text, message) => {
    expect(() => parseReports(text)).toThrow(message);
  });
  test("a missing file", () => {
    expect(() => readReportFile(join(tmp, "missing.json"))).toThrow(/^no such file$/);
  });
});

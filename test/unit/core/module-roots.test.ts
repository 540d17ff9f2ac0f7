// Several places to look for a crashed process's files (the pipe handler's
// /proc/PID/root, then its root prefix): tried in order, the build-id decides,
// and a FIFO or a missing file in one place does not stop the next.
import { afterAll, describe, expect, test } from "bun:test";
import { copyFileSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { buildReport, type Report } from "../../../src/core/report.ts";
import { readCoreFile } from "../../../src/core/source.ts";
import { fixtures } from "./fixtures.ts";

const nested = fixtures().find((f) => f.arch === "x86_64" && f.name === "nested");
if (!nested) throw new Error("no x86_64 core fixture \"nested\"");
const EXE = "/opt/crashkeep-fixtures/x86_64/nested";
/** Another program of the fixtures: an ELF file with another build-id. */
const OTHER = "/opt/crashkeep-fixtures/x86_64/abort";
const core = readCoreFile(nested.core);
const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** A root holding, at the path the core names, the program, another program, a FIFO, or nothing. */
function root(what: "program" | "other" | "fifo" | "nothing"): string {
  const dir = mkdtempSync(join(tmpdir(), "crashkeep-roots-"));
  dirs.push(dir);
  mkdirSync(dirname(join(dir, EXE)), { recursive: true });
  if (what === "program") copyFileSync(join(nested!.sysroot, EXE), join(dir, EXE));
  if (what === "other") copyFileSync(join(nested!.sysroot, OTHER), join(dir, EXE));
  if (what === "fifo") expect(Bun.spawnSync(["mkfifo", join(dir, EXE)]).exitCode).toBe(0);
  return dir;
}

const exeModule = (r: Report) => r.modules.find((m) => m.path === EXE);
/** The crashing thread's frames in the program (the roots hold no libc). */
const names = (r: Report) => (r.threads[0]?.frames ?? []).filter((f) => f.module === EXE).map((f) => f.symbol);

describe("module files looked up in several roots", () => {
  const reference = buildReport(core, { sysroot: nested.sysroot });

  test("the reference: with the program's file the frames have its symbols", () => {
    expect(names(reference)).toEqual(["level3", "level2", "level1", "main", "_start"]);
  });

  test.each([
    ["another program first, the program second", ["other", "program"]],
    ["the program first, another program second", ["program", "other"]],
    ["nothing first, the program second", ["nothing", "program"]],
    ["a FIFO first (never opened for a blocking read), the program second", ["fifo", "program"]],
  ] as const)("%s: the program's file is used, nothing is said", (_, order) => {
    const r = buildReport(core, { sysroot: order.map(root) });
    expect(names(r)).toEqual(names(reference));
    expect(exeModule(r)?.problem).toBeNull();
    expect(r.warnings.filter((w) => w.includes(EXE))).toEqual([]);
  });

  test("only files with another build-id: refused, said once, with both build-ids", () => {
    const r = buildReport(core, { sysroot: [root("other"), root("other")] });
    const mod = exeModule(r);
    expect(mod?.problem).toBe("build-id differs from the crashed process");
    expect(names(r)[0]).toBeNull();
    const abort = fixtures().find((f) => f.arch === "x86_64" && f.name === "abort");
    const otherId = buildReport(readCoreFile(abort?.core ?? ""), { sysroot: nested.sysroot }).modules.find((m) => m.path === OTHER)?.buildId;
    expect(otherId).toMatch(/^[0-9a-f]{40}$/);
    expect(mod?.buildId).toBe(exeModule(reference)?.buildId ?? "");
    expect(r.warnings.filter((w) => w.includes(EXE))).toEqual([`module "${EXE}" has build-id ${otherId} but the crashed process mapped ${mod?.buildId}, ignoring the file`]);
  });

  test("no file anywhere: the problem names every place looked at", () => {
    const a = root("nothing");
    const b = root("fifo");
    const r = buildReport(core, { sysroot: [a, b] });
    expect(exeModule(r)?.problem).toBe(`Cannot open module "${join(a, EXE)}": no such file; Cannot read module "${join(b, EXE)}": not a regular file`);
  });
});

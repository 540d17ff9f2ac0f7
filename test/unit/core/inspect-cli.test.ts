// `crashkeep inspect` end to end through src/main.ts: exit codes 0/1/2, the three output forms.
import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { fixtures } from "./fixtures.ts";
import { REPORT_VERSION } from "../../../src/core/report.ts";

const MAIN = join(import.meta.dir, "../../../src/main.ts");
const f = fixtures().find((x) => x.arch === "x86_64" && x.name === "abort")!;

function crashkeep(...args: string[]): { code: number; out: string; err: string } {
  const r = Bun.spawnSync([process.execPath, MAIN, "inspect", ...args]);
  return { code: r.exitCode ?? -1, out: r.stdout.toString(), err: r.stderr.toString() };
}

describe("crashkeep inspect", () => {
  test("text", () => {
    const r = crashkeep(f.core, "--sysroot", f.sysroot);
    expect(r.code).toBe(0);
    expect(r.out).toContain("signal 6 (SIGABRT), code -6 (SI_TKILL)");
    expect(r.out).toContain("(__assert_fail+");
  });
  test("--json", () => {
    const r = crashkeep(f.core, "--sysroot", f.sysroot, "--json");
    expect(r.code).toBe(0);
    const j = JSON.parse(r.out);
    expect(j.version).toBe(REPORT_VERSION);
    expect(j.cause.kind).toBe("assertion");
    expect(j.threads[0].frames.map((x: { symbol: string | null }) => x.symbol)).toContain("abort");
  });
  test("--compact", () => {
    const r = crashkeep(f.core, "--sysroot", f.sysroot, "--compact");
    expect(r.code).toBe(0);
    expect(Buffer.byteLength(r.out)).toBeLessThanOrEqual(4097);
    expect(JSON.parse(r.out).signal).toBe("SIGABRT (SI_TKILL)");
  });
  test("not a core: exit 1, one line", () => {
    const r = crashkeep(MAIN);
    expect(r.code).toBe(1);
    expect(r.err.trim().split("\n")).toHaveLength(1);
    expect(r.err).toMatch(/^Cannot inspect core ".*main\.ts": cannot read ELF header/);
  });
  test("missing file: exit 1", () => {
    expect(crashkeep("/nonexistent/core").code).toBe(1);
  });
  test("bad usage: exit 2", () => {
    expect(crashkeep().code).toBe(2);
    expect(crashkeep(f.core, "--frobnicate").code).toBe(2);
  });
});

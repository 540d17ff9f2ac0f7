// make dist as a whole (build/dist.ts --out <temp>): it leaves every tracked
// file as it was, its SHA256SUMS and crashkeep.hash match the tarballs, and
// each tarball's executable carries its own target's Bun runtime. The
// runtimes are checked independently of build/runtime.ts: the npm tarball's
// sha512 against package-lock.json, the build-id read by eu-readelf, the
// executable segment found by readelf and compared byte for byte.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pkg from "../../package.json" with { type: "json" };
import { DIST_TARGETS, EXPECTED, RUNTIME_PACKAGES, elfInfo, tarballName } from "../../build/dist.ts";
import { LICENSE_FILES } from "../../build/licenses.ts";
import { checkHash } from "../unit/buildroot/check-package.ts";

const ROOT = join(import.meta.dir, "../..");
const BUN = join(ROOT, "node_modules/.bin/bun");
const RUNTIME_CACHE = join(ROOT, "out/cache/bun-runtime");
const sha256 = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

function sh(cmd: string[], opts: { cwd?: string } = {}): string {
  const r = Bun.spawnSync(cmd, { cwd: opts.cwd ?? ROOT, stdout: "pipe", stderr: "pipe" });
  if (r.exitCode !== 0) throw new Error(`Cannot run "${cmd.join(" ")}": exit ${r.exitCode}: ${r.stderr.toString()}`);
  return r.stdout.toString();
}

/** Every path git would report (modified, added, deleted, untracked, not ignored). */
const gitStatus = () => sh(["git", "status", "--porcelain", "--untracked-files=all"]);


/** A file's build-id (eu-readelf -n) and the bytes of its R E PT_LOAD (readelf -lW). */
function runtimeOf(file: string): { buildId: string; code: string } {
  const buildId = /Build ID: ([0-9a-f]+)/.exec(sh(["eu-readelf", "-n", file]))?.[1] ?? "";
  const loads = sh(["readelf", "-lW", file]).split("\n").filter((l) => /^\s*LOAD\s/.test(l) && /\sR E\s/.test(l));
  const bytes = readFileSync(file);
  const code = createHash("sha256");
  for (const l of loads) {
    const [, offset, , , filesz] = l.trim().split(/\s+/);
    const at = Number(offset);
    code.update(bytes.subarray(at, at + Number(filesz)));
  }
  return { buildId, code: `${loads.length} segment(s) ${code.digest("hex")}` };
}

let work = "";
let before = "";
let after = "";
let result = { code: -1, output: "" };

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), "crashkeep-dist-"));
  before = gitStatus();
  const r = Bun.spawnSync(["nice", "-n", "10", BUN, "build/dist.ts", "--out", work], { cwd: ROOT, stdout: "pipe", stderr: "pipe" });
  result = { code: r.exitCode ?? -1, output: r.stdout.toString() + r.stderr.toString() };
  after = gitStatus();
}, 900_000);

afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

const dist = () => join(work, "dist");
const names = DIST_TARGETS.map((t) => tarballName(pkg.version, t));

describe("make dist (build/dist.ts --out <temp>)", () => {
  test("succeeds", () => {
    expect({ code: result.code, output: result.code === 0 ? "" : result.output }).toEqual({ code: 0, output: "" });
  });

  test("modifies no tracked file and adds none to the checkout", () => {
    expect(after).toBe(before);
  });

  test("writes one tarball per target, SHA256SUMS and crashkeep.hash, nothing else", () => {
    expect(readdirSync(dist()).sort()).toEqual([...names, "SHA256SUMS", "crashkeep.hash"].sort());
  });

  test("SHA256SUMS and crashkeep.hash give each tarball's sha256", () => {
    const actual = new Map(names.map((n) => [n, sha256(readFileSync(join(dist(), n)))]));
    const sums = readFileSync(join(dist(), "SHA256SUMS"), "utf8").trimEnd().split("\n").map((l) => l.split("  "));
    expect(new Map(sums.map(([h, f]) => [f, h]))).toEqual(actual);
    const hash = readFileSync(join(dist(), "crashkeep.hash"), "utf8");
    expect(checkHash("crashkeep.hash", hash)).toEqual([]);
    const lines = hash.split("\n").filter((l) => l !== "" && !l.startsWith("#")).map((l) => l.split("  "));
    expect(lines.every(([type]) => type === "sha256")).toBe(true);
    const tarballLines = lines.filter(([, , f]) => f?.endsWith(".tar.gz"));
    expect(new Map(tarballLines.map(([, h, f]) => [f, h]))).toEqual(actual);
    // The license files legal-info checks (CRASHKEEP_LICENSE_FILES), as each tarball holds them.
    const licenseLines = lines.filter(([, , f]) => !f?.endsWith(".tar.gz"));
    expect(licenseLines.map(([, , f]) => f)).toEqual([...LICENSE_FILES]);
    for (const t of DIST_TARGETS) {
      const top = `crashkeep-${pkg.version}-linux-${t}`;
      const into = join(work, `licenses-${t}`);
      sh(["mkdir", "-p", into]);
      sh(["tar", "-xzf", join(dist(), tarballName(pkg.version, t)), "-C", into, ...licenseLines.map(([, , f]) => `${top}/${f}`)]);
      for (const [, h, f] of licenseLines) {
        expect(`${t}: ${f} ${sha256(readFileSync(join(into, top, f ?? "")))}`).toBe(`${t}: ${f} ${h}`);
      }
    }
    // What sha256sum itself says.
    expect(sh(["sha256sum", "--check", "SHA256SUMS"], { cwd: dist() }).trim().split("\n").sort()).toEqual(names.map((n) => `${n}: OK`).sort());
  });
});

describe("each tarball's executable carries its own target's Bun runtime", () => {
  const lock = JSON.parse(readFileSync(join(ROOT, "package-lock.json"), "utf8")) as { packages: Record<string, { version: string; integrity: string }> };
  const exes = new Map<string, { file: string; sha256: string }>();

  beforeAll(() => {
    const unpacked = join(work, "unpacked");
    sh(["mkdir", "-p", unpacked]);
    for (const t of DIST_TARGETS) {
      sh(["tar", "-xzf", join(dist(), tarballName(pkg.version, t)), "-C", unpacked, `crashkeep-${pkg.version}-linux-${t}/crashkeep`]);
      const file = join(unpacked, `crashkeep-${pkg.version}-linux-${t}/crashkeep`);
      exes.set(t, { file, sha256: sha256(readFileSync(file)) });
    }
  }, 120_000);

  test.each([...DIST_TARGETS])("%s: the ELF its devices need", (t) => {
    const exe = exes.get(t);
    expect(exe).toBeDefined();
    const info = elfInfo(new Uint8Array(readFileSync(exe?.file ?? "")));
    expect(info).toEqual({ machine: EXPECTED[t].machine, interpreter: EXPECTED[t].interpreter });
  });

  test.each([...DIST_TARGETS])("%s: the build-id and code of its npm package's bin/bun", (t) => {
    const name = RUNTIME_PACKAGES[t];
    const entry = lock.packages[`node_modules/${name}`];
    expect(entry?.version).toBe(pkg.devDependencies.bun);
    const tgz = join(RUNTIME_CACHE, `${name.replace(/^@/, "").replace("/", "-")}-${entry?.version}.tgz`);
    expect(existsSync(tgz)).toBe(true);
    expect(`sha512-${createHash("sha512").update(readFileSync(tgz)).digest("base64")}`).toBe(entry?.integrity ?? "");
    const unpacked = join(work, `npm-${t}`);
    sh(["mkdir", "-p", unpacked]);
    sh(["tar", "-xzf", tgz, "-C", unpacked, "package/bin/bun"]);
    const want = runtimeOf(join(unpacked, "package/bin/bun"));
    expect(want.buildId).toMatch(/^[0-9a-f]{40}$/);
    expect(runtimeOf(exes.get(t)?.file ?? "")).toEqual(want);
  }, 120_000);

  test("no two targets share an executable or a runtime", () => {
    const all = DIST_TARGETS.map((t) => ({ t, sha: exes.get(t)?.sha256, ...runtimeOf(exes.get(t)?.file ?? "") }));
    for (const key of ["sha", "buildId", "code"] as const) {
      expect(new Set(all.map((a) => a[key])).size).toBe(all.length);
    }
  });
});

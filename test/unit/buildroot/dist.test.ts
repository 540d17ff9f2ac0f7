// build/dist.ts: the ELF check each release binary goes through, the
// runtime check (build/runtime.ts), the hash files written beside the
// tarballs, and the tarball names crashkeep.mk relies on. The whole of
// make dist runs in test/integration/dist.test.ts.
import { describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pkg from "../../../package.json" with { type: "json" };
import { DIST_TARGETS, type DistTarget, EXPECTED, RUNTIME_PACKAGES, checkRuntimes, elfInfo, hashFiles, mkVersion, tarballName } from "../../../build/dist.ts";
import { type RuntimeIdentity, fetchRuntime, integrityOf, runtimeIdentity, runtimePin } from "../../../build/runtime.ts";
import { checkHash } from "./check-package.ts";

const ROOT = join(import.meta.dir, "../../..");
const LOCK = readFileSync(join(ROOT, "package-lock.json"), "utf8");
const RUNTIME_CACHE = join(ROOT, "out/cache/bun-runtime");

/** A 64-bit little-endian ELF header, one PT_LOAD and (optionally) a PT_INTERP (elf(5) offsets). */
function elf(opts: { machine: number; interp?: string; cls?: number; data?: number }): Uint8Array {
  // (p_flags stays 0: these are for elfInfo, which reads no segment contents.)
  const interp = opts.interp === undefined ? undefined : new TextEncoder().encode(`${opts.interp}\0`);
  const phoff = 64;
  const phnum = interp ? 2 : 1;
  const strOff = phoff + phnum * 56;
  const bytes = new Uint8Array(strOff + (interp?.length ?? 0));
  const v = new DataView(bytes.buffer);
  bytes.set([0x7f, 0x45, 0x4c, 0x46, opts.cls ?? 2, opts.data ?? 1, 1]);
  v.setUint16(16, 2, true); // e_type ET_EXEC
  v.setUint16(18, opts.machine, true); // e_machine
  v.setBigUint64(32, BigInt(phoff), true); // e_phoff
  v.setUint16(54, 56, true); // e_phentsize
  v.setUint16(56, phnum, true); // e_phnum
  v.setUint32(phoff, 1, true); // PT_LOAD
  if (interp) {
    v.setUint32(phoff + 56, 3, true); // PT_INTERP
    v.setBigUint64(phoff + 56 + 8, BigInt(strOff), true); // p_offset
    v.setBigUint64(phoff + 56 + 32, BigInt(interp.length), true); // p_filesz
    bytes.set(interp, strOff);
  }
  return bytes;
}

// The table checked against an independent source: the real Bun runtime of
// each target (its npm package, pinned by package-lock.json and cached in
// out/cache/bun-runtime), read by elfutils' eu-readelf, not by the
// implementation's parser.
describe("EXPECTED matches the real Bun target binaries", () => {
  const work = mkdtempSync(join(tmpdir(), "crashkeep-dist-elf-"));
  writeFileSync(join(work, "hello.ts"), "console.log(1);\n");
  // eu-readelf names (libebl): EM_X86_64 = 62, EM_AARCH64 = 183 (elf.h).
  const MACHINES: Record<string, number> = { "AMD x86-64": 62, AARCH64: 183 };
  test.each([...DIST_TARGETS])("%s", (t) => {
    const out = join(work, `hello-${t}`);
    const runtime = fetchRuntime(runtimePin(LOCK, RUNTIME_PACKAGES[t]), RUNTIME_CACHE);
    const built = Bun.spawnSync([process.execPath, "build", "--compile", `--target=bun-linux-${t}`, `--compile-executable-path=${runtime}`, join(work, "hello.ts"), "--outfile", out], { stdout: "pipe", stderr: "pipe" });
    expect({ exit: built.exitCode, stderr: built.exitCode === 0 ? "" : built.stderr.toString() }).toEqual({ exit: 0, stderr: "" });
    const program = Bun.spawnSync(["eu-readelf", "-h", "-l", out]).stdout.toString();
    const machine = /Machine:\s+(.+)/.exec(program)?.[1]?.trim() ?? "";
    const interpreter = /Requesting program interpreter: ([^\]]+)\]/.exec(program)?.[1];
    expect({ machine: MACHINES[machine], interpreter }).toEqual({ machine: EXPECTED[t].machine, interpreter: EXPECTED[t].interpreter });
    rmSync(out, { force: true });
  }, 180_000);
});

describe("elfInfo", () => {
  test.each(DIST_TARGETS.map((t) => [t, EXPECTED[t]] as const))("reads what %s must be", (_t, want) => {
    expect(elfInfo(elf({ machine: want.machine, interp: want.interpreter }))).toEqual({ machine: want.machine, interpreter: want.interpreter });
  });

  test("a static binary has no interpreter", () => {
    expect(elfInfo(elf({ machine: 62 }))).toEqual({ machine: 62, interpreter: undefined });
  });

  test.each([
    ["32-bit", elf({ machine: 3, cls: 1 }), SyntaxError],
    ["big-endian", elf({ machine: 183, data: 2 }), SyntaxError],
    ["not ELF", new TextEncoder().encode(`#!/bin/sh\n${" ".repeat(64)}`), SyntaxError],
    ["truncated header", elf({ machine: 62 }).subarray(0, 40), RangeError],
    ["truncated program headers", elf({ machine: 62, interp: "/lib/ld-musl-x86_64.so.1" }).subarray(0, 100), RangeError],
  ] as const)("refuses %s", (_name, bytes, err) => {
    expect(() => elfInfo(bytes)).toThrow(err);
  });

  test.skipIf(process.arch !== "x64")("reads this machine's /bin/sh", () => {
    const info = elfInfo(new Uint8Array(readFileSync("/bin/sh")));
    expect(info.machine).toBe(62);
    expect(info.interpreter).toBe("/lib64/ld-linux-x86-64.so.2");
  });
});

test("tarball names: crashkeep-<version>-linux-<target>.tar.gz", () => {
  expect(DIST_TARGETS.map((t) => tarballName("1.2.3", t))).toEqual([
    "crashkeep-1.2.3-linux-x64.tar.gz",
    "crashkeep-1.2.3-linux-x64-musl.tar.gz",
    "crashkeep-1.2.3-linux-arm64.tar.gz",
  ]);
});

describe("runtime pins (package-lock.json)", () => {
  test.each([...DIST_TARGETS])("%s: its npm package at the bun package's version, with an integrity", (t) => {
    const pin = runtimePin(LOCK, RUNTIME_PACKAGES[t]);
    expect(pin.version).toBe(pkg.devDependencies.bun);
    expect(pin.integrity).toMatch(/^sha512-[A-Za-z0-9+/]{86}==$/);
  });

  test.each([
    ["no such package", "@oven/bun-linux-riscv64", /no version and integrity/],
    ["a version other than bun's", "@oven/bun-linux-x64", /has 1\.0\.0, the bun package 1\.4\.5/],
  ] as const)("refuses %s", (name, runtime, err) => {
    const lock = JSON.parse(LOCK) as { packages: Record<string, { version?: string }> };
    if (name === "a version other than bun's") {
      const entry = lock.packages[`node_modules/${runtime}`];
      if (entry) entry.version = "1.0.0";
    }
    expect(() => runtimePin(JSON.stringify(lock), runtime)).toThrow(err);
  });

  // fetchRuntime's checks on a small package of the lock (npm serves it from
  // its cache after npm ci): it has no bin/bun, so a tarball that passes the
  // pin stops at the unpack.
  describe("fetchRuntime", () => {
    const entry = (JSON.parse(LOCK) as { packages: Record<string, { version: string; integrity: string }> }).packages["node_modules/ajv-formats"];
    const small = { name: "ajv-formats", version: entry?.version ?? "", integrity: entry?.integrity ?? "" };
    const cache = mkdtempSync(join(tmpdir(), "crashkeep-runtime-"));

    test("refuses a tarball other than the one package-lock.json pins", () => {
      expect(() => fetchRuntime({ ...small, integrity: `sha512-${"A".repeat(86)}==` }, cache)).toThrow(/Cannot use the Bun runtime "ajv-formats@3\.0\.1": its tarball is sha512-.*, package-lock\.json pins sha512-AAAA/);
    }, 60_000);

    test("fetches again a cached tarball that does not match the pin", () => {
      writeFileSync(join(cache, "ajv-formats-3.0.1.tgz"), "not the tarball");
      expect(() => fetchRuntime(small, cache)).toThrow(/Cannot unpack the Bun runtime/);
      expect(integrityOf(readFileSync(join(cache, "ajv-formats-3.0.1.tgz")))).toBe(small.integrity);
    }, 60_000);

    test("cleanup", () => rmSync(cache, { recursive: true, force: true }));
  });

  test("integrityOf writes npm's sha512-<base64> (the empty input's known value)", () => {
    expect(integrityOf(new Uint8Array(0))).toBe("sha512-z4PhNX7vuL3xVChQ1m2AB9Yg5AULVxXcg/SpIdNs6c5H0NE8XYXysP+DGNKHfuwvY7kxvUdBeoGlODJ6+SfaPg==");
  });
});

// A real runtime (the host's own target) and synthetic identities: what the
// check accepts and what it refuses.
describe("runtimeIdentity and checkRuntimes", () => {
  const id = (n: string): RuntimeIdentity => ({ buildId: n.repeat(40), codeSha256: n.repeat(64) });
  const pinned = new Map<DistTarget, RuntimeIdentity>([["x64", id("a")], ["x64-musl", id("b")], ["arm64", id("c")]]);

  test("the npm runtime's build-id is the one eu-readelf reads", () => {
    const runtime = fetchRuntime(runtimePin(LOCK, RUNTIME_PACKAGES.arm64), RUNTIME_CACHE);
    const notes = Bun.spawnSync(["eu-readelf", "-n", runtime]).stdout.toString();
    const buildId = /Build ID: ([0-9a-f]+)/.exec(notes)?.[1];
    expect(buildId).toMatch(/^[0-9a-f]{40}$/);
    expect(runtimeIdentity(new Uint8Array(readFileSync(runtime))).buildId).toBe(buildId ?? "");
  }, 120_000);

  test("accepts each target carrying its own runtime", () => {
    expect(() => checkRuntimes(pinned, pinned)).not.toThrow();
  });

  test.each([
    ["a runtime other than the package's", new Map([["x64-musl", id("d")]]), /Cannot package x64-musl: its Bun runtime \(build-id d+\) is not @oven\/bun-linux-x64-musl's/],
    ["the code of another build under the same build-id", new Map([["arm64", { buildId: "c".repeat(40), codeSha256: "e".repeat(64) }]]), /Cannot package arm64: its Bun runtime/],
    ["two targets with the same runtime (x64 and x64-baseline in 0.1.0)", new Map([["x64", id("a")], ["x64-musl", id("a")]]), /Cannot package x64-musl: its Bun runtime/],
  ] as const)("refuses %s", (_name, got, err) => {
    expect(() => checkRuntimes(got as Map<DistTarget, RuntimeIdentity>, pinned)).toThrow(err);
  });

  test("refuses two targets whose pinned packages hold the same runtime", () => {
    const same = new Map<DistTarget, RuntimeIdentity>([["x64", id("a")], ["x64-musl", id("a")]]);
    expect(() => checkRuntimes(same, same)).toThrow("Cannot package x64-musl: it carries the same Bun runtime as x64 (build-id " + "a".repeat(40) + ")");
  });

  test.each([
    ["not ELF", new TextEncoder().encode("#!/bin/sh\n".padEnd(80, " ")), SyntaxError],
    ["no build-id note", elf({ machine: 62 }), SyntaxError],
  ] as const)("refuses %s", (_name, bytes, err) => {
    expect(() => runtimeIdentity(bytes)).toThrow(err);
  });
});

describe("hash files", () => {
  const sums = [
    { file: tarballName("1.2.3", "x64"), sha256: "0".repeat(64) },
    { file: tarballName("1.2.3", "arm64"), sha256: "f".repeat(64) },
  ];

  test("SHA256SUMS: sha256sum --check's format", () => {
    expect(hashFiles(sums).sha256sums).toBe(`${"0".repeat(64)}  crashkeep-1.2.3-linux-x64.tar.gz\n${"f".repeat(64)}  crashkeep-1.2.3-linux-arm64.tar.gz\n`);
  });

  test("crashkeep.hash: Buildroot's format, one sha256 line per tarball", () => {
    const text = hashFiles(sums).buildroot;
    expect(checkHash("crashkeep.hash", text)).toEqual([]);
    expect(text.split("\n").filter((l) => l !== "" && !l.startsWith("#"))).toEqual([
      `sha256  ${"0".repeat(64)}  crashkeep-1.2.3-linux-x64.tar.gz`,
      `sha256  ${"f".repeat(64)}  crashkeep-1.2.3-linux-arm64.tar.gz`,
    ]);
  });

  // legal-info runs support/download/check-hash on each CRASHKEEP_LICENSE_FILES
  // entry with its path in the tarball ("No hash found for LICENSE" otherwise).
  test("crashkeep.hash: the license files by their path in the tarball; SHA256SUMS: tarballs only", () => {
    const licenses = [{ file: "LICENSE", sha256: "1".repeat(64) }, { file: "licenses/LGPL-2", sha256: "2".repeat(64) }];
    const both = hashFiles(sums, licenses);
    expect(checkHash("crashkeep.hash", both.buildroot)).toEqual([]);
    expect(both.buildroot.split("\n").filter((l) => l !== "" && !l.startsWith("#")).slice(2)).toEqual([
      `sha256  ${"1".repeat(64)}  LICENSE`,
      `sha256  ${"2".repeat(64)}  licenses/LGPL-2`,
    ]);
    expect(both.sha256sums).toBe(hashFiles(sums).sha256sums);
  });
});

test("crashkeep.mk's CRASHKEEP_VERSION is package.json's (make dist refuses otherwise, and never rewrites it)", () => {
  expect(mkVersion(readFileSync(join(ROOT, "build/buildroot/package/crashkeep/crashkeep.mk"), "utf8"))).toBe(pkg.version);
  expect(mkVersion("CRASHKEEP_VERSION = 2.0.0\n")).toBe("2.0.0");
  expect(mkVersion("CRASHKEEP_VERSION := 2.0.0\n")).toBeUndefined();
});

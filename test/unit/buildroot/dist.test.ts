// build/dist.ts: the ELF check each release binary goes through, and the
// tarball names crashkeep.mk and crashkeep.hash rely on.
import { describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DIST_TARGETS, EXPECTED, elfInfo, tarballName } from "../../../build/dist.ts";

/** A 64-bit little-endian ELF header, one PT_LOAD and (optionally) a PT_INTERP (elf(5) offsets). */
function elf(opts: { machine: number; interp?: string; cls?: number; data?: number }): Uint8Array {
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
// each target (bun build --compile --target downloads it once into Bun's
// cache), read by elfutils' eu-readelf, not by the implementation's parser.
describe("EXPECTED matches the real Bun target binaries", () => {
  const work = mkdtempSync(join(tmpdir(), "crashkeep-dist-elf-"));
  writeFileSync(join(work, "hello.ts"), "console.log(1);\n");
  // eu-readelf names (libebl): EM_X86_64 = 62, EM_AARCH64 = 183 (elf.h).
  const MACHINES: Record<string, number> = { "AMD x86-64": 62, AARCH64: 183 };
  test.each([...DIST_TARGETS])("%s", (t) => {
    const out = join(work, `hello-${t}`);
    const built = Bun.spawnSync([process.execPath, "build", "--compile", `--target=bun-linux-${t}`, join(work, "hello.ts"), "--outfile", out], { stdout: "pipe", stderr: "pipe" });
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
    "crashkeep-1.2.3-linux-x64-baseline.tar.gz",
    "crashkeep-1.2.3-linux-x64-musl.tar.gz",
    "crashkeep-1.2.3-linux-arm64.tar.gz",
  ]);
});

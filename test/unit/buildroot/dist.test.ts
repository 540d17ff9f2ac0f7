// build/dist.ts: the ELF check each release binary goes through, and the
// tarball names crashkeep.mk and crashkeep.hash rely on.
import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
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

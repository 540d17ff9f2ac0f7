// Note parsers on byte layouts (kernel-facts.md §5), hex tables.
import { describe, expect, test } from "bun:test";
import { fromHex } from "../../../src/core/bytes.ts";
import { parseNotes } from "../../../src/core/elf.ts";
import { parseAuxv, parseFileNote, parseNote, parsePrpsinfo, parsePrstatus, parseSiginfo } from "../../../src/core/notes.ts";

const zeros = (n: number): string => "00".repeat(n);
const u32 = (v: number): string => Buffer.from(new Uint32Array([v]).buffer).toString("hex");
const u64 = (v: bigint): string => Buffer.from(new BigUint64Array([v]).buffer).toString("hex");

describe("parseNotes", () => {
  test.each([
    // namesz, descsz, type, "CORE\0" padded to 8, desc padded to 4
    ["one note", `${u32(5)} ${u32(4)} ${u32(1)} 434f5245 00000000 aabbccdd`, [{ name: "CORE", type: 1, size: 4 }], false],
    ["desc padding", `${u32(5)} ${u32(2)} ${u32(6)} 434f5245 00000000 aabb0000 ${u32(4)} ${u32(0)} ${u32(3)} 474e5500`, [{ name: "CORE", type: 6, size: 2 }, { name: "GNU", type: 3, size: 0 }], false],
    ["desc past the end", `${u32(5)} ${u32(100)} ${u32(1)} 434f5245 00000000 aabb`, [], true],
    ["namesz past the end", `${u32(0xffffffff)} ${u32(0)} ${u32(1)}`, [], true],
    ["empty", "", [], false],
    ["trailing garbage", `${u32(5)} ${u32(0)} ${u32(1)} 434f5245 00000000 ff`, [{ name: "CORE", type: 1, size: 0 }], true],
  ])("%s", (_n, hex, want, incomplete) => {
    const r = parseNotes(fromHex(hex));
    expect(r.notes.map((x) => ({ name: x.name, type: x.type, size: x.desc.length }))).toEqual(want);
    expect(r.incomplete).toBe(incomplete);
  });
});

describe("NT_PRSTATUS", () => {
  // si_signo @0, pr_cursig @12 (u16), pr_pid @32, ppid @36, pgrp @40, sid @44, pr_reg @112
  const head = `${u32(11)} ${zeros(8)} 0b00 ${zeros(18)} ${u32(1234)} ${u32(1)} ${u32(1234)} ${u32(99)} ${zeros(64)}`;
  test.each([
    ["x86_64", 27, 336],
    ["aarch64", 34, 392],
  ] as const)("%s: %i registers, %i bytes", (arch, n, size) => {
    const regs = Array.from({ length: n }, (_, i) => u64(BigInt(i) * 0x1000n + 1n)).join("");
    const desc = fromHex(head + regs + zeros(size - 112 - n * 8));
    expect(desc.length).toBe(size);
    const p = parsePrstatus(desc, arch);
    expect([p.signal, p.tid, p.ppid, p.pgrp, p.sid]).toEqual([11, 1234, 1, 1234, 99]);
    expect(p.regs.length).toBe(n);
    expect(p.regs[n - 1]).toBe(BigInt(n - 1) * 0x1000n + 1n);
  });
  test("truncated is a RangeError", () => {
    expect(() => parsePrstatus(fromHex(head), "x86_64")).toThrow(RangeError);
  });
});

describe("NT_PRPSINFO", () => {
  test.each([
    // state @0, flag @8, uid @16, gid @20, pid @24, ppid @28, fname @40[16], psargs @56[80]
    ["full", `03 ${zeros(15)} ${u32(1000)} ${u32(100)} ${u32(42)} ${u32(1)} ${zeros(8)} ${Buffer.from("nested").toString("hex")}${zeros(10)} ${Buffer.from("/bin/nested -x ").toString("hex")}${zeros(65)}`,
      { state: 3, uid: 1000, gid: 100, pid: 42, ppid: 1, fname: "nested", psargs: "/bin/nested -x" }],
    ["16-byte comm without NUL", `00 ${zeros(15)} ${u32(0)} ${u32(0)} ${u32(7)} ${u32(1)} ${zeros(8)} ${Buffer.from("abcdefghijklmnop").toString("hex")} ${zeros(80)}`,
      { state: 0, uid: 0, gid: 0, pid: 7, ppid: 1, fname: "abcdefghijklmnop", psargs: "" }],
  ])("%s", (_n, hex, want) => {
    expect(parsePrpsinfo(fromHex(hex))).toEqual(want);
  });
  test("short is a RangeError", () => expect(() => parsePrpsinfo(fromHex(zeros(135)))).toThrow(RangeError));
});

describe("NT_SIGINFO", () => {
  test.each([
    ["SIGSEGV at 0x10", `${u32(11)} ${u32(0)} ${u32(1)} ${u32(0)} ${u64(0x10n)} ${zeros(104)}`, { signo: 11, code: 1, addr: 0x10n }],
    ["SIGABRT by tgkill", `${u32(6)} ${u32(0)} ${u32(0xfffffffa)} ${u32(0)} ${u32(77)} ${u32(1000)} ${zeros(104)}`, { signo: 6, code: -6, senderPid: 77, senderUid: 1000 }],
  ])("%s", (_n, hex, want) => {
    expect(parseSiginfo(fromHex(hex))).toMatchObject(want);
  });
});

describe("NT_AUXV", () => {
  test.each([
    ["pairs to AT_NULL", `${u64(33n)} ${u64(0x7fff0000n)} ${u64(6n)} ${u64(4096n)} ${u64(0n)} ${u64(0n)} ${u64(9n)} ${u64(1n)}`, [[33, 0x7fff0000n], [6, 4096n]]],
    ["no AT_NULL, odd tail", `${u64(3n)} ${u64(0x40n)} 0102`, [[3, 0x40n]]],
  ])("%s", (_n, hex, want) => {
    expect(parseAuxv(fromHex(hex))).toEqual(want as Array<[number, bigint]>);
  });
});

describe("NT_FILE", () => {
  const entry = (s: bigint, e: bigint, pg: bigint): string => u64(s) + u64(e) + u64(pg);
  test.each([
    ["two files", `${u64(2n)} ${u64(4096n)} ${entry(0x1000n, 0x2000n, 0n)} ${entry(0x3000n, 0x5000n, 2n)} ${Buffer.from("/a\0/lib/b.so\0").toString("hex")}`,
      [{ start: 0x1000n, end: 0x2000n, offset: 0n, path: "/a" }, { start: 0x3000n, end: 0x5000n, offset: 0x2000n, path: "/lib/b.so" }], false],
    ["names missing", `${u64(1n)} ${u64(4096n)} ${entry(0x1000n, 0x2000n, 0n)}`, [], true],
    ["absurd count", `${u64(0xffffffffffffn)} ${u64(4096n)} ${entry(0x1000n, 0x2000n, 0n)}`, [], true],
  ])("%s", (_n, hex, want, incomplete) => {
    const f = parseFileNote(fromHex(hex));
    expect(f.mappings).toEqual(want);
    expect(f.incomplete).toBe(incomplete);
  });
});

describe("parseNote", () => {
  test("unknown notes are kept as unknown", () => {
    expect(parseNote({ name: "LINUX", type: 0x202, desc: new Uint8Array(16) }, "x86_64")).toEqual({ kind: "unknown", name: "LINUX", type: 0x202, size: 16 });
    expect(parseNote({ name: "CORE", type: 2, desc: new Uint8Array(512) }, "x86_64").kind).toBe("unknown");
  });
});

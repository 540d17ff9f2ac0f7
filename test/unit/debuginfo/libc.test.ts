// glibc's debug file (libc6-dbg's, carried in test/fixtures/symbolize for the
// cores' libc: DWARF 5, zlib-compressed sections, ~1,800 units) against
// llvm-symbolizer, eu-addr2line and gdb run now on the same pcs (binutils 2.40
// addr2line names the primary source file where an inlined-from header holds
// the line, and prefers .symtab's __GI_ aliases; the two others agree with each
// other there). The three tools are Debian packages `make deps` installs: without
// one, skipped with the reason in the title, and failed under CI (test/needs.ts).
import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parseElfHeader, parseSectionHeaders } from "../../../src/core/elf.ts";
import { DwarfInfo } from "../../../src/debuginfo/dwarf.ts";
import { fileSource } from "../../../src/debuginfo/source.ts";
import { compareFrames, parseGdbLines, parseReference, type RefFrame } from "./reference.ts";
import { debugFixtures } from "./symbolize-fixtures.ts";
import { needs, tool } from "../../needs.ts";

/** pcs sampled evenly across libc's .text: enough to touch a few hundred units, quick for addr2line. */
const SAMPLES = 150;

const need = needs({ "llvm-symbolizer (llvm)": tool("llvm-symbolizer"), "eu-addr2line (elfutils)": tool("eu-addr2line"), "gdb": tool("gdb"), "nm (binutils)": tool("nm") });

function debugFile(): { path: string; text: { addr: bigint; size: number } } {
  const fx = debugFixtures();
  const bytes = new Uint8Array(readFileSync(join(fx.sysroot, "usr/lib/x86_64-linux-gnu/libc.so.6")));
  const text = parseSectionHeaders(bytes, parseElfHeader(bytes)).find((s) => s.name === ".text");
  if (!text) throw new Error("the fixtures' libc.so.6 has no .text");
  const id = fx.libcBuildId;
  return { path: join(fx.glibcDebugDir, ".build-id", id.slice(0, 2), `${id.slice(2)}.debug`), text: { addr: text.addr, size: text.size } };
}

describe("glibc's debug file (libc6-dbg's, carried)", () => {
  test.skipIf(need.skip)(`frames() agree with llvm-symbolizer / eu-addr2line across .text, static functions named from DWARF${need.note}`, () => {
    need.check();
    const { path, text } = debugFile();
    const pcs: bigint[] = [];
    for (let i = 0; i < SAMPLES; i++) pcs.push(text.addr + (BigInt(text.size) * BigInt(i)) / BigInt(SAMPLES));
    // __pthread_kill_implementation: static, so only .symtab (stripped from libc.so.6) or DWARF names it
    const nm = Bun.spawnSync(["nm", path]).stdout.toString();
    const kill = /^([0-9a-f]+) t __pthread_kill_implementation$/m.exec(nm);
    if (!kill) throw new Error(`nm does not list __pthread_kill_implementation in "${path}"`);
    pcs.push(BigInt(`0x${kill[1]}`) + 0x10n);
    const args = pcs.map((p) => `0x${p.toString(16)}`);
    const llvm = Bun.spawnSync(["llvm-symbolizer", `--obj=${path}`, "-a", "--inlining", "--demangle", ...args]);
    const eu = Bun.spawnSync(["eu-addr2line", "-a", "-f", "-i", "-C", "-e", path, ...args]);
    expect(llvm.exitCode).toBe(0);
    // both tools name a glibc function by its linkage name or .symtab alias (__GI_raise, __mbrtowc, dlsym@GLIBC_2.2.5) where
    // DW_AT_name, which gdb and DwarfInfo show, is the plain one: names compared without __GI_, leading underscores, versions
    const ref = plainNames(parseReference(llvm.stdout.toString()));
    const alt = plainNames(parseReference(eu.stdout.toString()));
    expect(ref.size).toBe(pcs.length);
    const dwarf = DwarfInfo.open(fileSource(path));
    if (!dwarf) throw new Error(`no DWARF read from "${path}"`);
    // gdb's line for the innermost frame (its choice among rows at one address), which DwarfInfo follows
    const gdbArgs = args.flatMap((a) => ["-ex", `info line *${a}`]);
    const gdbOut = Bun.spawnSync(["gdb", "-batch", "-nx", ...gdbArgs, path]).stdout.toString();
    const r = compareFrames(plainDwarf(dwarf), ref, alt, parseGdbLines(gdbOut, pcs));
    expect(r.mismatches.slice(0, 10)).toEqual([]);
    expect(r.inlined).toBeGreaterThan(10);
    expect(r.symtabOnly / ref.size).toBeLessThan(0.05);
    expect(dwarf.frames(BigInt(`0x${kill[1]}`) + 0x10n).at(-1)?.function).toBe("__pthread_kill_implementation");
    expect(dwarf.warnings).toEqual([]);
  }, 60_000); // three external tools and ~150 units of libc
});

function plain(name: string | null): string | null {
  return name === null ? null : name.replace(/^__GI_/, "").replace(/^_+/, "").replace(/@.*$/, "");
}

function plainNames(m: Map<bigint, RefFrame[]>): Map<bigint, RefFrame[]> {
  for (const frames of m.values()) for (const f of frames) f.function = plain(f.function);
  return m;
}

function plainDwarf(d: DwarfInfo): DwarfInfo {
  return { frames: (pc: bigint) => d.frames(pc).map((f) => ({ ...f, function: plain(f.function) })), warnings: d.warnings } as unknown as DwarfInfo;
}

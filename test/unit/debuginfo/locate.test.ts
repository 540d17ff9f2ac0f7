// Finding debug files on the fixtures (test/fixtures/symbolize, made by make.sh):
// each place of the lookup order, and every refusal (another build-id, a wrong
// CRC, a file that is not ELF) as a problem rather than a crash.
import { afterAll, describe, expect, test } from "bun:test";
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { closeLocated, findByBuildId, locateDebugInfo, MAX_DEBUGLINK_CRC_BYTES, openChecked } from "../../../src/debuginfo/locate.ts";
import { DebugElf } from "../../../src/debuginfo/debug-elf.ts";
import { fileSource } from "../../../src/debuginfo/source.ts";
import { debugFixtures } from "./symbolize-fixtures.ts";

const fx = debugFixtures();
const DIR = "/opt/crashkeep-fixtures/symbolize";
const tmp = mkdtempSync(join(tmpdir(), "crashkeep-locate-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function idOf(path: string): string {
  const src = fileSource(path);
  try {
    return new DebugElf(src).buildId ?? "";
  } finally {
    src.close?.();
  }
}

const records = { path: `${DIR}/records`, buildId: idOf(join(fx.sysroot, DIR, "records")) };
const terminate = { path: `${DIR}/terminate`, buildId: idOf(join(fx.sysroot, DIR, "terminate")) };
const libcodec = { path: `${DIR}/libcodec.so`, buildId: idOf(join(fx.sysroot, DIR, "libcodec.so")) };
const codec = { path: `${DIR}/codec`, buildId: idOf(join(fx.sysroot, DIR, "codec")) };
const treePath = (id: string, root = fx.debugDir): string => join(root, ".build-id", id.slice(0, 2), `${id.slice(2)}.debug`);

function located(mod: { path: string; buildId: string | null }, options: Parameters<typeof locateDebugInfo>[1]) {
  const l = locateDebugInfo(mod, options);
  const out = { source: l.debug?.source, path: l.debug?.path, dwarf: l.debug?.elf.hasDwarf, problems: l.problems, module: l.module?.path };
  closeLocated(l);
  return out;
}

describe("the modules are stripped, the debug files are not", () => {
  test.each([["records", records], ["terminate", terminate], ["libcodec.so", libcodec], ["codec", codec]] as const)("%s", (_name, m) => {
    const src = fileSource(join(fx.sysroot, m.path));
    const elf = new DebugElf(src);
    expect(elf.hasDwarf).toBe(false);
    expect(elf.hasSymtab).toBe(false);
    expect(elf.buildId).toMatch(/^[0-9a-f]{40}$/);
    src.close?.();
  });
});

describe("lookup order", () => {
  test("stripped module, no debug dirs: nothing (the sysroot has no usr/lib/debug)", () => {
    const r = located(records, { sysroot: fx.sysroot });
    expect(r.source).toBeUndefined();
    expect(r.module).toBe(join(fx.sysroot, records.path));
    expect(r.problems).toEqual([]);
  });
  test("build-id tree under --debug-dir", () => {
    const r = located(records, { sysroot: fx.sysroot, debugDirs: ["/nonexistent", fx.debugDir] });
    expect(r).toMatchObject({ source: "build-id", path: treePath(records.buildId), dwarf: true });
  });
  test("build-id tree under <sysroot>/usr/lib/debug, after the debug dirs", () => {
    const root = join(tmp, "sysroot-tree");
    const dest = treePath(records.buildId, join(root, "usr/lib/debug"));
    mkdirSync(dirname(dest), { recursive: true });
    copyFileSync(treePath(records.buildId), dest);
    mkdirSync(join(root, DIR), { recursive: true });
    copyFileSync(join(fx.sysroot, records.path), join(root, records.path));
    expect(located(records, { sysroot: root })).toMatchObject({ source: "build-id", path: dest });
    // the debug dirs come first
    expect(located(records, { sysroot: root, debugDirs: [fx.debugDir] })).toMatchObject({ path: treePath(records.buildId) });
  });
  test(".gnu_debuglink beside the module (libcodec.so.debug)", () => {
    expect(located(libcodec, { sysroot: fx.sysroot })).toMatchObject({ source: "debuglink", path: join(fx.sysroot, DIR, "libcodec.so.debug"), dwarf: true });
  });
  test(".gnu_debuglink in .debug/ beside the module (codec)", () => {
    expect(located(codec, { sysroot: fx.sysroot })).toMatchObject({ source: "debuglink", path: join(fx.sysroot, DIR, ".debug/codec.debug") });
  });
  test(".gnu_debuglink under a debug dir, at the module's directory", () => {
    const root = join(tmp, "linkdir");
    mkdirSync(join(root, DIR), { recursive: true });
    copyFileSync(join(fx.sysroot, DIR, ".debug/codec.debug"), join(root, DIR, "codec.debug"));
    const sys = join(tmp, "sys-nolink");
    mkdirSync(join(sys, DIR), { recursive: true });
    copyFileSync(join(fx.sysroot, codec.path), join(sys, codec.path));
    expect(located(codec, { sysroot: sys, debugDirs: [root] })).toMatchObject({ source: "debuglink", path: join(root, DIR, "codec.debug") });
  });
  test("an unstripped copy at the module's path under a debug dir (Buildroot staging)", () => {
    const staging = join(tmp, "staging");
    mkdirSync(join(staging, DIR), { recursive: true });
    copyFileSync(treePath(terminate.buildId), join(staging, terminate.path));
    expect(located(terminate, { sysroot: fx.sysroot, debugDirs: [staging] })).toMatchObject({ source: "debug-dir", path: join(staging, terminate.path) });
  });
  test("the module itself, when it has DWARF, before everything else", () => {
    const sys = join(tmp, "sys-unstripped");
    mkdirSync(join(sys, DIR), { recursive: true });
    copyFileSync(treePath(records.buildId), join(sys, records.path));
    expect(located(records, { sysroot: sys, debugDirs: [fx.debugDir] })).toMatchObject({ source: "module", path: join(sys, records.path) });
  });
});

describe("refusals", () => {
  test("a debug file with another build-id is said so and never used", () => {
    const root = join(tmp, "wrong-id");
    const dest = treePath(records.buildId, root);
    mkdirSync(dirname(dest), { recursive: true });
    copyFileSync(treePath(terminate.buildId), dest);
    const r = located(records, { sysroot: fx.sysroot, debugDirs: [root] });
    expect(r.source).toBeUndefined();
    expect(r.problems).toEqual([`Cannot use debug file "${dest}": it has build-id ${terminate.buildId}, the module has ${records.buildId}`]);
    // a later place that matches still wins
    expect(located(records, { sysroot: fx.sysroot, debugDirs: [root, fx.debugDir] }).source).toBe("build-id");
  });
  test("a debuglink file whose CRC differs is refused", () => {
    const sys = join(tmp, "sys-badcrc");
    mkdirSync(join(sys, DIR), { recursive: true });
    copyFileSync(join(fx.sysroot, libcodec.path), join(sys, libcodec.path));
    // the right file with one byte appended: same build-id, another CRC
    writeFileSync(join(sys, DIR, "libcodec.so.debug"), Buffer.concat([readFileSync(join(fx.sysroot, DIR, "libcodec.so.debug")), Buffer.from([0])]));
    const r = located(libcodec, { sysroot: sys });
    expect(r.source).toBeUndefined();
    expect(r.problems[0]).toMatch(/^Cannot use debug file ".*libcodec\.so\.debug": its CRC-32 is 0x[0-9a-f]{8}, the module's \.gnu_debuglink says 0x[0-9a-f]{8}$/);
  });
  test("a debuglink candidate larger than MAX_DEBUGLINK_CRC_BYTES is refused unread (a sparse file)", () => {
    const sys = join(tmp, "sys-huge");
    mkdirSync(join(sys, DIR), { recursive: true });
    copyFileSync(join(fx.sysroot, libcodec.path), join(sys, libcodec.path));
    const huge = join(sys, DIR, "libcodec.so.debug");
    writeFileSync(huge, "");
    truncateSync(huge, MAX_DEBUGLINK_CRC_BYTES + 1);
    expect(located(libcodec, { sysroot: sys })).toMatchObject({ source: undefined, problems: [`Cannot use debug file "${huge}": it is larger than ${MAX_DEBUGLINK_CRC_BYTES} bytes`] });
  });
  test("a stripped copy at the module's path under a debug dir (output/target given for output/staging) is passed over", () => {
    const target = join(tmp, "target-as-staging");
    mkdirSync(join(target, DIR), { recursive: true });
    copyFileSync(join(fx.sysroot, records.path), join(target, records.path));
    expect(located(records, { sysroot: fx.sysroot, debugDirs: [target] })).toMatchObject({ source: undefined, problems: [] });
  });
  test("a build-id that is not hex is never joined into a path", () => {
    const log = { problems: [] as string[], looked: [] as string[] };
    expect(findByBuildId("../../../../etc/passwd", { debugDirs: [fx.debugDir] }, log)).toBeUndefined();
    expect(log).toEqual({ problems: [], looked: [] });
  });
  test("a debuglink file without a build-id whose CRC matches is taken (as gdb does); with another build-id it is not", () => {
    const sys = join(tmp, "sys-noid");
    mkdirSync(join(sys, DIR), { recursive: true });
    // the debug file without its build-id note, and the module re-linked to it (name + new CRC)
    const noid = join(sys, DIR, "libcodec.so.debug");
    expect(Bun.spawnSync(["objcopy", "--remove-section=.note.gnu.build-id", join(fx.sysroot, DIR, "libcodec.so.debug"), noid]).exitCode).toBe(0);
    expect(Bun.spawnSync(["objcopy", "--remove-section=.gnu_debuglink", `--add-gnu-debuglink=${noid}`, join(fx.sysroot, libcodec.path), join(sys, libcodec.path)]).exitCode).toBe(0);
    expect(located(libcodec, { sysroot: sys })).toMatchObject({ source: "debuglink", path: noid, problems: [] });
    // the build-id tree is not so lenient: there the build-id is the only check
    const root = join(tmp, "noid-tree");
    const dest = treePath(libcodec.buildId, root);
    mkdirSync(dirname(dest), { recursive: true });
    copyFileSync(noid, dest);
    expect(located(libcodec, { sysroot: fx.sysroot, debugDirs: [root] }).problems[0]).toMatch(/it has build-id \(none\), the module has/);
  });
  test("a debuglink file whose CRC matches but which has another build-id (codec's debug file) is refused", () => {
    const sys = join(tmp, "sys-otherid");
    mkdirSync(join(sys, DIR), { recursive: true });
    // codec's debug file named libcodec.so.debug, and libcodec.so re-linked to it: name and CRC agree, the build-id does not
    const other = join(sys, DIR, "libcodec.so.debug");
    copyFileSync(join(fx.sysroot, DIR, ".debug/codec.debug"), other);
    expect(Bun.spawnSync(["objcopy", "--remove-section=.gnu_debuglink", `--add-gnu-debuglink=${other}`, join(fx.sysroot, libcodec.path), join(sys, libcodec.path)]).exitCode).toBe(0);
    expect(located(libcodec, { sysroot: sys })).toMatchObject({
      source: undefined,
      problems: [`Cannot use debug file "${other}": it has build-id ${idOf(other)}, the module has ${libcodec.buildId}`],
    });
  });
  test.each([
    ["not ELF", new TextEncoder().encode("this is not an ELF file at all, just text\n")],
    ["truncated ELF header", new Uint8Array([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1])],
    ["section headers past the end", (() => {
      const b = new Uint8Array(64);
      b.set([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1]);
      const v = new DataView(b.buffer);
      v.setBigUint64(40, 1n << 40n, true); // e_shoff
      v.setUint16(58, 64, true); // e_shentsize
      v.setUint16(60, 3, true); // e_shnum
      return b;
    })()],
  ])("a hostile file at the build-id path: %s → a problem, no crash", (_name, bytes) => {
    const root = join(tmp, `hostile-${_name.replace(/\W+/g, "-")}`);
    const dest = treePath(records.buildId, root);
    mkdirSync(dirname(dest), { recursive: true });
    writeFileSync(dest, bytes);
    const r = located(records, { sysroot: fx.sysroot, debugDirs: [root] });
    expect(r.source).toBeUndefined();
    expect(r.problems).toHaveLength(1);
    expect(r.problems[0]).toMatch(new RegExp(`^Cannot use debug file "${dest.replace(/[.]/g, "\\.")}": `));
  });
});

describe("mutated debug files (seeded): a problem or a usable file, never a crash", () => {
  // xorshift32, seeded: a failure names its seed and is reproducible
  const rng = (seed: number) => () => {
    seed ^= seed << 13;
    seed ^= seed >>> 17;
    seed ^= seed << 5;
    return (seed >>> 0) / 0x100000000;
  };
  const original = readFileSync(join(fx.sysroot, DIR, "libcodec.so.debug"));
  test.each(Array.from({ length: 40 }, (_, i) => i + 1))("seed %i", (seed) => {
    const next = rng(seed * 2654435761);
    const bytes = new Uint8Array(original);
    // flip bytes in the headers and tables, where a parser is led astray
    for (let k = 0; k < 24; k++) {
      const at = next() < 0.5 ? Math.floor(next() * 256) : Math.floor(next() * bytes.length);
      bytes[at] = Math.floor(next() * 256);
    }
    const root = join(tmp, `mutated-${seed}`);
    const dest = treePath(libcodec.buildId, root);
    mkdirSync(dirname(dest), { recursive: true });
    writeFileSync(dest, bytes);
    const problems: string[] = [];
    const elf = openChecked(dest, libcodec.buildId, problems);
    if (elf) {
      expect(() => elf.symbolize(0x1050n)).not.toThrow();
      elf.src.close?.();
    } else {
      expect(problems.length).toBeLessThanOrEqual(1);
      for (const p of problems) expect(p).toStartWith(`Cannot use debug file "${dest}": `);
    }
  });
});

// A dwz-compressed debug file (test/fixtures/debuginfo/cxx-dwz.elf, `dwz -m`):
// names and shared DIEs in a supplementary file named by .gnu_debugaltlink.
// Same code as cxx.elf, so the frames must be cxx.elf's at every pc.
import { expect, test } from "bun:test";
import { join } from "node:path";
import { DwarfInfo } from "../../../src/debuginfo/dwarf.ts";
import { fileSource } from "../../../src/debuginfo/source.ts";
import { FIXTURES, compareFrames, readGdbLines, readReference } from "./reference.ts";

const pcs = [...readReference("cxx", "addr2line").keys()];

test("with the supplementary file: the frames of the undwz'd program at every pc, and addr2line's", () => {
  const plain = DwarfInfo.open(fileSource(join(FIXTURES, "cxx.elf")));
  const dwz = DwarfInfo.open(fileSource(join(FIXTURES, "cxx-dwz.elf")), { supplementary: fileSource(join(FIXTURES, "cxx-dwz.alt")) });
  expect(dwz?.altLink).toEqual({ path: "/opt/crashkeep-fixtures/debuginfo/cxx-dwz.alt", buildId: expect.stringMatching(/^[0-9a-f]{40}$/) });
  if (!plain || !dwz) throw new Error("no DWARF");
  const differ = pcs.filter((pc) => JSON.stringify(dwz.frames(pc)) !== JSON.stringify(plain.frames(pc)));
  expect(differ.map((pc) => `0x${pc.toString(16)}`)).toEqual([]);
  const named = pcs.filter((pc) => dwz.frames(pc).some((f) => f.function !== null)).length;
  expect(named).toBeGreaterThan(pcs.length / 2);
  const r = compareFrames(dwz, readReference("cxx", "addr2line"), readReference("cxx", "eu-addr2line"), readGdbLines("cxx", pcs));
  expect(r.mismatches.slice(0, 10)).toEqual([]);
  expect(dwz.warnings).toEqual([]);
});

test("without it: lines and call sites still, names missing, one warning naming the file to fetch", () => {
  const plain = DwarfInfo.open(fileSource(join(FIXTURES, "cxx.elf")));
  const dwz = DwarfInfo.open(fileSource(join(FIXTURES, "cxx-dwz.elf")));
  if (!plain || !dwz) throw new Error("no DWARF");
  // names and linkage names (of the DIEs dwz moved) are in the supplementary file
  const strip = (pc: bigint) => plain.frames(pc).map((f) => ({ ...f, function: null, linkage: undefined }));
  const lines = pcs.filter((pc) => JSON.stringify(dwz.frames(pc).map((f) => ({ ...f, function: null, linkage: undefined }))) === JSON.stringify(strip(pc)));
  expect(lines.length).toBe(pcs.length);
  expect(dwz.warnings).toHaveLength(1);
  expect(dwz.warnings[0]).toContain(`.gnu_debugaltlink "/opt/crashkeep-fixtures/debuginfo/cxx-dwz.alt", build-id ${dwz.altLink?.buildId}`);
});

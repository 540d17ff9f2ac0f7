// Hand-made hostile cores (kernel-facts.md §5 layout, broken on purpose):
// each gives an error or a report flagged incomplete, in bounded time and memory.
import { describe, expect, test } from "bun:test";
import { CoreReader, type Core } from "../../../src/core/reader.ts";
import { buildReport } from "../../../src/core/report.ts";
import { compactReport } from "../../../src/core/format.ts";

interface Seg { type: number; offset: number; vaddr: bigint; filesz: number; memsz: bigint; flags: number }

function note(name: string, type: number, desc: Uint8Array, descsz = desc.length, namesz = name.length + 1): Uint8Array {
  const nameBytes = new Uint8Array(Math.ceil((name.length + 1) / 4) * 4);
  nameBytes.set(new TextEncoder().encode(name));
  const out = new Uint8Array(12 + nameBytes.length + Math.ceil(desc.length / 4) * 4);
  const v = new DataView(out.buffer);
  v.setUint32(0, namesz, true);
  v.setUint32(4, descsz, true);
  v.setUint32(8, type, true);
  out.set(nameBytes, 12);
  out.set(desc, 12 + nameBytes.length);
  return out;
}

function prstatus(tid: number, sp: bigint, pc: bigint): Uint8Array {
  const d = new Uint8Array(336);
  const v = new DataView(d.buffer);
  v.setUint32(0, 11, true);
  v.setUint16(12, 11, true);
  v.setInt32(32, tid, true);
  v.setBigUint64(112 + 16 * 8, pc, true); // rip
  v.setBigUint64(112 + 19 * 8, sp, true); // rsp
  return d;
}

/** An x86_64 core: header, phdrs (PT_NOTE first), notes, then `tail` bytes of segment data. */
function core(notes: Uint8Array[], loads: Seg[], opts: { phnum?: number; tail?: number; noteSeg?: Partial<Seg> } = {}): Uint8Array {
  const noteBytes = new Uint8Array(notes.reduce((n, x) => n + x.length, 0));
  let o = 0;
  for (const n of notes) {
    noteBytes.set(n, o);
    o += n.length;
  }
  const phnum = 1 + loads.length;
  const noteOff = 64 + phnum * 56;
  const dataOff = Math.ceil((noteOff + noteBytes.length) / 4096) * 4096;
  const total = dataOff + (opts.tail ?? 4096);
  const out = new Uint8Array(total);
  const v = new DataView(out.buffer);
  out.set([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1]);
  v.setUint16(16, 4, true); // ET_CORE
  v.setUint16(18, 62, true); // EM_X86_64
  v.setBigUint64(32, 64n, true);
  v.setUint16(54, 56, true);
  v.setUint16(56, opts.phnum ?? phnum, true);
  const segs: Seg[] = [{ type: 4, offset: noteOff, vaddr: 0n, filesz: noteBytes.length, memsz: 0n, flags: 0, ...opts.noteSeg }, ...loads.map((l) => ({ ...l, offset: l.offset < 0 ? dataOff : l.offset }))];
  segs.forEach((s, i) => {
    const p = 64 + i * 56;
    v.setUint32(p, s.type, true);
    v.setUint32(p + 4, s.flags, true);
    v.setBigUint64(p + 8, BigInt(s.offset), true);
    v.setBigUint64(p + 16, s.vaddr, true);
    v.setBigUint64(p + 32, BigInt(s.filesz), true);
    v.setBigUint64(p + 40, s.memsz, true);
  });
  out.set(noteBytes, noteOff);
  return out;
}

function read(bytes: Uint8Array): Core {
  const r = new CoreReader();
  let total = 0;
  for (let w = r.want(); w; w = r.want()) {
    total += w.length;
    const got = bytes.subarray(w.offset, w.offset + w.length);
    r.feed(got);
    if (got.length < w.length) break;
  }
  if (r.want()) r.end();
  expect(total).toBeLessThan(200 * 1024 * 1024);
  return r.result();
}

const stack: Seg = { type: 1, offset: -1, vaddr: 0x7ffe0000n, filesz: 4096, memsz: 4096n, flags: 6 };
const ok = note("CORE", 1, prstatus(100, 0x7ffe0100n, 0x401000n));
const fileNote = (count: bigint): Uint8Array => {
  const d = new Uint8Array(16 + 24);
  const v = new DataView(d.buffer);
  v.setBigUint64(0, count, true);
  v.setBigUint64(8, 4096n, true);
  return d;
};

describe("hostile cores", () => {
  test.each([
    ["baseline", () => core([ok], [stack]), "ok"],
    ["note namesz 0xffffffff", () => core([ok, note("CORE", 3, new Uint8Array(136), 136, 0xffffffff)], [stack]), "incomplete"],
    ["note descsz past the segment", () => core([ok, note("CORE", 6, new Uint8Array(16), 1 << 30)], [stack]), "incomplete"],
    ["NT_FILE count 2^40", () => core([ok, note("CORE", 0x46494c45, fileNote(1n << 40n))], [stack]), "incomplete"],
    ["short NT_PRSTATUS", () => core([note("CORE", 1, new Uint8Array(40))], [stack]), "incomplete"],
    ["PT_NOTE filesz 2^40", () => core([ok], [stack], { noteSeg: { filesz: 2 ** 40 } }), "incomplete"],
    ["PT_NOTE overlapping the program headers", () => core([ok], [stack], { noteSeg: { offset: 64 } }), "incomplete"],
    ["overlapping PT_LOADs", () => core([ok], [stack, { ...stack }, { ...stack, vaddr: 0x7ffe0800n }]), "ok"],
    ["PT_LOAD past the end of the file", () => core([ok], [{ ...stack, offset: 1 << 30, filesz: 1 << 30, memsz: 1n << 30n }]), "incomplete"],
    ["e_phnum 65535, file ends", () => core([ok], [stack], { phnum: 65535 }), RangeError],
    ["no notes", () => core([], [stack]), "incomplete"],
    ["70000 empty notes", () => core([ok, ...Array.from({ length: 70000 }, () => note("X", 99, new Uint8Array(0)))], [stack]), "incomplete"],
    ["5000 threads", () => core(Array.from({ length: 5000 }, (_, i) => note("CORE", 1, prstatus(i + 1, 0x7ffe0100n, 0n))), [stack]), "incomplete"],
    ["sp and pc nowhere", () => core([note("CORE", 1, prstatus(1, 0xffffffffffffff00n, 0xdeadn))], [stack]), "ok"],
    ["zero length", () => new Uint8Array(0), RangeError],
  ] as const)("%s", (_n, make, want) => {
    const bytes = make();
    if (typeof want !== "string") {
      expect(() => read(bytes)).toThrow(want);
      return;
    }
    const c = read(bytes);
    const r = buildReport(c, {});
    expect(Buffer.byteLength(compactReport(r))).toBeLessThanOrEqual(4096);
    expect(r.incomplete ? "incomplete" : "ok").toBe(want);
  });
});

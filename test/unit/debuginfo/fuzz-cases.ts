// Test helper: the fuzz cases of fuzz.test.ts (seeded mutants of real debug
// files, test/fixtures/debuginfo/), shared with bench/debuginfo/fuzz.ts, which
// times them (the tests assert no time).
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parseElfHeader, parseSectionHeaders } from "../../../src/core/elf.ts";
import { mulberry32 } from "../fuzz-random.ts";
import { FIXTURES, readReference } from "./reference.ts";

/** Cases per seed file; 6 seeds. Kept so the whole file runs in a couple of seconds. */
export const CASES = 80;
/** pcs asked of each mutant, spread over the seed's .text. */
export const PCS = 24;

export interface Seed {
  name: string;
  file: string;
  /** The fixture whose references list the pcs. */
  ref: string;
  /** A supplementary (dwz) file given unchanged beside each mutant. */
  alt?: string;
  /** Share of (mutant, pc) pairs that must still give frames (a mutated zlib stream loses its whole section). */
  framed: number;
}

export const SEEDS: Seed[] = [
  { name: "gcc5", file: "gcc5.elf", ref: "gcc5", framed: 0.1 },
  { name: "clang5", file: "clang5.elf", ref: "clang5", framed: 0.1 },
  { name: "gcc4", file: "gcc4.elf", ref: "gcc4", framed: 0.1 },
  { name: "cxx", file: "cxx.elf", ref: "cxx", framed: 0.1 },
  { name: "cxx-dwz", file: "cxx-dwz.elf", ref: "cxx", alt: "cxx-dwz.alt", framed: 0.1 },
  { name: "gcc5-zlib", file: "gcc5-zlib.elf", ref: "gcc5", framed: 0.03 }, // mutations land in zlib streams and their headers
];

/** Values that break lengths, counts, offsets and forms. */
const INTERESTING = [0, 1, 0x7f, 0x80, 0xff, 0xffff, 0xfffffff0, 0xffffffff, 0x7fffffff, 0x80000000];

function debugRanges(bytes: Uint8Array): Array<[number, number]> {
  return parseSectionHeaders(bytes, parseElfHeader(bytes))
    .filter((s) => s.name.startsWith(".debug_"))
    .map((s) => [s.offset, s.size] as [number, number]);
}

function mutate(src: Uint8Array, ranges: Array<[number, number]>, rand: () => number): Uint8Array {
  const kind = Math.floor(rand() * 6);
  if (kind === 0) return src.slice(0, Math.floor(rand() * src.length)); // cut short
  const out = src.slice();
  const n = 1 + Math.floor(rand() * 6);
  for (let i = 0; i < n; i++) {
    const [o, l] = ranges[Math.floor(rand() * ranges.length)] as [number, number];
    // mostly near a section's start (unit and table headers), else anywhere in it
    const at = o + Math.floor(rand() < 0.5 ? rand() * Math.min(l, 64) : rand() * l);
    if (kind === 1) out[at] = Math.floor(rand() * 256);
    else if (kind === 2) out[at] = (out[at] ?? 0) ^ (1 << Math.floor(rand() * 8));
    else if (kind === 3) new DataView(out.buffer).setUint32(Math.min(at, out.length - 4), INTERESTING[Math.floor(rand() * INTERESTING.length)] as number, true);
    else if (kind === 4) out.fill(0xff, at, Math.min(out.length, at + 1 + Math.floor(rand() * 12))); // endless LEB128s
    else out.copyWithin(at, o + Math.floor(rand() * l), Math.min(o + l, at + 16)); // bytes from elsewhere in the section
  }
  return out;
}

/** A seed's file, its supplementary file, the pcs asked of each mutant, and its CASES mutants, deterministic. */
export function fuzzInputs(seed: Seed): { src: Uint8Array; alt: Uint8Array | undefined; pcs: bigint[]; inputs: () => Generator<Uint8Array> } {
  const src = new Uint8Array(readFileSync(join(FIXTURES, seed.file)));
  const alt = seed.alt ? new Uint8Array(readFileSync(join(FIXTURES, seed.alt))) : undefined;
  const ranges = debugRanges(src);
  const all = [...readReference(seed.ref, seed.ref.startsWith("clang") ? "llvm-symbolizer" : "addr2line").keys()];
  const pcs = Array.from({ length: PCS }, (_, i) => all[Math.floor((i * all.length) / PCS)] as bigint);
  return {
    src,
    alt,
    pcs,
    *inputs() {
      const rand = mulberry32(0xd3a7f ^ src.length);
      for (let i = 0; i < CASES; i++) yield mutate(src, ranges, rand);
    },
  };
}

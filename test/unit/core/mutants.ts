// Mutated inputs for the fuzz tests and the regression fixtures they leave:
// a seeded generator, mutants of a real core (cut, byte patches, interesting
// values), and the run of one input through the reader and the report.
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { CoreReader, MAX_RETAINED_BYTES, type Core } from "../../../src/core/reader.ts";
import { buildReport } from "../../../src/core/report.ts";
import { compactReport, formatText } from "../../../src/core/format.ts";

/** Where every input that ever failed a fuzz run is kept (STYLE.md rule 13). */
export const REGRESSIONS = join(import.meta.dir, "../../fixtures/regressions");

/** The seed of this run: FUZZ_SEED to replay one, else a new one every run (printed by the tests). */
export function fuzzSeed(): number {
  const fixed = process.env.FUZZ_SEED;
  return fixed !== undefined && fixed !== "" ? Number(fixed) >>> 0 : (Math.random() * 2 ** 32) >>> 0;
}

/** Save a failing input as a regression fixture; returns its path. */
export function saveRegression(name: string, bytes: Uint8Array): string {
  mkdirSync(REGRESSIONS, { recursive: true });
  const path = join(REGRESSIONS, name);
  writeFileSync(path, bytes);
  return path;
}

export { mulberry32 } from "../fuzz-random.ts";

/** A mutated core: the seed's bytes, cut at `length`, with patches applied (copied only where read). */
export interface Mutant {
  src: Uint8Array;
  length: number;
  patches: Array<[number, Uint8Array]>;
}

function slice(m: Mutant, offset: number, length: number): Uint8Array {
  const end = Math.min(m.length, offset + length);
  if (end <= offset) return new Uint8Array(0);
  const out = m.src.slice(offset, end);
  for (const [at, bytes] of m.patches) {
    for (let i = 0; i < bytes.length; i++) {
      const k = at + i - offset;
      if (k >= 0 && k < out.length) out[k] = bytes[i] as number;
    }
  }
  return out;
}

/** The whole mutated file (to save a failing case). */
export function materialize(m: Mutant): Uint8Array {
  return slice(m, 0, m.length);
}

/** Read a mutant as the file source would; the total wanted must stay bounded. */
export function readMutant(m: Mutant): Core {
  const r = new CoreReader();
  let wanted = 0;
  for (let w = r.want(); w; w = r.want()) {
    wanted += w.length;
    if (wanted > MAX_RETAINED_BYTES + 64 * 1024 * 1024) throw new Error(`reader wanted ${wanted} bytes`);
    const got = slice(m, w.offset, w.length);
    r.feed(got);
    if (got.length < w.length) break;
  }
  if (r.want()) r.end();
  return r.result();
}

/** Run one input through everything; returns "ok", "incomplete" or the expected error kind. */
export function exercise(m: Mutant, sysroot: string): string {
  let core: Core;
  try {
    core = readMutant(m);
  } catch (err) {
    if (err instanceof RangeError || err instanceof SyntaxError) return err.name;
    throw err;
  }
  const report = buildReport(core, { sysroot });
  formatText(report);
  if (Buffer.byteLength(compactReport(report)) > 4096) throw new Error("compact report over its bound");
  return report.incomplete ? "incomplete" : "ok";
}

const INTERESTING = [0, 1, 0xff, 0xffff, 0xffffffff, 0x7fffffff, 0x80000000, 4096, 56, 64];

function le(value: bigint, size: number): Uint8Array {
  const out = new Uint8Array(size);
  for (let i = 0; i < size; i++) out[i] = Number((value >> BigInt(8 * i)) & 0xffn);
  return out;
}

export function mutate(src: Uint8Array, rand: () => number, headLength: number, ranges: Array<[number, number]>): Mutant {
  const kind = Math.floor(rand() * 5);
  if (kind === 0) return { src, length: Math.floor(rand() * src.length), patches: [] }; // truncation
  const patches: Array<[number, Uint8Array]> = [];
  const n = 1 + Math.floor(rand() * 8);
  for (let i = 0; i < n; i++) {
    // mostly in the header, program headers and notes; else in the memory the reader keeps
    let at: number;
    if (rand() < 0.8 || ranges.length === 0) at = Math.floor(rand() * headLength);
    else {
      const [o, l] = ranges[Math.floor(rand() * ranges.length)] as [number, number];
      at = o + Math.floor(rand() * l);
    }
    if (kind === 1) patches.push([at, Uint8Array.of(Math.floor(rand() * 256))]);
    else if (kind === 2) patches.push([at, Uint8Array.of((src[at] ?? 0) ^ (1 << Math.floor(rand() * 8)))]);
    else if (kind === 3) patches.push([at & ~3, le(BigInt(INTERESTING[Math.floor(rand() * INTERESTING.length)] as number), 4)]);
    else patches.push([at & ~7, le(BigInt(Math.floor(rand() * 2 ** 32)) << BigInt(Math.floor(rand() * 40)), 8)]);
  }
  return { src, length: src.length, patches };
}


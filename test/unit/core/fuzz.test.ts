// Fuzzing the reader and the report with mutated real cores: every input
// gives a report (possibly incomplete) or a RangeError/SyntaxError — never
// another exception, a hang or unbounded memory. Deterministic (seeded).
// An input that ever fails goes to test/fixtures/regressions/ (see regressions.test.ts).
import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { CoreReader, MAX_RETAINED_BYTES, type Core } from "../../../src/core/reader.ts";
import { buildReport } from "../../../src/core/report.ts";
import { compactReport, formatText } from "../../../src/core/format.ts";
import { fixtures } from "./fixtures.ts";
import { mulberry32 } from "../fuzz-random.ts";

/** Cases per seed core; 3 cores. Kept so the whole file runs in a few seconds. */
const CASES = 1200;

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

function mutate(src: Uint8Array, rand: () => number, headLength: number, ranges: Array<[number, number]>): Mutant {
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

describe("fuzz", () => {
  const seeds = fixtures().filter((f) => ["nested", "threads", "handler"].includes(f.name) && f.arch === "x86_64");
  seeds.push(...fixtures().filter((f) => f.name === "abort" && f.arch === "aarch64"));
  test.each(seeds.map((f) => [`${f.arch}/${f.name}`, f] as const))("%s: mutated cores never crash the reader", (_n, f) => {
    const src = new Uint8Array(readFileSync(f.core));
    const headLength = Math.min(src.length, 16384);
    const ranges: Array<[number, number]> = [];
    const clean = new CoreReader();
    for (let w = clean.want(); w; w = clean.want()) {
      ranges.push([w.offset, w.length]);
      clean.feed(src.subarray(w.offset, w.offset + w.length));
    }
    const rand = mulberry32(0xc0de ^ src.length);
    const outcomes = new Map<string, number>();
    for (let i = 0; i < CASES; i++) {
      const input = mutate(src, rand, headLength, ranges);
      let outcome: string;
      try {
        outcome = exercise(input, f.sysroot);
      } catch (err) {
        throw new Error(`case ${i} of ${f.name} failed (save it to test/fixtures/regressions/): ${err instanceof Error ? err.stack : String(err)}`);
      }
      outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
    }
    // every kind of outcome shows up: the mutations reach past the header checks
    expect(outcomes.get("incomplete") ?? 0).toBeGreaterThan(0);
    expect((outcomes.get("ok") ?? 0) + (outcomes.get("incomplete") ?? 0)).toBeGreaterThan(CASES / 4);
  }, 60_000);
});

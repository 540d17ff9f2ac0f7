// gdb's rule for tail-call frames (dwarf2/loc.c call_site_find_chain) on call
// graphs written out by hand: a function is an entry address with its tail
// calls; a call site is its return address and where it goes. The real cores
// (test/fixtures/tailcall) are in test/integration/tailcall-gdb.test.ts.
import { describe, expect, test } from "bun:test";
import { MAX_TAIL_CALL_CHAIN, MAX_TAIL_CALL_STEPS, tailCallFrames, type CallGraph } from "../../../src/debuginfo/tail-calls.ts";
import type { CallSite, CallTarget } from "../../../src/debuginfo/inline-frames.ts";

/** Function name → entry; each function spans [entry, entry + 0x100). Tail calls name the function they jump to. */
interface Fn {
  entry: bigint;
  tail: Array<[pc: bigint, to: string | CallTarget]>;
  complete?: boolean;
}

function graph(fns: Record<string, Fn>, calls: Record<string, string | CallTarget>, symbols: Record<string, bigint> = {}): CallGraph & { visits: number } {
  const target = (to: string | CallTarget): CallTarget => (typeof to === "string" ? { kind: "addresses", addresses: [fns[to]?.entry ?? 0xdeadn] } : to);
  const g = {
    visits: 0,
    callSite(pc: bigint): CallSite | undefined {
      const to = calls[`0x${pc.toString(16)}`];
      return to === undefined ? undefined : { pc, target: target(to) };
    },
    functionAt(pc: bigint) {
      g.visits++;
      const f = Object.values(fns).find((x) => pc >= x.entry && pc < x.entry + 0x100n);
      return f ? { entry: f.entry, tailCalls: f.complete === false ? [] : f.tail.map(([p, to]) => ({ pc: p, target: target(to) })).reverse() } : undefined;
    },
    symbolStart: () => undefined,
    addressOf: (name: string) => symbols[name],
  };
  return g;
}

// main (0x1000) calls at return address 0x1010; the crash is at 0x5050 in `crash`
const CALLER = 0x1010n;
const CALLEE = 0x5050n;

describe("tailCallFrames", () => {
  test("a direct call: nothing to add", () => {
    const g = graph({ crash: { entry: 0x5000n, tail: [] } }, { "0x1010": "crash" });
    expect(tailCallFrames(g, CALLER, CALLEE)).toEqual([]);
  });

  test("a chain of two: innermost first", () => {
    const g = graph(
      { a: { entry: 0x2000n, tail: [[0x2010n, "b"]] }, b: { entry: 0x3000n, tail: [[0x3010n, "crash"]] }, crash: { entry: 0x5000n, tail: [] } },
      { "0x1010": "a" },
    );
    expect(tailCallFrames(g, CALLER, CALLEE)).toEqual([0x3010n, 0x2010n]);
  });

  test("two paths sharing their first and last tail calls: those, the middle left out", () => {
    // a → (b or c) → d → crash: both paths share a's call and d's call
    const g = graph(
      {
        a: { entry: 0x2000n, tail: [[0x2010n, "b"], [0x2020n, "c"]] },
        b: { entry: 0x3000n, tail: [[0x3010n, "d"]] },
        c: { entry: 0x4000n, tail: [[0x4010n, "d"]] },
        d: { entry: 0x6000n, tail: [[0x6010n, "crash"]] },
        crash: { entry: 0x5000n, tail: [] },
      },
      { "0x1010": "a" },
    );
    // the paths' first tail calls differ (a's 0x2010 to b, 0x2020 to c): no caller's side; their last is d's: kept
    expect(tailCallFrames(g, CALLER, CALLEE)).toEqual([0x6010n]);
  });

  test("shared callers only", () => {
    // a → b → (crash directly, or c → crash)
    const g = graph(
      {
        a: { entry: 0x2000n, tail: [[0x2010n, "b"]] },
        b: { entry: 0x3000n, tail: [[0x3010n, "crash"], [0x3020n, "c"]] },
        c: { entry: 0x4000n, tail: [[0x4010n, "crash"]] },
        crash: { entry: 0x5000n, tail: [] },
      },
      { "0x1010": "a" },
    );
    expect(tailCallFrames(g, CALLER, CALLEE)).toEqual([0x2010n]);
  });

  test("two paths with nothing in common: nothing (the ambiguous case)", () => {
    const g = graph(
      {
        pick: { entry: 0x2000n, tail: [[0x2010n, "left"], [0x2020n, "right"]] },
        left: { entry: 0x3000n, tail: [[0x3010n, "crash"]] },
        right: { entry: 0x4000n, tail: [[0x4010n, "crash"]] },
        crash: { entry: 0x5000n, tail: [] },
      },
      { "0x1010": "pick" },
    );
    expect(tailCallFrames(g, CALLER, CALLEE)).toEqual([]);
  });

  test("a direct call and a tail-call path both possible: ambiguous, nothing", () => {
    const g = graph({ a: { entry: 0x2000n, tail: [[0x2010n, "crash"]] }, crash: { entry: 0x5000n, tail: [] } }, {
      "0x1010": { kind: "addresses", addresses: [0x2000n, 0x5000n] },
    });
    expect(tailCallFrames(g, CALLER, CALLEE)).toEqual([]);
  });

  test("a target found by name in the symbol tables (a declaration: a library function)", () => {
    const fns = { lib: { entry: 0x7000n, tail: [[0x7010n, "crash"]] as Fn["tail"] }, crash: { entry: 0x5000n, tail: [] } };
    expect(tailCallFrames(graph(fns, { "0x1010": { kind: "name", name: "lib" } }, { lib: 0x7000n }), CALLER, CALLEE)).toEqual([0x7010n]);
    expect(tailCallFrames(graph(fns, { "0x1010": { kind: "name", name: "lib" } }, {}), CALLER, CALLEE)).toEqual([]);
  });

  test("anything unresolvable on any path drops the whole chain (gdb's NO_ENTRY_VALUE_ERROR)", () => {
    const base: Record<string, Fn> = {
      a: { entry: 0x2000n, tail: [[0x2010n, "crash"], [0x2020n, { kind: "unknown", why: "DW_AT_call_target" }]] },
      crash: { entry: 0x5000n, tail: [] },
    };
    expect(tailCallFrames(graph(base, { "0x1010": "a" }), CALLER, CALLEE)).toEqual([]);
    // a target that is not a function's entry
    const mid = graph({ a: { entry: 0x2000n, tail: [[0x2010n, { kind: "addresses", addresses: [0x5004n] }]] }, crash: { entry: 0x5000n, tail: [] } }, { "0x1010": "a" });
    expect(tailCallFrames(mid, CALLER, CALLEE)).toEqual([]);
    // no call site at the caller's return address, or no function at the callee
    expect(tailCallFrames(graph(base, {}), CALLER, CALLEE)).toEqual([]);
    expect(tailCallFrames(graph(base, { "0x1010": "a" }), CALLER, 0x9000n)).toEqual([]);
  });

  test("a function whose call list is not complete lists no tail calls: a dead end, not an error", () => {
    const g = graph(
      {
        a: { entry: 0x2000n, tail: [[0x2010n, "b"], [0x2020n, "c"]] },
        b: { entry: 0x3000n, tail: [[0x3010n, "crash"]], complete: false },
        c: { entry: 0x4000n, tail: [[0x4010n, "crash"]] },
        crash: { entry: 0x5000n, tail: [] },
      },
      { "0x1010": "a" },
    );
    expect(tailCallFrames(g, CALLER, CALLEE)).toEqual([0x4010n, 0x2020n]);
  });

  test("a function that tail-calls itself: each call site entered once per path, the search ends", () => {
    const g = graph({ a: { entry: 0x2000n, tail: [[0x2010n, "a"], [0x2020n, "crash"]] }, crash: { entry: 0x5000n, tail: [] } }, { "0x1010": "a" });
    // paths: [a→crash] and [a→a, a→crash]: they share the callee's side (a→crash)
    expect(tailCallFrames(g, CALLER, CALLEE)).toEqual([0x2020n]);
  });

  test(`a chain longer than MAX_TAIL_CALL_CHAIN (${MAX_TAIL_CALL_CHAIN}): nothing`, () => {
    const fns: Record<string, Fn> = { crash: { entry: 0x5000n, tail: [] } };
    const n = MAX_TAIL_CALL_CHAIN + 2;
    for (let i = 0; i < n; i++) {
      const entry = 0x100000n + BigInt(i) * 0x100n;
      fns[`f${i}`] = { entry, tail: [[entry + 0x10n, i + 1 < n ? `f${i + 1}` : "crash"]] };
    }
    expect(tailCallFrames(graph(fns, { "0x1010": "f0" }), CALLER, CALLEE)).toEqual([]);
    // one shorter than the limit still resolves
    const short: Record<string, Fn> = { crash: { entry: 0x5000n, tail: [] } };
    for (let i = 0; i < 10; i++) {
      const entry = 0x100000n + BigInt(i) * 0x100n;
      short[`f${i}`] = { entry, tail: [[entry + 0x10n, i + 1 < 10 ? `f${i + 1}` : "crash"]] };
    }
    expect(tailCallFrames(graph(short, { "0x1010": "f0" }), CALLER, CALLEE)).toHaveLength(10);
  });

  test(`a graph with exponentially many paths stops after MAX_TAIL_CALL_STEPS (${MAX_TAIL_CALL_STEPS}) call sites`, () => {
    // 40 layers of two functions, each tail-calling both of the next layer: 2^40 paths, none reaching crash
    const fns: Record<string, Fn> = { crash: { entry: 0x5000n, tail: [] } };
    const entry = (layer: number, k: number): bigint => 0x100000n + BigInt(layer * 2 + k) * 0x100n;
    for (let l = 0; l < 40; l++) {
      for (const k of [0, 1]) fns[`f${l}_${k}`] = { entry: entry(l, k), tail: l + 1 < 40 ? [[entry(l, k) + 0x10n, `f${l + 1}_0`], [entry(l, k) + 0x20n, `f${l + 1}_1`]] : [] };
    }
    const g = graph(fns, { "0x1010": "f0_0" });
    expect(tailCallFrames(g, CALLER, CALLEE)).toEqual([]);
    expect(g.visits).toBeLessThan(MAX_TAIL_CALL_STEPS * 2 + 10);
  });
});

// Tail-call frames, rebuilt as gdb rebuilds them (gdb/dwarf2/loc.c
// call_site_find_chain, gdb/dwarf2/frame-tailcall.c). A call in tail position
// compiled to a jump leaves no frame: the stack goes from the callee straight
// to the caller that made a real call. The caller's call site at its return
// address names the function it called; that function's tail calls
// (DW_TAG_call_site with DW_AT_call_tail_call, listed only where the function
// says its call list is complete) name the next, and so on until the callee's
// function. Every path from the caller's call site to the callee is followed;
// the frames kept are the ones all paths share, from the caller's side and
// from the callee's side. Anything unresolvable (a call through a register, a
// function without debug info) or no shared frame at all: no frames added.
import type { CallSite, FunctionCalls } from "./inline-frames.ts";

/** Call sites entered at most per search: gdb has no bound; a real program's tail calls below one call are a handful. */
export const MAX_TAIL_CALL_STEPS = 10_000;
/** Tail calls at most in one chain (each one a frame): deeper is a hostile graph or a cycle gdb's rule would not end. */
export const MAX_TAIL_CALL_CHAIN = 256;

/** The program's code by absolute address (symbolize.ts maps it to modules and their debug info). */
export interface CallGraph {
  /** The call site whose return address is pc; its pc and target addresses absolute. */
  callSite(pc: bigint): CallSite | undefined;
  /** The concrete function holding pc (DWARF): its entry and tail calls, absolute. */
  functionAt(pc: bigint): FunctionCalls | undefined;
  /** The start of the symbol holding pc, where no DWARF function does (gdb's get_pc_function_start). */
  symbolStart(pc: bigint): bigint | undefined;
  /** A function's address by its symbol name, over all modules (gdb's lookup_minimal_symbol). */
  addressOf(name: string): bigint | undefined;
}

/** The search met something it cannot resolve: gdb's NO_ENTRY_VALUE_ERROR, which drops the whole chain. */
class Unresolved extends Error {}

interface Chain {
  sites: bigint[];
  callers: number;
  callees: number;
}

/**
 * The pcs of the tail-call frames between a frame and its caller, innermost first: each a call site's return
 * address (the frame's pc, looked up minus 1 as any caller's). callerPc is the caller's return address; calleePc the
 * frame's pc as gdb's get_frame_address_in_block gives it (minus 1 unless exact). [] when the chain is not unique.
 */
export function tailCallFrames(graph: CallGraph, callerPc: bigint, calleePc: bigint): bigint[] {
  const start = graph.functionAt(calleePc)?.entry ?? graph.symbolStart(calleePc);
  const first = graph.callSite(callerPc);
  if (start === undefined || !first) return [];
  let result: Chain | undefined;
  let ambiguous = false;
  const chain: bigint[] = [];
  const entered = new Set<bigint>();
  let steps = 0;

  // gdb's chain_candidate: keep the callers and callees every path shares; none shared is ambiguity
  const candidate = (): boolean => {
    if (!result) {
      result = { sites: [...chain], callers: chain.length, callees: chain.length };
      return true;
    }
    const r = result;
    const callers = Math.min(r.callers, chain.length);
    for (let i = 0; i < callers; i++) {
      if (r.sites[i] !== chain[i]) {
        r.callers = i;
        break;
      }
    }
    const callees = Math.min(r.callees, chain.length);
    for (let i = 0; i < callees; i++) {
      if (r.sites[r.sites.length - 1 - i] !== chain[chain.length - 1 - i]) {
        r.callees = i;
        break;
      }
    }
    if (r.callers === 0 && r.callees === 0) ambiguous = true;
    return !ambiguous;
  };

  const targets = (site: CallSite): bigint[] => {
    const t = site.target;
    if (t.kind === "addresses") return t.addresses;
    if (t.kind === "name") {
      const a = graph.addressOf(t.name);
      if (a === undefined) throw new Unresolved(`no symbol "${t.name}"`);
      return [a];
    }
    throw new Unresolved(t.why);
  };

  // gdb's call_site_find_chain_2: false once ambiguity is certain
  const visit = (site: CallSite): boolean => {
    if (++steps > MAX_TAIL_CALL_STEPS || chain.length > MAX_TAIL_CALL_CHAIN) throw new Unresolved("too many tail calls");
    const addrs = targets(site);
    if (addrs.includes(start)) return candidate();
    for (const a of addrs) {
      const fn = graph.functionAt(a);
      if (!fn || fn.entry !== a) throw new Unresolved(`no function starts at 0x${a.toString(16)}`);
      for (const next of fn.tailCalls) {
        if (entered.has(next.pc)) continue;
        entered.add(next.pc);
        chain.push(next.pc);
        if (!visit(next)) return false;
        entered.delete(next.pc);
        chain.pop();
      }
    }
    return true;
  };

  try {
    visit(first);
  } catch (err) {
    if (err instanceof Unresolved) return [];
    throw err;
  }
  const r: Chain | undefined = result;
  if (ambiguous || !r) return [];
  // gdb's pretend_pc: the callees' side innermost first, then the callers' side
  if (r.callers === r.sites.length && r.callees === r.sites.length) return [...r.sites].reverse();
  const out: bigint[] = [];
  for (let k = 0; k < r.callees; k++) out.push(r.sites[r.sites.length - 1 - k] as bigint);
  for (let k = 0; k < r.callers; k++) out.push(r.sites[r.callers - 1 - k] as bigint);
  return out;
}

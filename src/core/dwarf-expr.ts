// A DWARF expression evaluator for CFI (DWARF 5 §2.5): the operations gcc and
// glibc emit in .eh_frame (PLT entries, signal trampolines, stack realignment).
import { Bytes, MASK64 } from "./bytes.ts";

/** Operations evaluated at most per expression: CFI expressions are a dozen ops; a hostile loop stops here. */
export const MAX_EXPR_STEPS = 1000;
/** Values on the expression stack at most. */
export const MAX_EXPR_STACK = 64;

export interface ExprContext {
  reg(n: number): bigint | undefined;
  mem(addr: bigint, size: number): bigint | undefined;
  /** Values pushed before the expression runs (the CFA for DW_CFA_expression rules). */
  initial?: readonly bigint[];
}

/** Evaluate expr with the given initial stack; the top of the stack, or undefined when a register or memory is unknown. */
export function evaluate(expr: Uint8Array, ctx: ExprContext): bigint | undefined {
  const b = new Bytes(expr);
  const st: bigint[] = [...(ctx.initial ?? [])];
  const pop = (): bigint => {
    const v = st.pop();
    if (v === undefined) throw new RangeError("Cannot evaluate DWARF expression: stack underflow");
    return v;
  };
  const push = (v: bigint): void => {
    if (st.length >= MAX_EXPR_STACK) throw new RangeError("Cannot evaluate DWARF expression: stack overflow");
    st.push(BigInt.asUintN(64, v));
  };
  const signed = (v: bigint): bigint => BigInt.asIntN(64, v);
  let pc = 0;
  for (let steps = 0; pc < expr.length; steps++) {
    if (steps >= MAX_EXPR_STEPS) throw new RangeError("Cannot evaluate DWARF expression: too many steps");
    const op = b.u8(pc++);
    if (op >= 0x30 && op <= 0x4f) {
      push(BigInt(op - 0x30));
      continue;
    }
    if (op >= 0x50 && op <= 0x6f) {
      const v = ctx.reg(op - 0x50);
      if (v === undefined) return undefined;
      push(v);
      continue;
    }
    if (op >= 0x70 && op <= 0x8f) {
      const [off, next] = b.sleb(pc);
      pc = next;
      const v = ctx.reg(op - 0x70);
      if (v === undefined) return undefined;
      push(v + off);
      continue;
    }
    switch (op) {
      case 0x03: push(b.u64(pc)); pc += 8; break; // addr
      case 0x06: { const v = ctx.mem(pop(), 8); if (v === undefined) return undefined; push(v); break; } // deref
      case 0x08: push(BigInt(b.u8(pc))); pc += 1; break;
      case 0x09: push(BigInt((b.u8(pc) << 24) >> 24)); pc += 1; break;
      case 0x0a: push(BigInt(b.u16(pc))); pc += 2; break;
      case 0x0b: push(BigInt((b.u16(pc) << 16) >> 16)); pc += 2; break;
      case 0x0c: push(BigInt(b.u32(pc))); pc += 4; break;
      case 0x0d: push(BigInt(b.i32(pc))); pc += 4; break;
      case 0x0e: push(b.u64(pc)); pc += 8; break;
      case 0x0f: push(b.i64(pc)); pc += 8; break;
      case 0x10: { const [v, n] = b.uleb(pc); pc = n; push(v); break; }
      case 0x11: { const [v, n] = b.sleb(pc); pc = n; push(v); break; }
      case 0x12: { const v = pop(); push(v); push(v); break; } // dup
      case 0x13: pop(); break; // drop
      case 0x14: { const a = pop(); const c = pop(); push(c); push(a); push(c); break; } // over
      case 0x15: { const i = b.u8(pc); pc += 1; const v = st[st.length - 1 - i]; if (v === undefined) throw new RangeError("Cannot evaluate DWARF expression: pick out of range"); push(v); break; }
      case 0x16: { const a = pop(); const c = pop(); push(a); push(c); break; } // swap
      case 0x17: { const a = pop(); const c = pop(); const d = pop(); push(a); push(d); push(c); break; } // rot
      case 0x19: { const v = signed(pop()); push(v < 0n ? -v : v); break; }
      case 0x1a: { const a = pop(); push(pop() & a); break; }
      case 0x1b: { const a = signed(pop()); const c = signed(pop()); if (a === 0n) return undefined; push(c / a); break; }
      case 0x1c: { const a = pop(); push(pop() - a); break; }
      case 0x1d: { const a = pop(); const c = pop(); if (a === 0n) return undefined; push(c % a); break; }
      case 0x1e: { const a = pop(); push(pop() * a); break; }
      case 0x1f: push(-signed(pop())); break;
      case 0x20: push(~pop() & MASK64); break;
      case 0x21: { const a = pop(); push(pop() | a); break; }
      case 0x22: { const a = pop(); push(pop() + a); break; }
      case 0x23: { const [v, n] = b.uleb(pc); pc = n; push(pop() + v); break; }
      case 0x24: { const a = pop(); const c = pop(); push(a >= 64n ? 0n : c << a); break; }
      case 0x25: { const a = pop(); const c = pop(); push(a >= 64n ? 0n : c >> a); break; }
      case 0x26: { const a = pop(); const c = signed(pop()); push(c >> (a >= 64n ? 63n : a)); break; }
      case 0x27: { const a = pop(); push(pop() ^ a); break; }
      case 0x28: { const off = (b.u16(pc) << 16) >> 16; pc += 2; if (pop() !== 0n) pc += off; break; } // bra
      case 0x29: { const a = signed(pop()); push(signed(pop()) === a ? 1n : 0n); break; }
      case 0x2a: { const a = signed(pop()); push(signed(pop()) >= a ? 1n : 0n); break; }
      case 0x2b: { const a = signed(pop()); push(signed(pop()) > a ? 1n : 0n); break; }
      case 0x2c: { const a = signed(pop()); push(signed(pop()) <= a ? 1n : 0n); break; }
      case 0x2d: { const a = signed(pop()); push(signed(pop()) < a ? 1n : 0n); break; }
      case 0x2e: { const a = signed(pop()); push(signed(pop()) !== a ? 1n : 0n); break; }
      case 0x2f: { const off = (b.u16(pc) << 16) >> 16; pc += 2 + off; break; } // skip
      case 0x90: { const [r, n] = b.uleb(pc); pc = n; const v = ctx.reg(Number(r)); if (v === undefined) return undefined; push(v); break; }
      case 0x92: { const [r, n] = b.uleb(pc); const [off, n2] = b.sleb(n); pc = n2; const v = ctx.reg(Number(r)); if (v === undefined) return undefined; push(v + off); break; }
      case 0x94: { const size = b.u8(pc); pc += 1; if (size < 1 || size > 8) throw new RangeError(`Cannot evaluate DWARF expression "deref_size ${size}": bad size`); const v = ctx.mem(pop(), size); if (v === undefined) return undefined; push(v); break; }
      case 0x96: break; // nop
      default:
        throw new SyntaxError(`Cannot evaluate DWARF expression "op 0x${op.toString(16)}": unsupported operation`);
    }
    if (pc < 0) throw new RangeError("Cannot evaluate DWARF expression: branch before the start");
  }
  return st[st.length - 1];
}

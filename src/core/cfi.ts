// Call frame information: CIE/FDE parsing for .eh_frame (LSB "Exception Frame",
// gcc unwind-dw2-fde.c), .eh_frame_hdr's binary search table and .debug_frame
// (DWARF 5 §6.4), and the CFA program that yields the unwind row at a pc.
import { Bytes } from "./bytes.ts";

/** Remembered states (DW_CFA_remember_state) at most: gcc nests 2-3; deeper is hostile. */
export const MAX_CFA_STATE_DEPTH = 64;
/** CFA instructions executed at most for one row. */
export const MAX_CFA_STEPS = 10000;
/** FDEs indexed at most per section when there is no .eh_frame_hdr (libc has ~3000). */
export const MAX_FDES = 1 << 20;

export type Rule =
  | { type: "undefined" }
  | { type: "same" }
  | { type: "offset"; off: bigint }
  | { type: "val_offset"; off: bigint }
  | { type: "register"; reg: number }
  | { type: "expr"; expr: Uint8Array }
  | { type: "val_expr"; expr: Uint8Array };

export type CfaRule = { type: "reg"; reg: number; off: bigint } | { type: "expr"; expr: Uint8Array };

export interface Row {
  cfa: CfaRule;
  regs: Map<number, Rule>;
  /** aarch64 pointer authentication state of the return address (DW_CFA_AARCH64_negate_ra_state). */
  raSigned: boolean;
}

export interface Cie {
  codeAlign: bigint;
  dataAlign: bigint;
  ra: number;
  fdeEnc: number;
  signalFrame: boolean;
  hasAugData: boolean;
  addressSize: number;
  instructions: Uint8Array;
}

export interface Fde {
  cie: Cie;
  /** The section the FDE was read from (its pointer encodings are relative to it). */
  section: FrameSection;
  start: bigint;
  end: bigint;
  instructions: Uint8Array;
}

/** A frame section as laid out in memory: its bytes and the link-time address of its first byte. */
export interface FrameSection {
  bytes: Uint8Array;
  vaddr: bigint;
  kind: "eh_frame" | "debug_frame";
}

const DW_EH_PE_omit = 0xff;

/** Read a DW_EH_PE-encoded pointer at off; `at` is the link-time address of bytes[0]. */
function readEncoded(b: Bytes, off: number, enc: number, at: bigint, dataBase = 0n): [bigint, number] {
  if (enc === DW_EH_PE_omit) return [0n, off];
  let v: bigint;
  let next: number;
  switch (enc & 0x0f) {
    case 0x00: v = b.u64(off); next = off + 8; break;
    case 0x01: [v, next] = b.uleb(off); break;
    case 0x02: v = BigInt(b.u16(off)); next = off + 2; break;
    case 0x03: v = BigInt(b.u32(off)); next = off + 4; break;
    case 0x04: v = b.u64(off); next = off + 8; break;
    case 0x09: [v, next] = b.sleb(off); break;
    case 0x0a: v = BigInt((b.u16(off) << 16) >> 16); next = off + 2; break;
    case 0x0b: v = BigInt(b.i32(off)); next = off + 4; break;
    case 0x0c: v = b.i64(off); next = off + 8; break;
    default: throw new SyntaxError(`Cannot read pointer "encoding 0x${enc.toString(16)}": unsupported`);
  }
  switch (enc & 0x70) {
    case 0x00: break;
    case 0x10: v += at + BigInt(off); break; // pcrel
    case 0x30: v += dataBase; break; // datarel
    default: throw new SyntaxError(`Cannot read pointer "encoding 0x${enc.toString(16)}": unsupported base`);
  }
  return [BigInt.asUintN(64, v), next];
}

/** Parse the CIE at off. */
function parseCie(sec: FrameSection, off: number): Cie {
  const b = new Bytes(sec.bytes);
  let len = b.u32(off, "CIE length");
  let p = off + 4;
  let idSize = 4;
  if (len === 0xffffffff) {
    len = b.size(p, "CIE length");
    p += 8;
    idSize = 8;
  }
  const end = p + len;
  b.check(p, len, "CIE");
  p += idSize;
  const version = b.u8(p++);
  if (version !== 1 && version !== 3 && version !== 4) throw new SyntaxError(`Cannot read CIE "version ${version}": unsupported`);
  const [aug, afterAug] = b.cstr(p, 16, "CIE augmentation");
  p = afterAug;
  let addressSize = 8;
  if (version === 4) {
    addressSize = b.u8(p);
    p += 2;
  }
  if (aug.includes("eh")) p += 8; // old gcc "eh" augmentation: a pointer follows
  const [codeAlign, p1] = b.uleb(p);
  const [dataAlign, p2] = b.sleb(p1);
  p = p2;
  let ra: number;
  if (version === 1) ra = b.u8(p++);
  else {
    const [r, n] = b.uleb(p);
    ra = Number(r);
    p = n;
  }
  const cie: Cie = { codeAlign, dataAlign, ra, fdeEnc: sec.kind === "eh_frame" ? 0 : 0, signalFrame: false, hasAugData: false, addressSize, instructions: new Uint8Array() };
  if (aug.startsWith("z")) {
    const [alen, n] = b.uleb(p);
    const dataEnd = n + Number(alen);
    let q = n;
    cie.hasAugData = true;
    for (const c of aug.slice(1)) {
      if (c === "R") cie.fdeEnc = b.u8(q++);
      else if (c === "P") {
        const penc = b.u8(q++);
        q = readEncoded(b, q, penc & 0x7f, sec.vaddr)[1];
      } else if (c === "L") q++;
      else if (c === "S") cie.signalFrame = true;
      else if (c === "B" || c === "G") continue;
      else break;
    }
    p = dataEnd;
  } else if (aug !== "" && aug !== "eh") {
    throw new SyntaxError(`Cannot read CIE "augmentation ${aug}": unsupported`);
  }
  if (p > end) throw new RangeError("Cannot read CIE: augmentation runs past its end");
  cie.instructions = sec.bytes.subarray(p, end);
  return cie;
}

const cieCache = new WeakMap<Uint8Array, Map<number, Cie>>();

function cieAt(sec: FrameSection, off: number): Cie {
  let m = cieCache.get(sec.bytes);
  if (!m) cieCache.set(sec.bytes, (m = new Map()));
  let c = m.get(off);
  if (!c) m.set(off, (c = parseCie(sec, off)));
  return c;
}

/** Parse the FDE at off; undefined for a CIE or the terminator. */
function parseFde(sec: FrameSection, off: number): Fde | undefined {
  const b = new Bytes(sec.bytes);
  let len = b.u32(off, "FDE length");
  if (len === 0) return undefined;
  let p = off + 4;
  let idSize = 4;
  if (len === 0xffffffff) {
    len = b.size(p, "FDE length");
    p += 8;
    idSize = 8;
  }
  const end = p + len;
  b.check(p, len, "FDE");
  const idAt = p;
  const id = idSize === 4 ? BigInt(b.u32(p)) : b.u64(p);
  p += idSize;
  let cieOff: number;
  if (sec.kind === "eh_frame") {
    if (id === 0n) return undefined;
    cieOff = idAt - Number(id);
  } else {
    if (id === 0xffffffffn || id === 0xffffffffffffffffn) return undefined;
    cieOff = Number(id);
  }
  if (cieOff < 0 || cieOff >= sec.bytes.length) throw new RangeError(`Cannot read FDE at ${off}: CIE pointer ${cieOff} out of the section`);
  const cie = cieAt(sec, cieOff);
  let start: bigint;
  let range: bigint;
  if (sec.kind === "eh_frame") {
    [start, p] = readEncoded(b, p, cie.fdeEnc, sec.vaddr);
    [range, p] = readEncoded(b, p, cie.fdeEnc & 0x0f, sec.vaddr);
  } else {
    start = b.u64(p);
    range = b.u64(p + 8);
    p += 16;
  }
  if (cie.hasAugData) {
    const [alen, n] = b.uleb(p);
    p = n + Number(alen);
  }
  if (p > end) throw new RangeError(`Cannot read FDE at ${off}: header runs past its end`);
  return { cie, section: sec, start, end: start + range, instructions: sec.bytes.subarray(p, end) };
}

export interface FdeIndexEntry {
  start: bigint;
  off: number;
}

export interface FdeIndex {
  section: FrameSection;
  entries: FdeIndexEntry[];
}

/** Index every FDE of a section, sorted by start address (for .debug_frame, or .eh_frame without a header). */
export function indexFdes(sec: FrameSection): FdeIndex {
  const b = new Bytes(sec.bytes);
  const out: FdeIndexEntry[] = [];
  let off = 0;
  while (off + 4 <= sec.bytes.length && out.length < MAX_FDES) {
    let len = b.u32(off);
    let hdr = 4;
    if (len === 0) {
      if (sec.kind === "eh_frame") break;
      off += 4;
      continue;
    }
    if (len === 0xffffffff) {
      if (off + 12 > sec.bytes.length) break;
      len = b.size(off + 4, "length");
      hdr = 12;
    }
    try {
      const fde = parseFde(sec, off);
      if (fde) out.push({ start: fde.start, off });
    } catch {
      // a malformed entry is skipped; the rest of the section still indexes
    }
    const next = off + hdr + len;
    if (next <= off || next > sec.bytes.length) break;
    off = next;
  }
  out.sort((x, y) => (x.start < y.start ? -1 : x.start > y.start ? 1 : 0));
  return { section: sec, entries: out };
}

/** Binary search of an FDE index. */
export function findInIndex(idx: FdeIndex, pc: bigint): Fde | undefined {
  const sec = idx.section;
  const index = idx.entries;
  let lo = 0;
  let hi = index.length - 1;
  let best = -1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if ((index[mid] as FdeIndexEntry).start <= pc) {
      best = mid;
      lo = mid + 1;
    } else hi = mid - 1;
  }
  // Neighbouring FDEs can share a start (zero-length ones); look back a little.
  for (let i = best; i >= 0 && i > best - 4; i--) {
    const fde = parseFde(sec, (index[i] as FdeIndexEntry).off);
    if (fde && pc >= fde.start && pc < fde.end) return fde;
  }
  return undefined;
}

/**
 * Look pc up in .eh_frame_hdr (version 1: eh_frame_ptr, fde_count, then a
 * sorted table of (initial location, FDE address) pairs; LSB 5.0 §10.6.2).
 */
export function findInHdr(tables: { hdr: FrameSection; ehFrame: FrameSection }, pc: bigint): Fde | undefined {
  const { hdr, ehFrame } = tables;
  const b = new Bytes(hdr.bytes);
  if (b.u8(0) !== 1) throw new SyntaxError(`Cannot read .eh_frame_hdr "version ${b.u8(0)}": unsupported`);
  const ptrEnc = b.u8(1);
  const countEnc = b.u8(2);
  const tableEnc = b.u8(3);
  let p = 4;
  [, p] = readEncoded(b, p, ptrEnc, hdr.vaddr, hdr.vaddr);
  const [countBig, tableAt] = readEncoded(b, p, countEnc, hdr.vaddr, hdr.vaddr);
  if (tableEnc !== 0x3b) return undefined; // only datarel|sdata4, what every linker writes, is searched
  const count = Number(countBig);
  if (count <= 0 || tableAt + count * 8 > hdr.bytes.length) return undefined;
  let lo = 0;
  let hi = count - 1;
  let best = -1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const start = hdr.vaddr + BigInt(b.i32(tableAt + mid * 8));
    if (start <= pc) {
      best = mid;
      lo = mid + 1;
    } else hi = mid - 1;
  }
  if (best < 0) return undefined;
  const fdeAddr = hdr.vaddr + BigInt(b.i32(tableAt + best * 8 + 4));
  const off = Number(fdeAddr - ehFrame.vaddr);
  if (off < 0 || off >= ehFrame.bytes.length) return undefined;
  const fde = parseFde(ehFrame, off);
  return fde && pc >= fde.start && pc < fde.end ? fde : undefined;
}

/** Run the CIE's then the FDE's CFA program up to pc; the row in effect at pc. */
export function rowAt(fde: Fde, pc: bigint): Row {
  const sec = fde.section;
  const cie = fde.cie;
  const initial: Row = { cfa: { type: "reg", reg: 0, off: 0n }, regs: new Map(), raSigned: false };
  const state = { loc: fde.start, steps: 0 };
  execute(cie.instructions, cie, initial, undefined, pc, state, sec);
  const row: Row = { cfa: initial.cfa, regs: new Map(initial.regs), raSigned: initial.raSigned };
  state.loc = fde.start;
  execute(fde.instructions, cie, row, initial, pc, state, sec);
  return row;
}

function execute(ins: Uint8Array, cie: Cie, row: Row, initial: Row | undefined, pc: bigint, state: { loc: bigint; steps: number }, sec: FrameSection): void {
  const b = new Bytes(ins);
  const stack: Row[] = [];
  const da = cie.dataAlign;
  let p = 0;
  const uleb = (): bigint => {
    const [v, n] = b.uleb(p);
    p = n;
    return v;
  };
  const sleb = (): bigint => {
    const [v, n] = b.sleb(p);
    p = n;
    return v;
  };
  const block = (): Uint8Array => {
    const len = Number(uleb());
    const out = b.slice(p, len, "CFA expression");
    p += len;
    return out;
  };
  const advance = (delta: bigint): boolean => {
    state.loc += delta * cie.codeAlign;
    return state.loc > pc;
  };
  const restore = (reg: number): void => {
    const r = initial?.regs.get(reg);
    if (r) row.regs.set(reg, r);
    else row.regs.delete(reg);
  };
  while (p < ins.length) {
    if (++state.steps > MAX_CFA_STEPS) throw new RangeError("Cannot run CFA program: too many instructions");
    const op = b.u8(p++);
    const hi = op & 0xc0;
    const low = op & 0x3f;
    if (hi === 0x40) {
      if (advance(BigInt(low))) return;
      continue;
    }
    if (hi === 0x80) {
      row.regs.set(low, { type: "offset", off: uleb() * da });
      continue;
    }
    if (hi === 0xc0) {
      restore(low);
      continue;
    }
    switch (op) {
      case 0x00: break;
      case 0x01: {
        const [v, n] = sec.kind === "eh_frame" ? readEncoded(b, p, cie.fdeEnc, sec.vaddr) : [b.u64(p), p + 8];
        p = n;
        state.loc = v;
        if (state.loc > pc) return;
        break;
      }
      case 0x02: { const d = b.u8(p); p += 1; if (advance(BigInt(d))) return; break; }
      case 0x03: { const d = b.u16(p); p += 2; if (advance(BigInt(d))) return; break; }
      case 0x04: { const d = b.u32(p); p += 4; if (advance(BigInt(d))) return; break; }
      case 0x05: { const r = Number(uleb()); row.regs.set(r, { type: "offset", off: uleb() * da }); break; }
      case 0x06: restore(Number(uleb())); break;
      case 0x07: row.regs.set(Number(uleb()), { type: "undefined" }); break;
      case 0x08: row.regs.set(Number(uleb()), { type: "same" }); break;
      case 0x09: { const r = Number(uleb()); row.regs.set(r, { type: "register", reg: Number(uleb()) }); break; }
      case 0x0a:
        if (stack.length >= MAX_CFA_STATE_DEPTH) throw new RangeError("Cannot run CFA program: remember_state nested too deep");
        stack.push({ cfa: row.cfa, regs: new Map(row.regs), raSigned: row.raSigned });
        break;
      case 0x0b: {
        const s = stack.pop();
        if (s) {
          row.cfa = s.cfa;
          row.regs = s.regs;
          row.raSigned = s.raSigned;
        }
        break;
      }
      case 0x0c: { const r = Number(uleb()); row.cfa = { type: "reg", reg: r, off: uleb() }; break; }
      case 0x0d: { const r = Number(uleb()); row.cfa = { type: "reg", reg: r, off: row.cfa.type === "reg" ? row.cfa.off : 0n }; break; }
      case 0x0e: { const off = uleb(); if (row.cfa.type === "reg") row.cfa = { ...row.cfa, off }; break; }
      case 0x0f: row.cfa = { type: "expr", expr: block() }; break;
      case 0x10: { const r = Number(uleb()); row.regs.set(r, { type: "expr", expr: block() }); break; }
      case 0x11: { const r = Number(uleb()); row.regs.set(r, { type: "offset", off: sleb() * da }); break; }
      case 0x12: { const r = Number(uleb()); row.cfa = { type: "reg", reg: r, off: sleb() * da }; break; }
      case 0x13: { const off = sleb() * da; if (row.cfa.type === "reg") row.cfa = { ...row.cfa, off }; break; }
      case 0x14: { const r = Number(uleb()); row.regs.set(r, { type: "val_offset", off: uleb() * da }); break; }
      case 0x15: { const r = Number(uleb()); row.regs.set(r, { type: "val_offset", off: sleb() * da }); break; }
      case 0x16: { const r = Number(uleb()); row.regs.set(r, { type: "val_expr", expr: block() }); break; }
      case 0x2d: row.raSigned = !row.raSigned; break; // DW_CFA_AARCH64_negate_ra_state
      case 0x2e: uleb(); break; // DW_CFA_GNU_args_size
      case 0x2f: { const r = Number(uleb()); row.regs.set(r, { type: "offset", off: -uleb() * da }); break; }
      default:
        throw new SyntaxError(`Cannot run CFA program "op 0x${op.toString(16)}": unsupported instruction`);
    }
  }
}

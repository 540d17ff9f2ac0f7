// DWARF unit headers, abbreviation tables and attribute values: the
// vocabulary .debug_info is written in (DWARF 5 §7.5; DWARF 4 §7.5 for the
// older headers; GNU extensions from gcc include/dwarf2.def).
import { Bytes } from "../core/bytes.ts";

/** Abbreviation codes at most per table: gcc's largest CUs use a few hundred; more is hostile. */
export const MAX_ABBREVS = 65536;
/** Attributes at most per abbreviation: DWARF 5 defines ~120 attributes; gcc uses < 30 per DIE. */
export const MAX_ABBREV_ATTRS = 256;

export const DW_TAG_compile_unit = 0x11;
export const DW_TAG_partial_unit = 0x3c;
export const DW_TAG_skeleton_unit = 0x4a;
export const DW_TAG_subprogram = 0x2e;
export const DW_TAG_inlined_subroutine = 0x1d;
export const DW_TAG_namespace = 0x39;
export const DW_TAG_class_type = 0x02;
export const DW_TAG_structure_type = 0x13;
export const DW_TAG_union_type = 0x17;
export const DW_TAG_call_site = 0x48;
export const DW_TAG_GNU_call_site = 0x4109;

export const DW_AT_name = 0x03;
export const DW_AT_stmt_list = 0x10;
export const DW_AT_low_pc = 0x11;
export const DW_AT_high_pc = 0x12;
export const DW_AT_language = 0x13;
export const DW_AT_comp_dir = 0x1b;
export const DW_AT_abstract_origin = 0x31;
export const DW_AT_specification = 0x47;
export const DW_AT_ranges = 0x55;
export const DW_AT_call_column = 0x57;
export const DW_AT_call_file = 0x58;
export const DW_AT_call_line = 0x59;
export const DW_AT_declaration = 0x3c;
export const DW_AT_linkage_name = 0x6e;
export const DW_AT_call_all_calls = 0x7a;
export const DW_AT_call_all_tail_calls = 0x7c;
export const DW_AT_call_return_pc = 0x7d;
export const DW_AT_call_origin = 0x7f;
export const DW_AT_call_tail_call = 0x82;
export const DW_AT_call_target = 0x83;
export const DW_AT_str_offsets_base = 0x72;
export const DW_AT_addr_base = 0x73;
export const DW_AT_rnglists_base = 0x74;
export const DW_AT_MIPS_linkage_name = 0x2007;
export const DW_AT_GNU_ranges_base = 0x2132;
export const DW_AT_GNU_addr_base = 0x2133;
export const DW_AT_GNU_call_site_target = 0x2113;
export const DW_AT_GNU_tail_call = 0x2115;
export const DW_AT_GNU_all_tail_call_sites = 0x2116;
export const DW_AT_GNU_all_call_sites = 0x2117;

export const DW_UT_compile = 1;
export const DW_UT_type = 2;
export const DW_UT_partial = 3;
export const DW_UT_skeleton = 4;
export const DW_UT_split_compile = 5;
export const DW_UT_split_type = 6;

export interface AttrSpec {
  name: number;
  form: number;
  /** DW_FORM_implicit_const's value, stored in the abbreviation. */
  implicit: bigint;
}

export interface Abbrev {
  tag: number;
  children: boolean;
  attrs: AttrSpec[];
}

export type AbbrevTable = Map<number, Abbrev>;

/** Parse the abbreviation table at the start of bytes (DWARF 5 §7.5.3); RangeError when it runs past the end. */
export function parseAbbrevs(bytes: Uint8Array): AbbrevTable {
  const b = new Bytes(bytes);
  const table: AbbrevTable = new Map();
  let p = 0;
  for (let n = 0; ; n++) {
    if (n >= MAX_ABBREVS) throw new SyntaxError(`Cannot read abbreviation table: over ${MAX_ABBREVS} entries`);
    const [code, p1] = b.ulebNumber(p);
    if (code === 0) break;
    const [tag, p2] = b.ulebNumber(p1);
    const children = b.u8(p2, "abbreviation children") !== 0;
    p = p2 + 1;
    const attrs: AttrSpec[] = [];
    for (;;) {
      const [name, q1] = b.ulebNumber(p);
      const [form, q2] = b.ulebNumber(q1);
      p = q2;
      if (name === 0 && form === 0) break;
      let implicit = 0n;
      if (form === FORM.implicit_const) [implicit, p] = b.sleb(p);
      if (attrs.length >= MAX_ABBREV_ATTRS) throw new SyntaxError(`Cannot read abbreviation ${code}: over ${MAX_ABBREV_ATTRS} attributes`);
      attrs.push({ name, form, implicit });
    }
    if (!table.has(code)) table.set(code, { tag, children, attrs });
  }
  return table;
}

export interface UnitHeader {
  /** Section offset of the unit's first byte (its unit_length). */
  offset: number;
  /** Section offset just past the unit. */
  end: number;
  version: number;
  unitType: number;
  offsetSize: 4 | 8;
  addrSize: number;
  abbrevOffset: number;
  /** Section offset of the unit's first DIE. */
  dieOffset: number;
}

/** The largest unit header: 64-bit unit_length (12) + version, type, address size (4) + abbrev offset (8) + type signature and offset (16). */
export const MAX_UNIT_HEADER_BYTES = 40;

/** Parse a .debug_info unit header; bytes start at the unit (section offset `at`). */
export function parseUnitHeader(bytes: Uint8Array, at: number): UnitHeader {
  const b = new Bytes(bytes);
  let [length, p] = initialLength(b, 0);
  const offsetSize: 4 | 8 = p === 12 ? 8 : 4;
  const end = at + p + length;
  const version = b.u16(p, "unit version");
  p += 2;
  if (version < 2 || version > 5) throw new SyntaxError(`Cannot read unit at offset ${at} "version ${version}": unsupported`);
  let unitType = DW_UT_compile;
  let addrSize: number;
  let abbrevOffset: number;
  if (version >= 5) {
    unitType = b.u8(p++, "unit type");
    addrSize = b.u8(p++, "address size");
    abbrevOffset = offsetAt(b, p, offsetSize);
    p += offsetSize;
    if (unitType === DW_UT_skeleton || unitType === DW_UT_split_compile) p += 8;
    else if (unitType === DW_UT_type || unitType === DW_UT_split_type) p += 8 + offsetSize;
  } else {
    abbrevOffset = offsetAt(b, p, offsetSize);
    p += offsetSize;
    addrSize = b.u8(p++, "address size");
  }
  if (addrSize !== 4 && addrSize !== 8) throw new SyntaxError(`Cannot read unit at offset ${at} "address size ${addrSize}": unsupported`);
  if (end < at + p) throw new SyntaxError(`Cannot read unit at offset ${at}: its length ${length} is shorter than its header`);
  return { offset: at, end, version, unitType, offsetSize, addrSize, abbrevOffset, dieOffset: at + p };
}

/** unit_length (DWARF 5 §7.4): 32-bit, or 0xffffffff then 64-bit; [length, next]. */
export function initialLength(b: Bytes, p: number): [number, number] {
  const l = b.u32(p, "unit length");
  if (l < 0xfffffff0) return [l, p + 4];
  if (l !== 0xffffffff) throw new SyntaxError(`Cannot read unit length 0x${l.toString(16)}: reserved value`);
  return [b.size(p + 4, "64-bit unit length"), p + 12];
}

export function offsetAt(b: Bytes, p: number, size: number): number {
  return size === 8 ? b.size(p, "offset") : b.u32(p, "offset");
}

export function addrAt(b: Bytes, p: number, size: number): bigint {
  return size === 8 ? b.u64(p, "address") : BigInt(b.u32(p, "address"));
}

/** DW_FORM_* codes (DWARF 5 §7.5.6, Table 7.6) and GNU extensions (include/dwarf2.def). */
export const FORM = {
  addr: 0x01, block2: 0x03, block4: 0x04, data2: 0x05, data4: 0x06, data8: 0x07, string: 0x08, block: 0x09, block1: 0x0a,
  data1: 0x0b, flag: 0x0c, sdata: 0x0d, strp: 0x0e, udata: 0x0f, ref_addr: 0x10, ref1: 0x11, ref2: 0x12, ref4: 0x13,
  ref8: 0x14, ref_udata: 0x15, indirect: 0x16, sec_offset: 0x17, exprloc: 0x18, flag_present: 0x19, strx: 0x1a,
  addrx: 0x1b, ref_sup4: 0x1c, strp_sup: 0x1d, data16: 0x1e, line_strp: 0x1f, ref_sig8: 0x20, implicit_const: 0x21,
  loclistx: 0x22, rnglistx: 0x23, ref_sup8: 0x24, strx1: 0x25, strx2: 0x26, strx3: 0x27, strx4: 0x28, addrx1: 0x29,
  addrx2: 0x2a, addrx3: 0x2b, addrx4: 0x2c, GNU_addr_index: 0x1f01, GNU_str_index: 0x1f02, GNU_ref_alt: 0x1f20,
  GNU_strp_alt: 0x1f21,
} as const;

/** An attribute value, as far as this reader uses it; kinds it never looks into are "none". */
export type Value =
  | { k: "const"; v: bigint } // data*, udata, sdata, implicit_const, flag
  | { k: "addr"; v: bigint }
  | { k: "addrx"; v: bigint } // index into .debug_addr from DW_AT_addr_base
  | { k: "str"; v: string }
  | { k: "strp"; v: number } // .debug_str offset
  | { k: "line_strp"; v: number } // .debug_line_str offset
  | { k: "strx"; v: bigint } // index into .debug_str_offsets from DW_AT_str_offsets_base
  | { k: "ref"; v: number } // .debug_info offset (unit-relative refs already made absolute)
  | { k: "altref"; v: number } // .debug_info offset in the supplementary (dwz) file
  | { k: "altstrp"; v: number } // .debug_str offset in the supplementary file
  | { k: "sec"; v: number } // offset into another section (sec_offset)
  | { k: "rnglistx"; v: bigint }
  | { k: "none"; why: string };

const NONE: Value = { k: "none", why: "" };

/** Context a form needs: the unit's sizes and where it starts (for unit-relative references). */
export interface FormContext {
  version: number;
  offsetSize: number;
  addrSize: number;
  unitOffset: number;
}

const DECODER = new TextDecoder("utf-8", { fatal: false });
/** An inline string (DW_FORM_string) is at most this long: C++ names run to a few KiB. */
export const MAX_INLINE_STRING = 65536;

/** Attribute values of one unit (or line table header): its bytes and sizes, read or skipped by abbreviation entry. */
export class FormReader {
  constructor(private readonly b: Bytes, private readonly u: FormContext) {}
  /** The value of attribute `a` at p; [value, next]. */
  read(p: number, a: AttrSpec): [Value, number] {
    return readForm(this.b, p, a.form, this.u, a.implicit, true);
  }
  /** The offset past attribute `a` at p (its value decoded no further than needed). */
  skip(p: number, a: AttrSpec): number {
    return readForm(this.b, p, a.form, this.u, a.implicit, false)[1];
  }
}

/** Read one attribute value of `form` at p; [value, next]. With want=false the value is skipped (cheaper). */
function readForm(b: Bytes, p: number, form: number, u: FormContext, implicit: bigint, want: boolean): [Value, number] {
  switch (form) {
    case FORM.addr: return [want ? { k: "addr", v: addrAt(b, p, u.addrSize) } : NONE, check(b, p, u.addrSize)];
    case FORM.data1: case FORM.ref1: case FORM.flag: case FORM.strx1: case FORM.addrx1: {
      const v = b.u8(p, "data1");
      return [want ? small(form, v, u) : NONE, p + 1];
    }
    case FORM.data2: case FORM.ref2: case FORM.strx2: case FORM.addrx2: {
      const v = b.u16(p, "data2");
      return [want ? small(form, v, u) : NONE, p + 2];
    }
    case FORM.strx3: case FORM.addrx3: {
      const v = b.u16(p, "data3") | (b.u8(p + 2, "data3") << 16);
      return [want ? small(form, v, u) : NONE, p + 3];
    }
    case FORM.data4: case FORM.ref4: case FORM.strx4: case FORM.addrx4: case FORM.ref_sup4: {
      const v = b.u32(p, "data4");
      return [want ? small(form, v, u) : NONE, p + 4];
    }
    case FORM.data8: case FORM.ref_sig8: case FORM.ref_sup8: {
      const v = b.u64(p, "data8");
      if (!want) return [NONE, p + 8];
      if (form === FORM.data8) return [{ k: "const", v }, p + 8];
      if (form === FORM.ref_sup8) return [{ k: "altref", v: Number(BigInt.asUintN(52, v)) }, p + 8];
      return [{ k: "none", why: "type unit reference" }, p + 8];
    }
    case FORM.ref8: {
      const v = b.size(p, "ref8");
      return [want ? { k: "ref", v: u.unitOffset + v } : NONE, p + 8];
    }
    case FORM.data16: return [NONE, check(b, p, 16)];
    case FORM.sdata: {
      if (!want) return [NONE, skipLeb(b, p)];
      const [v, n] = b.sleb(p);
      return [{ k: "const", v }, n];
    }
    case FORM.udata: case FORM.ref_udata: case FORM.strx: case FORM.addrx: case FORM.rnglistx: case FORM.loclistx:
    case FORM.GNU_addr_index: case FORM.GNU_str_index: {
      if (!want) return [NONE, skipLeb(b, p)];
      const [v, n] = b.uleb(p);
      switch (form) {
        case FORM.udata: return [{ k: "const", v }, n];
        case FORM.ref_udata: return [{ k: "ref", v: u.unitOffset + safe(v) }, n];
        case FORM.strx: case FORM.GNU_str_index: return [{ k: "strx", v }, n];
        case FORM.addrx: case FORM.GNU_addr_index: return [{ k: "addrx", v }, n];
        case FORM.rnglistx: return [{ k: "rnglistx", v }, n];
        default: return [NONE, n];
      }
    }
    case FORM.implicit_const: return [want ? { k: "const", v: implicit } : NONE, p];
    case FORM.flag_present: return [want ? { k: "const", v: 1n } : NONE, p];
    case FORM.string: {
      const [s, n] = b.cstr(p, MAX_INLINE_STRING, "string");
      if (n > b.length) throw new RangeError(`Cannot read string at offset ${p}: no NUL before the end`);
      return [want ? { k: "str", v: s } : NONE, n];
    }
    case FORM.strp: case FORM.line_strp: case FORM.sec_offset: case FORM.ref_addr: case FORM.strp_sup: case FORM.GNU_ref_alt:
    case FORM.GNU_strp_alt: {
      // DWARF 2 wrote DW_FORM_ref_addr address-sized (DWARF 3 §7.5.4 changed it to offset-sized)
      const size = form === FORM.ref_addr && u.version === 2 ? u.addrSize : u.offsetSize;
      const v = offsetAt(b, p, size);
      if (!want) return [NONE, p + size];
      switch (form) {
        case FORM.strp: return [{ k: "strp", v }, p + size];
        case FORM.line_strp: return [{ k: "line_strp", v }, p + size];
        case FORM.sec_offset: return [{ k: "sec", v }, p + size];
        case FORM.ref_addr: return [{ k: "ref", v }, p + size];
        case FORM.GNU_ref_alt: return [{ k: "altref", v }, p + size];
        default: return [{ k: "altstrp", v }, p + size]; // DW_FORM_GNU_strp_alt, DW_FORM_strp_sup
      }
    }
    case FORM.block1: return [NONE, check(b, p + 1, b.u8(p, "block1 length"))];
    case FORM.block2: return [NONE, check(b, p + 2, b.u16(p, "block2 length"))];
    case FORM.block4: return [NONE, check(b, p + 4, b.u32(p, "block4 length"))];
    case FORM.block: case FORM.exprloc: {
      const [len, n] = b.ulebNumber(p);
      return [NONE, check(b, n, len)];
    }
    case FORM.indirect: {
      const [f, n] = b.uleb(p);
      if (f === BigInt(FORM.indirect) || f === BigInt(FORM.implicit_const)) throw new SyntaxError(`Cannot read attribute at offset ${p}: DW_FORM_indirect names form 0x${f.toString(16)}`);
      return readForm(b, n, Number(f & 0xffffn), u, implicit, want);
    }
    default:
      throw new SyntaxError(`Cannot read attribute form 0x${form.toString(16)}: unknown`);
  }
}

/** Past a LEB128 without decoding it. */
function skipLeb(b: Bytes, p: number): number {
  while (b.u8(p++, "LEB128") & 0x80);
  return p;
}

function small(form: number, v: number, u: FormContext): Value {
  switch (form) {
    case FORM.ref1: case FORM.ref2: case FORM.ref4: return { k: "ref", v: u.unitOffset + v };
    case FORM.strx1: case FORM.strx2: case FORM.strx3: case FORM.strx4: return { k: "strx", v: BigInt(v) };
    case FORM.addrx1: case FORM.addrx2: case FORM.addrx3: case FORM.addrx4: return { k: "addrx", v: BigInt(v) };
    case FORM.ref_sup4: return { k: "altref", v };
    default: return { k: "const", v: BigInt(v) };
  }
}

function check(b: Bytes, p: number, n: number): number {
  b.check(p, n, "attribute");
  return p + n;
}

function safe(v: bigint): number {
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new RangeError(`Cannot use value 0x${v.toString(16)}: too large`);
  return Number(v);
}

export function decode(bytes: Uint8Array): string {
  return DECODER.decode(bytes);
}

/**
 * The bytes of a DIE with this abbreviation when every form has a fixed size
 * in the unit (most DIEs: types, members, variables), else -1: such DIEs are
 * skipped in one step, not attribute by attribute.
 */
export function fixedSize(ab: Abbrev, u: FormContext): number {
  let n = 0;
  for (const a of ab.attrs) {
    switch (a.form) {
      case FORM.implicit_const: case FORM.flag_present: break;
      case FORM.data1: case FORM.ref1: case FORM.flag: case FORM.strx1: case FORM.addrx1: n += 1; break;
      case FORM.data2: case FORM.ref2: case FORM.strx2: case FORM.addrx2: n += 2; break;
      case FORM.strx3: case FORM.addrx3: n += 3; break;
      case FORM.data4: case FORM.ref4: case FORM.strx4: case FORM.addrx4: case FORM.ref_sup4: n += 4; break;
      case FORM.data8: case FORM.ref8: case FORM.ref_sig8: case FORM.ref_sup8: n += 8; break;
      case FORM.data16: n += 16; break;
      case FORM.addr: n += u.addrSize; break;
      case FORM.strp: case FORM.line_strp: case FORM.sec_offset: case FORM.strp_sup: case FORM.GNU_ref_alt: case FORM.GNU_strp_alt:
        n += u.offsetSize;
        break;
      case FORM.ref_addr: n += u.version === 2 ? u.addrSize : u.offsetSize; break;
      default: return -1;
    }
  }
  return n;
}

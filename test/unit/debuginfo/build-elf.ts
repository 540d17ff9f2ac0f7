// Test helper: a minimal ELF64 little-endian file holding the given sections
// (elf(5): header, section data, .shstrtab, section headers), and the DWARF
// encodings to write hand-made debug sections with.

export interface SectionSpec {
  name: string;
  data: Uint8Array;
  flags?: bigint;
}

export function elfWith(sections: SectionSpec[]): Uint8Array {
  const names = ["", ...sections.map((s) => s.name), ".shstrtab"];
  const strtab: number[] = [];
  const nameOff = names.map((n) => {
    const at = strtab.length;
    strtab.push(...new TextEncoder().encode(n), 0);
    return at;
  });
  const datas = [...sections.map((s) => s.data), Uint8Array.from(strtab)];
  let off = 64;
  const offsets = datas.map((d) => {
    const at = off;
    off += d.length + ((8 - (d.length % 8)) % 8);
    return at;
  });
  const shoff = off;
  const shnum = datas.length + 1;
  const out = new Uint8Array(shoff + shnum * 64);
  const v = new DataView(out.buffer);
  out.set([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1]);
  v.setUint16(16, 1, true); // ET_REL
  v.setUint16(18, 62, true); // EM_X86_64
  v.setUint32(20, 1, true);
  v.setBigUint64(40, BigInt(shoff), true);
  v.setUint16(52, 64, true);
  v.setUint16(58, 64, true);
  v.setUint16(60, shnum, true);
  v.setUint16(62, shnum - 1, true);
  datas.forEach((d, i) => {
    out.set(d, offsets[i] as number);
    const h = shoff + (i + 1) * 64;
    v.setUint32(h, nameOff[i + 1] as number, true);
    v.setUint32(h + 4, i === datas.length - 1 ? 3 : 1, true); // SHT_STRTAB / SHT_PROGBITS
    v.setBigUint64(h + 8, sections[i]?.flags ?? 0n, true);
    v.setBigUint64(h + 24, BigInt(offsets[i] as number), true);
    v.setBigUint64(h + 32, BigInt(d.length), true);
  });
  return out;
}

export function uleb(v: number | bigint): number[] {
  let x = BigInt(v);
  const out: number[] = [];
  do {
    let b = Number(x & 0x7fn);
    x >>= 7n;
    if (x !== 0n) b |= 0x80;
    out.push(b);
  } while (x !== 0n);
  return out;
}

export function u16(v: number): number[] {
  return [v & 0xff, (v >> 8) & 0xff];
}

export function u32(v: number): number[] {
  return [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff];
}

export function u64(v: bigint): number[] {
  return [...u32(Number(v & 0xffffffffn)), ...u32(Number(v >> 32n))];
}

export function cstr(s: string): number[] {
  return [...new TextEncoder().encode(s), 0];
}

/** An abbreviation: code, tag, has-children, [attribute, form] pairs. */
export type AbbrevSpec = [number, number, boolean, Array<[number, number]>];

export function abbrevs(list: AbbrevSpec[]): Uint8Array {
  const out: number[] = [];
  for (const [code, tag, children, attrs] of list) {
    out.push(...uleb(code), ...uleb(tag), children ? 1 : 0);
    for (const [a, f] of attrs) out.push(...uleb(a), ...uleb(f));
    out.push(0, 0);
  }
  out.push(0);
  return Uint8Array.from(out);
}

/** A DWARF 5 compile unit (32-bit) around the DIE bytes; unit_length may be forced. */
export function unit5(dies: number[], opts: { length?: number; abbrevOffset?: number } = {}): Uint8Array {
  const body = [...u16(5), 1 /* DW_UT_compile */, 8, ...u32(opts.abbrevOffset ?? 0), ...dies];
  return Uint8Array.from([...u32(opts.length ?? body.length), ...body]);
}

/** A DWARF 5 line program: one directory, one file (inline strings), then the program bytes. */
export function line5(program: number[], opts: { fileCount?: number | bigint } = {}): Uint8Array {
  const header = [
    1, 1, 1, -5 & 0xff, 14, 13, 0, 1, 1, 1, 1, 0, 0, 0, 1, 0, 0, 1, // min_inst, max_ops, default_is_stmt, line_base, line_range, opcode_base, std lengths
    1, ...uleb(1), 0x08, ...uleb(1), ...cstr("/src"), // directories: DW_LNCT_path DW_FORM_string
    2, ...uleb(1), 0x08, ...uleb(2), 0x0b, ...uleb(opts.fileCount ?? 1), // files: path string, dir index data1
    ...cstr("a.c"), 0,
  ];
  const afterLength = [...u16(5), 8, 0, ...u32(header.length), ...header, ...program];
  return Uint8Array.from([...u32(afterLength.length), ...afterLength]);
}

// Finding the mapped modules of a core without NT_FILE (qemu-user writes
// none): the executable from the auxiliary vector (AT_PHDR, AT_EXECFN), then
// the dynamic linker's list of loaded objects, as gdb's solib-svr4 does:
// DT_DEBUG in the executable's dynamic section → struct r_debug → link_map.
// Layouts: elf(5) Elf64_Dyn; glibc elf/link.h (struct r_debug, struct link_map).
import { ElfImage } from "./elf-image.ts";
import { PT_DYNAMIC, PT_LOAD } from "./elf.ts";
import type { FileMapping, FileNote } from "./notes.ts";
import type { Core } from "./reader.ts";

const AT_PHDR = 3;
const AT_BASE = 7;
const AT_ENTRY = 9;
const AT_EXECFN = 31;
const PT_PHDR = 6;
const PT_INTERP = 3;
const DT_NULL = 0n;
const DT_DEBUG = 21n;
/** link_map entries followed at most: the list is one per loaded object. */
const MAX_LINK_MAPS = 1024;
/** Dynamic entries read at most: an executable has ~40. */
const MAX_DYN_ENTRIES = 512;
/** Longest path read from process memory (PATH_MAX). */
const MAX_PATH = 4096;

export type ImageLoader = (path: string) => ElfImage | undefined;

function cstring(core: Core, addr: bigint): string | undefined {
  const bytes: number[] = [];
  for (let i = 0; i < MAX_PATH; i++) {
    const b = core.memory.read(addr + BigInt(i), 1);
    if (!b) return undefined;
    if (b[0] === 0) return new TextDecoder().decode(Uint8Array.from(bytes));
    bytes.push(b[0] as number);
  }
  return undefined;
}

function mappingsOf(image: ElfImage, bias: bigint, path: string): FileMapping[] {
  return image.phdrs
    .filter((p) => p.type === PT_LOAD)
    .map((p) => {
      const start = (bias + p.vaddr) & ~0xfffn;
      const end = (bias + p.vaddr + p.memsz + 0xfffn) & ~0xfffn;
      return { start, end, offset: BigInt(p.offset) & ~0xfffn, path };
    });
}

/** A stand-in for NT_FILE built from the auxv and the link_map list; undefined when the executable is unknown. */
export function fileNoteFromLinkMap(core: Core, load: ImageLoader, warnings: string[]): FileNote | undefined {
  const aux = new Map(core.auxv);
  const execfn = aux.get(AT_EXECFN);
  const exePath = (execfn !== undefined ? cstring(core, execfn) : undefined) ?? core.psinfo?.psargs.split(" ")[0];
  if (!exePath) return undefined;
  const exe = load(exePath);
  if (!exe) {
    warnings.push(`no NT_FILE note and the executable "${exePath}" is not readable: modules unknown`);
    return { pageSize: 4096, mappings: [], incomplete: true };
  }
  const phdr = exe.phdrs.find((p) => p.type === PT_PHDR);
  const atPhdr = aux.get(AT_PHDR);
  const atEntry = aux.get(AT_ENTRY);
  const exeBias = phdr && atPhdr !== undefined ? atPhdr - phdr.vaddr : atEntry !== undefined ? atEntry - exe.header.entry : 0n;
  const mappings = mappingsOf(exe, exeBias, exePath);
  const seen = new Set<string>([exePath]);
  let incomplete = false;
  // DT_DEBUG → r_debug.r_map (offset 8) → link_map {l_addr 0, l_name 8, l_ld 16, l_next 24}.
  const dyn = exe.phdrs.find((p) => p.type === PT_DYNAMIC);
  let rDebug: bigint | undefined;
  for (let i = 0; dyn && i < MAX_DYN_ENTRIES; i++) {
    const at = exeBias + dyn.vaddr + BigInt(i * 16);
    const tag = core.memory.u64(at);
    if (tag === undefined || tag === DT_NULL) break;
    if (tag === DT_DEBUG) rDebug = core.memory.u64(at + 8n);
  }
  let lm = rDebug ? core.memory.u64(rDebug + 8n) : undefined;
  const visited = new Set<bigint>();
  for (let n = 0; lm && n < MAX_LINK_MAPS && !visited.has(lm); n++) {
    visited.add(lm);
    const lAddr = core.memory.u64(lm);
    const lName = core.memory.u64(lm + 8n);
    const next = core.memory.u64(lm + 24n);
    if (lAddr === undefined || lName === undefined) {
      incomplete = true;
      break;
    }
    const name = lName ? cstring(core, lName) : undefined;
    if (name && name.startsWith("/") && !seen.has(name)) {
      seen.add(name);
      const image = load(name);
      if (image) mappings.push(...mappingsOf(image, lAddr, name));
      else warnings.push(`module "${name}" is not readable, ignoring`);
    }
    lm = next;
  }
  // The dynamic linker itself, if the list was not readable.
  const base = aux.get(AT_BASE);
  const interp = exe.phdrs.find((p) => p.type === PT_INTERP);
  if (base && interp) {
    const name = exe.read(interp.vaddr, Math.max(0, interp.filesz - 1));
    const path = name ? new TextDecoder().decode(name) : undefined;
    if (path && !seen.has(path)) {
      const image = load(path);
      if (image) mappings.push(...mappingsOf(image, base, path));
    }
  }
  if (rDebug === undefined && dyn) {
    incomplete = true;
    warnings.push("no NT_FILE note and no readable r_debug: shared libraries unknown");
  }
  return { pageSize: 4096, mappings, incomplete };
}

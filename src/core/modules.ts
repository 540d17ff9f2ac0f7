// The modules of a crashed process: the executable and shared objects named
// in NT_FILE (found on the filesystem, under a sysroot, or through the crashed
// process's own /proc/PID/root) and the vDSO (from core memory), each with its
// load bias, so that a pc maps to a file address.
import { closeSync, constants, fstatSync, openSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { ElfImage } from "./elf-image.ts";
import { PF_X } from "./elf.ts";
import { fileNoteFromLinkMap } from "./link-map.ts";
import type { Core } from "./reader.ts";

/** Mapped files loaded at most: a large process maps ~500 libraries. */
export const MAX_MODULES = 1024;
/** Largest mapped file read for CFI and symbols; larger ones are listed without them. */
export const MAX_MODULE_FILE_BYTES = 1024 * 1024 * 1024;

const AT_SYSINFO_EHDR = 33;

export interface Mapping {
  start: bigint;
  end: bigint;
  /** Offset in the mapped file (0 for anonymous memory). */
  offset: bigint;
  /** r, w, x from the core's PT_LOAD flags. */
  perms: string;
  path: string | undefined;
}

export interface Module {
  path: string;
  /** Lowest mapped address. */
  start: bigint;
  end: bigint;
  /** Runtime address minus link-time address. */
  bias: bigint;
  /** The file's image, read on first use when the core kept the ELF header page. */
  readonly image: ElfImage | undefined;
  buildId: string | undefined;
  /** Why the file could not be used, once it was needed. */
  problem: string | undefined;
}

export interface ModuleSet {
  modules: Module[];
  mappings: Mapping[];
  moduleAt(addr: bigint): Module | undefined;
  mappingAt(addr: bigint): Mapping | undefined;
  /** Bytes from core memory, else from the module file that maps them. */
  read(addr: bigint, n: number): Uint8Array | undefined;
  warnings: string[];
  /** Path of the executable: the first file mapped at offset 0. */
  exe: string | undefined;
}

export interface ModuleOptions {
  /**
   * Where the mapped paths are looked up: a directory they are resolved under
   * ("/" or undefined: the live filesystem), or several tried in order (the
   * pipe handler's /proc/PID/root, then its root prefix). The first file whose
   * build-id is the one the crashed process mapped is used.
   */
  sysroot?: string | readonly string[] | undefined;
}

const imageCache = new Map<string, ElfImage>();

/**
 * A mapped file's image, read whole. Opened O_NONBLOCK and checked to be a
 * regular file before any read: under /proc/PID/root the path is the crashed
 * process's, and a FIFO or device planted there must not hang the handler
 * (the kernel keeps the process until the handler exits). Not Bun.mmap: it
 * opens the file O_RDWR even with { shared: false } (seen with strace), and
 * while a shared object or executable is open for writing every exec(2) of it
 * fails with ETXTBSY (fs/exec.c deny_write_access); on a read-only root it
 * fails outright.
 */
function loadImage(file: string): ElfImage {
  let fd: number;
  try {
    fd = openSync(file, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY);
  } catch (err) {
    const code = (err as { code?: string }).code;
    throw new Error(`Cannot open module "${file}": ${code === "ENOENT" ? "no such file" : (code ?? String(err))}`);
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw new Error(`Cannot read module "${file}": not a regular file`);
    if (st.size > MAX_MODULE_FILE_BYTES) throw new Error(`Cannot read module "${file}": larger than ${MAX_MODULE_FILE_BYTES} bytes`);
    // keyed by the file's identity, size and mtime: the watch daemon lives across library upgrades
    const key = `${st.dev}:${st.ino}:${st.size}:${st.mtimeMs}`;
    let image = imageCache.get(key);
    if (!image) {
      image = new ElfImage(readFileSync(fd));
      if (imageCache.size > MAX_MODULES) imageCache.clear();
      imageCache.set(key, image);
    }
    return image;
  } finally {
    closeSync(fd);
  }
}

interface Found {
  image: ElfImage | undefined;
  /** A file at the path whose build-id is not the wanted one (the first seen). */
  other: ElfImage | undefined;
  /** Why no file was used. */
  problem: string | undefined;
}

/** The first file at PATH under ROOTS whose build-id is WANT (any file when either build-id is unknown). */
function findImage(path: string, roots: readonly string[], want: string | undefined): Found {
  let other: ElfImage | undefined;
  const problems: string[] = [];
  for (const root of roots) {
    let image: ElfImage;
    try {
      image = loadImage(root === "/" ? path : join(root, path));
    } catch (err) {
      problems.push(err instanceof Error ? err.message : String(err));
      continue;
    }
    if (want && image.buildId && image.buildId !== want) {
      other ??= image;
      continue;
    }
    return { image, other: undefined, problem: undefined };
  }
  return { image: undefined, other, problem: other ? "build-id differs from the crashed process" : problems.join("; ") };
}

function mismatch(path: string, other: ElfImage, mapped: string | undefined): string {
  return `module "${path}" has build-id ${other.buildId} but the crashed process mapped ${mapped}, ignoring the file`;
}

export function loadModules(core: Core, options: ModuleOptions = {}): ModuleSet {
  const warnings: string[] = [];
  const roots = typeof options.sysroot === "string" ? [options.sysroot || "/"] : options.sysroot?.length ? options.sysroot : ["/"];
  const files = core.files?.mappings ?? fileNoteFromLinkMap(core, (p) => findImage(p, roots, undefined).image, warnings)?.mappings ?? [];
  const fileByStart = new Map(files.map((m) => [m.start, m] as const));
  const mappings: Mapping[] = core.segments.map((s) => {
    const f = fileByStart.get(s.vaddr) ?? (core.files ? undefined : files.find((m) => s.vaddr >= m.start && s.vaddr < m.end));
    const perms = (s.flags & 4 ? "r" : "-") + (s.flags & 2 ? "w" : "-") + (s.flags & PF_X ? "x" : "-");
    return { start: s.vaddr, end: s.vaddr + s.memsz, offset: f?.offset ?? 0n, perms, path: f?.path };
  });
  const byPath = new Map<string, typeof files>();
  for (const m of files) {
    const list = byPath.get(m.path) ?? [];
    list.push(m);
    byPath.set(m.path, list);
  }
  const modules: Module[] = [];
  for (const [path, maps] of byPath) {
    if (modules.length >= MAX_MODULES) {
      warnings.push(`more than ${MAX_MODULES} mapped files, ignoring the rest`);
      break;
    }
    const first = maps.find((m) => m.offset === 0n);
    if (!first) continue; // not an ELF image mapped from its start (a data file window)
    const start = maps.reduce((a, m) => (m.start < a ? m.start : a), first.start);
    const end = maps.reduce((a, m) => (m.end > a ? m.end : a), first.end);
    const head = core.memory.read(first.start, 4);
    const headIsElf = head ? head[0] === 0x7f && head[1] === 0x45 && head[2] === 0x4c && head[3] === 0x46 : undefined;
    if (headIsElf === false) continue; // mapped file that is not ELF (locale archive, fonts, ...)
    const header = headerImage(core, first.start);
    if (header) {
      // The kernel kept the ELF header page (coredump_filter bit 4, on by default): bias and
      // build-id come from it, and the file is read only if a frame falls in it.
      const link = header.vaddrOfOffset(0n) ?? header.firstLoad?.vaddr ?? 0n;
      modules.push(lazyModule({ path, start, end, bias: first.start - link, buildId: header.buildId }, () => findImage(path, roots, header.buildId), warnings));
      continue;
    }
    const memId = buildIdFromMemory(core, first.start);
    const { image, other, problem } = findImage(path, roots, memId);
    if (!image && !other && (path.endsWith(" (deleted)") || headIsElf !== true)) continue;
    if (other) warnings.push(mismatch(path, other, memId));
    // a file with another build-id still gives the bias: its layout is the likeliest
    const layout = image ?? other;
    const bias = layout ? first.start - (layout.vaddrOfOffset(0n) ?? layout.firstLoad?.vaddr ?? 0n) : first.start;
    modules.push({ path, start, end, bias, image, buildId: memId ?? other?.buildId ?? image?.buildId, problem });
  }
  const vdso = core.auxv.find(([t]) => t === AT_SYSINFO_EHDR)?.[1];
  if (vdso !== undefined) {
    const seg = core.segments.find((s) => s.vaddr === vdso);
    const bytes = seg ? core.memory.read(vdso, Math.min(seg.filesz, 64 * 1024)) : undefined;
    if (seg && bytes) {
      try {
        const image = new ElfImage(bytes);
        const link = image.firstLoad?.vaddr ?? 0n;
        modules.push({ path: "[vdso]", start: vdso, end: vdso + seg.memsz, bias: vdso - link, image, buildId: image.buildId, problem: undefined });
      } catch {
        warnings.push("the vDSO image in the core is not readable, ignoring");
      }
    }
  }
  modules.sort((a, b) => (a.start < b.start ? -1 : 1));
  for (const m of mappings) if (m.path === undefined && vdso !== undefined && m.start === vdso) m.path = "[vdso]";
  const sorted = [...mappings].sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : 0));
  const mappingAt = (addr: bigint): Mapping | undefined => {
    let lo = 0;
    let hi = sorted.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const m = sorted[mid] as Mapping;
      if (addr < m.start) hi = mid - 1;
      else if (addr >= m.end) lo = mid + 1;
      else return m;
    }
    return undefined;
  };
  const moduleAt = (addr: bigint): Module | undefined => {
    const map = mappingAt(addr);
    if (map?.path) {
      const m = modules.find((x) => x.path === map.path);
      if (m) return m;
    }
    return modules.find((x) => addr >= x.start && addr < x.end);
  };
  const read = (addr: bigint, n: number): Uint8Array | undefined => {
    const b = core.memory.read(addr, n);
    if (b) return b;
    const mod = moduleAt(addr);
    return mod?.image?.read(addr - mod.bias, n);
  };
  const exe = files.find((m) => m.offset === 0n && m.path.startsWith("/"))?.path;
  return { modules, mappings, moduleAt, mappingAt, read, warnings, exe };
}

/** The ELF header page kept from the core, as an image (phdrs and build-id note only). */
function headerImage(core: Core, start: bigint): ElfImage | undefined {
  const page = core.memory.read(start, 4096);
  if (!page) return undefined;
  try {
    const image = new ElfImage(page);
    return image.firstLoad ? image : undefined;
  } catch {
    return undefined;
  }
}

/** A module whose file is read on first use of its image; a build-id mismatch refuses the file. */
function lazyModule(base: Omit<Module, "image" | "problem">, load: () => Found, warnings: string[]): Module {
  let loaded = false;
  let image: ElfImage | undefined;
  const mod: Module = {
    ...base,
    problem: undefined,
    get image(): ElfImage | undefined {
      if (!loaded) {
        loaded = true;
        const found = load();
        if (found.other) warnings.push(mismatch(base.path, found.other, base.buildId));
        image = found.image;
        mod.problem = found.problem;
      }
      return image;
    },
  };
  return mod;
}

/** NT_GNU_BUILD_ID from the ELF header page kept from the core (PT_NOTE inside that page). */
function buildIdFromMemory(core: Core, start: bigint): string | undefined {
  const page = core.memory.read(start, 4096);
  if (!page) return undefined;
  try {
    const image = new ElfImage(page);
    if (image.buildId) return image.buildId;
    // Notes are located by vaddr for shared objects (offset == vaddr in the first page).
    return undefined;
  } catch {
    return undefined;
  }
}

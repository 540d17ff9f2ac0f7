// The collector's one symbolization step: every stored report goes through
// symbolizeReport, on arrival and again with `collect --resymbolize`. The
// symbolizer of record (debug info: file:line, inlined frames, debuginfod) is
// being built on its own branches; until it is on main this step does what the
// core's ELF reader can: for frames without a function name, find the module's
// file in the debug directories (by build-id, <dir>/.build-id/xx/rest.debug,
// then by its path under <dir>, then by its name in <dir>), check the build-id,
// and name the function from .symtab/.dynsym. Swap the body for the library
// call when it lands; nothing else reads more than its result.
import { closeSync, fstatSync, openSync, readSync } from "node:fs";
import { basename, join } from "node:path";
import type { Report, ReportFrame } from "../core/report.ts";
import { ElfImage } from "../core/elf-image.ts";

/** Largest debug file read whole into memory. */
const MAX_DEBUG_FILE_BYTES = 512 * 1024 * 1024;
/** Debug files kept open (parsed) between reports. */
const MAX_CACHED_IMAGES = 32;

export interface SymbolizeOptions {
  debugDirs: readonly string[];
  debuginfod: string | undefined;
}

export interface Symbolized {
  report: Report;
  /** Frames that got a function name in this step. */
  named: number;
}

/** Parsed debug files by path, valid while the file's size and mtime stay the same (debug files may be added or replaced while the collector runs). */
const cache = new Map<string, { stamp: string; image: ElfImage | null }>();

function readImage(path: string): ElfImage | null {
  let fd: number;
  try {
    fd = openSync(path, "r");
  } catch {
    return null; // not there (not cached: it may appear later)
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) return null;
    const stamp = `${st.size} ${st.mtimeMs}`;
    const hit = cache.get(path);
    if (hit && hit.stamp === stamp) return hit.image;
    let image: ElfImage | null = null;
    if (st.size <= MAX_DEBUG_FILE_BYTES) {
      const bytes = new Uint8Array(st.size);
      let n = 0;
      while (n < st.size) {
        const got = readSync(fd, bytes, n, st.size - n, n);
        if (got === 0) break;
        n += got;
      }
      try {
        image = new ElfImage(bytes.subarray(0, n));
      } catch {
        image = null; // not ELF
      }
    }
    if (cache.size >= MAX_CACHED_IMAGES) cache.delete(cache.keys().next().value as string);
    cache.set(path, { stamp, image });
    return image;
  } catch {
    return null;
  } finally {
    closeSync(fd);
  }
}

function findImage(module: string, buildId: string | null, dirs: readonly string[]): ElfImage | undefined {
  for (const dir of dirs) {
    const candidates = [
      ...(buildId && /^[0-9a-f]{4,}$/.test(buildId) ? [join(dir, ".build-id", buildId.slice(0, 2), `${buildId.slice(2)}.debug`)] : []),
      join(dir, module),
      join(dir, basename(module)),
    ];
    for (const c of candidates) {
      const image = readImage(c);
      // a file whose build-id differs is another build: its symbols would lie
      if (image && (buildId === null || image.buildId === buildId)) return image;
    }
  }
  return undefined;
}

function nameFrame(f: ReportFrame, dirs: readonly string[]): ReportFrame | undefined {
  if (f.symbol !== null || f.module === null || f.moduleOffset === null || f.module.startsWith("[")) return undefined;
  const image = findImage(f.module, f.buildId, dirs);
  if (!image) return undefined;
  // a caller's return address may be past its function's end: look up pc - 1, as the report does
  const caller = f.index > 0 && f.method !== "context";
  let offset: bigint;
  try {
    offset = BigInt(f.moduleOffset);
  } catch {
    return undefined;
  }
  const hit = image.symbolize(caller ? offset - 1n : offset);
  return hit ? { ...f, symbol: hit.name, symbolOffset: Number(hit.offset + (caller ? 1n : 0n)) } : undefined;
}

export async function symbolizeReport(report: Report, options: SymbolizeOptions): Promise<Symbolized> {
  if (options.debugDirs.length === 0) return { report, named: 0 };
  let named = 0;
  const threads = report.threads.map((t) => ({
    ...t,
    frames: t.frames.map((f) => {
      const g = nameFrame(f, options.debugDirs);
      if (!g) return f;
      named++;
      return g;
    }),
  }));
  return { report: named > 0 ? { ...report, threads } : report, named };
}

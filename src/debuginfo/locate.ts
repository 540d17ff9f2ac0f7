// Finding a module's debug information on this machine, in gdb's order
// (gdb manual, "Separate Debug Files"), first match wins, every candidate
// checked against the module's build-id:
//   1. the module itself (<sysroot>/<path>), when it has DWARF;
//   2. .build-id/xx/rest.debug under each debug dir, then <sysroot>/usr/lib/debug;
//      then an unstripped copy at the module's path under each debug dir (a
//      Buildroot output/staging, as gdb's `set sysroot` would read it);
//   3. .gnu_debuglink (name + CRC-32): beside the module, in .debug/ beside
//      it, and <debug dir>/<module's directory>/ under each debug dir.
// debuginfod comes after these (src/debuginfo/debuginfod.ts, asynchronous).
import { existsSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import { crc32 } from "../journal/crc32.ts";
import { DebugElf } from "./debug-elf.ts";
import { fileSource, type ByteSource } from "./source.ts";

/** Largest file CRC'd for a debuglink check: a debug file of a huge C++ program is ~2 GiB. */
export const MAX_DEBUGLINK_CRC_BYTES = 4 * 1024 * 1024 * 1024;
/** CRC'd in pieces of this size: memory stays flat whatever the file's size. */
const CRC_CHUNK_BYTES = 1024 * 1024;

export type DebugSource = "module" | "build-id" | "debug-dir" | "debuglink" | "debuginfod";

export interface LocateOptions {
  sysroot?: string | undefined;
  /** --debug-dir DIRs, in order: a Buildroot output/staging or a /usr/lib/debug tree. */
  debugDirs?: readonly string[] | undefined;
}

export interface OpenedElf {
  path: string;
  elf: DebugElf;
}

export interface Located {
  /** Where DWARF was found, if anywhere. */
  debug: (OpenedElf & { source: DebugSource }) | undefined;
  /** The module's own file, when it was found and matches the build-id. */
  module: OpenedElf | undefined;
  /** A candidate that was refused: another build-id, a wrong CRC, unreadable. */
  problems: string[];
  /** Every place looked at, for the "no debug info" message. */
  looked: string[];
}

export interface ModuleRef {
  path: string;
  buildId: string | null;
}

/** The local steps of the lookup. Opened files stay open until the caller closes them (closeLocated). */
export function locateDebugInfo(mod: ModuleRef, options: LocateOptions = {}): Located {
  const out: Located = { debug: undefined, module: undefined, problems: [], looked: [] };
  const sysroot = options.sysroot ?? "";
  const modulePath = mod.path.startsWith("/") ? join(sysroot, mod.path) : undefined;
  const roots = debugRoots(options);

  if (modulePath) {
    out.looked.push(modulePath);
    const opened = openChecked(modulePath, mod.buildId, out.problems);
    if (opened) {
      out.module = { path: modulePath, elf: opened };
      if (opened.hasDwarf) {
        out.debug = { path: modulePath, elf: opened, source: "module" };
        return out;
      }
    }
  }
  if (mod.buildId) {
    const found = findByBuildId(mod.buildId, options, out);
    if (found) {
      out.debug = { ...found, source: "build-id" };
      return out;
    }
  }
  if (mod.path.startsWith("/")) {
    // an unstripped copy at the module's path under a debug dir: Buildroot's output/staging
    for (const root of options.debugDirs ?? []) {
      const p = join(root, mod.path);
      out.looked.push(p);
      const elf = openChecked(p, mod.buildId, out.problems);
      if (elf?.hasDwarf) {
        out.debug = { path: p, elf, source: "debug-dir" };
        return out;
      }
      elf?.src.close?.();
    }
  }
  const link = out.module?.elf.debuglink;
  if (link && modulePath) {
    const dir = dirname(modulePath);
    const inSysroot = dirname(mod.path);
    const candidates = [join(dir, link.name), join(dir, ".debug", link.name), ...roots.map((r) => join(r, inSysroot, link.name))];
    for (const p of candidates) {
      if (p === modulePath) continue;
      out.looked.push(p);
      if (!existsSync(p)) continue;
      const crc = fileCrc(p);
      if (typeof crc === "string") {
        out.problems.push(`Cannot use debug file "${p}": ${crc}`);
        continue;
      }
      if (crc !== link.crc) {
        out.problems.push(`Cannot use debug file "${p}": its CRC-32 is ${hex32(crc)}, the module's .gnu_debuglink says ${hex32(link.crc)}`);
        continue;
      }
      const elf = openChecked(p, mod.buildId, out.problems, { noBuildIdOk: true });
      if (elf) {
        out.debug = { path: p, elf, source: "debuglink" };
        return out;
      }
    }
  }
  return out;
}

function debugRoots(options: LocateOptions): string[] {
  return [...(options.debugDirs ?? []), join(options.sysroot || "/", "usr/lib/debug")];
}

/** `.build-id/xx/rest.debug` under each debug dir, then <sysroot>/usr/lib/debug; the first with that build-id. */
export function findByBuildId(buildId: string, options: LocateOptions, log: { problems: string[]; looked: string[] }): OpenedElf | undefined {
  if (!/^[0-9a-f]{4,128}$/.test(buildId)) return undefined;
  for (const root of debugRoots(options)) {
    const p = join(root, ".build-id", buildId.slice(0, 2), `${buildId.slice(2)}.debug`);
    log.looked.push(p);
    const elf = openChecked(p, buildId, log.problems);
    if (elf) return { path: p, elf };
  }
  return undefined;
}

/** Close every file a Located holds open. */
export function closeLocated(l: Located): void {
  const seen = new Set<ByteSource>();
  for (const e of [l.module?.elf, l.debug?.elf]) {
    if (e && !seen.has(e.src)) {
      seen.add(e.src);
      e.src.close?.();
    }
  }
}

/**
 * Open an ELF file and check its build-id against the module's: undefined when
 * missing; a problem is recorded when it exists but is refused. With noBuildIdOk,
 * a file without any build-id passes (its CRC was checked instead).
 */
export function openChecked(path: string, buildId: string | null, problems: string[], options: { noBuildIdOk?: boolean } = {}): DebugElf | undefined {
  let src: ByteSource;
  try {
    if (!statSync(path).isFile()) return undefined;
    src = fileSource(path);
  } catch {
    return undefined;
  }
  try {
    const elf = new DebugElf(src);
    // a debuglink file whose CRC matched may have no build-id at all (older toolchains); gdb takes it
    if (buildId && elf.buildId !== buildId && !(options.noBuildIdOk && elf.buildId === undefined)) {
      problems.push(`Cannot use debug file "${path}": it has build-id ${elf.buildId ?? "(none)"}, the module has ${buildId}`);
      src.close?.();
      return undefined;
    }
    return elf;
  } catch (err) {
    problems.push(`Cannot use debug file "${path}": ${err instanceof Error ? err.message.replace(/^Cannot /, "cannot ") : String(err)}`);
    src.close?.();
    return undefined;
  }
}

function fileCrc(path: string): number | string {
  let src: ByteSource;
  try {
    src = fileSource(path);
  } catch (err) {
    return err instanceof Error ? err.message : String(err); // fileSource's own "no such file" / "cannot open it (CODE)"
  }
  try {
    if (src.size > MAX_DEBUGLINK_CRC_BYTES) return `it is larger than ${MAX_DEBUGLINK_CRC_BYTES} bytes`;
    let crc = 0;
    for (let off = 0; off < src.size; off += CRC_CHUNK_BYTES) crc = crc32(src.read(off, CRC_CHUNK_BYTES), crc);
    return crc;
  } finally {
    src.close?.();
  }
}

function hex32(n: number): string {
  return "0x" + n.toString(16).padStart(8, "0");
}

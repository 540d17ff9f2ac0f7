// The Bun runtime inside a release executable (build/dist.ts).
//
// Each target's runtime is the `bin/bun` of one npm package
// (@oven/bun-linux-<arch>[-musl]) at the Bun version of package-lock.json,
// fetched with `npm pack` and checked against the lock's integrity, so the
// release embeds exactly the runtime the lock pins: not whatever Bun would
// download for a --target, and not the host's own Bun.
//
// `bun build --compile` copies the runtime and adds the program to its data
// segment (the .bun section), so the executable keeps the runtime's
// NT_GNU_BUILD_ID note and its executable PT_LOAD segment byte for byte.
// Those two identify the runtime an executable carries.
import { PF_X, PT_LOAD, PT_NOTE, buildIdOf, parseElfHeader, parseNotes, parseProgramHeaders } from "../src/core/elf.ts";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync } from "node:fs";
import { join } from "node:path";

export interface RuntimeIdentity {
  /** NT_GNU_BUILD_ID, lowercase hex. */
  buildId: string;
  /** sha256 of the file bytes of every executable PT_LOAD segment, in order. */
  codeSha256: string;
}

/** Which Bun runtime an ELF executable (or a Bun binary itself) carries. */
export function runtimeIdentity(bytes: Uint8Array): RuntimeIdentity {
  const h = parseElfHeader(bytes);
  const phdrs = parseProgramHeaders(bytes, h.phoff, h.phnum);
  const code = createHash("sha256");
  let buildId: string | undefined;
  let loads = 0;
  for (const p of phdrs) {
    if (p.offset + p.filesz > bytes.length) throw new RangeError(`Cannot read segment at ${p.offset}: ${p.filesz} bytes past the end of the file`);
    const body = bytes.subarray(p.offset, p.offset + p.filesz);
    if (p.type === PT_NOTE) buildId ??= buildIdOf(parseNotes(body).notes);
    if (p.type === PT_LOAD && (p.flags & PF_X) !== 0) {
      code.update(body);
      loads++;
    }
  }
  if (!buildId) throw new SyntaxError("Cannot identify the Bun runtime: no NT_GNU_BUILD_ID note");
  if (loads === 0) throw new SyntaxError("Cannot identify the Bun runtime: no executable PT_LOAD segment");
  return { buildId, codeSha256: code.digest("hex") };
}

export interface RuntimePin {
  /** npm package name, e.g. @oven/bun-linux-aarch64. */
  name: string;
  version: string;
  /** Subresource-integrity string of the package tarball (sha512-<base64>). */
  integrity: string;
}

interface Lock {
  packages?: Record<string, { version?: string; integrity?: string }>;
}

/** The version and integrity package-lock.json pins for a runtime package (the version of the bun package). */
export function runtimePin(lockText: string, name: string): RuntimePin {
  const lock = JSON.parse(lockText) as Lock;
  const bun = lock.packages?.["node_modules/bun"]?.version;
  const entry = lock.packages?.[`node_modules/${name}`];
  if (!bun) throw new Error("Cannot read package-lock.json: no node_modules/bun entry");
  if (!entry?.version || !entry.integrity) throw new Error(`Cannot pin the Bun runtime "${name}": package-lock.json has no version and integrity for it`);
  if (entry.version !== bun) throw new Error(`Cannot pin the Bun runtime "${name}": package-lock.json has ${entry.version}, the bun package ${bun}`);
  return { name, version: entry.version, integrity: entry.integrity };
}

/** sha512-<base64> of some bytes, as npm writes integrity. */
export function integrityOf(bytes: Uint8Array): string {
  return `sha512-${createHash("sha512").update(bytes).digest("base64")}`;
}

/**
 * The runtime's bin/bun, unpacked under cache/<name>-<version>/. The npm
 * tarball is kept in cache too and checked against the pin on every call;
 * a missing or different one is fetched again with `npm pack` (the npm
 * registry, through npm's own cache).
 */
export function fetchRuntime(pin: RuntimePin, cache: string): string {
  const base = pin.name.replace(/^@/, "").replace("/", "-");
  const tgz = join(cache, `${base}-${pin.version}.tgz`);
  mkdirSync(cache, { recursive: true });
  if (!existsSync(tgz) || integrityOf(readFileSync(tgz)) !== pin.integrity) {
    rmSync(tgz, { force: true });
    const r = Bun.spawnSync(["npm", "pack", "--silent", "--pack-destination", cache, `${pin.name}@${pin.version}`], { cwd: cache, stdout: "pipe", stderr: "pipe" });
    if (r.exitCode !== 0) throw new Error(`Cannot fetch the Bun runtime "${pin.name}@${pin.version}": npm pack exit ${r.exitCode}: ${r.stderr.toString().trim()}`);
    if (!existsSync(tgz)) throw new Error(`Cannot fetch the Bun runtime "${pin.name}@${pin.version}": npm pack wrote no ${tgz}`);
    const got = integrityOf(readFileSync(tgz));
    if (got !== pin.integrity) throw new Error(`Cannot use the Bun runtime "${pin.name}@${pin.version}": its tarball is ${got}, package-lock.json pins ${pin.integrity}`);
  }
  // Unpacked afresh each time, beside the old copy and renamed over it, so
  // a concurrent reader (another test run) never sees a half-written file.
  const dir = join(cache, `${base}-${pin.version}`);
  const scratch = join(cache, `.unpack-${process.pid}`);
  rmSync(scratch, { recursive: true, force: true });
  mkdirSync(scratch, { recursive: true });
  mkdirSync(dir, { recursive: true });
  try {
    const r = Bun.spawnSync(["tar", "-xzf", tgz, "-C", scratch, "--strip-components=2", "package/bin/bun"], { stdout: "pipe", stderr: "pipe" });
    if (r.exitCode !== 0) throw new Error(`Cannot unpack the Bun runtime "${tgz}": tar exit ${r.exitCode}: ${r.stderr.toString().trim()}`);
    renameSync(join(scratch, "bun"), join(dir, "bun"));
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
  return join(dir, "bun");
}

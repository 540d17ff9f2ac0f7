#!/usr/bin/env bun
// make dist: one release tarball per target in out/dist/, with SHA256SUMS and
// crashkeep.hash (Buildroot's hash-file format) beside them. It writes only
// under the output folder: no tracked file changes.
//
// Each target's executable embeds the Bun runtime of its npm package
// (RUNTIME_PACKAGES, pinned by package-lock.json: build/runtime.ts) and is
// checked before packing: the right ELF (machine, class, byte order, program
// interpreter), the runtime it claims (the npm package's build-id and code,
// and no other target's), and a smoke run where this machine can run it:
// x64 natively, x64-musl through the musl loader, arm64 under qemu-aarch64
// (user mode). A target that cannot run here is said so.
//
// One x64 glibc target: Bun 1.4.5's @oven/bun-linux-x64 and
// @oven/bun-linux-x64-baseline hold the same bin/bun (as do the two musl
// packages), and it runs on x86-64-v2 (Nehalem) CPUs, without AVX
// (docs/FIRMWARE.md "Release tarballs" has the measurement).
//
//   bun build/dist.ts                      every target
//   bun build/dist.ts --targets x64,arm64  only these
//   bun build/dist.ts --no-build           package <out>/<target>/crashkeep as built
//   bun build/dist.ts --out DIR            DIR in place of out/ (DIR/dist, DIR/<target>)
import { EM_AARCH64, EM_X86_64, parseElfHeader, parseProgramHeaders } from "../src/core/elf.ts";
import { createHash } from "node:crypto";
import { chmodSync, copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { compileArgs } from "./compile.ts";
import { type RuntimeIdentity, fetchRuntime, runtimeIdentity, runtimePin } from "./runtime.ts";
import { LICENSE_FILES, stageLicenses } from "./licenses.ts";

export const DIST_TARGETS = ["x64", "x64-musl", "arm64"] as const;
export type DistTarget = (typeof DIST_TARGETS)[number];

/** The npm package whose bin/bun each target embeds (Bun's own --target names them the same way). */
export const RUNTIME_PACKAGES: Readonly<Record<DistTarget, string>> = {
  x64: "@oven/bun-linux-x64",
  "x64-musl": "@oven/bun-linux-x64-musl",
  arm64: "@oven/bun-linux-aarch64",
};

/** The Buildroot hash file make dist writes beside the tarballs (crashkeep.mk reads it from a file:// site). */
export const HASH_FILE = "crashkeep.hash";

export function tarballName(version: string, target: string): string {
  return `crashkeep-${version}-linux-${target}.tar.gz`;
}

// elf(5): PT_INTERP names the program interpreter (the dynamic loader).
const PT_INTERP = 3;

interface Expected {
  machine: number;
  interpreter: string;
}

/** What each target's executable must be (the loaders are the ones Bun links against). */
export const EXPECTED: Readonly<Record<DistTarget, Expected>> = {
  x64: { machine: EM_X86_64, interpreter: "/lib64/ld-linux-x86-64.so.2" },
  "x64-musl": { machine: EM_X86_64, interpreter: "/lib/ld-musl-x86_64.so.1" },
  arm64: { machine: EM_AARCH64, interpreter: "/lib/ld-linux-aarch64.so.1" },
};

export interface ElfInfo {
  machine: number;
  interpreter: string | undefined;
}

/**
 * e_machine and PT_INTERP of a 64-bit little-endian ELF, through the core
 * reader's own ELF parsers (src/core/elf.ts); anything else is refused.
 */
export function elfInfo(bytes: Uint8Array): ElfInfo {
  const h = parseElfHeader(bytes);
  const interp = parseProgramHeaders(bytes, h.phoff, h.phnum).find((p) => p.type === PT_INTERP);
  if (!interp) return { machine: h.machine, interpreter: undefined };
  if (interp.offset + interp.filesz > bytes.length) throw new RangeError("Cannot read PT_INTERP: past the end");
  const interpreter = new TextDecoder().decode(bytes.subarray(interp.offset, interp.offset + interp.filesz)).replace(/\0+$/, "");
  return { machine: h.machine, interpreter };
}

const ROOT = join(import.meta.dir, "..");
const BUN = join(ROOT, "node_modules/.bin/bun");
const PKG_DIR = join(ROOT, "build/buildroot/package/crashkeep");
/** The runtimes' npm tarballs and unpacked binaries, kept across runs. */
const RUNTIME_CACHE = join(ROOT, "out/cache/bun-runtime");

/**
 * What each tarball carries for the device besides the executable: the
 * repository file (its one source, also copied by the hand-made test image)
 * and its name and mode in the tarball. arm64 gets the QEMU virt board's
 * config (RAM from 0x40000000): x86's addresses are not RAM there.
 */
export function deviceFiles(target: DistTarget): { from: string; name: string; mode: number }[] {
  const config = target === "arm64" ? "build/buildroot/board/qemu/aarch64-virt/rootfs-overlay/etc/crashkeep/config.json" : "rootfs-overlay/etc/crashkeep/config.json";
  return [
    { from: config, name: "config.json", mode: 0o644 },
    { from: "rootfs-overlay/etc/init.d/S03crashkeep", name: "S03crashkeep", mode: 0o755 },
    { from: "rootfs-overlay/usr/lib/systemd/system/crashkeep.service", name: "crashkeep.service", mode: 0o644 },
  ];
}

function run(cmd: string[], opts: { env?: Record<string, string>; cwd?: string } = {}): { out: string; code: number } {
  const r = Bun.spawnSync(cmd, { cwd: opts.cwd ?? ROOT, env: { ...process.env, ...opts.env }, stdout: "pipe", stderr: "pipe" });
  return { out: (r.stdout.toString() + r.stderr.toString()).trim(), code: r.exitCode ?? -1 };
}

function must(cmd: string[], opts: { env?: Record<string, string>; cwd?: string } = {}): string {
  const r = run(cmd, opts);
  if (r.code !== 0) throw new Error(`Cannot run "${cmd.join(" ")}": exit ${r.code}\n${r.out}`);
  return r.out;
}

function build(target: DistTarget, outfile: string, runtime: string): void {
  must([BUN, ...compileArgs(outfile, { target: `bun-linux-${target}`, runtime })]);
}

/**
 * Refuses an executable that does not carry its target's runtime, or carries
 * the same runtime as another target (the x64/x64-baseline mix-up of 0.1.0).
 */
export function checkRuntimes(got: ReadonlyMap<DistTarget, RuntimeIdentity>, want: ReadonlyMap<DistTarget, RuntimeIdentity>): void {
  for (const [target, id] of got) {
    const pkg = want.get(target);
    if (!pkg) throw new Error(`Cannot check the runtime of ${target}: no ${RUNTIME_PACKAGES[target]} to compare with`);
    if (id.buildId !== pkg.buildId || id.codeSha256 !== pkg.codeSha256) {
      throw new Error(`Cannot package ${target}: its Bun runtime (build-id ${id.buildId}) is not ${RUNTIME_PACKAGES[target]}'s (build-id ${pkg.buildId})`);
    }
  }
  const seen = new Map<string, DistTarget>();
  for (const [target, id] of got) {
    for (const key of [`build-id ${id.buildId}`, `code sha256 ${id.codeSha256}`]) {
      const other = seen.get(key);
      if (other) throw new Error(`Cannot package ${target}: it carries the same Bun runtime as ${other} (${key})`);
      seen.set(key, target);
    }
  }
}

/**
 * How to run a target's binary here, or why it cannot run. The musl build
 * needs /lib/ld-musl-x86_64.so.1 (Debian: musl) plus a musl libstdc++.so.6
 * and libgcc_s.so.1, which Debian does not ship; the glibc ones can be
 * loaded by musl's loader with a few glibc-only symbols supplied by a small
 * shim built with musl-gcc (Debian: musl-tools). That is a check that the
 * binary works, not a way to deploy it: a musl device has real musl libs.
 */
function runner(target: DistTarget, scratch: string): { prefix: string[]; env: Record<string, string> } | string {
  if (target === "x64") {
    if (process.arch !== "x64") return `this machine is ${process.arch}`;
    return { prefix: [], env: {} };
  }
  if (target === "arm64") {
    const qemu = Bun.which("qemu-aarch64");
    if (!qemu) return "qemu-aarch64 not installed (Debian: qemu-user)";
    const sysroot = "/usr/aarch64-linux-gnu";
    if (!existsSync(join(sysroot, "lib/ld-linux-aarch64.so.1"))) return `no aarch64 glibc in ${sysroot} (Debian: libc6-arm64-cross)`;
    return { prefix: [qemu, "-cpu", "cortex-a53", "-L", sysroot], env: {} };
  }
  if (!existsSync("/lib/ld-musl-x86_64.so.1")) return "no /lib/ld-musl-x86_64.so.1 (Debian: musl)";
  const cc = Bun.which("musl-gcc");
  if (!cc) return "no musl-gcc to build the glibc-symbol shim (Debian: musl-tools)";
  return muslRunner(scratch, cc);
}

const GLIBC_SHIM = `/* glibc-only symbols that Debian's libstdc++.so.6 and libgcc_s.so.1 use,
 * for running the x64-musl build here (build/dist.ts). */
#include <locale.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/random.h>
#include <time.h>
char __libc_single_threaded = 0;
struct { unsigned vendor, type, subtype, features[1]; } __cpu_model;
int __cpu_indicator_init(void) { return 0; }
int _dl_find_object(void *pc, void *result) { (void)pc; (void)result; return -1; }
size_t __strftime_l(char *s, size_t n, const char *f, const struct tm *tm, locale_t l) { return strftime_l(s, n, f, tm, l); }
int __cxa_thread_atexit_impl(void (*dtor)(void *), void *obj, void *dso) { (void)dtor; (void)obj; (void)dso; return 0; }
uint32_t arc4random(void) { uint32_t v = 0; while (getrandom(&v, sizeof v, 0) != (ssize_t)sizeof v) {} return v; }
`;

function muslRunner(scratch: string, cc: string): { prefix: string[]; env: Record<string, string> } | string {
  const dir = join(scratch, "musl-libs");
  mkdirSync(dir, { recursive: true });
  const gnu = "/usr/lib/x86_64-linux-gnu";
  for (const lib of ["libstdc++.so.6", "libgcc_s.so.1"]) {
    if (!existsSync(join(gnu, lib))) return `no ${join(gnu, lib)} to stand in for musl's`;
    copyFileSync(join(gnu, lib), join(dir, lib));
  }
  // Their glibc DT_NEEDED entries resolve to musl's libc, which is its loader.
  for (const name of ["libc.so.6", "libm.so.6", "ld-linux-x86-64.so.2"]) {
    rmSync(join(dir, name), { force: true });
    must(["ln", "-s", "/lib/ld-musl-x86_64.so.1", join(dir, name)]);
  }
  writeFileSync(join(scratch, "glibc-shim.c"), GLIBC_SHIM);
  const shim = join(dir, "libglibc-shim.so");
  const r = run([cc, "-shared", "-fPIC", "-O2", "-o", shim, join(scratch, "glibc-shim.c")]);
  if (r.code !== 0) return `musl-gcc failed: ${r.out}`;
  return { prefix: [], env: { LD_LIBRARY_PATH: dir, LD_PRELOAD: shim } };
}

function smoke(target: DistTarget, binary: string, config: string, version: string, scratch: string): string {
  const how = runner(target, scratch);
  if (typeof how === "string") return `not run: ${how}`;
  const v = run([...how.prefix, binary, "--version"], { env: how.env });
  if (v.code !== 0 || !v.out.startsWith(`crashkeep ${version}`)) throw new Error(`Cannot run ${target} --version: exit ${v.code}: ${v.out}`);
  const c = run([...how.prefix, binary, "config", "check", config], { env: how.env });
  if (c.code !== 0 || !c.out.includes("OK")) throw new Error(`Cannot run ${target} config check: exit ${c.code}: ${c.out}`);
  return `ran: "${v.out}"; config check: ${c.out.split("\n").at(-1)}`;
}

/** The README parts a device installer needs: the introduction, "On a device" and "Commands". */
function readmeExcerpt(version: string, target: DistTarget): string {
  const readme = readFileSync(join(ROOT, "README.md"), "utf8");
  const from = deviceFiles(target).find((f) => f.name === "config.json")?.from ?? "";
  const config = JSON.parse(readFileSync(join(ROOT, from), "utf8")) as { ramoops: { address: string }; phram: { address: string } };
  const reserve = target === "arm64"
    ? "Then reserve the RAM (arm64): a device-tree /reserved-memory node, or a\n`mem=` that leaves the regions out of Linux's RAM (this config is the QEMU\nvirt board's with 512 MiB);\n`crashkeep config check` prints what your config needs."
    : "Then reserve the RAM on the kernel command line (x86): `memmap=16M$0x7000000`\n(`crashkeep config check` prints the line your config needs).";
  const sections = readme.split(/^(?=## )/m);
  const keep = sections.filter((s, i) => i === 0 || /^## (On a device|Commands)\b/.test(s));
  return `${keep.join("").trimEnd()}

## This tarball (crashkeep ${version}, linux-${target})

| file | install as |
|---|---|
| \`crashkeep\` | \`/usr/bin/crashkeep\` (mode 0755; never strip it: stripping removes the embedded program) |
| \`config.json\` | \`/etc/crashkeep/config.json\` (the default config: ramoops at ${config.ramoops.address}, phram at ${config.phram.address}) |
| \`S03crashkeep\` | \`/etc/init.d/S03crashkeep\` (BusyBox/SysV init) |
| \`crashkeep.service\` | \`/usr/lib/systemd/system/crashkeep.service\` (systemd) |
| \`LICENSE\`, \`licenses/\` | ship them with the image: crashkeep's license, and the Bun runtime's inside the executable (\`licenses/bun-runtime.md\`) |

${reserve} See
docs/FIRMWARE.md and docs/AARCH64.md in the crashkeep repository.
`;
}

function sha256(path: string): string {
  return createHash("sha256").update(readFileSync(path)).digest("hex");
}

function packTarball(target: DistTarget, version: string, mtime: string, out: string): string {
  const dist = join(out, "dist");
  const name = `crashkeep-${version}-linux-${target}`;
  const stage = join(dist, ".stage", name);
  rmSync(stage, { recursive: true, force: true });
  mkdirSync(stage, { recursive: true });
  copyFileSync(join(out, target, "crashkeep"), join(stage, "crashkeep"));
  chmodSync(join(stage, "crashkeep"), 0o755);
  for (const f of deviceFiles(target)) {
    copyFileSync(join(ROOT, f.from), join(stage, f.name));
    chmodSync(join(stage, f.name), f.mode);
  }
  writeFileSync(join(stage, "README.md"), readmeExcerpt(version, target));
  chmodSync(join(stage, "README.md"), 0o644);
  stageLicenses(ROOT, stage);
  const tarball = join(dist, tarballName(version, target));
  // Reproducible: sorted names, fixed owner and mtime, no gzip timestamp.
  must(["sh", "-c", `tar --sort=name --owner=0 --group=0 --numeric-owner --mtime=@${mtime} -C "$1" -cf - "$2" | gzip -n -9 > "$3"`,
    "sh", join(dist, ".stage"), name, tarball]);
  return tarball;
}

/**
 * SHA256SUMS (sha256sum --check) and crashkeep.hash (Buildroot's .hash
 * format, support/download/check-hash) for the given tarballs of one folder.
 */
type FileHash = { file: string; sha256: string };

/**
 * SHA256SUMS (the tarballs) and Buildroot's crashkeep.hash: the tarballs, and
 * the license files inside them (CRASHKEEP_LICENSE_FILES), which legal-info
 * checks against the same hash files by their path in the tarball.
 */
export function hashFiles(sums: readonly FileHash[], licenses: readonly FileHash[] = []): { sha256sums: string; buildroot: string } {
  return {
    sha256sums: sums.map((s) => `${s.sha256}  ${s.file}\n`).join(""),
    buildroot: [
      "# The release tarballs in this folder, written by make dist (build/dist.ts).",
      "# Buildroot's crashkeep package reads this file when its download site is",
      "# this folder (file://); docs/FIRMWARE.md \"Buildroot\" says where else it goes.",
      ...sums.map((s) => `sha256  ${s.sha256}  ${s.file}`),
      ...(licenses.length > 0 ? ["# The license files in each tarball (legal-info)."] : []),
      ...licenses.map((s) => `sha256  ${s.sha256}  ${s.file}`),
      "",
    ].join("\n"),
  };
}

/** CRASHKEEP_VERSION of crashkeep.mk, which must be package.json's version (dist does not rewrite it). */
export function mkVersion(mk: string): string | undefined {
  return /^CRASHKEEP_VERSION = (\S+)$/m.exec(mk)?.[1];
}

function parseArgs(argv: string[]): { targets: DistTarget[]; noBuild: boolean; out: string } {
  let targets: DistTarget[] = [...DIST_TARGETS];
  let noBuild = false;
  let out = join(ROOT, "out");
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] ?? "";
    if (a === "--no-build") noBuild = true;
    else if (a === "--out" || a.startsWith("--out=")) {
      const dir = a.includes("=") ? a.slice(a.indexOf("=") + 1) : (argv[++i] ?? "");
      if (dir === "") throw new Error(`Cannot use the output folder "": give --out DIR`);
      out = resolve(dir);
    } else if (a === "--targets" || a.startsWith("--targets=")) {
      const list = a.includes("=") ? a.slice(a.indexOf("=") + 1) : (argv[++i] ?? "");
      targets = list.split(",").map((t) => {
        if (!(DIST_TARGETS as readonly string[]).includes(t)) throw new Error(`Cannot build target "${t}": use ${DIST_TARGETS.join(", ")}`);
        return t as DistTarget;
      });
    } else throw new Error(`Unknown argument "${a}": use --targets LIST, --no-build, --out DIR`);
  }
  return { targets, noBuild, out };
}

async function main(argv: string[]): Promise<number> {
  const { targets, noBuild, out } = parseArgs(argv);
  const version = (JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { version: string }).version;
  const mk = mkVersion(readFileSync(join(PKG_DIR, "crashkeep.mk"), "utf8"));
  if (mk !== version) {
    throw new Error(`Cannot package version "${version}": build/buildroot/package/crashkeep/crashkeep.mk has CRASHKEEP_VERSION = ${mk ?? "(none)"}; set it to ${version}`);
  }
  // Tarball mtimes: SOURCE_DATE_EPOCH, else the commit that last changed
  // package.json (the version), so unrelated commits keep the same bytes.
  const fromGit = run(["git", "log", "-1", "--format=%ct", "--", "package.json"]);
  const mtime = process.env.SOURCE_DATE_EPOCH ?? (fromGit.code === 0 && /^\d+$/.test(fromGit.out) ? fromGit.out : "0");
  const dist = join(out, "dist");
  mkdirSync(dist, { recursive: true });
  const scratch = join(dist, ".scratch");
  mkdirSync(scratch, { recursive: true });
  const lock = readFileSync(join(ROOT, "package-lock.json"), "utf8");
  const summary: string[] = [];
  const carried = new Map<DistTarget, RuntimeIdentity>();
  const pinned = new Map<DistTarget, RuntimeIdentity>();
  for (const target of targets) {
    const binary = join(out, target, "crashkeep");
    const runtime = fetchRuntime(runtimePin(lock, RUNTIME_PACKAGES[target]), RUNTIME_CACHE);
    pinned.set(target, runtimeIdentity(new Uint8Array(readFileSync(runtime))));
    if (!noBuild) {
      console.log(`building ${target}`);
      build(target, binary, runtime);
    }
    if (!existsSync(binary)) throw new Error(`Cannot package ${target}: ${binary} does not exist (run without --no-build)`);
    const head = new Uint8Array(readFileSync(binary));
    const elf = elfInfo(head);
    const want = EXPECTED[target];
    if (elf.machine !== want.machine) throw new Error(`Cannot package ${target}: e_machine ${elf.machine}, expected ${want.machine}`);
    if (elf.interpreter !== want.interpreter) throw new Error(`Cannot package ${target}: interpreter ${elf.interpreter}, expected ${want.interpreter}`);
    carried.set(target, runtimeIdentity(head));
    checkRuntimes(carried, pinned);
    const smoked = smoke(target, binary, join(ROOT, deviceFiles(target)[0]?.from ?? ""), version, scratch);
    const tarball = packTarball(target, version, mtime, out);
    const mib = (n: number) => `${(n / 2 ** 20).toFixed(1)} MiB`;
    summary.push(`${target}: e_machine ${elf.machine}, ${elf.interpreter}, runtime ${RUNTIME_PACKAGES[target]} (build-id ${carried.get(target)?.buildId}), binary ${mib(head.length)}, ${tarballName(version, target)} ${mib(Bun.file(tarball).size)}; ${smoked}`);
  }
  const present = DIST_TARGETS.filter((t) => existsSync(join(dist, tarballName(version, t))));
  // Every tarball carries the same license files (stageLicenses).
  const licenseStage = join(scratch, "licenses");
  stageLicenses(ROOT, licenseStage);
  const licenses = LICENSE_FILES.map((file) => ({ file, sha256: sha256(join(licenseStage, file)) }));
  const files = hashFiles(present.map((t) => ({ file: tarballName(version, t), sha256: sha256(join(dist, tarballName(version, t))) })), licenses);
  writeFileSync(join(dist, "SHA256SUMS"), files.sha256sums);
  writeFileSync(join(dist, HASH_FILE), files.buildroot);
  rmSync(join(dist, ".stage"), { recursive: true, force: true });
  rmSync(scratch, { recursive: true, force: true });
  console.log(summary.join("\n"));
  console.log(`${join(dist, "SHA256SUMS")} and ${HASH_FILE}: ${present.length} tarballs (${present.join(", ")})`);
  return 0;
}

if (import.meta.main) {
  try {
    process.exitCode = await main(process.argv.slice(2));
  } catch (err) {
    console.error(err instanceof Error ? err.message : String(err));
    process.exitCode = 1;
  }
}

#!/usr/bin/env bun
// make dist: one release tarball per target in out/dist/, SHA256SUMS beside
// them, and build/buildroot/package/crashkeep/crashkeep.hash generated from
// them. Each binary is checked to be the right ELF (machine, class, byte
// order, program interpreter) and smoke-run where this machine can run it:
// x64 and x64-baseline natively, x64-musl through the musl loader, arm64
// under qemu-aarch64 (user mode). A target that cannot run here is said so.
//
//   bun build/dist.ts                    all four targets
//   bun build/dist.ts --targets x64,arm64 only these (crashkeep.hash untouched)
//   bun build/dist.ts --no-build          package out/<target>/crashkeep as built
import { EM_AARCH64, EM_X86_64, parseElfHeader, parseProgramHeaders } from "../src/core/elf.ts";
import { createHash } from "node:crypto";
import { chmodSync, copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { compileArgs } from "./compile.ts";
import { stageLicenses } from "./licenses.ts";

export const DIST_TARGETS = ["x64", "x64-baseline", "x64-musl", "arm64"] as const;
export type DistTarget = (typeof DIST_TARGETS)[number];

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
  "x64-baseline": { machine: EM_X86_64, interpreter: "/lib64/ld-linux-x86-64.so.2" },
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
const OUT = join(ROOT, "out");
const DIST = join(OUT, "dist");
const PKG_DIR = join(ROOT, "build/buildroot/package/crashkeep");

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

function build(target: DistTarget): void {
  must([BUN, ...compileArgs(`out/${target}/crashkeep`, { target: `bun-linux-${target}` })]);
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
  if (target === "x64" || target === "x64-baseline") {
    if (process.arch !== "x64") return `this machine is ${process.arch}`;
    if (target === "x64" && !readFileSync("/proc/cpuinfo", "utf8").includes(" avx2")) return "this CPU has no AVX2";
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

function packTarball(target: DistTarget, version: string, mtime: string): string {
  const name = `crashkeep-${version}-linux-${target}`;
  const stage = join(DIST, ".stage", name);
  rmSync(stage, { recursive: true, force: true });
  mkdirSync(stage, { recursive: true });
  copyFileSync(join(OUT, target, "crashkeep"), join(stage, "crashkeep"));
  chmodSync(join(stage, "crashkeep"), 0o755);
  for (const f of deviceFiles(target)) {
    copyFileSync(join(ROOT, f.from), join(stage, f.name));
    chmodSync(join(stage, f.name), f.mode);
  }
  writeFileSync(join(stage, "README.md"), readmeExcerpt(version, target));
  chmodSync(join(stage, "README.md"), 0o644);
  stageLicenses(ROOT, stage);
  const tarball = join(DIST, tarballName(version, target));
  // Reproducible: sorted names, fixed owner and mtime, no gzip timestamp.
  must(["sh", "-c", `tar --sort=name --owner=0 --group=0 --numeric-owner --mtime=@${mtime} -C "$1" -cf - "$2" | gzip -n -9 > "$3"`,
    "sh", join(DIST, ".stage"), name, tarball]);
  return tarball;
}

function writeHashFile(version: string): void {
  const lines = DIST_TARGETS.map((t) => `sha256  ${sha256(join(DIST, tarballName(version, t)))}  ${tarballName(version, t)}`);
  writeFileSync(join(PKG_DIR, "crashkeep.hash"), `# Locally computed by build/dist.ts (make dist) from out/dist\n${lines.join("\n")}\n`);
  // The .mk's version follows package.json's.
  const mkPath = join(PKG_DIR, "crashkeep.mk");
  const mk = readFileSync(mkPath, "utf8");
  writeFileSync(mkPath, mk.replace(/^CRASHKEEP_VERSION = .*$/m, `CRASHKEEP_VERSION = ${version}`));
}

function parseTargets(argv: string[]): { targets: DistTarget[]; noBuild: boolean } {
  let targets: DistTarget[] = [...DIST_TARGETS];
  let noBuild = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] ?? "";
    if (a === "--no-build") noBuild = true;
    else if (a === "--targets" || a.startsWith("--targets=")) {
      const list = a.includes("=") ? a.slice(a.indexOf("=") + 1) : (argv[++i] ?? "");
      targets = list.split(",").map((t) => {
        if (!(DIST_TARGETS as readonly string[]).includes(t)) throw new Error(`Cannot build target "${t}": use ${DIST_TARGETS.join(", ")}`);
        return t as DistTarget;
      });
    } else throw new Error(`Unknown argument "${a}": use --targets LIST, --no-build`);
  }
  return { targets, noBuild };
}

async function main(argv: string[]): Promise<number> {
  const { targets, noBuild } = parseTargets(argv);
  const version = (JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { version: string }).version;
  // Tarball mtimes: SOURCE_DATE_EPOCH, else the commit that last changed
  // package.json (the version), so unrelated commits keep the same bytes.
  const fromGit = run(["git", "log", "-1", "--format=%ct", "--", "package.json"]);
  const mtime = process.env.SOURCE_DATE_EPOCH ?? (fromGit.code === 0 && /^\d+$/.test(fromGit.out) ? fromGit.out : "0");
  mkdirSync(DIST, { recursive: true });
  const scratch = join(DIST, ".scratch");
  mkdirSync(scratch, { recursive: true });
  const summary: string[] = [];
  for (const target of targets) {
    const binary = join(OUT, target, "crashkeep");
    if (!noBuild) {
      console.log(`building ${target}`);
      build(target);
    }
    if (!existsSync(binary)) throw new Error(`Cannot package ${target}: ${binary} does not exist (run without --no-build)`);
    const head = new Uint8Array(readFileSync(binary));
    const elf = elfInfo(head);
    const want = EXPECTED[target];
    if (elf.machine !== want.machine) throw new Error(`Cannot package ${target}: e_machine ${elf.machine}, expected ${want.machine}`);
    if (elf.interpreter !== want.interpreter) throw new Error(`Cannot package ${target}: interpreter ${elf.interpreter}, expected ${want.interpreter}`);
    const smoked = smoke(target, binary, join(ROOT, deviceFiles(target)[0]?.from ?? ""), version, scratch);
    const tarball = packTarball(target, version, mtime);
    const mib = (n: number) => `${(n / 2 ** 20).toFixed(1)} MiB`;
    summary.push(`${target}: e_machine ${elf.machine}, ${elf.interpreter}, binary ${mib(head.length)}, ${tarballName(version, target)} ${mib(Bun.file(tarball).size)}; ${smoked}`);
  }
  const present = DIST_TARGETS.filter((t) => existsSync(join(DIST, tarballName(version, t))));
  writeFileSync(join(DIST, "SHA256SUMS"), present.map((t) => `${sha256(join(DIST, tarballName(version, t)))}  ${tarballName(version, t)}\n`).join(""));
  if (targets.length === DIST_TARGETS.length) writeHashFile(version);
  else summary.push("crashkeep.hash not rewritten: not every target was built");
  rmSync(join(DIST, ".stage"), { recursive: true, force: true });
  rmSync(scratch, { recursive: true, force: true });
  console.log(summary.join("\n"));
  console.log(`out/dist/SHA256SUMS: ${present.length} tarballs`);
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

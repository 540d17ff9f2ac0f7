// Test helper: unpacks the tail-call fixtures (test/fixtures/tailcall, made by
// make.sh) of one architecture into a temporary directory, once per checkout,
// with the glibc files the fixtures that carry them hold (make.sh checks they
// are the ones the cores ran on).
import { copyFileSync, mkdirSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, relative } from "node:path";
import { unxz, walk } from "../core/fixtures.ts";
import { debugFixtures } from "./symbolize-fixtures.ts";

export const TAILCALL_FIXTURES = join(import.meta.dir, "../../fixtures/tailcall");
const CORES = join(import.meta.dir, "../../fixtures/cores/aarch64-qemu-user");
const OUT = join(tmpdir(), `crashkeep-tailcall-fixtures-${process.getuid?.() ?? 0}-${Bun.hash(TAILCALL_FIXTURES).toString(16)}`);

export interface TailcallFixtures {
  arch: string;
  sysroot: string;
  /** The program's build-id tree (x86_64: and glibc's debug file's). */
  debugDirs: string[];
  /** chain, library, noreturn, ambiguous (sorted). */
  cases: string[];
  core(name: string): string;
}

export function tailcallFixtures(arch: string): TailcallFixtures {
  const src = join(TAILCALL_FIXTURES, arch);
  const root = join(OUT, arch);
  for (const sub of ["sysroot", "debug"]) for (const f of walk(join(src, sub))) unxz(f, join(root, sub, relative(join(src, sub), f).slice(0, -3)));
  const debugDirs = [join(root, "debug")];
  if (arch === "x86_64") {
    const fx = debugFixtures();
    for (const lib of ["libc.so.6", "ld-linux-x86-64.so.2"]) {
      const to = join(root, "sysroot/usr/lib/x86_64-linux-gnu", lib);
      mkdirSync(dirname(to), { recursive: true });
      copyFileSync(join(fx.sysroot, "usr/lib/x86_64-linux-gnu", lib), to);
    }
    debugDirs.push(fx.glibcDebugDir);
  } else {
    for (const lib of ["libc.so.6", "ld-linux-aarch64.so.1"]) unxz(join(CORES, "sysroot/lib", `${lib}.xz`), join(root, "sysroot/lib", lib));
  }
  const cases = readdirSync(src).filter((f) => f.endsWith(".core.xz")).map((f) => f.slice(0, -".core.xz".length)).sort();
  for (const c of cases) unxz(join(src, `${c}.core.xz`), join(root, `${c}.core`));
  return { arch, sysroot: join(root, "sysroot"), debugDirs, cases, core: (name) => join(root, `${name}.core`) };
}

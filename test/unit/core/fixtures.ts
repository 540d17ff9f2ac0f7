// Test helper: decompresses the core fixtures and their sysroot
// (test/fixtures/cores/, made by make.sh) into a temporary directory, once.
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { tmpdir } from "node:os";

export const FIXTURES = join(import.meta.dir, "../../fixtures/cores");
// one directory per checkout: worktrees of the repository run their suites side by side
const OUT = join(tmpdir(), `crashkeep-core-fixtures-${process.getuid?.() ?? 0}-${Bun.hash(FIXTURES).toString(16)}`);

/** Decompress src into dest unless dest is already its copy (a stamp beside it). */
export function unxz(src: string, dest: string): void {
  // a stamp names the exact .xz a decompressed file came from (remade fixtures are redone)
  const st = statSync(src);
  const stamp = `${st.size} ${st.mtimeMs}`;
  if (existsSync(dest) && existsSync(`${dest}.stamp`) && readFileSync(`${dest}.stamp`, "utf8") === stamp) return;
  mkdirSync(dirname(dest), { recursive: true });
  const r = Bun.spawnSync(["xz", "-dc", src]);
  if (r.exitCode !== 0) throw new Error(`Cannot decompress fixture "${src}": xz failed`);
  writeFileSync(dest, r.stdout);
  writeFileSync(`${dest}.stamp`, stamp);
}

/** Every file under dir, recursively. */
export function walk(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...walk(p));
    else out.push(p);
  }
  return out;
}

export interface Fixture {
  arch: string;
  name: string;
  core: string;
  sysroot: string;
  gdb: string;
}

export function fixtures(): Fixture[] {
  const out: Fixture[] = [];
  // aarch64: kernel-written cores from the arm64 QEMU guest; aarch64-qemu-user: cores qemu-user
  // wrote (no NT_FILE, no NT_SIGINFO), kept for the r_debug/link_map route (README.md).
  for (const arch of ["x86_64", "aarch64", "aarch64-qemu-user"]) {
    const dir = join(FIXTURES, arch);
    if (!existsSync(dir)) continue;
    const sysroot = join(OUT, arch, "sysroot");
    for (const f of walk(join(dir, "sysroot"))) {
      if (f.endsWith(".xz")) unxz(f, join(sysroot, relative(join(dir, "sysroot"), f).slice(0, -3)));
    }
    for (const f of readdirSync(dir)) {
      if (!f.endsWith(".core.xz")) continue;
      const name = f.slice(0, -".core.xz".length);
      const core = join(OUT, arch, `${name}.core`);
      unxz(join(dir, f), core);
      out.push({ arch, name, core, sysroot, gdb: join(dir, `${name}.gdb`) });
    }
  }
  return out;
}

/**
 * Copies the files a fixture core maps (the paths listed in its NAME.files)
 * from the unpacked sysroot to the same paths under root: where a simulated
 * device whose root prefix is root looks for them (the pipe handler reads a
 * module at root + the path the core names).
 */
export function placeMappedFiles(list: string, sysroot: string, root: string): void {
  for (const path of readFileSync(list, "utf8").split("\n").filter((p) => p.startsWith("/"))) {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    copyFileSync(join(sysroot, path), join(root, path));
  }
}

// Test helper: decompresses the debug-info fixtures (test/fixtures/symbolize/,
// made by make.sh) into a temporary directory, once per checkout: cores, the
// sysroot (stripped modules, debuglink files beside them), the build-id tree
// and glibc's debug file (glibc-debug.sh), never the host's /usr/lib/debug.
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { tmpdir } from "node:os";
import { unxz, walk } from "../core/fixtures.ts";

export const FIXTURES = join(import.meta.dir, "../../fixtures/symbolize/x86_64");
const OUT = join(tmpdir(), `crashkeep-symbolize-fixtures-${process.getuid?.() ?? 0}-${Bun.hash(FIXTURES).toString(16)}`);

export interface DebugFixture {
  name: string;
  core: string;
  gdb: string;
}

export interface DebugFixtures {
  sysroot: string;
  /** The build-id tree of our programs' debug files. */
  debugDir: string;
  /** libc6-dbg's file for the cores' libc, as a build-id tree: names glibc's frames (whatever the host has installed). */
  glibcDebugDir: string;
  libcBuildId: string;
  cores: DebugFixture[];
  /** Where the unpacked files live (tests copy from here to build odd layouts). */
  root: string;
}

let cached: DebugFixtures | undefined;

export function debugFixtures(): DebugFixtures {
  if (cached) return cached;
  for (const sub of ["sysroot", "debug"]) {
    for (const f of walk(join(FIXTURES, sub))) if (f.endsWith(".xz")) unxz(f, join(OUT, sub, relative(join(FIXTURES, sub), f).slice(0, -3)));
  }
  const cores: DebugFixture[] = [];
  for (const f of readdirSync(FIXTURES).sort()) {
    if (!f.endsWith(".core.xz")) continue;
    const name = f.slice(0, -".core.xz".length);
    const core = join(OUT, `${name}.core`);
    unxz(join(FIXTURES, f), core);
    cores.push({ name, core, gdb: join(FIXTURES, `${name}.gdb`) });
  }
  const libcBuildId = (readFileSync(join(FIXTURES, "libc.build-id"), "utf8").split("\n")[0] ?? "").trim();
  for (const f of walk(join(FIXTURES, "glibc-debug"))) {
    const rel = relative(join(FIXTURES, "glibc-debug"), f).slice(0, -3);
    if (f.endsWith(".xz")) zlibDebug(f, join(OUT, "glibc-debug-plain", rel), join(OUT, "glibc-debug", rel));
  }
  cached = { sysroot: join(OUT, "sysroot"), debugDir: join(OUT, "debug"), glibcDebugDir: join(OUT, "glibc-debug"), libcBuildId, cores, root: OUT };
  return cached;
}

/**
 * Unpack a debug file carried with plain DWARF (glibc-debug.sh) and compress its
 * DWARF sections back with zlib, as libc6-dbg ships them: the tests read the form
 * users point --debug-dir at. Once per fixture (a stamp beside the result).
 */
function zlibDebug(src: string, plain: string, dest: string): void {
  unxz(src, plain);
  const stamp = readFileSync(`${plain}.stamp`, "utf8");
  if (existsSync(dest) && existsSync(`${dest}.stamp`) && readFileSync(`${dest}.stamp`, "utf8") === stamp) return;
  mkdirSync(dirname(dest), { recursive: true });
  const r = Bun.spawnSync(["objcopy", "--compress-debug-sections=zlib-gabi", plain, dest]);
  if (r.exitCode !== 0) throw new Error(`Cannot compress fixture "${plain}": objcopy failed: ${r.stderr.toString().trim()}`);
  writeFileSync(`${dest}.stamp`, stamp);
}

// Test helper: decompresses the debug-info fixtures (test/fixtures/symbolize/,
// made by make.sh) into a temporary directory, once per checkout: cores, the
// sysroot (stripped modules, debuglink files beside them) and the build-id tree.
import { readdirSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";
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
  /** libc6-dbg's tree: names glibc's frames (the fixtures' libc must be the installed one, libc.build-id). */
  systemDebugDir: string;
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
  cached = { sysroot: join(OUT, "sysroot"), debugDir: join(OUT, "debug"), systemDebugDir: "/usr/lib/debug", libcBuildId, cores, root: OUT };
  return cached;
}

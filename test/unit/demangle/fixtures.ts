// Test helper: the demangling fixtures (test/fixtures/demangle/, made by
// make.sh): the name tables (mangled, c++filt, c++filt -i), and the cores,
// programs and debug file unpacked into a temporary directory once per checkout.
import { chmodSync, readdirSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";
import { tmpdir } from "node:os";
import { unxz, walk } from "../core/fixtures.ts";

export const DEMANGLE_FIXTURES = join(import.meta.dir, "../../fixtures/demangle");
const X86 = join(DEMANGLE_FIXTURES, "x86_64");
const OUT = join(tmpdir(), `crashkeep-demangle-fixtures-${process.getuid?.() ?? 0}-${Bun.hash(DEMANGLE_FIXTURES).toString(16)}`);

export interface NameRow {
  mangled: string;
  /** c++filt (binutils), its default ("auto": Rust first, then C++) */
  cxxfilt: string;
  /** c++filt -i: without "implementation details" (std::string, no Rust hash), as gdb and __cxa_demangle */
  plain: string;
}

/** names/NAME.tsv.xz: one name per line, mangled <TAB> c++filt <TAB> c++filt -i. */
export function nameTable(name: string): NameRow[] {
  const r = Bun.spawnSync(["xz", "-dc", join(DEMANGLE_FIXTURES, "names", `${name}.tsv.xz`)]);
  if (r.exitCode !== 0) throw new Error(`Cannot decompress fixture "names/${name}.tsv.xz": xz failed`);
  return r.stdout.toString().split("\n").filter((l) => l !== "").map((l) => {
    const [mangled, cxxfilt, plain] = l.split("\t");
    if (mangled === undefined || cxxfilt === undefined || plain === undefined) throw new Error(`Bad fixture line "${l}"`);
    return { mangled, cxxfilt, plain };
  });
}

export interface DemangleCores {
  sysroot: string;
  debugDir: string;
  /** name → unpacked core */
  cores: Record<string, string>;
  /** name → gdb's `thread apply all bt` with the symbol table only (NAME.symtab.gdb) and with the debug file (NAME.gdb), when made */
  gdb: Record<string, { symtab: string; debug?: string }>;
}

let cached: DemangleCores | undefined;

export function demangleCores(): DemangleCores {
  if (cached) return cached;
  for (const sub of ["sysroot", "debug"]) {
    for (const f of walk(join(X86, sub))) {
      if (!f.endsWith(".xz")) continue;
      const dest = join(OUT, sub, relative(join(X86, sub), f).slice(0, -3));
      unxz(f, dest);
      if (sub === "sysroot") chmodSync(dest, 0o755);
    }
  }
  const cores: Record<string, string> = {};
  const gdb: Record<string, { symtab: string; debug?: string }> = {};
  for (const f of readdirSync(X86).sort()) {
    if (!f.endsWith(".core.xz")) continue;
    const name = f.slice(0, -".core.xz".length);
    cores[name] = join(OUT, `${name}.core`);
    unxz(join(X86, f), cores[name]);
    const debug = join(X86, `${name}.gdb`);
    gdb[name] = { symtab: join(X86, `${name}.symtab.gdb`), ...(readdirSync(X86).includes(`${name}.gdb`) ? { debug } : {}) };
  }
  cached = { sysroot: join(OUT, "sysroot"), debugDir: join(OUT, "debug"), cores, gdb };
  return cached;
}

export interface GdbFrame {
  pc: bigint | null;
  /** As gdb prints it before the arguments: "geo::measure(double)" (symbol table), "geo::measure" (debug info). */
  name: string;
  file: string | null;
  line: number | null;
  /** A frame gdb made from DW_TAG_call_site for a tail call (`info frame`: "tail call frame"), when the file has `info frame`. */
  tailCall: boolean;
}

/** The crashing thread's frames of `thread apply all bt` (the first thread gdb lists), up to and with main. */
export function readGdbBacktrace(path: string): GdbFrame[] {
  const out: GdbFrame[] = [];
  let section = 0;
  let level = -1;
  for (const line of readFileSync(path, "utf8").split("\n")) {
    // gdb prints frame 0 once when it loads the core, then "Thread 1 (...)" and the thread's frames; then, when
    // asked, "Thread 1 (...)" again and `info frame` of each frame
    if (/^Thread \d+ /.test(line)) {
      section++;
      continue;
    }
    if (section === 2) {
      const lv = /^Stack level (\d+), frame at/.exec(line);
      if (lv) level = Number(lv[1]);
      const f = out[level];
      if (f && /^ tail call frame/.test(line)) f.tailCall = true;
      continue;
    }
    const inThread = section === 1;
    const m = /^#(\d+)\s+(?:(0x[0-9a-f]+) in )?(.*)$/.exec(line);
    if (!inThread || !m) continue;
    if (Number(m[1]) !== out.length) throw new Error(`Cannot read gdb's backtrace "${path}": frame #${m[1]} after ${out.length} frames`);
    let rest = m[3] as string;
    let file: string | null = null;
    let lineNo: number | null = null;
    const at = / at (\S+):(\d+)$/.exec(rest);
    if (at) {
      file = at[1] as string;
      lineNo = Number(at[2]);
      rest = rest.slice(0, at.index);
    }
    rest = rest.replace(/ from \S+$/, "");
    // the argument list: the last balanced "(...)"
    let depth = 0;
    let cut = -1;
    for (let i = rest.length - 1; i >= 0; i--) {
      if (rest[i] === ")") depth++;
      else if (rest[i] === "(" && --depth === 0) {
        cut = i;
        break;
      }
    }
    if (out.at(-1)?.name === "main") continue; // the thread's frames after main (there are none with the debug file)
    out.push({ pc: m[2] === undefined ? null : BigInt(m[2]), name: (cut > 0 ? rest.slice(0, cut) : rest).trimEnd(), file, line: lineNo, tailCall: false });
  }
  return out;
}

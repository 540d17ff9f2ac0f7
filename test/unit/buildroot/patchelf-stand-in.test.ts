// The host-patchelf stand-in of the offline Buildroot build
// (build/buildroot-offline/host-patchelf/patchelf.sh): Buildroot's fix-rpath
// calls "patchelf --make-rpath-relative ROOT [--no-standard-lib-dirs]
// [--relative-to-file] FILE" on every ELF file of the host, staging and
// target trees; every other call goes to Debian's patchelf. Checked on real
// ELF files built here with gcc (a program linked against a library of its
// own, with the RPATH a Buildroot host package gets: -Wl,-rpath,<host>/lib).
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

const STAND_IN = resolve(import.meta.dir, "../../../build/buildroot-offline/host-patchelf/patchelf.sh");
let dir: string;
let host: string;

function run(argv: string[]): { out: string; code: number } {
  const r = Bun.spawnSync(argv, { stdout: "pipe", stderr: "pipe" });
  return { out: (r.stdout.toString() + r.stderr.toString()).trim(), code: r.exitCode ?? -1 };
}

function must(argv: string[]): string {
  const r = run(argv);
  if (r.code !== 0) throw new Error(`Cannot run "${argv.join(" ")}": exit ${r.code}: ${r.out}`);
  return r.out;
}

/** A copy of the program with the given RPATH (Debian's patchelf sets it). */
function program(name: string, rpath: string, into = join(host, "bin")): string {
  const file = join(into, name);
  mkdirSync(into, { recursive: true });
  copyFileSync(join(dir, "prog"), file);
  must(["/usr/bin/patchelf", "--set-rpath", rpath, file]);
  return file;
}

const rpathOf = (file: string) => must([STAND_IN, "--print-rpath", file]);

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "crashkeep-patchelf-"));
  host = join(dir, "host");
  mkdirSync(join(host, "lib"), { recursive: true });
  writeFileSync(join(dir, "lib.c"), "int answer(void) { return 42; }\n");
  writeFileSync(join(dir, "prog.c"), "int answer(void);\nint main(void) { return answer() == 42 ? 0 : 1; }\n");
  must(["gcc", "-shared", "-fPIC", "-o", join(host, "lib/libanswer.so"), join(dir, "lib.c")]);
  must(["gcc", "-o", join(dir, "prog"), join(dir, "prog.c"), `-L${join(host, "lib")}`, "-lanswer"]);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("--make-rpath-relative (Buildroot's fix-rpath)", () => {
  test("host tree: an absolute RPATH into the tree becomes $ORIGIN-relative, and the program still finds its library", () => {
    const file = program("a", join(host, "lib"));
    must([STAND_IN, "--make-rpath-relative", host, "--relative-to-file", file]);
    expect(rpathOf(file)).toBe("$ORIGIN/../lib");
    expect(run([file]).code).toBe(0);
  });

  test("host tree reached through a symlink: the path stays inside the tree", () => {
    const alias = join(dir, "alias");
    symlinkSync(host, alias);
    const file = program("b", join(alias, "lib"));
    must([STAND_IN, "--make-rpath-relative", alias, "--relative-to-file", join(alias, "bin/b")]);
    expect(rpathOf(file)).toBe("$ORIGIN/../lib");
    // A directory deeper in the tree, and $ORIGIN entries kept when they resolve.
    const deep = program("c", `$ORIGIN/../lib:${join(alias, "lib")}`, join(host, "libexec/tool"));
    must([STAND_IN, "--make-rpath-relative", alias, "--relative-to-file", join(alias, "libexec/tool/c")]);
    expect(rpathOf(deep)).toBe("$ORIGIN/../../lib");
  });

  test("directories outside the tree or missing from it are dropped; none left: an empty RPATH", () => {
    const file = program("d", `/nonexistent/lib:${join(host, "lib")}:${join(dir, "elsewhere")}`);
    must([STAND_IN, "--make-rpath-relative", host, "--relative-to-file", file]);
    expect(rpathOf(file)).toBe("$ORIGIN/../lib");
    const none = program("e", "/nonexistent/lib");
    must([STAND_IN, "--make-rpath-relative", host, "--relative-to-file", none]);
    expect(rpathOf(none)).toBe("");
  });

  test("target tree: paths under the root without it, the standard library directories dropped", () => {
    const target = join(dir, "target");
    mkdirSync(join(target, "usr/lib/app"), { recursive: true });
    mkdirSync(join(target, "lib"), { recursive: true });
    const file = program("f", `/usr/lib:/usr/lib/app:${join(target, "lib")}:/lib`, join(target, "usr/bin"));
    must([STAND_IN, "--make-rpath-relative", target, "--no-standard-lib-dirs", file]);
    expect(rpathOf(file)).toBe("/usr/lib/app");
  });

  test("a file without RPATH is left alone (the Bun executable, for one)", () => {
    const file = join(host, "bin/plain");
    copyFileSync(join(dir, "prog"), file);
    const before = Bun.file(file).size;
    must([STAND_IN, "--make-rpath-relative", host, "--relative-to-file", file]);
    expect(rpathOf(file)).toBe("");
    expect(Bun.file(file).size).toBe(before);
  });

  test("an option fix-rpath does not use is refused by name", () => {
    const file = program("g", join(host, "lib"));
    const r = run([STAND_IN, "--make-rpath-relative", host, "--shrink", file]);
    expect(r.code).not.toBe(0);
    expect(r.out).toBe('patchelf: Cannot use option "--shrink" with --make-rpath-relative');
  });
});

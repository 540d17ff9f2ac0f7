// The BR2_EXTERNAL tree (build/buildroot/) against a real Buildroot, given as
// BUILDROOT=<directory or release tarball> (CI: the 2025.02.16 LTS tarball in
// ../shared/buildroot/). Buildroot's own tools, not our re-statements of them:
// - utils/check-package: 0 warnings on every file of the tree;
// - every defconfig in configs/ loads (make <name>_defconfig), keeps each of
//   its lines (as Buildroot's own runtime tests demand), and keeps
//   BR2_PACKAGE_CRASHKEEP=y; the package stays without a kernel built;
// - target-finalize's real STRIP_FIND_CMD and strip options, then
//   Buildroot's makedevs with the package's permissions table, leave a Bun
//   executable installed by the package whole and 0755; the same executable
//   installed executable comes out as plain Bun (why the package does it so);
// - the kernel fixups with Buildroot's own KCONFIG_* macros;
// - printvars: the license files and the tarball picked.
// Without BUILDROOT this file prints one line and runs nothing:
// test/unit/buildroot/ checks what reading the files can.
import { describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join, resolve } from "node:path";
import { deviceFiles } from "../../build/dist.ts";
import { LICENSE_FILES } from "../../build/licenses.ts";
import { FIXUP_CASES, applyFixups, runMk } from "../unit/buildroot/mk-harness.ts";

/** Debian's python3, whose modules the Makefile's APT_PACKAGES install. */
const DEBIAN_PYTHON = "/usr/bin/python3";
const ROOT = join(import.meta.dir, "../..");
const EXT = join(ROOT, "build/buildroot");
const given = process.env.BUILDROOT ?? "";

function sh(cmd: string[], opts: { cwd?: string; env?: Record<string, string> } = {}): { out: string; code: number } {
  const r = Bun.spawnSync(cmd, { cwd: opts.cwd ?? ROOT, env: { ...process.env, ...opts.env }, stdout: "pipe", stderr: "pipe" });
  return { out: r.stdout.toString() + r.stderr.toString(), code: r.exitCode ?? -1 };
}

/** The Buildroot directory: BUILDROOT itself, or its tarball unpacked once under out/buildroot-tree/. */
function buildrootDir(): string {
  const path = resolve(process.cwd(), given);
  if (!existsSync(path)) throw new Error(`Cannot find Buildroot "${given}": no such file or directory`);
  if (statSync(path).isDirectory()) return path;
  const name = basename(path).replace(/\.tar(\.\w+)?$/, "");
  const dir = join(ROOT, "out/buildroot-tree", name);
  if (existsSync(join(dir, "Makefile"))) return dir;
  const tmp = `${dir}.partial`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  const r = sh(["tar", "-xf", path, "-C", tmp]);
  if (r.code !== 0) throw new Error(`Cannot unpack Buildroot "${given}": ${r.out.trim()}`);
  const [top] = readdirSync(tmp);
  if (!top || !existsSync(join(tmp, top, "Makefile"))) throw new Error(`Cannot unpack Buildroot "${given}": no <dir>/Makefile inside`);
  rmSync(dir, { recursive: true, force: true });
  renameSync(join(tmp, top), dir);
  rmSync(tmp, { recursive: true, force: true });
  return dir;
}

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: "utf8" }).map((f) => join(dir, f)).filter((f) => statSync(f).isFile()).sort();
}

/** "BR2_X=value" and "# BR2_X is not set" lines of a defconfig. */
function settingLines(text: string): string[] {
  return text.split("\n").filter((l) => /^BR2_\w+=/.test(l) || /^# BR2_\w+ is not set$/.test(l));
}

if (given === "") {
  console.log("test/integration/buildroot-tree.test.ts: no Buildroot tree given; set BUILDROOT=<dir or tarball> (e.g. ../shared/buildroot/buildroot-2025.02.16.tar.xz) to check build/buildroot/ with Buildroot's own tools");
}

describe.skipIf(given === "")("build/buildroot/ with Buildroot's own tools", () => {
  const br = given === "" ? "" : buildrootDir();
  const version = given === "" ? "" : (/^export BR2_VERSION := (.+)$/m.exec(readFileSync(join(br, "Makefile"), "utf8"))?.[1] ?? "?");
  const work = mkdtempSync(join(tmpdir(), "crashkeep-br-tree-"));
  const make = (out: string, ...args: string[]) => sh(["make", "-C", br, `O=${out}`, `BR2_EXTERNAL=${EXT}`, ...args]);
  const target = join(work, "target");
  // One printvars per loaded defconfig (each costs Buildroot a full parse), TARGET_DIR moved into work.
  const printed = new Map<string, string>();
  const printvar = (defconfig: string, name: string): string => {
    if (!printed.has(defconfig)) {
      // Loaded by its own test above, unless that one was filtered out.
      if (!existsSync(join(work, defconfig, ".config"))) make(join(work, defconfig), defconfig);
      const r = make(join(work, defconfig), "-s", `TARGET_DIR=${target}`, "printvars", "VARS=STRIP_FIND_CMD STRIPCMD CRASHKEEP_PERMISSIONS CRASHKEEP_LICENSE_FILES CRASHKEEP_SOURCE");
      if (r.code !== 0) throw new Error(`Cannot run printvars for ${defconfig}: exit ${r.code}: ${r.out}`);
      printed.set(defconfig, r.out);
    }
    return new RegExp(`^${name}=(.*)$`, "m").exec(printed.get(defconfig) ?? "")?.[1]?.trim() ?? "";
  };

  // Debian's interpreter, where python3-magic and python3-flake8 are installed:
  // the python3 first on PATH may be another one (pyenv's, on these machines).
  test(`utils/check-package (Buildroot ${version}): 0 warnings on every file of the tree`, () => {
    const py = sh([DEBIAN_PYTHON, "-c", "import magic, flake8"]);
    if (py.code !== 0) throw new Error(`Cannot run utils/check-package: ${py.out.trim().split("\n").at(-1)}; install python3-magic and python3-flake8 (the Makefile's APT_PACKAGES)`);
    const r = sh([DEBIAN_PYTHON, join(br, "utils/check-package"), "-b", ...filesUnder(EXT)]);
    expect({ code: r.code, out: r.out.split("\n").filter((l) => !/lines processed/.test(l)).join("\n").trim() }).toEqual({ code: 0, out: "0 warnings generated" });
  }, 120_000);

  const defconfigs = readdirSync(join(EXT, "configs")).filter((n) => n.endsWith("_defconfig")).sort();
  test.each(defconfigs)(`%s loads on Buildroot ${version} with every line kept, crashkeep included`, (name) => {
    const out = join(work, name);
    const r = make(out, name);
    expect({ code: r.code, out: r.code === 0 ? "" : r.out }).toEqual({ code: 0, out: "" });
    const config = readFileSync(join(out, ".config"), "utf8").split("\n");
    const dropped = settingLines(readFileSync(join(EXT, "configs", name), "utf8")).filter((l) => !config.includes(l));
    expect(dropped).toEqual([]);
    expect(config).toContain("BR2_PACKAGE_CRASHKEEP=y");
  }, 120_000);

  // The trial: with "depends on BR2_LINUX_KERNEL" the package left
  // .config without a word when the kernel came from elsewhere.
  test("without a kernel built by Buildroot the package stays in .config", () => {
    const out = join(work, "no-kernel");
    mkdirSync(out, { recursive: true });
    const defconfig = join(out, "defconfig.in");
    writeFileSync(defconfig, ["BR2_aarch64=y", "BR2_TOOLCHAIN_BUILDROOT_GLIBC=y", "BR2_TOOLCHAIN_BUILDROOT_CXX=y", "BR2_PACKAGE_CRASHKEEP=y", ""].join("\n"));
    const r = make(out, `BR2_DEFCONFIG=${defconfig}`, "defconfig");
    expect(r.code).toBe(0);
    const config = readFileSync(join(out, ".config"), "utf8").split("\n");
    expect(config).toContain("# BR2_LINUX_KERNEL is not set");
    expect(config).toContain("BR2_PACKAGE_CRASHKEEP=y");
  }, 120_000);

  // The real strip step of target-finalize, on the package's install of a
  // real Bun executable (this machine's own target, so that it can run).
  test("target-finalize's strip leaves the installed executable whole; an executable file would be stripped to plain Bun", () => {
    const value = (name: string) => printvar(defconfigs[0] ?? "", name);
    const findCmd = value("STRIP_FIND_CMD");
    expect(findCmd).toStartWith(`find ${target} `);
    // STRIPCMD's options with this machine's strip in place of the target's.
    const stripArgs = value("STRIPCMD").split(/\s+/).slice(1).join(" ");
    // fs/common.mk: every filesystem image runs Buildroot's makedevs over
    // the packages' permission tables (as root under fakeroot; the owner
    // here is whoever runs the test, the mode is what counts).
    const makedevs = join(work, "makedevs");
    const cc = sh(["gcc", "-O1", "-o", makedevs, join(br, "package/makedevs/makedevs.c")]);
    expect({ code: cc.code, out: cc.code === 0 ? "" : cc.out }).toEqual({ code: 0, out: "" });
    const fields = value("CRASHKEEP_PERMISSIONS").split(/\s+/);
    expect(fields.slice(0, 2)).toEqual(["/usr/bin/crashkeep", "f"]);
    const table = join(work, "device-table.txt");
    writeFileSync(table, `${[...fields.slice(0, 3), String(process.getuid?.() ?? 0), String(process.getgid?.() ?? 0), ...fields.slice(5)].join(" ")}\n`);

    const build = join(work, "build");
    mkdirSync(build, { recursive: true });
    writeFileSync(join(work, "hello.ts"), 'console.log("the bundled program");\n');
    const compiled = sh([process.execPath, "build", "--compile", join(work, "hello.ts"), "--outfile", join(build, "crashkeep")]);
    expect(compiled.code).toBe(0);
    for (const f of deviceFiles("x64")) writeFileSync(join(build, f.name), readFileSync(join(ROOT, f.from)));
    const bunVersion = sh([process.execPath, "--version"]).out.trim();

    const finalize = (makeExecutable: boolean): string => {
      rmSync(target, { recursive: true, force: true });
      const installed = runMk({ BR2_x86_64: "y", TARGET_DIR: target }, `${build}/.stamp_sysv`, work);
      expect(installed.code).toBe(0);
      const binary = join(target, "usr/bin/crashkeep");
      if (makeExecutable) sh(["chmod", "0755", binary]);
      // As target-finalize does it: errors (the init script is no ELF) ignored.
      sh(["sh", "-c", `${findCmd} | xargs -0 -r strip ${stripArgs} 2>/dev/null || true`]);
      const devs = sh([makedevs, "-d", table, target]);
      expect(devs.code).toBe(0);
      expect(statSync(binary).mode & 0o777).toBe(0o755);
      return sh([binary, "--version"]).out.trim();
    };
    expect(finalize(false)).toBe("the bundled program");
    expect(finalize(true)).toBe(bunVersion);
  }, 300_000);

  test.each(FIXUP_CASES)("kernel fixups with Buildroot's KCONFIG macros: $name", ({ lines, want }) => {
    const dir = mkdtempSync(join(work, "kconfig-"));
    const got = applyFixups(lines, dir, join(br, "package/pkg-utils.mk"));
    expect(Object.fromEntries(Object.keys(want).map((k) => [k, got.get(k) ?? "n"]))).toEqual(want);
  });

  test("printvars: the license files and, per architecture, the tarball", () => {
    for (const name of defconfigs) {
      expect(printvar(name, "CRASHKEEP_LICENSE_FILES").split(/\s+/)).toEqual([...LICENSE_FILES]);
      const arch = name.includes("aarch64") ? "arm64" : "x64";
      expect(printvar(name, "CRASHKEEP_SOURCE")).toMatch(new RegExp(`^crashkeep-[\\d.]+-linux-${arch}\\.tar\\.gz$`));
    }
  }, 300_000);

  test("cleanup", () => rmSync(work, { recursive: true, force: true }));
});

// The BR2_EXTERNAL tree (build/buildroot/) against Buildroot's conventions
// (our own checker, check-package.ts), shellcheck on the init script, and the
// package's arch/libc selection evaluated with GNU make and a small Kconfig
// evaluator for every toolchain/CPU combination.
import { describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pkg from "../../../package.json" with { type: "json" };
import { configSchema } from "../../../src/config/schema.ts";
import { configRegions, requiredMemmap } from "../../../src/config/memmap.ts";
import { checkConfigIn, checkDefconfig, checkHash, checkInitScript, checkMk } from "./check-package.ts";
import { isSelectable, parseConfigIn } from "./kconfig.ts";
import { FIXUP_CASES, applyFixups, mkVar, runMk } from "./mk-harness.ts";
import { DIST_TARGETS, deviceFiles, tarballName } from "../../../build/dist.ts";
import { LICENSE_FILES, bundledModules, stageLicenses } from "../../../build/licenses.ts";

const ROOT = join(import.meta.dir, "../../..");
const EXT = join(ROOT, "build/buildroot");
const PKG = join(EXT, "package/crashkeep");
// The device files' one source (build/dist.ts packs them into the tarball).
const INIT = join(ROOT, "rootfs-overlay/etc/init.d/S03crashkeep");
const UNIT = join(ROOT, "rootfs-overlay/usr/lib/systemd/system/crashkeep.service");
const read = (p: string) => readFileSync(p, "utf8");
const rel = (p: string) => p.slice(ROOT.length + 1);

function which(cmd: string): string | undefined {
  return Bun.which(cmd) ?? undefined;
}

describe("BR2_EXTERNAL tree layout", () => {
  test("external.desc names the tree CRASHKEEP", () => {
    expect(read(join(EXT, "external.desc"))).toMatch(/^name: CRASHKEEP\n/);
  });
  test("Config.in sources the package, external.mk includes every package .mk", () => {
    expect(read(join(EXT, "Config.in"))).toBe('source "$BR2_EXTERNAL_CRASHKEEP_PATH/package/crashkeep/Config.in"\n');
    expect(read(join(EXT, "external.mk"))).toBe("include $(sort $(wildcard $(BR2_EXTERNAL_CRASHKEEP_PATH)/package/*/*.mk))\n");
  });
  // One source for the init script, the unit and the config: the tarball
  // (packed from rootfs-overlay/). The package keeps no copies to drift.
  test("the package directory holds only the package's own files", () => {
    expect(readdirSync(PKG).sort()).toEqual(["Config.in", "crashkeep.hash", "crashkeep.mk"]);
  });
  test("crashkeep.mk installs the device files from the tarball, none from the package directory", () => {
    const mk = read(join(PKG, "crashkeep.mk"));
    expect(mk).not.toContain("PKGDIR");
    for (const t of DIST_TARGETS) {
      for (const f of deviceFiles(t)) {
        expect(existsSync(join(ROOT, f.from))).toBe(true);
        if (f.name !== "config.json") expect(mk).toContain(`$(@D)/${f.name} `);
      }
    }
    expect(mk).toMatch(/^CRASHKEEP_CONFIG_FILE = \$\(@D\)\/config\.json$/m);
  });
});

describe("check-package rules (our checker)", () => {
  test("the package files pass", () => {
    const problems = [
      ...checkMk(rel(join(PKG, "crashkeep.mk")), read(join(PKG, "crashkeep.mk")), "crashkeep"),
      ...checkConfigIn(rel(join(PKG, "Config.in")), read(join(PKG, "Config.in"))),
      ...checkConfigIn(rel(join(EXT, "Config.in")), read(join(EXT, "Config.in"))),
      // The execute bit is checked for files in the package directory only.
      ...checkInitScript(rel(INIT), read(INIT), statSync(INIT).mode & ~0o111),
      ...checkHash(rel(join(PKG, "crashkeep.hash")), read(join(PKG, "crashkeep.hash"))),
    ];
    expect(problems).toEqual([]);
  });
  test("no package file is executable (check-package NotExecutable)", () => {
    const executable = readdirSync(PKG).filter((f) => (statSync(join(PKG, f)).mode & 0o111) !== 0);
    expect(executable).toEqual([]);
  });
  test("the defconfigs pass", () => {
    const dir = join(EXT, "configs");
    const names = readdirSync(dir).sort();
    expect(names).toEqual(["crashkeep_qemu_aarch64_virt_defconfig", "crashkeep_qemu_x86_64_defconfig"]);
    expect(names.flatMap((n) => checkDefconfig(`configs/${n}`, read(join(dir, n))))).toEqual([]);
  });

  // The checker must catch what Buildroot's would: a deliberately bad tree.
  test.each([
    ["mk header", () => checkMk("x.mk", "# crashkeep\n\nCRASHKEEP_VERSION = 1\n$(eval $(generic-package))\n", "crashkeep"), /header line 1/],
    ["mk spaces in define", () => checkMk("x.mk", mkOk("define CRASHKEEP_INSTALL_TARGET_CMDS\n    cp a b\nendef\n"), "crashkeep"), /expected indent with tabs/],
    ["mk tab outside define", () => checkMk("x.mk", mkOk("\tCRASHKEEP_VERSION = 1\n"), "crashkeep"), /unexpected indent with tabs/],
    ["mk prefix typo", () => checkMk("x.mk", mkOk("CRASHKEPE_VERSION = 1\n"), "crashkeep"), /possible typo/],
    ["mk ifdef", () => checkMk("x.mk", mkOk("ifdef BR2_aarch64\nCRASHKEEP_X = 1\nendif\n"), "crashkeep"), /ifdef/],
    ["mk else ifdef", () => checkMk("x.mk", mkOk("ifeq ($(A),y)\nCRASHKEEP_X = 1\nelse ifdef B\nCRASHKEEP_X = 2\nendif\n"), "crashkeep"), /ifdef/],
    ["mk HOST_DIR/usr", () => checkMk("x.mk", mkOk("CRASHKEEP_X = $(HOST_DIR)/usr/bin\n"), "crashkeep"), /HOST_DIR/],
    ["mk braces", () => checkMk("x.mk", mkOk("CRASHKEEP_X = ${CRASHKEEP_VERSION}\n"), "crashkeep"), /not \$\{\}/],
    ["mk useless flag", () => checkMk("x.mk", mkOk("CRASHKEEP_INSTALL_TARGET = YES\n"), "crashkeep"), /useless default/],
    ["mk override", () => checkMk("x.mk", mkOk("CRASHKEEP_X = 1\nCRASHKEEP_X = 2\n"), "crashkeep"), /unconditional override/],
    ["mk two spaces before backslash", () => checkMk("x.mk", mkOk("CRASHKEEP_X = a  \\\n\tb\n"), "crashkeep"), /one space before backslash/],
    ["Config.in order", () => checkConfigIn("C", "config BR2_PACKAGE_X\n\tbool \"x\"\n\tselect BR2_Y\n\tdepends on BR2_Z\n"), /attributes order/],
    ["Config.in help width", () => checkConfigIn("C", `config BR2_PACKAGE_X\n\tbool "x"\n\thelp\n\t  ${"x".repeat(63)}\n`), /help text/],
    ["Config.in default n", () => checkConfigIn("C", "config BR2_PACKAGE_X\n\tbool \"x\"\n\tdefault n\n"), /default n/],
    ["Config.in indent", () => checkConfigIn("C", "config BR2_PACKAGE_X\n    bool \"x\"\n"), /one tab/],
    ["Config.in redefined", () => checkConfigIn("C", "config BR2_PACKAGE_X\n\tbool \"x\"\n\nconfig BR2_PACKAGE_X\n\tbool \"x\"\n"), /redeclared/],
    ["init script executable", () => checkInitScript("S03crashkeep", 'DAEMON="crashkeep"\n', 0o100755), /not be executable/],
    ["init script no DAEMON", () => checkInitScript("S03crashkeep", "echo\n", 0o100644), /DAEMON variable not defined/],
    ["init script DAEMON path", () => checkInitScript("S03crashkeep", 'DAEMON="/usr/bin/crashkeep"\n', 0o100644), /path in DAEMON/],
    ["init script name", () => checkInitScript("S3crashkeep", 'DAEMON="crashkeep"\n', 0o100644), /filename should be/],
    ["init script PIDFILE", () => checkInitScript("S03crashkeep", 'DAEMON="crashkeep"\nPIDFILE="/run/x.pid"\n', 0o100644), /PIDFILE/],
    ["init script spaces", () => checkInitScript("S03crashkeep", 'DAEMON="crashkeep"\nstart() {\n    true\n}\n', 0o100644), /indented with tabs/],
    ["hash one space", () => checkHash("h", `sha256 ${"a".repeat(64)} f.tar.gz\n`), /separation/],
    ["hash length", () => checkHash("h", `sha256  ${"a".repeat(63)}  f.tar.gz\n`), /hash size/],
    ["hash type", () => checkHash("h", `sha3  ${"a".repeat(64)}  f.tar.gz\n`), /unexpected type/],
    ["trailing space", () => checkHash("h", "# x \n"), /trailing whitespace/],
    ["defconfig hashes", () => checkDefconfig("d", 'BR2_PACKAGE_CRASHKEEP=y\nBR2_TARGET_ROOTFS_EXT2_SIZE="256M"\n'), /FORCE_CHECK_HASHES/],
    ["defconfig strip exclude", () => checkDefconfig("d", 'BR2_DOWNLOAD_FORCE_CHECK_HASHES=y\nBR2_STRIP_EXCLUDE_FILES="crashkeep"\nBR2_PACKAGE_CRASHKEEP=y\nBR2_TARGET_ROOTFS_EXT2_SIZE="256M"\n'), /STRIP_EXCLUDE/],
    ["defconfig rootfs size", () => checkDefconfig("d", 'BR2_DOWNLOAD_FORCE_CHECK_HASHES=y\nBR2_PACKAGE_CRASHKEEP=y\n'), /EXT2_SIZE/],
  ] as const)("catches a bad %s", (_name, run, want) => {
    const problems = run();
    expect(problems.some((p) => want.test(p))).toBe(true);
  });
});

function mkOk(body: string): string {
  const h = "#".repeat(80);
  return `${h}\n#\n# crashkeep\n#\n${h}\n\n${body}\n$(eval $(generic-package))\n`;
}

describe("init script", () => {
  test("shellcheck passes (Debian package shellcheck)", () => {
    const sc = which("shellcheck");
    if (!sc) throw new Error("Cannot run shellcheck: not installed; apt-get install shellcheck (it is in the Makefile's APT_PACKAGES)");
    const r = Bun.spawnSync([sc, "--shell=sh", INIT]);
    expect(r.stdout.toString() + r.stderr.toString()).toBe("");
    expect(r.exitCode).toBe(0);
  });
});

/** Toolchain and CPU combinations: the symbols set to y. */
const COMBOS: { name: string; on: string[]; target: string | undefined }[] = [
  { name: "x86_64 glibc, generic x86-64 CPU", on: ["BR2_x86_64", "BR2_TOOLCHAIN_USES_GLIBC", "BR2_INSTALL_LIBSTDCPP"], target: "x64" },
  { name: "x86_64 glibc, x86-64-v2 (Nehalem)", on: ["BR2_x86_64", "BR2_TOOLCHAIN_USES_GLIBC", "BR2_X86_CPU_HAS_SSE42"], target: "x64" },
  { name: "x86_64 glibc, AVX2 CPU", on: ["BR2_x86_64", "BR2_TOOLCHAIN_USES_GLIBC", "BR2_X86_CPU_HAS_SSE42", "BR2_X86_CPU_HAS_AVX2"], target: "x64" },
  { name: "x86_64 musl w/ C++, AVX2 CPU", on: ["BR2_x86_64", "BR2_TOOLCHAIN_USES_MUSL", "BR2_INSTALL_LIBSTDCPP", "BR2_X86_CPU_HAS_AVX2"], target: "x64-musl" },
  { name: "x86_64 musl without C++", on: ["BR2_x86_64", "BR2_TOOLCHAIN_USES_MUSL", "BR2_X86_CPU_HAS_AVX2"], target: undefined },
  { name: "x86_64 musl w/ C++, no AVX2", on: ["BR2_x86_64", "BR2_TOOLCHAIN_USES_MUSL", "BR2_INSTALL_LIBSTDCPP"], target: undefined },
  { name: "x86_64 uClibc", on: ["BR2_x86_64", "BR2_TOOLCHAIN_USES_UCLIBC", "BR2_INSTALL_LIBSTDCPP"], target: undefined },
  { name: "x86_64 glibc static only", on: ["BR2_x86_64", "BR2_TOOLCHAIN_USES_GLIBC", "BR2_STATIC_LIBS"], target: undefined },
  { name: "aarch64 glibc", on: ["BR2_aarch64", "BR2_TOOLCHAIN_USES_GLIBC"], target: "arm64" },
  { name: "aarch64 musl", on: ["BR2_aarch64", "BR2_TOOLCHAIN_USES_MUSL", "BR2_INSTALL_LIBSTDCPP"], target: undefined },
  { name: "arm (32-bit) glibc", on: ["BR2_arm", "BR2_TOOLCHAIN_USES_GLIBC"], target: undefined },
  { name: "i386 glibc", on: ["BR2_i386", "BR2_TOOLCHAIN_USES_GLIBC"], target: undefined },
];

describe("package selection for each arch/libc", () => {
  const symbols = parseConfigIn(read(join(PKG, "Config.in")));
  const tmp = mkdtempSync(join(tmpdir(), "crashkeep-br-"));

  test.each(COMBOS.map((c) => ({ ...c, label: c.target ?? "not selectable" })))("$name → $label", ({ on, target }) => {
    const set = new Set([...on, "BR2_LINUX_KERNEL"]);
    expect(isSelectable("BR2_PACKAGE_CRASHKEEP", set, symbols)).toBe(target !== undefined);
    // The same without a kernel built by Buildroot (one built elsewhere).
    expect(isSelectable("BR2_PACKAGE_CRASHKEEP", new Set(on), symbols)).toBe(target !== undefined);
    if (target === undefined) return;
    expect((DIST_TARGETS as readonly string[]).includes(target)).toBe(true);
    const r = runMk(Object.fromEntries([...set].map((s) => [s, "y"])), "print", tmp);
    expect(r.code).toBe(0);
    expect(mkVar(r.out, "SOURCE")).toBe(tarballName(pkg.version, target));
  });

  // An image whose kernel is built outside Buildroot (a vendor kernel, or
  // Debian's) must keep the package: no "depends on BR2_LINUX_KERNEL".
  test("no kernel built by Buildroot: still selectable", () => {
    expect(isSelectable("BR2_PACKAGE_CRASHKEEP", new Set(["BR2_aarch64", "BR2_TOOLCHAIN_USES_GLIBC"]), symbols)).toBe(true);
    expect(symbols.get("BR2_PACKAGE_CRASHKEEP")?.depends.filter((d) => /\bBR2_LINUX_KERNEL\b/.test(d))).toEqual([]);
  });

  test("selects BR2_LINUX_NEEDS_MODULES only when Buildroot builds the kernel (phram and ramoops as modules)", () => {
    const selects = read(join(PKG, "Config.in")).split("\n").filter((l) => /^\tselect /.test(l));
    expect(selects).toEqual(["\tselect BR2_LINUX_NEEDS_MODULES if BR2_LINUX_KERNEL # phram, ramoops"]);
  });

  test("CRASHKEEP_VERSION is package.json's version", () => {
    expect(mkVar(runMk({ BR2_x86_64: "y" }, "print", tmp).out, "VERSION")).toBe(pkg.version);
  });

  test("default site is the checkout's out/dist; BR2_PACKAGE_CRASHKEEP_SITE overrides it", () => {
    expect(mkVar(runMk({ BR2_x86_64: "y" }, "print", tmp).out, "SITE")).toBe(`file://${EXT}/../../out/dist`);
    const r = runMk({ BR2_x86_64: "y", BR2_PACKAGE_CRASHKEEP_SITE: '"https://dl.example/ck"' }, "print", tmp);
    expect(mkVar(r.out, "SITE")).toBe("https://dl.example/ck");
  });

  // pkg-generic.mk sets CRASHKEEP_HASH_FILES (the stub: the package's own),
  // and crashkeep.mk appends the site's crashkeep.hash only for a folder.
  test.each([
    ["default site (the checkout's out/dist)", undefined, [`${PKG}/crashkeep.hash`, `${EXT}/../../out/dist/crashkeep.hash`]],
    ["a folder site", '"file:///srv/crashkeep/0.1.0"', [`${PKG}/crashkeep.hash`, "/srv/crashkeep/0.1.0/crashkeep.hash"]],
    ["a download site: no hash file from the same server", '"https://dl.example/ck"', [`${PKG}/crashkeep.hash`]],
  ] as const)("hash files, %s", (_name, site, want) => {
    const r = runMk({ BR2_x86_64: "y", ...(site === undefined ? {} : { BR2_PACKAGE_CRASHKEEP_SITE: site }) }, "print", tmp);
    expect(mkVar(r.out, "HASH_FILES").trim().split(/\s+/)).toEqual([...want]);
  });

  // Buildroot's own macros run in test/integration/buildroot-tree.test.ts.
  test.each(FIXUP_CASES)("kernel fixups: $name", ({ lines, want }) => {
    const dir = mkdtempSync(join(tmp, "kconfig-"));
    const got = applyFixups(lines, dir);
    expect(Object.fromEntries(Object.keys(want).map((k) => [k, got.get(k) ?? "n"]))).toEqual(want);
  });

  /** A build directory as Buildroot extracts the target's tarball into it (build/dist.ts's layout). */
  function extracted(name: string, distTarget: (typeof DIST_TARGETS)[number]): string {
    const build = join(tmp, name);
    Bun.spawnSync(["mkdir", "-p", build]);
    writeFileSync(join(build, "crashkeep"), "#!/bin/sh\n");
    for (const f of deviceFiles(distTarget)) writeFileSync(join(build, f.name), read(join(ROOT, f.from)));
    return build;
  }

  test.each([
    ["sysv", "etc/init.d/S03crashkeep", 0o755],
    ["systemd", "usr/lib/systemd/system/crashkeep.service", 0o644],
  ] as const)("installs the binary, the config and the %s init file, all from the tarball", (init, initPath, initMode) => {
    const build = extracted(`build-${init}`, "x64");
    const target = join(tmp, `target-${init}`);
    const r = runMk({ BR2_x86_64: "y", TARGET_DIR: target }, `${build}/.stamp_${init}`, tmp);
    expect(r.out).toBe("");
    expect(r.code).toBe(0);
    // Not executable in TARGET_DIR: see "kept out of target-finalize's strip".
    expect(statSync(join(target, "usr/bin/crashkeep")).mode & 0o777).toBe(0o644);
    expect(statSync(join(target, "etc/crashkeep/config.json")).mode & 0o777).toBe(0o644);
    expect(read(join(target, "etc/crashkeep/config.json"))).toBe(read(join(build, "config.json")));
    expect(statSync(join(target, initPath)).mode & 0o777).toBe(initMode);
    expect(read(join(target, initPath))).toBe(read(init === "sysv" ? INIT : UNIT));
    const other = init === "sysv" ? "usr/lib/systemd/system/crashkeep.service" : "etc/init.d/S03crashkeep";
    expect(existsSync(join(target, other))).toBe(false);
  });

  // Buildroot 2025.02.16's Makefile, STRIP_FIND_CMD: target-finalize strips
  // what this selects (test/integration/buildroot-tree.test.ts runs the real
  // command from a Buildroot tree). Stripping a Bun executable leaves plain Bun.
  test("the executable is kept out of target-finalize's strip, and is 0755 in the image", () => {
    const build = extracted("build-strip", "arm64");
    const target = join(tmp, "target-strip");
    Bun.spawnSync(["chmod", "0755", join(build, "crashkeep")]);
    expect(runMk({ BR2_aarch64: "y", TARGET_DIR: target }, `${build}/.stamp_sysv`, tmp).code).toBe(0);
    const found = Bun.spawnSync(["find", target, "-type", "f", "(", "-perm", "/111", "-o", "-name", "*.so*", ")", "-print"]).stdout.toString();
    expect(found.split("\n").filter((f) => f.endsWith("/usr/bin/crashkeep"))).toEqual([]);
    // makedevs table line (name type mode uid gid major minor start inc count),
    // applied to every filesystem image after the strip.
    expect(mkVar(runMk({ BR2_aarch64: "y" }, "print", tmp).out, "PERMISSIONS")).toBe("/usr/bin/crashkeep f 755 0 0 - - - - -");
  });

  test("aarch64 gets the arm64 tarball's config; BR2_PACKAGE_CRASHKEEP_CONFIG installs the board's own", () => {
    const build = extracted("build-arm64", "arm64");
    const target = join(tmp, "target-arm64");
    expect(runMk({ BR2_aarch64: "y", TARGET_DIR: target }, `${build}/.stamp_sysv`, tmp).code).toBe(0);
    const arm64Config = deviceFiles("arm64").find((f) => f.name === "config.json")?.from ?? "";
    expect(read(join(target, "etc/crashkeep/config.json"))).toBe(read(join(ROOT, arm64Config)));
    const own = join(tmp, "board-config.json");
    writeFileSync(own, '{ "phram": { "address": "0x90000000" } }\n');
    const target2 = join(tmp, "target-arm64-own");
    expect(runMk({ BR2_aarch64: "y", TARGET_DIR: target2, BR2_PACKAGE_CRASHKEEP_CONFIG: `"${own}"` }, `${build}/.stamp_sysv`, tmp).code).toBe(0);
    expect(read(join(target2, "etc/crashkeep/config.json"))).toBe(read(own));
  });

  test("cleanup", () => rmSync(tmp, { recursive: true, force: true }));
});

// legal-info warned "CRASHKEEP_LICENSE_FILES is not defined", and "MIT"
// left out the Bun runtime that is most of the executable.
describe("licenses", () => {
  const tmp = mkdtempSync(join(tmpdir(), "crashkeep-licenses-"));
  const mk = runMk({ BR2_x86_64: "y" }, "print", tmp).out;

  test("CRASHKEEP_LICENSE_FILES are the files build/dist.ts puts into every tarball", () => {
    expect(mkVar(mk, "LICENSE_FILES").split(" ")).toEqual([...LICENSE_FILES]);
    const stage = join(tmp, "stage");
    stageLicenses(ROOT, stage);
    for (const f of LICENSE_FILES) expect(statSync(join(stage, f)).size).toBeGreaterThan(500);
    expect(read(join(stage, "licenses/LGPL-2"))).toContain("GNU LIBRARY GENERAL PUBLIC LICENSE");
    expect(read(join(stage, "licenses/LGPL-2.1"))).toContain("GNU LESSER GENERAL PUBLIC LICENSE");
    expect(read(join(stage, "licenses/Apache-2.0"))).toContain("Apache License");
  });

  test("crashkeep's own LICENSE is the MIT license package.json names", () => {
    expect(pkg.license).toBe("MIT");
    expect(read(join(ROOT, "LICENSE"))).toStartWith("MIT License\n");
  });

  test("CRASHKEEP_LICENSE names the Bun runtime's licenses, JavaScriptCore's LGPL among them", () => {
    const license = mkVar(mk, "LICENSE");
    for (const want of ["MIT (crashkeep, Bun)", "LGPL-2.0+, BSD-2-Clause (JavaScriptCore and WebCore in Bun)", "LGPL-2.1 (tinycc in Bun)", "Apache-2.0"]) expect(license).toContain(want);
  });

  test("the Bun runtime notice is for the Bun that compiles the executable", () => {
    expect(read(join(ROOT, "build/licenses/bun-runtime.md"))).toContain(`Bun ${pkg.devDependencies.bun}\n`);
  });

  test("npm-modules.txt carries the license text of every bundled module", () => {
    const text = read(join(tmp, "stage/licenses/npm-modules.txt"));
    const modules = bundledModules(ROOT);
    expect(modules.map((m) => m.name)).toEqual(expect.arrayContaining(Object.keys(pkg.dependencies).filter((n) => !read(join(ROOT, "package.json")).includes(`"${n}": "file:`))));
    for (const m of modules) expect(text).toContain(`\n${m.name} ${m.version} (${m.license}): `);
    // CRASHKEEP_LICENSE covers each module's license.
    const license = mkVar(mk, "LICENSE");
    for (const l of new Set(modules.map((m) => m.license))) expect(license).toContain(l);
  });

  test("cleanup", () => rmSync(tmp, { recursive: true, force: true }));
});

describe("package/crashkeep/crashkeep.hash", () => {
  // A committed tarball hash fits only the commit that built it (issue 20):
  // the tarballs' hashes come from make dist's out/dist/crashkeep.hash or a
  // global patch dir. The file itself must stay, or Buildroot would take a
  // tarball with no hash at all ("WARNING: no hash file") instead of failing.
  test("exists and names no release tarball", () => {
    const lines = read(join(PKG, "crashkeep.hash")).split("\n").filter((l) => l !== "" && !l.startsWith("#"));
    expect(lines.filter((l) => /crashkeep-.*\.tar\.gz$/.test(l))).toEqual([]);
  });
});

describe("reserved memory in the defconfigs matches the configs", () => {
  test("x86_64: the built-in memmap= is what package/crashkeep/config.json needs", () => {
    const config = configSchema.parse(JSON.parse(read(join(ROOT, deviceFiles("x64")[0]?.from ?? ""))));
    const fragment = read(join(EXT, "board/qemu/x86_64/linux-cmdline.fragment"));
    const cmdline = /^CONFIG_CMDLINE="(.*)"$/m.exec(fragment)?.[1] ?? "";
    expect(cmdline.split(" ")).toEqual(requiredMemmap(configRegions(config)));
    const defconfig = read(join(EXT, "configs/crashkeep_qemu_x86_64_defconfig"));
    expect(defconfig).toContain("/board/qemu/x86_64/linux-cmdline.fragment");
    expect(defconfig).toContain("/board/qemu/linux-crashkeep.fragment");
  });

  test("aarch64 virt: the arm64 tarball's ramoops and phram sit in the RAM that mem= leaves out", () => {
    const config = configSchema.parse(JSON.parse(read(join(ROOT, deviceFiles("arm64").find((f) => f.name === "config.json")?.from ?? ""))));
    const readme = read(join(EXT, "board/qemu/aarch64-virt/readme.txt"));
    const cmd = readme.split("\n").find((l) => l.includes("# crashkeep_qemu_aarch64_virt_defconfig")) ?? "";
    const ramMi = Number(/ -m (\d+)M /.exec(cmd)?.[1]);
    const memMi = Number(/ mem=(\d+)M[ "]/.exec(cmd)?.[1]);
    const VIRT_RAM_BASE = 0x4000_0000; // hw/arm/virt.c: memmap[VIRT_MEM]
    const hole = { start: VIRT_RAM_BASE + memMi * 2 ** 20, end: VIRT_RAM_BASE + ramMi * 2 ** 20 };
    expect(memMi).toBeLessThan(ramMi);
    for (const r of configRegions(config)) {
      expect(r.start).toBeGreaterThanOrEqual(hole.start);
      expect(r.start + r.size).toBeLessThanOrEqual(hole.end);
    }
  });

  // The defect: x86 addresses (0x7000000) installed on aarch64,
  // where QEMU virt's RAM starts at 0x40000000 (hw/arm/virt.c).
  test.each([...DIST_TARGETS])("%s: the tarball's config lies in that architecture's RAM", (t) => {
    const config = configSchema.parse(JSON.parse(read(join(ROOT, deviceFiles(t).find((f) => f.name === "config.json")?.from ?? ""))));
    for (const r of configRegions(config)) {
      if (t === "arm64") expect(r.start).toBeGreaterThanOrEqual(0x4000_0000);
      // x86: memmap= reserves low RAM; QEMU pc's below-4G RAM is 0..0xbfffffff at most.
      else expect(r.start + r.size).toBeLessThanOrEqual(0xc000_0000);
    }
  });
});

describe("systemd unit", () => {
  const unit = read(UNIT);
  test("one process (watch --init), ready only after init's work (Type=notify), shutdown marker on stop, ahead of systemd-pstore", () => {
    // One crashkeep start per boot (issue 24): no separate init before the daemon
    // (ExecStartPre only puts the kept core_pattern into the kernel, with sh).
    expect(unit).not.toMatch(/^ExecStartPre=.*\/usr\/bin\/crashkeep/m);
    expect(unit).toMatch(/^ExecStart=\/usr\/bin\/crashkeep watch --init /m);
    // Units ordered after it (systemd-pstore, sysinit.target) wait for READY=1, which
    // the daemon sends once init has taken pstore (test/integration/boot-one.test.ts).
    expect(unit).toMatch(/^Type=notify$/m);
    expect(unit).toMatch(/^NotifyAccess=main$/m);
    expect(unit).toMatch(/^Before=.*\bsysinit\.target\b/m);
    expect(unit).toMatch(/^ExecStopPost=.*"\$\$SERVICE_RESULT" = success.*\/usr\/bin\/crashkeep shutdown/m);
    expect(unit).toMatch(/^Before=.*\bsystemd-pstore\.service\b/m);
    expect(unit).toMatch(/^EnvironmentFile=-\/etc\/default\/crashkeep$/m);
    expect(unit).toMatch(/^WantedBy=/m);
  });

  const analyze = which("systemd-analyze");
  if (!analyze) console.warn("skipping: systemd-analyze not installed; the unit is only checked textually");
  test.skipIf(!analyze)("systemd-analyze verify accepts it (executables stubbed with /bin/true)", () => {
    const dir = mkdtempSync(join(tmpdir(), "crashkeep-unit-"));
    try {
      writeFileSync(join(dir, "crashkeep.service"), unit.replaceAll("/usr/bin/crashkeep", "/bin/true"));
      const r = Bun.spawnSync([analyze ?? "systemd-analyze", "verify", join(dir, "crashkeep.service")]);
      expect(r.stderr.toString()).toBe("");
      expect(r.exitCode).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

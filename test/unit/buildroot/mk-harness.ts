// crashkeep.mk evaluated by GNU make outside Buildroot (the unit tests, and
// test/integration/buildroot-tree.test.ts with a real Buildroot's values).
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

const ROOT = join(import.meta.dir, "../../..");
const EXT = join(ROOT, "build/buildroot");
const PKG = join(EXT, "package/crashkeep");

// GNU make evaluates crashkeep.mk with stubs for what Buildroot's
// infrastructure defines; $(@D) is the directory of the stamp target, as in
// package/pkg-generic.mk.
// The kernel fixups run on $(LINUX_BUILDDIR)$(LINUX_KCONFIG_DOTCONFIG): with
// Buildroot's own macros when kconfigUtils names its package/pkg-utils.mk,
// else with stand-ins written from their documented behaviour
// (KCONFIG_ENABLE_OPT: =y unless already =m or =y; KCONFIG_MUNGE_DOT_CONFIG:
// drop the option's line, append the new one).
export function runMk(vars: Record<string, string>, target: string, dir: string, kconfigUtils?: string): { out: string; code: number } {
  const pre = join(dir, "pre.mk");
  const post = join(dir, "post.mk");
  const kconfig = kconfigUtils ? [`include ${kconfigUtils}`, "SED := sed -i -e", "PKG = LINUX"] : [
    "KCONFIG_DOT_CONFIG = $(LINUX_BUILDDIR)$(LINUX_KCONFIG_DOTCONFIG)",
    "KCONFIG_MUNGE_DOT_CONFIG = grep -v -E '^(\\# )?$(strip $(1))[ =]' $(KCONFIG_DOT_CONFIG) > $(KCONFIG_DOT_CONFIG).new; echo '$(strip $(2))' >> $(KCONFIG_DOT_CONFIG).new && mv $(KCONFIG_DOT_CONFIG).new $(KCONFIG_DOT_CONFIG)",
    "KCONFIG_ENABLE_OPT = grep -q '^$(strip $(1))=[my]' $(KCONFIG_DOT_CONFIG) || { $(call KCONFIG_MUNGE_DOT_CONFIG,$(1),$(1)=y); }",
    "KCONFIG_SET_OPT = $(call KCONFIG_MUNGE_DOT_CONFIG,$(1),$(1)=$(2))",
  ];
  writeFileSync(pre, [
    "qstrip = $(strip $(subst \",,$(1)))",
    ...kconfig,
    "generic-package =",
    "CRASHKEEP_HASH_FILES = $(CRASHKEEP_PKGDIR)/crashkeep.hash",
    "INSTALL = install",
    "",
  ].join("\n"));
  writeFileSync(post, [
    "print:",
    "\t@echo 'SOURCE=$(CRASHKEEP_SOURCE)'",
    "\t@echo 'SITE=$(CRASHKEEP_SITE)'",
    "\t@echo 'VERSION=$(CRASHKEEP_VERSION)'",
    "\t@echo 'HASH_FILES=$(CRASHKEEP_HASH_FILES)'",
    "\t@echo 'PERMISSIONS=$(strip $(CRASHKEEP_PERMISSIONS))'",
    "\t@echo 'LICENSE=$(strip $(CRASHKEEP_LICENSE))'",
    "\t@echo 'LICENSE_FILES=$(strip $(CRASHKEEP_LICENSE_FILES))'",
    "%/.stamp_sysv:",
    "\t@$(CRASHKEEP_INSTALL_TARGET_CMDS)",
    "\t@$(CRASHKEEP_INSTALL_INIT_SYSV)",
    "%/.stamp_systemd:",
    "\t@$(CRASHKEEP_INSTALL_TARGET_CMDS)",
    "\t@$(CRASHKEEP_INSTALL_INIT_SYSTEMD)",
    "fixups:",
    "\t$(CRASHKEEP_LINUX_CONFIG_FIXUPS)",
    "",
  ].join("\n"));
  const args = Object.entries({ BR2_EXTERNAL_CRASHKEEP_PATH: EXT, CRASHKEEP_PKGDIR: PKG, ...vars }).map(([k, v]) => `${k}=${v}`);
  const r = Bun.spawnSync(["make", "-s", "--no-print-directory", "-f", pre, "-f", join(PKG, "crashkeep.mk"), "-f", post, target, ...args]);
  return { out: r.stdout.toString() + r.stderr.toString(), code: r.exitCode ?? -1 };
}

export function mkVar(out: string, name: string): string {
  return new RegExp(`^${name}=(.*)$`, "m").exec(out)?.[1] ?? "";
}

/**
 * The kernel .config after crashkeep's LINUX_CONFIG_FIXUPS ran on one with
 * these lines, as option → value ("y", "m", or "n" for "is not set" / absent).
 */
export function applyFixups(lines: string[], dir: string, kconfigUtils?: string): Map<string, string> {
  writeFileSync(join(dir, ".config"), `${lines.join("\n")}\n`);
  const r = runMk({ BR2_x86_64: "y", LINUX_BUILDDIR: `${dir}/`, LINUX_KCONFIG_DOTCONFIG: ".config" }, "fixups", dir, kconfigUtils);
  if (r.code !== 0) throw new Error(`Cannot run the kernel fixups: exit ${r.code}: ${r.out}`);
  const out = new Map<string, string>();
  for (const line of readFileSync(join(dir, ".config"), "utf8").split("\n")) {
    const set = /^(CONFIG_\w+)=(.*)$/.exec(line);
    const unset = /^# (CONFIG_\w+) is not set$/.exec(line);
    if (set?.[1]) out.set(set[1], set[2] ?? "");
    else if (unset?.[1]) out.set(unset[1], "n");
  }
  return out;
}

/** What the fixups must give, for a kernel config with these lines (the unit test and the one with a Buildroot tree share it). */
export const FIXUP_CASES: { name: string; lines: string[]; want: Record<string, string> }[] = [
  {
    name: "a config with none of the options: MTD and PSTORE built in, phram and ramoops modules",
    lines: ["CONFIG_MODULES=y", "# CONFIG_MTD is not set", "# CONFIG_PSTORE is not set"],
    want: { CONFIG_MTD: "y", CONFIG_MTD_CHAR: "y", CONFIG_MTD_PHRAM: "m", CONFIG_PSTORE: "y", CONFIG_PSTORE_RAM: "m" },
  },
  {
    name: "phram and ramoops built in (a fragment's =y): kept built in",
    lines: ["CONFIG_MODULES=y", "CONFIG_MTD=y", "CONFIG_MTD_PHRAM=y", "CONFIG_PSTORE=y", "CONFIG_PSTORE_RAM=y"],
    want: { CONFIG_MTD: "y", CONFIG_MTD_PHRAM: "y", CONFIG_PSTORE: "y", CONFIG_PSTORE_RAM: "y" },
  },
  {
    name: "phram and ramoops modules, MTD a module: all kept",
    lines: ["CONFIG_MODULES=y", "CONFIG_MTD=m", "CONFIG_MTD_PHRAM=m", "# CONFIG_PSTORE_RAM is not set"],
    want: { CONFIG_MTD: "m", CONFIG_MTD_PHRAM: "m", CONFIG_PSTORE: "y", CONFIG_PSTORE_RAM: "m" },
  },
];

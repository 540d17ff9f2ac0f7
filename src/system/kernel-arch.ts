// Which kernel the reserved RAM is asked of. memmap= exists only on x86 (and
// MIPS/Xtensa, which crashkeep is not built for): arch/x86/kernel/e820.c
// parse_memmap_opt. arm64 reserves RAM through the device tree or mem=.
export type KernelArch = "x86" | "arm64";

const NAMES: Readonly<Record<string, KernelArch>> = {
  x86: "x86", x86_64: "x86", x64: "x86", amd64: "x86",
  arm64: "arm64", aarch64: "arm64",
};

/** "x86_64", "amd64", "aarch64", ... → the kernel architecture; undefined when unknown. */
export function parseArch(name: string): KernelArch | undefined {
  return NAMES[name.toLowerCase()];
}

export const ARCH_CHOICES = Object.keys(NAMES);

/** The running system's: the binary is built for linux-x64 or linux-arm64 only (Makefile BUN_TARGET_*). */
export function runningArch(): KernelArch {
  return process.arch === "arm64" ? "arm64" : "x86";
}

// Sizes and addresses in the config accept numbers or strings: "4096",
// "0x7000000", "8Mi", "64ki", "1 GiB". Suffixes are binary (k/ki/KiB = 1024,
// M/Mi/MiB = 1024², G/Gi/GiB = 1024³), case-insensitive. Converted once at load.
/**
 * PAGE_SIZE on x86_64 and the usual aarch64 kernels: phram's default
 * erasesize and mapping unit. Here, not in schema.ts: importing a constant
 * from schema.ts evaluates zod and the whole schema (about 24M instructions,
 * a third of `crashkeep init`; docs/BENCHMARKS.md).
 */
export const PAGE_BYTES = 4096;

const SUFFIX: Readonly<Record<string, number>> = {
  "": 1,
  k: 1024, ki: 1024, kib: 1024,
  m: 1024 ** 2, mi: 1024 ** 2, mib: 1024 ** 2,
  g: 1024 ** 3, gi: 1024 ** 3, gib: 1024 ** 3,
};

const PATTERN = /^(0x[0-9a-f]+|\d+)\s*([a-z]*)$/i;

/** Parse a size or address; returns undefined when it is not one. */
export function parseSize(value: number | string): number | undefined {
  if (typeof value === "number") return Number.isSafeInteger(value) && value >= 0 ? value : undefined;
  const m = PATTERN.exec(value.trim());
  if (!m) return undefined;
  const [, digits = "", suffix = ""] = m;
  const factor = SUFFIX[suffix.toLowerCase()];
  if (factor === undefined) return undefined;
  const n = Number(digits) * factor;
  return Number.isSafeInteger(n) ? n : undefined;
}

/** "0x7000000" for addresses in messages and the kernel command line. */
export function hex(n: number): string {
  return `0x${n.toString(16)}`;
}

/** The shortest exact human form: 8388608 → "8Mi", 65536 → "64ki", 1000 → "1000". */
export function formatSize(n: number): string {
  for (const [suffix, factor] of [["Gi", 1024 ** 3], ["Mi", 1024 ** 2], ["ki", 1024]] as const) {
    if (n >= factor && n % factor === 0) return `${n / factor}${suffix}`;
  }
  return String(n);
}

/** memmap= takes K/M/G suffixes (lib/cmdline.c memparse). */
export function memparseSize(n: number): string {
  for (const [suffix, factor] of [["G", 1024 ** 3], ["M", 1024 ** 2], ["K", 1024]] as const) {
    if (n >= factor && n % factor === 0) return `${n / factor}${suffix}`;
  }
  return String(n);
}

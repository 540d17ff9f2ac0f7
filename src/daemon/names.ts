// File names built from what a crashed process chose (comm, exe): never a
// path separator, "..", a newline or a control character (systemd
// coredump.c does the same with its filename escaping).

/** Longest name part taken from a process: comm is 15 bytes, an exe name can be anything. */
const MAX_NAME_PART = 64;

export function sanitizeName(text: string | null | undefined, fallback = "unknown"): string {
  const safe = (text ?? "")
    .replace(/[^A-Za-z0-9._+-]+/g, "_")
    .replace(/^[.]+/, "_")
    .slice(0, MAX_NAME_PART);
  return safe === "" || /^_+$/.test(safe) ? fallback : safe;
}

/** "20261126T031500Z" */
export function stamp(date: Date): string {
  return date.toISOString().replace(/[-:]/g, "").replace(/\.\d+Z$/, "Z");
}

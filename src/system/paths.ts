// Every system path crashkeep touches goes through one Paths object with a
// root prefix, so unit tests run against a fake tree and QEMU tests against
// the real kernel (DESIGN.md "Source layout").
import { join } from "node:path";

export interface Paths {
  /** Prefix under which every absolute system path is resolved ("/" on a device). */
  readonly root: string;
  /** Resolve an absolute system path (e.g. "/proc/iomem") under the root. */
  sys(path: string): string;
  readonly proc: string;
  readonly sysfs: string;
  readonly dev: string;
  readonly libModules: string;
  readonly pstore: string;
  readonly etc: string;
}

export function makePaths(root = process.env.CRASHKEEP_ROOT ?? "/"): Paths {
  const sys = (path: string): string => (root === "/" ? path : join(root, path));
  return {
    root,
    sys,
    proc: sys("/proc"),
    sysfs: sys("/sys"),
    dev: sys("/dev"),
    libModules: sys("/lib/modules"),
    pstore: sys("/sys/fs/pstore"),
    etc: sys("/etc"),
  };
}

// Which mount holds a directory, from /proc/mounts: the archive must be on a
// writable file system that outlives a reboot. Buildroot's skeleton makes
// /var/log a link to ../tmp and /var/run one to ../run (both tmpfs), and
// without BR2_TARGET_GENERIC_REMOUNT_ROOTFS_RW the root stays read-only.
import { existsSync, readFileSync, realpathSync } from "node:fs";
import { dirname, join, relative, sep } from "node:path";
import type { Paths } from "./paths.ts";

export interface MountInfo {
  mountPoint: string;
  fsType: string;
  readOnly: boolean;
}

/** File systems whose contents a reboot loses. */
const VOLATILE = new Set(["tmpfs", "ramfs"]);

/** /proc/mounts escapes space, tab, newline and backslash as octal (\040). */
function unescape(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_, oct: string) => String.fromCharCode(parseInt(oct, 8)));
}

/**
 * The path with its symlinks resolved inside the root, as far as it exists
 * (a directory not made yet lies on its nearest existing ancestor's mount).
 */
function resolveUnderRoot(path: string, paths: Paths): string {
  let existing = path;
  let rest = "";
  while (existing !== "/" && !existsSync(paths.sys(existing))) {
    rest = join(existing.slice(existing.lastIndexOf("/") + 1), rest);
    existing = dirname(existing);
  }
  const real = realpathSync(paths.sys(existing));
  const root = paths.root === "/" ? "/" : realpathSync(paths.root);
  const inside = root === "/" ? real : `/${relative(root, real).split(sep).join("/")}`;
  return join(inside === "/." ? "/" : inside, rest);
}

/** The mount that holds path (the last, longest matching mount point), or undefined without /proc/mounts. */
export function mountOf(path: string, paths: Paths): MountInfo | undefined {
  let text: string;
  try {
    text = readFileSync(paths.sys("/proc/mounts"), "utf8");
  } catch {
    return undefined;
  }
  const target = resolveUnderRoot(path, paths);
  let best: MountInfo | undefined;
  for (const line of text.split("\n")) {
    const [, mp, fsType, options] = line.split(" ");
    if (mp === undefined || fsType === undefined || options === undefined) continue;
    const mountPoint = unescape(mp);
    const holds = mountPoint === "/" || target === mountPoint || target.startsWith(`${mountPoint}/`);
    // A later mount on the same point hides the earlier one.
    if (holds && (best === undefined || mountPoint.length >= best.mountPoint.length)) {
      best = { mountPoint, fsType, readOnly: options.split(",").includes("ro") };
    }
  }
  return best;
}

export interface StorageProblem {
  /** One line: what is wrong and what to set. */
  message: string;
  /** Nothing can be archived (read-only), as against archived and lost at the next reboot (tmpfs). */
  readOnly: boolean;
}

/**
 * What keeps the archive directory from doing its job, with what to set, or
 * undefined when its file system is writable and persistent.
 */
export function archiveStorageProblem(dir: string, paths: Paths): StorageProblem | undefined {
  const mount = mountOf(dir, paths);
  if (!mount) return undefined;
  if (VOLATILE.has(mount.fsType)) {
    return { readOnly: false, message: `Cannot keep the archive "${dir}" across reboots: it is on ${mount.fsType} (${mount.mountPoint}); set archive.dir to a directory on persistent storage (on Buildroot's skeleton /var/log and /var/run are tmpfs, /var/lib is on the root file system)` };
  }
  if (mount.readOnly) {
    return { readOnly: true, message: `Cannot write the archive "${dir}": ${mount.mountPoint} is mounted read-only; remount it read-write at boot (Buildroot: BR2_TARGET_GENERIC_REMOUNT_ROOTFS_RW=y) or set archive.dir to a writable persistent file system` };
  }
  return undefined;
}

// The archive's file system against the Buildroot image's real /proc/mounts
// (test/fixtures/mounts): its skeleton links /var/log to ../tmp (tmpfs), and
// a root left read-only (no BR2_TARGET_GENERIC_REMOUNT_ROOTFS_RW) takes no
// archive. Laid out as a fake root tree, as crashkeep sees the device.
import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { makePaths, type Paths } from "../../../src/system/paths.ts";
import { archiveStorageProblem, mountOf } from "../../../src/system/mounts.ts";

const MOUNTS = readFileSync(join(import.meta.dir, "../../fixtures/mounts/buildroot-aarch64.mounts"), "utf8");

let root: string;
let paths: Paths;

/** Buildroot's skeleton: /var/log → ../tmp, /var/run → ../run, /var/lib on the root. */
function skeleton(mounts: string): void {
  for (const dir of ["proc", "tmp", "run", "var/lib", "sys/fs/pstore"]) mkdirSync(join(root, dir), { recursive: true });
  symlinkSync("../tmp", join(root, "var/log"));
  symlinkSync("../run", join(root, "var/run"));
  writeFileSync(join(root, "proc/mounts"), mounts);
}

beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), "crashkeep-mounts-"));
  paths = makePaths(root);
});
afterEach(() => rmSync(root, { recursive: true, force: true }));

describe("mountOf", () => {
  test("a path through the skeleton's /var/log link lies on /tmp's tmpfs; /var/lib on the root's ext4", () => {
    skeleton(MOUNTS);
    expect(mountOf("/var/log/crashkeep", paths)).toEqual({ mountPoint: "/tmp", fsType: "tmpfs", readOnly: false });
    expect(mountOf("/var/run/crashkeep.pid", paths)).toEqual({ mountPoint: "/run", fsType: "tmpfs", readOnly: false });
    expect(mountOf("/var/lib/crashkeep", paths)).toEqual({ mountPoint: "/", fsType: "ext4", readOnly: false });
    expect(mountOf("/sys/fs/pstore", paths)).toEqual({ mountPoint: "/sys/fs/pstore", fsType: "pstore", readOnly: false });
  });

  test("the later of two mounts on one point counts; an octal-escaped mount point is read as named", () => {
    skeleton(`${MOUNTS}/dev/vdb /var/lib ext4 rw 0 0\n/dev/vdb /var/lib ext4 ro 0 0\ntmpfs /media/my\\040disk tmpfs rw 0 0\n`);
    mkdirSync(join(root, "media/my disk"), { recursive: true });
    expect(mountOf("/var/lib/crashkeep", paths)).toEqual({ mountPoint: "/var/lib", fsType: "ext4", readOnly: true });
    expect(mountOf("/media/my disk/a", paths)).toEqual({ mountPoint: "/media/my disk", fsType: "tmpfs", readOnly: false });
    // A longer name with the same prefix is another mount point.
    expect(mountOf("/var/library", paths)?.mountPoint).toBe("/");
  });

  test("no /proc/mounts: undefined", () => {
    expect(mountOf("/var/lib/crashkeep", paths)).toBeUndefined();
  });
});

describe("archiveStorageProblem", () => {
  test("the default /var/lib/crashkeep on the image's read-write root: no problem", () => {
    skeleton(MOUNTS);
    expect(archiveStorageProblem("/var/lib/crashkeep", paths)).toBeUndefined();
  });

  test("under /var/log on Buildroot's skeleton: kept until the next reboot only, says what to set", () => {
    skeleton(MOUNTS);
    const problem = archiveStorageProblem("/var/log/crashkeep", paths);
    expect(problem?.readOnly).toBe(false);
    expect(problem?.message).toBe(
      'Cannot keep the archive "/var/log/crashkeep" across reboots: it is on tmpfs (/tmp); set archive.dir to a directory on persistent storage (on Buildroot\'s skeleton /var/log and /var/run are tmpfs, /var/lib is on the root file system)',
    );
  });

  test("a root left read-only (no BR2_TARGET_GENERIC_REMOUNT_ROOTFS_RW): nothing can be archived, says what to set", () => {
    skeleton(MOUNTS.replace("/dev/vda / ext4 rw,relatime", "/dev/vda / ext4 ro,relatime"));
    const problem = archiveStorageProblem("/var/lib/crashkeep", paths);
    expect(problem?.readOnly).toBe(true);
    expect(problem?.message).toBe(
      'Cannot write the archive "/var/lib/crashkeep": / is mounted read-only; remount it read-write at boot (Buildroot: BR2_TARGET_GENERIC_REMOUNT_ROOTFS_RW=y) or set archive.dir to a writable persistent file system',
    );
  });
});

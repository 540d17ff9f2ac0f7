// Finding the phram device: /proc/mtd lines `mtd%d: %8.8llx %8.8x "%s"`
// (drivers/mtd/mtdcore.c mtd_proc_show), then /dev/mtdN (devtmpfs or mdev),
// and the stable link /dev/mtdchar/<name> the write-up uses.
import { existsSync, lstatSync, mkdirSync, readFileSync, readlinkSync, renameSync, symlinkSync, unlinkSync } from "node:fs";
import type { Paths } from "./paths.ts";

export interface MtdDevice {
  index: number;
  size: number;
  eraseSize: number;
  name: string;
}

export function parseProcMtd(text: string): MtdDevice[] {
  const out: MtdDevice[] = [];
  for (const line of text.split("\n")) {
    const m = /^mtd(\d+): ([0-9a-f]+) ([0-9a-f]+) "(.*)"$/.exec(line.trim());
    if (!m) continue;
    const [, index = "0", size = "0", erase = "0", name = ""] = m;
    out.push({ index: Number(index), size: Number.parseInt(size, 16), eraseSize: Number.parseInt(erase, 16), name });
  }
  return out;
}

/** The MTD device named `name`; with strict, an unreadable /proc/mtd (not a missing one) throws. */
export function findMtd(name: string, paths: Paths, options: { strict?: boolean } = {}): MtdDevice | undefined {
  let text = "";
  try {
    text = readFileSync(paths.sys("/proc/mtd"), "utf8");
  } catch (err) {
    if (options.strict && !(err instanceof Error && "code" in err && err.code === "ENOENT")) throw err;
    return undefined;
  }
  return parseProcMtd(text).find((d) => d.name === name);
}

/** Wait (bounded, sleeping) for /dev/mtdN to appear after the module created the device. */
export async function waitForNode(path: string, timeoutMs: number): Promise<boolean> {
  const deadline = performance.now() + timeoutMs;
  while (!existsSync(path)) {
    if (performance.now() >= deadline) return false;
    await Bun.sleep(20);
  }
  return true;
}

/** /dev/mtdchar/<name> → ../mtdN (relative, so it resolves under any root prefix). */
export function linkMtdchar(name: string, index: number, paths: Paths): string {
  const dir = paths.sys("/dev/mtdchar");
  mkdirSync(dir, { recursive: true });
  const link = `${dir}/${name}`;
  const target = `../mtd${index}`;
  try {
    if (lstatSync(link).isSymbolicLink() && readlinkSync(link) === target) return link;
  } catch {
    // absent: create it below
  }
  const tmp = `${link}.tmp${process.pid}`;
  try {
    unlinkSync(tmp);
  } catch {
    // no stale temp link
  }
  symlinkSync(target, tmp);
  renameSync(tmp, link);
  return link;
}

// Whether a file descriptor is a terminal, without touching process.stdout
// (in Bun its first use builds a stream: ~10 ms of start-up on the boot path).
import { fstatSync } from "node:fs";
import { splitRdev } from "../copy/block-device.ts";

/** Linux tty majors: 4 (ttyN, ttyS), 5 (tty, console, ptmx), 136-143 (pts). */
function isTtyMajor(major: number): boolean {
  return major === 4 || major === 5 || (major >= 136 && major <= 143);
}

export function isTerminal(fd: number): boolean {
  try {
    const st = fstatSync(fd);
    if (!st.isCharacterDevice()) return false;
    return isTtyMajor(splitRdev(Number(st.rdev)).major);
  } catch {
    return false;
  }
}

import { UsageError } from "./args.ts";
import { parseSize } from "../config/units.ts";

/** A byte count or offset from the command line: 4096, 0x1000, 64ki, 8Mi. */
export function sizeOption(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = parseSize(value);
  if (n === undefined) throw new UsageError(`Option "--${name}" needs a size such as 4096, 0x1000, 64ki or 8Mi, got "${value}"`);
  return n;
}

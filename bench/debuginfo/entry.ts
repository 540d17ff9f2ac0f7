// bench/debuginfo's measured process: opens a debug file with DwarfInfo and
// asks frames() for each pc (hex, one per line on stdin); prints the frame
// count, the time of the lookups and the peak RSS (getrusage ru_maxrss) as JSON.
// With --open-only it only opens the file (the runtime's own baseline).
import { DwarfInfo } from "../../src/debuginfo/dwarf.ts";
import { fileSource } from "../../src/debuginfo/source.ts";

const [path, mode] = process.argv.slice(2);
if (!path) throw new Error("usage: entry.ts FILE [--open-only] < pcs");
const pcs = (await Bun.stdin.text()).split(/\s+/).filter(Boolean).map((s) => BigInt(s));
const t0 = performance.now();
const dwarf = DwarfInfo.open(fileSource(path));
let frames = 0;
if (mode !== "--open-only") for (const pc of pcs) frames += dwarf?.frames(pc).length ?? 0;
const ms = performance.now() - t0;
console.log(JSON.stringify({ frames, ms, maxRssKiB: process.resourceUsage().maxRSS, warnings: dwarf?.warnings.length ?? -1 }));

import { isTerminal } from "./terminal.ts";
import { parseArgs, UsageError } from "./args.ts";
import { sizeOption } from "./numbers.ts";
import { copyWindow, DEFAULT_BLOCK_BYTES } from "../copy/copy-window.ts";

export const help = `Usage: crashkeep copy SRC DEST [--tail] [--bytes N] [--offset N] [--block-size N] [--pad] [--sync] [--json]

Copy exactly min(N, size(SRC)) bytes of SRC into DEST at --offset: the first
bytes, or the last ones with --tail (what head -c N / tail -c N would give).
DEST is an MTD device (/dev/mtdN, /dev/mtdchar/NAME), a block device or a
regular file; nothing is ever written past its end.

  --tail            copy the end of SRC (e.g. the newest log lines)
  --bytes N         window length; default: size(DEST) - offset. A DEST file
                    that does not exist is created with this size
  --offset N        where the window starts in DEST (default 0)
  --block-size N    I/O block, a power of two from 512 to 64Mi, rounded up to
                    DEST's erase size (default ${DEFAULT_BLOCK_BYTES / 1024 / 1024}Mi)
  --pad             zero-fill the rest of the window when SRC is shorter
  --sync            fsync DEST when done (not possible on MTD: its RAM is the
                    storage)
  --json            print what was copied as JSON

Numbers accept 4096, 0x1000, 64ki, 8Mi.
Example (the write-up's dd bs=1 workflow):
  crashkeep copy --tail /var/log/messages /dev/mtdchar/crashkeep --bytes 64ki`;

export async function run(args: string[]): Promise<number> {
  const { positionals, values, flags } = parseArgs(args, {
    values: ["bytes", "offset", "block-size"],
    flags: ["tail", "pad", "sync", "json"],
  });
  const [source, dest, ...extra] = positionals;
  if (source === undefined || dest === undefined) throw new UsageError("Missing SRC or DEST");
  if (extra.length > 0) throw new UsageError(`Unexpected argument "${extra[0]}"`);
  const bytes = sizeOption("bytes", values.get("bytes"));
  const offset = sizeOption("offset", values.get("offset"));
  const blockSize = sizeOption("block-size", values.get("block-size"));
  const result = copyWindow(source, dest, {
    tail: flags.has("tail"),
    pad: flags.has("pad"),
    sync: flags.has("sync"),
    ...(bytes === undefined ? {} : { bytes }),
    ...(offset === undefined ? {} : { offset }),
    ...(blockSize === undefined ? {} : { blockSize }),
  });
  if (flags.has("json")) console.log(JSON.stringify(result));
  else if (isTerminal(1)) {
    console.log(`copied ${result.bytes} bytes of ${result.source} (from ${result.sourceOffset}) to ${result.dest} at ${result.destOffset}` +
      (result.paddedBytes > 0 ? `, ${result.paddedBytes} bytes zero-filled` : "") + ` in ${result.writes} writes of up to ${result.blockSize}`);
  }
  return 0;
}

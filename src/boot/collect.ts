// Collecting the previous boot: every pstore record is copied into one
// archive entry (durably) and only then unlinked, which frees its ramoops
// zone (ram.c ramoops_pstore_erase). A full or read-only disk leaves the
// records in pstore and says so.
import { openSync, readSync, closeSync, unlinkSync } from "node:fs";
import type { Config } from "../config/schema.ts";
import type { Paths } from "../system/paths.ts";
import { listRecords, summarizeDmesg, type DmesgSummary, type PstoreRecord } from "../system/pstore.ts";
import { writeEntry, type ArchiveEntry, type PendingFile } from "../archive/archive.ts";
import { decideReason, type RebootReason } from "./reason.ts";

export interface Collected {
  reason: RebootReason;
  records: PstoreRecord[];
  dmesg: DmesgSummary[];
  entry: ArchiveEntry | undefined;
  entryDir: string | undefined;
  /** Records left in pstore, with why. */
  kept: string[];
  /** Records unlinked after archiving. */
  cleared: string[];
  pruned: string[];
  /** One line for the console and /dev/kmsg. */
  summary: string;
  error: string | undefined;
}

function readHead(path: string, limit: number): string {
  const fd = openSync(path, "r");
  try {
    const buf = new Uint8Array(limit);
    let n = 0;
    for (;;) {
      const got = readSync(fd, buf, n, limit - n, n);
      if (got === 0 || n + got >= limit) {
        n += got;
        break;
      }
      n += got;
    }
    return new TextDecoder("utf-8", { fatal: false }).decode(buf.subarray(0, n));
  } finally {
    closeSync(fd);
  }
}

export function summaryLine(reason: RebootReason, extra: string): string {
  const detail = reason.detail ? `: ${reason.detail}` : "";
  const sub = reason.subreason ? ` (${reason.subreason})` : "";
  return `crashkeep: previous boot ended in ${reason.reason}${sub}${detail}${extra ? `; ${extra}` : ""}`;
}

export interface CollectOptions {
  now?: Date;
}

export function collectPreviousBoot(config: Config, paths: Paths, options: CollectOptions = {}): Collected {
  const now = options.now ?? new Date();
  const records = listRecords(paths);
  const perRecord = records.map((r) =>
    r.kind === "dmesg" && !r.compressed ? summarizeDmesg(readHead(r.path, config.limits.pstoreRecordBytes)) : undefined,
  );
  const dmesg = perRecord.filter((d): d is DmesgSummary => d !== undefined);
  const reason = decideReason({ dmesg });
  const base = { reason, records, dmesg, kept: [] as string[], cleared: [] as string[], pruned: [] as string[] };
  if (records.length === 0) {
    return { ...base, entry: undefined, entryDir: undefined, summary: summaryLine(reason, "nothing to collect"), error: undefined };
  }
  const endedMs = Math.max(...records.map((r) => r.timeMs));
  const endedAt = Number.isFinite(endedMs) && endedMs > 0 ? new Date(endedMs).toISOString() : undefined;
  const files: PendingFile[] = records.map((r) => ({ name: r.file, kind: `pstore-${r.kind}`, source: r.path, path: r.path }));
  try {
    const { entry, dir, pruned } = writeEntry(
      paths.sys(config.archive.dir),
      {
        archivedAt: now.toISOString(),
        endedAt,
        reason: reason.reason,
        subreason: reason.subreason,
        detail: reason.detail,
        previousBootId: undefined,
        summary: summaryLine(reason, ""),
        facts: { pstore: records.map((r, i) => ({ file: r.file, kind: r.kind, compressed: r.compressed, bytes: r.size, dmesg: perRecord[i] })) },
      },
      files,
      { maxBytes: config.archive.maxBytes, maxEntries: config.archive.maxEntries, minFreeBytes: config.archive.minFreeBytes },
    );
    const cleared: string[] = [];
    const kept: string[] = [];
    for (const r of records) {
      try {
        unlinkSync(r.path);
        cleared.push(r.file);
      } catch (err) {
        kept.push(`${r.file}: archived but not cleared: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
    return { ...base, kept, cleared, pruned, entry, entryDir: dir, summary: summaryLine(reason, `archived ${records.length} pstore record(s) in ${dir}`), error: undefined };
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err);
    const kept = records.map((r) => `${r.file}: left in pstore`);
    return { ...base, kept, entry: undefined, entryDir: undefined, summary: summaryLine(reason, `${records.length} pstore record(s) left in pstore: ${why}`), error: why };
  }
}

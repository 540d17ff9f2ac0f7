// Collecting the previous boot: every pstore record is copied into one
// archive entry (durably) and only then unlinked, which frees its ramoops
// zone (ram.c ramoops_pstore_erase). A full or read-only disk leaves the
// records in pstore and says so.
import { openSync, readSync, closeSync, readFileSync, unlinkSync } from "node:fs";
import type { Config } from "../config/schema.ts";
import type { Paths } from "../system/paths.ts";
import { listRecords, summarizeDmesg, type DmesgSummary, type PstoreRecord } from "../system/pstore.ts";
import { listEntryIds, newestEntry, writeEntry, type ArchiveEntry, type PendingFile } from "../archive/archive.ts";
import { UNKNOWN_BOOT_ID } from "../journal/boot-id.ts";
import type { BootEvidence } from "../journal/boot-evidence.ts";
import { journalFacts, journalFiles } from "./journal-boot.ts";
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
  /** Records archived but not unlinked (the next run finds them archived and unlinks them then). */
  clearErrors: string[];
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

/** "crasher (pid 123, SEGV_MAPERR at 0x10)" from the newest crash report in the journal. */
function lastUserCrash(journal: BootEvidence): string | undefined {
  const r = [...journal.records].reverse().find((x) => x.kind === "crash-report");
  if (!r) return undefined;
  try {
    const c = JSON.parse(new TextDecoder().decode(r.payload)) as { comm?: unknown; pid?: unknown; signal?: unknown };
    return `${String(c.comm ?? "?")} (pid ${String(c.pid ?? "?")}, ${String(c.signal ?? "?")})`;
  } catch {
    return "a crash report that does not parse";
  }
}

function describeFiles(pstore: number, journal: number): string {
  const parts = [`${pstore} pstore record(s)`];
  if (journal > 0) parts.push(`${journal} journal file(s)`);
  return parts.join(" and ");
}

export function summaryLine(reason: RebootReason, extra: string): string {
  const detail = reason.detail ? `: ${reason.detail}` : "";
  const sub = reason.subreason ? ` (${reason.subreason})` : "";
  return `crashkeep: previous boot ended in ${reason.reason}${sub}${detail}${extra ? `; ${extra}` : ""}`;
}

function sameBytes(file: PendingFile, archived: string): boolean {
  try {
    const want = "path" in file ? readFileSync(file.path) : Buffer.from(typeof file.bytes === "string" ? new TextEncoder().encode(file.bytes) : file.bytes);
    return want.equals(readFileSync(archived));
  } catch {
    return false;
  }
}

/**
 * The newest entry, when it already holds this very evidence: a run killed
 * (or failed) after the entry was renamed into place but before the sources
 * were cleared. Taking it as the archived copy keeps one entry per boot.
 */
function alreadyArchived(newest: ArchiveEntry | undefined, archiveDir: string, previousBootId: string | undefined, files: PendingFile[]): ArchiveEntry | undefined {
  // Without a boot id, pstore records alone tell (filtered before this).
  if (!newest || previousBootId === undefined || newest.previousBootId !== previousBootId) return undefined;
  const ok = files.every((f) => newest.files.some((a) => a.name === f.name && sameBytes(f, `${archiveDir}/${newest.id}/${a.name}`)));
  return ok ? newest : undefined;
}

/**
 * The rollback's facts of the boot that ended (docs/ROLLBACK.md): only when
 * its journal holds rollback events, so a device without rollback never
 * loads src/rollback here (the boot hook's cost, issue 24).
 */
function rollbackFacts(journal: BootEvidence | undefined, reason: RebootReason): Record<string, unknown> | undefined {
  const bootId = journal?.bootId;
  if (!journal || !bootId || !journal.records.some((r) => r.kind === "rollback" && r.bootId === bootId)) return undefined;
  const { eventsOf } = require("../rollback/events.ts") as typeof import("../rollback/events.ts");
  const { bootFacts } = require("../rollback/facts.ts") as typeof import("../rollback/facts.ts");
  const facts = bootFacts(eventsOf(journal.records, bootId), { reason: reason.reason, noted: journal.notedReason !== null, detail: reason.detail });
  return facts ? { ...facts } : undefined;
}

export interface CollectOptions {
  now?: Date;
  /** What the phram journal held; undefined without a journal device. */
  journal?: BootEvidence | undefined;
}

export function collectPreviousBoot(config: Config, paths: Paths, options: CollectOptions = {}): Collected {
  const now = options.now ?? new Date();
  const archiveDir = paths.sys(config.archive.dir);
  const existing = listEntryIds(archiveDir);
  const newest = newestEntry(archiveDir, existing);
  // Records the newest entry already holds, byte for byte: an earlier run
  // archived them and died (or failed) before unlinking. They are cleared
  // now, never archived twice nor taken for this boot's evidence.
  const clearErrors: string[] = [];
  const earlier: string[] = [];
  const records = listRecords(paths).filter((r) => {
    const copy = newest?.files.find((a) => a.name === r.file && a.bytes === r.size && a.kind === `pstore-${r.kind}`);
    if (!newest || !copy || !sameBytes({ name: r.file, kind: copy.kind, source: r.path, path: r.path }, `${archiveDir}/${newest.id}/${copy.name}`)) return true;
    try {
      unlinkSync(r.path);
      earlier.push(r.file);
    } catch (err) {
      clearErrors.push(`Cannot clear pstore record "${r.path}" (archived in ${newest.id}): ${err instanceof Error ? err.message : String(err)}`);
    }
    return false;
  });
  const perRecord = records.map((r) =>
    r.kind === "dmesg" && !r.compressed ? summarizeDmesg(readHead(r.path, config.limits.pstoreRecordBytes)) : undefined,
  );
  const dmesg = perRecord.filter((d): d is DmesgSummary => d !== undefined);
  const journal = options.journal;
  const reason = decideReason({ dmesg, journal });
  const lastCrash = journal ? lastUserCrash(journal) : undefined;
  const base = { reason, records, dmesg, kept: [] as string[], cleared: earlier, pruned: [] as string[], clearErrors };
  const fromJournal = journal ? journalFiles(journal) : [];
  // A device's first boot: no pstore, no journal yet, an empty archive. Nothing ended.
  const firstBoot = records.length === 0 && fromJournal.length === 0 && (journal === undefined || !journal.retained) && existing.length === 0;
  if (firstBoot || (records.length === 0 && journal === undefined)) {
    const summary = journal ? "crashkeep: first boot: no journal and no archive yet, nothing to collect" : summaryLine(reason, "nothing to collect");
    return { ...base, entry: undefined, entryDir: undefined, summary, error: undefined };
  }
  const times = [...records.map((r) => r.timeMs), ...(journal?.records.map((r) => r.timeMs) ?? []), journal?.cleanShutdown?.timeMs ?? 0];
  const endedMs = Math.max(...times);
  const endedAt = Number.isFinite(endedMs) && endedMs > 0 ? new Date(endedMs).toISOString() : undefined;
  const files: PendingFile[] = [
    ...records.map((r): PendingFile => ({ name: r.file, kind: `pstore-${r.kind}`, source: r.path, path: r.path })),
    ...fromJournal,
  ];
  const previousBootId = journal?.bootId && journal.bootId !== UNKNOWN_BOOT_ID ? journal.bootId : undefined;
  const rollback = rollbackFacts(journal, reason);
  try {
    const done = alreadyArchived(newest, archiveDir, previousBootId, files);
    const { entry, dir, pruned } = done ? { entry: done, dir: `${archiveDir}/${done.id}`, pruned: [] } : writeEntry(
      archiveDir,
      {
        archivedAt: now.toISOString(),
        endedAt,
        reason: reason.reason,
        subreason: reason.subreason,
        detail: reason.detail,
        previousBootId,
        summary: summaryLine(reason, lastCrash ? `last user-space crash before it: ${lastCrash}` : ""),
        facts: {
          pstore: records.map((r, i) => ({ file: r.file, kind: r.kind, compressed: r.compressed, bytes: r.size, dmesg: perRecord[i] })),
          ...(journal ? { journal: journalFacts(journal) } : {}),
          ...(rollback ? { rollback } : {}),
        },
      },
      files,
      { maxBytes: config.archive.maxBytes, maxEntries: config.archive.maxEntries, minFreeBytes: config.archive.minFreeBytes, ids: existing },
    );
    const cleared = [...earlier];
    const kept: string[] = [];
    for (const r of records) {
      try {
        unlinkSync(r.path);
        cleared.push(r.file);
      } catch (err) {
        kept.push(`${r.file}: archived but not cleared: ${err instanceof Error ? err.message : String(err)}`);
        clearErrors.push(`Cannot clear pstore record "${r.path}" (archived in ${dir}): ${err instanceof Error ? err.message : String(err)}`);
      }
    }
    return { ...base, kept, cleared, pruned, entry, entryDir: dir, summary: summaryLine(reason, `${lastCrash ? `last user-space crash before it: ${lastCrash}; ` : ""}archived ${describeFiles(records.length, fromJournal.length)} in ${dir}`), error: undefined };
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err);
    const kept = records.map((r) => `${r.file}: left in pstore`);
    return { ...base, kept, entry: undefined, entryDir: undefined, summary: summaryLine(reason, `${records.length} pstore record(s) left in pstore: ${why}`), error: why };
  }
}

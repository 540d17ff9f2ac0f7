// The journal's part of the boot hook: read what the previous boot left in
// the phram journal, and — once the archive has it — mark it collected and
// open a new boot record (or format the journal after a cold boot or a
// layout change).
import { basename } from "node:path";
import type { Config } from "../config/schema.ts";
import type { BlockDevice } from "../copy/block-device.ts";
import { readBootEvidence, type BootEvidence } from "../journal/boot-evidence.ts";
import { formatJournal, markCollected, openJournal, startNewBoot, type Journal } from "../journal/journal.ts";
import { computeLayout, sameLayout, type LayoutOptions } from "../journal/layout.ts";
import type { PendingFile } from "../archive/archive.ts";
import type { Paths } from "../system/paths.ts";

export function layoutOptions(config: Config): LayoutOptions {
  return { slotBytes: config.journal.slotSizeBytes, logs: config.logs.files.map((f) => ({ path: f.path, bytes: f.tailBytes })) };
}

export interface JournalBoot {
  journal: Journal;
  evidence: BootEvidence;
  /** The stored layout differs from the configured one: the journal is re-formatted after collection. */
  relayout: boolean;
}

export function openBootJournal(device: BlockDevice, config: Config, paths: Paths): JournalBoot {
  const journal = openJournal(device, { paths });
  const evidence = readBootEvidence(journal);
  const stored = evidence.layout; // the control block as just read, not read again
  const wanted = computeLayout(device.size, device.eraseSize, layoutOptions(config));
  return { journal, evidence, relayout: stored !== null && !sameLayout(stored, wanted) };
}

function safeName(text: string): string {
  return text.replace(/[^A-Za-z0-9._-]+/g, "_").replace(/^[._]+/, "").slice(0, 60) || "log";
}

const strictUtf8 = new TextDecoder("utf-8", { fatal: true });

/** The files an archive entry gets from the journal: one per record, one per log tail. */
export function journalFiles(evidence: BootEvidence): PendingFile[] {
  const files: PendingFile[] = [];
  for (const r of evidence.records) {
    let ext = "bin";
    try {
      const text = strictUtf8.decode(r.payload);
      ext = "txt";
      JSON.parse(text);
      ext = "json";
    } catch {
      // not text, or text that is not JSON
    }
    files.push({ name: `journal-${r.seq}-${r.kind}.${ext}`, kind: `journal-${r.kind}`, source: `journal record ${r.seq}`, bytes: r.payload });
  }
  evidence.logs.forEach((tail, i) => {
    if (tail.bytes.length === 0) return;
    const path = tail.header?.path ?? `area-${i}`;
    files.push({ name: `log-${i}-${safeName(basename(path))}`, kind: "log-tail", source: `journal log area ${i} (${path})`, bytes: tail.bytes });
  });
  return files;
}

export function journalFacts(evidence: BootEvidence): Record<string, unknown> {
  return {
    retained: evidence.retained,
    bootId: evidence.bootId,
    bootCounter: evidence.bootCounter,
    bootStart: evidence.bootStartMs === null ? null : new Date(evidence.bootStartMs).toISOString(),
    cleanShutdown: evidence.cleanShutdown === null ? null : new Date(evidence.cleanShutdown.timeMs).toISOString(),
    notedReason: evidence.notedReason,
    records: evidence.records.map((r) => ({ seq: r.seq, kind: r.kind, bootId: r.bootId, time: new Date(r.timeMs).toISOString(), bytes: r.payload.length })),
    corruptRecords: evidence.corruptRecords,
    logs: evidence.logs.map((t) => ({ path: t.header?.path ?? null, bytes: t.bytes.length, gaps: t.gaps.length })),
  };
}

/**
 * After the archive holds the evidence (archived = true), mark the records
 * collected; then open this boot's record. A cold boot or a layout change
 * formats the journal afresh. Without an archived copy the journal is left
 * as it is ("kept").
 */
export function finishJournalBoot(jb: JournalBoot, device: BlockDevice, config: Config, options: { bootId: string; archived: boolean; paths: Paths }): "formatted" | "new-boot" | "kept" {
  const { journal, evidence } = jb;
  // Not archived: the previous boot stays the journal's current one, so that
  // the next init (this boot again, or the next) collects it whole — records,
  // log tails, markers — instead of taking it for this boot's own.
  if (!options.archived && evidence.retained && evidence.bootId !== options.bootId) return "kept";
  // A changed layout is applied only once the old one's evidence is archived.
  if (!evidence.retained || (jb.relayout && options.archived)) {
    formatJournal(device, { ...layoutOptions(config), bootId: options.bootId, paths: options.paths });
    return "formatted";
  }
  const last = evidence.records.at(-1);
  if (options.archived && last) markCollected(journal, last.seq);
  startNewBoot(journal, { bootId: options.bootId });
  return "new-boot";
}

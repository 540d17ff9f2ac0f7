// The JSON form of the journal that `crashkeep dump --json` prints: control
// block, records and log tails, with times as ISO strings and payloads as
// text when they are UTF-8 (base64 otherwise).
import { readJournal, type Journal, type JournalView } from "./journal.ts";
import { FLAG_DEFLATE } from "./record.ts";

export interface JournalDescription {
  retained: boolean;
  controlErrors: { a: string | null; b: string | null };
  control: Record<string, unknown> | null;
  records: Array<Record<string, unknown>>;
  corruptRecords: number;
  logs: Array<Record<string, unknown>>;
}

const strictUtf8 = new TextDecoder("utf-8", { fatal: true });

function payloadField(bytes: Uint8Array): { encoding: "utf-8" | "base64"; data: string } {
  try {
    return { encoding: "utf-8", data: strictUtf8.decode(bytes) };
  } catch {
    return { encoding: "base64", data: Buffer.from(bytes).toString("base64") };
  }
}

function iso(ms: number | null): string | null {
  return ms === null ? null : new Date(ms).toISOString();
}

/** Describe a parsed journal (pure). */
export function describeView(view: JournalView): JournalDescription {
  const c = view.control;
  return {
    retained: view.retained,
    controlErrors: { a: view.controlErrors[0], b: view.controlErrors[1] },
    control:
      c === null
        ? null
        : {
            generation: c.generation,
            formatId: c.formatId.toString(16).padStart(8, "0"),
            layout: c.layout,
            bootCounter: c.bootCounter,
            currentBootId: c.currentBootId,
            previousBootId: c.previousBootId,
            bootStart: iso(c.bootStartMs),
            cleanShutdown: iso(c.cleanShutdownMs),
            notedReason: c.notedReason === null ? null : { text: c.notedReason.text, time: iso(c.notedReason.timeMs) },
            nextSeq: c.nextSeq,
            collectedSeq: c.collectedSeq,
          },
    records: view.records.map((r) => ({
      seq: r.seq,
      slot: r.slot,
      kind: r.kind,
      ...(r.kind === "unknown" ? { kindCode: r.kindCode } : {}),
      bootId: r.bootId,
      bootCounter: r.bootCounter,
      time: iso(r.timeMs),
      collected: r.collected,
      compressed: (r.flags & FLAG_DEFLATE) !== 0,
      storedBytes: r.storedLength,
      bytes: r.rawLength,
      payload: payloadField(r.payload),
    })),
    corruptRecords: view.corruptRecords,
    logs: view.logs.map((t) => ({
      area: t.area,
      path: t.header?.path ?? null,
      headerLost: t.header === null,
      source:
        t.header === null
          ? null
          : { dev: t.header.sourceDev.toString(), ino: t.header.sourceIno.toString(), offset: t.header.sourceOffset, rotations: t.header.rotations },
      updated: t.header === null ? null : iso(t.header.timeMs),
      bootId: t.header?.bootId ?? null,
      streamStart: t.streamStart,
      streamEnd: t.header?.head ?? 0,
      gaps: t.gaps,
      tail: payloadField(t.bytes),
    })),
  };
}

/** What `dump --json` prints: the whole journal read in one pass. */
export function describeJournal(journal: Journal): JournalDescription {
  return describeView(readJournal(journal));
}

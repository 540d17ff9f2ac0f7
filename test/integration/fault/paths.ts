// The paths that move evidence, as a table the sweep walks: each entry makes
// a template system tree once (with the compiled binary itself), names the
// command, and says what "everything kept, once" and "nothing lost" mean for
// it. Adding a path (the upload outbox) is one more entry here.
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { makeFakeTree } from "../../unit/boot/fake-tree.ts";
import { parseJournal, type JournalView } from "../../../src/journal/journal.ts";
import { run, type Invocation } from "./strace.ts";
import { listOutbox, readOutboxEntry } from "../../../src/upload/outbox.ts";

/** The compiled binary under test (CRASHKEEP_BINARY: another build, e.g. out/x64-musl/crashkeep). */
export const BINARY = process.env.CRASHKEEP_BINARY ?? join(import.meta.dir, "../../../out/crashkeep");
const FIXTURES = join(import.meta.dir, "../../fixtures");
export const PANIC_RECORD = readFileSync(join(FIXTURES, "pstore/sysrq/dmesg-ramoops-0"));
const NEXT_BOOT_ID = "22222222-2222-4222-8222-222222222222\n";
/** The fake tree's boot id: the boot whose evidence init collects. */
const FIRST_BOOT_ID = "11111111-1111-4111-8111-111111111111";
const LOG_TEXT = "line one\nline two\n";
const NOTE_TEXT = "before the crash";
/** %t of the crash the pipe handler is told about (core(5)). */
const CORE_TIME = "1700000000";
export const ARCHIVE = "var/lib/crashkeep";

export interface Scenario {
  root: string;
}

export interface SweepPath {
  name: string;
  /** Make the template tree once; each run gets a copy. */
  template(): Promise<string>;
  invocation(s: Scenario): Invocation;
  /**
   * After a run that exited 0, or the fault-free run after any fault: every
   * piece of evidence kept exactly once. `said`: what the faulted run printed
   * (a journal write it reported as failed is not expected in the journal).
   */
  complete(s: Scenario, before: Snapshot, said: string): string[];
  /** After a run that failed (or was killed): nothing deleted that was not archived. */
  intact(s: Scenario, before: Snapshot): string[];
  /** A fault-free second run after a kill: "complete" is checked against what the killed run left (note/shutdown append). */
  snapshot(s: Scenario): Snapshot;
  /** Where the command says what went wrong besides stderr (the pipe handler: /dev/kmsg, since the kernel shows a handler's output nowhere). */
  log?: (s: Scenario) => string;
}

export interface Snapshot {
  notes: number;
}

let coreBytes: Uint8Array | undefined;
/** The abort() core of test/fixtures/cores/x86_64 (made by make.sh), decompressed once. */
export function abortCore(): Uint8Array {
  if (!coreBytes) {
    const r = Bun.spawnSync(["xz", "-dc", join(FIXTURES, "cores/x86_64/abort.core.xz")]);
    if (r.exitCode !== 0) throw new Error("Cannot decompress the abort core fixture: xz failed");
    coreBytes = new Uint8Array(r.stdout);
  }
  return coreBytes;
}

async function must(inv: Invocation): Promise<void> {
  const r = await run(inv);
  if (r.code !== 0) throw new Error(`Cannot make the sweep's template: crashkeep ${inv.argv.slice(1).join(" ")} exited ${r.code ?? r.signal}: ${r.stderr}${r.stdout}`);
}

function cli(root: string, args: string[], stdin?: string): Invocation {
  return { argv: [BINARY, ...args], env: { CRASHKEEP_ROOT: root }, cwd: root, stdin };
}

/** A device after its first boot: modules in, pstore mounted, journal formatted, one note. */
async function bootedTree(mode: "watch" | "pipe", extra: Record<string, unknown> = {}): Promise<string> {
  const tree = makeFakeTree({ pstoreMounted: true });
  tree.write("etc/crashkeep/config.json", JSON.stringify({
    logs: { files: [{ path: "/var/log/messages", tailBytes: 8192 }] },
    cores: { mode, saveCores: mode === "pipe" },
    ...extra,
  }));
  tree.write("var/log/messages", LOG_TEXT);
  await must(cli(tree.root, ["init"]));
  await must(cli(tree.root, ["note", NOTE_TEXT]));
  return tree.root;
}

export function journalOf(root: string): JournalView {
  return parseJournal(new Uint8Array(readFileSync(join(root, "dev/mtd0"))));
}

/** Leftovers of an interrupted write: temp files, staging directories, lock files. */
export function leftovers(root: string): string[] {
  const found: string[] = [];
  const walk = (dir: string) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      if (/\.tmp\d*$|^\.incoming-|\.stale\.|\.lock$/.test(e.name)) found.push(p.slice(root.length + 1));
      if (e.isDirectory()) walk(p);
    }
  };
  for (const d of ["var", "run", "sys/fs/pstore"]) if (existsSync(join(root, d))) walk(join(root, d));
  return found;
}

/** Archive entries (one per collected boot): not the reports or cores directories, not hidden staging. */
export function entries(root: string): string[] {
  const dir = join(root, ARCHIVE);
  if (!existsSync(dir)) return [];
  return readdirSync(dir).filter((n) => !n.startsWith(".") && n !== "cores" && n !== "reports").sort();
}

function same(a: Uint8Array, b: Uint8Array | string): boolean {
  return Buffer.from(a).equals(typeof b === "string" ? Buffer.from(b) : Buffer.from(b));
}

const notesIn = (j: JournalView, text: string) => j.records.filter((r) => r.kind === "note" && same(r.payload, text)).length;

/** The previous boot's evidence is where it was, or in an archive entry, byte for byte. */
function initIntact(root: string): string[] {
  const problems: string[] = [];
  const archived = entries(root).flatMap((e) => {
    const dir = join(root, ARCHIVE, e);
    return readdirSync(dir).map((f) => ({ name: f, bytes: readFileSync(join(dir, f)) }));
  });
  const pstore = join(root, "sys/fs/pstore/dmesg-ramoops-0");
  const inPstore = existsSync(pstore) && same(readFileSync(pstore), PANIC_RECORD);
  if (!inPstore && !archived.some((f) => f.name === "dmesg-ramoops-0" && same(f.bytes, PANIC_RECORD))) problems.push("the pstore record is neither in pstore nor archived");
  const j = journalOf(root);
  const uncollected = j.records.filter((r) => !r.collected && r.kind === "note" && same(r.payload, NOTE_TEXT)).length;
  if (uncollected === 0 && !archived.some((f) => f.name.endsWith("-note.txt") && same(f.bytes, NOTE_TEXT))) problems.push("the journal note is neither in the journal nor archived");
  const logInJournal = j.logs.some((t) => same(t.bytes, LOG_TEXT));
  if (!logInJournal && !archived.some((f) => f.name.startsWith("log-0-") && same(f.bytes, LOG_TEXT))) problems.push("the log tail is neither in the journal nor archived");
  return problems;
}

const initPath: SweepPath = {
  name: "init (previous boot: pstore + journal record + log tail)",
  async template() {
    const root = await bootedTree("watch");
    await must(cli(root, ["watch", "--once"]));
    writeFileSync(join(root, "proc/sys/kernel/random/boot_id"), NEXT_BOOT_ID);
    writeFileSync(join(root, "sys/fs/pstore/dmesg-ramoops-0"), PANIC_RECORD);
    return root;
  },
  invocation: (s) => cli(s.root, ["init"]),
  snapshot: () => ({ notes: 0 }),
  intact: (s) => initIntact(s.root),
  complete(s) {
    const problems: string[] = [];
    const list = entries(s.root);
    if (list.length !== 1) problems.push(`${list.length} archive entries, not 1: ${list.join(", ")}`);
    const dir = join(s.root, ARCHIVE, list[0] ?? "none");
    const files = existsSync(dir) ? readdirSync(dir).sort() : [];
    const want = ["dmesg-ramoops-0", "entry.json", "journal-1-note.txt", "log-0-messages"];
    if (files.join(",") !== want.join(",")) problems.push(`entry holds ${files.join(", ")}, not ${want.join(", ")}`);
    else {
      if (!same(readFileSync(join(dir, "dmesg-ramoops-0")), PANIC_RECORD)) problems.push("archived pstore record differs from the original");
      if (!same(readFileSync(join(dir, "journal-1-note.txt")), NOTE_TEXT)) problems.push("archived journal note differs");
      if (!same(readFileSync(join(dir, "log-0-messages")), LOG_TEXT)) problems.push("archived log tail differs");
    }
    if (readdirSync(join(s.root, "sys/fs/pstore")).length !== 0) problems.push(`pstore not cleared: ${readdirSync(join(s.root, "sys/fs/pstore")).join(", ")}`);
    const j = journalOf(s.root);
    // One new boot after the archived one (its id is the unknown one when boot_id was unreadable).
    if (!j.retained || j.control?.bootCounter !== 2 || j.control.previousBootId !== FIRST_BOOT_ID) {
      problems.push(`journal not opened for this boot once (boot ${j.control?.bootCounter}, previous ${j.control?.previousBootId})`);
    }
    if (j.records.some((r) => !r.collected && r.bootId === FIRST_BOOT_ID)) problems.push("journal records of the previous boot not marked collected");
    return problems;
  },
};

/** The reports directory's entries and the journal's crash-report records. */
function reports(root: string): { dirs: string[]; journal: number } {
  const dir = join(root, ARCHIVE, "reports");
  const dirs = existsSync(dir) ? readdirSync(dir).filter((n) => !n.startsWith(".")) : [];
  return { dirs, journal: journalOf(root).records.filter((r) => r.kind === "crash-report").length };
}

function reportComplete(root: string, said: string): string[] {
  const problems: string[] = [];
  const { dirs, journal } = reports(root);
  if (dirs.length !== 1) problems.push(`${dirs.length} report directories, not 1: ${dirs.join(", ")}`);
  else {
    const files = readdirSync(join(root, ARCHIVE, "reports", dirs[0] ?? "")).sort().join(",");
    if (files !== "capture.json,report.json,report.txt") problems.push(`report directory holds ${files}`);
    else JSON.parse(readFileSync(join(root, ARCHIVE, "reports", dirs[0] ?? "", "report.json"), "utf8"));
  }
  // The journal copy is extra (the archive is the durable one): a failed journal write, said, is no loss.
  const noJournal = /Cannot write the report into the journal|go(es)? to the archive only/.test(said);
  if (journal > 1 || (journal === 0 && !noJournal)) problems.push(`${journal} crash-report records in the journal, not 1`);
  if (notesIn(journalOf(root), NOTE_TEXT) !== 1) problems.push("the earlier journal note is gone");
  return problems;
}

function keptCores(root: string): string[] {
  const dir = join(root, ARCHIVE, "cores/kept");
  return existsSync(dir) ? readdirSync(dir) : [];
}

const WATCHED_CORE = "core.abort.4242.1700000000";

const watchPath: SweepPath = {
  name: "watch --once (a waiting core)",
  async template() {
    const root = await bootedTree("watch");
    writeFileSync(join(root, ARCHIVE, "cores", WATCHED_CORE), abortCore());
    return root;
  },
  invocation: (s) => cli(s.root, ["watch", "--once"]),
  snapshot: () => ({ notes: 0 }),
  intact(s) {
    const core = join(s.root, ARCHIVE, "cores", WATCHED_CORE);
    if (existsSync(core) && same(readFileSync(core), abortCore())) return [];
    const kept = keptCores(s.root).map((n) => readFileSync(join(s.root, ARCHIVE, "cores/kept", n)));
    if (kept.some((b) => same(b, abortCore())) && reports(s.root).dirs.length > 0) return [];
    return ["the core is gone (or changed) without a report"];
  },
  complete(s, _before, said) {
    const problems = reportComplete(s.root, said);
    if (existsSync(join(s.root, ARCHIVE, "cores", WATCHED_CORE))) problems.push("the core is still waiting");
    const kept = keptCores(s.root);
    if (kept.length !== 1 || !same(readFileSync(join(s.root, ARCHIVE, "cores/kept", kept[0] ?? "")), abortCore())) problems.push(`kept cores: ${kept.join(", ") || "none"} (want the core, once)`);
    return problems;
  },
};

let coreFile: string | undefined;
function coreOnDisk(): string {
  if (!coreFile) {
    coreFile = join(mkdtempSync(join(tmpdir(), "crashkeep-sweep-core-")), "abort.core");
    writeFileSync(coreFile, abortCore());
  }
  return coreFile;
}

const corePath: SweepPath = {
  name: "core (pipe handler, saveCores)",
  template: () => bootedTree("pipe"),
  invocation: (s) => cli(s.root, ["core", "4242", "4242", "6", CORE_TIME, "!usr!bin!abort"], coreOnDisk()),
  log: (s) => join(s.root, "dev/kmsg"),
  snapshot: () => ({ notes: 0 }),
  // The kernel's pipe is gone with the handler: nothing of the crash can be
  // kept by a failed run, but nothing earlier may be lost.
  intact: (s) => (notesIn(journalOf(s.root), NOTE_TEXT) === 1 ? [] : ["the earlier journal note is gone"]),
  complete(s, _before, said) {
    const problems = reportComplete(s.root, said);
    const kept = keptCores(s.root);
    if (kept.length !== 1) problems.push(`${kept.length} saved cores, not 1: ${kept.join(", ")}`);
    else {
      const r = Bun.spawnSync(["gzip", "-dc", join(s.root, ARCHIVE, "cores/kept", kept[0] ?? "")]);
      if (r.exitCode !== 0 || !same(new Uint8Array(r.stdout), abortCore())) problems.push("the saved core does not decompress to the core");
    }
    return problems;
  },
};

const NEW_NOTE = "planned update";
const notePath: SweepPath = {
  name: "note --reason",
  template: () => bootedTree("watch"),
  invocation: (s) => cli(s.root, ["note", "--reason", "fw update", NEW_NOTE]),
  snapshot: (s) => ({ notes: notesIn(journalOf(s.root), NEW_NOTE) }),
  intact(s) {
    const j = journalOf(s.root);
    const problems: string[] = [];
    if (!j.retained) problems.push("journal no longer retained");
    if (notesIn(j, NOTE_TEXT) !== 1) problems.push("the earlier journal note is gone");
    if (notesIn(j, NEW_NOTE) > 1) problems.push("the note was written twice");
    return problems;
  },
  complete(s, before) {
    const j = journalOf(s.root);
    const problems: string[] = [];
    if (notesIn(j, NOTE_TEXT) !== 1) problems.push("the earlier journal note is gone");
    // A killed run that already committed its record, plus the run again: two notes, both whole.
    if (notesIn(j, NEW_NOTE) !== before.notes + 1) problems.push(`${notesIn(j, NEW_NOTE)} new notes after ${before.notes} before the run`);
    if (j.control?.notedReason?.text !== "fw update") problems.push("noted reason not set");
    if (j.corruptRecords !== 0) problems.push(`${j.corruptRecords} corrupt records`);
    return problems;
  },
};

const shutdownPath: SweepPath = {
  name: "shutdown",
  template: () => bootedTree("watch"),
  invocation: (s) => cli(s.root, ["shutdown"]),
  snapshot: () => ({ notes: 0 }),
  intact(s) {
    const j = journalOf(s.root);
    return j.retained && notesIn(j, NOTE_TEXT) === 1 ? [] : ["the journal or its earlier note is gone"];
  },
  complete(s) {
    const j = journalOf(s.root);
    const problems: string[] = [];
    if (notesIn(j, NOTE_TEXT) !== 1) problems.push("the earlier journal note is gone");
    if (j.control?.cleanShutdownMs == null) problems.push("no clean-shutdown marker");
    return problems;
  },
};

/** Outbox entries holding the note NEW_NOTE; unreadable entries are counted apart (they must never exist). */
function outboxNotes(root: string): { notes: number; unreadable: number } {
  const dir = join(root, ARCHIVE, "outbox");
  if (!existsSync(dir)) return { notes: 0, unreadable: 0 };
  let notes = 0;
  let unreadable = 0;
  for (const e of listOutbox(dir)) {
    try {
      const p = JSON.parse(new TextDecoder().decode(readOutboxEntry(dir, e) ?? new Uint8Array())) as { kind?: string; note?: { text?: string } };
      if (p.kind === "note" && p.note?.text === NEW_NOTE) notes++;
    } catch {
      unreadable++;
    }
  }
  return { notes, unreadable };
}

/**
 * `note` with upload on: the journal record, then the outbox entry (written
 * with the archive's durability rules). The broker is never contacted by
 * `note`; what the sweep checks is the outbox's write path.
 */
const noteOutboxPath: SweepPath = {
  name: "note with upload on (journal + outbox entry)",
  template: () => bootedTree("watch", { upload: { broker: "mqtt://127.0.0.1:9", deviceId: "sweep-device" } }),
  invocation: (s) => cli(s.root, ["note", NEW_NOTE]),
  snapshot: (s) => ({ notes: notesIn(journalOf(s.root), NEW_NOTE) }),
  intact(s) {
    const problems = notePath.intact(s, { notes: 0 });
    const o = outboxNotes(s.root);
    if (o.unreadable > 0) problems.push(`${o.unreadable} unreadable outbox entries`);
    if (o.notes > notesIn(journalOf(s.root), NEW_NOTE)) problems.push(`${o.notes} outbox notes for ${notesIn(journalOf(s.root), NEW_NOTE)} journal notes`);
    return problems;
  },
  complete(s, before) {
    const j = journalOf(s.root);
    const problems: string[] = [];
    if (notesIn(j, NOTE_TEXT) !== 1) problems.push("the earlier journal note is gone");
    if (notesIn(j, NEW_NOTE) !== before.notes + 1) problems.push(`${notesIn(j, NEW_NOTE)} new notes after ${before.notes} before the run`);
    // The run that completed queued its note; a killed run before it may have queued its own (a note of its own).
    const o = outboxNotes(s.root);
    if (o.unreadable > 0) problems.push(`${o.unreadable} unreadable outbox entries`);
    if (o.notes < 1 || o.notes > before.notes + 1) problems.push(`${o.notes} outbox notes, want 1..${before.notes + 1}`);
    return problems;
  },
};

/** Every path the sweep walks; adding one is one more entry. */
export const PATHS: readonly SweepPath[] = [initPath, watchPath, corePath, notePath, shutdownPath, noteOutboxPath];

/** A fresh copy of a template for one run. */
export function scenarioFrom(template: string): Scenario {
  const root = mkdtempSync(join(tmpdir(), "crashkeep-sweep-"));
  cpSync(template, root, { recursive: true, verbatimSymlinks: true });
  return { root };
}

export function dropScenario(s: Scenario): void {
  rmSync(s.root, { recursive: true, force: true });
}

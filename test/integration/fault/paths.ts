// The paths that move evidence, as a table the sweep walks: each entry makes
// a template system tree once (with the compiled binary itself), names the
// command, and says what "everything kept, once" and "nothing lost" mean for
// it. Adding a path is one more entry here (the last, upload --once, brings
// its own broker: prepare() and close()).
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { makeFakeTree } from "../../unit/boot/fake-tree.ts";
import { parseJournal, type JournalView } from "../../../src/journal/journal.ts";
import { run, type Invocation } from "./strace.ts";
import { enqueue, listOutbox, readOutboxEntry, DROPPED_FILE } from "../../../src/upload/outbox.ts";
import type { UploadPayload } from "../../../src/upload/payload.ts";
import { mosquitto, Subscriber, waitFor, type Mosquitto } from "../brokers.ts";

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
   * (The upload path waits for the broker's deliveries: a promise.)
   */
  complete(s: Scenario, before: Snapshot, said: string): string[] | Promise<string[]>;
  /** After a run that failed (or was killed): nothing deleted that was not archived (or, upload, acknowledged). */
  intact(s: Scenario, before: Snapshot): string[] | Promise<string[]>;
  /** A fault-free second run after a kill: "complete" is checked against what the killed run left (note/shutdown append). */
  snapshot(s: Scenario): Snapshot;
  /** Where the command says what went wrong besides stderr (the pipe handler: /dev/kmsg, since the kernel shows a handler's output nowhere). */
  log?: (s: Scenario) => string;
  /** Set up one run's copy of the template before anything runs in it (the upload path: its own device id). */
  prepare?: (s: Scenario) => void;
  /** After the sweep of this path: stop what template() started (the upload path's broker). */
  close?: () => Promise<void>;
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
  // A failed journal write is retried by the next run (issue 19): only a journal that could not be
  // opened, or a failure that could not be kept for the retry (said), leaves the journal without it.
  const noJournal = /Cannot keep the report for a journal retry|go(es)? to the archive only/.test(said);
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

function noteIntact(s: Scenario): string[] {
  const j = journalOf(s.root);
  const problems: string[] = [];
  if (!j.retained) problems.push("journal no longer retained");
  if (notesIn(j, NOTE_TEXT) !== 1) problems.push("the earlier journal note is gone");
  if (notesIn(j, NEW_NOTE) > 1) problems.push("the note was written twice");
  return problems;
}

const notePath: SweepPath = {
  name: "note --reason",
  template: () => bootedTree("watch"),
  invocation: (s) => cli(s.root, ["note", "--reason", "fw update", NEW_NOTE]),
  snapshot: (s) => ({ notes: notesIn(journalOf(s.root), NEW_NOTE) }),
  intact: (s) => noteIntact(s),
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
    const problems = noteIntact(s);
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

/**
 * The upload outbox's flush: `upload --once` sends a boot, a crash and two
 * notes (queued by init, the pipe handler and note, with upload on) to a real
 * mosquitto. One broker and one subscriber per sweep, shared by the runs,
 * which the sweep runs in parallel: each run's copy gets its own device id
 * (its machine-id, the entries' device and id re-keyed by prepare()), so its
 * client id, topics and message ids are its own, and what reached the broker
 * is told apart per run. At-least-once is the contract: an entry may arrive
 * twice (receivers de-duplicate by id), never zero times, and leaves the
 * outbox only after its PUBACK.
 */
let uploadBroker: { broker: Mosquitto; sub: Subscriber } | undefined;
/** Each run's device id → the ids of the messages its outbox held at the start. */
const uploadIds = new Map<string, string[]>();
/** How long a message the broker acknowledged may take to reach the subscriber: generous for a loaded 2-core machine. */
const DELIVERY_TIMEOUT_MS = 20_000;
const outboxOf = (root: string) => join(root, ARCHIVE, "outbox");
const uploadDevice = (s: Scenario) => `sweep-${basename(s.root)}`;

/** The ids of the entries in the outbox; unreadable entries are counted apart (they must never exist). */
function outboxIds(root: string): { ids: string[]; unreadable: number } {
  const dir = outboxOf(root);
  const ids: string[] = [];
  let unreadable = 0;
  for (const e of listOutbox(dir)) {
    try {
      ids.push((JSON.parse(new TextDecoder().decode(readOutboxEntry(dir, e) ?? new Uint8Array())) as { id: string }).id);
    } catch {
      unreadable++;
    }
  }
  return { ids, unreadable };
}

/** Ids the subscriber received from this run's device (its own topics), waited for when `want` are missing. */
async function arrived(s: Scenario, want: string[]): Promise<Set<string>> {
  const sub = uploadBroker?.sub;
  if (!sub) throw new Error("Cannot check arrivals: the sweep's broker is not running");
  const topic = `crashkeep/v1/${uploadDevice(s)}/`;
  const seen = () => new Set(sub.all.filter((r) => r.topic.startsWith(topic)).map((r) => r.payload.id));
  try {
    return await waitFor(`${want.length} messages of ${uploadDevice(s)} at the subscriber`, () => {
      const got = seen();
      return want.every((id) => got.has(id)) && got;
    }, DELIVERY_TIMEOUT_MS);
  } catch {
    return seen();
  }
}

const uploadPath: SweepPath = {
  name: "upload --once (outbox flush: boot, crash, notes to mosquitto)",
  async template() {
    const broker = await mosquitto();
    await broker.start();
    const sub = new Subscriber(broker.port, `sweep-sub-${process.pid}`);
    uploadBroker = { broker, sub };
    await sub.connect("crashkeep/#");
    const upload = { broker: `mqtt://127.0.0.1:${broker.port}`, connectTimeoutSeconds: 5, ackTimeoutSeconds: 5 };
    const root = await bootedTree("pipe", { upload });
    // A previous boot ended in a panic: init archives it (boot entry), then a crash and a note.
    writeFileSync(join(root, "proc/sys/kernel/random/boot_id"), NEXT_BOOT_ID);
    writeFileSync(join(root, "sys/fs/pstore/dmesg-ramoops-0"), PANIC_RECORD);
    await must(cli(root, ["init"]));
    await must(cli(root, ["core", "4242", "4242", "6", CORE_TIME, "!usr!bin!abort"], coreOnDisk()));
    await must(cli(root, ["note", NEW_NOTE]));
    const kinds = listOutbox(outboxOf(root)).map((e) => e.kind).sort();
    if (!["boot", "crash", "note"].every((k) => kinds.includes(k as never))) throw new Error(`Cannot make the upload sweep's template: the outbox holds ${kinds.join(", ") || "nothing"}, not a boot, a crash and a note`);
    return root;
  },
  prepare(s) {
    // The entries exactly as queued, but for the device: its id in the payload and in the message id.
    const id = uploadDevice(s);
    writeFileSync(join(s.root, "etc/machine-id"), `${id}\n`);
    const dir = outboxOf(s.root);
    const ids: string[] = [];
    for (const e of listOutbox(dir)) {
      const p = JSON.parse(new TextDecoder().decode(readOutboxEntry(dir, e) ?? new Uint8Array())) as UploadPayload;
      p.id = `${id}${p.id.slice(p.device.id.length)}`;
      p.device.id = id;
      rmSync(join(dir, e.name));
      enqueue(dir, p, { maxEntries: 1000, maxBytes: 1 << 24, maxAgeDays: 7, minFreeBytes: 0 });
      ids.push(p.id);
    }
    uploadIds.set(id, ids);
  },
  invocation: (s) => cli(s.root, ["upload", "--once"]),
  snapshot: () => ({ notes: 0 }),
  async intact(s) {
    // Every message is still queued or reached the broker (it left the outbox only after its PUBACK).
    const want = uploadIds.get(uploadDevice(s)) ?? [];
    const queued = outboxIds(s.root);
    const problems: string[] = [];
    if (queued.unreadable > 0) problems.push(`${queued.unreadable} unreadable outbox entries`);
    const gone = want.filter((id) => !queued.ids.includes(id));
    const got = await arrived(s, gone);
    const lost = gone.filter((id) => !got.has(id));
    if (lost.length > 0) problems.push(`gone from the outbox but never at the broker: ${lost.join(", ")}`);
    return problems;
  },
  async complete(s) {
    const want = uploadIds.get(uploadDevice(s)) ?? [];
    const problems: string[] = [];
    if (want.length < 3) problems.push(`the run's outbox held ${want.length} entries, not a boot, a crash and notes`);
    const queued = outboxIds(s.root);
    if (queued.ids.length > 0 || queued.unreadable > 0) problems.push(`outbox not empty: ${queued.ids.length + queued.unreadable} entries`);
    if (existsSync(join(outboxOf(s.root), DROPPED_FILE))) problems.push("dropped.json left: something was dropped");
    const got = await arrived(s, want);
    const missing = want.filter((id) => !got.has(id));
    if (missing.length > 0) problems.push(`never arrived at the broker: ${missing.join(", ")}`);
    return problems;
  },
  async close() {
    await uploadBroker?.sub.close();
    await uploadBroker?.broker.kill9();
    rmSync(uploadBroker?.broker.dir ?? "", { recursive: true, force: true });
    uploadBroker = undefined;
  },
};

/**
 * The rollback (issue 23): `watch --once` on slot B after its second panic on
 * probation (maxBadBoots 2), the updater behind the command backend (shell
 * lines over a U-Boot environment kept as files, RAUC's mark-bad booted +
 * mark-active other). The steps: the rollback archive entry, its outbox
 * message, mark bad and switch, the noted reason, the reboot command. Killed
 * or failed anywhere, then run again: one rollback entry, one message, the
 * switch done, the reason noted, the reboot asked for; the boots' entries
 * (the count) untouched.
 */
const ROLLBACK_BOOTS = 3;
function rollbackEnv(root: string, name: string): string {
  return readFileSync(join(root, "uboot", name), "utf8").trim();
}
function rollbackBoot(root: string, n: number, slot: string): void {
  writeFileSync(join(root, "uboot/booted"), `${slot}\n`);
  writeFileSync(join(root, "proc/sys/kernel/random/boot_id"), `00000000-0000-4000-8000-${String(n).padStart(12, "0")}\n`);
  writeFileSync(join(root, "etc/os-release"), `VERSION_ID=${slot === "A" ? "1.0" : "2.0"}\n`);
}
function rollbackEntries(root: string): { boots: Array<Record<string, unknown>>; rollbacks: Array<Record<string, unknown>> } {
  const out = { boots: [] as Array<Record<string, unknown>>, rollbacks: [] as Array<Record<string, unknown>> };
  for (const e of entries(root)) {
    const file = join(root, ARCHIVE, e, "entry.json");
    if (!existsSync(file)) continue;
    const entry = JSON.parse(readFileSync(file, "utf8")) as { reason: string; facts: { rollback?: Record<string, unknown> } };
    if (entry.reason === "rollback") out.rollbacks.push({ id: e, ...entry.facts.rollback });
    else out.boots.push(entry.facts.rollback ?? {});
  }
  return out;
}
function rollbackMessages(root: string): { ids: string[]; unreadable: number } {
  const dir = join(root, ARCHIVE, "outbox");
  const ids: string[] = [];
  let unreadable = 0;
  for (const e of listOutbox(dir).filter((x) => x.kind === "rollback")) {
    try {
      ids.push((JSON.parse(new TextDecoder().decode(readOutboxEntry(dir, e) ?? new Uint8Array())) as { rollback: { archiveId: string } }).rollback.archiveId);
    } catch {
      unreadable++;
    }
  }
  return { ids, unreadable };
}
/** What a run may not have lost: the boots' entries (the count), at most one rollback entry and one message for it. */
function rollbackIntact(root: string): string[] {
  const problems: string[] = [];
  const { boots, rollbacks } = rollbackEntries(root);
  const bad = boots.filter((b) => b.verdict === "bad").length;
  if (boots.length !== ROLLBACK_BOOTS || bad !== 2) problems.push(`${boots.length} boot entries with ${bad} bad, not ${ROLLBACK_BOOTS} with 2`);
  if (rollbacks.length > 1) problems.push(`${rollbacks.length} rollback entries`);
  const m = rollbackMessages(root);
  if (m.unreadable > 0) problems.push(`${m.unreadable} unreadable outbox entries`);
  if (m.ids.length > 1 || m.ids.some((id) => !rollbacks.some((r) => r.id === id))) problems.push(`rollback messages ${m.ids.join(", ") || "none"} for entries ${rollbacks.map((r) => r.id).join(", ") || "none"}`);
  if (!journalOf(root).retained) problems.push("journal no longer retained");
  return problems;
}

const rollbackPath: SweepPath = {
  name: "rollback (watch --once: archive entry, outbox message, mark bad and switch, noted reason, reboot)",
  async template() {
    const tree = makeFakeTree({ pstoreMounted: true });
    const root = tree.root;
    // Each run is a copy of the template elsewhere: the shell lines find its tree by $CRASHKEEP_ROOT (inherited).
    const e = "$CRASHKEEP_ROOT/uboot";
    tree.write("uboot/BOOT_ORDER", "A B\n");
    tree.write("uboot/BOOT_A_LEFT", "3\n");
    tree.write("uboot/BOOT_B_LEFT", "3\n");
    tree.write("proc/uptime", "5.00 1.00\n");
    tree.write("etc/crashkeep/config.json", JSON.stringify({
      logs: { files: [{ path: "/var/log/messages", tailBytes: 8192 }] },
      cores: { mode: "watch" },
      upload: { broker: "mqtt://127.0.0.1:9", deviceId: "sweep-rollback", connectTimeoutSeconds: 1 },
      rollback: {
        enabled: true,
        backend: "command",
        maxBadBoots: 2,
        rebootCommand: "touch $CRASHKEEP_ROOT/reboot-requested",
        commands: {
          bootedSlot: `cat ${e}/booted`,
          primarySlot: `set -e; set -- $(cat ${e}/BOOT_ORDER); echo $1`,
          // Each variable written whole or not at all (temp file, then mv), as fw_setenv's redundant environment is.
          markGood: `set -e; b=$(cat ${e}/booted); echo 3 > ${e}/.t; mv ${e}/.t ${e}/BOOT_\${b}_LEFT`,
          markBadAndSwitch: `set -e; b=$(cat ${e}/booted); if [ $b = A ]; then o=B; else o=A; fi; echo 0 > ${e}/.t; mv ${e}/.t ${e}/BOOT_\${b}_LEFT; echo $o > ${e}/.t; mv ${e}/.t ${e}/BOOT_ORDER; echo 3 > ${e}/.t; mv ${e}/.t ${e}/BOOT_\${o}_LEFT`,
        },
      },
    }));
    tree.write("var/log/messages", LOG_TEXT);
    // Boot 1: the factory slot A, good; a clean shutdown; then an update into B.
    rollbackBoot(root, 1, "A");
    await must(cli(root, ["init"]));
    await must(cli(root, ["watch", "--once"]));
    await must(cli(root, ["shutdown"]));
    writeFileSync(join(root, "uboot/BOOT_ORDER"), "B A\n");
    // Boots 2 and 3: B on probation, each ends in a panic (its own record).
    for (const n of [2, 3]) {
      rollbackBoot(root, n, "B");
      await must(cli(root, ["init"]));
      await must(cli(root, ["watch", "--once"]));
      writeFileSync(join(root, "sys/fs/pstore/dmesg-ramoops-0"), Buffer.from(PANIC_RECORD.toString("latin1").replace("Panic#1 Part1", `Panic#${n} Part1`), "latin1"));
    }
    // Boot 4: init archives the second panic; the daemon's decision is the swept run.
    rollbackBoot(root, 4, "B");
    await must(cli(root, ["init"]));
    const problems = rollbackIntact(root);
    if (problems.length > 0 || rollbackEntries(root).rollbacks.length !== 0) throw new Error(`Cannot make the rollback sweep's template: ${problems.join("; ")}`);
    return root;
  },
  invocation: (s) => cli(s.root, ["watch", "--once"]),
  snapshot: () => ({ notes: 0 }),
  intact: (s) => rollbackIntact(s.root),
  complete(s) {
    const problems = rollbackIntact(s.root);
    const { rollbacks } = rollbackEntries(s.root);
    if (rollbacks.length !== 1) problems.push(`${rollbacks.length} rollback entries, not 1`);
    else {
      const r = rollbacks[0] ?? {};
      const reasons = (r.badBoots as Array<{ reason: string }> | undefined)?.map((b) => b.reason).join(",");
      if (r.trigger !== "crashkeep" || r.fromSlot !== "B" || reasons !== "kernel-panic,kernel-panic") problems.push(`rollback entry ${JSON.stringify(r).slice(0, 200)}`);
    }
    if (rollbackMessages(s.root).ids.length !== 1) problems.push(`${rollbackMessages(s.root).ids.length} rollback messages queued, not 1`);
    const env = { order: rollbackEnv(s.root, "BOOT_ORDER"), b: rollbackEnv(s.root, "BOOT_B_LEFT") };
    if (env.order !== "A" || env.b !== "0") problems.push(`not switched: BOOT_ORDER "${env.order}", BOOT_B_LEFT ${env.b}`);
    const noted = journalOf(s.root).control?.notedReason?.text ?? "";
    if (!noted.startsWith("rollback from slot B (2.0): 2 bad boot(s)")) problems.push(`noted reason "${noted}"`);
    if (!existsSync(join(s.root, "reboot-requested"))) problems.push("no reboot asked for");
    return problems;
  },
};

/** Every path the sweep walks; adding one is one more entry. */
export const PATHS: readonly SweepPath[] = [initPath, watchPath, corePath, notePath, shutdownPath, noteOutboxPath, uploadPath, rollbackPath];

/** A fresh copy of a template for one run. */
export function scenarioFrom(template: string): Scenario {
  const root = mkdtempSync(join(tmpdir(), "crashkeep-sweep-"));
  cpSync(template, root, { recursive: true, verbatimSymlinks: true });
  return { root };
}

export function dropScenario(s: Scenario): void {
  rmSync(s.root, { recursive: true, force: true });
}

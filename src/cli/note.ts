// crashkeep note [--reason R] TEXT: a breadcrumb kept in the journal across
// the reboot; with --reason, also the reboot reason the next boot reports.
import { openDevice } from "../copy/block-device.ts";
import { readBootId, UNKNOWN_BOOT_ID } from "../journal/boot-id.ts";
import { appendRecord, DEFAULT_DEVICE, openJournal } from "../journal/journal.ts";
import { makePaths } from "../system/paths.ts";
import { deviceArg } from "./device-arg.ts";
import { failure, parseArgs, UsageError } from "./args.ts";
import { loadConfigOrDefaults } from "../config/load.ts";
import { queueNote } from "../upload/queue.ts";
import { initWho, waitForInit } from "../boot/init-state.ts";

/** A note is a breadcrumb, not a log: it must leave slot room for crash reports. */
const MAX_NOTE_BYTES = 4096;
/**
 * How long a note waits for this boot's init (watch --init works in the
 * background at boot) to open this boot's journal record: as long as
 * S03crashkeep's restart waits for the daemon.
 */
export const NOTE_INIT_WAIT_MS = 120_000;

export const help = `Usage: crashkeep note [--reason R] [--device PATH] TEXT

Add a note record to the crash journal; it survives a warm reboot and is
archived by the next boot. With --reason, R also becomes the reboot reason
the next boot reports (e.g. "firmware update"); TEXT then defaults to R.
Early in a boot it first waits (at most ${NOTE_INIT_WAIT_MS / 1000} s) until this boot's init
(crashkeep watch --init, in the background) has opened this boot's record.

Options:
  --reason R      set the noted reboot reason of this boot
  --device PATH   the journal device: an MTD node or a file holding a raw
                  copy (default: journal.device, else ${DEFAULT_DEVICE}
                  with the configured phram name)
  --config FILE   config file (default /etc/crashkeep/config.json)
  -h, --help      show this help`;

export async function run(args: string[]): Promise<number> {
  const parsed = parseArgs(args, { values: ["reason", "device", "config"] });
  const reason = parsed.values.get("reason");
  const text = parsed.positionals.length > 0 ? parsed.positionals.join(" ") : reason;
  if (text === undefined || text === "") throw new UsageError("Missing TEXT (or --reason)");
  const bytes = new TextEncoder().encode(text);
  if (bytes.length > MAX_NOTE_BYTES) throw new UsageError(`Note of ${bytes.length} bytes is longer than ${MAX_NOTE_BYTES}`);
  const paths = makePaths();
  const path = deviceArg(undefined, parsed.values);
  const bootId = readBootId(paths);
  // Written before this boot's record is open, the note (and its reason) would be the previous boot's.
  const initPid = await waitForInit(paths, NOTE_INIT_WAIT_MS);
  if (initPid !== undefined) {
    throw new Error(`Cannot write the note: this boot's init (${initWho(initPid)}) has not opened this boot's journal record after ${NOTE_INIT_WAIT_MS / 1000} s; nothing written`);
  }
  let seq: number;
  try {
    const device = openDevice(path, { write: true, paths });
    try {
      seq = appendRecord(openJournal(device, { paths }), { kind: "note", payload: bytes }, {
        ...(bootId === UNKNOWN_BOOT_ID ? {} : { bootId }),
        ...(reason === undefined ? {} : { notedReason: reason }),
      }).seq;
    } finally {
      device.close();
    }
  } catch (err) {
    throw new Error(failure(`Cannot write the note to "${path}"`, err));
  }
  // Upload on: the note also goes into the outbox (upload off: nothing happens).
  // A config that cannot be read leaves the note in the journal (the next boot archives it) but
  // cannot tell whether upload is on: said, exit 1, never silently not queued (found by the fault sweep).
  const { config, problems: configProblems } = loadConfigOrDefaults(parsed.values.get("config"), { paths });
  if (configProblems.length > 0) {
    for (const line of configProblems) console.error(line);
    console.error("The note is in the journal; it was not queued for upload");
    return 1;
  }
  const now = new Date();
  const problems = queueNote(config, paths, {
    text, reason: reason ?? null, bootId: bootId === UNKNOWN_BOOT_ID ? null : bootId, time: now,
    localId: `${bootId === UNKNOWN_BOOT_ID ? "boot" : bootId}-${seq}-${now.getTime()}`,
  });
  for (const line of problems) console.error(line);
  return problems.length === 0 ? 0 : 1;
}

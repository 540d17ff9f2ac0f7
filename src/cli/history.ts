import { readFileSync } from "node:fs";
import { parseArgs, UsageError } from "./args.ts";
import { loadConfig } from "../config/load.ts";
import { listEntries, readEntry, type ArchiveEntry } from "../archive/archive.ts";
import { makePaths } from "../system/paths.ts";

export const help = `Usage: crashkeep history [--json] [--config FILE]
       crashkeep history show ID [--json] [--config FILE]

List the archived boots, newest first: id, when the boot ended, why, and what
the entry holds; with rollback (docs/ROLLBACK.md), each boot's slot and
verdict ("[slot B, on probation, bad]") and the rollback entries ("<time>-rollback":
from which slot, why, each bad boot). "show ID" prints one entry with its panic log.`;

/** Most of a panic log shown by "history show": the end is what matters. */
const SHOW_LOG_BYTES = 64 * 1024;

/** A boot's rollback facts (docs/ROLLBACK.md): "[slot B, on probation, bad]". */
function rollbackPart(e: ArchiveEntry): string {
  const r = e.facts.rollback as { slot?: unknown; onProbation?: unknown; verdict?: unknown } | undefined;
  if (e.reason === "rollback" || !r || typeof r.slot !== "string") return "";
  return `  [slot ${r.slot}${r.onProbation === true ? ", on probation" : ""}${r.verdict === "none" || typeof r.verdict !== "string" ? "" : `, ${r.verdict}`}]`;
}

function line(e: ArchiveEntry): string {
  const why = `${e.reason}${e.subreason ? ` (${e.subreason})` : ""}`;
  const holds = e.files.map((f) => f.name).join(", ");
  return `${e.id}  ${e.endedAt ?? e.archivedAt}  ${why}${e.detail ? `: ${e.detail}` : ""}  [${holds}]${rollbackPart(e)}`;
}

export async function run(args: string[]): Promise<number> {
  const { positionals, values, flags } = parseArgs(args, { values: ["config"], flags: ["json"] });
  const paths = makePaths();
  const { config } = loadConfig(values.get("config"), { paths });
  const dir = paths.sys(config.archive.dir);
  const [sub, id, ...extra] = positionals;
  if (extra.length > 0) throw new UsageError(`Unexpected argument "${extra[0]}"`);
  if (sub === undefined) {
    const entries = listEntries(dir);
    if (flags.has("json")) console.log(JSON.stringify(entries, null, 2));
    else if (entries.length === 0) console.log(`no archived boots in ${dir}`);
    else for (const e of entries) console.log(line(e));
    return 0;
  }
  if (sub !== "show") throw new UsageError(`Unknown subcommand "${sub}": use show`);
  if (id === undefined) throw new UsageError("Missing ID (see crashkeep history)");
  const entry = readEntry(dir, id);
  if (!entry) throw new Error(`Cannot show archived boot "${id}": no such entry in ${dir}`);
  if (flags.has("json")) {
    console.log(JSON.stringify(entry, null, 2));
    return 0;
  }
  console.log(`boot:     ${entry.id}`);
  console.log(`ended:    ${entry.endedAt ?? "unknown"}`);
  console.log(`reason:   ${entry.reason}${entry.subreason ? ` (${entry.subreason})` : ""}`);
  if (entry.detail) console.log(`detail:   ${entry.detail}`);
  if (entry.previousBootId) console.log(`boot id:  ${entry.previousBootId}`);
  const rb = entry.facts.rollback as Record<string, unknown> | undefined;
  if (rb && entry.reason === "rollback") {
    console.log(`rollback: from slot ${String(rb.fromSlot)} (${String(rb.fromFirmware ?? "?")}) to slot ${String(rb.toSlot ?? "?")} (${String(rb.toFirmware ?? "?")}), ${String(rb.trigger)}`);
    for (const b of Array.isArray(rb.badBoots) ? (rb.badBoots as Array<Record<string, unknown>>) : []) {
      console.log(`bad boot: slot ${String(b.slot)}, ${String(b.reason)}${b.bootId ? ` (boot ${String(b.bootId)})` : ""}${b.detail ? `: ${String(b.detail)}` : ""}`);
    }
  } else if (rb) {
    console.log(`slot:     ${String(rb.slot)} (${String(rb.install)}), ${rb.onProbation === true ? "on probation" : "not on probation"}, ended ${String(rb.reason)}, verdict ${String(rb.verdict)}`);
  }
  console.log(`archived: ${entry.archivedAt}`);
  for (const f of entry.files) console.log(`file:     ${f.name} (${f.bytes} bytes, ${f.kind}, from ${f.source})`);
  for (const f of entry.files.filter((f) => f.kind === "pstore-dmesg" || f.kind.startsWith("log"))) {
    const text = readFileSync(`${dir}/${entry.id}/${f.name}`, "utf8");
    const shown = text.length > SHOW_LOG_BYTES ? `[... ${text.length - SHOW_LOG_BYTES} bytes before]\n${text.slice(-SHOW_LOG_BYTES)}` : text;
    console.log(`\n--- ${f.name} ---\n${shown.trimEnd()}`);
  }
  return 0;
}

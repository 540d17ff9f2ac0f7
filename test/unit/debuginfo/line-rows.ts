// Test helper: a fixture's line tables as llvm-dwarfdump decodes them (its own
// reader of the line-number program, DWARF 5 §6.2), and the row gdb picks for a
// pc, written out from that decoding: the reference for the innermost frame's
// line and column that crashkeep's line.ts must give, row for row.
import { join } from "node:path";
import { FIXTURES } from "./reference.ts";

export interface DumpRow {
  addr: bigint;
  line: number;
  column: number;
  stmt: boolean;
}

export interface DumpSequence {
  rows: DumpRow[];
  /** The end_sequence row's address: the first address past the sequence. */
  end: bigint;
}

const ROW = /^0x([0-9a-f]{16})\s+(\d+)\s+(\d+)\s+\d+\s+\d+\s+\d+(?:\s+\d+)?\s*(.*)$/;
const dumps = new Map<string, DumpSequence[]>();

/** Every sequence of every line table of the file, in program order (llvm-dwarfdump --debug-line). */
export function dumpSequences(file: string): DumpSequence[] {
  let seqs = dumps.get(file);
  if (seqs) return seqs;
  const r = Bun.spawnSync(["llvm-dwarfdump", "--debug-line", join(FIXTURES, file)]);
  if (r.exitCode !== 0) throw new Error(`Cannot dump the line tables of "${file}": llvm-dwarfdump failed: ${r.stderr.toString().trim()}`);
  seqs = [];
  let rows: DumpRow[] = [];
  for (const l of r.stdout.toString().split("\n")) {
    const m = ROW.exec(l);
    if (!m) continue;
    const flags = (m[4] ?? "").split(/\s+/);
    const row = { addr: BigInt("0x" + m[1]), line: Number(m[2]), column: Number(m[3]), stmt: flags.includes("is_stmt") };
    if (flags.includes("end_sequence")) {
      seqs.push({ rows, end: row.addr });
      rows = [];
    } else rows.push(row);
  }
  dumps.set(file, seqs);
  return seqs;
}

/**
 * The row gdb shows for pc (gdb 13 dwarf2/read.c, symtab.c find_pc_sect_line):
 * line-0 rows are dropped (the row before goes on covering their addresses);
 * the sequence holding pc (the latest-starting one when they overlap); in it,
 * the last row at or below pc; where several rows share that address, the last
 * of them that is a statement, if any is.
 */
export function gdbRow(seqs: readonly DumpSequence[], pc: bigint): DumpRow | undefined {
  let best: { start: bigint; rows: DumpRow[] } | undefined;
  for (const s of seqs) {
    const rows = s.rows.filter((r) => r.line !== 0);
    const start = rows[0]?.addr;
    if (start === undefined || pc < start || pc >= s.end) continue;
    if (!best || start >= best.start) best = { start, rows };
  }
  if (!best) return undefined;
  const below = best.rows.filter((r) => r.addr <= pc);
  const last = below.at(-1);
  if (!last) return undefined;
  const same = below.filter((r) => r.addr === last.addr);
  return same.filter((r) => r.stmt).at(-1) ?? last;
}

/** The row an addr2line-style reader takes for pc: the last row at or below it, statement or not. */
export function lastRow(seqs: readonly DumpSequence[], pc: bigint): DumpRow | undefined {
  let best: { start: bigint; rows: DumpRow[] } | undefined;
  for (const s of seqs) {
    const rows = s.rows.filter((r) => r.line !== 0);
    const start = rows[0]?.addr;
    if (start === undefined || pc < start || pc >= s.end) continue;
    if (!best || start >= best.start) best = { start, rows };
  }
  return best?.rows.filter((r) => r.addr <= pc).at(-1);
}

// Named mutants of the debug-info path (build/mutants/run.ts debuginfo): the
// DWARF line table (line.ts), the debug-file lookup (locate.ts), the debuginfod
// client (debuginfod.ts) and the symbolizer (symbolize.ts). Each is what a
// careless edit would do: a bound off by one, a check dropped, an order
// reversed, a rule applied to the wrong row. Scores: docs/TESTING.md, "Debug info".
import type { Mutant } from "./run.ts";

const UNIT = "test/unit/debuginfo";
const LINE = "src/debuginfo/line.ts";
const LOCATE = "src/debuginfo/locate.ts";
const FOD = "src/debuginfo/debuginfod.ts";
const SYM = "src/debuginfo/symbolize.ts";
/** The files that test each source file (a mutant run costs their time: the whole of test/unit/debuginfo is 4 s idle, ~50 s at this machine's usual load). */
const LINE_TESTS = [`${UNIT}/accuracy.test.ts`, `${UNIT}/hostile.test.ts`];
const SYM_TESTS = [`${UNIT}/symbolize.test.ts`, `${UNIT}/symbolize-gdb.test.ts`];
const FOD_TESTS = [`${UNIT}/debuginfod.test.ts`];
const LOCATE_TESTS = [`${UNIT}/locate.test.ts`, `${UNIT}/symbolize.test.ts`, "test/unit/collect/ingest.test.ts"];

export const mutants: Mutant[] = [
  // ---- line.ts: the line-number program and the row chosen for a pc
  { name: "line: sequence look-back cut to one", file: LINE, find: "s >= lo - MAX_SEQUENCE_LOOKBACK; s--", replace: "s >= lo - 1; s--", tests: LINE_TESTS, before: { find: "s >= lo - 8; s--", replace: "s >= lo - 1; s--" } },
  { name: "line: sequence look-back one short", file: LINE, find: "s >= lo - MAX_SEQUENCE_LOOKBACK; s--", replace: "s >= lo - MAX_SEQUENCE_LOOKBACK + 1; s--", tests: LINE_TESTS, before: { find: "s >= lo - 8; s--", replace: "s >= lo - 7; s--" } },
  { name: "line: sequence end inclusive", file: LINE, find: "if (pc >= (t.seqEnd[s] as bigint)) continue;", replace: "if (pc > (t.seqEnd[s] as bigint)) continue;", tests: LINE_TESTS },
  { name: "line: sequence search takes starts above pc", file: LINE, find: "if ((t.seqStart[mid] as bigint) <= pc) lo = mid + 1;", replace: "if ((t.seqStart[mid] as bigint) < pc) lo = mid + 1;", tests: LINE_TESTS },
  { name: "line: row search strict (a row at pc not taken)", file: LINE, find: "if ((t.addr[mid] as bigint) <= pc) a = mid + 1;", replace: "if ((t.addr[mid] as bigint) < pc) a = mid + 1;", tests: LINE_TESTS },
  { name: "line: statement walk-back cut to one row", file: LINE, find: "while (q > (t.seqFirst[s] as number) && t.addr[q - 1] === t.addr[r] && !t.stmt[q]) q--;", replace: "if (q > (t.seqFirst[s] as number) && t.addr[q - 1] === t.addr[r] && !t.stmt[q]) q--;", tests: LINE_TESTS },
  { name: "line: statement rule dropped", file: LINE, find: "if (t.stmt[q] && t.addr[q] === t.addr[r]) r = q;", replace: "", tests: LINE_TESTS },
  { name: "line: statement rule crosses addresses", file: LINE, find: "if (t.stmt[q] && t.addr[q] === t.addr[r]) r = q;", replace: "if (t.stmt[q]) r = q;", tests: LINE_TESTS, equivalent: "the walk-back moves q only onto rows at r's address, so addr[q] === addr[r] always holds: the second test is redundant (kept for the reader)" },
  { name: "line: column from the row before the statement rule", file: LINE, find: "column: t.column[r] as number };", replace: "column: t.column[a - 1] as number };", tests: LINE_TESTS },
  { name: "line: line from the row before the statement rule", file: LINE, find: "line: t.line[r] as number, column", replace: "line: t.line[a - 1] as number, column", tests: LINE_TESTS },
  { name: "line: line-0 rows kept", file: LINE, find: "    if (line === 0) return;\n", replace: "", tests: LINE_TESTS },
  { name: "line: end_sequence does not reset the registers", file: LINE, find: "            seqFirst = addr.length;\n            reset();", replace: "            seqFirst = addr.length;", tests: LINE_TESTS },
  { name: "line: sequence end is the last row's address", file: LINE, find: "seqs.push([addr[seqFirst] as bigint, address, seqFirst, addr.length]);", replace: "seqs.push([addr[seqFirst] as bigint, addr[addr.length - 1] as bigint, seqFirst, addr.length]);", tests: LINE_TESTS },
  { name: "line: special opcode line advance off by one", file: LINE, find: "line += lineBase + (adj % lineRange);", replace: "line += lineBase + (adj % lineRange) + 1;", tests: LINE_TESTS },
  { name: "line: special opcode ignores min_inst_length", file: LINE, find: "address = (address + BigInt(minInst * Math.floor(adj / lineRange))) & MASK;", replace: "address = (address + BigInt(Math.floor(adj / lineRange))) & MASK;", tests: LINE_TESTS },
  { name: "line: const_add_pc uses opcode 256", file: LINE, find: "Math.floor((255 - opcodeBase) / lineRange)", replace: "Math.floor((256 - opcodeBase) / lineRange)", tests: LINE_TESTS },
  { name: "line: negate_stmt ignored", file: LINE, find: "case 6: isStmt = !isStmt; break;", replace: "case 6: break;", tests: LINE_TESTS },
  { name: "line: set_column ignored", file: LINE, find: "          column = v;\n", replace: "", tests: LINE_TESTS },
  { name: "line: DWARF 5 file table through directory 0 always", file: LINE, find: "files.push(join(dirs[f.dir] ?? null, f.path));", replace: "files.push(join(dirs[0] ?? null, f.path));", tests: LINE_TESTS },
  { name: "line: relative directories not under comp_dir", file: LINE, find: "const abs = (dir: string | null): string | null => (dir !== null && !dir.startsWith(\"/\") && ctx.compDir ? join(ctx.compDir, dir) : dir);", replace: "const abs = (dir: string | null): string | null => dir;", tests: LINE_TESTS },
  { name: "line: DWARF 4 files count from 0", file: LINE, find: "    files.push(null);\n", replace: "", tests: LINE_TESTS },
  { name: "line: file-count limit not checked", file: LINE, find: "if (count > BigInt(MAX_LINE_FILES)) throw", replace: "if (count > BigInt(MAX_LINE_FILES) && false) throw", tests: LINE_TESTS },
  { name: "line: truncated program kept unwarned", file: LINE, find: "if (p0 + length > bytes.length) ctx.warn(", replace: "if (false) ctx.warn(", tests: LINE_TESTS },

  // ---- locate.ts: where a debug file is looked for, and what is refused
  { name: "locate: build-id check dropped", file: LOCATE, find: "if (buildId && elf.buildId !== buildId && !(options.noBuildIdOk && elf.buildId === undefined)) {", replace: "if (false) {", tests: LOCATE_TESTS },
  { name: "locate: a debuglink file without build-id refused", file: LOCATE, find: "!(options.noBuildIdOk && elf.buildId === undefined)", replace: "!(false && elf.buildId === undefined)", tests: LOCATE_TESTS },
  { name: "locate: any build-id passes on a debuglink", file: LOCATE, find: "!(options.noBuildIdOk && elf.buildId === undefined)", replace: "!options.noBuildIdOk", tests: LOCATE_TESTS },
  { name: "locate: debuglink CRC not compared", file: LOCATE, find: "if (crc !== link.crc) {", replace: "if (false) {", tests: LOCATE_TESTS },
  { name: "locate: the module itself not taken when it has DWARF", file: LOCATE, find: "      if (opened.hasDwarf) {", replace: "      if (false) {", tests: LOCATE_TESTS },
  { name: "locate: build-id path without the two-character directory", file: LOCATE, find: "join(root, \".build-id\", buildId.slice(0, 2), `${buildId.slice(2)}.debug`)", replace: "join(root, \".build-id\", `${buildId}.debug`)", tests: LOCATE_TESTS },
  { name: "locate: debug dirs after the sysroot's /usr/lib/debug", file: LOCATE, find: "return [...(options.debugDirs ?? []), join(options.sysroot || \"/\", \"usr/lib/debug\")];", replace: "return [join(options.sysroot || \"/\", \"usr/lib/debug\"), ...(options.debugDirs ?? [])];", tests: LOCATE_TESTS },
  { name: "locate: staging copy taken without DWARF", file: LOCATE, find: "      if (elf?.hasDwarf) {", replace: "      if (elf) {", tests: LOCATE_TESTS },
  { name: "locate: debuglink not looked for in .debug/", file: LOCATE, find: "join(dir, \".debug\", link.name), ", replace: "", tests: LOCATE_TESTS },
  { name: "locate: debuglink not looked for under the debug dirs", file: LOCATE, find: ", ...roots.map((r) => join(r, inSysroot, link.name))]", replace: "]", tests: LOCATE_TESTS },
  { name: "locate: module path not under the sysroot", file: LOCATE, find: "const modulePath = mod.path.startsWith(\"/\") ? join(sysroot, mod.path) : undefined;", replace: "const modulePath = mod.path.startsWith(\"/\") ? mod.path : undefined;", tests: LOCATE_TESTS },
  { name: "locate: a build-id that is not hex reaches the file system", file: LOCATE, find: "if (!/^[0-9a-f]{4,128}$/.test(buildId)) return undefined;", replace: "", tests: LOCATE_TESTS },
  { name: "locate: CRC size limit not checked", file: LOCATE, find: "if (src.size > MAX_DEBUGLINK_CRC_BYTES) return", replace: "if (false) return", tests: LOCATE_TESTS },
  { name: "locate: the refused file is not named", file: LOCATE, find: "problems.push(`Cannot use debug file \"${path}\": it has build-id ${elf.buildId ?? \"(none)\"}, the module has ${buildId}`);", replace: "", tests: LOCATE_TESTS },

  // ---- debuginfod.ts: what enters the cache
  { name: "debuginfod: build-id of the download not checked", file: FOD, find: "    if (refused !== undefined) throw new Error(refused);\n", replace: "", tests: FOD_TESTS },
  { name: "debuginfod: check after the rename", file: FOD, find: "    const refused = buildIdProblem(tmp, to.buildId);\n    if (refused !== undefined) throw new Error(refused);\n    renameSync(tmp, target);", replace: "    renameSync(tmp, target);\n    const refused = buildIdProblem(target, to.buildId);\n    if (refused !== undefined) throw new Error(refused);", tests: FOD_TESTS },
  { name: "debuginfod: cached file's build-id not checked", file: FOD, find: "statSync(target).size > 0 && buildIdProblem(target, buildId) === undefined", replace: "statSync(target).size > 0", tests: FOD_TESTS },
  { name: "debuginfod: empty cache file is a hit", file: FOD, find: "statSync(target).size > 0 && buildIdProblem", replace: "statSync(target).size >= 0 && buildIdProblem", tests: FOD_TESTS, equivalent: "an empty file has no build-id, so buildIdProblem refuses it as well: the size test only saves opening it" },
  { name: "debuginfod: streaming size limit dropped", file: FOD, find: "      if (total > cfg.maxBytes) {", replace: "      if (false) {", tests: FOD_TESTS },
  { name: "debuginfod: streaming size limit off by one", file: FOD, find: "      if (total > cfg.maxBytes) {", replace: "      if (total > cfg.maxBytes + 1) {", tests: FOD_TESTS },
  { name: "debuginfod: Content-Length limit dropped", file: FOD, find: "if (Number.isFinite(length) && length > cfg.maxBytes) {", replace: "if (false) {", tests: FOD_TESTS },
  { name: "debuginfod: partial file left on failure", file: FOD, find: "    if (existsSync(tmp)) rmSync(tmp, { force: true });", replace: "", tests: FOD_TESTS },
  { name: "debuginfod: written straight to the target", file: FOD, find: "fd = openSync(tmp, \"wx\", 0o644);", replace: "fd = openSync(target, \"w\", 0o644);", tests: FOD_TESTS },
  { name: "debuginfod: no timeout", file: FOD, find: "res = await fetch(url, { signal, redirect: \"follow\" });", replace: "res = await fetch(url, { redirect: \"follow\" });", tests: FOD_TESTS },
  { name: "debuginfod: empty body accepted", file: FOD, find: "    if (total === 0) throw new Error(\"the server sent an empty file\");\n", replace: "", tests: FOD_TESTS, equivalent: "an empty body has no ELF header: the build-id check refuses it too (with another message)" },
  { name: "debuginfod: 404 not told apart", file: FOD, find: "    if (r.status !== 404) allNotFound = false;", replace: "    allNotFound = false;", tests: FOD_TESTS },
  { name: "debuginfod: stops at the first server", file: FOD, find: "    problems.push(r.message);\n  }", replace: "    problems.push(r.message);\n    break;\n  }", tests: FOD_TESTS },
  { name: "debuginfod: build-id not validated", file: FOD, find: "if (!/^[0-9a-f]{2,128}$/.test(buildId)) return", replace: "if (false) return", tests: FOD_TESTS },
  { name: "debuginfod: timeout told as a plain error", file: FOD, find: "return fail(0, err instanceof Error && !isAbort(err) ? err.message : networkReason(err, cfg.timeoutMs));", replace: "return fail(0, err instanceof Error ? err.message : networkReason(err, cfg.timeoutMs));", tests: FOD_TESTS },

  // ---- symbolize.ts: which pc is looked up, what each frame gets
  { name: "symbolize: every frame at pc - 1", file: SYM, find: "const exact = i === 0 || f.method === \"context\" || trampoline[i] === true || trampoline[i - 1] === true;", replace: "const exact = false;", tests: SYM_TESTS, before: { find: "const exact = i === 0 || f.method === \"context\" || (prev !== undefined && SIGNAL_TRAMPOLINES.has(prev.symbol ?? \"\"));", replace: "const exact = false;" } },
  { name: "symbolize: frame 0 at pc - 1", file: SYM, find: "const exact = i === 0 || ", replace: "const exact = ", tests: SYM_TESTS, equivalent: "frame 0 of every report has method \"context\" (src/core/unwind.ts starts with it; the compact form's reader sets it for frame 0), which the next test makes exact already" },
  { name: "symbolize: context frames at pc - 1", file: SYM, find: "i === 0 || f.method === \"context\" || ", replace: "i === 0 || ", tests: SYM_TESTS },
  { name: "symbolize: frame after a signal frame at pc - 1", file: SYM, find: " || trampoline[i - 1] === true;", replace: ";", tests: SYM_TESTS, before: { find: " || (prev !== undefined && SIGNAL_TRAMPOLINES.has(prev.symbol ?? \"\"));", replace: ";" } },
  { name: "symbolize: the signal frame itself at pc - 1", file: SYM, find: " || trampoline[i] === true || ", replace: " || ", tests: SYM_TESTS },
  { name: "symbolize: trampoline known only by the device's name", file: SYM, find: "  if (!r?.symtab || f.moduleOffset === null", replace: "  if (true || !r?.symtab || f.moduleOffset === null", tests: SYM_TESTS },
  { name: "symbolize: trampoline by name anywhere in it", file: SYM, find: "return hit !== undefined && hit.offset === 0n && SIGNAL_TRAMPOLINES.has(hit.name);", replace: "return hit !== undefined && SIGNAL_TRAMPOLINES.has(hit.name);", tests: SYM_TESTS, equivalent: "the kernel returns from a handler to the trampoline's first instruction; a frame elsewhere in it is a failed rt_sigreturn, whose caller's registers are garbage either way" },
  { name: "symbolize: symbol offset without the 1 added back", file: SYM, find: "base.symbolOffset = Number(hit.offset) + (lookup === offset ? 0 : 1);", replace: "base.symbolOffset = Number(hit.offset);", tests: SYM_TESTS },
  { name: "symbolize: inlined frames after the concrete one", file: SYM, find: "    const concrete = source[source.length - 1];", replace: "    source.reverse();\n    const concrete = source[source.length - 1];", tests: SYM_TESTS },
  { name: "symbolize: inlined-frame limit dropped", file: SYM, find: "source.slice(0, -1).slice(0, MAX_INLINED_PER_FRAME)", replace: "source.slice(0, -1)", tests: SYM_TESTS },
  { name: "symbolize: derived inlined frames kept on re-symbolize", file: SYM, find: "const physical = t.frames.filter((f) => f.inlined !== true);", replace: "const physical = t.frames;", tests: SYM_TESTS },
  { name: "symbolize: offset 0 looked up at -1", file: SYM, find: "const lookup = exact || offset === 0n ? offset : offset - 1n;", replace: "const lookup = exact ? offset : offset - 1n;", tests: SYM_TESTS, equivalent: "a return address at module offset 0 is the ELF header: no real frame has one" },
  { name: "symbolize: build-id mismatch not the module's problem", file: SYM, find: "const mismatch = located.problems.find((p) => p.includes(\"has build-id\"));", replace: "const mismatch = undefined;", tests: LOCATE_TESTS },
  { name: "symbolize: debuginfod file not checked", file: SYM, find: "        const elf = openChecked(got.path, mod.buildId, located.problems);\n        if (elf) located.debug", replace: "        const elf = openChecked(got.path, null, located.problems);\n        if (elf) located.debug", tests: SYM_TESTS, equivalent: "debuginfod.ts now refuses a download or a cached file with another build-id before returning its path: this second check cannot differ (kept as defence in depth)" },
  { name: "symbolize: no-debug-info warning dropped", file: SYM, find: "    warnings.push(`Cannot find debug info for module", replace: "    void (`Cannot find debug info for module", tests: SYM_TESTS },
];

// A curated mutation run (docs/TESTING.md): each named mutant of a list (one
// small change to one source file, what a careless edit would do) is applied to
// a copy of the checkout, and the test files that should notice are run there;
// a mutant the tests pass with "survives". StrykerJS measured too slow for this
// machine's 2 shared cores (docs/TESTING.md, "Debug info"), so the mutants are
// chosen by hand and named, and a run costs minutes.
//
//   node_modules/.bin/bun build/mutants/run.ts debuginfo [--tests-from REV] [--source-from REV] [--only NAME,...]
//
// LIST: build/mutants/<LIST>.ts (its `mutants` array). --tests-from REV: the
// copy's test/ is taken from git revision REV (the score before new tests);
// --source-from REV: its src/ too (the code those tests were written for; a
// mutant whose text that code lacks, and has no `before` form, is "n/a").
// The copy is the checkout's tracked files (git ls-files, with uncommitted
// changes) in a temporary directory, node_modules linked; the checkout itself is
// never written. Results: a table on stdout, out/mutants/<LIST>[-REV].json.
// Exit 1 when a mutant that is not marked equivalent survives, 2 on bad usage
// or when the unmutated copy fails its own tests.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface Mutant {
  /** Unique within its list: what the change breaks, in a few words. */
  name: string;
  /** Path from the repository root. */
  file: string;
  /** Exact text to replace: must occur exactly once in the file. */
  find: string;
  replace: string;
  /** Test files (from the repository root) that should notice. */
  tests: string[];
  /** Why no test can tell this mutant from the original (reviewed by hand); it then counts as neither killed nor survived. */
  equivalent?: string;
  /** The same change written against older code (--source-from), where the text differs. */
  before?: { find: string; replace: string };
}

/** One mutant's test run at most: a mutant that makes a loop endless is killed by this (bun's own timeouts cannot stop synchronous code). */
const RUN_TIMEOUT_MS = 180_000;

const root = join(import.meta.dir, "../..");
const bun = join(root, "node_modules/.bin/bun");

function usage(msg: string): never {
  console.error(`build/mutants/run.ts: ${msg}\nusage: bun build/mutants/run.ts LIST [--tests-from REV] [--only NAME,...]`);
  process.exit(2);
}

const args = process.argv.slice(2);
const list = args[0];
if (!list || list.startsWith("-")) usage("no list named");
let testsFrom: string | undefined;
let sourceFrom: string | undefined;
let only: string[] | undefined;
for (let i = 1; i < args.length; i++) {
  if (args[i] === "--tests-from") testsFrom = args[++i] ?? usage("--tests-from needs a revision");
  else if (args[i] === "--source-from") sourceFrom = args[++i] ?? usage("--source-from needs a revision");
  else if (args[i] === "--only") only = (args[++i] ?? usage("--only needs names")).split(",");
  else usage(`unknown argument "${args[i]}"`);
}

const { mutants } = (await import(join(import.meta.dir, `${list}.ts`))) as { mutants: Mutant[] };
const chosen = only ? mutants.filter((m) => only.includes(m.name)) : mutants;
if (chosen.length === 0) usage("no mutant selected");
const names = new Set<string>();
for (const m of mutants) {
  if (names.has(m.name)) usage(`mutant "${m.name}" named twice`);
  names.add(m.name);
}

function sh(cmd: string[], cwd: string): string {
  const r = Bun.spawnSync(cmd, { cwd, stdout: "pipe", stderr: "pipe" });
  if (r.exitCode !== 0) throw new Error(`Cannot run "${cmd.join(" ")}": ${r.stderr.toString().trim()}`);
  return r.stdout.toString();
}

// the copy: tracked files as they are in the work tree (uncommitted edits included)
const copy = mkdtempSync(join(tmpdir(), "crashkeep-mutants-"));
try {
  const files = sh(["git", "ls-files", "-z", "--cached"], root).split("\0").filter((f) => f !== "");
  const tar = Bun.spawnSync(["tar", "--null", "--ignore-failed-read", "-T", "-", "-cf", "-"], { cwd: root, stdin: Buffer.from(files.join("\0")), stdout: "pipe", stderr: "pipe" });
  Bun.spawnSync(["tar", "-xf", "-"], { cwd: copy, stdin: tar.stdout });
  symlinkSync(join(root, "node_modules"), join(copy, "node_modules"));
  // the tests' temporary files (unpacked fixtures) inside the copy: gone with it
  mkdirSync(join(copy, ".tmp"));
  // out/: the compiled binary and caches some tests read; linked, never written by unit tests
  mkdirSync(join(copy, "out"), { recursive: true });
  for (const [dir, rev] of [["test", testsFrom], ["src", sourceFrom]] as const) {
    if (!rev) continue;
    rmSync(join(copy, dir), { recursive: true, force: true });
    const archive = Bun.spawnSync(["git", "archive", rev, dir], { cwd: root, stdout: "pipe", stderr: "pipe" });
    if (archive.exitCode !== 0) usage(`cannot read ${dir}/ at "${rev}": ${archive.stderr.toString().trim()}`);
    Bun.spawnSync(["tar", "-xf", "-"], { cwd: copy, stdin: archive.stdout });
  }

  const runTests = async (tests: string[]): Promise<{ killed: boolean; how: string; ms: number }> => {
    const present = tests.filter((t) => Bun.file(join(copy, t)).size > 0);
    if (present.length === 0) return { killed: false, how: "no test file", ms: 0 };
    const t0 = performance.now();
    const p = Bun.spawn(["nice", "-n", "10", bun, "test", "--bail", "--timeout", "120000", ...present], { cwd: copy, stdout: "ignore", stderr: "pipe", env: { ...process.env, CI: "", TMPDIR: join(copy, ".tmp") } });
    const timer = setTimeout(() => p.kill("SIGKILL"), RUN_TIMEOUT_MS);
    const err = await new Response(p.stderr).text();
    await p.exited;
    clearTimeout(timer);
    const ms = performance.now() - t0;
    if (p.signalCode === "SIGKILL") return { killed: true, how: "timeout", ms };
    const failed = [...err.matchAll(/^\(fail\) (.*)$/gm)].map((m) => m[1]);
    return { killed: p.exitCode !== 0, how: p.exitCode !== 0 ? (failed[0] ?? `exit ${p.exitCode}`) : "", ms };
  };

  // the unmutated copy must pass every test file used (else every mutant would look killed)
  const allTests = [...new Set(chosen.flatMap((m) => m.tests))];
  const base = await runTests(allTests);
  if (base.killed) {
    console.error(`build/mutants/run.ts: the unmutated copy fails: ${base.how}`);
    process.exit(2);
  }

  interface Result { name: string; file: string; status: "killed" | "survived" | "equivalent" | "n/a"; by: string; ms: number }
  const results: Result[] = [];
  const once = (text: string, find: string): number => {
    const at = text.indexOf(find);
    return at >= 0 && text.indexOf(find, at + 1) < 0 ? at : -1;
  };
  for (const m of chosen) {
    const path = join(copy, m.file);
    const original = readFileSync(path, "utf8");
    let change = { find: m.find, replace: m.replace };
    let at = once(original, m.find);
    if (at < 0 && sourceFrom && m.before) {
      change = m.before;
      at = once(original, m.before.find);
    }
    if (at < 0) {
      if (!sourceFrom) usage(`mutant "${m.name}": its text is not in ${m.file} exactly once (the list is stale)`);
      results.push({ name: m.name, file: m.file, status: "n/a", by: `not in ${m.file} at ${sourceFrom}`, ms: 0 });
      console.error(`n/a        ${m.file} ${m.name}`);
      continue;
    }
    writeFileSync(path, original.slice(0, at) + change.replace + original.slice(at + change.find.length));
    try {
      const r = await runTests(m.tests);
      // equivalence was judged against today's code: with older code (--source-from) a survivor is a survivor
      const status = r.killed ? "killed" : m.equivalent && !sourceFrom ? "equivalent" : "survived";
      results.push({ name: m.name, file: m.file, status, by: r.killed ? r.how : (m.equivalent ?? ""), ms: Math.round(r.ms) });
      console.error(`${status.padEnd(10)} ${m.file} ${m.name} (${(r.ms / 1000).toFixed(1)} s)${r.killed ? `: ${r.how}` : ""}`);
    } finally {
      writeFileSync(path, original);
    }
  }

  const byFile = new Map<string, Result[]>();
  for (const r of results) byFile.set(r.file, [...(byFile.get(r.file) ?? []), r]);
  console.log(`mutants of ${list}${testsFrom ? ` with test/ of ${testsFrom}` : ""}${sourceFrom ? ` and src/ of ${sourceFrom}` : ""}:`);
  console.log("| file | mutants | killed | survived | equivalent | n/a | score |\n|---|---|---|---|---|---|---|");
  for (const [file, rs] of byFile) {
    const k = rs.filter((r) => r.status === "killed").length;
    const s = rs.filter((r) => r.status === "survived").length;
    const e = rs.filter((r) => r.status === "equivalent").length;
    const na = rs.filter((r) => r.status === "n/a").length;
    console.log(`| ${file} | ${rs.length} | ${k} | ${s} | ${e} | ${na} | ${k + s === 0 ? "-" : `${Math.round((100 * k) / (k + s))} %`} |`);
  }
  for (const r of results.filter((x) => x.status === "survived" || x.status === "equivalent")) console.log(`${r.status}: ${r.file} ${r.name}${r.by ? ` (${r.by})` : ""}`);
  const outDir = join(root, "out/mutants");
  mkdirSync(outDir, { recursive: true });
  const tag = [testsFrom, sourceFrom].filter(Boolean).map((r) => `-${(r as string).replace(/[^A-Za-z0-9]/g, "_")}`).join("");
  writeFileSync(join(outDir, `${list}${tag}.json`), JSON.stringify({ list, testsFrom: testsFrom ?? null, sourceFrom: sourceFrom ?? null, results }, null, 2) + "\n");
  process.exitCode = results.some((r) => r.status === "survived") ? 1 : 0;
} finally {
  rmSync(copy, { recursive: true, force: true });
}

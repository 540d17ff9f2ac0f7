// The collector groups C++ crashes by demangled names (issue 21): a report of
// a crashkeep with the demangler, the same crash from a device without it
// (mangled names in `function`) and the journal's compact form fall in one
// group whose signature reads as C++; --resymbolize with the debug file keeps
// them together. The core: test/fixtures/demangle (shapes).
import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ingest, resymbolize } from "../../../src/collect/ingest.ts";
import { signatureOf } from "../../../src/collect/signature.ts";
import { openStore, type Store } from "../../../src/collect/store.ts";
import { groupDetail, listGroups } from "../../../src/collect/views.ts";
import { buildReport, type Report } from "../../../src/core/report.ts";
import { readCoreFile } from "../../../src/core/source.ts";
import { demangleCores } from "../demangle/fixtures.ts";
import { crashMessage, daysAgo, device } from "./fleet.ts";

const fx = demangleCores();
const options = { topicPrefix: "crashkeep/v1", symbolize: { debugDirs: [], debuginfod: undefined } };
let dir: string;
let store: Store;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "ck-collect-demangle-"));
  store = await openStore(`sqlite://${dir}/collect.db`);
});
afterAll(async () => {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

const report = (): Report => buildReport(readCoreFile(fx.cores.shapes!), { sysroot: fx.sysroot });

/** The report as a crashkeep without the demangler made it: `function` is the symbol, no `mangled`. */
function olderDevice(r: Report): Report {
  return { ...r, threads: r.threads.map((t) => ({ ...t, frames: t.frames.map(({ mangled: _m, ...f }) => ({ ...f, function: f.symbol })) })) };
}

test("the signature reads as C++, and is the same for a report whose names are still mangled", () => {
  const sig = signatureOf(report());
  expect(sig.text).toStartWith("shapes: geo::measure(double) < geo::Shape<int>::operator<(geo::Shape<int> const&) const [clone .isra.0] < void std::__insertion_sort<");
  expect(sig.text).toContain(" < geo::run(int) < main");
  const old = olderDevice(report());
  expect(old.threads[0]?.frames[0]?.function).toBe("_ZN3geo7measureEd");
  expect(signatureOf(old)).toEqual(sig);
});

test("new, older and compact reports of the crash fall in one group; --resymbolize with the debug file keeps them there, named", async () => {
  const dev = device("dev-cxx", "2.0.0");
  const outs = [
    await ingest(store, ...args(crashMessage(dev, report(), { time: daysAgo(0, 3) }))),
    await ingest(store, ...args(crashMessage(dev, olderDevice(report()), { time: daysAgo(0, 2) }))),
    await ingest(store, ...args(crashMessage(dev, report(), { time: daysAgo(0, 1), compact: true }))),
  ];
  const groups = new Set(outs.map((o) => (o.status === "stored" ? o.group : o.status)));
  expect(groups.size).toBe(1);
  const [group] = [...groups];
  expect((await listGroups(store)).find((g) => g.id === group)?.count).toBe(3);

  const moved = await resymbolize(store, { debugDirs: [fx.debugDir], debuginfod: undefined });
  expect(moved.crashes).toBe(3);
  const after = await listGroups(store);
  expect(after).toHaveLength(1);
  expect(after[0]?.count).toBe(3);
  // from the debug file: inlined frames, file:line, the linkage names demangled
  const detail = await groupDetail(store, after[0]?.id ?? "");
  for (const r of detail?.reports ?? []) {
    const frames = r.report.threads[0]?.frames ?? [];
    expect(frames[0]).toMatchObject({ function: "geo::measure(double)", mangled: "_ZN3geo7measureEd", line: 11 });
    expect(frames.some((f) => f.inlined && f.function === "operator()")).toBe(true);
  }
});

function args(m: { topic: string; bytes: Uint8Array }): [string, Uint8Array, typeof options] {
  return [m.topic, m.bytes, options];
}

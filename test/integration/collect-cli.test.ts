// `crashkeep collect` as a user runs it: the compiled binary's usage errors,
// config problems, database errors, and --resymbolize on a database.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ingest } from "../../src/collect/ingest.ts";
import { openStore } from "../../src/collect/store.ts";
import { listGroups } from "../../src/collect/views.ts";
import { crashMessage, daysAgo, device, fixtureReport, strippedDebugDir, strippedReport, STRIPPED_SIGNATURE, SYMBOLIZED_SIGNATURE } from "../unit/collect/fleet.ts";
import { BINARY } from "./servers.ts";

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "ck-collect-cli-"));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function run(args: string[]): { code: number; out: string; err: string } {
  const p = Bun.spawnSync([BINARY, "collect", ...args], { stdout: "pipe", stderr: "pipe", cwd: dir });
  return { code: p.exitCode ?? -1, out: p.stdout.toString(), err: p.stderr.toString() };
}

test("--help, and the command listed", () => {
  const r = run(["--help"]);
  expect(r.code).toBe(0);
  expect(r.out).toContain("crashkeep collect --broker URL...");
  expect(Bun.spawnSync([BINARY, "--help"]).stdout.toString()).toMatch(/\n {2}collect +fleet side/);
});

test.each([
  [["--db", "sqlite:///x.db"], 2, /Missing --broker URL/],
  [["--broker", "mqtt://127.0.0.1:1", "--listen", "nohost"], 2, /Cannot listen on "nohost"/],
  [["--broker", "mqtt://127.0.0.1:1", "--group", "a/b"], 2, /Cannot use group "a\/b"/],
  [["--broker", "mqtt://127.0.0.1:1", "--host-name", "evil/name"], 2, /Cannot use host name "evil\/name"/],
  [["--broker", "mqtt://127.0.0.1:1", "--bogus"], 2, /Unknown option "--bogus"/],
  [["--broker", "mqtt://127.0.0.1:1", "--db", "mysql://x"], 1, /^Cannot open database "mysql:\/\/x": use sqlite/],
  [["--broker", "mqtt://127.0.0.1:1", "--db", "postgres://u:secret@127.0.0.1:1/db"], 1, /^Cannot open database "postgres:\/\/u:\*\*\*@127\.0\.0\.1:1\/db"/],
])("collect %j exits %d", (args, code, message) => {
  const r = run(args);
  expect(r.code).toBe(code);
  expect(r.err).toMatch(message);
  expect(r.err).not.toContain("secret");
});

test("a bad collector config names every problem with its key", () => {
  const cfg = join(dir, "collect.json");
  writeFileSync(cfg, JSON.stringify({ collect: { brokers: ["http://x"], listen: 8080, colour: "red" } }));
  const r = run(["--config", cfg]);
  expect(r.code).toBe(1);
  expect(r.err).toContain(`Cannot load config "${cfg}": collect.brokers.0: must be an mqtt:// or mqtts:// URL`);
  expect(r.err).toContain(`collect.listen: must be string, got 8080`);
  expect(r.err).toContain(`collect.colour: unknown key`);
});

test("a token file too short is refused", () => {
  writeFileSync(join(dir, "token"), "short\n");
  const r = run(["--broker", "mqtt://127.0.0.1:1", "--db", `sqlite://${dir}/t.db`, "--token", join(dir, "token")]);
  expect(r.code).toBe(1);
  expect(r.err.trim()).toBe(`Cannot use token "${join(dir, "token")}": shorter than 16 characters`);
});

test("--resymbolize with the debug files moves reports of a stripped program to their right group", async () => {
  const db = `sqlite://${dir}/r.db`;
  const store = await openStore(db);
  const opts = { topicPrefix: "crashkeep/v1", symbolize: { debugDirs: [], debuginfod: undefined } };
  for (const i of [0, 1]) {
    const m = crashMessage(device(`r-${i}`, "1"), strippedReport(), { time: daysAgo(0, i) });
    expect((await ingest(store, m.topic, m.bytes, opts)).status).toBe("stored");
  }
  const m = crashMessage(device("r-2", "1"), fixtureReport("fpe"), { time: daysAgo(0, 3) });
  expect((await ingest(store, m.topic, m.bytes, opts)).status).toBe("stored");
  expect((await listGroups(store)).map((g) => [g.signature, g.count])).toEqual([
    [STRIPPED_SIGNATURE, 2],
    ["fpe: divide < average < main < _start", 1],
  ]);
  await store.close();
  const r = run(["--resymbolize", "--db", db, "--debug-dir", strippedDebugDir()]);
  expect(r.err).toBe("");
  expect(r.code).toBe(0);
  expect(r.out.trim()).toBe("re-symbolized 3 crash reports; 2 moved to another group");
  const after = await openStore(db);
  expect((await listGroups(after)).map((g) => [g.signature, g.count])).toEqual([
    [SYMBOLIZED_SIGNATURE, 2],
    ["fpe: divide < average < main < _start", 1],
  ]);
  await after.close();
});

test("a --debuginfod that is not a URL is bad usage", () => {
  const r = run(["--broker", "mqtt://127.0.0.1:1", "--debuginfod", "not a url"]);
  expect(r.code).toBe(2);
  expect(r.err).toContain(`Cannot use debuginfod server "not a url": not a URL`);
});

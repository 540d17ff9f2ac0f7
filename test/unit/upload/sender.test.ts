// The daemon's sender schedules a flush upload.delaySeconds (+ up to 50 %
// jitter) after something is queued: read from its due time, computed when
// poke() is called, so nothing here waits or times anything.
import { afterAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseConfig } from "../../../src/config/load.ts";
import { makePaths } from "../../../src/system/paths.ts";
import { enqueue, outboxDir } from "../../../src/upload/outbox.ts";
import { notePayload } from "../../../src/upload/payload.ts";
import { Sender } from "../../../src/upload/sender.ts";

const roots: string[] = [];
afterAll(() => {
  for (const d of roots) rmSync(d, { recursive: true, force: true });
});

function sender(delaySeconds: number, queued: number): Sender {
  const root = mkdtempSync(join(tmpdir(), "crashkeep-sender-"));
  roots.push(root);
  // a broker nobody answers on: no flush ever starts, the timer is stopped first
  const config = parseConfig({ upload: { broker: "mqtt://127.0.0.1:1", deviceId: "dev1", delaySeconds } });
  const paths = makePaths(root);
  const dir = outboxDir(paths.sys(config.archive.dir));
  const device = { id: "dev1", firmware: null, hardware: null, kernel: null, arch: "x86_64", crashkeepVersion: "0.1.0" };
  for (let n = 0; n < queued; n++) enqueue(dir, notePayload({ text: `n${n}`, time: new Date(), localId: `n${n}` }, { device, maxMessageBytes: 8192 }), { ...config.upload.outbox, minFreeBytes: 0 });
  return new Sender(config, paths, { log: () => {} });
}

test("something queued: poke() schedules one flush delaySeconds to 1.5 × delaySeconds ahead; a second poke keeps it", async () => {
  const s = sender(600, 1);
  expect(s.dueMs).toBeUndefined();
  const before = Date.now();
  s.poke();
  const after = Date.now();
  const due = s.dueMs as number;
  expect(due).toBeGreaterThanOrEqual(before + 600_000);
  expect(due).toBeLessThanOrEqual(after + 900_000);
  s.poke();
  expect(s.dueMs).toBe(due);
  await s.stop();
});

test("nothing queued: poke() schedules nothing; after stop() neither", async () => {
  const s = sender(1, 0);
  s.poke();
  expect(s.dueMs).toBeUndefined();
  const t = sender(1, 1);
  await t.stop();
  t.poke();
  expect(t.dueMs).toBeUndefined();
});

import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readFileSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { acquireLock } from "../../../src/journal/lock.ts";

const dir = mkdtempSync(join(tmpdir(), "crashkeep-lock-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("lock file", () => {
  test("is created with our pid and removed on release", () => {
    const path = join(dir, "sub", "a.lock");
    const lock = acquireLock(path);
    expect(readFileSync(path, "utf8").split(" ")[0]).toBe(String(process.pid));
    lock.release();
    expect(existsSync(path)).toBe(false);
  });

  test("a lock held by a live process times out with a clear message", () => {
    const path = join(dir, "b.lock");
    const held = acquireLock(path);
    expect(() => acquireLock(path, { timeoutMs: 50 })).toThrow(`Cannot lock journal "${path}": held by pid ${process.pid} for over 50 ms`);
    held.release();
  });

  test("a lock whose owner died is broken", async () => {
    const path = join(dir, "c.lock");
    const child = Bun.spawn(["true"]);
    await child.exited;
    writeFileSync(path, `${child.pid} 12345 deadbeef\n`);
    const lock = acquireLock(path, { timeoutMs: 1000 });
    expect(readFileSync(path, "utf8").split(" ")[0]).toBe(String(process.pid));
    lock.release();
  });

  test("a lock whose pid was reused (other start time) is broken", () => {
    const path = join(dir, "d.lock");
    writeFileSync(path, `${process.pid} 1 cafe\n`);
    const lock = acquireLock(path, { timeoutMs: 1000 });
    lock.release();
  });

  test("an empty lock file is stale only once it is old", () => {
    const path = join(dir, "e.lock");
    writeFileSync(path, "");
    expect(() => acquireLock(path, { timeoutMs: 30 })).toThrow(/held by pid unknown/);
    const old = (Date.now() - 60_000) / 1000;
    utimesSync(path, old, old);
    acquireLock(path, { timeoutMs: 1000 }).release();
  });

  test("release does not remove a lock someone else now holds", () => {
    const path = join(dir, "f.lock");
    const lock = acquireLock(path);
    writeFileSync(path, "1 0 other\n");
    lock.release();
    expect(existsSync(path)).toBe(true);
  });
});

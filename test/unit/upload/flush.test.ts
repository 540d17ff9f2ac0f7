// flushOutbox's orderings, with a client double in place of MQTT.js (FlushOptions.connect):
// each publish waits for the test to acknowledge it, drop the connection, or
// refuse, so "forget only after the PUBACK" is checked at the moment between
// the publish and its PUBACK, with no broker and no timing.
import { afterAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseConfig } from "../../../src/config/load.ts";
import { makePaths } from "../../../src/system/paths.ts";
import { BrokerError, type Connection } from "../../../src/upload/client.ts";
import { flushOutbox, type FlushOptions } from "../../../src/upload/flush.ts";
import { enqueue, listOutbox, outboxDir, readDropped, readUploadState } from "../../../src/upload/outbox.ts";
import { notePayload } from "../../../src/upload/payload.ts";

/** Each test here is over in milliseconds (or its own timeout says why not); a broken order that leaves a publish held forever fails in seconds, whatever --timeout the runner gives (build/mutants/run.ts gives 120 s). */
setDefaultTimeout(10_000);

const roots: string[] = [];
afterAll(() => {
  for (const d of roots) rmSync(d, { recursive: true, force: true });
});

const DEVICE = { id: "dev1", firmware: null, hardware: null, kernel: null, arch: "x86_64", crashkeepVersion: "0.1.0" };

/** One publish the double holds until the test (or its script) answers it. */
interface Pending {
  broker: string;
  topic: string;
  id: string;
  kind: string;
  /** The PUBACK: the publish resolves. */
  ack(): void;
}

/** What the double does with a publish: "ack" at once, "hold" it for the test, "drop" the connection before its PUBACK, "refuse" (a refusal on the open connection). */
type Answer = "ack" | "hold" | "drop" | "refuse";

class BrokerDouble {
  /** Every publish seen, in order: "<broker> <id>". */
  readonly published: string[] = [];
  /** Ids acknowledged (PUBACK sent), in order. */
  readonly acked: string[] = [];
  readonly connects: string[] = [];
  /** "<broker> <client id>" of each connection opened. */
  readonly clientIds: string[] = [];
  /** "<topic> <id>" of each publish. */
  readonly topics: string[] = [];
  /** The note texts published, in order. */
  readonly texts: string[] = [];
  /** Brokers whose connect throws a plain Error (not a BrokerError). */
  readonly broken = new Set<string>();
  readonly held: Pending[] = [];
  /** Brokers that refuse the connection (CONNACK 4/5) and ones that are down. */
  readonly refuse = new Set<string>();
  readonly down = new Set<string>();
  /** Called on each publish; the default acknowledges. */
  answer: (p: Omit<Pending, "ack">, n: number) => Answer = () => "ack";
  private waiters: Array<() => void> = [];

  connect: NonNullable<FlushOptions["connect"]> = async (broker, o) => {
    this.connects.push(broker);
    this.clientIds.push(`${broker} ${o.clientId}`);
    if (this.broken.has(broker)) throw new Error("socket hang up");
    if (this.refuse.has(broker)) throw new BrokerError(`Cannot connect to "${broker}": Connection refused: Not authorized`, true);
    if (this.down.has(broker)) throw new BrokerError(`Cannot connect to "${broker}": connect ECONNREFUSED (ECONNREFUSED)`, false);
    let lost: (err: Error) => void = () => {};
    const closed = new Promise<never>((_, reject) => {
      lost = reject;
    });
    closed.catch(() => {});
    let open = true;
    const pendingRejects = new Set<(err: Error) => void>();
    const drop = (err: BrokerError) => {
      open = false;
      lost(err);
      // MQTT.js fails what is in flight when the client is ended after a loss.
      for (const r of pendingRejects) r(err);
    };
    const conn: Connection = {
      broker,
      closed,
      publish: (topic, payload) =>
        new Promise<void>((resolve, reject) => {
          if (!open) return reject(new BrokerError(`Cannot publish to "${broker}": client disconnecting`, false));
          const body = JSON.parse(new TextDecoder().decode(payload)) as { id: string; kind: string; note?: { text: string } };
          this.published.push(`${broker} ${body.id}`);
          this.topics.push(`${topic} ${body.id}`);
          if (body.note) this.texts.push(body.note.text);
          const info = { broker, topic, id: body.id, kind: body.kind };
          pendingRejects.add(reject);
          const ack = () => {
            if (!open) return;
            pendingRejects.delete(reject);
            this.acked.push(body.id);
            resolve();
          };
          const a = this.answer(info, this.published.length);
          // a PUBACK comes in from the socket: a macrotask (and a flush that never ends still lets the test time out)
          if (a === "ack") setImmediate(ack);
          else if (a === "hold") this.held.push({ ...info, ack });
          else if (a === "drop") queueMicrotask(() => drop(new BrokerError(`Lost "${broker}": connection closed`, false)));
          else queueMicrotask(() => drop(new BrokerError(`Lost "${broker}": Connection refused: Not authorized`, true)));
          for (const w of this.waiters.splice(0)) w();
        }),
      end: async () => {
        open = false;
        for (const r of pendingRejects) r(new BrokerError(`Cannot publish to "${broker}": client disconnecting`, false));
      },
    };
    return conn;
  };

  /** Resolves when a publish has been seen that matches. */
  async until(match: (published: string[]) => boolean): Promise<void> {
    while (!match(this.published)) await new Promise<void>((r) => this.waiters.push(r));
  }
}

interface Setup {
  config: ReturnType<typeof parseConfig>;
  paths: ReturnType<typeof makePaths>;
  dir: string;
  ids: string[];
}

/** An outbox with COUNT notes queued (ids dev1/note/n-1...), under a fresh root; `maxEntries` below COUNT drops the oldest. */
function setup(count: number, o: { inFlight?: number; brokers?: string[]; maxEntries?: number } = {}): Setup {
  const root = mkdtempSync(join(tmpdir(), "crashkeep-flush-"));
  roots.push(root);
  const config = parseConfig({ upload: { broker: o.brokers ?? ["mqtt://a", "mqtt://b"], deviceId: "dev1", inFlight: o.inFlight ?? 1 } });
  const paths = makePaths(root);
  const dir = outboxDir(paths.sys(config.archive.dir));
  const ids: string[] = [];
  const limits = { ...config.upload.outbox, maxEntries: o.maxEntries ?? config.upload.outbox.maxEntries, minFreeBytes: 0 };
  for (let n = 1; n <= count; n++) {
    const p = notePayload({ text: `note ${n}`, time: new Date(1_700_000_000_000 + n * 1000), localId: `n-${n}` }, { device: DEVICE, maxMessageBytes: 8192 });
    enqueue(dir, p, { ...limits, nowMs: Date.now() - (count - n) * 1000 });
    ids.push(p.id);
  }
  return { config, paths, dir, ids };
}

/** Ids still queued, oldest first. */
function queued(s: Setup): string[] {
  return listOutbox(s.dir).map((e) => s.ids.find((id) => e.name.endsWith(`-${Bun.hash.wyhash(id).toString(16).padStart(16, "0").slice(-16)}.json`)) ?? e.name);
}

const count = (xs: string[], x: string) => xs.filter((y) => y === x).length;
const isDroppedNote = (id: string) => id.startsWith("dev1/note/dropped-");

describe("flushOutbox: forget only after the PUBACK", () => {
  test("an entry stays in the outbox while its PUBACK is outstanding and is deleted on it", async () => {
    const s = setup(2);
    const broker = new BrokerDouble();
    broker.answer = () => "hold";
    const flush = flushOutbox(s.config, s.paths, { connect: broker.connect });
    await broker.until((p) => p.length === 1);
    // published, not acknowledged: still queued (a delete before the PUBACK loses it if the link drops now)
    expect(queued(s)).toEqual(s.ids);
    broker.held.shift()?.ack();
    await broker.until((p) => p.length === 2);
    expect(queued(s)).toEqual([s.ids[1] as string]);
    broker.held.shift()?.ack();
    const r = await flush;
    expect(r).toMatchObject({ sent: 2, remaining: 0, error: undefined, refused: false, broker: "mqtt://a" });
    expect(queued(s)).toEqual([]);
    // client id = device id; topic <prefix>/<device id>/<kind>
    expect(broker.clientIds).toEqual(["mqtt://a dev1"]);
    expect(broker.topics).toEqual(s.ids.map((id) => `crashkeep/v1/dev1/note ${id}`));
    // status: the success, no error
    expect(readUploadState(s.dir)).toMatchObject({ lastError: null, lastErrorAt: null, broker: "mqtt://a" });
    expect(readUploadState(s.dir).lastSuccess).toMatch(/^\d{4}-\d\d-\d\dT/);
  });

  test("the dropped-by-quota note goes first, and dropped.json is forgotten only after its PUBACK", async () => {
    const s = setup(4, { maxEntries: 2 }); // notes 1 and 2 dropped by the quota
    expect(readDropped(s.dir)).toMatchObject({ note: 2 });
    const broker = new BrokerDouble();
    broker.answer = () => "hold";
    const flush = flushOutbox(s.config, s.paths, { connect: broker.connect });
    await broker.until((p) => p.length === 1);
    const first = broker.held[0];
    expect(first && isDroppedNote(first.id)).toBe(true);
    // the note is in flight: nothing else is published and the drop count is still on disk
    expect(broker.published).toHaveLength(1);
    expect(readDropped(s.dir)).toMatchObject({ note: 2 });
    broker.held.shift()?.ack();
    await broker.until((p) => p.length === 2);
    expect(readDropped(s.dir)).toBeUndefined();
    broker.held.shift()?.ack();
    await broker.until((p) => p.length === 3);
    broker.held.shift()?.ack();
    expect(await flush).toMatchObject({ sent: 2, remaining: 0 });
    expect(broker.acked.slice(1)).toEqual(s.ids.slice(2));
    expect(broker.texts[0]).toMatch(/^crashkeep dropped 2 note message\(s\) queued since \d{4}-\d\d-\d\dT[^ ]+ to stay within upload\.outbox limits$/);
  });

  test("at most upload.inFlight publishes wait for their PUBACK at once", async () => {
    const s = setup(6, { inFlight: 3 });
    const broker = new BrokerDouble();
    broker.answer = () => "hold";
    const flush = flushOutbox(s.config, s.paths, { connect: broker.connect });
    await broker.until((p) => p.length === 3);
    await Bun.sleep(0);
    expect(broker.published).toHaveLength(3);
    broker.held.shift()?.ack();
    await broker.until((p) => p.length === 4);
    await Bun.sleep(0);
    expect(broker.published).toHaveLength(4); // one acknowledged, one more in flight: still 3 waiting
    while (broker.held.length > 0 || broker.published.length < 6) {
      broker.held.shift()?.ack();
      await Bun.sleep(0);
    }
    expect(await flush).toMatchObject({ sent: 6, remaining: 0 });
    expect(broker.acked).toEqual(s.ids);
  });
});

describe("flushOutbox: a connection lost between publish and PUBACK", () => {
  test("the entry in flight survives and is sent once more on the next broker; those acknowledged are not sent again", async () => {
    const s = setup(5);
    const broker = new BrokerDouble();
    broker.answer = (p, n) => (n === 3 ? "drop" : "ack"); // the third publish (entry 3) loses the link
    const logs: string[] = [];
    const r = await flushOutbox(s.config, s.paths, { connect: broker.connect, log: (l) => logs.push(l) });
    expect(r).toMatchObject({ sent: 5, remaining: 0, error: undefined, broker: "mqtt://b" });
    expect(broker.connects).toEqual(["mqtt://a", "mqtt://b"]);
    expect(broker.published).toEqual([`mqtt://a ${s.ids[0]}`, `mqtt://a ${s.ids[1]}`, `mqtt://a ${s.ids[2]}`, `mqtt://b ${s.ids[2]}`, `mqtt://b ${s.ids[3]}`, `mqtt://b ${s.ids[4]}`]);
    expect(broker.acked).toEqual(s.ids);
    expect(logs).toContain('Lost "mqtt://a": connection closed');
  });

  test("the dropped note and the entries survive a loss before the note's PUBACK, and each is acknowledged exactly once later", async () => {
    const s = setup(3, { maxEntries: 2 }); // note 1 dropped
    const broker = new BrokerDouble();
    broker.answer = (p, n) => (n === 1 ? "drop" : "ack");
    const flush = flushOutbox(s.config, s.paths, { connect: broker.connect });
    const r = await flush;
    expect(r).toMatchObject({ sent: 2, remaining: 0 });
    const note = broker.published[0]?.split(" ")[1] as string;
    expect(isDroppedNote(note)).toBe(true);
    // the note: published twice (lost, then again on b), acknowledged once, with the same id; then the entries once each
    expect(broker.published).toEqual([`mqtt://a ${note}`, `mqtt://b ${note}`, `mqtt://b ${s.ids[1]}`, `mqtt://b ${s.ids[2]}`]);
    expect(broker.acked).toEqual([note, s.ids[1] as string, s.ids[2] as string]);
    expect(readDropped(s.dir)).toBeUndefined();
  });

  test("every broker lost: the rest stays queued, with the dropped count, for the next flush, which sends each once", async () => {
    const s = setup(3, { maxEntries: 2, brokers: ["mqtt://a"] });
    const broker = new BrokerDouble();
    broker.answer = () => "drop";
    const r = await flushOutbox(s.config, s.paths, { connect: broker.connect });
    expect(r).toMatchObject({ sent: 0, remaining: 3, refused: false });
    expect(r.error).toBe('Lost "mqtt://a": connection closed');
    expect(broker.connects).toEqual(["mqtt://a", "mqtt://a"]); // CONNECT_ROUNDS: every broker twice
    expect(queued(s)).toEqual(s.ids.slice(1));
    expect(readDropped(s.dir)).toMatchObject({ note: 1 });
    expect(readUploadState(s.dir)).toMatchObject({ lastError: 'Lost "mqtt://a": connection closed', lastSuccess: null });
    const again = new BrokerDouble();
    expect(await flushOutbox(s.config, s.paths, { connect: again.connect })).toMatchObject({ sent: 2, remaining: 0 });
    // status: the success clears the earlier error
    expect(readUploadState(s.dir)).toMatchObject({ lastError: null, lastErrorAt: null });
    expect(again.acked.filter(isDroppedNote)).toHaveLength(1);
    expect(again.acked.filter((id) => !isDroppedNote(id))).toEqual(s.ids.slice(1));
    for (const id of again.acked) expect(count(again.published.map((p) => p.split(" ")[1] as string), id)).toBe(1);
    // the note keeps its id until acknowledged: the receiver de-duplicates a note that arrived before the loss
    expect(again.acked.find(isDroppedNote)).toBe(broker.published.map((p) => p.split(" ")[1] as string).find(isDroppedNote));
  });
});

describe("flushOutbox: stopping", () => {
  test("a refusal on the open connection stops the flush: no other broker, refused: true, the rest still queued", async () => {
    const s = setup(3);
    const broker = new BrokerDouble();
    broker.answer = (p, n) => (n === 2 ? "refuse" : "ack");
    const r = await flushOutbox(s.config, s.paths, { connect: broker.connect });
    expect(r).toMatchObject({ sent: 1, remaining: 2, refused: true });
    expect(broker.connects).toEqual(["mqtt://a"]);
    expect(queued(s)).toEqual(s.ids.slice(1));
  });

  test("a broker that refuses the connection: the next one is tried; all refusing ends with refused: true and nothing lost", async () => {
    const s = setup(2);
    const broker = new BrokerDouble();
    broker.refuse.add("mqtt://a");
    expect(await flushOutbox(s.config, s.paths, { connect: broker.connect })).toMatchObject({ sent: 2, remaining: 0, broker: "mqtt://b" });
    const t = setup(2);
    const none = new BrokerDouble();
    none.refuse.add("mqtt://a").add("mqtt://b");
    const r = await flushOutbox(t.config, t.paths, { connect: none.connect });
    expect(r).toMatchObject({ sent: 0, remaining: 2, refused: true });
    expect(none.published).toEqual([]);
    expect(queued(t)).toEqual(t.ids);
  });

  test("brokers that are down: not a refusal (the sender backs off and tries again)", async () => {
    const s = setup(1);
    const broker = new BrokerDouble();
    broker.down.add("mqtt://a").add("mqtt://b");
    const r = await flushOutbox(s.config, s.paths, { connect: broker.connect });
    expect(r).toMatchObject({ sent: 0, remaining: 1, refused: false });
    expect(broker.connects).toEqual(["mqtt://a", "mqtt://b", "mqtt://a", "mqtt://b"]);
  });

  test("an abort stops new publishes; the one in flight completes and is forgotten on its PUBACK", async () => {
    const s = setup(3);
    const broker = new BrokerDouble();
    broker.answer = () => "hold";
    const abort = new AbortController();
    const flush = flushOutbox(s.config, s.paths, { connect: broker.connect, signal: abort.signal });
    await broker.until((p) => p.length === 1);
    abort.abort();
    broker.held.shift()?.ack();
    const r = await flush;
    expect(r).toMatchObject({ sent: 1, remaining: 2 });
    expect(broker.published).toHaveLength(1);
    expect(queued(s)).toEqual(s.ids.slice(1));
  });

  test("nothing queued: no connection is opened", async () => {
    const s = setup(0);
    const broker = new BrokerDouble();
    expect(await flushOutbox(s.config, s.paths, { connect: broker.connect })).toMatchObject({ sent: 0, remaining: 0, error: undefined });
    expect(broker.connects).toEqual([]);
    expect(existsSync(s.dir)).toBe(false);
  });
});

describe("flushOutbox: passes and failures", () => {
  test("an entry queued while the flush runs is sent by the same flush", async () => {
    const s = setup(1);
    const broker = new BrokerDouble();
    const limits = { ...s.config.upload.outbox, minFreeBytes: 0 };
    broker.answer = (p, n) => {
      if (n === 1) enqueue(s.dir, notePayload({ text: "late", time: new Date(), localId: "late" }, { device: DEVICE, maxMessageBytes: 8192 }), limits);
      return "ack";
    };
    expect(await flushOutbox(s.config, s.paths, { connect: broker.connect })).toMatchObject({ sent: 2, remaining: 0 });
    expect(broker.acked).toEqual([s.ids[0] as string, "dev1/note/late"]);
  });

  test("a flush ends: entries that keep arriving are taken for a bounded number of passes, the rest wait for the next flush", async () => {
    const s = setup(1);
    const broker = new BrokerDouble();
    const limits = { ...s.config.upload.outbox, minFreeBytes: 0 };
    broker.answer = (p, n) => {
      enqueue(s.dir, notePayload({ text: `more ${n}`, time: new Date(), localId: `more-${n}` }, { device: DEVICE, maxMessageBytes: 8192 }), limits);
      return "ack";
    };
    const r = await flushOutbox(s.config, s.paths, { connect: broker.connect });
    expect(r.remaining).toBe(1);
    expect(r.sent).toBe(8); // MAX_PASSES: one entry per pass here
    expect(r.error).toBe("entries left");
  });

  test("a connect that fails with a plain error is not a refusal: the next broker is tried", async () => {
    const s = setup(1);
    const broker = new BrokerDouble();
    broker.broken.add("mqtt://a");
    const logs: string[] = [];
    expect(await flushOutbox(s.config, s.paths, { connect: broker.connect, log: (l) => logs.push(l) })).toMatchObject({ sent: 1, remaining: 0, refused: false, broker: "mqtt://b" });
    expect(logs).toContain("Error: socket hang up");
    const t = setup(1, { brokers: ["mqtt://a"] });
    const only = new BrokerDouble();
    only.broken.add("mqtt://a");
    const r = await flushOutbox(t.config, t.paths, { connect: only.connect });
    expect(r).toMatchObject({ sent: 0, remaining: 1, refused: false, error: "Error: socket hang up" });
    // status: the error and when, for `crashkeep status`
    expect(readUploadState(t.dir)).toMatchObject({ lastError: "Error: socket hang up", lastSuccess: null });
  });

  test("a publish that fails with a plain error is not a refusal either: the entry is sent on the next connection", async () => {
    const s = setup(2);
    let n = 0;
    const broker = new BrokerDouble();
    const connect = broker.connect;
    const flaky: NonNullable<FlushOptions["connect"]> = async (b, o) => {
      const c = await connect(b, o);
      return n++ === 0 ? { ...c, publish: () => Promise.reject(new Error("write EPIPE")) } : c;
    };
    const r = await flushOutbox(s.config, s.paths, { connect: flaky });
    expect(r).toMatchObject({ sent: 2, remaining: 0, refused: false, broker: "mqtt://b" });
    expect(broker.acked).toEqual(s.ids);
  });

  test("no broker configured (upload off): nothing is sent, nothing is an error", async () => {
    const s = setup(1);
    const off = { ...s.config, upload: { ...s.config.upload, broker: undefined } } as typeof s.config;
    const broker = new BrokerDouble();
    expect(await flushOutbox(off, s.paths, { connect: broker.connect })).toEqual({ sent: 0, remaining: 1, error: undefined, refused: false, broker: undefined });
    expect(broker.connects).toEqual([]);
  });

  test("an outbox that cannot be listed throws one line; it never passes for an empty one", async () => {
    const s = setup(0);
    mkdirSync(join(s.dir, ".."), { recursive: true });
    writeFileSync(s.dir, "not a directory");
    const broker = new BrokerDouble();
    await expect(flushOutbox(s.config, s.paths, { connect: broker.connect })).rejects.toThrow(/^Cannot list the outbox ".*outbox": ENOTDIR/);
  });

  test("an entry deleted by another sender meanwhile is skipped, not published and not counted", async () => {
    const s = setup(2);
    const broker = new BrokerDouble();
    broker.answer = (p, n) => {
      if (n === 1) rmSync(join(s.dir, listOutbox(s.dir)[1]?.name ?? "none"));
      return "ack";
    };
    const logs: string[] = [];
    expect(await flushOutbox(s.config, s.paths, { connect: broker.connect, log: (l) => logs.push(l) })).toMatchObject({ sent: 1, remaining: 0 });
    expect(broker.published).toHaveLength(1);
    expect(logs.filter((l) => l.startsWith("Cannot parse"))).toEqual([]);
  });

  test("an entry that is not JSON is dropped with a line, and the rest still go", async () => {
    const s = setup(2);
    writeFileSync(join(s.dir, listOutbox(s.dir)[0]?.name ?? "none"), "\u0000garbage");
    const broker = new BrokerDouble();
    const logs: string[] = [];
    expect(await flushOutbox(s.config, s.paths, { connect: broker.connect, log: (l) => logs.push(l) })).toMatchObject({ sent: 1, remaining: 0 });
    expect(broker.acked).toEqual([s.ids[1] as string]);
    expect(logs.some((l) => /^Cannot parse outbox entry ".*", dropping it$/.test(l))).toBe(true);
  });
});

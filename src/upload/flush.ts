// Emptying the outbox: connect to the first broker of upload.broker that
// answers, publish every waiting message (oldest first, at most
// upload.inFlight unacknowledged), delete each only after its PUBACK. A
// connection lost mid-flush moves on to the next broker (a cluster's other
// node); every broker failing ends the flush with the rest still queued.
import type { Config } from "../config/schema.ts";
import type { Paths } from "../system/paths.ts";
import { BrokerError, connect, type Connection } from "./client.ts";
import { clearDropped, expireOutbox, listOutbox, outboxDir, readDropped, readOutboxEntry, readUploadState, removeOutboxEntry, removeOutboxTemps, writeUploadState, type OutboxEntry } from "./outbox.ts";
import { encodePayload, notePayload, payloadTopic, topicLevel, type Dropped } from "./payload.ts";
import { deviceInfo } from "./queue.ts";

/** Passes over the outbox in one flush: entries queued while flushing are taken too, but a flush ends. */
const MAX_PASSES = 8;
/** Connections one flush may open: every broker twice, so a cluster's node restart is ridden through. */
const CONNECT_ROUNDS = 2;

export interface FlushResult {
  sent: number;
  remaining: number;
  /** The last broker error, undefined when the outbox was emptied. */
  error: string | undefined;
  /** true when a broker refused us (credentials, authorization): backing off will not fix it. */
  refused: boolean;
  broker: string | undefined;
}

export interface FlushOptions {
  /** One line per event worth logging (connected, lost, dropped-note sent). */
  log?: (line: string) => void;
  /** Stop starting new publishes (SIGTERM); what is in flight still completes or times out. */
  signal?: AbortSignal;
  /** How a connection is opened: client.ts's connect, or a test's double (test/unit/upload/flush.test.ts). */
  connect?: typeof connect;
}

function droppedText(d: Dropped): string {
  const parts = (["boot", "crash", "note"] as const).filter((k) => d[k] > 0).map((k) => `${d[k]} ${k}`);
  return `crashkeep dropped ${parts.join(", ")} message(s) queued since ${d.since} to stay within upload.outbox limits`;
}

export async function flushOutbox(config: Config, paths: Paths, options: FlushOptions = {}): Promise<FlushResult> {
  const log = options.log ?? (() => {});
  const brokers = config.upload.broker ?? [];
  const dir = outboxDir(paths.sys(config.archive.dir));
  const device = deviceInfo(config, paths);
  const state = readUploadState(dir);
  let sent = 0;
  let lastError: BrokerError | undefined;
  let conn: Connection | undefined;
  let attempts = 0;
  let next = 0; // index into brokers of the next one to try
  // Strict listing: an outbox that cannot be read throws (one clear line), never looks empty.
  const pending = () => listOutbox(dir, { strict: true }).length + (readDropped(dir) ? 1 : 0);
  removeOutboxTemps(dir);
  try {
    const expired = expireOutbox(dir, config.upload.outbox);
    if (expired.length > 0) log(`dropped ${expired.length} message(s) older than upload.outbox.maxAgeDays (${config.upload.outbox.maxAgeDays})`);
  } catch (err) {
    log(`Cannot expire old outbox entries: ${err instanceof Error ? err.message : String(err)}`);
  }
  if (brokers.length === 0 || pending() === 0) return { sent, remaining: pending(), error: undefined, refused: false, broker: undefined };
  state.lastAttempt = new Date().toISOString();

  const open = async (): Promise<Connection | undefined> => {
    while (attempts < brokers.length * CONNECT_ROUNDS && !options.signal?.aborted) {
      const broker = brokers[next % brokers.length] as string;
      attempts++;
      try {
        const c = await (options.connect ?? connect)(broker, { config, paths, clientId: topicLevel(device.id) });
        log(`connected to ${broker}`);
        return c;
      } catch (err) {
        lastError = err instanceof BrokerError ? err : new BrokerError(String(err), false);
        log(lastError.message);
        next++;
      }
    }
    return undefined;
  };

  const publishOne = async (c: Connection, e: OutboxEntry): Promise<void> => {
    const bytes = readOutboxEntry(dir, e);
    if (!bytes) return; // sent by another sender or dropped by a quota meanwhile
    let head: { kind?: unknown; device?: { id?: unknown } };
    try {
      head = JSON.parse(new TextDecoder().decode(bytes)) as typeof head;
    } catch {
      // Not one of ours (a torn file cannot exist: writes are atomic); it would block the queue forever.
      log(`Cannot parse outbox entry "${e.name}", dropping it`);
      removeOutboxEntry(dir, e);
      return;
    }
    const topic = payloadTopic(config.upload.topicPrefix, { kind: e.kind, device: { ...device, id: typeof head.device?.id === "string" ? head.device.id : device.id } });
    await c.publish(topic, bytes);
    removeOutboxEntry(dir, e);
    sent++;
  };

  try {
    for (let pass = 0; pass < MAX_PASSES && !options.signal?.aborted; pass++) {
      const entries = listOutbox(dir, { strict: true });
      const dropped = readDropped(dir);
      if (entries.length === 0 && !dropped) break;
      let i = 0;
      while ((i < entries.length || dropped) && !options.signal?.aborted) {
        conn ??= await open();
        if (!conn) break;
        const c = conn;
        try {
          if (dropped && readDropped(dir)) {
            // The note about what the quotas dropped goes first; its id is stable until it is acknowledged.
            const d = readDropped(dir) as Dropped;
            const note = notePayload({ text: droppedText(d), time: new Date(), localId: `dropped-${d.since}-${d.boot}-${d.crash}-${d.note}`, dropped: d }, { device, maxMessageBytes: config.upload.maxMessageBytes });
            await Promise.race([c.publish(payloadTopic(config.upload.topicPrefix, note), new TextEncoder().encode(encodePayload(note))), c.closed]);
            clearDropped(dir, d);
            log(droppedText(d));
          }
          // A window of upload.inFlight publishes; each entry is deleted on its own PUBACK.
          const window = new Set<Promise<void>>();
          while (i < entries.length && !options.signal?.aborted) {
            const e = entries[i] as OutboxEntry;
            const p: Promise<void> = publishOne(c, e).finally(() => window.delete(p));
            p.catch(() => {}); // a failure is seen through the race below; the rest of the window must not go unhandled
            window.add(p);
            i++;
            if (window.size >= config.upload.inFlight) await Promise.race([...window, c.closed]);
          }
          await Promise.race([Promise.all(window), c.closed]);
          break;
        } catch (err) {
          lastError = err instanceof BrokerError ? err : new BrokerError(String(err), false);
          log(lastError.message);
          await c.end();
          conn = undefined;
          next++;
          // Resume from the oldest entry not yet acknowledged (those acknowledged are gone from the outbox).
          const left = new Set(listOutbox(dir, { strict: true }).map((x) => x.name));
          const firstLeft = entries.findIndex((x) => left.has(x.name));
          i = firstLeft < 0 ? entries.length : firstLeft;
          if (lastError.refused) break;
        }
      }
      if (!conn) break;
    }
  } finally {
    await conn?.end();
  }
  const remaining = pending();
  const now = new Date().toISOString();
  if (sent > 0) {
    state.lastSuccess = now;
    state.broker = conn?.broker ?? brokers[next % brokers.length] ?? null;
  }
  if (remaining > 0 && lastError) {
    state.lastError = lastError.message;
    state.lastErrorAt = now;
  } else if (remaining === 0) {
    state.lastError = null;
    state.lastErrorAt = null;
  }
  try {
    writeUploadState(dir, state);
  } catch {
    // status only: the outbox itself is what matters
  }
  return { sent, remaining, error: remaining > 0 ? (lastError?.message ?? (options.signal?.aborted ? "stopped" : "entries left")) : undefined, refused: lastError?.refused ?? false, broker: state.broker ?? undefined };
}

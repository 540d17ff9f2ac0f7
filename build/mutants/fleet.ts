// Named mutants of the fleet path (build/mutants/run.ts fleet; make mutants LIST=fleet): the
// orderings the promise "nothing lost, nothing doubled" stands on, in src/upload/flush.ts (forget an
// entry only after its PUBACK), src/collect/subscriber.ts (PUBACK only after the commit),
// src/upload/outbox.ts (one file per message id, quotas) and src/collect/ingest.ts (newest wins,
// duplicates, orphan groups), and the signature's rules (src/collect/signature.ts). Each is one
// broken promise; those found by the StrykerJS run over flush.ts are marked. Scores and the
// equivalent survivors: docs/TESTING.md, "Fleet".
import type { Mutant } from "./run.ts";

/** Every unit test file of the folder: a mutant is killed by whichever notices (the upload files take ~3 s idle, the collect ones ~10 s). */
const UPLOAD_TESTS = ["config", "device", "flush", "outbox", "payload", "sender"].map((f) => `test/unit/upload/${f}.test.ts`);
const COLLECT_TESTS = ["subscriber", "ingest", "ingest-fixtures", "ingest-hostile", "server", "signature-tailcall", "stripped-signature"].map((f) => `test/unit/collect/${f}.test.ts`);

const flush = (name: string, from: string, to: string, equivalent?: string): Mutant => ({ name: `flush-${name}`, file: "src/upload/flush.ts", find: from, replace: to, tests: UPLOAD_TESTS, ...(equivalent ? { equivalent } : {}) });
const sub = (name: string, from: string, to: string): Mutant => ({ name: `subscriber-${name}`, file: "src/collect/subscriber.ts", find: from, replace: to, tests: COLLECT_TESTS });
const outbox = (name: string, from: string, to: string): Mutant => ({ name: `outbox-${name}`, file: "src/upload/outbox.ts", find: from, replace: to, tests: UPLOAD_TESTS });
const ingest = (name: string, from: string, to: string): Mutant => ({ name: `ingest-${name}`, file: "src/collect/ingest.ts", find: from, replace: to, tests: COLLECT_TESTS });
const sig = (name: string, from: string, to: string): Mutant => ({ name: `signature-${name}`, file: "src/collect/signature.ts", find: from, replace: to, tests: COLLECT_TESTS });

export const mutants: Mutant[] = [
  // flush.ts: forget an entry only after its PUBACK; the dropped note first, forgotten after its PUBACK.
  flush("delete-before-publish", "await c.publish(topic, bytes);\n    removeOutboxEntry(dir, e);", "removeOutboxEntry(dir, e);\n    await c.publish(topic, bytes);"),
  flush("publish-not-awaited", "await c.publish(topic, bytes);", "void c.publish(topic, bytes).catch(() => {});"),
  flush(
    "dropped-cleared-before-puback",
    "await Promise.race([c.publish(payloadTopic(config.upload.topicPrefix, note), new TextEncoder().encode(encodePayload(note))), c.closed]);\n            clearDropped(dir, d);",
    "clearDropped(dir, d);\n            await Promise.race([c.publish(payloadTopic(config.upload.topicPrefix, note), new TextEncoder().encode(encodePayload(note))), c.closed]);",
  ),
  flush("dropped-note-not-awaited", "await Promise.race([c.publish(payloadTopic(config.upload.topicPrefix, note)", "void Promise.race([c.publish(payloadTopic(config.upload.topicPrefix, note)"),
  flush("dropped-note-skipped", "if (dropped && readDropped(dir)) {", "if (false) {"),
  flush("resume-skips-entry-in-flight", "i = firstLeft < 0 ? entries.length : firstLeft;", "i = firstLeft < 0 ? entries.length : firstLeft + 1;"),
  flush(
    "resume-from-start",
    "i = firstLeft < 0 ? entries.length : firstLeft;",
    "i = 0;",
    "publishOne reads each entry back first and skips one that is gone, and every entry before the first left one was acknowledged and deleted: starting over publishes exactly the same messages",
  ),
  flush("resume-gives-up", "i = firstLeft < 0 ? entries.length : firstLeft;", "i = entries.length;"),
  flush("refusal-not-final", "if (lastError.refused) break;", ""),
  flush("window-one-more", "if (window.size >= config.upload.inFlight)", "if (window.size > config.upload.inFlight)"),
  flush("window-unbounded", "if (window.size >= config.upload.inFlight) await", "if (false) await"),
  flush("abort-ignored", "while (i < entries.length && !options.signal?.aborted) {", "while (i < entries.length) {"),
  flush("one-round", "attempts < brokers.length * CONNECT_ROUNDS", "attempts < brokers.length"),
  flush("next-broker-not-taken-on-loss", "conn = undefined;\n          next++;", "conn = undefined;"),
  flush("remaining-forgets-dropped", "+ (readDropped(dir) ? 1 : 0)", ""),
  flush("refused-flag-lost", "refused: lastError?.refused ?? false", "refused: false"),
  flush("sent-not-counted", "removeOutboxEntry(dir, e);\n    sent++;", "removeOutboxEntry(dir, e);"),
  // Found by the StrykerJS run over flush.ts (docs/TESTING.md "Fleet"): its survivors that a behaviour can tell apart.
  flush("window-never-shrinks", "publishOne(c, e).finally(() => window.delete(p))", "publishOne(c, e).finally(() => undefined)"),
  flush("one-pass-only", "if (!conn) break;\n    }", "if (true) break;\n    }"),
  flush("passes-unbounded", "pass < MAX_PASSES && !options.signal?.aborted", "true && !options.signal?.aborted"),
  flush("plain-connect-error-refused", "lastError = err instanceof BrokerError ? err : new BrokerError(String(err), false);\n        log(lastError.message);\n        next++;", "lastError = err instanceof BrokerError ? err : new BrokerError(String(err), true);\n        log(lastError.message);\n        next++;"),
  flush("plain-publish-error-refused", "lastError = err instanceof BrokerError ? err : new BrokerError(String(err), false);\n          log(lastError.message);\n          await c.end();", "lastError = err instanceof BrokerError ? err : new BrokerError(String(err), true);\n          log(lastError.message);\n          await c.end();"),
  flush("no-client-id", "(broker, { config, paths, clientId: topicLevel(device.id) })", "(broker, { config, paths, clientId: \"\" })"),
  flush("topic-from-config-device", "id: typeof head.device?.id === \"string\" ? head.device.id : device.id", "id: \"other\""),
  flush("upload-off-flushes", "if (brokers.length === 0 || pending() === 0) return", "if (pending() === 0) return"),
  flush(
    "lenient-listing",
    "const entries = listOutbox(dir, { strict: true });",
    "const entries = listOutbox(dir, {});",
    "an outbox that cannot be listed ends the passes either way, and the flush's final pending() lists it strictly and throws the same one line",
  ),
  flush("lenient-pending", "const pending = () => listOutbox(dir, { strict: true })", "const pending = () => listOutbox(dir, {})"),
  flush("gone-entry-parsed", "if (!bytes) return;", "if (false) return;"),
  flush("status-error-kept-on-success", "} else if (remaining === 0) {", "} else if (false) {"),
  flush("status-error-not-written", "if (remaining > 0 && lastError) {", "if (false) {"),
  flush("status-success-not-written", "if (sent > 0) {", "if (false) {"),
  flush("dropped-text-counts-zero-kinds", "filter((k) => d[k] > 0)", "filter((k) => d[k] >= 0)"),
  flush("dropped-note-mid-pass", "if (dropped && readDropped(dir)) {", "if (dropped || readDropped(dir)) {", "dropped is read at the start of each pass; a drop that happens during a pass is noticed by readDropped here only when the pass started with one (else the next pass or flush sends its note): the note is sent either way, before the entries of a later pass, and its id is the same"),
  flush("resume-first-left-zero", "i = firstLeft < 0 ? entries.length : firstLeft;", "i = firstLeft <= 0 ? entries.length : firstLeft;"),
  flush("empty-pass-not-ended", "if (entries.length === 0 && !dropped) break;", "if (false) break;", "an empty pass publishes nothing; the passes that follow list the outbox again and find it empty too: only extra listings"),
  // subscriber.ts: PUBACK only after the commit; retry, then onFatal without a PUBACK.
  sub("puback-before-commit", "await o.onMessage(packet.topic, payload);\n          done();", "done();\n          await o.onMessage(packet.topic, payload);"),
  sub("puback-on-fatal", "return; // never acknowledged", "done();\n            return;"),
  sub("puback-on-failure", "o.log(`Cannot store message on \"${packet.topic}\" (try ${attempt}", "done();\n          o.log(`Cannot store message on \"${packet.topic}\" (try ${attempt}"),
  sub("no-retry", "if (attempt >= STORE_ATTEMPTS) {", "if (attempt >= 1) {"),
  sub("no-fatal", "else o.onFatal(why);", "else void why;"),
  sub("qos0", "client.subscribe(topic, { qos: 1 }", "client.subscribe(topic, { qos: 0 }"),
  sub("clean-session", "    clean: false,\n", "    clean: true,\n"),
  sub("graceful-close-after-fatal", "await client.endAsync(fatal);", "await client.endAsync(false);"),
  sub("one-more-try", "if (attempt >= STORE_ATTEMPTS) {", "if (attempt > STORE_ATTEMPTS) {"),
  sub("refused-connack-retried", "if (code !== undefined && NETWORK_ERRORS.has(code)) return;", "return;"),
  sub("subscribe-error-ignored", "if (err) return reject(new Error(`Cannot subscribe to", "if (false) return reject(new Error(`Cannot subscribe to"),
  {
    name: "subscriber-granted-128-ignored",
    file: "src/collect/subscriber.ts",
    find: "if (granted?.some((g) => g.qos === 128)) return reject(",
    replace: "if (false) return reject(",
    tests: COLLECT_TESTS,
    equivalent: "MQTT.js 5 reports a granted 128 as the subscribe callback's error (\"Subscribe error: Unspecified error\"), caught by the line before: this check is a second guard no broker can reach through this MQTT.js",
  },
  // outbox.ts: one file per message id, quotas drop the oldest non-boot first, dropped counts kept until the note.
  outbox("dedupe-off", "if (existing) return { name: existing.name, written: false, dropped: [] };", ""),
  outbox("boots-not-last", "KIND_ORDER[a.kind] - KIND_ORDER[b.kind] || ", ""),
  outbox("newest-dropped-first", "(a.name < b.name ? -1 : 1)", "(a.name < b.name ? 1 : -1)"),
  outbox("max-entries-off-by-one", "count + 1 <= limits.maxEntries", "count <= limits.maxEntries"),
  outbox("drops-not-counted", "addDropped(dir, dropped);", ""),
  outbox("clear-dropped-all", "if (left.boot + left.crash + left.note === 0) unlinkSync", "if (true) unlinkSync"),
  outbox("list-unsorted", "for (const name of names.sort())", "for (const name of names)"),
  outbox("strict-listing-off", "if (options.strict && errorCode(err) !== \"ENOENT\") throw", "if (false) throw"),
  // ingest.ts: newest wins for device fields, duplicates stored once, orphan groups removed after --resymbolize.
  ingest("firmware-last-received", "firmware = CASE WHEN excluded.last_seen >= devices.last_seen THEN excluded.firmware ELSE devices.firmware END", "firmware = excluded.firmware"),
  ingest("kernel-last-received", "kernel = CASE WHEN excluded.last_seen >= devices.last_seen THEN excluded.kernel ELSE devices.kernel END", "kernel = excluded.kernel"),
  ingest("last-seen-last-received", "last_seen = CASE WHEN excluded.last_seen > devices.last_seen THEN excluded.last_seen ELSE devices.last_seen END", "last_seen = excluded.last_seen"),
  ingest("first-seen-last-received", "first_seen = CASE WHEN excluded.first_seen < devices.first_seen THEN excluded.first_seen ELSE devices.first_seen END", "first_seen = excluded.first_seen"),
  ingest("duplicate-stored-twice", "if (rows.length === 0) {", "if (false) {"),
  ingest("orphans-kept", "await store.sql`DELETE FROM crash_groups WHERE NOT EXISTS (SELECT 1 FROM crashes WHERE crashes.group_id = crash_groups.id)`;", ""),
  ingest("resymbolize-group-not-moved", "await tx`UPDATE crashes SET group_id = ${sig.id} WHERE message_id = ${row.message_id}`;", ""),
  ingest("crash-free-inverted", "CRASH_REASONS.has(b.reason) ? 0 : 1", "CRASH_REASONS.has(b.reason) ? 1 : 0"),
  ingest("topic-not-checked", "if (topic !== expected) throw", "if (false) throw"),
  ingest("rejects-unbounded", "await tx`DELETE FROM rejects WHERE id <", "if (false) await tx`DELETE FROM rejects WHERE id <"),
  ingest("oversize-accepted", "if (bytes.length > MAX_MESSAGE_BYTES) throw", "if (false) throw"),
  // rollbacks (issue 23): the decision time clamped as every device time; every bad boot a row; /devices by receive time
  ingest("rollback-decided-not-clamped", "${storedTime(r.decidedAt, latest)}", "${r.decidedAt}"),
  ingest("rollback-first-bad-boot-dropped", "for (const [seq, b] of r.badBoots.entries()) {", "for (const [seq, b] of r.badBoots.slice(1).entries()) {"),
  ingest("last-received-kept-first", "last_received = CASE WHEN excluded.last_received > devices.last_received THEN excluded.last_received ELSE devices.last_received END,", "last_received = devices.last_received,"),
  // signature.ts: own frames first, the runtime-only fallback, the frame limit.
  sig("no-runtime-fallback", "if (own.length === 0) own = frames;", ""),
  sig("libstdcxx-not-runtime", "libpthread|libstdc\\+\\+|", "libpthread|"),
  sig("libc-not-runtime", "(^|\\/)(libc|libm|", "(^|\\/)(libm|"),
  sig("one-more-frame", "own.slice(0, SIGNATURE_FRAMES)", "own.slice(0, SIGNATURE_FRAMES + 1)"),
  sig("offset-kept-with-name", "if (typeof fn === \"string\" && fn !== \"\") return fn;", "if (typeof fn === \"string\" && fn !== \"\") return `${fn}+${f.moduleOffset}`;"),
];

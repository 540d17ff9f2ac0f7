// The collector's peak memory (VmHWM of /proc/PID/status) under the heaviest
// hostile messages of issue 22, each against a fresh compiled collector and a
// fresh SQLite database: ten amplifying compact crashes (41 000 one-token
// frames, 246 KB each), one 50 MB message, and the same 50 MB message with
// mosquitto's max_packet_size set to what the collector accepts (docs/COLLECT.md).
// Prints one line per case; figures vary with the machine, compare within a run.
// Run: bun bench/collect/hostile-rss.ts   (needs `make build`)
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import mqtt from "mqtt";
import { api, startCollector, waitFor } from "../../test/integration/servers.ts";
import { mosquitto } from "../../test/integration/brokers.ts";
import { device } from "../../test/unit/collect/fleet.ts";
import { amplifyingCrash } from "../../test/unit/collect/hostile.ts";
import { MAX_MESSAGE_BYTES } from "../../src/collect/ingest.ts";

const MiB = 1024 * 1024;

function peakRss(pid: number): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return Number(m?.[1] ?? 0) * 1024;
}

interface Health {
  stored: number;
  duplicates: number;
  rejected: number;
  conflicts?: number;
}

async function run(name: string, messages: Array<{ topic: string; bytes: Uint8Array }>, brokerExtra = ""): Promise<void> {
  const broker = await mosquitto({ extra: `allow_anonymous true\n${brokerExtra}` });
  await broker.start();
  const dir = mkdtempSync(join(tmpdir(), "ck-hostile-rss-"));
  const url = `mqtt://127.0.0.1:${broker.port}`;
  const c = await startCollector(["--broker", url, "--db", `sqlite://${dir}/c.db`, "--client-id", "ck-rss"]);
  try {
    await Bun.sleep(500);
    const before = peakRss(c.proc.pid);
    const pub = await mqtt.connectAsync(url, { clientId: "ck-rss-pub", protocolVersion: 4, reconnectPeriod: 0 });
    let refused = 0;
    for (const m of messages) {
      try {
        await Promise.race([pub.publishAsync(m.topic, Buffer.from(m.bytes), { qos: 1 }), Bun.sleep(10_000).then(() => Promise.reject(new Error("no PUBACK")))]);
      } catch {
        refused++; // the broker closed the connection (max_packet_size)
      }
    }
    await pub.endAsync(true);
    const expected = messages.length - refused;
    const h = await waitFor(`${expected} messages handled`, async () => {
      const x = await api<Health>(c.base, "/api/health");
      return x.stored + x.duplicates + x.rejected + (x.conflicts ?? 0) >= expected ? x : undefined;
    }, 120_000);
    await Bun.sleep(500);
    const after = peakRss(c.proc.pid);
    console.log(
      `${name}: peak RSS ${(before / MiB).toFixed(0)} MiB at start, ${(after / MiB).toFixed(0)} MiB after (+${((after - before) / MiB).toFixed(0)} MiB); ` +
        `stored ${h.stored}, rejected ${h.rejected}, refused by the broker ${refused}; running: ${c.proc.exitCode === null}`,
    );
  } finally {
    await c.stop();
    await broker.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

const amp = Array.from({ length: 10 }, (_, i) => amplifyingCrash(device(`amp-${i}`, "1.0")));
const huge = { topic: "crashkeep/v1/huge-1/crash", bytes: new Uint8Array(50 * 1000 * 1000).fill(0x20) };
await run(`10 amplifying crashes (${amp[0]?.bytes.length} bytes each)`, amp);
await run("one 50 MB message", [huge]);
await run(`one 50 MB message, mosquitto max_packet_size ${MAX_MESSAGE_BYTES + 1024}`, [huge], `max_packet_size ${MAX_MESSAGE_BYTES + 1024}`);

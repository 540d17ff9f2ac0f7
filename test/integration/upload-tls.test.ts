// Upload over TLS and with credentials (issue 12): a test CA and client
// certificates made by openssl here; mosquitto requires a client certificate
// (mutual TLS, as AWS IoT does). A wrong CA, a missing client certificate or
// a wrong password is one clear line and the entries stay queued. The
// collector (`crashkeep collect --ca --cert --key`) subscribes the same way.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { enqueue, listOutbox } from "../../src/upload/outbox.ts";
import { notePayload, type DeviceInfo } from "../../src/upload/payload.ts";
import { BINARY, device, mosquitto, Subscriber, tmp, waitFor, type Device, type Mosquitto } from "./brokers.ts";
import { api, startCollector } from "./servers.ts";

const cleanups: Array<() => unknown> = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
});

function sh(cmd: string[], cwd: string): void {
  const r = Bun.spawnSync(cmd, { cwd });
  if (r.exitCode !== 0) throw new Error(`${cmd.join(" ")} failed: ${r.stderr.toString()}`);
}

/** A CA, and certificates it signs (EC P-256: fast to make). */
function makePki(dir: string, ca: string): void {
  sh(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", `${ca}.key`, "-out", `${ca}.crt`, "-days", "2", "-subj", `/CN=${ca}`], dir);
}
function sign(dir: string, ca: string, name: string, cn: string, san?: string): void {
  sh(["openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", `${name}.key`, "-out", `${name}.csr`, "-subj", `/CN=${cn}`], dir);
  if (san) writeFileSync(join(dir, `${name}.ext`), `subjectAltName=${san}\n`);
  sh(["openssl", "x509", "-req", "-in", `${name}.csr`, "-CA", `${ca}.crt`, "-CAkey", `${ca}.key`, "-CAcreateserial", "-out", `${name}.crt`, "-days", "2", ...(san ? ["-extfile", `${name}.ext`] : [])], dir);
}

let pki: string;
let tls: Mosquitto;
let sub: Subscriber;
beforeAll(async () => {
  pki = tmp("pki");
  makePki(pki, "ca");
  makePki(pki, "other-ca");
  sign(pki, "ca", "server", "localhost", "DNS:localhost,IP:127.0.0.1");
  sign(pki, "ca", "device", "test-device-1");
  sign(pki, "ca", "collector", "collector");
  tls = await mosquitto({
    extra: [`cafile ${pki}/ca.crt`, `certfile ${pki}/server.crt`, `keyfile ${pki}/server.key`, "require_certificate true", "use_identity_as_username true", "allow_anonymous false"].join("\n"),
  });
  cleanups.push(() => tls.kill9());
  await tls.start();
  sub = new Subscriber(tls.port, "collector-1", { protocol: "mqtts", ca: readFileSync(`${pki}/ca.crt`), cert: readFileSync(`${pki}/collector.crt`), key: readFileSync(`${pki}/collector.key`), servername: "localhost" });
  cleanups.push(() => sub.close());
  await sub.connect();
}, 60_000);

/** The device reads its files under its root: copy the named PKI files to /etc/crashkeep/tls there. */
function tlsDevice(broker: string, files: Record<string, string>): Device {
  const abs = Object.fromEntries(Object.entries(files).map(([k, v]) => [k, `/etc/crashkeep/tls/${v}`]));
  const d = device({ broker, ...abs });
  mkdirSync(join(d.root, "etc/crashkeep/tls"), { recursive: true });
  for (const f of Object.values(files)) if (!f.startsWith("missing")) copyFileSync(join(pki, f), join(d.root, "etc/crashkeep/tls", f));
  return d;
}

function queue(d: Device, n: number, tag: string): string[] {
  const dev: DeviceInfo = { id: "test-device-1", firmware: null, hardware: null, kernel: null, arch: "x86_64", crashkeepVersion: "test" };
  return Array.from({ length: n }, (_, i) => {
    const p = notePayload({ text: `${tag} ${i}`, time: new Date(), localId: `${tag}-${i}` }, { device: dev, maxMessageBytes: 8192 });
    enqueue(d.outbox, p, { maxEntries: 100, maxBytes: 1 << 20, maxAgeDays: 7, minFreeBytes: 0 });
    return p.id;
  });
}

describe("mqtts with a client certificate", () => {
  test("the right CA and a client certificate: everything arrives", async () => {
    const d = tlsDevice(`mqtts://localhost:${tls.port}`, { caFile: "ca.crt", certFile: "device.crt", keyFile: "device.key" });
    const ids = queue(d, 5, "mtls");
    const r = await d.runAsync(["upload", "--once"]);
    expect(r.out).toBe("sent 5, 0 left\n");
    expect(r.code).toBe(0);
    await sub.waitForIds(5);
    expect(ids.every((id) => sub.byId.has(id))).toBe(true);
    expect(sub.invalid).toEqual([]);
  }, 60_000);

  test.each([
    ["a CA that did not sign the broker's certificate", { caFile: "other-ca.crt", certFile: "device.crt", keyFile: "device.key" }, /Cannot connect to "mqtts:\/\/localhost:\d+": .*(self.signed|unable to verify|certificate)/i],
    ["no client certificate", { caFile: "ca.crt" }, /Cannot connect to "mqtts:\/\/localhost:\d+": /],
  ])("%s: refused, one line, entries kept", async (_, files, message) => {
    const d = tlsDevice(`mqtts://localhost:${tls.port}`, files);
    queue(d, 3, `refused-${Object.keys(files).length}`);
    const r = await d.runAsync(["upload", "--once"]);
    expect(r.code).toBe(1);
    expect(r.out).toMatch(message);
    expect(r.out.trim().split("\n")).toHaveLength(1);
    expect(listOutbox(d.outbox)).toHaveLength(3);
    const status = (await d.runAsync(["status"])).out;
    expect(status).toContain("3 pending");
    expect(status).toMatch(/last error .*Cannot connect to "mqtts:/);
  }, 60_000);

  test("the broker's name is checked: a certificate for another name is refused", async () => {
    sign(pki, "ca", "elsewhere", "elsewhere.example", "DNS:elsewhere.example");
    const other = await mosquitto({ extra: [`cafile ${pki}/ca.crt`, `certfile ${pki}/elsewhere.crt`, `keyfile ${pki}/elsewhere.key`, "require_certificate true", "use_identity_as_username true", "allow_anonymous false"].join("\n") });
    cleanups.push(() => other.kill9());
    await other.start();
    const d = tlsDevice(`mqtts://localhost:${other.port}`, { caFile: "ca.crt", certFile: "device.crt", keyFile: "device.key" });
    queue(d, 1, "name");
    const r = await d.runAsync(["upload", "--once"]);
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/Cannot connect to "mqtts:\/\/localhost:\d+": .*(altnames|hostname|does not match)/i);
    expect(listOutbox(d.outbox)).toHaveLength(1);
  }, 60_000);

  test("config check names a missing certificate file by its key path", () => {
    const d = tlsDevice(`mqtts://localhost:${tls.port}`, { caFile: "ca.crt", certFile: "device.crt", keyFile: "missing.key" });
    const r = d.run(["config", "check"]);
    expect(r.code).toBe(1);
    expect(r.err).toContain('upload.keyFile: no such file, got "/etc/crashkeep/tls/missing.key"');
    const up = d.run(["upload", "--once"]);
    expect(up.code).toBe(1);
    expect(up.err).toContain("upload.keyFile: no such file");
  });

  test("config check refuses a bad broker URL with its key path", () => {
    const d = device({});
    const cfg = JSON.parse(readFileSync(d.config, "utf8")) as { upload: Record<string, unknown> };
    writeFileSync(d.config, JSON.stringify({ ...cfg, upload: { ...cfg.upload, broker: "http://localhost:1883" } }));
    const r = d.run(["config", "check"]);
    expect(r.code).toBe(1);
    expect(r.err).toContain('upload.broker: must be "mqtt://host[:port]" or "mqtts://host[:port]", got "http://localhost:1883"');
  });
});

describe("user name and password", () => {
  test("a wrong password is refused (not authorized): one line in the output and in status, entries kept; the right one sends", async () => {
    const dir = tmp("passwd");
    sh(["mosquitto_passwd", "-b", "-c", `${dir}/passwd`, "device", "s3cret"], dir);
    const m = await mosquitto({ extra: `password_file ${dir}/passwd\nallow_anonymous false` });
    cleanups.push(() => m.kill9());
    await m.start();
    const d = device({ broker: `mqtt://127.0.0.1:${m.port}`, username: "device", passwordFile: "/etc/crashkeep/wrong" });
    mkdirSync(join(d.root, "etc/crashkeep"), { recursive: true });
    writeFileSync(join(d.root, "etc/crashkeep/wrong"), "nope\n");
    writeFileSync(join(d.root, "etc/crashkeep/right"), "s3cret\n");
    queue(d, 2, "auth");
    const r = await d.runAsync(["upload", "--once"]);
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/^sent 0, 2 left: Cannot connect to "mqtt:\/\/127\.0\.0\.1:\d+": Connection refused: Not authorized\n$/);
    expect((await d.runAsync(["status"])).out).toMatch(/last error .*Not authorized/);
    const cfg = JSON.parse(readFileSync(d.config, "utf8")) as { upload: Record<string, unknown> };
    cfg.upload.passwordFile = "/etc/crashkeep/right";
    writeFileSync(d.config, JSON.stringify(cfg));
    expect((await d.runAsync(["upload", "--once"])).out).toBe("sent 2, 0 left\n");
  }, 60_000);
});

describe("the collector over mqtts (--ca, --cert, --key)", () => {
  test("with the CA and its own certificate it subscribes and stores what a device sends over mutual TLS", async () => {
    const db = tmp("collect-tls");
    const c = await startCollector([
      "--broker", `mqtts://localhost:${tls.port}`, "--ca", `${pki}/ca.crt`, "--cert", `${pki}/collector.crt`, "--key", `${pki}/collector.key`,
      "--db", `sqlite://${db}/c.db`, "--client-id", "ck-tls-collector",
    ]);
    cleanups.push(() => c.stop());
    const d = tlsDevice(`mqtts://localhost:${tls.port}`, { caFile: "ca.crt", certFile: "device.crt", keyFile: "device.key" });
    queue(d, 3, "to-collector");
    expect((await d.runAsync(["upload", "--once"])).out).toBe("sent 3, 0 left\n");
    const h = await waitFor("the collector to store the 3 notes", async () => {
      const x = await api<{ messages: number; rejected: number }>(c.base, "/api/health");
      return x.messages >= 3 ? x : undefined;
    });
    expect({ messages: h.messages, rejected: h.rejected }).toEqual({ messages: 3, rejected: 0 });
    expect(await c.stop()).toBe(0);
  }, 60_000);

  test.each([
    ["no client certificate", ["--ca", "ca.crt"], /^Cannot connect to broker "mqtts:\/\/localhost:\d+": /m],
    ["a CA that did not sign the broker's certificate", ["--ca", "other-ca.crt", "--cert", "collector.crt", "--key", "collector.key"], /^Cannot connect to broker "mqtts:\/\/localhost:\d+": .*(self.signed|unable to verify|certificate)/im],
    ["a certificate without its key", ["--cert", "collector.crt"], /^crashkeep collect: --cert and --key go together/m],
    ["a key that is not PEM", ["--cert", "collector.crt", "--key", "collector.csr.txt"], /^Cannot use --key ".*collector\.csr\.txt": not a PEM file/m],
    ["a missing CA file", ["--ca", "missing.crt"], /^Cannot read --ca ".*missing\.crt": no such file$/m],
  ])("%s: one line, exit non-zero, without waiting for the connect timeout", async (_, files, message) => {
    writeFileSync(join(pki, "collector.csr.txt"), "not a key\n");
    const args = files.map((a) => (a.startsWith("--") ? a : join(pki, a)));
    const db = tmp("collect-tls-bad");
    const p = Bun.spawn([BINARY, "collect", "--listen", "127.0.0.1:0", "--broker", `mqtts://localhost:${tls.port}`, "--db", `sqlite://${db}/c.db`, ...args], { stdout: "pipe", stderr: "pipe", stdin: "ignore" });
    const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
    expect(code).not.toBe(0);
    expect(err).toMatch(message);
    // The connect timeout is 15 s: a refusal is said as soon as it comes (an event, not a duration, bounds this).
    expect(err).not.toContain("no answer within");
    expect(out).not.toContain("subscribed to");
  }, 60_000);
});

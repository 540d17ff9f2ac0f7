// The one config schema (zod v4): defaults plus validation, units in key
// names, sizes normalised to numbers once at load (STYLE.md rule 10).
// docs/config.schema.json is generated from this file (build/gen-schema.ts).
import { z } from "zod";
import { formatSize, hex, PAGE_BYTES, parseSize } from "./units.ts";

export { PAGE_BYTES };

const sizeInput = z.union([z.number(), z.string()]).describe('bytes: a number, or a string like "4096", "0x1000", "64ki", "8Mi"');

function size(opts: { min?: number; multipleOf?: number; powerOfTwo?: boolean; allowZero?: boolean } = {}) {
  return sizeInput.transform((raw, ctx): number => {
    const n = parseSize(raw);
    if (n === undefined) {
      ctx.addIssue({ code: "custom", message: 'must be a size such as 4096, "0x1000", "64ki" or "8Mi"' });
      return z.NEVER;
    }
    if (n === 0 && opts.allowZero) return n;
    if (n === 0) ctx.addIssue({ code: "custom", message: "must not be zero" });
    else if (opts.min !== undefined && n < opts.min) ctx.addIssue({ code: "custom", message: `must be at least ${formatSize(opts.min)}` });
    else if (opts.powerOfTwo && (n & (n - 1)) !== 0) ctx.addIssue({ code: "custom", message: "must be a power of two" });
    else if (opts.multipleOf !== undefined && n % opts.multipleOf !== 0) ctx.addIssue({ code: "custom", message: `must be a multiple of ${opts.multipleOf}` });
    return n;
  });
}

const address = sizeInput.transform((raw, ctx): number => {
  const n = parseSize(raw);
  if (n === undefined) {
    ctx.addIssue({ code: "custom", message: 'must be an address such as "0x7000000"' });
    return z.NEVER;
  }
  if (n % PAGE_BYTES !== 0) ctx.addIssue({ code: "custom", message: `must be aligned to ${PAGE_BYTES} bytes` });
  return n;
});

const seconds = z.number().int().min(1).max(3600);

const phram = z.strictObject({
  name: z.string().regex(/^[A-Za-z0-9_.-]{1,63}$/, "must be 1-63 characters of A-Z a-z 0-9 _ . -").prefault("crashkeep")
    .describe("MTD device name (phram.c: at most 63 characters); /dev/mtdchar/<name> links to it. A device-tree phram node's label wins"),
  address: address.prefault("0x7800000").describe("physical start address, in reserved RAM (x86: memmap=; arm64: a /reserved-memory node or above mem=)"),
  sizeBytes: size({ multipleOf: PAGE_BYTES }).prefault("8Mi").describe("length of the phram region"),
  eraseSizeBytes: size({ powerOfTwo: true, min: PAGE_BYTES }).prefault(PAGE_BYTES).describe("phram erasesize; sizeBytes must be a multiple"),
});

const ramoopsReasons = { panic: 1, oops: 2, emergency: 3, shutdown: 4 } as const;

const ramoops = z.strictObject({
  address: address.prefault("0x7000000").describe("physical start address (ramoops mem_address)"),
  sizeBytes: size({ multipleOf: PAGE_BYTES }).prefault("8Mi").describe("ramoops mem_size"),
  recordSizeBytes: size({ powerOfTwo: true, min: 4096 }).prefault("64ki").describe("one dmesg record (record_size); a power of two"),
  consoleSizeBytes: size({ powerOfTwo: true, allowZero: true }).prefault(0).describe("console_size; 0 = none (Debian kernels have PSTORE_CONSOLE off)"),
  pmsgSizeBytes: size({ powerOfTwo: true, allowZero: true }).prefault(0).describe("pmsg_size; 0 = none"),
  ftraceSizeBytes: size({ powerOfTwo: true, allowZero: true }).prefault(0).describe("ftrace_size; 0 = none"),
  eccBytes: z.number().int().min(0).max(255).prefault(0).describe("Reed-Solomon parity bytes per 128-byte block (ecc; 0 = off, 16 recommended)"),
  maxReason: z.enum(["panic", "oops", "emergency", "shutdown"]).prefault("oops")
    .transform((r) => ramoopsReasons[r]).describe("most verbose dump reason kept (max_reason): panic, oops, emergency or shutdown"),
  memType: z.union([z.literal(0), z.literal(1), z.literal(2)]).prefault(0).describe("mem_type: 0 write-combined, 1 non-cached, 2 cached"),
});

const modules = z.strictObject({
  dir: z.string().startsWith("/", "must be an absolute path").prefault("/lib/modules").describe("modules root; the running release is appended (uname -r)"),
  load: z.enum(["auto", "modprobe", "insmod", "none"]).prefault("auto")
    .describe("auto: modprobe when present, else insmod in modules.dep order; none: expect them loaded or built in"),
  deviceWaitSeconds: z.number().min(0).max(30).prefault(5).describe("how long init waits for /dev/mtdN to appear"),
});

const archive = z.strictObject({
  dir: z.string().startsWith("/", "must be an absolute path").prefault("/var/lib/crashkeep").describe("where collected boots are archived (persistent storage)"),
  maxBytes: size({ min: 65536 }).prefault("32Mi").describe("archive size cap; oldest entries go first"),
  maxEntries: z.number().int().min(1).max(10000).prefault(64).describe("archived boots kept"),
  minFreeBytes: size({ allowZero: true }).prefault("1Mi").describe("free space left on the archive's file system"),
});

const cores = z.strictObject({
  mode: z.enum(["watch", "pipe", "off"]).prefault("watch").describe("watch a core directory, be the core_pattern pipe handler, or leave core_pattern alone"),
  dir: z.string().startsWith("/", "must be an absolute path").prefault("/var/lib/crashkeep/cores").describe("core directory (watch mode) and saved cores (pipe mode)"),
  pattern: z.string().min(1).max(64).prefault("core.%e.%p.%t").describe("core file name pattern appended to dir in watch mode (core(5) specifiers)"),
  saveCores: z.boolean().prefault(false).describe("pipe mode: keep the core file (compressed), not just the report"),
  maxCores: z.number().int().min(0).max(1000).prefault(4).describe("core files kept"),
  maxCoreBytes: size({ min: 4096 }).prefault("64Mi").describe("largest core kept (pipe mode stops saving past it)"),
  maxTotalBytes: size({ min: 4096 }).prefault("128Mi").describe("all kept core files together"),
  reportsPerMinute: z.number().int().min(1).max(600).prefault(5).describe("reports per executable per minute; more become one 'suppressed N' record"),
});

const logFile = z.strictObject({
  path: z.string().startsWith("/", "must be an absolute path").describe("log file to mirror"),
  tailBytes: size({ multipleOf: 512, min: 4096 }).prefault("64ki").describe("how much of its end the journal keeps"),
});

const logs = z.strictObject({
  files: z.array(logFile).max(8).prefault([{ path: "/var/log/messages", tailBytes: 65536 }]).describe("logs whose tails survive a panic (at most 8)"),
  intervalSeconds: seconds.prefault(2).describe("how often the daemon mirrors new log bytes"),
});

const journal = z.strictObject({
  device: z.string().startsWith("/", "must be an absolute path").optional().describe("journal device; default /dev/mtdchar/<phram.name>"),
  slotSizeBytes: size({ powerOfTwo: true, min: 1024 }).prefault("16ki").describe("size of one report slot in the ring"),
});

const limits = z.strictObject({
  reportBytes: size({ min: 1024 }).prefault("4ki").describe("compact crash report kept in the journal"),
  framesPerThread: z.number().int().min(1).max(1024).prefault(64).describe("backtrace frames per thread"),
  threadsPerReport: z.number().int().min(1).max(1024).prefault(32).describe("threads unwound per report"),
  pstoreRecordBytes: size({ min: 4096 }).prefault("4Mi").describe("largest pstore record copied into the archive"),
});

/** mqtt://host[:port] or mqtts://host[:port]: nothing else (no path, no credentials in the URL). */
const brokerUrl = z.string().max(512).refine((raw) => {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return false;
  }
  return (url.protocol === "mqtt:" || url.protocol === "mqtts:") && url.hostname !== "" && url.username === "" && url.password === "" &&
    (url.pathname === "" || url.pathname === "/") && url.search === "" && url.hash === "";
}, 'must be "mqtt://host[:port]" or "mqtts://host[:port]"');

/** AWS IoT Core allows at most 7 slashes in a topic; <prefix>/<deviceId>/<kind> adds 2. */
const MAX_PREFIX_SLASHES = 5;
/** Brokers tried in order, at most: a cluster's nodes, not a list to scan. */
const MAX_BROKERS = 8;

const absolutePath = z.string().startsWith("/", "must be an absolute path");

const outbox = z.strictObject({
  maxEntries: z.number().int().min(1).max(100000).prefault(1000).describe("messages waiting at most; beyond it the oldest go first (boots last)"),
  maxBytes: size({ min: 65536 }).prefault("16Mi").describe("bytes of waiting messages at most"),
  maxAgeDays: z.number().min(1).max(3650).prefault(7).describe("a message older than this is dropped unsent"),
});

const upload = z.strictObject({
  broker: z.union([brokerUrl, z.array(brokerUrl).min(1).max(MAX_BROKERS)]).optional()
    .transform((b) => (b === undefined ? undefined : typeof b === "string" ? [b] : b))
    .describe("MQTT broker URL(s), tried in order (a cluster's nodes); unset = upload off"),
  topicPrefix: z.string().min(1).max(128)
    .refine((t) => !/[+#\u0000]/.test(t) && !t.startsWith("/") && !t.endsWith("/") && !t.includes("//"), "must be topic levels without +, # or empty levels")
    .refine((t) => t.split("/").length - 1 <= MAX_PREFIX_SLASHES, `must have at most ${MAX_PREFIX_SLASHES} slashes (AWS IoT: 7 in the whole topic)`)
    .prefault("crashkeep/v1").describe("topics are <topicPrefix>/<deviceId>/<boot|crash|note>"),
  deviceId: z.string().regex(/^[A-Za-z0-9_.:-]{1,128}$/, "must be 1-128 characters of A-Z a-z 0-9 _ . : -").optional()
    .describe("MQTT client id and topic level; default /etc/machine-id, else the hostname"),
  firmware: z.string().min(1).max(128).optional().describe("firmware version sent with every message; default VERSION_ID of /etc/os-release"),
  hardware: z.string().min(1).max(128).optional().describe("hardware name sent with every message; default the device-tree model"),
  caFile: absolutePath.optional().describe("PEM CA certificate(s) the broker's certificate must chain to (mqtts); default the system's"),
  certFile: absolutePath.optional().describe("PEM client certificate for mutual TLS (with keyFile; AWS IoT requires it)"),
  keyFile: absolutePath.optional().describe("PEM private key of certFile"),
  username: z.string().min(1).max(256).optional().describe("MQTT user name"),
  passwordFile: absolutePath.optional().describe("file holding the MQTT password (one line)"),
  maxMessageBytes: size({ min: 8192 }).prefault("100ki").describe("largest message; what does not fit is cut with a marker (AWS IoT takes 128 KB)"),
  delaySeconds: z.number().int().min(0).max(3600).prefault(10).describe("the daemon sends new entries after this (plus up to 50% jitter)"),
  minBackoffSeconds: z.number().int().min(1).max(3600).prefault(60).describe("first retry after a failed connection; doubles each time"),
  maxBackoffSeconds: z.number().int().min(1).max(86400).prefault(3600).describe("longest wait between retries"),
  connectTimeoutSeconds: z.number().int().min(1).max(300).prefault(30).describe("connect (TCP, TLS, CONNACK) timeout per broker"),
  ackTimeoutSeconds: z.number().int().min(1).max(600).prefault(30).describe("longest wait for a PUBACK before the connection is given up"),
  keepaliveSeconds: z.number().int().min(5).max(65535).prefault(60).describe("MQTT keep-alive"),
  inFlight: z.number().int().min(1).max(100).prefault(8).describe("unacknowledged publishes at most"),
  outbox: outbox.prefault({}),
});

/** A shell command line run with /bin/sh -c (the rollback backend's commands). */
const commandLine = z.string().min(1).max(1024);

/** Executables named at most in rollback.criticalExecutables. */
const MAX_CRITICAL_EXECUTABLES = 32;

const rollbackCommands = z.strictObject({
  bootedSlot: commandLine.describe("prints the name of the booted slot (one line), e.g. A"),
  primarySlot: commandLine.optional().describe("prints the slot the bootloader tries first (one line); without it a fallback by the bootloader's own counter is not reported"),
  markGood: commandLine.describe("marks the booted slot good: the bootloader stops counting its attempts"),
  markBadAndSwitch: commandLine.describe("marks the booted slot bad and makes the other slot the one the next boot uses"),
});

const rollback = z.strictObject({
  enabled: z.boolean().prefault(false).describe("decide whether a freshly updated slot is healthy and roll it back when it is not (docs/ROLLBACK.md)"),
  backend: z.enum(["rauc", "command"]).prefault("rauc").describe("rauc: the rauc command line (rauc status ...); command: rollback.commands"),
  probationSeconds: z.number().int().min(10).max(30 * 86400).prefault(600).describe("how long a new slot must run before it counts as good"),
  maxBadBoots: z.number().int().min(1).max(16).prefault(2).describe("bad boots of a slot on probation that trigger the rollback (keep it below the bootloader's attempt count)"),
  criticalExecutables: z.array(z.string().regex(/^[^/\u0000]{1,255}$/, "must be an executable name (no /)")).max(MAX_CRITICAL_EXECUTABLES).prefault([])
    .describe("executable names whose crash loop (cores.reportsPerMinute exceeded) makes a boot on probation bad"),
  rebootCommand: commandLine.prefault("reboot").describe("how crashkeep reboots cleanly after a rollback"),
  commands: rollbackCommands.optional().describe("the command backend's commands (SWUpdate, Mender, a home-grown updater)"),
});

/** Every section at once; a missing section or key takes its default. */
export const configSchema = z
  .strictObject({
    $schema: z.string().optional().describe("path or URL of config.schema.json, for editors"),
    phram: phram.prefault({}),
    ramoops: ramoops.prefault({}),
    modules: modules.prefault({}),
    archive: archive.prefault({}),
    cores: cores.prefault({}),
    logs: logs.prefault({}),
    journal: journal.prefault({}),
    limits: limits.prefault({}),
    upload: upload.prefault({}),
    rollback: rollback.prefault({}),
  })
  .superRefine((c, ctx) => {
    const p = { start: c.phram.address, end: c.phram.address + c.phram.sizeBytes };
    const r = { start: c.ramoops.address, end: c.ramoops.address + c.ramoops.sizeBytes };
    if (p.start < r.end && r.start < p.end) {
      ctx.addIssue({
        code: "custom",
        path: ["phram", "address"],
        message: `phram region ${hex(p.start)}-${hex(p.end - 1)} overlaps ramoops region ${hex(r.start)}-${hex(r.end - 1)}`,
      });
    }
    if (c.phram.sizeBytes % c.phram.eraseSizeBytes !== 0) {
      ctx.addIssue({ code: "custom", path: ["phram", "sizeBytes"], message: `must be a multiple of phram.eraseSizeBytes (${c.phram.eraseSizeBytes})` });
    }
    // ram.c ramoops_init_przs: every zone needs room for at least one record.
    const others = c.ramoops.consoleSizeBytes + c.ramoops.pmsgSizeBytes + c.ramoops.ftraceSizeBytes;
    if (others + c.ramoops.recordSizeBytes > c.ramoops.sizeBytes) {
      ctx.addIssue({
        code: "custom",
        path: ["ramoops", "sizeBytes"],
        message: `must hold one ${formatSize(c.ramoops.recordSizeBytes)} record plus console, pmsg and ftrace (${formatSize(others)})`,
      });
    }
    if ((c.upload.certFile === undefined) !== (c.upload.keyFile === undefined)) {
      ctx.addIssue({ code: "custom", path: ["upload", c.upload.certFile === undefined ? "certFile" : "keyFile"], message: "mutual TLS needs both upload.certFile and upload.keyFile" });
    }
    if (c.upload.minBackoffSeconds > c.upload.maxBackoffSeconds) {
      ctx.addIssue({ code: "custom", path: ["upload", "minBackoffSeconds"], message: `must not exceed upload.maxBackoffSeconds (${c.upload.maxBackoffSeconds})` });
    }
    if (c.upload.maxMessageBytes > 128000) {
      ctx.addIssue({ code: "custom", path: ["upload", "maxMessageBytes"], message: "must be at most 128000 (AWS IoT Core's limit)" });
    }
    if (c.rollback.backend === "command" && c.rollback.commands === undefined) {
      ctx.addIssue({ code: "custom", path: ["rollback", "commands"], message: 'rollback.backend "command" needs rollback.commands (bootedSlot, markGood, markBadAndSwitch)' });
    }
    const reserved = c.journal.slotSizeBytes * 4 + c.logs.files.reduce((sum, f) => sum + f.tailBytes, 0);
    if (reserved > c.phram.sizeBytes) {
      ctx.addIssue({
        code: "custom",
        path: ["logs", "files"],
        message: `log tails plus 4 report slots (${formatSize(reserved)}) do not fit in phram.sizeBytes (${formatSize(c.phram.sizeBytes)})`,
      });
    }
  });

export type ConfigInput = z.input<typeof configSchema>;
export type Config = z.output<typeof configSchema>;

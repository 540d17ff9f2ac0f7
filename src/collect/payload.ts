// The upload payload as the collector reads it. PROVISIONAL: the schema of
// record is src/upload/payload.ts (branch "upload"); until it lands this file
// holds the shape agreed in the issue, and is replaced by a re-export of that
// schema when it does (the collector must validate with the device's schema,
// not a twin of it).
import { z } from "zod";

export const PAYLOAD_SCHEMA = "crashkeep.upload/1";
export const DEFAULT_TOPIC_PREFIX = "crashkeep/v1";

const text = (max: number) => z.string().max(max);

const device = z.object({
  id: z.string().regex(/^[A-Za-z0-9_.:-]{1,128}$/),
  firmware: text(256),
  hardware: text(256).nullable().optional(),
  kernel: text(256).nullable().optional(),
  arch: text(32).nullable().optional(),
  crashkeepVersion: text(64).nullable().optional(),
});

const boot = z.object({
  reason: text(128),
  detail: text(4096).nullable().optional(),
  bootId: text(128).nullable().optional(),
  startedAt: text(64).nullable().optional(),
  endedAt: text(64).nullable().optional(),
  panicMessage: text(4096).nullable().optional(),
  panicLogEnd: text(65536).nullable().optional(),
  logTail: z.array(text(4096)).max(1000).optional(),
});

const crash = z.object({
  bootId: text(128).nullable().optional(),
  report: z.record(z.string(), z.unknown()).optional(),
  compact: z.union([text(8192), z.record(z.string(), z.unknown())]).optional(),
  logTail: z.array(text(4096)).max(1000).optional(),
});

const note = z.object({ text: text(4096), reason: text(128).nullable().optional(), bootId: text(128).nullable().optional() });

const common = {
  schema: z.literal(PAYLOAD_SCHEMA),
  id: z.string().regex(/^[A-Za-z0-9_.:-]{1,128}$/),
  time: z.iso.datetime({ offset: true }),
  device,
};

export const uploadPayloadSchema = z.discriminatedUnion("kind", [
  z.object({ ...common, kind: z.literal("boot"), boot }),
  z.object({ ...common, kind: z.literal("crash"), crash }),
  z.object({ ...common, kind: z.literal("note"), note }),
]);

export type UploadPayload = z.infer<typeof uploadPayloadSchema>;

/** `<prefix>/<deviceId>/<kind>`. */
export function topicFor(prefix: string, deviceId: string, kind: UploadPayload["kind"]): string {
  return `${prefix}/${deviceId}/${kind}`;
}

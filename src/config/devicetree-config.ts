// The device tree wins over the config: a ramoops or phram node under
// /reserved-memory is what the kernel binds (drivers/of/platform.c
// reserved_mem_matches), so its address, size and parameters are the ones in
// use. A config that says otherwise is reported once and overridden.
import type { Config } from "./schema.ts";
import { formatSize, hex, PAGE_BYTES } from "./units.ts";
import { dtPhram, dtRamoops, type DeviceTreeFacts, type DtPhram, type DtRamoops } from "../system/devicetree.ts";

/** phram.name's rule (schema.ts): the name becomes /dev/mtdchar/<name>, so a label is held to it too. */
const NAME_PATTERN = /^[A-Za-z0-9_.-]{1,63}$/;

export interface DtApplied {
  /** The config with the device tree's ramoops and phram values. */
  config: Config;
  ramoops: DtRamoops | undefined;
  phram: DtPhram | undefined;
  /** Where the config disagrees with the device tree, one line per region, each "..., ignoring". */
  notes: string[];
  /** Device-tree nodes that cannot be used, each "..., ignoring". */
  warnings: string[];
}

type Field = [key: string, configValue: number | string, dtValue: number | string, show: (v: number | string) => string];

const asHex = (v: number | string) => (typeof v === "number" ? hex(v) : v);
const asSize = (v: number | string) => (typeof v === "number" ? formatSize(v) : v);
const asIs = (v: number | string) => (typeof v === "number" ? String(v) : `"${v}"`);

function disagreement(section: string, path: string, fields: Field[]): string | undefined {
  const differ = fields.filter(([, c, d]) => c !== d);
  if (differ.length === 0) return undefined;
  const configText = differ.map(([k, c, , show]) => `${section}.${k} ${show(c)}`).join(", ");
  const dtText = differ.map(([, , d, show]) => show(d)).join(", ");
  return `config ${configText} ${differ.length === 1 ? "differs" : "differ"} from the device tree's ${path} (${dtText}), ignoring`;
}

function inRange<T extends number>(value: number, allowed: readonly T[]): value is T {
  return (allowed as readonly number[]).includes(value);
}

/** Apply the device tree's ramoops and phram nodes to the config (pure). */
export function applyDeviceTree(config: Config, facts: DeviceTreeFacts | undefined): DtApplied {
  const notes: string[] = [];
  const warnings: string[] = [];
  if (!facts) return { config, ramoops: undefined, phram: undefined, notes, warnings };
  let out: Config = config;

  const found = dtRamoops(facts);
  warnings.push(...found.warnings);
  // fs/pstore/ram.c ramoops_probe: only one ramoops can exist; the first node in tree order probes first.
  const ramoops = found.nodes[0];
  for (const extra of found.nodes.slice(1)) warnings.push(`Cannot use a second ramoops node ${extra.path}: only one ramoops exists (ramoops_probe), ignoring`);
  if (ramoops) {
    const c = config.ramoops;
    let maxReason = c.maxReason;
    if (inRange(ramoops.maxReason, [1, 2, 3, 4] as const)) maxReason = ramoops.maxReason;
    else warnings.push(`Cannot use max-reason ${ramoops.maxReason} of ${ramoops.path}: not 1-4, ignoring`);
    let memType = c.memType;
    if (inRange(ramoops.memType, [0, 1, 2] as const)) memType = ramoops.memType;
    else warnings.push(`Cannot use mem-type ${ramoops.memType} of ${ramoops.path}: not 0-2, ignoring`);
    const note = disagreement("ramoops", ramoops.path, [
      ["address", c.address, ramoops.address, asHex],
      ["sizeBytes", c.sizeBytes, ramoops.sizeBytes, asSize],
      ["recordSizeBytes", c.recordSizeBytes, ramoops.recordSizeBytes, asSize],
      ["consoleSizeBytes", c.consoleSizeBytes, ramoops.consoleSizeBytes, asSize],
      ["pmsgSizeBytes", c.pmsgSizeBytes, ramoops.pmsgSizeBytes, asSize],
      ["ftraceSizeBytes", c.ftraceSizeBytes, ramoops.ftraceSizeBytes, asSize],
      ["eccBytes", c.eccBytes, ramoops.eccBytes, asIs],
      ["maxReason", c.maxReason, maxReason, asIs],
      ["memType", c.memType, memType, asIs],
    ]);
    if (note) notes.push(note);
    out = {
      ...out,
      ramoops: {
        ...c,
        address: ramoops.address,
        sizeBytes: ramoops.sizeBytes,
        recordSizeBytes: ramoops.recordSizeBytes,
        consoleSizeBytes: ramoops.consoleSizeBytes,
        pmsgSizeBytes: ramoops.pmsgSizeBytes,
        ftraceSizeBytes: ramoops.ftraceSizeBytes,
        eccBytes: ramoops.eccBytes,
        maxReason,
        memType,
      },
    };
  }

  const candidates = dtPhram(facts).filter((p) => {
    if (NAME_PATTERN.test(p.name)) return true;
    warnings.push(`Cannot use ${p.path}: its MTD name "${p.name}" is not 1-63 characters of A-Z a-z 0-9 _ . -, ignoring`);
    return false;
  });
  // Several phram nodes: the one named like the config, else the first.
  const phram = candidates.find((p) => p.name === config.phram.name) ?? candidates[0];
  if (phram) {
    const c = config.phram;
    const note = disagreement("phram", phram.path, [
      ["name", c.name, phram.name, asIs],
      ["address", c.address, phram.address, asHex],
      ["sizeBytes", c.sizeBytes, phram.sizeBytes, asSize],
      // drivers/mtd/devices/phram.c phram_probe: erasesize is always PAGE_SIZE.
      ["eraseSizeBytes", c.eraseSizeBytes, PAGE_BYTES, asIs],
    ]);
    if (note) notes.push(note);
    out = { ...out, phram: { ...c, name: phram.name, address: phram.address, sizeBytes: phram.sizeBytes, eraseSizeBytes: PAGE_BYTES } };
  }
  return { config: out, ramoops, phram, notes, warnings };
}

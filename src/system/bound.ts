// Backends already bound before crashkeep runs: ramoops from a device-tree
// node (compatible = "ramoops") or an earlier modprobe, phram from a DT node
// or phram.phram= on the kernel command line. crashkeep then uses what is
// there instead of inserting modules over regions it did not choose.
import { readFileSync } from "node:fs";
import type { Paths } from "./paths.ts";

export interface BoundRamoops {
  memAddress: number;
  memSize: number;
  recordSize: number;
  /** pstore's active backend ("ramoops", "efi_pstore", ...) when known. */
  backend: string | undefined;
}

function param(paths: Paths, module: string, name: string): string | undefined {
  try {
    return readFileSync(paths.sys(`/sys/module/${module}/parameters/${name}`), "utf8").trim();
  } catch {
    return undefined;
  }
}

function num(text: string | undefined): number | undefined {
  if (text === undefined || text === "") return undefined;
  const n = Number(text);
  return Number.isSafeInteger(n) ? n : undefined;
}

/** ramoops' parameters as the kernel holds them (ram.c, mode 0400: root only); undefined when not bound. */
export function boundRamoops(paths: Paths): BoundRamoops | undefined {
  const memSize = num(param(paths, "ramoops", "mem_size"));
  if (memSize === undefined || memSize === 0) return undefined;
  return {
    memAddress: num(param(paths, "ramoops", "mem_address")) ?? 0,
    memSize,
    recordSize: num(param(paths, "ramoops", "record_size")) ?? 0,
    backend: param(paths, "pstore", "backend"),
  };
}

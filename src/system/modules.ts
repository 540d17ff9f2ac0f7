// Kernel modules: resolve dependencies from modules.dep, skip what is loaded
// (/proc/modules) or built in (modules.builtin), and insert the rest with
// modprobe when present or insmod in dependency order (BusyBox images often
// have only insmod). phram.c parse_num64 takes only ki/Mi/Gi suffixes, so
// every number passed is plain.
import { existsSync, readFileSync } from "node:fs";
import { basename } from "node:path";
import type { Config } from "../config/schema.ts";
import { hex } from "../config/units.ts";
import type { Paths } from "./paths.ts";

export const MODULE_COMMAND_TIMEOUT_MS = 20_000; // an insmod that takes longer is hung

export function moduleName(file: string): string {
  return basename(file).replace(/\.ko(\.(xz|gz|zst))?$/, "").replaceAll("-", "_");
}

/** modules.dep: "kernel/a/b.ko: kernel/c.ko kernel/d.ko" → name → {path, deps (direct and indirect, load order)}. */
export function parseModulesDep(text: string): Map<string, { path: string; deps: string[] }> {
  const map = new Map<string, { path: string; deps: string[] }>();
  for (const line of text.split("\n")) {
    const colon = line.indexOf(":");
    if (colon < 0) continue;
    const path = line.slice(0, colon).trim();
    const deps = line.slice(colon + 1).trim().split(/\s+/).filter(Boolean);
    map.set(moduleName(path), { path, deps });
  }
  return map;
}

export function parseBuiltin(text: string): Set<string> {
  return new Set(text.split("\n").filter(Boolean).map(moduleName));
}

/** Names in /proc/modules ("mtd 98304 1 phram, Live 0x0"). */
export function parseProcModules(text: string): Set<string> {
  return new Set(text.split("\n").map((l) => l.split(" ")[0] ?? "").filter(Boolean));
}

export function kernelRelease(paths: Paths): string {
  return readFileSync(paths.sys("/proc/sys/kernel/osrelease"), "utf8").trim();
}

export function phramParams(config: Config): string[] {
  const p = config.phram;
  const erase = p.eraseSizeBytes === 4096 ? "" : `,${p.eraseSizeBytes}`;
  return [`phram=${p.name},${hex(p.address)},${p.sizeBytes}${erase}`];
}

export function ramoopsParams(config: Config): string[] {
  const r = config.ramoops;
  return [
    `mem_address=${hex(r.address)}`,
    `mem_size=${r.sizeBytes}`,
    `record_size=${r.recordSizeBytes}`,
    `console_size=${r.consoleSizeBytes}`,
    `pmsg_size=${r.pmsgSizeBytes}`,
    `ftrace_size=${r.ftraceSizeBytes}`,
    `ecc=${r.eccBytes}`,
    `max_reason=${r.maxReason}`,
    `mem_type=${r.memType}`,
  ];
}

export type ModuleState = "loaded" | "builtin" | "load";

export interface ModuleStep {
  name: string;
  /** Absolute path of the .ko (under the root prefix). */
  file: string;
  params: string[];
  state: ModuleState;
}

export interface ModulePlan {
  release: string;
  dir: string;
  steps: ModuleStep[];
}

function readOr(path: string, fallback: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return fallback;
  }
}

/**
 * The steps that load `targets` (name → params) with their dependencies
 * first, each once. Throws naming the file looked for when a module is
 * neither built in nor present.
 */
export function planModules(targets: ReadonlyArray<[string, string[]]>, paths: Paths, modulesRoot: string): ModulePlan {
  const release = kernelRelease(paths);
  const dir = paths.sys(`${modulesRoot}/${release}`);
  const depFile = `${dir}/modules.dep`;
  const dep = parseModulesDep(readOr(depFile, ""));
  const builtin = parseBuiltin(readOr(`${dir}/modules.builtin`, ""));
  const loaded = parseProcModules(readOr(paths.sys("/proc/modules"), ""));
  const steps: ModuleStep[] = [];
  const seen = new Set<string>();
  const add = (name: string, params: string[]) => {
    if (seen.has(name)) return;
    seen.add(name);
    if (builtin.has(name)) {
      steps.push({ name, file: "", params, state: "builtin" });
      return;
    }
    const entry = dep.get(name);
    // Dependencies first; modules.dep already lists indirect ones too (depmod).
    for (const d of [...(entry?.deps ?? [])].reverse()) add(moduleName(d), []);
    const file = entry ? (entry.path.startsWith("/") ? paths.sys(entry.path) : `${dir}/${entry.path}`) : `${dir}/kernel/.../${name}.ko`;
    if (loaded.has(name)) {
      steps.push({ name, file, params, state: "loaded" });
      return;
    }
    if (!entry) throw new Error(`Cannot load module "${name}": not in "${depFile}" and not built in (modules.builtin)`);
    if (!existsSync(file)) throw new Error(`Cannot load module "${name}": "${file}" does not exist`);
    steps.push({ name, file, params, state: "load" });
  };
  for (const [name, params] of targets) add(name, params);
  return { release, dir, steps };
}

/** phram's module parameter: writing "name,start,size" adds a device to a loaded (or built-in) phram. */
export const PHRAM_SYSFS_PARAM = "/sys/module/phram/parameters/phram";

/** Find a program on PATH under the root prefix (modprobe, insmod, mount). */
export function findProgram(name: string, paths: Paths): string | undefined {
  const dirs = ["/sbin", "/usr/sbin", "/bin", "/usr/bin"];
  for (const d of dirs) {
    const p = paths.sys(`${d}/${name}`);
    if (existsSync(p)) return p;
  }
  return undefined;
}

export interface RunResult {
  code: number;
  output: string;
}

export function runProgram(argv: string[], timeoutMs = MODULE_COMMAND_TIMEOUT_MS): RunResult {
  const p = Bun.spawnSync(argv, { stdout: "pipe", stderr: "pipe", timeout: timeoutMs });
  const output = `${p.stdout.toString()}${p.stderr.toString()}`.trim();
  return { code: p.exitCode ?? (p.signalCode ? 128 : 1), output };
}

/** Insert what the plan says; returns one line per module for the console. */
export function executePlan(plan: ModulePlan, how: "auto" | "modprobe" | "insmod", paths: Paths): string[] {
  const modprobe = how === "insmod" ? undefined : findProgram("modprobe", paths);
  if (how === "modprobe" && !modprobe) throw new Error(`Cannot load modules: modules.load is "modprobe" but no modprobe was found`);
  const insmod = findProgram("insmod", paths);
  const lines: string[] = [];
  for (const step of plan.steps) {
    if (step.state === "loaded") {
      lines.push(`${step.name}: already loaded`);
      continue;
    }
    if (step.state === "builtin") {
      // A built-in phram takes devices at run time through its sysfs parameter (init's step 4).
      const atRunTime = step.name === "phram" && existsSync(paths.sys(PHRAM_SYSFS_PARAM));
      lines.push(
        step.params.length === 0
          ? `${step.name}: built in`
          : atRunTime
            ? `${step.name}: built in; its device is added through ${PHRAM_SYSFS_PARAM}`
            : `${step.name}: built in; its parameters must be on the kernel command line: ${step.params.map((p) => `${step.name}.${p}`).join(" ")}`,
      );
      continue;
    }
    const argv = modprobe ? [modprobe, step.name, ...step.params] : insmod ? [insmod, step.file, ...step.params] : undefined;
    if (!argv) throw new Error(`Cannot load module "${step.name}": neither modprobe nor insmod was found`);
    const r = runProgram(argv);
    if (r.code !== 0) throw new Error(`Cannot load module "${step.name}": ${basename(argv[0] as string)} exited with ${r.code}${r.output ? `: ${r.output.split("\n")[0]}` : ""}`);
    lines.push(`${step.name}: loaded${step.params.length ? ` (${step.params.join(" ")})` : ""}`);
  }
  return lines;
}

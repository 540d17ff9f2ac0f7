// The license files every release tarball carries (build/dist.ts), under the
// names the Buildroot package declares (CRASHKEEP_LICENSE_FILES): crashkeep's
// own LICENSE; the Bun runtime's notice (build/licenses/bun-runtime.md) with
// the license texts of what Bun links statically under the (L)GPL and Apache
// terms, from Debian's base-files (/usr/share/common-licenses); and the npm
// modules the program bundles, with their own license files.
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

const COMMON_LICENSES = "/usr/share/common-licenses";

/** Paths inside the tarball's directory, in CRASHKEEP_LICENSE_FILES order. */
export const LICENSE_FILES = [
  "LICENSE",
  "licenses/bun-runtime.md",
  "licenses/LGPL-2",
  "licenses/LGPL-2.1",
  "licenses/Apache-2.0",
  "licenses/npm-modules.txt",
] as const;

interface LockEntry {
  version?: string;
  license?: string;
  dev?: boolean;
  devOptional?: boolean;
  link?: boolean;
}

/**
 * The npm modules that can end up in the bundle: package-lock.json's
 * production packages, without the type-only @types/* and without links
 * (build/shims, crashkeep's own code).
 */
export function bundledModules(root: string): { name: string; dir: string; version: string; license: string }[] {
  const lock = JSON.parse(readFileSync(join(root, "package-lock.json"), "utf8")) as { packages: Record<string, LockEntry> };
  return Object.entries(lock.packages)
    .filter(([path, e]) => path.startsWith("node_modules/") && !e.dev && !e.devOptional && !e.link)
    .map(([path, e]) => ({ name: path.slice(path.lastIndexOf("node_modules/") + "node_modules/".length), dir: path, version: e.version ?? "", license: e.license ?? "" }))
    .filter((m) => !m.name.startsWith("@types/"))
    .sort((a, b) => (a.dir < b.dir ? -1 : 1));
}

function npmModulesText(root: string): string {
  const parts = ["npm modules bundled into the crashkeep program (package-lock.json), with their license files.\n"];
  for (const m of bundledModules(root)) {
    const dir = join(root, m.dir);
    const files = existsSync(dir) ? readdirSync(dir).filter((f) => /^(licen[cs]e|copying|notice)/i.test(f)).sort() : [];
    if (files.length === 0) throw new Error(`Cannot find a license file of "${m.name}": none in ${m.dir} (run npm ci)`);
    for (const f of files) parts.push(`${"=".repeat(78)}\n${m.name} ${m.version} (${m.license}): ${f}\n${"=".repeat(78)}\n${readFileSync(join(dir, f), "utf8").trimEnd()}\n`);
  }
  return parts.join("\n");
}

/** Writes LICENSE_FILES into stage (a tarball's directory). */
export function stageLicenses(root: string, stage: string): void {
  mkdirSync(join(stage, "licenses"), { recursive: true });
  copyFileSync(join(root, "LICENSE"), join(stage, "LICENSE"));
  copyFileSync(join(root, "build/licenses/bun-runtime.md"), join(stage, "licenses/bun-runtime.md"));
  for (const name of ["LGPL-2", "LGPL-2.1", "Apache-2.0"]) {
    const from = join(COMMON_LICENSES, name);
    if (!existsSync(from)) throw new Error(`Cannot read license text "${from}": missing (Debian's base-files has it)`);
    copyFileSync(from, join(stage, "licenses", name));
  }
  writeFileSync(join(stage, "licenses/npm-modules.txt"), npmModulesText(root));
}

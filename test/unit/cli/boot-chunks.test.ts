// The boot path loads only its own code (issue 24): the compiled executable
// is one ESM bundle split into chunks (build/compile.ts), and a chunk is
// loaded when something imports it statically; a require() or import() at
// the point of use is a chunk loaded only when that call runs. This test
// bundles src/main.ts the same way (without --compile and --minify, so each
// module keeps its "// path" comment) and follows the static imports from
// the chunk of `watch` (the one process per boot, `watch --init`) and of
// `init`: neither may reach zod, the config schema, MQTT or the upload
// payloads, which a boot without upload never needs, nor the core reader and
// report builder, which the daemon needs only at its first core.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { COMPILE_FLAGS } from "../../../build/compile.ts";

const ROOT = join(import.meta.dir, "../../..");
/** Modules the boot path must not load: each costs millions of instructions at start-up (docs/BENCHMARKS.md "boot"). */
const NOT_AT_BOOT = [
  /^node_modules\/zod\//, /^node_modules\/mqtt/, /^src\/config\/schema\.ts$/, /^src\/upload\/(payload|client|sender|outbox|flush)\.ts$/,
  // The core reader and report builder: required at the daemon's first core.
  /^src\/core\/(report|reader|unwind)\.ts$/, /^src\/demangle\//,
];

let out = "";
beforeAll(() => {
  out = mkdtempSync(join(tmpdir(), "crashkeep-chunks-"));
  const flags = COMPILE_FLAGS.filter((f) => f === "--format=esm" || f === "--splitting");
  expect(flags).toEqual(["--format=esm", "--splitting"]);
  const r = Bun.spawnSync([process.execPath, "build", "--target=bun", ...flags, "src/main.ts", "--outdir", out], { cwd: ROOT, stderr: "pipe" });
  if (r.exitCode !== 0) throw new Error(`Cannot bundle src/main.ts: ${r.stderr.toString()}`);
});
afterAll(() => {
  if (out) rmSync(out, { recursive: true, force: true });
});

/** The chunk that holds a module, by its "// path" comment. */
function chunkOf(module: string): string {
  const found = readdirSync(out).filter((f) => f.endsWith(".js") && readFileSync(join(out, f), "utf8").includes(`\n// ${module}\n`));
  if (found.length !== 1) throw new Error(`Cannot find one chunk holding ${module}: ${found.join(", ") || "none"}`);
  return found[0] as string;
}

/** The modules of a chunk and of every chunk it imports statically (import … from "./x.js", import "./x.js"). */
function staticModules(chunk: string): string[] {
  const seen = new Set<string>();
  const modules = new Set<string>();
  const visit = (name: string) => {
    if (seen.has(name)) return;
    seen.add(name);
    const text = readFileSync(join(out, name), "utf8");
    for (const m of text.matchAll(/^\/\/ ((?:src|node_modules|build)\/\S+)$/gm)) modules.add(m[1] as string);
    for (const m of text.matchAll(/^(?:import|export)\s*(?:[^;"]*?\sfrom\s*)?"\.\/([^"]+\.js)"/gm)) visit(m[1] as string);
  };
  visit(chunk);
  return [...modules].sort();
}

describe("the boot path's chunks", () => {
  test.each(["src/cli/watch.ts", "src/cli/init.ts"])("%s: its static imports reach init's work, and no zod, schema, MQTT, upload payloads or core reports", (entry) => {
    const modules = staticModules(chunkOf(entry));
    expect(modules).toContain(entry);
    expect(modules).toContain("src/boot/init.ts");
    expect(modules).toContain("src/config/load.ts");
    expect(modules.filter((m) => NOT_AT_BOOT.some((re) => re.test(m)))).toEqual([]);
  });

  test("upload's modules are chunks of their own, which watch requires only with upload on", () => {
    const watch = readFileSync(join(out, chunkOf("src/cli/watch.ts")), "utf8");
    const required = [...watch.matchAll(/require\("\.\/([^"]+\.js)"\)/g)].map((m) => m[1] as string);
    const reached = required.flatMap((chunk) => staticModules(chunk));
    expect(reached).toContain("src/upload/sender.ts");
    expect(reached).toContain("src/upload/client.ts");
    expect(reached.filter((m) => NOT_AT_BOOT.some((re) => re.test(m))).length).toBeGreaterThan(2);
  });
});

// `crashkeep copy` through the compiled binary: the in-kernel path
// (copy_file_range through bun:ffi, from the libc the process has loaded)
// and each fallback the kernel can force, byte-exact against `tail -c` /
// `head -c`. The fallbacks are real failures of the real syscalls, injected
// with strace (-e inject=SYSCALL:error=ERRNO); --json names the method used.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { file, needs, tool } from "../needs.ts";
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const BIN = process.env.CRASHKEEP_BIN ?? join(import.meta.dir, "../../out/crashkeep");
const MiB = 1024 * 1024;
const dir = mkdtempSync(join(tmpdir(), "crashkeep-copy-kernel-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const hasStrace = tool("strace");

// 20 MiB + 777 bytes of a non-repeating pattern: above KERNEL_COPY_MIN_BYTES (8 MiB), odd length.
const src = join(dir, "src.bin");
{
  const bytes = new Uint8Array(20 * MiB + 777);
  let x = 0x12345678;
  for (let i = 0; i < bytes.length; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    bytes[i] = x >>> 24;
  }
  writeFileSync(src, bytes);
}
const source = readFileSync(src);

interface CopyJson {
  method: string;
  fallbacks: string[];
  bytes: number;
  sourceOffset: number;
  writes: number;
}

function copy(args: string[], inject: string[] = []): CopyJson {
  const argv = inject.length > 0
    ? ["strace", "-f", "-o", "/dev/null", "-e", "trace=copy_file_range,sendfile", ...inject.flatMap((i) => ["-e", `inject=${i}`]), BIN, "copy", "--json", ...args]
    : [BIN, "copy", "--json", ...args];
  const p = Bun.spawnSync(argv, { stderr: "pipe" });
  if (p.exitCode !== 0) throw new Error(`crashkeep copy failed: ${p.stderr.toString()}`);
  return JSON.parse(p.stdout.toString()) as CopyJson;
}

const cases: Array<[string, string[], string, string[]]> = [
  ["in the kernel (copy_file_range)", [], "copy_file_range", []],
  ["copy_file_range refused (EXDEV): sendfile", ["copy_file_range:error=EXDEV"], "sendfile", ["copy_file_range: EXDEV"]],
  ["copy_file_range missing (ENOSYS): sendfile", ["copy_file_range:error=ENOSYS"], "sendfile", ["copy_file_range: ENOSYS"]],
  ["both refused (EXDEV, EINVAL): pread/pwrite", ["copy_file_range:error=EXDEV", "sendfile:error=EINVAL"], "pread/pwrite", ["copy_file_range: EXDEV", "sendfile: EINVAL"]],
  ["both unsupported (EOPNOTSUPP, ENOSYS): pread/pwrite", ["copy_file_range:error=EOPNOTSUPP", "sendfile:error=ENOSYS"], "pread/pwrite", ["copy_file_range: EOPNOTSUPP", "sendfile: ENOSYS"]],
];

const need = needs({ "out/crashkeep (make build)": file(BIN), "strace (make deps; the cases that inject faults)": hasStrace });

describe.skipIf(need.skip)(`crashkeep copy, compiled: kernel path and fallbacks${need.note}`, () => {
  beforeAll(() => need.check());
  test.each(cases)("%s: tail into a window at an offset, byte-exact", (_name, inject, method, fallbacks) => {
    const dest = join(dir, `dest-${method.replace("/", "-")}-${fallbacks.length}.bin`);
    writeFileSync(dest, new Uint8Array(16 * MiB).fill(0xaa));
    const offset = 4096 + 3;
    const window = 12 * MiB;
    const r = copy(["--tail", "--offset", String(offset), "--bytes", String(window), src, dest], inject);
    expect(r.method).toBe(method);
    expect(r.fallbacks).toEqual(fallbacks);
    expect(r.bytes).toBe(window);
    const out = readFileSync(dest);
    expect(out.length).toBe(16 * MiB);
    expect(Buffer.compare(out.subarray(offset, offset + window), source.subarray(source.length - window))).toBe(0);
    expect(out.subarray(0, offset).every((b) => b === 0xaa)).toBe(true);
    expect(out.subarray(offset + window).every((b) => b === 0xaa)).toBe(true);
  });

  test("a head copy with --pad: the kernel copies the data, pwrite the zeros", () => {
    const dest = join(dir, "dest-pad.bin");
    writeFileSync(dest, new Uint8Array(32 * MiB).fill(0x55));
    const r = copy(["--pad", "--bytes", String(24 * MiB), src, dest]);
    expect(r.method).toBe("copy_file_range");
    const out = readFileSync(dest);
    expect(Buffer.compare(out.subarray(0, source.length), source)).toBe(0);
    expect(out.subarray(source.length, 24 * MiB).every((b) => b === 0)).toBe(true);
    expect(out.subarray(24 * MiB).every((b) => b === 0x55)).toBe(true);
  });

  test("a new DEST file is created with exactly the window", () => {
    const dest = join(dir, "dest-new.bin");
    const r = copy(["--tail", "--bytes", String(10 * MiB), src, dest]);
    expect(r.method).toBe("copy_file_range");
    expect(statSync(dest).size).toBe(10 * MiB);
    expect(Buffer.compare(readFileSync(dest), source.subarray(source.length - 10 * MiB))).toBe(0);
  });

  test("a small copy stays on pread/pwrite (bun:ffi is not loaded for it)", () => {
    const dest = join(dir, "dest-small.bin");
    writeFileSync(dest, new Uint8Array(MiB));
    const r = copy(["--tail", src, dest]);
    expect(r.method).toBe("pread/pwrite");
    expect(r.fallbacks).toEqual([]);
    expect(Buffer.compare(readFileSync(dest), source.subarray(source.length - MiB))).toBe(0);
  });
});

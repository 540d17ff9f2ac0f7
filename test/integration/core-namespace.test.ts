// The pipe handler reads a crashed process's files from the process's own
// view (/proc/PID/root), then under its root prefix; the build-id decides.
// Two real processes in private mount namespaces, whose files the host root
// does not have at the same paths: a program compiled here that crashes and
// is held at its SIGSEGV by gdb, which writes its core (as the kernel keeps a
// crashed process while its pipe handler runs, core_pipe_limit); and a process
// whose namespace holds, at the paths a kernel-written fixture core names,
// that core's program. The compiled handler gets each core on stdin.
// Needs root (unshare, mount), gcc and gdb.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import type { Subprocess } from "bun";
import type { Report } from "../../src/core/report.ts";
import { makeFakeTree, type FakeTree } from "../unit/boot/fake-tree.ts";
import { fixtures, placeMappedFiles, FIXTURES as CORE_FIXTURES } from "../unit/core/fixtures.ts";
import { BINARY, tmp, waitFor } from "./brokers.ts";

const PROGRAM = join(import.meta.dir, "programs/contained.c");
const made: string[] = [];
afterAll(() => {
  for (const d of made) rmSync(d, { recursive: true, force: true });
});

/** A simulated device in pipe mode: journal, archive and kernel log inside its root. */
function deviceTree(): FakeTree {
  const tree = makeFakeTree();
  made.push(tree.root);
  tree.write("dev/phram", new Uint8Array(1 << 20));
  tree.write("dev/kmsg", "");
  tree.write("config.json", JSON.stringify({
    journal: { device: "/dev/phram" }, logs: { files: [] },
    cores: { mode: "pipe", dir: "/var/cores" }, archive: { dir: "/var/lib/crashkeep" },
  }));
  return tree;
}

/** `crashkeep core PID PID SIGNAL TIME EXE` with the core on stdin, as core_pattern runs it; the report it archived. */
function pipeHandler(tree: FakeTree, pid: number, exe: string, core: string): Report {
  const env = { PATH: process.env.PATH ?? "/usr/bin:/bin", CRASHKEEP_ROOT: tree.root, CRASHKEEP_CONFIG: join(tree.root, "config.json") };
  const clear = Bun.spawnSync([BINARY, "clear", "--yes"], { env });
  expect(clear.exitCode).toBe(0);
  const p = Bun.spawnSync([BINARY, "core", String(pid), String(pid), "11", "1764100000", exe.replaceAll("/", "!")], { env, stdin: Bun.file(core) });
  expect(p.stderr.toString()).toBe("");
  expect(p.exitCode).toBe(0);
  const reports = join(tree.root, "var/lib/crashkeep/reports");
  const [dir] = readdirSync(reports);
  return JSON.parse(readFileSync(join(reports, dir ?? "", "report.json"), "utf8")) as Report;
}

const frames = (r: Report) => (r.threads[0]?.frames ?? []).map((f) => f.symbol ?? f.module);

/** The device's simulated /proc/PID/root leads to the real process's, as /proc does on a device. */
function procOf(tree: FakeTree, pid: number): void {
  mkdirSync(join(tree.root, "proc", String(pid)), { recursive: true });
  symlinkSync(`/proc/${pid}/root`, join(tree.root, "proc", String(pid), "root"));
}

describe("a crash inside a private mount namespace (gdb holds the process, writes its core)", () => {
  let dir: string;
  let exe: string;
  let gdb: Subprocess<"ignore", "pipe", "pipe">;
  let pid: number;

  beforeAll(async () => {
    dir = tmp("namespace");
    made.push(dir);
    mkdirSync(join(dir, "build"));
    mkdirSync(join(dir, "app")); // on the host: an empty directory; in the namespace: a tmpfs holding the program
    exe = join(dir, "app/contained");
    const cc = Bun.spawnSync(["gcc", "-O1", "-fno-omit-frame-pointer", "-o", join(dir, "build/contained"), PROGRAM]);
    expect(cc.stderr.toString()).toBe("");
    // The namespace's script: its own tmpfs with the program, run under gdb; gdb stops it at its
    // SIGSEGV, writes its core, says "ready" and holds it until the test says "done".
    const script = `ulimit -c 0; mount -t tmpfs tmpfs "$1/app" && cp "$1/build/contained" "$1/app/" && exec gdb -nx -batch \
      -ex 'set debuginfod enabled off' -ex "run $1/pid" -ex "generate-core-file $1/core" \
      -ex "shell touch $1/ready; while [ ! -e $1/done ]; do sleep 0.05; done" -ex kill "$1/app/contained"`;
    gdb = Bun.spawn(["unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh", dir], { cwd: dir, stdin: "ignore", stdout: "pipe", stderr: "pipe" });
    await waitFor("gdb to hold the crashed program", () => existsSync(join(dir, "ready")) || gdb.exitCode !== null, 60_000);
    expect(gdb.exitCode).toBeNull();
    pid = Number(readFileSync(join(dir, "pid"), "utf8"));
  }, 90_000);

  afterAll(async () => {
    writeFileSync(join(dir, "done"), "");
    await gdb?.exited;
  });

  test("the process's files are not at the same paths in the host root", () => {
    expect(existsSync(exe)).toBe(false);
    expect(existsSync(`/proc/${pid}/root${exe}`)).toBe(true);
  });

  test("the handler reads the program through /proc/PID/root: the crashing function's name, the program's build-id", () => {
    const tree = deviceTree();
    procOf(tree, pid);
    const r = pipeHandler(tree, pid, exe, join(dir, "core"));
    expect(r.pid).toBe(pid);
    expect(r.signal.summary).toBe("SEGV_MAPERR at 0x10");
    // gdb writes the notes after the memory: the forward-only reader has passed the stack when it learns
    // the registers, so the report has frame 0 only (the kernel writes the notes first)
    expect(frames(r)[0]).toBe("contained_leaf");
    const built = Bun.spawnSync(["eu-readelf", "-n", join(dir, "build/contained")]).stdout.toString().match(/Build ID: ([0-9a-f]+)/)?.[1];
    expect(r.modules.find((m) => m.path === exe)).toMatchObject({ problem: null, buildId: built });
    expect(r.warnings.filter((w) => w.includes(exe))).toEqual([]);
  });

  test("without /proc/PID (the process gone): the path under the root prefix, where the program is not", () => {
    const r = pipeHandler(deviceTree(), pid, exe, join(dir, "core"));
    expect(frames(r)[0]).toBe(exe);
  });
});

describe("a kernel-written core; the live process's namespace holds its program at the path the core names", () => {
  const nested = fixtures().find((f) => f.arch === "x86_64" && f.name === "nested");
  if (!nested) throw new Error("no x86_64 core fixture \"nested\"");
  const EXE = "/opt/crashkeep-fixtures/x86_64/nested";
  let dir: string;
  let holder: Subprocess<"ignore", "pipe", "pipe">;

  beforeAll(async () => {
    dir = tmp("namespace-opt");
    made.push(dir);
    // a process in its own mount namespace with a tmpfs on /opt holding the program: the host's /opt is left alone
    const script = `mount -t tmpfs tmpfs /opt && mkdir -p "$(dirname "$2")" && cp "$1$2" "$2" && touch "$3/ready" && exec sleep 600`;
    holder = Bun.spawn(["unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh", nested.sysroot, EXE, dir], { stdin: "ignore", stdout: "pipe", stderr: "pipe" });
    await waitFor("the namespace's /opt", () => existsSync(join(dir, "ready")) || holder.exitCode !== null, 30_000);
    expect(holder.exitCode).toBeNull();
  });
  afterAll(async () => {
    holder?.kill();
    await holder?.exited;
  });

  test("the whole backtrace from the program's CFI and symbols, read through /proc/PID/root", () => {
    const tree = deviceTree();
    procOf(tree, holder.pid);
    // only the process's namespace has the program: not the device's root (and the machine's /opt is never looked at)
    expect(existsSync(join(tree.root, EXE))).toBe(false);
    const r = pipeHandler(tree, holder.pid, EXE, nested.core);
    expect(frames(r).slice(0, 4)).toEqual(["level3", "level2", "level1", "main"]);
    expect(r.modules.find((m) => m.path === EXE)?.problem).toBeNull();
  });
});

describe("a simulated device root", () => {
  const nested = fixtures().find((f) => f.arch === "x86_64" && f.name === "nested");
  if (!nested) throw new Error("no x86_64 core fixture \"nested\"");
  const EXE = "/opt/crashkeep-fixtures/x86_64/nested";
  const SYMBOLS = ["level3", "level2", "level1", "main"];

  test("the files the core names, under the device's root: its report has the program's symbols", () => {
    const tree = deviceTree();
    placeMappedFiles(join(CORE_FIXTURES, "x86_64/nested.files"), nested.sysroot, tree.root);
    expect(frames(pipeHandler(tree, 4242, EXE, nested.core)).slice(0, 4)).toEqual(SYMBOLS);
  });

  test("the device's root lacks them: module + offset, whatever the machine's own /opt holds", () => {
    const r = pipeHandler(deviceTree(), 4242, EXE, nested.core);
    expect(frames(r)[0]).toBe(EXE);
    expect(r.modules.find((m) => m.path === EXE)?.problem).toStartWith(`Cannot open module "`);
  });

  /** A device whose simulated /proc/4242/root is a container directory; the program's files placed in both. */
  function containerTree(): { tree: FakeTree; container: string } {
    const tree = deviceTree();
    const container = join(tree.root, "containers/app");
    placeMappedFiles(join(CORE_FIXTURES, "x86_64/nested.files"), nested!.sysroot, container);
    placeMappedFiles(join(CORE_FIXTURES, "x86_64/nested.files"), nested!.sysroot, tree.root);
    mkdirSync(join(tree.root, "proc/4242"), { recursive: true });
    symlinkSync(container, join(tree.root, "proc/4242/root"));
    return { tree, container };
  }

  test("the process's view first: a stripped copy (same build-id) under the root prefix is not read", () => {
    const { tree } = containerTree();
    expect(Bun.spawnSync(["strip", join(tree.root, EXE)]).exitCode).toBe(0);
    expect(frames(pipeHandler(tree, 4242, EXE, nested.core)).slice(0, 4)).toEqual(SYMBOLS);
  });

  test("the build-id decides: another program in the process's view, the program under the root prefix", () => {
    const { tree, container } = containerTree();
    writeFileSync(join(container, EXE), readFileSync(join(nested.sysroot, "/opt/crashkeep-fixtures/x86_64/abort")));
    const r = pipeHandler(tree, 4242, EXE, nested.core);
    expect(frames(r).slice(0, 4)).toEqual(SYMBOLS);
    expect(r.warnings.filter((w) => w.includes("build-id"))).toEqual([]);
  });
});

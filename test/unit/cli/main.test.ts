// The binary's contract, through the real entry point in a child process:
// exit codes 0/1/2, one clear line on stderr, --help and --version.
import { describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pkg from "../../../package.json" with { type: "json" };
import { COMMANDS } from "../../../src/cli/commands.ts";

const main = join(import.meta.dir, "../../../src/main.ts");

function crashkeep(...args: string[]) {
  const p = Bun.spawnSync([process.execPath, main, ...args], { env: { ...process.env, CRASHKEEP_CONFIG: "" } });
  return { code: p.exitCode, out: p.stdout.toString(), err: p.stderr.toString() };
}

describe("crashkeep", () => {
  test("--version prints the package version", () => {
    const r = crashkeep("--version");
    expect(r.code).toBe(0);
    expect(r.out).toStartWith(`crashkeep ${pkg.version}`);
  });

  test("--help lists the commands", () => {
    const r = crashkeep("--help");
    expect(r.code).toBe(0);
    for (const cmd of ["config", "copy", "dump", "clear"]) expect(r.out).toContain(`  ${cmd} `);
  });

  test("no command is bad usage", () => {
    expect(crashkeep().code).toBe(2);
  });

  test("an unknown command lists the valid ones, exit 2", () => {
    const r = crashkeep("frobnicate");
    expect(r.code).toBe(2);
    expect(r.err).toBe(`Unknown command "frobnicate"; valid commands: ${Object.keys(COMMANDS).join(", ")}\n`);
    expect(r.err).toContain("config, copy");
  });

  test.each(Object.keys(COMMANDS))("%s --help", (cmd) => {
    const r = crashkeep(cmd, "--help");
    expect(r.code).toBe(0);
    expect(r.out).toStartWith(`Usage: crashkeep ${cmd}`);
  });

  test("an unknown option is bad usage, exit 2", () => {
    const r = crashkeep("copy", "--frobnicate", "a", "b");
    expect(r.code).toBe(2);
    expect(r.err).toContain('Unknown option "--frobnicate"');
  });

  test("a failure is one line on stderr, exit 1", () => {
    const r = crashkeep("copy", "/nonexistent/src", "/tmp/x");
    expect(r.code).toBe(1);
    expect(r.err).toBe('Cannot read "/nonexistent/src": no such file\n');
  });
});

describe("config", () => {
  test("check names the memmap= the kernel needs", () => {
    const r = crashkeep("config", "check", join(import.meta.dir, "../../../rootfs-overlay/etc/crashkeep/config.json"));
    expect(r.code).toBe(0);
    expect(r.out).toContain("memmap=16M$0x7000000");
  });

  test("check --arch arm64 prints the /reserved-memory snippet and mem=, not memmap=", () => {
    const r = crashkeep("config", "check", "--arch", "aarch64", join(import.meta.dir, "../../../rootfs-overlay/etc/crashkeep/config.json"));
    expect(r.code).toBe(0);
    const lines = r.out.trim().split("\n");
    expect(lines[1]).toBe("device tree needs (arm64 has no memmap=), in the board's .dts:");
    expect(r.out).toContain('\t\tphram@7800000 {\n\t\t\tcompatible = "phram";\n\t\t\tlabel = "crashkeep";\n\t\t\treg = <0x0 0x7800000 0x0 0x800000>;\n\t\t\tno-map;\n\t\t};');
    expect(lines.at(-2)).toStartWith("or kernel command line needs: mem=");
    // x86's addresses: not RAM on QEMU virt, said (boards differ, so not refused).
    expect(lines.at(-1)).toStartWith("note: the regions start at 0x7000000, below 0x40000000 where the RAM of QEMU's virt machine starts");
    expect(r.out).not.toContain("memmap=16M");
  });

  test("check --arch x86_64 prints memmap=; an unknown --arch is bad usage", () => {
    expect(crashkeep("config", "check", "--arch", "x86_64").out).toContain("kernel command line needs: memmap=16M$0x7000000\n");
    const bad = crashkeep("config", "check", "--arch", "sparc");
    expect(bad.code).toBe(2);
    expect(bad.err).toStartWith('crashkeep config: Unknown architecture "sparc": use one of x86, x86_64, x64, amd64, arm64, aarch64');
  });

  test("check of a bad file prints one line per problem, exit 1", () => {
    const file = join(import.meta.dir, "../../fixtures/config/bad-zero.json");
    const r = crashkeep("config", "check", file);
    expect(r.code).toBe(1);
    expect(r.err.trim().split("\n")).toHaveLength(2);
  });

  test("show prints the effective config as JSON", () => {
    const r = crashkeep("config", "show", "--config", join(import.meta.dir, "../../fixtures/config/good-strings.json"));
    expect(r.code).toBe(0);
    expect(JSON.parse(r.out).phram.sizeBytes).toBe(1048576);
  });
});

describe("dump --raw and clear on a file-backed device", () => {
  test("dump writes the device's bytes; clear zeroes them", () => {
    const dir = mkdtempSync(join(tmpdir(), "crashkeep-raw-"));
    const dev = join(dir, "dev.bin");
    const bytes = new Uint8Array(3 * 4096 + 100).map((_, i) => (i * 31 + 7) & 0xff);
    writeFileSync(dev, bytes);
    const d = crashkeep("dump", "--raw", dev);
    expect(d.code).toBe(0);
    expect(Buffer.compare(Bun.spawnSync([process.execPath, main, "dump", "--raw", dev]).stdout, bytes)).toBe(0);
    const head = Bun.spawnSync([process.execPath, main, "dump", "--raw", "--device", dev, "--bytes", "4097"]).stdout;
    expect(Buffer.compare(head, bytes.subarray(0, 4097))).toBe(0);
    expect(crashkeep("clear", "--raw", dev).code).toBe(0);
    expect(readFileSync(dev).every((b) => b === 0)).toBe(true);
    expect(readFileSync(dev).length).toBe(bytes.length);
  });

  test("dump reads a zeroed device as not retained; clear formats it; note and shutdown show up in dump --json", () => {
    const dir = mkdtempSync(join(tmpdir(), "crashkeep-journal-"));
    const dev = join(dir, "phram.bin");
    writeFileSync(dev, new Uint8Array(1 << 20));
    const before = crashkeep("dump", "--device", dev);
    expect(before.code).toBe(0);
    expect(before.out).toContain("not retained");
    expect(JSON.parse(crashkeep("dump", "--json", dev).out).retained).toBe(false);
    expect(crashkeep("clear", dev).code).toBe(0);
    expect(crashkeep("note", "--device", dev, "--reason", "firmware-update", "flashing 2.1").code).toBe(0);
    expect(crashkeep("shutdown", "--device", dev).code).toBe(0);
    const d = JSON.parse(crashkeep("dump", "--json", "--device", dev).out);
    expect(d.retained).toBe(true);
    expect(d.control.notedReason.text).toBe("firmware-update");
    expect(d.control.cleanShutdown).not.toBeNull();
    expect(d.records.map((r: { kind: string; payload: { data: string } }) => [r.kind, r.payload.data])).toEqual([["note", "flashing 2.1"]]);
    expect(crashkeep("dump", "--bytes", "10", dev).code).toBe(2);
    const st = JSON.parse(crashkeep("status", "--json", "--device", dev).out) as { journal: { retained: boolean; records: number; uncollected: number; slots: number; freeSlots: number; lastWrite: string } };
    expect(st.journal).toMatchObject({ retained: true, records: 1, uncollected: 1 });
    expect(st.journal.freeSlots).toBe(st.journal.slots - 1);
    expect(Date.parse(st.journal.lastWrite)).toBeGreaterThan(Date.now() - 60_000);
    expect(crashkeep("status", "--device", dev).out).toMatch(/^journal: {2}1 record\(s\) \(1 not yet archived, 0 corrupt\), \d+ of \d+ slots free, boot 1, last write /m);
  });

});

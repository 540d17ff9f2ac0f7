// A fake system tree for the boot hook: /proc, /sys, /dev, /lib/modules and a
// fake insmod/modprobe/mount that do what the kernel would (update
// /proc/modules, create the phram MTD device, mount pstore) and log each call.
import { chmodSync, mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";

export const RELEASE = "6.1.0-99-amd64";

/** /proc/iomem of a QEMU x86_64 guest booted with memmap=16M$0x7000000 and -m 1G. */
export const IOMEM_RESERVED = `00000000-00000fff : Reserved
00001000-0009fbff : System RAM
0009fc00-0009ffff : Reserved
000a0000-000bffff : PCI Bus 0000:00
000f0000-000fffff : Reserved
  000f0000-000fffff : System ROM
00100000-06ffffff : System RAM
  01000000-01e02616 : Kernel code
07000000-07ffffff : Reserved
08000000-3ffdffff : System RAM
3ffe0000-3fffffff : Reserved
`;

export const IOMEM_NO_MEMMAP = `00000000-00000fff : Reserved
00001000-0009fbff : System RAM
00100000-3ffdffff : System RAM
  01000000-01e02616 : Kernel code
3ffe0000-3fffffff : Reserved
`;

export const MODULES_DEP = `kernel/drivers/mtd/mtd.ko:
kernel/drivers/mtd/devices/phram.ko: kernel/drivers/mtd/mtd.ko
kernel/lib/reed_solomon/reed_solomon.ko:
kernel/fs/pstore/ramoops.ko: kernel/lib/reed_solomon/reed_solomon.ko
kernel/fs/ext4/ext4.ko: kernel/fs/mbcache.ko kernel/fs/jbd2/jbd2.ko kernel/lib/crc16.ko
`;

export interface FakeTree {
  root: string;
  log: string;
  write(path: string, text: string | Uint8Array, mode?: number): void;
}

export interface FakeOptions {
  iomem?: string;
  builtin?: string[];
  loaded?: string[];
  tools?: Array<"insmod" | "modprobe">;
  /** Module names whose .ko file is left out. */
  missing?: string[];
  pstore?: Record<string, string | Uint8Array>;
  pstoreMounted?: boolean;
  /** /sys/firmware/fdt: the device tree the kernel booted with. */
  fdt?: Uint8Array;
  /** /proc/cmdline */
  cmdline?: string;
  /**
   * Device-tree nodes the fake kernel binds when the module is inserted with
   * no parameters (drivers/of/platform.c created their platform devices):
   * ramoops fills its module parameters, phram adds its /proc/mtd line.
   */
  dtBind?: {
    ramoops?: { device: string; address: number; size: number; recordSize: number };
    phram?: { device: string; name: string; size: number };
  };
}

export function makeFakeTree(options: FakeOptions = {}): FakeTree {
  const root = mkdtempSync(join(tmpdir(), "crashkeep-tree-"));
  const log = join(root, "calls.log");
  const write = (path: string, text: string | Uint8Array, mode?: number) => {
    const full = join(root, path);
    mkdirSync(dirname(full), { recursive: true });
    writeFileSync(full, text);
    if (mode !== undefined) chmodSync(full, mode);
  };
  write("proc/iomem", options.iomem ?? IOMEM_RESERVED);
  write("proc/sys/kernel/osrelease", `${RELEASE}\n`);
  write("proc/sys/kernel/random/boot_id", "11111111-1111-4111-8111-111111111111\n");
  write("proc/modules", (options.loaded ?? []).map((m) => `${m} 16384 0 - Live 0x0000000000000000\n`).join(""));
  write("proc/mtd", "dev:    size   erasesize  name\n");
  if (options.fdt) write("sys/firmware/fdt", options.fdt);
  if (options.cmdline !== undefined) write("proc/cmdline", `${options.cmdline}\n`);
  const bind = options.dtBind ?? {};
  if (bind.ramoops) {
    const r = bind.ramoops;
    mkdirSync(join(root, "sys/bus/platform/devices", r.device), { recursive: true });
    write("fake-dt/ramoops", `${r.device} ${r.address} ${r.size} ${r.recordSize}\n`);
  }
  if (bind.phram) {
    const p = bind.phram;
    mkdirSync(join(root, "sys/bus/platform/devices", p.device), { recursive: true });
    write("fake-dt/phram", `${p.device} ${p.size} mtd0: ${p.size.toString(16).padStart(8, "0")} 00001000 "${p.name}"\n`);
  }
  write("proc/mounts", `proc /proc proc rw 0 0\n${options.pstoreMounted ? "pstore /sys/fs/pstore pstore rw 0 0\n" : ""}`);
  write(`lib/modules/${RELEASE}/modules.dep`, MODULES_DEP);
  write(`lib/modules/${RELEASE}/modules.builtin`, (options.builtin ?? []).map((m) => `kernel/x/${m}.ko\n`).join(""));
  for (const line of MODULES_DEP.split("\n")) {
    const ko = line.split(":")[0];
    if (!ko) continue;
    const name = ko.split("/").pop()?.replace(".ko", "") ?? "";
    if (!(options.missing ?? []).includes(name)) write(`lib/modules/${RELEASE}/${ko}`, "\x7fELF fake module");
  }
  mkdirSync(join(root, "sys/fs/pstore"), { recursive: true });
  for (const [name, body] of Object.entries(options.pstore ?? {})) write(`sys/fs/pstore/${name}`, body);
  mkdirSync(join(root, "dev"), { recursive: true });
  // What the kernel does on insert: list the module; phram creates mtd0 and its node.
  const kernel = `
log() { echo "$*" >> '${log}'; }
insert() {
  name=$1; shift
  grep -q "^$name " '${root}/proc/modules' && { echo "$name: File exists" >&2; return 17; }
  echo "$name 16384 0 - Live 0x0" >> '${root}/proc/modules'
  if [ "$name" = ramoops ]; then
    mkdir -p '${root}/sys/module/ramoops/parameters'
    for p in "$@"; do echo "\${p#*=}" > "${root}/sys/module/ramoops/parameters/\${p%%=*}"; done
    if [ $# = 0 ] && [ -f '${root}/fake-dt/ramoops' ]; then
      read -r dev addr size rec < '${root}/fake-dt/ramoops'
      echo "$addr" > '${root}/sys/module/ramoops/parameters/mem_address'
      echo "$size" > '${root}/sys/module/ramoops/parameters/mem_size'
      echo "$rec" > '${root}/sys/module/ramoops/parameters/record_size'
      mkdir -p "${root}/sys/bus/platform/devices/$dev/driver"
    fi
  fi
  if [ "$name" = phram ] && [ $# = 0 ] && [ -f '${root}/fake-dt/phram' ]; then
    read -r dev bytes line < '${root}/fake-dt/phram'
    echo "$line" >> '${root}/proc/mtd'; truncate -s "$bytes" '${root}/dev/mtd0'
    mkdir -p "${root}/sys/bus/platform/devices/$dev/driver"
  fi
  if [ "$name" = phram ]; then
    for p in "$@"; do case "$p" in phram=*) v=\${p#phram=}; n=\${v%%,*};
      printf 'mtd0: 00800000 00001000 "%s"\\n' "$n" >> '${root}/proc/mtd'; truncate -s 8M '${root}/dev/mtd0';; esac; done
  fi
}
`;
  for (const tool of options.tools ?? ["insmod"]) {
    const body = tool === "insmod"
      ? `#!/bin/sh\n${kernel}\nlog insmod "$@"\nf=$1; shift; n=$(basename "$f" .ko)\ninsert "$n" "$@"\n`
      : `#!/bin/sh\n${kernel}\nlog modprobe "$@"\nn=$1; shift\ncase $n in phram) grep -q "^mtd " '${root}/proc/modules' || insert mtd;; ramoops) grep -q "^reed_solomon " '${root}/proc/modules' || insert reed_solomon;; esac\ngrep -q "^$n " '${root}/proc/modules' && exit 0\ninsert "$n" "$@"\n`;
    write(`sbin/${tool}`, body, 0o755);
  }
  write("bin/mount", `#!/bin/sh\necho "mount $*" >> '${log}'\necho "pstore /sys/fs/pstore pstore rw 0 0" >> '${root}/proc/mounts'\n`, 0o755);
  return { root, log, write };
}

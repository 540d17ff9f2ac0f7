#!/bin/bash
# Build phram.ko for Debian's arm64 kernel, out of tree: the kernel has
# CONFIG_MTD_PHRAM unset (reference: docs/AARCH64.md). The source is
# drivers/mtd/devices/phram.c from Debian's linux-source-6.1 (KERNEL=6.12:
# linux-source-6.12), built against the matching linux-headers-<KVER> with the
# cross compiler.
#
#   ARCH=arm64 build/fetch-debian.sh && build/phram-module.sh   # prints the .ko's path
#   ARCH=arm64 KERNEL=6.12 build/fetch-debian.sh && KERNEL=6.12 build/phram-module.sh
#
# Cached in out/cache/phram-<KVER>-<source version>/: rebuilt only when the
# kernel or the source package changes. Needs gcc-aarch64-linux-gnu, make.
set -euo pipefail

OUT=${OUT:-out}
KERNEL=${KERNEL:-6.1}
CACHE=$(cd "$OUT/cache" && pwd)

log() { printf 'phram-module: %s\n' "$*" >&2; }
die() { printf 'phram-module: %s\n' "$*" >&2; exit 1; }

case "$KERNEL" in 6.1 | 6.12) ;; *) die "KERNEL must be 6.1 or 6.12 (got \"$KERNEL\")" ;; esac
# fetch-debian.sh's names for this kernel series (6.1: plain, 6.12: "-6.12").
TAG=-arm64
[ "$KERNEL" = 6.1 ] || TAG="-arm64-$KERNEL"
KVER=$(cat "$CACHE/kernel-version$TAG") || die "Cannot read \"$CACHE/kernel-version$TAG\": run ARCH=arm64 KERNEL=$KERNEL build/fetch-debian.sh"
SRCDEB=$(cat "$CACHE/linux-source-deb$TAG")
HEADERS="$CACHE/root-kheaders$TAG/usr/src/linux-headers-$KVER"
COMMON="$CACHE/root-kheaders$TAG/usr/src/linux-headers-${KVER%-*}-common"
[ -f "$HEADERS/Makefile" ] || die "Cannot find the headers of \"$KVER\" in $HEADERS"
command -v aarch64-linux-gnu-gcc >/dev/null || die "Cannot find \"aarch64-linux-gnu-gcc\": apt-get install gcc-aarch64-linux-gnu"

# The source package's version names the build: linux-source-6.1_<version>_all.deb.
SRCVER=$(basename "$SRCDEB" .deb | cut -d_ -f2)
DIR="$CACHE/phram-$KVER-$SRCVER"
KO="$DIR/phram.ko"
if [ -f "$KO" ]; then
	echo "$KO"
	exit 0
fi

rm -rf "$DIR.tmp"
mkdir -p "$DIR.tmp"
log "extracting drivers/mtd/devices/phram.c from $(basename "$SRCDEB")"
# Streamed: the 140 MB tarball is never written out.
dpkg-deb --fsys-tarfile "$SRCDEB" | tar -xO "./usr/src/linux-source-$KERNEL.tar.xz" |
	tar -xJO "linux-source-$KERNEL/drivers/mtd/devices/phram.c" >"$DIR.tmp/phram.c"
[ -s "$DIR.tmp/phram.c" ] || die "Cannot find drivers/mtd/devices/phram.c in $SRCDEB"
echo 'obj-m := phram.o' >"$DIR.tmp/Kbuild"

# The headers' top Makefile includes the common part by its absolute path
# under /usr/src: point it at the unpacked copy.
# (A new file, not a rewrite: out/cache may be a hard-linked copy of another
# checkout's, whose file must keep pointing at its own tree.)
printf 'include %s/Makefile\n' "$COMMON" >"$HEADERS/Makefile.tmp"
mv "$HEADERS/Makefile.tmp" "$HEADERS/Makefile"

log "building phram.ko for $KVER"
# 6.12's headers ship a vmlinux for the modules' BTF, which needs pahole
# (dwarves); phram.ko loads without BTF, so its generation is switched off.
make -s -C "$HEADERS" M="$DIR.tmp" ARCH=arm64 CROSS_COMPILE=aarch64-linux-gnu- CONFIG_DEBUG_INFO_BTF_MODULES= modules >&2 ||
	die "Cannot build phram.ko against $HEADERS"
modinfo -F vermagic "$DIR.tmp/phram.ko" | grep -q "^$KVER " ||
	die "Cannot use the built phram.ko: vermagic \"$(modinfo -F vermagic "$DIR.tmp/phram.ko")\" is not $KVER"
rm -rf "$DIR"
mv "$DIR.tmp" "$DIR"
echo "$KO"

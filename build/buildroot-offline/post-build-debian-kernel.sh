#!/bin/bash
# BR2_ROOTFS_POST_BUILD_SCRIPT of the KERNEL=debian image: no kernel is built
# by Buildroot, so the target gets the modules of Debian's arm64 kernel that
# crashkeep and the QEMU machine need, with their dependencies, and phram.ko
# built out of tree (Debian's kernel has CONFIG_MTD_PHRAM unset). modules.dep
# is written by the host's depmod (Debian's kmod).
#   $1            TARGET_DIR (Buildroot)
#   DEBIAN_KROOT  the unpacked linux-image-<KVER>-arm64 (build/fetch-debian.sh),
#                 its modules.dep already written
#   PHRAM_KO      phram.ko for <KVER> (build/phram-module.sh)
#   MODULES       the modules to install, by name (their dependencies follow)
set -euo pipefail
TARGET_DIR=${1:?usage: post-build-debian-kernel.sh TARGET_DIR}
: "${DEBIAN_KROOT:?}" "${PHRAM_KO:?}" "${MODULES:?}"
die() { printf 'post-build-debian-kernel: %s\n' "$*" >&2; exit 1; }

KVER=$(ls "$DEBIAN_KROOT/lib/modules")
SRC=$DEBIAN_KROOT/lib/modules/$KVER
DST=$TARGET_DIR/lib/modules/$KVER
[ -s "$SRC/modules.dep" ] || die "Cannot find $SRC/modules.dep: run depmod -b $DEBIAN_KROOT $KVER"
rm -rf "$TARGET_DIR/lib/modules"
mkdir -p "$DST/updates"
cp "$SRC/modules.order" "$SRC/modules.builtin" "$SRC/modules.builtin.modinfo" "$DST/"
cp "$PHRAM_KO" "$DST/updates/phram.ko"
# modprobe --show-depends prints "insmod <path>" for a module and each of its
# dependencies, resolved in Debian's own tree.
for m in $MODULES; do
	[ "$m" = phram ] && continue
	/sbin/modprobe -d "$DEBIAN_KROOT" -S "$KVER" --show-depends "$m" | sed -n 's/^insmod \([^ ]*\).*/\1/p' ||
		die "Cannot resolve module \"$m\" in $SRC"
done | sort -u | while read -r ko; do
	rel=${ko#"$SRC"/}
	mkdir -p "$DST/$(dirname "$rel")"
	cp "$ko" "$DST/$rel"
done
/sbin/depmod -b "$TARGET_DIR" "$KVER"

#!/bin/bash
# The flash cost of crashkeep in a compressed read-only root: Debian's
# mksquashfs (squashfs-tools) over the Buildroot target tree, with and without
# the crashkeep package's files, xz and zstd. Prints one line per variant, in
# bytes and MiB, and the image's own figures (docs/FIRMWARE.md, "Buildroot").
#   build/buildroot-offline/flash-cost.sh [out/buildroot/output]
set -euo pipefail
O=${1:-out/buildroot/output}
TARGET="$O/target"
[ -x "$(command -v mksquashfs)" ] || { echo "flash-cost: Cannot find mksquashfs: apt-get install squashfs-tools" >&2; exit 1; }
[ -f "$TARGET/usr/bin/crashkeep" ] || { echo "flash-cost: Cannot find \"$TARGET/usr/bin/crashkeep\": run make buildroot-image" >&2; exit 1; }
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
mib() { awk -v b="$1" 'BEGIN { printf "%.1f MiB", b / 1048576 }'; }
# The package's files (Buildroot's per-package file list).
mapfile -t FILES < <(awk -F, '$1 == "crashkeep" { print $2 }' "$O/build/packages-file-list.txt" | sed 's|^\./||')
EXCLUDE=("${FILES[@]}")
pkg=0
for f in "${FILES[@]}"; do pkg=$((pkg + $(stat -c %s "$TARGET/$f"))); done
all=$(du -sb --apparent-size "$TARGET" | cut -f1)
echo "target tree: $(mib "$all") ($all bytes); crashkeep's files: $(mib "$pkg") ($pkg bytes, $(awk -v a="$pkg" -v b="$all" 'BEGIN { printf "%.1f", 100 * a / b }') %): ${FILES[*]}"
# Used blocks of the ext4 image (its size is BR2_TARGET_ROOTFS_EXT2_SIZE).
ext4=$(readlink -f "$O/images/rootfs.ext4")
used=$(/sbin/dumpe2fs -h "$ext4" 2>/dev/null | awk -F: '/^Block count/ { n = $2 } /^Free blocks/ { f = $2 } /^Block size/ { b = $2 } END { print (n - f) * b }')
echo "rootfs.ext4: $(mib "$(stat -c %s "$ext4")"), of which used $(mib "$used"); crashkeep's files are $(awk -v a="$pkg" -v b="$used" 'BEGIN { printf "%.1f", 100 * a / b }') % of the used space"
for comp in xz zstd; do
	mksquashfs "$TARGET" "$TMP/with.sqfs" -comp "$comp" -all-root -noappend -quiet -no-progress -processors 1 >/dev/null
	mksquashfs "$TARGET" "$TMP/without.sqfs" -comp "$comp" -all-root -noappend -quiet -no-progress -processors 1 -e "${EXCLUDE[@]}" >/dev/null
	w=$(stat -c %s "$TMP/with.sqfs") wo=$(stat -c %s "$TMP/without.sqfs")
	echo "squashfs $comp: with crashkeep $(mib "$w"), without $(mib "$wo"): crashkeep costs $(mib $((w - wo))) ($((w - wo)) bytes)"
done

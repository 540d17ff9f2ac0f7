#!/bin/bash
# Assemble the QEMU test image (docs/QEMU.md):
#   out/qemu/vmlinuz            Debian's kernel, as packaged
#   out/qemu/initrd.img         BusyBox init + module closure + out/crashkeep + rootfs-overlay/
#   out/qemu/data.pristine.img  a fresh ext4 file system for /var (template)
#   out/qemu/data.img           a copy of the template (the harness makes its own per scenario)
#
# Incremental: packages come from out/cache/ (build/fetch-debian.sh), test
# programs are recompiled only when their source is newer, and the initramfs is
# re-packed only when the hash of its staged tree changes.
#
# Environment:
#   OUT=out            output root
#   MODPROBE=none      "none": BusyBox insmod only, like a Buildroot image;
#                      "busybox": also the BusyBox modprobe applet (output
#                      goes to out/qemu-modprobe/ so both variants can coexist)
#   COMPRESS=none      initramfs compression: none or gzip (none boots faster under TCG)
#   BINARY=out/crashkeep  the compiled crashkeep binary (bun build --compile)
#
# Needs root (mknod /dev/console in the staged tree) and: cpio, mke2fs, gcc,
# dpkg-deb, apt-get (first run only).
set -euo pipefail

SELF=$(readlink -f "$0")
cd "$(dirname "$SELF")/.."
OUT=${OUT:-out}
MODPROBE=${MODPROBE:-none}
COMPRESS=${COMPRESS:-none}
BINARY=${BINARY:-$OUT/crashkeep}
CACHE="$OUT/cache"
case "$MODPROBE" in
none) DEST="$OUT/qemu" ;;
busybox) DEST="$OUT/qemu-modprobe" ;;
*) echo "make-image: MODPROBE must be none or busybox (got \"$MODPROBE\")" >&2; exit 2 ;;
esac
case "$COMPRESS" in none | gzip) ;; *) echo "make-image: COMPRESS must be none or gzip (got \"$COMPRESS\")" >&2; exit 2 ;; esac

# Size of the /var disk. Sparse, so the template costs little on the host.
DATA_SIZE=64M

# Modules the image needs, by name. Their dependencies come from modules.dep.
# crc32c_generic: ext4 and jbd2 declare "softdep pre: crypto-crc32c" (see
# modules.softdep), which insmod does not follow, and metadata_csum (a mke2fs
# default) needs it at mount time.
MODULES_DEVICE="mtd phram reed_solomon ramoops"
MODULES_DISK="virtio_pci virtio_blk crc32c_generic ext4"
# virtio_net: the upload scenario's NIC (QEMU user networking; loaded at boot with the disk modules).
MODULES_DISK="$MODULES_DISK virtio_net"

log() { printf 'make-image: %s\n' "$*" >&2; }
die() { printf 'make-image: %s\n' "$*" >&2; exit 1; }
now() { date +%s.%N; }
T0=$(now)

[ "$(id -u)" = 0 ] || die "Cannot build the image as uid $(id -u): mknod /dev/console needs root"
for tool in cpio mke2fs gcc; do
	command -v "$tool" >/dev/null 2>&1 || die "Cannot find \"$tool\": run make deps (apt packages in docs/QEMU.md)"
done
[ -x "$BINARY" ] || die "Cannot find \"$BINARY\": build it with make build (node_modules/.bin/bun build/compile.ts --outfile $BINARY)"

OUT="$OUT" build/fetch-debian.sh
KVER=$(cat "$CACHE/kernel-version")
KROOT="$CACHE/root-kernel"
KMODS="$KROOT/lib/modules/$KVER"
BUSYBOX="$CACHE/root-busybox-static/bin/busybox"
TOOLS="$CACHE/tools"

# depmod from the kmod package (kmod dispatches on argv[0]); the host's when
# the downloaded one cannot run here.
mkdir -p "$TOOLS"
ln -sfn "$(cd "$CACHE/root-kmod/bin" && pwd)/kmod" "$TOOLS/depmod"
DEPMOD="$TOOLS/depmod"
"$DEPMOD" --version >/dev/null 2>&1 || DEPMOD=$(command -v depmod) || die "Cannot run depmod from the kmod package or the host"

# modules.dep of the whole package, once per kernel.
if [ ! -s "$KMODS/modules.dep" ]; then
	log "depmod over the full module tree of $KVER"
	"$DEPMOD" -b "$KROOT" "$KVER"
fi

# Print the relative paths of the given modules and their dependencies,
# dependencies first (modules.dep lists the full transitive set of each module).
declare -A SEEN=()
closure() {
	local name path deps d
	for name in "$@"; do
		path=$(awk -v n="$name" -F: '{ f = $1; sub(/.*\//, "", f); sub(/\.ko(\.[a-z]+)?$/, "", f); gsub(/-/, "_", f) } f == n { print $1; exit }' "$KMODS/modules.dep")
		[ -n "$path" ] || die "Cannot find module \"$name\" in $KMODS/modules.dep"
		[ -z "${SEEN[$path]:-}" ] || continue
		deps=$(awk -v p="$path:" '$1 == p { $1 = ""; print; exit }' "$KMODS/modules.dep")
		# Dependencies of dependencies are listed too; load the last-listed first.
		for d in $(printf '%s\n' $deps | tac); do
			if [ -z "${SEEN[$d]:-}" ]; then
				SEEN[$d]=1
				echo "$d"
			fi
		done
		SEEN[$path]=1
		echo "$path"
	done
}

# Test programs: test/qemu/programs/*.c, static so they need no libraries.
mkdir -p "$OUT/qemu/programs"
PROGRAMS=()
for src in test/qemu/programs/*.c; do
	[ -e "$src" ] || continue
	bin="$OUT/qemu/programs/$(basename "$src" .c)"
	if [ ! -x "$bin" ] || [ "$src" -nt "$bin" ]; then
		log "gcc $src"
		gcc -O2 -g -Wall -Wextra -static -o "$bin.tmp" "$src"
		mv "$bin.tmp" "$bin"
	fi
	PROGRAMS+=("$bin")
done

# Stage the initramfs tree. Staging is cheap (hard links and small copies);
# packing is what the hash below lets us skip.
STAGE="$DEST/initramfs"
rm -rf "$STAGE"
mkdir -p "$STAGE"/{bin,sbin,usr/bin,usr/sbin,etc/init.d,proc,sys,dev,run,tmp,var,mnt,root,lib/modules/"$KVER"}
chmod 1777 "$STAGE/tmp"
mknod -m 600 "$STAGE/dev/console" c 5 1
mknod -m 666 "$STAGE/dev/null" c 1 3

# BusyBox and its applet links, at the paths its own --list-full gives. The
# link tree is made once per variant (hundreds of ln calls are slow) and
# copied into the stage.
BBTREE="$CACHE/busybox-tree-$MODPROBE"
BBSTAMP="$(basename "$(readlink -f "$BUSYBOX")") $(stat -c %Y "$BUSYBOX") $MODPROBE"
if [ "$(cat "$BBTREE.stamp" 2>/dev/null)" != "$BBSTAMP" ]; then
	rm -rf "$BBTREE"
	mkdir -p "$BBTREE"/{bin,sbin,usr/bin,usr/sbin}
	cp "$BUSYBOX" "$BBTREE/bin/busybox"
	EXCLUDE=" depmod modprobe "
	[ "$MODPROBE" = busybox ] && EXCLUDE=" depmod "
	while read -r applet; do
		case "$EXCLUDE" in *" ${applet##*/} "*) continue ;; esac
		[ "$applet" = bin/busybox ] && continue
		mkdir -p "$BBTREE/${applet%/*}"
		ln -s /bin/busybox "$BBTREE/$applet"
	done < <("$BUSYBOX" --list-full)
	echo "$BBSTAMP" >"$BBTREE.stamp"
fi
cp -a "$BBTREE/." "$STAGE/"
ln -s bin/busybox "$STAGE/init"

# Kernel modules in the layout modprobe/insmod expect, with modules.dep and
# modules.builtin regenerated for this subset by depmod.
mapfile -t MODS_DEVICE < <(closure $MODULES_DEVICE)
mapfile -t MODS_DISK < <(closure $MODULES_DISK)
for m in "${MODS_DEVICE[@]}" "${MODS_DISK[@]}"; do
	mkdir -p "$STAGE/lib/modules/$KVER/$(dirname "$m")"
	cp "$KMODS/$m" "$STAGE/lib/modules/$KVER/$m"
done
for f in modules.builtin modules.builtin.modinfo modules.order; do
	cp "$KMODS/$f" "$STAGE/lib/modules/$KVER/$f"
done
"$DEPMOD" -b "$STAGE" "$KVER"
# S01testimage loads the disk modules in this order (dependencies first).
printf '%s\n' "${MODS_DISK[@]}" >"$STAGE/etc/test-image-modules"

# The binary and the libraries it needs, at the paths ldd names.
mkdir -p "$STAGE/usr/bin"
ln "$BINARY" "$STAGE/usr/bin/crashkeep" 2>/dev/null || cp "$BINARY" "$STAGE/usr/bin/crashkeep"
while read -r lib; do
	mkdir -p "$STAGE$(dirname "$lib")"
	cp -L "$lib" "$STAGE$lib"
done < <(ldd "$BINARY" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }' | sort -u)

for bin in "${PROGRAMS[@]}"; do
	cp "$bin" "$STAGE/usr/bin/"
done

# The test image's own init files, then the product's overlay on top
# (S03crashkeep, /etc/crashkeep/config.json when main provides it).
cp -R build/test-image/. "$STAGE/"
if [ -d rootfs-overlay ]; then
	cp -R rootfs-overlay/. "$STAGE/"
fi
[ -f "$STAGE/etc/crashkeep/config.json" ] || log "rootfs-overlay/etc/crashkeep/config.json missing, image has no config"
chmod 755 "$STAGE"/etc/init.d/*
echo "$KVER" >"$STAGE/etc/test-image-kernel"

# Pack only when the staged tree differs from the one last packed.
HASH=$(cd "$STAGE" && {
	find . -printf '%p %y %m %U %G %l\n' | LC_ALL=C sort
	find . -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum
	echo "compress=$COMPRESS"
} | sha256sum | cut -d' ' -f1)
INITRD="$DEST/initrd.img"
if [ -f "$INITRD" ] && [ "$(cat "$DEST/initrd.hash" 2>/dev/null)" = "$HASH" ]; then
	log "initramfs unchanged"
else
	log "packing initramfs ($COMPRESS)"
	(cd "$STAGE" && find . -mindepth 1 | LC_ALL=C sort |
		cpio --quiet -o -H newc -R 0:0 --reproducible) >"$INITRD.tmp"
	if [ "$COMPRESS" = gzip ]; then
		gzip -1 -n -c "$INITRD.tmp" >"$INITRD.tmp.gz"
		mv "$INITRD.tmp.gz" "$INITRD.tmp"
	fi
	mv "$INITRD.tmp" "$INITRD"
	echo "$HASH" >"$DEST/initrd.hash"
fi

cp -u "$KROOT/boot/vmlinuz-$KVER" "$DEST/vmlinuz"

# The /var disk template: rebuilt when this script changes.
DATA_STAGE="$DEST/data-root"
DATA_HASH=$(sha256sum <"$SELF" | cut -d' ' -f1)
if [ ! -f "$DEST/data.pristine.img" ] || [ "$(cat "$DEST/data.hash" 2>/dev/null)" != "$DATA_HASH" ]; then
	log "making the /var disk template ($DATA_SIZE ext4)"
	rm -rf "$DATA_STAGE"
	mkdir -p "$DATA_STAGE"/{log,lib,tmp,cache,spool}
	chmod 1777 "$DATA_STAGE/tmp"
	ln -s ../run "$DATA_STAGE/run"
	ln -s ../run/lock "$DATA_STAGE/lock"
	rm -f "$DEST/data.pristine.img.tmp"
	mke2fs -q -t ext4 -L var -E root_owner=0:0 -d "$DATA_STAGE" "$DEST/data.pristine.img.tmp" "$DATA_SIZE" >/dev/null
	mv "$DEST/data.pristine.img.tmp" "$DEST/data.pristine.img"
	echo "$DATA_HASH" >"$DEST/data.hash"
fi
cp --sparse=always "$DEST/data.pristine.img" "$DEST/data.img"

log "$DEST: vmlinuz, initrd.img ($(du -h --apparent-size "$INITRD" | cut -f1)), data.img ready in $(awk -v a="$T0" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }') s"

#!/bin/bash
# Assemble the QEMU test image (docs/QEMU.md; arm64: docs/AARCH64.md):
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
#   ARCH=amd64         amd64 (out/qemu/) or arm64 (out/qemu-arm64/: Debian's
#                      arm64 kernel, phram.ko built out of tree by
#                      build/phram-module.sh, libc6:arm64 for Bun, the config
#                      of build/buildroot/board/qemu/aarch64-virt/)
#   KERNEL=6.1         the Debian kernel series: 6.1 (bookworm's) or 6.12
#                      (bookworm-security's linux-image-6.12-<arch>); 6.12
#                      goes to out/qemu-6.12/ (out/qemu-arm64-6.12/) so that
#                      both can coexist (docs/QEMU.md "Kernel versions")
#   OUT=out            output root
#   MODPROBE=none      "none": BusyBox insmod only, like a Buildroot image;
#                      "busybox": also the BusyBox modprobe applet (output
#                      goes to out/qemu-modprobe/ so both variants can coexist)
#   COMPRESS=none      initramfs compression: none or gzip (none boots faster under TCG)
#   BINARY=out/crashkeep  the compiled crashkeep binary (bun build --compile;
#                      out/arm64/crashkeep for ARCH=arm64)
# For an image built on top of this one (build/rollback-image.sh):
#   DEST=<dir>         the output folder instead of the one ARCH/KERNEL/MODPROBE name
#   EXTRA_MODULES="<name>..."  more modules loaded at boot with the disk modules
#   OVERLAYS="<dir>..."  trees copied over the image after rootfs-overlay/
#
# Needs root (mknod /dev/console in the staged tree) and: cpio, mke2fs, gcc,
# dpkg-deb, apt-get (first run only).
set -euo pipefail

SELF=$(readlink -f "$0")
cd "$(dirname "$SELF")/.."
OUT=${OUT:-out}
MODPROBE=${MODPROBE:-none}
COMPRESS=${COMPRESS:-none}
ARCH=${ARCH:-amd64}
KERNEL=${KERNEL:-6.1}
CACHE="$OUT/cache"
# Per architecture: the cache's names (fetch-debian.sh), the compiler, the
# binary, where the image goes, the serial console's tty.
case "$ARCH" in
amd64) SUFFIX="" CC=gcc BINARY=${BINARY:-$OUT/crashkeep} BASE="$OUT/qemu" TTY=ttyS0 ;;
arm64) SUFFIX="-arm64" CC=aarch64-linux-gnu-gcc BINARY=${BINARY:-$OUT/arm64/crashkeep} BASE="$OUT/qemu-arm64" TTY=ttyAMA0 ;;
*) echo "make-image: ARCH must be amd64 or arm64 (got \"$ARCH\")" >&2; exit 2 ;;
esac
# Per kernel series: fetch-debian.sh's cache names and the image's folder
# (6.1 keeps the plain names).
TAG=$SUFFIX
case "$KERNEL" in
6.1) ;;
6.12) TAG="$SUFFIX-$KERNEL" BASE="$BASE-$KERNEL" ;;
*) echo "make-image: KERNEL must be 6.1 or 6.12 (got \"$KERNEL\")" >&2; exit 2 ;;
esac
case "$MODPROBE" in
none) DEST=${DEST:-$BASE} ;;
busybox) DEST=${DEST:-$BASE-modprobe} ;;
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
MODULES_DISK="$MODULES_DISK virtio_net ${EXTRA_MODULES:-}"

log() { printf 'make-image: %s\n' "$*" >&2; }
die() { printf 'make-image: %s\n' "$*" >&2; exit 1; }
now() { date +%s.%N; }
T0=$(now)

[ "$(id -u)" = 0 ] || die "Cannot build the image as uid $(id -u): mknod /dev/console needs root"
for tool in cpio mke2fs "$CC"; do
	command -v "$tool" >/dev/null 2>&1 || die "Cannot find \"$tool\": run make deps (apt packages in docs/QEMU.md)"
done
[ -x "$BINARY" ] || die "Cannot find \"$BINARY\": build it with make build (node_modules/.bin/bun build/compile.ts --outfile $BINARY)"

OUT="$OUT" ARCH="$ARCH" KERNEL="$KERNEL" build/fetch-debian.sh
KVER=$(cat "$CACHE/kernel-version$TAG")
KROOT="$CACHE/root-kernel$TAG"
KMODS="$KROOT/lib/modules/$KVER"
BUSYBOX="$CACHE/root-busybox-static$SUFFIX/bin/busybox"
# The applet list comes from a BusyBox that runs here: the same package for
# the host's architecture (fetch-debian.sh), same version, same applets.
BUSYBOX_LIST="$CACHE/root-busybox-static/bin/busybox"
if [ "$ARCH" != amd64 ]; then
	[ "$(cut -d_ -f2 "$CACHE/root-busybox-static/.unpacked")" = "$(cut -d_ -f2 "$CACHE/root-busybox-static$SUFFIX/.unpacked")" ] ||
		die "Cannot list the applets of $(cat "$CACHE/root-busybox-static$SUFFIX/.unpacked"): the host's busybox-static is $(cat "$CACHE/root-busybox-static/.unpacked")"
fi
TOOLS="$CACHE/tools"

# depmod from the kmod package (kmod dispatches on argv[0]); the host's when
# the downloaded one cannot run here.
mkdir -p "$TOOLS"
ln -sfn "$(cd "$CACHE/root-kmod/bin" && pwd)/kmod" "$TOOLS/depmod"
DEPMOD="$TOOLS/depmod"
"$DEPMOD" --version >/dev/null 2>&1 || DEPMOD=$(command -v depmod) || die "Cannot run depmod from the kmod package or the host"

# Debian's arm64 kernel has no phram: the out-of-tree build goes into the
# module tree under updates/, where depmod finds it like any other module.
if [ "$ARCH" = arm64 ]; then
	PHRAM_KO=$(OUT="$OUT" KERNEL="$KERNEL" build/phram-module.sh)
	if ! cmp -s "$PHRAM_KO" "$KMODS/updates/phram.ko"; then
		mkdir -p "$KMODS/updates"
		cp "$PHRAM_KO" "$KMODS/updates/phram.ko"
		rm -f "$KMODS/modules.dep"
	fi
fi

# modules.dep of the whole package, once per kernel.
if [ ! -s "$KMODS/modules.dep" ]; then
	log "depmod over the full module tree of $KVER"
	"$DEPMOD" -b "$KROOT" "$KVER"
fi

# Print the relative paths of the given modules and their dependencies,
# dependencies first (modules.dep lists the full transitive set of each module).
# A module the kernel has built in is skipped (6.12 amd64: virtio_pci=y).
declare -A SEEN=()
closure() {
	local name path deps d
	for name in "$@"; do
		# (awk reads the whole list: grep -q closing a pipe early fails it under pipefail.)
		if awk -v n="$name" '{ f = $0; sub(/.*\//, "", f); sub(/\.ko$/, "", f); gsub(/-/, "_", f) } f == n { found = 1 } END { exit !found }' "$KMODS/modules.builtin"; then
			continue
		fi
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

# Test programs: test/qemu/programs/*.c, static so they need no libraries,
# except those whose source says "build: dynamic" (they use the libc the
# image ships for crashkeep, so their cores map shared libraries).
mkdir -p "$BASE/programs"
PROGRAMS=()
for src in test/qemu/programs/*.c; do
	[ -e "$src" ] || continue
	bin="$BASE/programs/$(basename "$src" .c)"
	if [ ! -x "$bin" ] || [ "$src" -nt "$bin" ] || [ "$SELF" -nt "$bin" ]; then
		link=-static
		grep -q 'build: dynamic' "$src" && link=-pthread
		log "$CC $src ($link)"
		"$CC" -O2 -g -fomit-frame-pointer -Wall -Wextra $link -o "$bin.tmp" "$src"
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
BBTREE="$CACHE/busybox-tree$SUFFIX-$MODPROBE"
BBSTAMP="$(cat "$(dirname "$BUSYBOX")/../.unpacked") $(stat -c %Y "$BUSYBOX") $MODPROBE"
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
	done < <("$BUSYBOX_LIST" --list-full)
	echo "$BBSTAMP" >"$BBTREE.stamp"
fi
cp -a "$BBTREE/." "$STAGE/"
ln -s bin/busybox "$STAGE/init"

# Kernel modules in the layout modprobe/insmod expect, with modules.dep and
# modules.builtin regenerated for this subset by depmod.
# (Command substitutions, not <(...): a module that cannot be found stops the build.)
MODS_TEXT=$(closure $MODULES_DEVICE)
mapfile -t MODS_DEVICE <<<"$MODS_TEXT"
MODS_TEXT=$(closure $MODULES_DISK)
mapfile -t MODS_DISK <<<"$MODS_TEXT"
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

# The binary and the libraries it needs: on amd64 at the paths ldd names;
# on arm64 (no ldd for a foreign binary) its interpreter and DT_NEEDED
# libraries, from libc6:arm64, at the paths Debian installs them.
mkdir -p "$STAGE/usr/bin"
ln "$BINARY" "$STAGE/usr/bin/crashkeep" 2>/dev/null || cp "$BINARY" "$STAGE/usr/bin/crashkeep"
if [ "$ARCH" = amd64 ]; then
	while read -r lib; do
		mkdir -p "$STAGE$(dirname "$lib")"
		cp -L "$lib" "$STAGE$lib"
	done < <(ldd "$BINARY" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }' | sort -u)
else
	LIBC="$CACHE/root-libc6$SUFFIX"
	LIBDIR=/lib/aarch64-linux-gnu
	interp=$(readelf -l "$BINARY" | sed -n 's/.*\[Requesting program interpreter: \(.*\)\]/\1/p')
	[ -e "$LIBC$interp" ] || die "Cannot find the interpreter \"$interp\" of $BINARY in libc6:arm64"
	mkdir -p "$STAGE$(dirname "$interp")" "$STAGE$LIBDIR"
	cp -L "$LIBC$interp" "$STAGE$interp"
	for lib in $(readelf -d "$BINARY" "${PROGRAMS[@]}" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' | sort -u); do
		[ -e "$LIBC$LIBDIR/$lib" ] || die "Cannot find \"$lib\" (needed by $BINARY) in libc6:arm64"
		cp -L "$LIBC$LIBDIR/$lib" "$STAGE$LIBDIR/$lib"
	done
fi

for bin in "${PROGRAMS[@]}"; do
	cp "$bin" "$STAGE/usr/bin/"
done

# The test image's own init files, then the product's overlay on top
# (S03crashkeep, /etc/crashkeep/config.json when main provides it).
cp -R build/test-image/. "$STAGE/"
if [ -d rootfs-overlay ]; then
	cp -R rootfs-overlay/. "$STAGE/"
fi
# The serial console's name differs per machine (PL011 on QEMU virt).
[ "$TTY" = ttyS0 ] || sed -i "s/ttyS0/$TTY/g" "$STAGE/etc/inittab"
# arm64: the board's config (regions at the top of the virt machine's
# 512 MiB, build/buildroot/board/qemu/aarch64-virt/readme.txt), as the
# Buildroot defconfig installs it over the package's x86 default.
if [ "$ARCH" = arm64 ]; then
	cp -R build/buildroot/board/qemu/aarch64-virt/rootfs-overlay/. "$STAGE/"
fi
# An image built on top of this one adds its own trees last.
for overlay in ${OVERLAYS:-}; do
	cp -a "$overlay/." "$STAGE/"
done
# The device modules in load order, for the test image's stand-in of a
# board's modalias coldplug (S01testimage, crashkeep_test.coldplug=1).
printf '%s\n' "${MODS_DEVICE[@]}" >"$STAGE/etc/test-image-device-modules"
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

# The machine the image is for (the harness checks it).
echo "$ARCH" >"$DEST/arch"

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

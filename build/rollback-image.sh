#!/bin/bash
# Assemble the rollback proof's image (docs/ROLLBACK-QEMU.md) in out/qemu-rollback/:
#   flash0.img            Debian's U-Boot for QEMU virt (u-boot-qemu, qemu_arm64), padded to 64 MiB
#   flash1.pristine.img   the second pflash bank (64 MiB, empty: QEMU virt wants both)
#   disk.pristine.img     MBR disk: 1 boot (FAT: boot.scr and uboot.env, bootable), 2 slot A,
#                         3 slot B, 4 data (/var)
#   bundles.img           ext4 holding the signed RAUC bundles (fw-<version>.raucb)
#   pki/                  the test CA (ca.cert.pem: the firmware's keyring) and the signing key
#   fw-<version>/         each firmware: make-image.sh's output (initramfs/, initrd.img) and
#                         slot.ext4 (/boot/Image, /boot/initrd.img, /etc/os-release)
#   initramfs             link to the factory firmware's staged tree (the harness reads its config)
#
# Firmware variants, each the arm64 test image (build/make-image.sh with DEST,
# EXTRA_KOS, EXTRA_MODULES, OVERLAYS) plus build/rollback-image/common/ and its own tree:
#   1.0              factory firmware, in both slots of the pristine disk
#   2.0              a good update
#   2.1-panic        the kernel panics 40 s after init reaches S50, every boot
#   2.2-crashloop    the critical daemon sensord crashes at once, respawned every second
#   2.3-early-panic  the kernel panics in S00, before crashkeep (S03) runs, every boot
#
# The boot state (BOOT_ORDER, BOOT_A_LEFT, BOOT_B_LEFT) lives in uboot.env on the
# FAT boot partition, a U-Boot binary environment with its CRC: the boot script
# imports and saves it (fatwrite), RAUC's uboot backend reads and writes it with
# fw_printenv/fw_setenv (/etc/fw_env.config). Not in the second pflash bank:
# QEMU 7.2's pflash drops U-Boot's buffered writes (docs/ROLLBACK-QEMU.md).
#
# The guest's extra parts: RAUC 1.8, dbus-daemon and libubootenv-tool from
# Debian's arm64 packages with their shared-library closure; vfat (the boot
# partition), loop and squashfs (RAUC mounts a plain bundle). Signed bundles are made here with the
# host's rauc (Debian's amd64 package) and the test CA, made with openssl when
# pki/ is missing.
#
# Incremental like make-image.sh: each firmware is re-packed only when its tree
# changes; slot images, bundles and the disk only when an input is newer.
# Needs root (make-image.sh), rauc, mkimage and mkenvimage (u-boot-tools),
# u-boot-qemu, openssl, sfdisk (fdisk), mke2fs, mksquashfs, mkfs.vfat
# (dosfstools), mcopy (mtools).
set -euo pipefail

SELF=$(readlink -f "$0")
cd "$(dirname "$SELF")/.."
OUT=${OUT:-out}
DEST="$OUT/qemu-rollback"
CACHE="$OUT/cache"
SRC=build/rollback-image
BINARY=${BINARY:-$OUT/arm64/crashkeep}
UBOOT=/usr/lib/u-boot/qemu_arm64/u-boot.bin

# Partition sizes (MiB): a slot holds the kernel (33 MB) and the gzip'd
# initramfs (about 71 MB, most of it crashkeep's executable).
BOOT_MIB=16
SLOT_MIB=160
DATA_MIB=64
# The RAUC compatible string: system.conf and every bundle's manifest.
COMPATIBLE=crashkeep-qemu-aarch64
FIRMWARES="1.0 2.0 2.1-panic 2.2-crashloop 2.3-early-panic"
# Which bundles to make (the factory firmware is on the disk already).
BUNDLES="2.0 2.1-panic 2.2-crashloop 2.3-early-panic"

# Debian's arm64 packages of the guest's RAUC, D-Bus and fw_printenv, and
# their shared-library closure (checked below: a missing library stops the build).
PACKAGES="rauc rauc-service:all libubootenv-tool libubootenv0.1 dbus-daemon dbus-bin libdbus-1-3
	libexpat1 libsystemd0 libapparmor1 libaudit1 libcap-ng0 libselinux1 libpcre2-8-0 libglib2.0-0
	libjson-glib-1.0-0 libcurl3-gnutls libfdisk1 libssl3 libblkid1 libuuid1 libmount1 libffi8 zlib1g
	libgnutls30 libnettle8 libhogweed6 libgmp10 libidn2-0 libunistring2 libp11-kit0 libtasn1-6
	libbrotli1 libgssapi-krb5-2 libkrb5-3 libk5crypto3 libkrb5support0 libkeyutils1 libcom-err2
	libldap-2.5-0 libsasl2-2 libnghttp2-14 libpsl5 librtmp1 libssh2-1 libzstd1 liblzma5 liblz4-1
	libgcrypt20 libgpg-error0 libcap2"
# Executables taken from those packages.
EXECUTABLES="usr/bin/rauc usr/bin/fw_printenv usr/bin/fw_setenv usr/bin/dbus-daemon usr/bin/dbus-send usr/bin/dbus-uuidgen"
# Modules loaded at boot besides the test image's: the FAT boot partition
# (code page 437 and the ascii I/O charset are Debian's FAT defaults) and what RAUC
# needs to mount a plain bundle.
MODULES="vfat nls_cp437 nls_ascii loop squashfs"
# U-Boot's environment file: its size (fw_env.config says the same) and the
# boot state of a new device: slot A first, 3 attempts each (RAUC's default).
ENV_SIZE=0x4000

log() { printf 'rollback-image: %s\n' "$*" >&2; }
die() { printf 'rollback-image: %s\n' "$*" >&2; exit 1; }
now() { date +%s.%N; }
T0=$(now)
for tool in rauc mkimage mkenvimage openssl sfdisk mke2fs mksquashfs mkfs.vfat mcopy; do
	command -v "$tool" >/dev/null 2>&1 || die "Cannot find \"$tool\": run make deps"
done
[ -f "$UBOOT" ] || die "Cannot find \"$UBOOT\": run make deps (u-boot-qemu)"

mkdir -p "$DEST"
OUT="$OUT" ARCH=arm64 EXTRA_NAME=rollback EXTRA_PACKAGES="$PACKAGES" build/fetch-debian.sh
ROOT="$CACHE/root-rollback-arm64"
LIBC="$CACHE/root-libc6-arm64"

# The common tree: the files of build/rollback-image/common/, the executables
# and their libraries, RAUC's D-Bus policy, the keyring.
COMMON="$DEST/common"
rm -rf "$COMMON"
mkdir -p "$COMMON"
cp -a "$SRC/common/." "$COMMON/"
mkdir -p "$COMMON/usr/share/dbus-1/system.d"
cp "$ROOT/usr/share/dbus-1/system.d/de.pengutronix.rauc.conf" "$COMMON/usr/share/dbus-1/system.d/"
for exe in $EXECUTABLES; do
	mkdir -p "$COMMON/$(dirname "$exe")"
	cp -L "$ROOT/$exe" "$COMMON/$exe"
done
# NEEDED closure: libraries from the packages above, else libc6:arm64's.
declare -A HAVE=()
pending=$(for exe in $EXECUTABLES; do echo "$ROOT/$exe"; done)
while [ -n "$pending" ]; do
	next=""
	# shellcheck disable=SC2086 # one argument per file
	for lib in $(readelf -d $pending | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' | sort -u); do
		[ -z "${HAVE[$lib]:-}" ] || continue
		HAVE[$lib]=1
		# libc's own libraries are in the image already (make-image.sh copies those crashkeep needs).
		found=""
		for dir in "$ROOT/usr/lib/aarch64-linux-gnu" "$ROOT/lib/aarch64-linux-gnu" "$LIBC/lib/aarch64-linux-gnu" "$LIBC/usr/lib/aarch64-linux-gnu"; do
			if [ -e "$dir/$lib" ]; then found="$dir/$lib"; break; fi
		done
		[ -n "$found" ] || die "Cannot find \"$lib\" (needed by the rollback image's executables) in the fetched arm64 packages: add its package to PACKAGES"
		mkdir -p "$COMMON/lib/aarch64-linux-gnu"
		cp -L "$found" "$COMMON/lib/aarch64-linux-gnu/$lib"
		next="$next $found"
	done
	pending=$next
done

# The test CA and the bundle signer (made once; delete pki/ for new keys).
PKI="$DEST/pki"
if [ ! -f "$PKI/signing.cert.pem" ]; then
	log "making the test CA and the signing certificate (openssl)"
	rm -rf "$PKI.tmp"
	mkdir -p "$PKI.tmp"
	openssl req -x509 -newkey rsa:2048 -nodes -keyout "$PKI.tmp/ca.key.pem" -out "$PKI.tmp/ca.cert.pem" -days 3650 \
		-subj "/O=crashkeep test/CN=crashkeep test CA" -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null
	openssl req -newkey rsa:2048 -nodes -keyout "$PKI.tmp/signing.key.pem" -out "$PKI.tmp/signing.csr" -subj "/O=crashkeep test/CN=crashkeep test firmware signer" 2>/dev/null
	printf 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n' >"$PKI.tmp/signing.ext"
	openssl x509 -req -in "$PKI.tmp/signing.csr" -CA "$PKI.tmp/ca.cert.pem" -CAkey "$PKI.tmp/ca.key.pem" -CAcreateserial \
		-out "$PKI.tmp/signing.cert.pem" -days 3650 -extfile "$PKI.tmp/signing.ext" 2>/dev/null
	rm -rf "$PKI"
	mv "$PKI.tmp" "$PKI"
fi
cp "$PKI/ca.cert.pem" "$COMMON/etc/rauc/ca.cert.pem"

# Each firmware: the test image with the common tree, its variant's tree and
# its os-release, then its slot image.
for fw in $FIRMWARES; do
	variant=${fw#*-}
	[ "$variant" != "$fw" ] || variant=""
	tree="$DEST/fw-$fw.tree"
	rm -rf "$tree"
	mkdir -p "$tree/etc" "$tree/usr/sbin"
	# A variant's own files, if it has any (2.2-crashloop has none in git: only its sensord, below).
	if [ -n "$variant" ] && [ -d "$SRC/$variant" ]; then cp -a "$SRC/$variant/." "$tree/"; fi
	cat >"$tree/etc/os-release" <<-EOF
		NAME="crashkeep test firmware"
		ID=crashkeep-test
		VERSION_ID=$fw
		VERSION="$fw"
		PRETTY_NAME="crashkeep test firmware $fw"
	EOF
	# The crash-loop variant's sensord is the test program that crashes at once
	# (make-image.sh compiled it for the factory firmware, the first one).
	if [ "$variant" = crashloop ]; then
		cp "$OUT/qemu-arm64/programs/crasher" "$tree/usr/sbin/sensord" || die "Cannot find the arm64 crasher program: build firmware 1.0 first"
	fi
	log "firmware $fw"
	OUT="$OUT" ARCH=arm64 COMPRESS=gzip BINARY="$BINARY" DEST="$DEST/fw-$fw" EXTRA_MODULES="$MODULES" \
		OVERLAYS="$COMMON $tree" build/make-image.sh
	slot="$DEST/fw-$fw/slot.ext4"
	if [ ! -f "$slot" ] || [ "$DEST/fw-$fw/initrd.img" -nt "$slot" ] || [ "$SELF" -nt "$slot" ]; then
		rm -rf "$DEST/fw-$fw/slot-root"
		mkdir -p "$DEST/fw-$fw/slot-root/boot" "$DEST/fw-$fw/slot-root/etc"
		ln "$DEST/fw-$fw/vmlinuz" "$DEST/fw-$fw/slot-root/boot/Image"
		ln "$DEST/fw-$fw/initrd.img" "$DEST/fw-$fw/slot-root/boot/initrd.img"
		cp "$tree/etc/os-release" "$DEST/fw-$fw/slot-root/etc/os-release"
		rm -f "$slot.tmp"
		mke2fs -q -t ext4 -L "fw-$fw" -E root_owner=0:0 -d "$DEST/fw-$fw/slot-root" "$slot.tmp" "${SLOT_MIB}M" ||
			die "Cannot make the slot image of firmware $fw in ${SLOT_MIB} MiB ($(du -sh "$DEST/fw-$fw/slot-root" | cut -f1) of files)"
		mv "$slot.tmp" "$slot"
	fi
done
ln -sfn fw-1.0/initramfs "$DEST/initramfs"

# Signed bundles (plain format: the guest's kernel has loop and squashfs as modules).
mkdir -p "$DEST/bundles"
for fw in $BUNDLES; do
	bundle="$DEST/bundles/fw-$fw.raucb"
	if [ -f "$bundle" ] && ! [ "$DEST/fw-$fw/slot.ext4" -nt "$bundle" ] && ! [ "$PKI/signing.cert.pem" -nt "$bundle" ]; then
		continue
	fi
	log "bundle fw-$fw.raucb"
	content="$DEST/bundles/fw-$fw.content"
	rm -rf "$content"
	mkdir -p "$content"
	ln "$DEST/fw-$fw/slot.ext4" "$content/rootfs.ext4"
	cat >"$content/manifest.raucm" <<-EOF
		[update]
		compatible=$COMPATIBLE
		version=$fw

		[bundle]
		format=plain

		[image.rootfs]
		filename=rootfs.ext4
	EOF
	rm -f "$bundle"
	rauc bundle --cert="$PKI/signing.cert.pem" --key="$PKI/signing.key.pem" --keyring="$PKI/ca.cert.pem" \
		--mksquashfs-args="-comp gzip -Xcompression-level 1" "$content" "$bundle" >&2
	rm -rf "$content"
done
BUNDLES_IMG="$DEST/bundles.img"
if [ ! -f "$BUNDLES_IMG" ] || [ -n "$(find "$DEST/bundles" -newer "$BUNDLES_IMG" -name '*.raucb' -print -quit)" ]; then
	log "bundles disk"
	size=$(du -sm "$DEST/bundles" | cut -f1)
	rm -f "$BUNDLES_IMG.tmp"
	mke2fs -q -t ext4 -L bundles -E root_owner=0:0 -d "$DEST/bundles" "$BUNDLES_IMG.tmp" "$((size + size / 10 + 8))M"
	mv "$BUNDLES_IMG.tmp" "$BUNDLES_IMG"
fi

# The boot partition (FAT: U-Boot here writes FAT, not ext4): boot.scr, found
# by U-Boot's distro boot, and the environment file.
BOOTPART="$DEST/boot.vfat"
if [ ! -f "$BOOTPART" ] || [ "$SRC/boot.cmd" -nt "$BOOTPART" ] || [ "$SELF" -nt "$BOOTPART" ]; then
	rm -rf "$DEST/boot-root"
	mkdir -p "$DEST/boot-root"
	mkimage -q -A arm64 -O linux -T script -C none -n "crashkeep A/B" -d "$SRC/boot.cmd" "$DEST/boot-root/boot.scr"
	printf 'BOOT_ORDER=A B\nBOOT_A_LEFT=3\nBOOT_B_LEFT=3\n' | mkenvimage -s "$ENV_SIZE" -o "$DEST/boot-root/uboot.env" -
	rm -f "$BOOTPART.tmp"
	mkfs.vfat -n BOOT -C "$BOOTPART.tmp" $((BOOT_MIB * 1024)) >/dev/null
	mcopy -i "$BOOTPART.tmp" "$DEST/boot-root/boot.scr" "$DEST/boot-root/uboot.env" ::/
	mv "$BOOTPART.tmp" "$BOOTPART"
fi

# The disk: MBR, partitions at whole MiB, the factory firmware in both slots.
DISK="$DEST/disk.pristine.img"
if [ ! -f "$DISK" ] || [ -n "$(find "$BOOTPART" "$DEST/fw-1.0/slot.ext4" "$DEST/fw-1.0/data.pristine.img" "$SELF" -newer "$DISK" -print -quit)" ]; then
	log "disk (boot ${BOOT_MIB} MiB, slots ${SLOT_MIB} MiB, data ${DATA_MIB} MiB)"
	MiB=2048 # sectors
	p1=$((1 * MiB)) p2=$(((1 + BOOT_MIB) * MiB)) p3=$(((1 + BOOT_MIB + SLOT_MIB) * MiB)) p4=$(((1 + BOOT_MIB + 2 * SLOT_MIB) * MiB))
	rm -f "$DISK.tmp"
	truncate -s "$((2 + BOOT_MIB + 2 * SLOT_MIB + DATA_MIB))M" "$DISK.tmp"
	sfdisk -q "$DISK.tmp" >/dev/null <<-EOF
		label: dos
		start=$p1, size=$((BOOT_MIB * MiB)), type=c, bootable
		start=$p2, size=$((SLOT_MIB * MiB)), type=83
		start=$p3, size=$((SLOT_MIB * MiB)), type=83
		start=$p4, size=$((DATA_MIB * MiB)), type=83
	EOF
	put() { dd if="$1" of="$DISK.tmp" bs=1M seek=$(($2 / MiB)) conv=notrunc,sparse status=none; }
	put "$BOOTPART" "$p1"
	put "$DEST/fw-1.0/slot.ext4" "$p2"
	put "$DEST/fw-1.0/slot.ext4" "$p3"
	put "$DEST/fw-1.0/data.pristine.img" "$p4"
	mv "$DISK.tmp" "$DISK"
fi

# The two pflash banks of QEMU virt, 64 MiB each: U-Boot, then the bank U-Boot
# keeps its own environment in (saveenv); empty, so U-Boot starts from its
# built-in defaults every boot (the boot state is in uboot.env).
if [ ! -f "$DEST/flash0.img" ] || [ "$UBOOT" -nt "$DEST/flash0.img" ]; then
	cp "$UBOOT" "$DEST/flash0.img.tmp"
	truncate -s 64M "$DEST/flash0.img.tmp"
	mv "$DEST/flash0.img.tmp" "$DEST/flash0.img"
fi
[ -f "$DEST/flash1.pristine.img" ] || truncate -s 64M "$DEST/flash1.pristine.img"

echo arm64 >"$DEST/arch"
echo uboot >"$DEST/kind"
log "$DEST ready in $(awk -v a="$T0" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }') s"

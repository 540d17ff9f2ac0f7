#!/bin/bash
# make buildroot-image: a Buildroot aarch64 QEMU virt image with crashkeep,
# built offline (docs/FIRMWARE.md, "Buildroot"):
#   out/buildroot/output/        Buildroot's output (O=): images/rootfs.ext4, target/, ...
#   out/buildroot/qemu/          the image as the QEMU harness boots it (make test-buildroot):
#     vmlinuz                    Debian's arm64 kernel (KERNEL=debian)
#     initrd.img                 loads the virtio disk, ext4 and virtio_net modules, mounts
#                                /dev/vda read-only and hands over to Buildroot's /sbin/init
#   out/buildroot/kernel-buildroot/{output,qemu}/   the same for KERNEL=buildroot: vmlinuz is
#                                the Linux 6.12 Image Buildroot built, with the disk, ext4,
#                                MTD, phram and ramoops built in, and there is no initrd
#     data.pristine.img          rootfs.ext4 (the harness boots a copy per scenario)
#     root -> ../output/target   the target tree (config, test programs for gdb)
#
# Its inputs, and nothing else from the network:
#   BUILDROOT=TARBALL|DIR        Buildroot 2025.02.x (a tarball is unpacked into out/buildroot/)
#   Debian's cross toolchain     build/buildroot-offline/debian-toolchain.sh
#   Debian source files          pinned in build/buildroot-offline/debian-sources.tsv, fetched
#                                with apt-get source into out/cache/debian-src/
#   out/dist/crashkeep-<version>-linux-arm64.tar.gz   make dist --targets arm64
#   Debian's arm64 kernel        build/fetch-debian.sh ARCH=arm64, build/phram-module.sh
#                                (KERNEL=debian)
#   Linux 6.12                   Debian's linux_6.12.38.orig.tar.xz, pinned in
#                                debian-sources.tsv (KERNEL=buildroot)
#
# Environment: BUILDROOT (required), KERNEL=debian|buildroot (default debian),
# OUT=out, JOBS (Buildroot's BR2_JLEVEL, default: the number of CPUs).
set -euo pipefail

SELF=$(readlink -f "$0")
cd "$(dirname "$SELF")/.."
ROOT=$(pwd)
OFFLINE="$ROOT/build/buildroot-offline"
OUT=${OUT:-out}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
KERNEL=${KERNEL:-debian}
WORK="$OUT/buildroot"
# What both variants share: the Buildroot tree, the toolchain, the mirror,
# the unpacked Debian sources, the download folder. Each variant has its own
# output (Buildroot cannot switch a built output to another kernel).
case "$KERNEL" in
buildroot) VARIANT="$WORK/kernel-buildroot" ;;
*) VARIANT="$WORK" ;;
esac
BR_OUT="$VARIANT/output"
QEMU_DIR="$VARIANT/qemu"
CACHE="$OUT/cache"

log() { printf 'buildroot-image: %s\n' "$*" >&2; }
die() { printf 'buildroot-image: %s\n' "$*" >&2; exit 1; }
T0=$(date +%s)
step() { log "[$(($(date +%s) - T0)) s] $*"; }

[ -n "${BUILDROOT:-}" ] || die "Cannot build the Buildroot image: set BUILDROOT to a Buildroot 2025.02 tarball or tree (make buildroot-image BUILDROOT=...)"
case "$KERNEL" in
debian | buildroot) ;;
*) die "Cannot build KERNEL=$KERNEL: use debian (Debian's 6.1 arm64 kernel) or buildroot (Linux 6.12 built by Buildroot)" ;;
esac
for tool in make gcc g++ bison flex rsync cpio bc file unzip patch perl wget fakeroot patchelf aarch64-linux-gnu-g++ dtc; do
	command -v "$tool" >/dev/null 2>&1 || die "Cannot find \"$tool\": run make deps (the Makefile's APT_PACKAGES)"
done

# 1. Buildroot: a tree as it is, or a tarball unpacked once per sha256.
if [ -d "$BUILDROOT" ]; then
	BR_TREE=$(cd "$BUILDROOT" && pwd)
elif [ -f "$BUILDROOT" ]; then
	sum=$(sha256sum "$BUILDROOT" | cut -d' ' -f1)
	BR_TREE="$WORK/src"
	if [ "$(cat "$BR_TREE/.crashkeep-tarball-sha256" 2>/dev/null)" != "$sum" ]; then
		step "unpacking $BUILDROOT"
		rm -rf "$BR_TREE" "$BR_TREE.tmp"
		mkdir -p "$BR_TREE.tmp"
		tar -xf "$BUILDROOT" -C "$BR_TREE.tmp" --strip-components=1 || die "Cannot unpack \"$BUILDROOT\""
		echo "$sum" >"$BR_TREE.tmp/.crashkeep-tarball-sha256"
		mv "$BR_TREE.tmp" "$BR_TREE"
	fi
else
	die "Cannot find Buildroot \"$BUILDROOT\": not a tarball or a directory"
fi
BR_VERSION=$(sed -n 's/^export BR2_VERSION := //p' "$BR_TREE/Makefile")
case "$BR_VERSION" in
2025.02*) ;;
"") die "Cannot read the Buildroot version from \"$BR_TREE/Makefile\": is BUILDROOT a Buildroot tree?" ;;
*) die "Cannot build offline with Buildroot $BR_VERSION: the pinned Debian sources (build/buildroot-offline/debian-sources.tsv) fit Buildroot 2025.02.x" ;;
esac
step "Buildroot $BR_VERSION in $BR_TREE"

# 2. crashkeep's release tarball (make dist --targets arm64).
VERSION=$(sed -n 's/^ *"version": *"\([^"]*\)".*/\1/p' package.json | head -n1)
TARBALL="$OUT/dist/crashkeep-$VERSION-linux-arm64.tar.gz"
[ -f "$TARBALL" ] || die "Cannot find \"$TARBALL\": run make dist --targets arm64 (node_modules/.bin/bun build/dist.ts --targets arm64)"

# 3. Debian source files, the toolchain, and for KERNEL=debian Debian's arm64
# kernel and phram.ko.
step "Debian sources"
OUT="$OUT" "$OFFLINE/debian-sources.sh" fetch "$KERNEL"
"$OFFLINE/debian-toolchain.sh" "$WORK/toolchain"
if [ "$KERNEL" = debian ]; then
	step "Debian's arm64 kernel"
	# KERNEL here is this script's variant (debian); the image builders' KERNEL
	# is the Debian series, 6.1 (bookworm's arm64 kernel).
	OUT="$OUT" ARCH=arm64 KERNEL=6.1 build/fetch-debian.sh
	KVER=$(cat "$CACHE/kernel-version-arm64")
	KROOT=$(cd "$CACHE/root-kernel-arm64" && pwd)
	[ -s "$KROOT/lib/modules/$KVER/modules.dep" ] || /sbin/depmod -b "$KROOT" "$KVER"
	PHRAM_KO=$(OUT="$OUT" KERNEL=6.1 build/phram-module.sh)
	PHRAM_KO=$(readlink -f "$PHRAM_KO")
fi

# 4. The download mirror (file names Buildroot asks for) and the override
# sources (unpacked Debian trees, the stand-ins), from debian-sources.tsv.
MIRROR="$WORK/mirror"
SRC="$WORK/debian-src"
PATCHES="$WORK/patches"
rm -rf "$MIRROR" "$PATCHES"
mkdir -p "$MIRROR" "$SRC" "$VARIANT"
LOCAL_MK="$VARIANT/local.mk"
{
	echo "# Written by build/buildroot-image.sh: host packages built from Debian sources"
	echo "# or stand-ins (BR2_PACKAGE_OVERRIDE_FILE)."
	echo "HOST_FAKEROOT_OVERRIDE_SRCDIR = $OFFLINE/host-fakeroot"
	echo "HOST_PATCHELF_OVERRIDE_SRCDIR = $OFFLINE/host-patchelf"
} >"$LOCAL_MK"
while IFS=$'\t' read -r file sha want use; do
	case "$file" in "" | \#*) continue ;; esac
	[ "$want" = all ] || [ "$want" = "$KERNEL" ] || continue
	case "$use" in
	"mirror "*) ln "$CACHE/debian-src/$file" "$MIRROR/${use#mirror }" 2>/dev/null || cp "$CACHE/debian-src/$file" "$MIRROR/${use#mirror }" ;;
	kernel)
		# Under its Debian name; BR2_DOWNLOAD_FORCE_CHECK_HASHES checks it
		# against <BR2_GLOBAL_PATCH_DIR>/linux/linux.hash.
		ln "$CACHE/debian-src/$file" "$MIRROR/$file" 2>/dev/null || cp "$CACHE/debian-src/$file" "$MIRROR/$file"
		mkdir -p "$PATCHES/linux"
		printf '# build/buildroot-image.sh: from build/buildroot-offline/debian-sources.tsv\nsha256  %s  %s\n' "$sha" "$file" >"$PATCHES/linux/linux.hash"
		;;
	"override "*)
		pkg=${use#override }
		# (awk reads the whole listing: head would close the pipe under pipefail)
		top=$(tar -tf "$CACHE/debian-src/$file" | awk -F/ 'NR == 1 { print $1 }')
		dir="$SRC/$top"
		if [ "$(cat "$dir/.crashkeep-sha256" 2>/dev/null)" != "$sha" ]; then
			log "unpacking $file"
			rm -rf "$dir"
			tar -xf "$CACHE/debian-src/$file" -C "$SRC"
			if [ "$pkg" = HOST_KMOD ]; then
				# Debian's kmod 30 tarball has no configure; its gtk-doc
				# hook is not needed (Buildroot: --disable-manpages, no docs).
				touch "$dir/libkmod/docs/gtk-doc.make"
				(cd "$dir" && GTKDOCIZE=true autoreconf -fi >"$dir/.crashkeep-autoreconf.log" 2>&1) ||
					die "Cannot prepare $file: autoreconf failed ($dir/.crashkeep-autoreconf.log)"
			fi
			echo "$sha" >"$dir/.crashkeep-sha256"
		fi
		echo "${pkg}_OVERRIDE_SRCDIR = $dir" >>"$LOCAL_MK"
		;;
	*) ;;
	esac
done <"$OFFLINE/debian-sources.tsv"
# GNU tar's configure refuses to run as root unless told it may.
export FORCE_UNSAFE_CONFIGURE=1

# 5. The BR2_EXTERNAL tree and the tarball's hash. Buildroot checks the
# tarball against every hash file that names it. When the committed
# package/crashkeep/crashkeep.hash lists tarball hashes, they fit only the
# commit that last ran make dist: a copy of the tree gets a crashkeep.hash
# made from this tarball. When it lists none (make dist writes crashkeep.hash
# beside the tarballs in out/dist, and a file:// site is checked against
# that one), the tree is used as it is.
ln -f "$TARBALL" "$MIRROR/" 2>/dev/null || cp "$TARBALL" "$MIRROR/"
if grep -q '^sha256 ' build/buildroot/package/crashkeep/crashkeep.hash; then
	EXTERNAL="$WORK/external"
	rsync -a --delete build/buildroot/ "$EXTERNAL/"
	printf '# build/buildroot-image.sh: from %s\nsha256  %s  %s\n' "$TARBALL" "$(sha256sum "$TARBALL" | cut -d' ' -f1)" "$(basename "$TARBALL")" \
		>"$EXTERNAL/package/crashkeep/crashkeep.hash"
	SITE=""
else
	EXTERNAL="$ROOT/build/buildroot"
	[ -f "$OUT/dist/crashkeep.hash" ] || die "Cannot find \"$OUT/dist/crashkeep.hash\": run make dist --targets arm64"
	# The mirror is the package's site: the hash file goes beside the tarball.
	cp "$OUT/dist/crashkeep.hash" "$MIRROR/crashkeep.hash"
	SITE="file://$MIRROR"
fi

# 6. The defconfig, with this checkout's paths.
DISK_MODULES="virtio_pci virtio_blk crc32c_generic ext4 virtio_net"
TARGET_MODULES="mtd phram reed_solomon ramoops"
mkdir -p "$BR_OUT"
if [ "$KERNEL" = debian ]; then
	POST_BUILD="$OFFLINE/post-build-debian-kernel.sh $OFFLINE/post-build-test.sh"
	export DEBIAN_KROOT="$KROOT" PHRAM_KO MODULES="$TARGET_MODULES"
	DEFCONFIG_IN=("$OFFLINE/crashkeep_qemu_aarch64_debian_defconfig.in")
else
	POST_BUILD="$OFFLINE/post-build-test.sh"
	DEFCONFIG_IN=("$OFFLINE/crashkeep_qemu_aarch64_debian_defconfig.in" "$OFFLINE/kernel-buildroot.defconfig.in")
fi
cat "${DEFCONFIG_IN[@]}" | sed -e "s|@MIRROR@|$MIRROR|" -e "s|@LOCAL_MK@|$LOCAL_MK|" -e "s|@TOOLCHAIN@|$WORK/toolchain|" \
	-e "s|@DL_DIR@|$WORK/dl|" -e "s|@OVERLAYS@|$OFFLINE/test-overlay|" -e "s|@POST_BUILD@|$POST_BUILD|" \
	-e "s|@PATCHES@|$PATCHES|" -e "s|@EXTERNAL@|$EXTERNAL|" -e "s|@OFFLINE@|$OFFLINE|" >"$VARIANT/defconfig"
[ -z "$SITE" ] || echo "BR2_PACKAGE_CRASHKEEP_SITE=\"$SITE\"" >>"$VARIANT/defconfig"
export CRASHKEEP_ROOT="$ROOT" TOOLCHAIN="$WORK/toolchain"
BRMAKE=(make -C "$BR_TREE" O="$BR_OUT" BR2_EXTERNAL="$EXTERNAL")
step "loading the defconfig"
"${BRMAKE[@]}" BR2_DEFCONFIG="$VARIANT/defconfig" defconfig >"$VARIANT/defconfig.log" 2>&1 || die "Cannot load $VARIANT/defconfig: $(tail -n3 "$VARIANT/defconfig.log")"
# Kconfig drops a symbol whose dependencies are unmet without a word.
grep -qx 'BR2_PACKAGE_CRASHKEEP=y' "$BR_OUT/.config" ||
	die "Cannot build the image: BR2_PACKAGE_CRASHKEEP=y vanished from $BR_OUT/.config (an unmet \"depends on\" in package/crashkeep/Config.in)"
# A new crashkeep tarball (another commit) must reach the target: Buildroot
# would take the one it downloaded before (same name) and rebuild nothing.
"${BRMAKE[@]}" crashkeep-dirclean >/dev/null
rm -rf "$WORK/dl/crashkeep"

step "make (log: $VARIANT/build.log)"
jobs=${JOBS:-$(nproc)}
if ! nice -n 10 "${BRMAKE[@]}" BR2_JLEVEL="$jobs" >"$VARIANT/build.log" 2>&1; then
	grep -E '^(\*\*\*|make.*Error|ERROR)|: error:|has wrong sha256|No such file' "$VARIANT/build.log" | head -n 20 >&2 || true
	die "Cannot build the image: Buildroot failed (the end of $VARIANT/build.log above)"
fi

# 7. Every host program linked against host/lib must find it (Buildroot
# checks each package's programs as it installs them, not at the end).
bad=$("$BR_TREE/support/scripts/check-host-rpath" all "$BR_OUT/host" "$BR_OUT/per-package" 2>&1) ||
	die "Cannot use the host tree: $(echo "$bad" | tr '\n' ' ')"

# 8. What the harness boots. KERNEL=buildroot: Buildroot's Image and the
# rootfs, no initrd (the harness then boots root=/dev/vda).
mkdir -p "$QEMU_DIR"
if [ "$KERNEL" = buildroot ]; then
	cp "$BR_OUT/images/Image" "$QEMU_DIR/vmlinuz"
	rm -f "$QEMU_DIR/initrd.img"
	ln -f "$(readlink -f "$BR_OUT/images/rootfs.ext4")" "$QEMU_DIR/data.pristine.img"
	echo arm64 >"$QEMU_DIR/arch"
	echo buildroot >"$QEMU_DIR/kind"
	ln -sfn ../output/target "$QEMU_DIR/root"
	step "done: $QEMU_DIR (Image $(du -h --apparent-size "$BR_OUT/images/Image" | cut -f1), rootfs.ext4 $(du -hL --apparent-size "$BR_OUT/images/rootfs.ext4" | cut -f1), target tree $(du -sh --apparent-size "$BR_OUT/target" | cut -f1)) in $(($(date +%s) - T0)) s"
	exit 0
fi
# KERNEL=debian: Debian's kernel, an initrd for the disk, the rootfs.
step "initrd"
INITRD_STAGE="$WORK/initrd"
rm -rf "$INITRD_STAGE"
mkdir -p "$INITRD_STAGE"/{bin,dev,proc,sys,newroot,lib/modules}
cp "$CACHE/root-busybox-static-arm64/bin/busybox" "$INITRD_STAGE/bin/busybox"
for applet in sh mount umount insmod sleep switch_root cat mkdir; do ln -s busybox "$INITRD_STAGE/bin/$applet"; done
for m in $DISK_MODULES; do
	/sbin/modprobe -d "$KROOT" -S "$KVER" --show-depends "$m" | sed -n 's/^insmod \([^ ]*\).*/\1/p'
done | awk '!seen[$0]++' | while read -r ko; do
	cp "$ko" "$INITRD_STAGE/lib/modules/"
	basename "$ko" >>"$INITRD_STAGE/lib/modules/order"
done
cp "$OFFLINE/initrd-init" "$INITRD_STAGE/init"
chmod 755 "$INITRD_STAGE/init"
(cd "$INITRD_STAGE" && find . -mindepth 1 | LC_ALL=C sort | cpio --quiet -o -H newc -R 0:0 --reproducible) | gzip -n -1 >"$QEMU_DIR/initrd.img"
cp "$KROOT/boot/vmlinuz-$KVER" "$QEMU_DIR/vmlinuz"
ln -f "$(readlink -f "$BR_OUT/images/rootfs.ext4")" "$QEMU_DIR/data.pristine.img"
echo arm64 >"$QEMU_DIR/arch"
echo buildroot >"$QEMU_DIR/kind"
ln -sfn ../output/target "$QEMU_DIR/root"

step "done: $QEMU_DIR (rootfs.ext4 $(du -hL --apparent-size "$BR_OUT/images/rootfs.ext4" | cut -f1), target tree $(du -sh --apparent-size "$BR_OUT/target" | cut -f1)) in $(($(date +%s) - T0)) s"

#!/bin/bash
# Fetch the Debian packages the QEMU test image is made of into out/cache/ and
# unpack each one once. The only network access of the image build: a .deb
# already in out/cache/ is never downloaded again.
#
#   build/fetch-debian.sh            # uses out/cache/ under the current directory
#   OUT=/some/dir build/fetch-debian.sh
#
# Packages (docs/QEMU.md):
#   linux-image-6.1.0-NN-amd64   the one linux-image-amd64 depends on (kernel + modules)
#   busybox-static               init, shell, insmod/modprobe applets of the guest
#   kmod                         depmod, run on the host to write modules.dep
#
# Writes out/cache/kernel-version (e.g. 6.1.0-56-amd64) and unpacks each
# package into out/cache/root-<package>/.
set -euo pipefail

OUT=${OUT:-out}
CACHE="$OUT/cache"
mkdir -p "$CACHE"
CACHE=$(cd "$CACHE" && pwd)

log() { printf 'fetch-debian: %s\n' "$*" >&2; }
die() { printf 'fetch-debian: %s\n' "$*" >&2; exit 1; }

for tool in apt-get apt-cache dpkg-deb; do
	command -v "$tool" >/dev/null 2>&1 || die "Cannot find \"$tool\": this script needs a Debian host"
done

apt_depends() {
	apt-cache depends linux-image-amd64 2>/dev/null |
		sed -n 's/^ *Depends: \(linux-image-6\.1\.0-[0-9]*-amd64\)$/\1/p' | head -n1
}

# The kernel package is whatever linux-image-amd64 depends on today. With an
# explicit KERNEL_PACKAGE the lookup (and its need for apt lists) is skipped.
kernel_package() {
	if [ -n "${KERNEL_PACKAGE:-}" ]; then
		echo "$KERNEL_PACKAGE"
		return
	fi
	local pkg="" lists=/var/lib/apt/lists
	# apt-cache takes seconds; its answer only changes when apt-get update
	# rewrites the lists, so it is remembered until then.
	if [ -s "$CACHE/kernel-package" ] && ! [ "$lists" -nt "$CACHE/kernel-package" ]; then
		cat "$CACHE/kernel-package"
		return
	fi
	pkg=$(apt_depends)
	if [ -z "$pkg" ] && [ "$(id -u)" = 0 ] && [ -z "$(cd "$CACHE" && ls linux-image-6.1.0-*-amd64_*.deb 2>/dev/null)" ]; then
		# A fresh machine (or container) may have no package lists yet.
		log "no apt lists for linux-image-amd64: apt-get update"
		apt-get update -qq >&2 || true
		pkg=$(apt_depends)
	fi
	[ -z "$pkg" ] || echo "$pkg" >"$CACHE/kernel-package"
	if [ -z "$pkg" ]; then
		# No apt lists (fresh container): fall back to a kernel already cached.
		pkg=$(cd "$CACHE" && ls linux-image-6.1.0-*-amd64_*.deb 2>/dev/null |
			sed -n 's/^\(linux-image-6\.1\.0-[0-9]*-amd64\)_.*/\1/p' | sort -V | tail -n1)
	fi
	[ -n "$pkg" ] || die "Cannot find the kernel package linux-image-amd64 depends on: run apt-get update"
	echo "$pkg"
}

# Download one package unless a .deb of it is already cached; print its path.
fetch() {
	local pkg=$1 deb
	deb=$(cd "$CACHE" && ls "${pkg}"_*.deb 2>/dev/null | sort -V | tail -n1 || true)
	if [ -z "$deb" ]; then
		log "downloading $pkg"
		# apt-get download writes into the current directory. As root it warns
		# that the download is unsandboxed; that is expected here.
		(cd "$CACHE" && apt-get download -q "$pkg" 2>&1 | grep -v -e '^W: Download is performed unsandboxed' >&2) ||
			die "Cannot download \"$pkg\": apt-get download failed (run apt-get update?)"
		deb=$(cd "$CACHE" && ls "${pkg}"_*.deb 2>/dev/null | sort -V | tail -n1 || true)
		[ -n "$deb" ] || die "Cannot download \"$pkg\": no .deb appeared in $CACHE"
	fi
	echo "$CACHE/$deb"
}

# Unpack a .deb into root-<pkg>/ once; a stamp names the .deb it came from.
unpack() {
	local pkg=$1 deb=$2 dir="$CACHE/root-$1"
	if [ -f "$dir/.unpacked" ] && [ "$(cat "$dir/.unpacked")" = "$(basename "$deb")" ]; then
		return
	fi
	log "unpacking $(basename "$deb")"
	rm -rf "$dir"
	mkdir -p "$dir"
	dpkg-deb -x "$deb" "$dir"
	basename "$deb" >"$dir/.unpacked"
}

KPKG=$(kernel_package)
for pkg in "$KPKG" busybox-static kmod; do
	unpack "$pkg" "$(fetch "$pkg")"
done
ln -sfn "root-$KPKG" "$CACHE/root-kernel"

KVER=${KPKG#linux-image-}
[ -d "$CACHE/root-kernel/lib/modules/$KVER" ] || die "Cannot find modules of \"$KVER\" in $KPKG"
ls "$CACHE/root-kernel/boot/vmlinuz-$KVER" >/dev/null || die "Cannot find vmlinuz-$KVER in $KPKG"
echo "$KVER" >"$CACHE/kernel-version.tmp"
mv "$CACHE/kernel-version.tmp" "$CACHE/kernel-version"
log "kernel $KVER, busybox-static, kmod ready in $CACHE"

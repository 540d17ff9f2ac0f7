#!/bin/bash
# Fetch the Debian packages the QEMU test image is made of into out/cache/ and
# unpack each one once. The only network access of the image build: a .deb
# already in out/cache/ is never downloaded again.
#
#   build/fetch-debian.sh            # uses out/cache/ under the current directory
#   OUT=/some/dir build/fetch-debian.sh
#   ARCH=arm64 build/fetch-debian.sh # the aarch64 image's packages (docs/AARCH64.md)
#   KERNEL=6.12 build/fetch-debian.sh
#                                    # Debian's 6.12 kernel (bookworm-security) instead of 6.1
#
# Packages (docs/QEMU.md), ARCH=amd64 (default):
#   linux-image-6.1.0-NN-amd64   the one linux-image-amd64 depends on (kernel + modules);
#                                KERNEL=6.12: linux-image-6.12.NNN+deb12-amd64, the one
#                                linux-image-6.12-amd64 depends on
#   busybox-static               init, shell, insmod/modprobe applets of the guest
#   kmod                         depmod, run on the host to write modules.dep
# ARCH=arm64 (after "dpkg --add-architecture arm64", done here when missing):
#   linux-image-6.1.0-NN-arm64:arm64   the one linux-image-arm64 depends on
#   busybox-static:arm64, libc6:arm64  the guest's BusyBox; the libraries Bun's arm64 build needs
#   kmod                               depmod (amd64, runs on the host)
#   linux-headers-6.1.0-NN-arm64:arm64, linux-headers-6.1.0-NN-common, linux-kbuild-6.1
#                                      to build phram.ko out of tree (Debian's arm64
#                                      kernel has CONFIG_MTD_PHRAM unset), unpacked
#                                      together into root-kheaders-<KVER>/
#                                      (KERNEL=6.12: linux-kbuild-6.12.NNN+deb12, which
#                                      is named after the ABI like the headers)
#   linux-source-6.1                   drivers/mtd/devices/phram.c (build/phram-module.sh);
#                                      linux-source-6.12 for KERNEL=6.12
#
# EXTRA_NAME=<name> EXTRA_PACKAGES="<package>..." also fetches these packages
# (of ARCH) and unpacks them together into out/cache/root-<name><-arm64>/, one
# tree whose relative library paths resolve (build/rollback-image.sh: RAUC,
# D-Bus and libubootenv-tool with their shared-library closure).
#
# Writes out/cache/kernel-version (e.g. 6.1.0-56-amd64; kernel-version-arm64
# for arm64, kernel-version-6.12 and kernel-version-arm64-6.12 for KERNEL=6.12)
# and unpacks each package into out/cache/root-<package>/ (root-<package>-arm64/
# for arm64 ones).
set -euo pipefail

OUT=${OUT:-out}
ARCH=${ARCH:-amd64}
KERNEL=${KERNEL:-6.1}
case "$ARCH" in amd64 | arm64) ;; *) echo "fetch-debian: ARCH must be amd64 or arm64 (got \"$ARCH\")" >&2; exit 2 ;; esac
case "$KERNEL" in 6.1 | 6.12) ;; *) echo "fetch-debian: KERNEL must be 6.1 or 6.12 (got \"$KERNEL\")" >&2; exit 2 ;; esac
CACHE="$OUT/cache"
mkdir -p "$CACHE"
CACHE=$(cd "$CACHE" && pwd)

log() { printf 'fetch-debian: %s\n' "$*" >&2; }
die() { printf 'fetch-debian: %s\n' "$*" >&2; exit 1; }

for tool in apt-get apt-cache dpkg-deb; do
	command -v "$tool" >/dev/null 2>&1 || die "Cannot find \"$tool\": this script needs a Debian host"
done

# apt-cache names foreign packages with their architecture (":arm64").
QUAL=""
[ "$ARCH" = amd64 ] || QUAL=":$ARCH"

# The meta package that names the current kernel of the series, and the
# kernel packages' names: linux-image-6.1.0-NN-<arch> (bookworm) and
# linux-image-6.12.NNN+deb12-<arch> (bookworm-security).
case "$KERNEL" in
6.1) META="linux-image-$ARCH" ;;
*) META="linux-image-$KERNEL-$ARCH" ;;
esac
KPATTERN="linux-image-${KERNEL//./\\.}\\.[0-9][0-9a-z.+-]*-$ARCH"
apt_depends() {
	apt-cache depends "$META$QUAL" 2>/dev/null |
		sed -n "s/^ *Depends: \\($KPATTERN\\)\\(:$ARCH\\)\\{0,1\\}\$/\\1/p" | head -n1
}

# A fresh machine knows no arm64 packages: add the architecture and
# re-read the lists (as root; otherwise say what is missing).
# (The policy is read into a variable first: grep -q closing the pipe early
# would fail the pipeline under pipefail.)
policy=""
[ "$ARCH" = amd64 ] || policy=$(apt-cache policy "libc6$QUAL" 2>/dev/null || true)
if [ "$ARCH" != amd64 ] && ! grep -q 'Candidate: [0-9]' <<<"$policy"; then
	[ "$(id -u)" = 0 ] || die "Cannot find $ARCH packages in the apt lists: run as root dpkg --add-architecture $ARCH && apt-get update"
	dpkg --print-foreign-architectures | grep -qx "$ARCH" || { log "dpkg --add-architecture $ARCH"; dpkg --add-architecture "$ARCH"; }
	log "apt-get update (no $ARCH lists yet)"
	flock /tmp/apt.lock apt-get update -qq >&2 || die "Cannot update the apt lists for $ARCH"
fi

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
	if [ -s "$CACHE/kernel-package$TAG" ] && ! [ "$lists" -nt "$CACHE/kernel-package$TAG" ]; then
		cat "$CACHE/kernel-package$TAG"
		return
	fi
	pkg=$(apt_depends)
	if [ -z "$pkg" ] && [ "$(id -u)" = 0 ] && [ -z "$(cd "$CACHE" && ls linux-image-"$KERNEL".*-"${ARCH}"_*.deb 2>/dev/null)" ]; then
		# A fresh machine (or container) may have no package lists yet.
		log "no apt lists for $META: apt-get update"
		apt-get update -qq >&2 || true
		pkg=$(apt_depends)
	fi
	[ -z "$pkg" ] || echo "$pkg" >"$CACHE/kernel-package$TAG"
	if [ -z "$pkg" ]; then
		# No apt lists (fresh container): fall back to a kernel already cached.
		pkg=$(cd "$CACHE" && ls linux-image-"$KERNEL".*-"${ARCH}"_*.deb 2>/dev/null |
			sed -n "s/^\\($KPATTERN\\)_.*/\\1/p" | sort -V | tail -n1)
	fi
	[ -n "$pkg" ] || die "Cannot find the kernel package $META depends on: run apt-get update"
	echo "$pkg"
}

# Download one package ("name" or "name:arch") unless a .deb of it is
# already cached; print its path. The .deb's name carries its version and
# architecture (name_version_arch.deb), so a new version is a new file.
fetch() {
	local pkg=$1 name=${1%%:*} arch deb
	arch=${1#"$name"}
	arch=${arch#:}
	arch=${arch:-amd64}
	deb=$(cd "$CACHE" && ls "${name}"_*_"${arch}".deb "${name}"_*_all.deb 2>/dev/null | sort -V | tail -n1 || true)
	if [ -z "$deb" ]; then
		log "downloading $pkg"
		# apt-get download writes into the current directory. As root it warns
		# that the download is unsandboxed; that is expected here.
		(cd "$CACHE" && apt-get download -q "$pkg" 2>&1 | grep -v -e '^W: Download is performed unsandboxed' >&2) ||
			die "Cannot download \"$pkg\": apt-get download failed (run apt-get update?)"
		deb=$(cd "$CACHE" && ls "${name}"_*_"${arch}".deb "${name}"_*_all.deb 2>/dev/null | sort -V | tail -n1 || true)
		[ -n "$deb" ] || die "Cannot download \"$pkg\": no .deb appeared in $CACHE"
	fi
	echo "$CACHE/$deb"
}

# Unpack .debs into root-<name>/ once; a stamp names the .debs it came from.
unpack() {
	local name=$1 dir="$CACHE/root-$1" stamp deb
	shift
	stamp=$(for deb in "$@"; do basename "$deb"; done)
	if [ -f "$dir/.unpacked" ] && [ "$(cat "$dir/.unpacked")" = "$stamp" ]; then
		return
	fi
	rm -rf "$dir"
	mkdir -p "$dir"
	for deb in "$@"; do
		log "unpacking $(basename "$deb")"
		dpkg-deb -x "$deb" "$dir"
	done
	echo "$stamp" >"$dir/.unpacked"
}

# Per architecture: the file names that tell the image scripts what was fetched.
SUFFIX=""
[ "$ARCH" = amd64 ] || SUFFIX="-$ARCH"
# Per kernel series as well: 6.1 keeps the plain names, 6.12 adds "-6.12".
TAG=$SUFFIX
[ "$KERNEL" = 6.1 ] || TAG="$SUFFIX-$KERNEL"

KPKG=$(kernel_package)
KVER=${KPKG#linux-image-}
unpack "$KPKG$SUFFIX" "$(fetch "$KPKG$QUAL")"
unpack "busybox-static$SUFFIX" "$(fetch "busybox-static$QUAL")"
unpack kmod "$(fetch kmod)"
ln -sfn "root-$KPKG$SUFFIX" "$CACHE/root-kernel$TAG"
if [ "$ARCH" = arm64 ]; then
	# The host's BusyBox of the same version lists the applets (the arm64
	# one cannot run here); make-image.sh checks that the versions match.
	unpack busybox-static "$(fetch busybox-static)"
	unpack "libc6$SUFFIX" "$(fetch "libc6$QUAL")"
	# Headers of the same kernel, their common part and the host's kbuild
	# tools, unpacked into one tree so that their relative links resolve.
	# The headers' kbuild tools: linux-kbuild-6.1 in bookworm; the 6.12
	# backport names them after the ABI (linux-kbuild-6.12.NNN+deb12).
	KBUILD=linux-kbuild-6.1
	[ "$KERNEL" = 6.1 ] || KBUILD="linux-kbuild-${KVER%-*}"
	unpack "kheaders-$KVER" "$(fetch "linux-headers-$KVER$QUAL")" "$(fetch "linux-headers-${KVER%-*}-common")" "$(fetch "$KBUILD")"
	ln -sfn "root-kheaders-$KVER" "$CACHE/root-kheaders$TAG"
	# The source tarball (only phram.c is taken out of it, by phram-module.sh).
	fetch "linux-source-$KERNEL" >"$CACHE/linux-source-deb$TAG"
fi

if [ -n "${EXTRA_PACKAGES:-}" ]; then
	[ -n "${EXTRA_NAME:-}" ] || die "EXTRA_PACKAGES needs EXTRA_NAME (the folder root-<name> they go to)"
	debs=()
	# "name:all" for an architecture-independent package, else name:ARCH.
	for pkg in $EXTRA_PACKAGES; do
		case "$pkg" in
		*:*) debs+=("$(fetch "$pkg")") ;;
		*) debs+=("$(fetch "$pkg$QUAL")") ;;
		esac
	done
	unpack "$EXTRA_NAME$SUFFIX" "${debs[@]}"
fi

[ -d "$CACHE/root-kernel$TAG/lib/modules/$KVER" ] || die "Cannot find modules of \"$KVER\" in $KPKG"
ls "$CACHE/root-kernel$TAG/boot/vmlinuz-$KVER" >/dev/null || die "Cannot find vmlinuz-$KVER in $KPKG"
echo "$KVER" >"$CACHE/kernel-version$TAG.tmp"
mv "$CACHE/kernel-version$TAG.tmp" "$CACHE/kernel-version$TAG"
log "kernel $KVER ($ARCH) and its packages ready in $CACHE"

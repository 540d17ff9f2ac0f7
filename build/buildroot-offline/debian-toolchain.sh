#!/bin/bash
# debian-toolchain.sh DIR: Debian's aarch64 cross compiler (packages
# gcc-aarch64-linux-gnu, g++-aarch64-linux-gnu, libc6-dev-arm64-cross: gcc 12,
# glibc 2.36, kernel headers 6.1) laid out in DIR as a Buildroot
# "pre-installed custom external toolchain" (BR2_TOOLCHAIN_EXTERNAL_PATH=DIR,
# prefix aarch64-linux-gnu). Nothing under /usr changes.
#
# Buildroot refuses Debian's compiler as it is, twice:
#   - "gcc -v" shows --with-sysroot=/, which Buildroot takes for a
#     distribution toolchain ("unsuitable for use by Buildroot");
#   - the sysroot it derives from "-print-file-name=libc.a" must hold
#     usr/include, and Debian's /usr/aarch64-linux-gnu has include/.
# So DIR gets:
#   bin/aarch64-linux-gnu-{gcc,g++,cpp}    wrappers that answer those two
#                                          questions with DIR's sysroot
#   bin/aarch64-linux-gnu-<binutils>       links to Debian's
#   aarch64-linux-gnu/sysroot/{lib,usr/include,usr/lib}  a copy of Debian's
#                                          cross libc in Buildroot's layout
# Remade only when the cross libc or this script changes.
set -euo pipefail

DIR=${1:?usage: debian-toolchain.sh DIR}
T=aarch64-linux-gnu
GCCVER=12
SELF=$(readlink -f "$0")
die() { printf 'debian-toolchain: %s\n' "$*" >&2; exit 1; }

for p in gcc g++ cpp; do
	[ -x "/usr/bin/$T-$p-$GCCVER" ] || die "Cannot find /usr/bin/$T-$p-$GCCVER: apt-get install gcc-$T g++-$T"
done
if [ ! -d "/usr/$T/include" ] || [ ! -f "/usr/$T/lib/libc.so.6" ]; then
	die "Cannot find Debian's cross libc in /usr/$T: apt-get install libc6-dev-arm64-cross"
fi

mkdir -p "$DIR"
DIR=$(cd "$DIR" && pwd)
STAMP="$(dpkg-query -W -f '${Version}' libc6-dev-arm64-cross) $(dpkg-query -W -f '${Version}' "gcc-$GCCVER-$T") $(sha256sum <"$SELF" | cut -d' ' -f1)"
if [ "$(cat "$DIR/.stamp" 2>/dev/null)" = "$STAMP" ]; then
	exit 0
fi

SYSROOT="$DIR/$T/sysroot"
rm -rf "${DIR:?}/bin" "${DIR:?}/$T"
mkdir -p "$DIR/bin" "$SYSROOT/usr"
cp -a "/usr/$T/lib" "$SYSROOT/lib"
cp -a "/usr/$T/include" "$SYSROOT/usr/include"
ln -s ../lib "$SYSROOT/usr/lib"

for tool in addr2line ar as c++filt elfedit gcc-ar gcc-nm gcc-ranlib gcov gprof ld ld.bfd nm objcopy objdump ranlib readelf size strings strip; do
	[ -x "/usr/bin/$T-$tool" ] && ln -s "/usr/bin/$T-$tool" "$DIR/bin/$T-$tool"
done

for p in gcc g++ cpp; do
	cat >"$DIR/bin/$T-$p" <<WRAPPER
#!/bin/sh
# Debian's $T-$p-$GCCVER for Buildroot (build/buildroot-offline/debian-toolchain.sh):
# the sysroot is $SYSROOT.
for arg; do
	if [ "\$arg" = -print-file-name=libc.a ]; then
		echo "$SYSROOT/lib/libc.a"
		exit 0
	fi
done
if [ "\$*" = -v ]; then
	/usr/bin/$T-$p-$GCCVER -v 2>&1 | sed 's| --with-sysroot=/ | --with-sysroot=$SYSROOT |' >&2
	exit 0
fi
exec /usr/bin/$T-$p-$GCCVER "\$@"
WRAPPER
	chmod 755 "$DIR/bin/$T-$p"
done
echo "$STAMP" >"$DIR/.stamp"

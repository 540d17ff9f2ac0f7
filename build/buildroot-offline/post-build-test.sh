#!/bin/bash
# BR2_ROOTFS_POST_BUILD_SCRIPT of the test image (make test-buildroot), after
# post-build-debian-kernel.sh:
#   - a root shell on the serial console in place of Buildroot's getty
#     (BR2_TARGET_GENERIC_GETTY_PORT's "# GENERIC_SERIAL" line in inittab);
#   - the test programs of test/qemu/programs/, built with the toolchain's
#     compiler (static, except those marked "build: dynamic", which use the
#     image's glibc), not stripped: gdb reads their symbols on the host.
#   $1  TARGET_DIR; CRASHKEEP_ROOT the checkout; TOOLCHAIN the external toolchain
set -euo pipefail
TARGET_DIR=${1:?usage: post-build-test.sh TARGET_DIR}
: "${CRASHKEEP_ROOT:?}" "${TOOLCHAIN:?}"
die() { printf 'post-build-test: %s\n' "$*" >&2; exit 1; }

# The line keeps its "# GENERIC_SERIAL" tag: Buildroot rewrites the tagged
# line at each target-finalize, and so does this script after it.
grep -q '^[^#].*# GENERIC_SERIAL$' "$TARGET_DIR/etc/inittab" || die "Cannot find the \"# GENERIC_SERIAL\" getty line in $TARGET_DIR/etc/inittab"
sed -i 's|^[^#].*# GENERIC_SERIAL$|ttyAMA0::respawn:-/bin/sh # GENERIC_SERIAL|' "$TARGET_DIR/etc/inittab"

CC="$TOOLCHAIN/bin/aarch64-linux-gnu-gcc"
for src in "$CRASHKEEP_ROOT"/test/qemu/programs/*.c; do
	link=-static
	grep -q 'build: dynamic' "$src" && link=-pthread
	"$CC" -O2 -g -fomit-frame-pointer -Wall -Wextra $link -o "$TARGET_DIR/usr/bin/$(basename "$src" .c)" "$src"
done

#!/bin/bash
# make demo: build the binary and the test image, boot it under QEMU, panic
# the kernel, let it reboot, and show what the next boot recovered.
#
#   build/demo.sh                      # the whole story, about a minute
#   CRASH='memhog 16' PANIC_ON_OOM=1 build/demo.sh   # an OOM panic instead
#   TARGET=arm64 build/demo.sh         # the aarch64 image (QEMU virt), device-tree route
#   TARGET=arm64 RESERVE=mem build/demo.sh   # ... mem= route
#
# Console logs of the demo stay in out/qemu-logs/demo/ (demo-arm64/).
set -euo pipefail
cd "$(dirname "$(readlink -f "$0")")/.."

BUN=node_modules/.bin/bun
TARGET=${TARGET:-}
case "$TARGET" in
arm64) BINARY=out/arm64/crashkeep IMAGE_ARCH=arm64 IMAGE=out/qemu-arm64 GUEST=aarch64 ;;
"") BINARY=out/crashkeep IMAGE_ARCH=amd64 IMAGE=out/qemu GUEST=x86_64 ;;
*) echo "demo: TARGET must be empty (x86_64) or arm64 (got \"$TARGET\")" >&2; exit 2 ;;
esac
export GUEST
export RESERVE=${RESERVE:-dt}

# How the demo crashes the guest.
export CRASH=${CRASH:-echo c > /proc/sysrq-trigger}
export PANIC_ON_OOM=${PANIC_ON_OOM:-0}

step() { printf '\n== %s\n' "$*"; }

step "crashkeep binary ($BINARY)"
if [ ! -x "$BINARY" ] || [ -n "$(find src package.json -newer "$BINARY" -print -quit)" ]; then
	make --no-print-directory build TARGET="$TARGET"
else
	echo "up to date"
fi

step "test image ($IMAGE)"
ARCH=$IMAGE_ARCH BINARY=$BINARY build/make-image.sh

step "QEMU"
exec "$BUN" build/demo.ts

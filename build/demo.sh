#!/bin/bash
# make demo: build the binary and the test image, boot it under QEMU, panic
# the kernel, let it reboot, and show what the next boot recovered.
#
#   build/demo.sh                      # the whole story, about a minute
#   CRASH='memhog 16' PANIC_ON_OOM=1 build/demo.sh   # an OOM panic instead
#
# Console logs of the demo stay in out/qemu-logs/demo/.
set -euo pipefail
cd "$(dirname "$(readlink -f "$0")")/.."

BUN=node_modules/.bin/bun
BINARY=out/crashkeep

# How the demo crashes the guest.
export CRASH=${CRASH:-echo c > /proc/sysrq-trigger}
export PANIC_ON_OOM=${PANIC_ON_OOM:-0}

step() { printf '\n== %s\n' "$*"; }

step "crashkeep binary ($BINARY)"
if [ ! -x "$BINARY" ] || [ -n "$(find src package.json -newer "$BINARY" -print -quit)" ]; then
	make --no-print-directory build
else
	echo "up to date"
fi

step "test image (out/qemu)"
build/make-image.sh

step "QEMU"
exec "$BUN" build/demo.ts

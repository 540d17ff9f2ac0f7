#!/bin/bash
# The QEMU scenarios, in four groups run side by side: two x86_64 and two
# aarch64 (each VM is one TCG vCPU; the CI machine has two cores, and four
# VMs at half speed finish sooner than two pairs in turn). Each group's
# output is printed when it ends, with its wall time; the exit status is
# non-zero if any group failed.
#   build/test-qemu.sh            all groups (needs out/qemu and out/qemu-arm64)
#   build/test-qemu.sh x86_64     the x86_64 groups only
#   build/test-qemu.sh aarch64    the aarch64 groups only
#   build/test-qemu.sh smoke      the harness's own smoke scenarios (no crashkeep)
set -uo pipefail
cd "$(dirname "$(readlink -f "$0")")/.." || exit 2
BUN=node_modules/.bin/bun
LOGS=out/qemu-logs
mkdir -p "$LOGS"
WHICH=${1:-all}

if [ "$WHICH" = smoke ]; then
	exec "$BUN" test --timeout 600000 test/qemu/smoke.test.ts
fi

# name: test files
declare -A FILES_OF=(
	[x86_64-boot]="test/qemu/boot.test.ts"
	[x86_64-journal-capture]="test/qemu/journal.test.ts test/qemu/capture.test.ts"
	[aarch64-boot]="test/qemu/arm64-boot.test.ts"
	[aarch64-capture]="test/qemu/arm64-capture.test.ts"
)
case "$WHICH" in
all) NAMES="x86_64-boot x86_64-journal-capture aarch64-boot aarch64-capture" ;;
x86_64) NAMES="x86_64-boot x86_64-journal-capture" ;;
aarch64) NAMES="aarch64-boot aarch64-capture" ;;
*) echo "test-qemu: the group must be all, x86_64, aarch64 or smoke (got \"$WHICH\")" >&2; exit 2 ;;
esac

started=$(date +%s)
declare -A PIDS=()
for name in $NAMES; do
	# shellcheck disable=SC2086 # the file list is split on purpose
	( t0=$(date +%s); "$BUN" test --timeout 2400000 ${FILES_OF[$name]}; rc=$?; echo "group $name: $(( $(date +%s) - t0 )) s"; exit $rc ) >"$LOGS/group-$name.txt" 2>&1 &
	PIDS[$name]=$!
done
status=0
summary=""
for name in $NAMES; do
	wait "${PIDS[$name]}"
	rc=$?
	[ "$rc" -eq 0 ] || status=1
	summary="$summary $name: exit $rc;"
done
for name in $NAMES; do
	echo "=== $LOGS/group-$name.txt"
	cat "$LOGS/group-$name.txt"
done
echo "QEMU scenarios: $(( $(date +%s) - started )) s ($summary )"
exit "$status"

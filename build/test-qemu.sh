#!/bin/bash
# The QEMU scenarios, in two groups run side by side (each VM is one TCG
# vCPU; the CI machine has two cores). Each group's output is printed when
# it ends; the exit status is non-zero if either group failed.
#   build/test-qemu.sh            boot + upload | journal + capture
#   build/test-qemu.sh smoke      the harness's own smoke scenarios (no crashkeep)
set -uo pipefail
cd "$(dirname "$(readlink -f "$0")")/.."
BUN=node_modules/.bin/bun
LOGS=out/qemu-logs
mkdir -p "$LOGS"

if [ "${1:-}" = smoke ]; then
	exec "$BUN" test --timeout 600000 test/qemu/smoke.test.ts
fi

started=$(date +%s)
"$BUN" test --timeout 900000 test/qemu/boot.test.ts test/qemu/upload.test.ts >"$LOGS/group-boot.txt" 2>&1 &
a=$!
"$BUN" test --timeout 900000 test/qemu/journal.test.ts test/qemu/capture.test.ts >"$LOGS/group-journal-capture.txt" 2>&1 &
b=$!
wait "$a"; sa=$?
wait "$b"; sb=$?
for f in "$LOGS/group-boot.txt" "$LOGS/group-journal-capture.txt"; do
	echo "=== $f"
	cat "$f"
done
echo "QEMU scenarios: $(( $(date +%s) - started )) s (boot group: exit $sa; journal+capture group: exit $sb)"
[ "$sa" -eq 0 ] && [ "$sb" -eq 0 ]

#!/bin/bash
# The QEMU scenarios in two lanes run side by side, one VM per lane (each VM
# is one TCG vCPU; the CI machine has two cores). Each lane runs an x86_64
# group, then an aarch64 group, on Debian's 6.1 kernel, then one group per
# architecture on Debian's 6.12 kernel (a group named "-6.12" runs its files
# with QEMU_KERNEL=6.12: out/qemu-6.12, out/qemu-arm64-6.12):
#   lane 1: x86_64-boot (boot, upload, faults), then aarch64-boot, then aarch64-boot-6.12,
#           then aarch64-rollback (U-Boot + RAUC, out/qemu-rollback: scenarios 2 and 5;
#           make test-rollback runs all of them: ROLLBACK_SCENARIOS=all)
#   lane 2: x86_64-journal-capture (journal, capture, collect), then aarch64-capture,
#           then x86_64-boot-6.12
# (the x86_64 groups are the long ones: measured in docs/QEMU.md "Kernel versions")
# Four VMs at once on two loaded cores made every boot and guest command
# four times slower and broke the x86 scenarios' own time limits, so no more
# than two run at a time. Each group's output is printed at the end with its
# wall time; the exit status is non-zero if any group failed.
#   build/test-qemu.sh            all groups (needs out/qemu, out/qemu-arm64,
#                                 out/qemu-6.12 and out/qemu-arm64-6.12)
#   build/test-qemu.sh x86_64     the x86_64 groups only (6.1)
#   build/test-qemu.sh aarch64    the aarch64 groups only (6.1)
#   build/test-qemu.sh 6.12       the 6.12 groups of "all"
#   build/test-qemu.sh 6.12-all   every group on 6.12 (the four of 6.1)
#   build/test-qemu.sh GROUP...   the named groups, in two lanes
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

# group name → test files
declare -A FILES_OF=(
	[x86_64-boot]="test/qemu/boot.test.ts test/qemu/upload.test.ts test/qemu/faults.test.ts"
	[x86_64-journal-capture]="test/qemu/journal.test.ts test/qemu/capture.test.ts test/qemu/collect.test.ts"
	[aarch64-boot]="test/qemu/arm64-boot.test.ts"
	[aarch64-capture]="test/qemu/arm64-capture.test.ts"
	[aarch64-rollback]="test/qemu/rollback.test.ts"
)
for name in "${!FILES_OF[@]}"; do [ "$name" = aarch64-rollback ] || FILES_OF[$name-6.12]=${FILES_OF[$name]}; done
case "$WHICH" in
all) LANE1="x86_64-boot aarch64-boot aarch64-boot-6.12 aarch64-rollback" LANE2="x86_64-journal-capture aarch64-capture x86_64-boot-6.12" ;;
x86_64) LANE1="x86_64-boot" LANE2="x86_64-journal-capture" ;;
aarch64) LANE1="aarch64-boot" LANE2="aarch64-capture" ;;
6.12) LANE1="aarch64-boot-6.12" LANE2="x86_64-boot-6.12" ;;
6.12-all) LANE1="x86_64-boot-6.12 aarch64-boot-6.12" LANE2="x86_64-journal-capture-6.12 aarch64-capture-6.12" ;;
*)
	# Named groups, dealt into the two lanes in turn.
	LANE1="" LANE2=""
	i=0
	for name in "$@"; do
		[ -n "${FILES_OF[$name]:-}" ] || { echo "test-qemu: the group must be all, x86_64, aarch64, 6.12, 6.12-all, smoke or one of: ${!FILES_OF[*]} (got \"$name\")" >&2; exit 2; }
		if [ $((i % 2)) -eq 0 ]; then LANE1="$LANE1 $name"; else LANE2="$LANE2 $name"; fi
		i=$((i + 1))
	done
	;;
esac

# Run the groups one after the other; exit non-zero if any failed.
lane() {
	local name rc status=0 t0
	for name in "$@"; do
		t0=$(date +%s)
		kernel=6.1
		case "$name" in *-6.12) kernel=6.12 ;; esac
		# shellcheck disable=SC2086 # the file list is split on purpose
		QEMU_KERNEL=$kernel "$BUN" test --timeout 2400000 ${FILES_OF[$name]} >"$LOGS/group-$name.txt" 2>&1
		rc=$?
		echo "group $name: $(( $(date +%s) - t0 )) s, exit $rc" | tee -a "$LOGS/group-$name.txt"
		[ "$rc" -eq 0 ] || status=1
	done
	return "$status"
}

started=$(date +%s)
# shellcheck disable=SC2086 # the group lists are split on purpose
lane $LANE1 >"$LOGS/lane-1.txt" 2>&1 &
a=$!
# shellcheck disable=SC2086
lane $LANE2 >"$LOGS/lane-2.txt" 2>&1 &
b=$!
wait "$a"; sa=$?
wait "$b"; sb=$?
# Passing groups first, failing ones last, then what failed: CI keeps only the tail of a long
# output, and a failure must be in it (stop 28's CI said "exit 1" of a group whose log it cut).
failed=()
for name in $LANE1 $LANE2; do
	if grep -q "^group $name: .*, exit 0$" "$LOGS/group-$name.txt"; then
		echo "=== $LOGS/group-$name.txt"
		cat "$LOGS/group-$name.txt"
	else
		failed+=("$name")
	fi
done
for name in "${failed[@]}"; do
	echo "=== $LOGS/group-$name.txt (FAILED)"
	cat "$LOGS/group-$name.txt"
done
echo "QEMU scenarios: $(( $(date +%s) - started )) s ($(cat "$LOGS/lane-1.txt" "$LOGS/lane-2.txt" | tr '\n' ';'))"
for name in "${failed[@]}"; do
	echo "FAILED group $name: its failing tests and first errors (whole log: $LOGS/group-$name.txt):"
	grep -E '^\(fail\)|^error:|^ *Expected|^ *Received|^ *at .*test/qemu/' "$LOGS/group-$name.txt" | head -40 | sed 's/^/  /'
done
[ "$sa" -eq 0 ] && [ "$sb" -eq 0 ]

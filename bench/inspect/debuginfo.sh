#!/bin/bash
# Bench (issue 11): `crashkeep inspect` with file:line and inlined frames vs
# `gdb -batch -ex 'thread apply all bt'` vs `eu-stack -i -s`, same core, same
# separate debug files, in one run; and crashkeep's peak memory with a 1 MiB and
# a 100 MiB debug file. Measured, not asserted: prints MET / NOT MET for
#   wall(crashkeep) <= 0.1 x wall(gdb)
#   wall(crashkeep) - wall(compiled Bun hello world) <= 1.5 x wall(eu-stack)
#   max RSS(crashkeep, 100 MiB debug file) <= 1.25 x max RSS(crashkeep, 1 MiB)
# The program is test/fixtures/symbolize/src/records.c (-O2 -g, inlined frames)
# linked with a generated unit of K struct types (-g -fno-eliminate-unused-debug-types)
# that grows the debug file to ~1 MiB and ~100 MiB; stripped, its debug file in
# a .build-id tree; glibc's from libc6-dbg.
# Usage (root, from the repository root): [CRASHKEEP=FILE] bench/inspect/debuginfo.sh [RUNS]
# Needs: gcc, gdb, elfutils, libc6-dbg, time (/usr/bin/time), bun (node_modules).
set -euo pipefail
RUNS=${1:-5}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
OUT=$ROOT/out/bench-debuginfo
mkdir -p "$OUT"
cd "$ROOT"

# CRASHKEEP=FILE: measure that binary (one built from an earlier commit: before/after) instead of building out/crashkeep
CKBIN=${CRASHKEEP:-out/crashkeep}
echo "building ${CRASHKEEP:+(not crashkeep: $CKBIN) }a Bun hello world" >&2
[ -n "${CRASHKEEP:-}" ] || make -s build >/dev/null
echo 'console.log("hello");' >"$OUT/hello.ts"
node_modules/.bin/bun build --compile --minify --bytecode "$OUT/hello.ts" --outfile "$OUT/hello" >/dev/null 2>&1

# gen K: K struct types of 500 members each; every one is kept in the DWARF
gen() {
  awk -v K="$1" 'BEGIN { for (k = 1; k <= K; k++) { printf "struct big%d {", k; for (m = 1; m <= 500; m++) printf " long m%d_%d;", k, m; print " };"; printf "int use%d(struct big%d *p) { return (int)p->m%d_1; }\n", k, k, k } }'
}

OLD_PATTERN=$(cat /proc/sys/kernel/core_pattern)
restore() { echo "$OLD_PATTERN" > /proc/sys/kernel/core_pattern; }
trap restore EXIT
ulimit -c unlimited
# K for ~1 MiB and ~100 MiB of debug file (about 10.5 KiB of DWARF per struct type)
for spec in small:90 large:9800; do
  name=${spec%%:*} k=${spec#*:}
  dir=$OUT/$name
  if [ ! -s "$dir/prog" ] || [ ! -s "$dir/core" ]; then
    echo "making $name (K=$k)" >&2
    rm -rf "$dir" && mkdir -p "$dir/debug"
    pad=$OUT/pad-$k.o   # kept across runs: the 100 MiB one takes gcc minutes
    if [ ! -s "$pad" ]; then
      gen "$k" >"$OUT/pad.c"
      gcc -O0 -g -fno-eliminate-unused-debug-types -c "$OUT/pad.c" -o "$pad.tmp" && mv "$pad.tmp" "$pad"
      rm -f "$OUT/pad.c"
    fi
    gcc -O2 -g -o "$dir/prog" test/fixtures/symbolize/src/records.c "$pad"
    objcopy --only-keep-debug "$dir/prog" "$dir/prog.debug"
    strip --strip-all "$dir/prog"
    id=$(eu-readelf -n "$dir/prog" | awk '/Build ID:/ {print $3; exit}')
    mkdir -p "$dir/debug/.build-id/${id:0:2}"
    mv "$dir/prog.debug" "$dir/debug/.build-id/${id:0:2}/${id:2}.debug"
    echo "$dir/core.%e" > /proc/sys/kernel/core_pattern
    (cd "$dir" && ./prog >/dev/null 2>&1) || true
    mv "$dir/core.prog" "$dir/core"
    restore
  fi
done
restore; trap - EXIT

calc() { awk "BEGIN { print $1 }"; }
now_us() { echo $(( $(date +%s%N) / 1000 )); }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
# measure CMD... : "median_wall_us median_max_rss_kib"
measure() {
  local walls=() rss=() stats=$OUT/time.txt
  "$@" >/dev/null 2>&1 || true   # warm the page cache
  for _ in $(seq "$RUNS"); do
    local t0; t0=$(now_us)
    /usr/bin/time -f "%M" -o "$stats" "$@" >/dev/null 2>&1 || true
    local t1; t1=$(now_us)
    walls+=($(( t1 - t0 )))
    rss+=("$(tail -1 "$stats")")
  done
  echo "$(printf '%s\n' "${walls[@]}" | median) $(printf '%s\n' "${rss[@]}" | median)"
}

read -r hello_us hello_rss < <(measure "$OUT/hello")
printf '| debug file | tool | wall ms (median of %s) | max RSS MiB |\n|---|---|---|---|\n' "$RUNS"
printf '| - | compiled Bun hello world | %.1f | %.1f |\n' "$(calc "$hello_us / 1000")" "$(calc "$hello_rss / 1024")"
declare -A CK GDB EU RSS
for name in small large; do
  dir=$OUT/$name
  dbg=$(find "$dir/debug" -name '*.debug')
  size=$(du -h --apparent-size "$dbg" | cut -f1)
  # check once that each tool sees the inlined frames (else the timing compares different work)
  "$CKBIN" inspect "$dir/core" --debug-dir "$dir/debug" --debug-dir /usr/lib/debug | grep -q 'check_invariant.*records.c:17' || echo "warning: crashkeep did not print check_invariant at records.c:17" >&2
  read -r ck_us ck_rss < <(measure "$CKBIN" inspect "$dir/core" --debug-dir "$dir/debug" --debug-dir /usr/lib/debug)
  read -r gdb_us gdb_rss < <(measure gdb -nx -batch -ex 'set debuginfod enabled off' -ex "set debug-file-directory $dir/debug:/usr/lib/debug" -ex 'thread apply all bt' "$dir/prog" "$dir/core")
  read -r eu_us eu_rss < <(measure eu-stack -i -s --core="$dir/core" --executable="$dir/prog" --debuginfo-path="$dir/debug:/usr/lib/debug")
  CK[$name]=$ck_us GDB[$name]=$gdb_us EU[$name]=$eu_us RSS[$name]=$ck_rss
  for row in "crashkeep inspect (lines + inlines):$ck_us:$ck_rss" "gdb -batch thread apply all bt:$gdb_us:$gdb_rss" "eu-stack -i -s:$eu_us:$eu_rss"; do
    IFS=: read -r tool us kib <<<"$row"
    printf '| %s | %s | %.1f | %.1f |\n' "$size" "$tool" "$(calc "$us / 1000")" "$(calc "$kib / 1024")"
  done
done

verdict() { if [ "$(calc "(($1) ? 1 : 0)")" = 1 ]; then echo MET; else echo "NOT MET"; fi; }
echo
for name in small large; do
  r1=$(calc "${CK[$name]} / ${GDB[$name]}")
  r2=$(calc "(${CK[$name]} - $hello_us) / ${EU[$name]}")
  printf '%s: crashkeep / gdb = %.3f (goal <= 0.1): %s\n' "$name" "$r1" "$(verdict "$r1 <= 0.1")"
  printf '%s: (crashkeep - hello world) / eu-stack = %.2f (goal <= 1.5): %s\n' "$name" "$r2" "$(verdict "$r2 <= 1.5")"
done
r3=$(calc "${RSS[large]} / ${RSS[small]}")
printf 'peak RSS 100 MiB / 1 MiB debug file = %.2f (goal <= 1.25, flat): %s\n' "$r3" "$(verdict "$r3 <= 1.25")"

#!/bin/bash
# Bench: `crashkeep inspect` vs `gdb -batch -ex 'thread apply all bt'` vs
# `eu-stack --core` on the same cores, made here by real crashes: a small
# multi-threaded program (4 threads) and a process that touched 1 GiB of heap.
# Whole-process wall time (median of RUNS) and peak RSS (/usr/bin/time -v).
# Usage (root, from the repository root): bench/inspect/run.sh [RUNS]
# Needs: gcc, gdb, elfutils (eu-stack), time (/usr/bin/time), bun (node_modules).
# Cores and the compiled binary go to out/ (not committed).
set -euo pipefail
RUNS=${1:-7}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
OUT=$ROOT/out/bench-inspect
mkdir -p "$OUT"
cd "$ROOT"

echo "building out/crashkeep" >&2
if ! node_modules/.bin/bun build --compile --minify --bytecode src/main.ts --outfile out/crashkeep >/dev/null 2>&1; then
  echo "src/main.ts does not compile with --bytecode here; using bench/inspect/entry.ts (inspect only)" >&2
  node_modules/.bin/bun build --compile --minify --bytecode bench/inspect/entry.ts --outfile out/crashkeep >/dev/null
fi

gcc -O2 -pthread -o "$OUT/threads" test/fixtures/cores/src/threads.c
gcc -O2 -o "$OUT/bigheap" bench/inspect/bigheap.c

OLD_PATTERN=$(cat /proc/sys/kernel/core_pattern)
restore() { echo "$OLD_PATTERN" > /proc/sys/kernel/core_pattern; }
trap restore EXIT
echo "$OUT/core.%e" > /proc/sys/kernel/core_pattern
ulimit -c unlimited
for prog in threads bigheap; do
  rm -f "$OUT/core.$prog"
  (cd "$OUT" && "./$prog" >/dev/null 2>&1) || true
  [ -s "$OUT/core.$prog" ] || { echo "no core for $prog" >&2; exit 1; }
done
restore; trap - EXIT

ms_now() { date +%s%N; }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

# time_cmd NAME CMD... : prints "median_ms max_rss_kib"
time_cmd() {
  local samples=()
  "$@" >/dev/null 2>&1 || true   # warm the page cache
  for _ in $(seq "$RUNS"); do
    local t0; t0=$(ms_now)
    "$@" >/dev/null 2>&1 || true
    local t1; t1=$(ms_now)
    samples+=($(( (t1 - t0) / 1000 )))
  done
  local med; med=$(printf '%s\n' "${samples[@]}" | median)
  local rss; rss=$( { /usr/bin/time -v "$@" >/dev/null 2>/dev/null; } 2>&1 | awk -F: '/Maximum resident/ {gsub(/ /,"",$2); print $2}')
  if [ -z "$rss" ]; then rss=$( (/usr/bin/time -v "$@" >/dev/null) 2>&1 | awk -F: '/Maximum resident/ {gsub(/ /,"",$2); print $2}'); fi
  echo "$med $rss"
}

printf '| core | size | tool | wall ms (median of %s) | max RSS MiB | crashkeep time ratio |\n|---|---|---|---|---|---|\n' "$RUNS"
for prog in threads bigheap; do
  core=$OUT/core.$prog exe=$OUT/$prog
  size=$(du -h --apparent-size "$core" | cut -f1)
  read -r ck_us ck_rss < <(time_cmd out/crashkeep inspect "$core")
  read -r gdb_us gdb_rss < <(time_cmd gdb -nx -batch -ex 'set debuginfod enabled off' -ex 'thread apply all bt' "$exe" "$core")
  read -r eu_us eu_rss < <(time_cmd eu-stack --core="$core" --executable="$exe")
  row() { awk -v c="$1" -v s="$2" -v t="$3" -v us="$4" -v rss="$5" -v ck="$ck_us" \
    'BEGIN { r = (t == "crashkeep inspect") ? "1" : sprintf("%.2fx faster", us / ck); if (us < ck) r = sprintf("%.2fx slower", ck / us);
             if (t == "crashkeep inspect") r = "-";
             printf "| %s | %s | %s | %.1f | %.1f | %s |\n", c, s, t, us / 1000, rss / 1024, r }'; }
  row "$prog" "$size" "crashkeep inspect" "$ck_us" "$ck_rss"
  row "$prog" "$size" "gdb -batch thread apply all bt" "$gdb_us" "$gdb_rss"
  row "$prog" "$size" "eu-stack --core" "$eu_us" "$eu_rss"
done

#!/bin/bash
# Bench: `crashkeep inspect` vs `gdb -batch -ex 'thread apply all bt'` vs
# `eu-stack --core` on the same cores, made here by real crashes: a small
# multi-threaded program (4 threads) and a process that touched 1 GiB of heap.
# Whole-process wall time (median of RUNS) and peak RSS (/usr/bin/time -v).
# Targets (issue 5), printed MET / NOT MET per core after the table, never a
# failing exit: at least 10x faster than gdb, within 1.5x of eu-stack (Bun's
# start-up included, as the issue says), peak memory independent of core size
# (the 1.1 GiB core's RSS at most 1.25x the small one's, bench/inspect/debuginfo.sh's bound).
# Usage (root, from the repository root): [CRASHKEEP=FILE] bench/inspect/run.sh [RUNS]
# Needs: gcc, gdb, elfutils (eu-stack), time (/usr/bin/time), bun (node_modules).
# Cores and the compiled binary go to out/ (not committed).
set -euo pipefail
RUNS=${1:-7}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
OUT=$ROOT/out/bench-inspect
mkdir -p "$OUT"
cd "$ROOT"

# CRASHKEEP=FILE: measure that binary (one built from an earlier commit: before/after) instead of building out/crashkeep
CKBIN=${CRASHKEEP:-out/crashkeep}
if [ -z "${CRASHKEEP:-}" ]; then
  echo "building out/crashkeep" >&2
  if ! node_modules/.bin/bun build/compile.ts --outfile out/crashkeep >/dev/null 2>&1; then
    echo "src/main.ts does not compile with --bytecode here; using bench/inspect/entry.ts (inspect only)" >&2
    node_modules/.bin/bun build --compile --minify --bytecode bench/inspect/entry.ts --outfile out/crashkeep >/dev/null
  fi
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

# time_cmd CMD... : prints "median_wall_us median_cpu_ms median_max_rss_kib"
time_cmd() {
  local walls=() cpus=() rss=() stats=$OUT/time.txt
  "$@" >/dev/null 2>&1 || true   # warm the page cache
  for _ in $(seq "$RUNS"); do
    local t0; t0=$(ms_now)
    /usr/bin/time -f "%U %S %M" -o "$stats" "$@" >/dev/null 2>&1 || true
    local t1; t1=$(ms_now)
    walls+=($(( (t1 - t0) / 1000 )))
    read -r u s m < <(tail -1 "$stats")
    cpus+=($(awk -v u="$u" -v s="$s" 'BEGIN { printf "%d", (u + s) * 1000 }'))
    rss+=("$m")
  done
  echo "$(printf '%s\n' "${walls[@]}" | median) $(printf '%s\n' "${cpus[@]}" | median) $(printf '%s\n' "${rss[@]}" | median)"
}

declare -A CK GDB EU CKRSS
# verdict OK FIGURE MEASURED TARGET: bench/verdict.ts's line format.
verdict() { if [ "$1" = 1 ]; then printf 'MET      %s: %s (target: %s)\n' "$2" "$3" "$4"; else printf 'NOT MET  %s: %s (target: %s)\n' "$2" "$3" "$4"; fi; }
calc() { awk "BEGIN { printf \"%.2f\", $1 }"; }
holds() { awk "BEGIN { print (($1) ? 1 : 0) }"; }

printf '| core | size | tool | wall ms (median of %s) | CPU ms user+sys (median) | max RSS MiB (median) | wall time vs crashkeep |\n|---|---|---|---|---|---|---|\n' "$RUNS"
for prog in threads bigheap; do
  core=$OUT/core.$prog exe=$OUT/$prog
  size=$(du -h --apparent-size "$core" | cut -f1)
  read -r ck_us ck_cpu ck_rss < <(time_cmd "$CKBIN" inspect "$core")
  read -r gdb_us gdb_cpu gdb_rss < <(time_cmd gdb -nx -batch -ex 'set debuginfod enabled off' -ex 'thread apply all bt' "$exe" "$core")
  read -r eu_us eu_cpu eu_rss < <(time_cmd eu-stack --core="$core" --executable="$exe")
  row() { awk -v c="$1" -v s="$2" -v t="$3" -v us="$4" -v cpu="$5" -v rss="$6" -v ck="$ck_us" \
    'BEGIN { if (t == "crashkeep inspect") r = "-"; else if (us >= ck) r = sprintf("crashkeep %.1fx faster", us / ck); else r = sprintf("crashkeep %.1fx slower", ck / us);
             printf "| %s | %s | %s | %.0f | %d | %.1f | %s |\n", c, s, t, us / 1000, cpu, rss / 1024, r }'; }
  CK[$prog]=$ck_us GDB[$prog]=$gdb_us EU[$prog]=$eu_us CKRSS[$prog]=$ck_rss
  row "$prog" "$size" "crashkeep inspect" "$ck_us" "$ck_cpu" "$ck_rss"
  row "$prog" "$size" "gdb -batch thread apply all bt" "$gdb_us" "$gdb_cpu" "$gdb_rss"
  row "$prog" "$size" "eu-stack --core" "$eu_us" "$eu_cpu" "$eu_rss"
done

echo
for prog in threads bigheap; do
  r=$(calc "${GDB[$prog]} / ${CK[$prog]}")
  verdict "$(holds "${GDB[$prog]} >= 10 * ${CK[$prog]}")" "$prog: crashkeep inspect vs gdb" "crashkeep ${r}x faster ($(calc "${CK[$prog]} / 1000") vs $(calc "${GDB[$prog]} / 1000") ms)" ">= 10x faster"
  r=$(calc "${CK[$prog]} / ${EU[$prog]}")
  verdict "$(holds "${CK[$prog]} <= 1.5 * ${EU[$prog]}")" "$prog: crashkeep inspect / eu-stack" "${r}x the time ($(calc "${CK[$prog]} / 1000") vs $(calc "${EU[$prog]} / 1000") ms)" "<= 1.5x"
done
r=$(calc "${CKRSS[bigheap]} / ${CKRSS[threads]}")
verdict "$(holds "${CKRSS[bigheap]} <= 1.25 * ${CKRSS[threads]}")" "crashkeep inspect peak RSS, bigheap core / threads core" "${r}x ($(calc "${CKRSS[bigheap]} / 1024") vs $(calc "${CKRSS[threads]} / 1024") MiB)" "<= 1.25x (independent of core size)"

#!/bin/bash
# Generates a shared library whose debug file grows with UNITS (~140 KiB of
# DWARF per unit): small C files, each with a few -O2-inlined functions and the
# same large set of struct types (kept by -fno-eliminate-unused-debug-types, as
# C++ headers are). At most 50 distinct units are compiled (the machine is
# shared); more are copies made with objcopy --prefix-symbols, which the linker
# places at their own addresses like any other unit. Linked with -shared, then
# split with objcopy --only-keep-debug.
# Usage: bench/debuginfo/gen.sh UNITS OUT_DIR  (prints the .debug path)
set -euo pipefail
UNITS=$1
DISTINCT=$(( UNITS < 50 ? UNITS : 50 ))
SRC=$2/src-$DISTINCT
OUT=$2/units-$UNITS
DEBUG=$OUT/libbench.debug
if [ -s "$DEBUG" ]; then echo "$DEBUG"; exit 0; fi
mkdir -p "$SRC" "$OUT/obj"
if [ ! -e "$SRC/done" ]; then
  {
    for t in $(seq 1 400); do
      echo "struct type$t {"
      for m in $(seq 1 12); do echo "  long field${m}_of_type$t; struct type$t *next$m;"; done
      echo "};"
    done
  } >"$SRC/types.h"
  for u in $(seq 1 "$DISTINCT"); do
    cat >"$SRC/unit$u.c" <<C
#include "types.h"
static inline long step$u(struct type1 *p, long k) { return p ? p->field1_of_type1 * k + $u : k; }
static inline long walk$u(struct type1 *p, long n) { long s = 0; for (long i = 0; i < n; i++) s += step$u(p, i); return s; }
__attribute__((noinline)) long unit${u}_entry(struct type1 *p, long n) { return walk$u(p, n) + step$u(p->next1, n); }
long unit${u}_other(struct type2 *q) { return q ? q->field2_of_type2 + walk$u((struct type1 *)q, 3) : $u; }
C
  done
  (cd "$SRC" && ls unit*.c | xargs -P 2 -n 10 gcc -O2 -g -fPIC -fno-eliminate-unused-debug-types -c)
  touch "$SRC/done"
fi
for i in $(seq 0 $(( UNITS - 1 ))); do
  objcopy --prefix-symbols="c${i}_" "$SRC/unit$(( i % DISTINCT + 1 )).o" "$OUT/obj/u$i.o"
done
gcc -shared -nostdlib -o "$OUT/libbench.so" "$OUT"/obj/u*.o
objcopy --only-keep-debug "$OUT/libbench.so" "$DEBUG"
rm -rf "$OUT/obj"
echo "$DEBUG"

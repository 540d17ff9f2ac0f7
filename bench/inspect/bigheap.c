/*
 * Touches BIGHEAP_MIB MiB of heap (default 1024), then crashes: a large core
 * for the bench. A second argument "random" fills it with xorshift64 bytes
 * instead of 0x5a: a core gzip cannot shrink (bench/targets.ts, BIG_CORE=).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
__attribute__((noinline)) void crash(volatile int *p) { *p = 1; }
int main(int argc, char **argv) {
  size_t mib = argc > 1 ? strtoul(argv[1], NULL, 10) : 1024;
  char *heap = malloc(mib << 20);
  if (!heap) return 1;
  if (argc > 2 && strcmp(argv[2], "random") == 0) {
    uint64_t x = 88172645463325252ull;
    for (size_t i = 0; i < (mib << 20); i += 8) {
      x ^= x << 13;
      x ^= x >> 7;
      x ^= x << 17;
      memcpy(heap + i, &x, 8);
    }
  } else {
    memset(heap, 0x5a, mib << 20);
  }
  crash(NULL);
  return heap[0];
}

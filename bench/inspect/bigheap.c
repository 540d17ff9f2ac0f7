/* Touches BIGHEAP_MIB MiB of heap (default 1024), then crashes: a large core for the bench. */
#include <stdlib.h>
#include <string.h>
__attribute__((noinline)) void crash(volatile int *p) { *p = 1; }
int main(int argc, char **argv) {
  size_t mib = argc > 1 ? strtoul(argv[1], NULL, 10) : 1024;
  char *heap = malloc(mib << 20);
  if (!heap) return 1;
  memset(heap, 0x5a, mib << 20);
  crash(NULL);
  return heap[0];
}

/* A crash inside a container's own files (test/integration/core-namespace.test.ts):
 * writes its pid to argv[1], then reads a field through a NULL pointer two calls
 * deep. The test runs it under gdb from a tmpfs that only its mount namespace
 * sees; the function names below come only from this program's own file. */
#include <stdio.h>
#include <unistd.h>

struct record { int pad[4]; int value; };

__attribute__((noinline)) int contained_leaf(struct record *r) { return r->value * 3; }
__attribute__((noinline)) int contained_middle(struct record *r) { return contained_leaf(r) + 1; }

int main(int argc, char **argv) {
  if (argc > 1) {
    FILE *f = fopen(argv[1], "w");
    if (!f) return 2;
    fprintf(f, "%d\n", (int)getpid());
    fclose(f);
  }
  return contained_middle(NULL);
}

/*
 * memhog: allocate and touch memory until the kernel's OOM killer acts (or,
 * with vm.panic_on_oom=1, panics). Each chunk is written page by page so the
 * pages are really backed (malloc alone only reserves address space).
 *
 *   memhog [CHUNK_MIB [LIMIT_MIB]]   defaults: 16 MiB chunks, no limit
 *
 * Prints the running total every 64 MiB to stdout.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	size_t chunk_mib = argc > 1 ? strtoul(argv[1], NULL, 0) : 16;
	size_t limit_mib = argc > 2 ? strtoul(argv[2], NULL, 0) : 0;
	long page = sysconf(_SC_PAGESIZE);
	size_t total_mib = 0;

	if (chunk_mib == 0 || page <= 0) {
		fprintf(stderr, "usage: memhog [CHUNK_MIB [LIMIT_MIB]]\n");
		return 2;
	}
	setvbuf(stdout, NULL, _IONBF, 0);
	for (;;) {
		size_t bytes = chunk_mib << 20;
		unsigned char *p = malloc(bytes);
		if (p == NULL) {
			printf("memhog: malloc failed after %zu MiB\n", total_mib);
			return 1;
		}
		for (size_t i = 0; i < bytes; i += (size_t)page)
			p[i] = (unsigned char)(i >> 12);
		total_mib += chunk_mib;
		if (total_mib % 64 < chunk_mib)
			printf("memhog: %zu MiB\n", total_mib);
		if (limit_mib != 0 && total_mib >= limit_mib) {
			printf("memhog: reached %zu MiB limit\n", total_mib);
			return 0;
		}
	}
}

/*
 * crasher: a user-space crash in nested functions, for the core-capture
 * scenarios. Writes through a null struct pointer three calls deep, so the
 * report must name crasher_level_one, crasher_level_two, crasher_level_three.
 *
 *   crasher            SIGSEGV (SEGV_MAPERR at 0x10)
 */
#include <stddef.h>

struct record {
	long pad[2];
	long value;
};

__attribute__((noinline)) void crasher_level_three(struct record *r, long v)
{
	r->value = v; /* r is NULL: a store to address 0x10 */
}

__attribute__((noinline)) void crasher_level_two(struct record *r, long v)
{
	crasher_level_three(r, v + 1);
	__asm__ volatile("" ::: "memory"); /* not a tail call */
}

__attribute__((noinline)) void crasher_level_one(struct record *r)
{
	crasher_level_two(r, 41);
	__asm__ volatile("" ::: "memory");
}

int main(void)
{
	crasher_level_one(NULL);
	return 0;
}

/*
 * threadcrash: a user-space crash in a second thread, a few calls deep, for
 * the arm64 capture scenario and its fixtures. Built -O2 without frame
 * pointers (build/make-image.sh), so the unwinder needs .eh_frame; linked
 * dynamically (build: dynamic), so the core maps libc and the second
 * thread's stack starts in libc's start_thread.
 *
 *   threadcrash        SIGSEGV (SEGV_MAPERR at 0x18) in thread 2; the main
 *                      thread waits in pthread_join
 */
#include <pthread.h>
#include <stddef.h>

struct record {
	long pad[3];
	long value;
};

__attribute__((noinline)) void threadcrash_level_three(struct record *r, long v)
{
	r->value = v; /* r is NULL: a store to address 0x18 */
}

__attribute__((noinline)) void threadcrash_level_two(struct record *r, long v)
{
	threadcrash_level_three(r, v * 3);
	__asm__ volatile("" ::: "memory"); /* not a tail call */
}

__attribute__((noinline)) void threadcrash_level_one(struct record *r)
{
	threadcrash_level_two(r, 14);
	__asm__ volatile("" ::: "memory");
}

static void *threadcrash_worker(void *arg)
{
	threadcrash_level_one(arg);
	return NULL;
}

int main(void)
{
	pthread_t t;
	if (pthread_create(&t, NULL, threadcrash_worker, NULL) != 0)
		return 1;
	pthread_join(t, NULL);
	return 0;
}

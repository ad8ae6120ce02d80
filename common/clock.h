/* common/clock.h: clock readings in nanoseconds, and condition variables
 * whose timed waits run on CLOCK_MONOTONIC (a wall-clock step must not
 * shorten or stretch a timeout). */
#ifndef SANFS_COMMON_CLOCK_H
#define SANFS_COMMON_CLOCK_H

#include <pthread.h>
#include <stdint.h>
#include <time.h>

static inline uint64_t clock_ns(clockid_t c)
{
	struct timespec ts;
	clock_gettime(c, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* The timespec of ns nanoseconds (for pthread_cond_timedwait deadlines). */
static inline struct timespec clock_ts(uint64_t ns)
{
	return (struct timespec){.tv_sec = (time_t)(ns / 1000000000ull),
				 .tv_nsec = (long)(ns % 1000000000ull)};
}

/* pthread_cond_init with CLOCK_MONOTONIC for pthread_cond_timedwait. */
static inline int cond_init_monotonic(pthread_cond_t *cv)
{
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	int r = pthread_cond_init(cv, &ca);
	pthread_condattr_destroy(&ca);
	return r;
}

#endif

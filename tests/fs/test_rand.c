/* test_rand: the seeded sequence of the tests/fs randomized tests (see
 * test_rand.h). */
#include "test_rand.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static uint64_t rng_state;

uint64_t trand(void)
{
	/* splitmix64 */
	uint64_t z = (rng_state += 0x9E3779B97F4A7C15ull);
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	return z ^ (z >> 31);
}

uint64_t trand_seed(const char *test)
{
	const char *e = getenv("SANFS_SEED");
	uint64_t s = e ? strtoull(e, NULL, 0) : (uint64_t)time(NULL) ^ (uint64_t)clock();
	printf("%s: seed %" PRIu64 " (SANFS_SEED=%" PRIu64 " repeats it)\n", test, s, s);
	fflush(stdout);
	rng_state = s;
	return s;
}

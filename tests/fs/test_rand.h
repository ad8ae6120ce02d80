/* A seeded pseudo-random sequence for the randomized tests of tests/fs
 * (splitmix64): the seed is printed so a failing run can be repeated with
 * SANFS_SEED=N. One sequence per process; not thread-safe. */
#ifndef SANFS_TESTS_FS_TEST_RAND_H
#define SANFS_TESTS_FS_TEST_RAND_H

#include <stdint.h>

/* Start the sequence for test: from SANFS_SEED, else from the clock;
 * prints "TEST: seed N (SANFS_SEED=N repeats it)" and returns the seed. */
uint64_t trand_seed(const char *test);
/* The next number of the sequence. */
uint64_t trand(void);

#endif

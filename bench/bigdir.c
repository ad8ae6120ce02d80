/* bigdir: does a directory stay fast as it grows to 1,000,000 entries?
 * (issue 2 point 4: "lookup and create not slowing down linearly").
 *
 *   bigdir DIR [TOTAL [STEP]]     (defaults 1000000, 100000)
 *
 * Creates TOTAL empty files f0000000... in DIR, STEP at a time; after each
 * step prints the create rate of that step and the rate of 10,000 stat(2)
 * calls on random existing names and 10,000 on absent names (negative
 * lookups). A benchmark, not a test: compare the first and last rows. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static unsigned long long rnd_state = 88172645463325252ull;
static unsigned long long rnd(void)
{
	rnd_state ^= rnd_state << 13;
	rnd_state ^= rnd_state >> 7;
	rnd_state ^= rnd_state << 17;
	return rnd_state;
}

int main(int argc, char **argv)
{
	if (argc < 2 || argc > 4) {
		fprintf(stderr, "usage: bigdir DIR [TOTAL [STEP]]\n");
		return 2;
	}
	const char *dir = argv[1];
	long total = argc > 2 ? atol(argv[2]) : 1000000, step = argc > 3 ? atol(argv[3]) : 100000;
	if (total <= 0 || step <= 0) {
		fprintf(stderr, "bigdir: TOTAL and STEP must be positive\n");
		return 2;
	}
	char path[4096];
	printf("%10s %12s %14s %16s\n", "entries", "create/s", "stat hit/s", "stat miss/s");
	for (long done = 0; done < total;) {
		long n = total - done < step ? total - done : step;
		double t0 = now();
		for (long i = done; i < done + n; i++) {
			snprintf(path, sizeof(path), "%s/f%07ld", dir, i);
			int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0644);
			if (fd < 0) {
				fprintf(stderr, "bigdir: create %s: %s\n", path, strerror(errno));
				return 1;
			}
			close(fd);
		}
		double t1 = now();
		done += n;
		struct stat st;
		for (int k = 0; k < 10000; k++) {
			snprintf(path, sizeof(path), "%s/f%07llu", dir,
				 rnd() % (unsigned long long)done);
			if (stat(path, &st) != 0) {
				fprintf(stderr, "bigdir: stat %s: %s\n", path, strerror(errno));
				return 1;
			}
		}
		double t2 = now();
		for (int k = 0; k < 10000; k++) {
			snprintf(path, sizeof(path), "%s/x%07llu", dir, rnd() % 10000000ull);
			if (stat(path, &st) == 0 || errno != ENOENT) {
				fprintf(stderr, "bigdir: stat %s: unexpected result\n", path);
				return 1;
			}
		}
		double t3 = now();
		printf("%10ld %12.0f %14.0f %16.0f\n", done, n / (t1 - t0), 10000 / (t2 - t1),
		       10000 / (t3 - t2));
		fflush(stdout);
	}
	return 0;
}

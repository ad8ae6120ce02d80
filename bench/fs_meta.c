/* Metadata micro-benchmark for bench/fs_bench.sh (issue 2 point 8).
 *
 *   fs_meta create|stat|unlink DIR NFILES NDIRS
 *
 * Works on NFILES empty files named f%06d, all in DIR (NDIRS = 1) or spread
 * round-robin over DIR/d000 ... (NDIRS > 1; `create` makes those directories
 * before the clock starts, `unlink` removes them after it stops). Prints the
 * elapsed seconds and the rate: "create 10000 2.345s 4264/s". Exit 1 on the
 * first failing call, with the call and errno. */
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

static void name(char *out, size_t cap, const char *dir, long i, long ndirs)
{
	if (ndirs > 1)
		snprintf(out, cap, "%s/d%03ld/f%06ld", dir, i % ndirs, i);
	else
		snprintf(out, cap, "%s/f%06ld", dir, i);
}

int main(int argc, char **argv)
{
	if (argc != 5) {
		fprintf(stderr, "usage: fs_meta create|stat|unlink DIR NFILES NDIRS\n");
		return 2;
	}
	const char *op = argv[1], *dir = argv[2];
	long n = atol(argv[3]), ndirs = atol(argv[4]);
	if (strlen(dir) > 3000 || n <= 0 || ndirs <= 0 || ndirs > 1000) {
		fprintf(stderr, "fs_meta: bad arguments\n");
		return 2;
	}
	char p[4096];
	if (!strcmp(op, "create") && ndirs > 1)
		for (long d = 0; d < ndirs; d++) {
			snprintf(p, sizeof(p), "%s/d%03ld", dir, d);
			if (mkdir(p, 0755) < 0 && errno != EEXIST) {
				fprintf(stderr, "fs_meta: mkdir %s: %s\n", p, strerror(errno));
				return 1;
			}
		}
	struct stat st;
	double t0 = now();
	for (long i = 0; i < n; i++) {
		name(p, sizeof(p), dir, i, ndirs);
		int r;
		if (!strcmp(op, "create")) {
			r = open(p, O_WRONLY | O_CREAT | O_EXCL, 0644);
			if (r >= 0)
				r = close(r);
		} else if (!strcmp(op, "stat")) {
			r = stat(p, &st);
		} else if (!strcmp(op, "unlink")) {
			r = unlink(p);
		} else {
			fprintf(stderr, "fs_meta: unknown operation %s\n", op);
			return 2;
		}
		if (r < 0) {
			fprintf(stderr, "fs_meta: %s %s: %s\n", op, p, strerror(errno));
			return 1;
		}
	}
	double dt = now() - t0;
	if (!strcmp(op, "unlink") && ndirs > 1)
		for (long d = 0; d < ndirs; d++) {
			snprintf(p, sizeof(p), "%s/d%03ld", dir, d);
			rmdir(p);
		}
	printf("%s %ld %.3fs %.0f/s\n", op, n, dt, n / dt);
	return 0;
}

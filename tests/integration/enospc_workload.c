/* enospc_workload DIR SECONDS: a filesystem kept full by concurrent processes.
 *
 * Forks workers that run for SECONDS in DIR:
 *   writers (3)   create a file, unlink it while open (as stress-ng's hdd
 *                 stressor), write 64 KiB chunks until ENOSPC while space
 *                 comes and goes, then read everything back: every byte a
 *                 write acknowledged (short writes counted exactly) has its
 *                 value, every other byte reads zero;
 *   namer (1)     creates, mkdirs, long symlinks, hard links, renames (also
 *                 across directories) and xattrs in directories that grow,
 *                 and removes some, on the full filesystem;
 *   allocator (1) fallocate and punch-hole on a file, truncates it.
 * Every call may fail with ENOSPC (or, for names, EEXIST/ENOENT/ENOTEMPTY
 * where the worker's own bookkeeping allows it); anything else, EIO above
 * all (a journal aborted half-way through a handle), fails the run. At the
 * end the parent empties DIR and checks the filesystem still takes a file.
 * Exit 0 when every worker passed. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#define CHUNK 65536
#define MAX_CHUNKS 32768 /* 2 GiB: more than any test filesystem */

static time_t deadline;
static const char *who = "?";

static void die(const char *what, int e)
{
	fprintf(stderr, "enospc_workload: %s: %s: %s\n", who, what, strerror(e));
	exit(1);
}

/* ENOSPC, or one of the other allowed errnos (0-terminated list). */
static void expect(long r, const char *what, const int *ok)
{
	if (r >= 0 || errno == ENOSPC)
		return;
	for (; ok && *ok; ok++)
		if (errno == *ok)
			return;
	die(what, errno);
}

static uint64_t word(uint64_t id, uint64_t round, uint64_t pos)
{
	return id << 56 | (round & 0xfffff) << 36 | pos;
}

static void writer(int id)
{
	char path[64];
	snprintf(path, sizeof(path), "w%d", id);
	uint64_t *buf = malloc(CHUNK), *rb = malloc(CHUNK);
	uint32_t *wrote = calloc(MAX_CHUNKS, sizeof(*wrote));
	if (!buf || !rb || !wrote)
		die("malloc", ENOMEM);
	long rounds = 0, shorts = 0;
	while (time(NULL) < deadline) {
		int fd = open(path, O_CREAT | O_RDWR | O_TRUNC, 0600);
		if (fd < 0) {
			expect(-1, "open", NULL);
			usleep(1000);
			continue;
		}
		if (unlink(path))
			die("unlink", errno);
		uint64_t n = 0;
		for (; n < MAX_CHUNKS && time(NULL) < deadline; n++) {
			uint64_t pos = n * CHUNK;
			for (unsigned i = 0; i < CHUNK / 8; i++)
				buf[i] = word((uint64_t)id, (uint64_t)rounds, pos + i * 8);
			ssize_t w = pwrite(fd, buf, CHUNK, (off_t)pos);
			if (w < 0) {
				expect(-1, "write", NULL);
				break;
			}
			if (w < CHUNK)
				shorts++;
			wrote[n] = (uint32_t)w;
		}
		/* Read it back from sanfs, not from the page cache. */
		posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
		for (uint64_t c = 0; c < n; c++) {
			ssize_t r = pread(fd, rb, CHUNK, (off_t)(c * CHUNK));
			if (r < 0)
				die("read", errno);
			for (ssize_t i = 0; i + 8 <= r; i += 8) {
				uint64_t at = c * CHUNK + (uint64_t)i;
				if ((size_t)i < wrote[c] && (size_t)i + 8 > wrote[c])
					continue; /* a word cut by a short write */
				uint64_t want = (size_t)i < wrote[c] ? word((uint64_t)id,
									  (uint64_t)rounds, at)
								     : 0;
				if (rb[i / 8] != want) {
					fprintf(stderr,
						"enospc_workload: %s round %ld: offset %llu reads "
						"%016llx, wrote %016llx\n",
						who, rounds, (unsigned long long)at,
						(unsigned long long)rb[i / 8],
						(unsigned long long)want);
					exit(1);
				}
			}
		}
		memset(wrote, 0, n * sizeof(*wrote));
		if (close(fd))
			die("close", errno);
		rounds++;
	}
	printf("%s: %ld rounds, %ld short writes\n", who, rounds, shorts);
}

static void namer(void)
{
	static const int exist[] = {EEXIST, ENOENT, ENOTEMPTY, 0};
	char target[1500]; /* longer than an inode holds: a symlink block */
	memset(target, 'x', sizeof(target) - 1);
	target[sizeof(target) - 1] = 0;
	char a[64], b[64], val[512];
	memset(val, 'v', sizeof(val));
	long ops = 0, nospc = 0;
	unsigned seed = 1;
	for (int d = 0; d < 4; d++) {
		snprintf(a, sizeof(a), "d%d", d);
		expect(mkdir(a, 0755), "mkdir", exist);
	}
	while (time(NULL) < deadline) {
		int d = rand_r(&seed) % 4, k = rand_r(&seed) % 3000, op = rand_r(&seed) % 10;
		snprintf(a, sizeof(a), "d%d/n%d", d, k);
		snprintf(b, sizeof(b), "d%d/n%d", rand_r(&seed) % 4, rand_r(&seed) % 3000);
		long r = 0;
		errno = 0;
		switch (op) {
		case 0:
		case 1: {
			int fd = open(a, O_CREAT | O_EXCL | O_WRONLY, 0644);
			r = fd;
			if (fd >= 0)
				close(fd);
			break;
		}
		case 2: r = mkdir(a, 0755); break;
		case 3: r = symlink(target, a); break;
		case 4: r = link(a, b); break;
		case 5: r = rename(a, b); break;
		case 6: r = setxattr(a, "user.k", val, sizeof(val), 0); break;
		case 7: r = unlink(a); break;
		case 8: r = rmdir(a); break;
		default: r = renameat2(AT_FDCWD, a, AT_FDCWD, b, RENAME_NOREPLACE); break;
		}
		if (r < 0 && errno == ENOSPC)
			nospc++;
		/* rmdir of a file, unlink of a directory, xattr through a
		 * symlink (its target is no name):
		 * the bookkeeping is loose on purpose; only these are allowed. */
		static const int loose[] = {EEXIST, ENOENT, ENOTEMPTY, ENOTDIR, EISDIR,
					    EPERM, EMLINK, ENODATA, ENAMETOOLONG, 0};
		expect(r, op == 6 ? "setxattr" : "namespace op", loose);
		ops++;
	}
	printf("%s: %ld operations, %ld ENOSPC\n", who, ops, nospc);
}

static void allocator(void)
{
	long ops = 0, nospc = 0;
	unsigned seed = 7;
	int fd = open("falloc", O_CREAT | O_RDWR, 0644);
	if (fd < 0)
		die("open", errno);
	while (time(NULL) < deadline) {
		off_t off = (off_t)(rand_r(&seed) % 4096) * 65536;
		off_t len = (off_t)(1 + rand_r(&seed) % 256) * 65536;
		long r;
		switch (rand_r(&seed) % 4) {
		case 0:
		case 1: r = fallocate(fd, 0, off, len); break;
		case 2: r = fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, off, len); break;
		default: r = ftruncate(fd, off); break;
		}
		if (r < 0 && errno == ENOSPC)
			nospc++;
		expect(r, "fallocate/punch/truncate", NULL);
		ops++;
	}
	close(fd);
	printf("%s: %ld operations, %ld ENOSPC\n", who, ops, nospc);
}

static int rm_tree(const char *dir)
{
	char cmd[512];
	snprintf(cmd, sizeof(cmd), "rm -rf -- '%s'/* 2>&1", dir);
	return system(cmd);
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: enospc_workload DIR SECONDS\n");
		return 2;
	}
	if (chdir(argv[1]))
		die(argv[1], errno);
	deadline = time(NULL) + atoi(argv[2]);
	static const char *names[] = {"writer 1", "writer 2", "writer 3", "namer", "allocator"};
	pid_t pids[5];
	for (int i = 0; i < 5; i++) {
		pids[i] = fork();
		if (pids[i] < 0)
			die("fork", errno);
		if (pids[i] == 0) {
			who = names[i];
			if (i < 3)
				writer(i + 1);
			else if (i == 3)
				namer();
			else
				allocator();
			fflush(stdout);
			_exit(0);
		}
	}
	int failed = 0;
	for (int i = 0; i < 5; i++) {
		int st;
		if (waitpid(pids[i], &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
			fprintf(stderr, "enospc_workload: %s failed\n", names[i]);
			failed = 1;
		}
	}
	/* Still a working filesystem: empty it, then a file takes data. */
	who = "after";
	if (rm_tree(".") != 0)
		die("rm -rf", EIO);
	char buf[CHUNK];
	memset(buf, 'z', sizeof(buf));
	int fd = open("after", O_CREAT | O_RDWR | O_TRUNC, 0644);
	if (fd < 0)
		die("open after", errno);
	for (int i = 0; i < 16; i++)
		if (write(fd, buf, sizeof(buf)) != (ssize_t)sizeof(buf))
			die("write after", errno);
	if (fsync(fd) || close(fd))
		die("fsync after", errno);
	return failed;
}

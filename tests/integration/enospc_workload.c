/* enospc_workload DIR SECONDS: a filesystem kept full by concurrent processes.
 *
 * Forks workers that run for SECONDS in DIR:
 *   writers (3)   create a file, unlink it while open (as stress-ng's hdd
 *                 stressor), write 64 KiB chunks until ENOSPC while space
 *                 comes and goes, then read everything back: every byte a
 *                 write acknowledged (short writes counted exactly) has its
 *                 value, every other byte reads zero;
 *   namer (1)     creates, mkdirs, long symlinks, hard links, renames (also
 *                 across directories, and with RENAME_WHITEOUT: a whiteout
 *                 left, or nothing changed) and xattrs in directories that grow,
 *                 and removes some, on the full filesystem;
 *   allocator (1) fallocate and punch-hole on a file, truncates it.
 * Every call may fail with ENOSPC (or, for names, EEXIST/ENOENT/ENOTEMPTY
 * where the worker's own bookkeeping allows it); anything else, EIO above
 * all (a journal aborted half-way through a handle), fails the run; a
 * rename that fails must leave the directories' mtimes alone. At the end
 * the parent empties DIR and checks the filesystem still takes a file.
 * Exit 0 when every worker passed.
 *
 * enospc_workload DIR after-free: fill DIR's filesystem, free 1 MiB with a
 * truncate and at once set a 3,500-byte xattr (needs a block); again, then
 * 2,000 links into one directory; again, then mkdir and 2,000 renames into
 * another: all must succeed (the freed blocks are committed on demand). */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#define CHUNK	   65536
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
				uint64_t want = (size_t)i < wrote[c]
						    ? word((uint64_t)id, (uint64_t)rounds, at)
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
		int d = rand_r(&seed) % 4, k = rand_r(&seed) % 3000, op = rand_r(&seed) % 11;
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
		case 2:
			r = mkdir(a, 0755);
			break;
		case 3:
			r = symlink(target, a);
			break;
		case 4:
			r = link(a, b);
			break;
		case 5: {
			/* A rename that fails changes no directory's times
			 * (only this worker changes d0-d3). */
			char da[8], db[8];
			snprintf(da, sizeof(da), "%.2s", a);
			snprintf(db, sizeof(db), "%.2s", b);
			struct stat sa0, sb0, sa1, sb1;
			if (stat(da, &sa0) || stat(db, &sb0))
				die("stat", errno);
			r = rename(a, b);
			if (r < 0 && errno == ENOSPC) {
				if (stat(da, &sa1) || stat(db, &sb1))
					die("stat", errno);
				if (sa1.st_mtim.tv_sec != sa0.st_mtim.tv_sec ||
				    sa1.st_mtim.tv_nsec != sa0.st_mtim.tv_nsec ||
				    sb1.st_mtim.tv_sec != sb0.st_mtim.tv_sec ||
				    sb1.st_mtim.tv_nsec != sb0.st_mtim.tv_nsec)
					die("rename failed with ENOSPC but changed a directory's "
					    "mtime",
					    EINVAL);
				errno = ENOSPC;
			}
			break;
		}
		case 6:
			r = setxattr(a, "user.k", val, sizeof(val), 0);
			break;
		case 7:
			r = unlink(a);
			break;
		case 8:
			r = rmdir(a);
			break;
		case 9: {
			/* RENAME_WHITEOUT: a whiteout is left under the old name,
			 * or (ENOSPC) nothing changed: no name lost. */
			struct stat sa0, sb0, sa1;
			bool had = lstat(a, &sa0) == 0;
			/* Two names of one inode: a rename does nothing. */
			bool same = had && lstat(b, &sb0) == 0 && sb0.st_ino == sa0.st_ino;
			r = renameat2(AT_FDCWD, a, AT_FDCWD, b, RENAME_WHITEOUT);
			int e = errno;
			bool has = lstat(a, &sa1) == 0;
			if (r == 0 && !same && (!has || !S_ISCHR(sa1.st_mode) || sa1.st_rdev != 0))
				die("rename with a whiteout left no whiteout", EINVAL);
			if (r < 0 && e == ENOSPC &&
			    (had != has || (had && sa1.st_ino != sa0.st_ino)))
				die("rename with a whiteout failed with ENOSPC but changed the "
				    "name",
				    EINVAL);
			errno = e;
			break;
		}
		default:
			r = renameat2(AT_FDCWD, a, AT_FDCWD, b, RENAME_NOREPLACE);
			break;
		}
		if (r < 0 && errno == ENOSPC)
			nospc++;
		/* rmdir of a file, unlink of a directory, xattr through a
		 * symlink (its target is no name):
		 * the bookkeeping is loose on purpose; only these are allowed. */
		static const int loose[] = {EEXIST, ENOENT, ENOTEMPTY, ENOTDIR,	     EISDIR,
					    EPERM,  EMLINK, ENODATA,   ENAMETOOLONG, 0};
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
		case 1:
			r = fallocate(fd, 0, off, len);
			break;
		case 2:
			r = fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, off, len);
			break;
		default:
			r = ftruncate(fd, off);
			break;
		}
		if (r < 0 && errno == ENOSPC)
			nospc++;
		expect(r, "fallocate/punch/truncate", NULL);
		ops++;
	}
	close(fd);
	printf("%s: %ld operations, %ld ENOSPC\n", who, ops, nospc);
}

/* Right after space comes back (a big file removed, its blocks not yet
 * committed free), operations that need a new block must still get one:
 * sanfs commits and tries again rather than answer ENOSPC. */
static int after_free(void)
{
	who = "after-free";
	char buf[CHUNK];
	memset(buf, 'f', sizeof(buf));
	int fd = open("x", O_CREAT | O_WRONLY | O_TRUNC, 0644);
	int fd2 = open("big", O_CREAT | O_WRONLY | O_TRUNC, 0644);
	if (fd < 0 || fd2 < 0 || mkdir("dir", 0755))
		die("setup", errno);
	close(fd);
	for (int round = 0; round < 3; round++) {
		ssize_t w;
		while ((w = write(fd2, buf, sizeof(buf))) > 0)
			;
		if (w < 0 && errno != ENOSPC)
			die("fill", errno);
		/* Free a little: a transaction small enough to stay uncommitted
		 * for a while, so its blocks are not handed out yet. */
		off_t end = lseek(fd2, 0, SEEK_END);
		if (end < 1 << 20 || ftruncate(fd2, end - (1 << 20)))
			die("ftruncate", errno);
		char name[128];
		switch (round) {
		case 0: /* an xattr that needs its own block */
			if (setxattr("x", "user.big", buf, 3500, 0))
				die("setxattr right after a free", errno);
			break;
		case 1: /* links that grow a directory */
			for (int i = 0; i < 2000; i++) {
				snprintf(name, sizeof(name),
					 "dir/l%05d-a-long-name-to-fill-directory-blocks-fast", i);
				if (link("x", name))
					die("link right after a free", errno);
			}
			break;
		default: /* renames that grow another directory */
			if (mkdir("dir2", 0755))
				die("mkdir right after a free", errno);
			for (int i = 0; i < 2000; i++) {
				char to[128];
				snprintf(name, sizeof(name),
					 "dir/l%05d-a-long-name-to-fill-directory-blocks-fast", i);
				snprintf(to, sizeof(to),
					 "dir2/r%05d-a-long-name-to-fill-directory-blocks-fast", i);
				if (rename(name, to))
					die("rename right after a free", errno);
			}
			break;
		}
	}
	close(fd2);
	printf("after-free: setxattr, 2000 links, 2000 renames right after freeing: ok\n");
	return 0;
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
		fprintf(stderr, "usage: enospc_workload DIR SECONDS|after-free\n");
		return 2;
	}
	if (chdir(argv[1]))
		die(argv[1], errno);
	/* It fills the filesystem: never a large one (a mount point that is
	 * not mounted, say, on the host's root filesystem). */
	struct statvfs sv;
	if (statvfs(".", &sv))
		die("statvfs", errno);
	if ((unsigned long long)sv.f_blocks * sv.f_frsize > (1ull << 30)) {
		fprintf(stderr,
			"enospc_workload: %s holds %llu MiB: refusing to fill more than 1 GiB\n",
			argv[1], (unsigned long long)sv.f_blocks * sv.f_frsize >> 20);
		return 2;
	}
	if (!strcmp(argv[2], "after-free"))
		return after_free();
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

/* The workload and checker of the crash test (crash_test.sh, issue 2 point 5).
 *
 *   crash_workload run DIR LOG ROUND [SECONDS]
 *       THREADS (4) threads write files under DIR until killed (or SECONDS
 *       pass, or an operation fails, e.g. once the daemon is dead). Every
 *       operation made durable by fsync, fdatasync, O_SYNC/O_DSYNC (half of the
 *       appends and O_SYNC/O_DSYNC writes through O_DIRECT) or an fsync
 *       of the directory is appended to LOG (one line, O_APPEND) only after
 *       the call that made it durable returned. Intents of unlinks and renames
 *       are logged before the call, so the checker knows which outcomes a crash
 *       may leave.
 *   crash_workload check DIR LOG
 *       verifies that every acknowledged operation in LOG holds in DIR:
 *       acknowledged bytes are present with the right content, acknowledged
 *       renames, unlinks and mkdirs happened. Exit 0 when all hold.
 *
 * File contents are a pure function of (file id, offset), so any write of
 * any round leaves the same byte at the same place and a check needs no copy
 * of the data. LOG lines:
 *   F id len        file DIR/id (or DIR/m_id once renamed) has >= len bytes, [0,len) right
 *   R id off len    bytes [off, off+len) of the file are right (O_SYNC/O_DSYNC write)
 *   m id / M id     rename of DIR/id to DIR/m_id intended / acknowledged
 *   u id / U id     unlink intended / acknowledged
 *   D id            directory DIR/d_id exists (mkdir + fsync of DIR) */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* Paths are DIR (checked to be short) plus a short id. */
#if defined(__GNUC__) && !defined(__clang__) /* clang has no such warning */
#pragma GCC diagnostic ignored "-Wformat-truncation"
#endif

#define THREADS	 4
#define MAX_FILE (1 << 20)

static const char *dir, *logpath;
static int logfd, dirfd_, round_no;
static volatile int stop;
static int open_fds[THREADS][4]; /* unlinked files kept open */
static double deadline;

static uint64_t mix(uint64_t x)
{
	x += 0x9E3779B97F4A7C15ull;
	x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
	x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
	return x ^ (x >> 31);
}

static uint64_t id_hash(const char *id)
{
	uint64_t h = 1469598103934665603ull;
	for (; *id; id++)
		h = (h ^ (unsigned char)*id) * 1099511628211ull;
	return h;
}

static void pattern(unsigned char *buf, size_t len, uint64_t seed, uint64_t off)
{
	for (size_t i = 0; i < len; i++) {
		uint64_t o = off + i;
		buf[i] = (unsigned char)(mix(seed ^ (o >> 3)) >> (8 * (o & 7)));
	}
}

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void logline(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void logline(const char *fmt, ...)
{
	char line[256];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (write(logfd, line, (size_t)n) != n) {
		perror("crash_workload: log write");
		exit(2);
	}
}

/* Report the failure that ends a thread (expected once the daemon dies). */
static void *quit(const char *what, const char *id)
{
	if (!stop)
		fprintf(stderr, "crash_workload: %s %s: %s (stopping)\n", what, id,
			strerror(errno));
	stop = 1;
	return NULL;
}

static int write_all(int fd, const unsigned char *b, size_t len, off_t off)
{
	while (len) {
		ssize_t n = pwrite(fd, b, len, off);
		if (n <= 0)
			return -1;
		b += n;
		len -= (size_t)n;
		off += n;
	}
	return 0;
}

/* Open path for writing with flags, through O_DIRECT when direct is set,
 * and write len bytes at off. sanfs takes unaligned O_DIRECT I/O; a
 * filesystem that refuses it (EINVAL) gets the same write without O_DIRECT.
 * Returns the descriptor, or -1 with errno set. */
static int open_write(const char *path, int flags, int direct, const unsigned char *b, size_t len,
		      off_t off)
{
	int fd = open(path, flags | (direct ? O_DIRECT : 0));
	if (fd < 0 && direct && errno == EINVAL)
		return open_write(path, flags, 0, b, len, off);
	if (fd < 0)
		return -1;
	if (write_all(fd, b, len, off) == 0)
		return fd;
	int e = errno;
	close(fd);
	if (direct && e == EINVAL)
		return open_write(path, flags, 0, b, len, off);
	errno = e;
	return -1;
}

struct file {
	char id[64];
	size_t len; /* bytes written so far (acknowledged or not) */
	int moved, gone;
};

static void *worker(void *arg)
{
	long t = (long)arg;
	uint64_t r = mix((uint64_t)time(NULL) ^ (uint64_t)t << 40 ^ (uint64_t)getpid() << 20);
	static __thread struct file files[64];
	int nfiles = 0;
	unsigned char *buf = malloc(MAX_FILE);
	char path[4096];
	for (long n = 0; !stop && now() < deadline; n++) {
		r = mix(r);
		unsigned op = (unsigned)(r % 100);
		struct file *f = nfiles ? &files[(r >> 8) % (uint64_t)nfiles] : NULL;
		if (!f || op < 30 || f->gone) {
			/* New file, written in a few pieces, then fsync. */
			if (nfiles == 64) {
				/* Keep the data set bounded: the oldest file goes. */
				struct file *o = &files[0];
				if (!o->gone) {
					snprintf(path, sizeof(path), "%s/%s%s", dir,
						 o->moved ? "m_" : "", o->id);
					logline("u %s\n", o->id);
					if (unlink(path) < 0 || fsync(dirfd_) < 0)
						return quit("unlink", o->id);
					logline("U %s\n", o->id);
				}
				memmove(files, files + 1, sizeof(files[0]) * 63);
				nfiles--;
			}
			f = &files[nfiles];
			memset(f, 0, sizeof(*f));
			snprintf(f->id, sizeof(f->id), "r%dt%ldn%ld", round_no, t, n);
			size_t len = 1 + (mix(r) % (r % 16 == 0 ? 256 * 1024 : 65536));
			pattern(buf, len, id_hash(f->id), 0);
			snprintf(path, sizeof(path), "%s/%s", dir, f->id);
			int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0644);
			if (fd < 0)
				return quit("create", f->id);
			nfiles++;
			size_t half = len / 2;
			if (write_all(fd, buf, half, 0) ||
			    write_all(fd, buf + half, len - half, (off_t)half))
				return quit("write", f->id);
			f->len = len;
			if (fsync(fd) < 0)
				return quit("fsync", f->id);
			close(fd);
			logline("F %s %zu\n", f->id, len);
		} else if (op < 50) {
			/* Append, then fdatasync. */
			snprintf(path, sizeof(path), "%s/%s%s", dir, f->moved ? "m_" : "", f->id);
			size_t add = 1 + mix(r) % 20000;
			if (f->len + add > MAX_FILE)
				continue;
			pattern(buf, add, id_hash(f->id), f->len);
			/* Half of them through O_DIRECT (FOPEN_DIRECT_IO on sanfs). */
			int fd = open_write(path, O_WRONLY, op % 2, buf, add, (off_t)f->len);
			if (fd < 0)
				return quit("append", f->id);
			f->len += add;
			if (fdatasync(fd) < 0)
				return quit("fdatasync", f->id);
			close(fd);
			logline("F %s %zu\n", f->id, f->len);
		} else if (op < 70) {
			/* O_SYNC or O_DSYNC overwrite inside the file. */
			snprintf(path, sizeof(path), "%s/%s%s", dir, f->moved ? "m_" : "", f->id);
			/* It may run past the end: the new size must then be
			 * durable when the write returns, too. */
			size_t off = mix(r) % f->len, len = 1 + mix(r + 1) % 16384;
			if (off + len > MAX_FILE)
				len = MAX_FILE - off;
			pattern(buf, len, id_hash(f->id), off);
			/* Half through O_DIRECT: sanfs then makes them durable in
			 * the write itself (no FSYNC from the kernel). */
			int fd = open_write(path, O_WRONLY | (op < 60 ? O_SYNC : O_DSYNC), op % 2,
					    buf, len, (off_t)off);
			if (fd < 0)
				return quit("sync write", f->id);
			if (off + len > f->len)
				f->len = off + len;
			close(fd);
			logline("R %s %zu %zu\n", f->id, off, len);
		} else if (op < 80 && !f->moved) {
			/* Rename, then fsync the directory. */
			char to[4096];
			snprintf(path, sizeof(path), "%s/%s", dir, f->id);
			snprintf(to, sizeof(to), "%s/m_%s", dir, f->id);
			logline("m %s\n", f->id);
			if (rename(path, to) < 0)
				return quit("rename", f->id);
			f->moved = 1;
			if (fsync(dirfd_) < 0)
				return quit("fsync dir", f->id);
			logline("M %s\n", f->id);
		} else if (op < 92) {
			/* Unlink, then fsync the directory. */
			snprintf(path, sizeof(path), "%s/%s%s", dir, f->moved ? "m_" : "", f->id);
			logline("u %s\n", f->id);
			if (unlink(path) < 0)
				return quit("unlink", f->id);
			f->gone = 1;
			if (fsync(dirfd_) < 0)
				return quit("fsync dir", f->id);
			logline("U %s\n", f->id);
		} else if (op < 95) {
			/* A file unlinked while open, still open at the crash: the
			 * orphan list must reclaim it (fsck would see leaked blocks). */
			char id[64];
			snprintf(id, sizeof(id), "o_r%dt%ldn%ld", round_no, t, n);
			snprintf(path, sizeof(path), "%s/%s", dir, id);
			int fd = open(path, O_RDWR | O_CREAT | O_EXCL, 0644);
			if (fd < 0)
				return quit("create", id);
			size_t len = 1 + mix(r) % (256 * 1024);
			pattern(buf, len, id_hash(id), 0);
			if (write_all(fd, buf, len, 0) || fsync(fd) < 0)
				return quit("write", id);
			logline("u %s\n", id);
			if (unlink(path) < 0 || fsync(dirfd_) < 0)
				return quit("unlink", id);
			logline("U %s\n", id);
			if (open_fds[t % THREADS][n % 4] > 0)
				close(open_fds[t % THREADS][n % 4]);
			open_fds[t % THREADS][n % 4] = fd;
		} else {
			char id[64];
			snprintf(id, sizeof(id), "r%dt%ldn%ld", round_no, t, n);
			snprintf(path, sizeof(path), "%s/d_%s", dir, id);
			if (mkdir(path, 0755) < 0)
				return quit("mkdir", id);
			if (fsync(dirfd_) < 0)
				return quit("fsync dir", id);
			logline("D %s\n", id);
		}
	}
	free(buf);
	return NULL;
}

static int run(int argc, char **argv)
{
	if (argc < 5)
		return 2;
	dir = argv[2];
	logpath = argv[3];
	round_no = atoi(argv[4]);
	deadline = now() + (argc > 5 ? atof(argv[5]) : 1e9);
	logfd = open(logpath, O_WRONLY | O_APPEND | O_CREAT, 0644);
	dirfd_ = open(dir, O_RDONLY | O_DIRECTORY);
	if (logfd < 0 || dirfd_ < 0) {
		perror("crash_workload: open log or dir");
		return 2;
	}
	pthread_t th[THREADS];
	for (long t = 0; t < THREADS; t++)
		pthread_create(&th[t], NULL, worker, (void *)t);
	for (int t = 0; t < THREADS; t++)
		pthread_join(th[t], NULL);
	return 0;
}

/* ---- check ---- */

struct rec {
	char id[64];
	size_t len;
	int intent_m, moved, intent_u, gone, isdir;
	struct {
		size_t off, len;
	} * ranges;
	int nranges;
};

static struct rec *recs;
static size_t nrecs, caprecs;

static struct rec *rec_get(const char *id)
{
	/* Linear probing hash on the id. */
	if (nrecs * 2 >= caprecs) {
		size_t oc = caprecs;
		struct rec *old = recs;
		caprecs = caprecs ? caprecs * 2 : 1024;
		recs = calloc(caprecs, sizeof(*recs));
		nrecs = 0;
		for (size_t i = 0; i < oc; i++)
			if (old[i].id[0]) {
				struct rec *n = rec_get(old[i].id);
				*n = old[i];
			}
		free(old);
	}
	size_t h = id_hash(id) % caprecs;
	while (recs[h].id[0] && strcmp(recs[h].id, id))
		h = (h + 1) % caprecs;
	if (!recs[h].id[0]) {
		snprintf(recs[h].id, sizeof(recs[h].id), "%s", id);
		nrecs++;
	}
	return &recs[h];
}

static int check_bytes(const char *path, const char *id, size_t off, size_t len, unsigned char *got,
		       unsigned char *want)
{
	int fd = open(path, O_RDONLY);
	if (fd < 0) {
		printf("FAIL %s: open: %s\n", path, strerror(errno));
		return 1;
	}
	ssize_t n = pread(fd, got, len, (off_t)off);
	close(fd);
	if (n != (ssize_t)len) {
		printf("FAIL %s: acknowledged [%zu, %zu) but read %zd bytes\n", path, off,
		       off + len, n);
		return 1;
	}
	pattern(want, len, id_hash(id), off);
	for (size_t i = 0; i < len; i++)
		if (got[i] != want[i]) {
			printf("FAIL %s: byte %zu is 0x%02x, acknowledged 0x%02x\n", path, off + i,
			       got[i], want[i]);
			return 1;
		}
	return 0;
}

static int check(int argc, char **argv)
{
	if (argc < 4)
		return 2;
	dir = argv[2];
	FILE *lf = fopen(argv[3], "r");
	if (!lf) {
		perror(argv[3]);
		return 2;
	}
	char line[512], op[4], id[64];
	size_t a, b;
	long lines = 0;
	while (fgets(line, sizeof(line), lf)) {
		lines++;
		int k = sscanf(line, "%3s %63s %zu %zu", op, id, &a, &b);
		if (k < 2 || !strchr(line, '\n')) {
			/* Only the very last line may be torn (killed while logging). */
			int c = fgetc(lf);
			if (c == EOF)
				break;
			printf("FAIL log line %ld malformed: %s", lines, line);
			return 1;
		}
		struct rec *r = rec_get(id);
		switch (op[0]) {
		case 'F':
			if (a > r->len)
				r->len = a;
			break;
		case 'R':
			r->ranges =
			    realloc(r->ranges, sizeof(*r->ranges) * (size_t)(r->nranges + 1));
			r->ranges[r->nranges].off = a;
			r->ranges[r->nranges++].len = b;
			break;
		case 'm':
			r->intent_m = 1;
			break;
		case 'M':
			r->moved = 1;
			break;
		case 'u':
			r->intent_u = 1;
			break;
		case 'U':
			r->gone = 1;
			break;
		case 'D':
			r->isdir = 1;
			break;
		}
	}
	fclose(lf);
	unsigned char *got = malloc(MAX_FILE), *want = malloc(MAX_FILE);
	long fails = 0, files = 0, bytes = 0;
	char p0[4096], p1[4096];
	struct stat st;
	for (size_t i = 0; i < caprecs && fails < 20; i++) {
		struct rec *r = &recs[i];
		if (!r->id[0])
			continue;
		if (r->isdir) {
			snprintf(p0, sizeof(p0), "%s/d_%s", dir, r->id);
			if (stat(p0, &st) < 0 || !S_ISDIR(st.st_mode)) {
				printf("FAIL %s: acknowledged mkdir missing\n", p0);
				fails++;
			}
			continue;
		}
		snprintf(p0, sizeof(p0), "%s/%s", dir, r->id);
		snprintf(p1, sizeof(p1), "%s/m_%s", dir, r->id);
		int e0 = lstat(p0, &st) == 0, e1 = lstat(p1, &st) == 0;
		if (r->gone) {
			if (e0 || e1) {
				printf("FAIL %s: acknowledged unlink, still there\n", e0 ? p0 : p1);
				fails++;
			}
			continue;
		}
		if (e0 && e1) {
			printf("FAIL %s: present under both names\n", p0);
			fails++;
			continue;
		}
		if (r->moved && e0) {
			printf("FAIL %s: acknowledged rename to m_%s undone\n", p0, r->id);
			fails++;
			continue;
		}
		if (!e0 && !e1) {
			if (r->intent_u)
				continue; /* an unacknowledged unlink may have happened */
			if (r->len || r->nranges) {
				printf("FAIL %s: acknowledged file missing\n", p0);
				fails++;
			}
			continue;
		}
		if (e0 == 0 && !r->intent_m) {
			printf("FAIL %s: renamed without a rename\n", p1);
			fails++;
			continue;
		}
		const char *p = e0 ? p0 : p1;
		files++;
		if (r->len) {
			fails += check_bytes(p, r->id, 0, r->len, got, want);
			bytes += (long)r->len;
		}
		for (int k = 0; k < r->nranges; k++)
			fails +=
			    check_bytes(p, r->id, r->ranges[k].off, r->ranges[k].len, got, want);
	}
	printf("crash check: %ld log lines, %ld files checked (%ld acknowledged bytes), %ld "
	       "failures\n",
	       lines, files, bytes, fails);
	return fails ? 1 : 0;
}

int main(int argc, char **argv)
{
	if (argc >= 3 && strlen(argv[2]) > 3000) {
		fprintf(stderr, "crash_workload: DIR path too long\n");
		return 2;
	}
	if (argc >= 2 && !strcmp(argv[1], "run"))
		return run(argc, argv);
	if (argc >= 2 && !strcmp(argv[1], "check"))
		return check(argc, argv);
	fprintf(stderr, "usage: crash_workload run DIR LOG ROUND [SECONDS]\n"
			"       crash_workload check DIR LOG\n");
	return 2;
}

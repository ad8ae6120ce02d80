/* tcheck: see tcheck.h. */
#include "tcheck.h"

#include <fcntl.h>
#include <ftw.h>
#include <grp.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static char root_path[PATH_MAX];
static const char *cur_case = "";
static enum t_fs fs_kind = T_FS_OTHER;

const char *t_root(void)
{
	return root_path;
}

enum t_fs t_fs_kind(void)
{
	return fs_kind;
}

const char *t_fs_name(void)
{
	switch (fs_kind) {
	case T_FS_EXT4:
		return "ext4";
	case T_FS_TMPFS:
		return "tmpfs";
	case T_FS_FUSE:
		return "fuse";
	default:
		return "other";
	}
}

const char *t_errname(int e)
{
	static const struct {
		int e;
		const char *n;
	} names[] = {
	    {0, "0"},
	    {EPERM, "EPERM"},
	    {ENOENT, "ENOENT"},
	    {EIO, "EIO"},
	    {EBADF, "EBADF"},
	    {EACCES, "EACCES"},
	    {EEXIST, "EEXIST"},
	    {EXDEV, "EXDEV"},
	    {ENOTDIR, "ENOTDIR"},
	    {EISDIR, "EISDIR"},
	    {EINVAL, "EINVAL"},
	    {EFBIG, "EFBIG"},
	    {ENOSPC, "ENOSPC"},
	    {ESPIPE, "ESPIPE"},
	    {EROFS, "EROFS"},
	    {EMLINK, "EMLINK"},
	    {ERANGE, "ERANGE"},
	    {ENAMETOOLONG, "ENAMETOOLONG"},
	    {ENOSYS, "ENOSYS"},
	    {ENOTEMPTY, "ENOTEMPTY"},
	    {ELOOP, "ELOOP"},
	    {ENODATA, "ENODATA"},
	    {EOPNOTSUPP, "EOPNOTSUPP"},
	    {ENXIO, "ENXIO"},
	    {E2BIG, "E2BIG"},
	    {ETXTBSY, "ETXTBSY"},
	    {EBUSY, "EBUSY"},
	    {EOVERFLOW, "EOVERFLOW"},
	    {ENOTCONN, "ENOTCONN"},
	    {EAGAIN, "EAGAIN"},
	};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (names[i].e == e)
			return names[i].n;
	static __thread char buf[32];
	snprintf(buf, sizeof(buf), "errno %d", e);
	return buf;
}

size_t t_memdiff(const void *a, const void *b, size_t n)
{
	const unsigned char *x = a, *y = b;
	for (size_t i = 0; i < n; i++)
		if (x[i] != y[i])
			return i;
	return n;
}

void t_fail(const char *file, int line, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	fprintf(stderr, "  %s: %s:%d: %s\n", cur_case, file, line, msg);
	fflush(stderr);
	_exit(1);
}

void t_fail_cond(const char *file, int line, const char *cond, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	t_fail(file, line, "(%s) failed: %s", cond, msg);
}

void t_skip(const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	fprintf(stderr, "  %s: skip: %s\n", cur_case, msg);
	fflush(stderr);
	_exit(77);
}

void t_note(const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	fprintf(stderr, "  %s: %s\n", cur_case, msg);
	fflush(stderr);
}

void t_as_user_at(const char *file, int line, uid_t uid, gid_t gid, void (*fn)(void *), void *arg)
{
	fflush(stdout);
	fflush(stderr);
	pid_t pid = fork();
	if (pid < 0)
		t_fail(file, line, "fork: %s", strerror(errno));
	if (pid == 0) {
		if (setgroups(0, NULL) < 0 || setresgid(gid, gid, gid) < 0 ||
		    setresuid(uid, uid, uid) < 0)
			t_fail(file, line, "dropping to uid %u gid %u: %s", (unsigned)uid,
			       (unsigned)gid, strerror(errno));
		fn(arg);
		fflush(stderr);
		_exit(0);
	}
	int st;
	if (waitpid(pid, &st, 0) < 0)
		t_fail(file, line, "waitpid: %s", strerror(errno));
	if (WIFSIGNALED(st))
		t_fail(file, line, "child as uid %u killed by signal %d", (unsigned)uid,
		       WTERMSIG(st));
	if (WEXITSTATUS(st) == 77)
		_exit(77);
	if (WEXITSTATUS(st) != 0)
		t_fail(file, line, "child as uid %u failed", (unsigned)uid);
}

void t_write_file(const char *path, const void *buf, size_t len, int mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
	if (fd < 0)
		t_fail(__FILE__, __LINE__, "open %s: %s", path, strerror(errno));
	size_t done = 0;
	while (done < len) {
		ssize_t n = write(fd, (const char *)buf + done, len - done);
		if (n <= 0)
			t_fail(__FILE__, __LINE__, "write %s: %s", path, strerror(errno));
		done += (size_t)n;
	}
	if (close(fd) < 0)
		t_fail(__FILE__, __LINE__, "close %s: %s", path, strerror(errno));
}

size_t t_read_file(const char *path, void *buf, size_t cap)
{
	int fd = open(path, O_RDONLY);
	if (fd < 0)
		t_fail(__FILE__, __LINE__, "open %s: %s", path, strerror(errno));
	size_t done = 0;
	for (;;) {
		if (done == cap) {
			char c;
			ssize_t n = read(fd, &c, 1);
			if (n != 0)
				t_fail(__FILE__, __LINE__, "%s: longer than %zu bytes", path, cap);
			break;
		}
		ssize_t n = read(fd, (char *)buf + done, cap - done);
		if (n < 0)
			t_fail(__FILE__, __LINE__, "read %s: %s", path, strerror(errno));
		if (n == 0)
			break;
		done += (size_t)n;
	}
	close(fd);
	return done;
}

struct stat t_lstat_at(const char *file, int line, const char *path)
{
	struct stat st;
	if (lstat(path, &st) < 0)
		t_fail(file, line, "lstat %s: %s", path, strerror(errno));
	return st;
}

uint64_t t_xorshift(uint64_t *state)
{
	uint64_t x = *state;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return *state = x;
}

void t_fill(void *buf, size_t len, uint64_t seed)
{
	uint64_t x = seed * 0x9E3779B97F4A7C15ull + 0x2545F4914F6CDD1Dull;
	unsigned char *p = buf;
	for (size_t i = 0; i < len; i++) {
		if ((i & 7) == 0) {
			x ^= x >> 12;
			x ^= x << 25;
			x ^= x >> 27;
		}
		p[i] = (unsigned char)((x * 0x2545F4914F6CDD1Dull) >> (8 * (i & 7)));
	}
}

static int rm_cb(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	int r = (flag == FTW_DP) ? rmdir(p) : unlink(p);
	return r < 0 && errno != ENOENT ? -errno : 0;
}

int t_rm_rf(const char *path)
{
	struct stat st;
	if (lstat(path, &st) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISDIR(st.st_mode))
		return unlink(path) < 0 ? -errno : 0;
	/* A test may leave a directory without write or search permission. */
	chmod(path, 0700);
	return nftw(path, rm_cb, 64, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
}

double t_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static bool selected(int argc, char **argv, const char *name)
{
	if (argc <= 2)
		return true;
	for (int i = 2; i < argc; i++)
		if (strcmp(argv[i], name) == 0)
			return true;
	return false;
}

static volatile pid_t case_pid;

/* The runner is told to stop: take the running case (its own process group)
 * down with it, so nothing keeps the filesystem busy. */
static void on_term(int sig)
{
	if (case_pid > 0)
		kill(-case_pid, SIGKILL);
	signal(sig, SIG_DFL);
	raise(sig);
}

static void on_alarm(int sig)
{
	(void)sig;
	static const char m[] = "  timed out\n";
	if (write(2, m, sizeof(m) - 1) < 0) {
	}
	_exit(1);
}

int t_main(int argc, char **argv, const struct t_case *cases)
{
	const char *prog = strrchr(argv[0], '/') ? strrchr(argv[0], '/') + 1 : argv[0];
	if (argc < 2 || argv[1][0] == '-') {
		fprintf(stderr, "usage: %s DIR [CASE...]\ncases:", prog);
		for (const struct t_case *c = cases; c->name; c++)
			fprintf(stderr, " %s", c->name);
		fprintf(stderr, "\n");
		return 2;
	}
	if (!realpath(argv[1], root_path)) {
		fprintf(stderr, "%s: %s: %s\n", prog, argv[1], strerror(errno));
		return 2;
	}
	struct statfs sf;
	if (statfs(root_path, &sf) < 0) {
		fprintf(stderr, "%s: statfs %s: %s\n", prog, root_path, strerror(errno));
		return 2;
	}
	if (sf.f_type == 0xEF53)
		fs_kind = T_FS_EXT4;
	else if (sf.f_type == 0x01021994)
		fs_kind = T_FS_TMPFS;
	else if (sf.f_type == 0x65735546)
		fs_kind = T_FS_FUSE;
	setvbuf(stdout, NULL, _IOLBF, 0);
	umask(022);

	signal(SIGTERM, on_term);
	signal(SIGINT, on_term);
	unsigned def_timeout = 120;
	if (getenv("T_TIMEOUT"))
		def_timeout = (unsigned)atoi(getenv("T_TIMEOUT"));
	bool keep = getenv("T_KEEP") && getenv("T_KEEP")[0] == '1';
	int n = 0, failed = 0, skipped = 0;
	printf("# %s on %s (%s)\n", prog, root_path, t_fs_name());
	for (const struct t_case *c = cases; c->name; c++) {
		if (!selected(argc, argv, c->name))
			continue;
		n++;
		char dir[PATH_MAX + 512];
		snprintf(dir, sizeof(dir), "%s/%s.%s", root_path, prog, c->name);
		t_rm_rf(dir);
		if (mkdir(dir, 0755) < 0) {
			printf("FAIL %s (mkdir %s: %s)\n", c->name, dir, strerror(errno));
			failed++;
			continue;
		}
		double t0 = t_now();
		fflush(stdout);
		fflush(stderr);
		pid_t pid = fork();
		if (pid < 0) {
			perror("fork");
			return 1;
		}
		if (pid == 0) {
			cur_case = c->name;
			signal(SIGTERM, SIG_DFL);
			signal(SIGINT, SIG_DFL);
			setpgid(0, 0);
			signal(SIGALRM, on_alarm);
			alarm(c->timeout ? c->timeout : def_timeout);
			if (chdir(dir) < 0)
				t_fail(__FILE__, __LINE__, "chdir %s: %s", dir, strerror(errno));
			c->fn();
			fflush(stdout);
			fflush(stderr);
			_exit(0);
		}
		setpgid(pid, pid); /* also here: no window before the child's own call */
		case_pid = pid;
		int st;
		while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
		}
		case_pid = 0;
		/* Kill helpers the case left running in its process group. */
		kill(-pid, SIGKILL);
		double dt = t_now() - t0;
		if (WIFEXITED(st) && WEXITSTATUS(st) == 0) {
			printf("ok   %-28s %7.2fs\n", c->name, dt);
		} else if (WIFEXITED(st) && WEXITSTATUS(st) == 77) {
			printf("skip %-28s\n", c->name);
			skipped++;
		} else {
			if (WIFSIGNALED(st))
				printf("FAIL %-28s (signal %d)\n", c->name, WTERMSIG(st));
			else
				printf("FAIL %-28s\n", c->name);
			failed++;
		}
		if (!keep) {
			int r = t_rm_rf(dir);
			if (r < 0) {
				printf("FAIL %-28s cleanup: rm -rf %s: %s\n", c->name, dir,
				       strerror(-r));
				failed++;
			}
		}
	}
	if (n == 0) {
		fprintf(stderr, "%s: no case selected\n", prog);
		return 2;
	}
	printf("# %s: %d cases, %d failed, %d skipped\n", prog, n, failed, skipped);
	if (failed)
		return 1;
	return skipped == n ? 77 : 0;
}

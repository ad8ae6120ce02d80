/* Directory listing on a mounted directory (issue 2 point 4): readdir returns
 * every name once with the right type and inode number; cookies stay valid
 * (telldir/seekdir); a listing taken while other names are created and removed
 * concurrently misses no stable entry and repeats none; a directory of many
 * entries (100,000 by default; T_BIGDIR_N=1000000 for the optional run) works
 * and its lookups and creates do not slow down linearly.
 * Usage: posix_dir DIR [CASE...]. */
#include "tcheck.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

struct linux_dirent64 {
	uint64_t d_ino;
	int64_t d_off;
	unsigned short d_reclen;
	unsigned char d_type;
	char d_name[];
};

static int parse_stable(const char *name)
{
	int i;
	char tail;
	if (sscanf(name, "stable_%d%c", &i, &tail) == 1)
		return i;
	return -1;
}

static void t_readdir_all(void)
{
	enum { N = 600 };
	char name[64];
	/* Files, directories, symlinks and fifos with known inode numbers. */
	ino_t inos[N];
	unsigned char types[N];
	for (int i = 0; i < N; i++) {
		snprintf(name, sizeof(name), "stable_%d", i);
		switch (i % 4) {
		case 0:
			t_write_file(name, "", 0, 0644);
			types[i] = DT_REG;
			break;
		case 1:
			T_OK(mkdir(name, 0755));
			types[i] = DT_DIR;
			break;
		case 2:
			T_OK(symlink("target", name));
			types[i] = DT_LNK;
			break;
		default:
			T_OK(mknod(name, S_IFIFO | 0644, 0));
			types[i] = DT_FIFO;
		}
		struct stat st;
		T_OK(lstat(name, &st));
		inos[i] = st.st_ino;
	}
	static int seen[N];
	DIR *d = opendir(".");
	T_ASSERT(d != NULL, "opendir: %s", strerror(errno));
	int dots = 0, dotdots = 0;
	struct dirent *e;
	while ((errno = 0, e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0) {
			dots++;
			continue;
		}
		if (strcmp(e->d_name, "..") == 0) {
			dotdots++;
			continue;
		}
		int i = parse_stable(e->d_name);
		T_ASSERT(i >= 0 && i < N, "unexpected name %s", e->d_name);
		seen[i]++;
		T_ASSERT(e->d_type == types[i] || e->d_type == DT_UNKNOWN, "%s: d_type %d, want %d",
			 e->d_name, e->d_type, types[i]);
		T_EQ(e->d_ino, inos[i]);
	}
	T_EQ(errno, 0);
	T_OK(closedir(d));
	T_EQ(dots, 1);
	T_EQ(dotdots, 1);
	for (int i = 0; i < N; i++)
		T_ASSERT(seen[i] == 1, "stable_%d seen %d times", i, seen[i]);
	/* An empty directory lists only . and .. */
	T_OK(mkdir("empty", 0755));
	d = opendir("empty");
	int n = 0;
	while ((e = readdir(d)) != NULL)
		n++;
	closedir(d);
	T_EQ(n, 2);
}

static void t_seekdir(void)
{
	enum { N = 300 };
	char name[64];
	for (int i = 0; i < N; i++) {
		snprintf(name, sizeof(name), "stable_%d", i);
		t_write_file(name, "", 0, 0644);
	}
	DIR *d = opendir(".");
	T_ASSERT(d != NULL, "opendir");
	for (int i = 0; i < N / 2; i++)
		T_ASSERT(readdir(d) != NULL, "readdir %d", i);
	long pos = telldir(d);
	char first[N][256];
	int n1 = 0;
	struct dirent *e;
	while ((e = readdir(d)) != NULL)
		snprintf(first[n1++], 256, "%s", e->d_name);
	seekdir(d, pos);
	int n2 = 0;
	while ((e = readdir(d)) != NULL) {
		T_ASSERT(n2 < n1, "more entries after seekdir");
		T_STREQ(e->d_name, first[n2]);
		n2++;
	}
	T_EQ(n2, n1);
	rewinddir(d);
	int total = 0;
	while ((e = readdir(d)) != NULL)
		total++;
	T_EQ(total, N + 2);
	closedir(d);
	/* A cookie from one open directory stream is valid in a new one after
	 * the names before it changed (cookies stable across changes). */
	int fd = T_OK(open(".", O_RDONLY | O_DIRECTORY));
	char buf[1024];
	long nread = T_OK(syscall(SYS_getdents64, fd, buf, sizeof(buf)));
	T_ASSERT(nread > 0, "getdents");
	off_t cookie = T_OK(lseek(fd, 0, SEEK_CUR));
	char after[256] = "";
	long m = T_OK(syscall(SYS_getdents64, fd, buf, sizeof(buf)));
	T_ASSERT(m > 0, "getdents after cookie");
	snprintf(after, sizeof(after), "%.255s", ((struct linux_dirent64 *)buf)->d_name);
	T_OK(close(fd));
	/* Remove the names listed before the cookie. */
	fd = T_OK(open(".", O_RDONLY | O_DIRECTORY));
	long again = T_OK(syscall(SYS_getdents64, fd, buf, sizeof(buf)));
	T_EQ(again, nread);
	for (long off = 0; off < again;) {
		struct linux_dirent64 *e = (void *)(buf + off);
		off += e->d_reclen;
		if (parse_stable(e->d_name) >= 0)
			T_OK(unlink(e->d_name));
	}
	T_OK(close(fd));
	fd = T_OK(open(".", O_RDONLY | O_DIRECTORY));
	T_EQ(lseek(fd, cookie, SEEK_SET), cookie);
	m = T_OK(syscall(SYS_getdents64, fd, buf, sizeof(buf)));
	T_ASSERT(m > 0, "getdents at the old cookie");
	T_STREQ(((struct linux_dirent64 *)buf)->d_name, after);
	T_OK(close(fd));
}

static void churn(void)
{
	char name[64];
	for (unsigned long i = 0;; i++) {
		snprintf(name, sizeof(name), "tmp_%lu", i);
		int fd = open(name, O_WRONLY | O_CREAT | O_EXCL, 0644);
		if (fd < 0)
			_exit(1);
		close(fd);
		if (i >= 20) {
			snprintf(name, sizeof(name), "tmp_%lu", i - 20);
			if (unlink(name) < 0)
				_exit(1);
		}
	}
}

static void t_readdir_concurrent(void)
{
	enum { N = 2000, PASSES = 20 };
	char name[64];
	for (int i = 0; i < N; i++) {
		snprintf(name, sizeof(name), "stable_%d", i);
		t_write_file(name, "", 0, 0644);
	}
	pid_t pid = fork();
	T_ASSERT(pid >= 0, "fork");
	if (pid == 0)
		churn();
	static int seen[N];
	/* tmp names are never reused, so none may show up twice in a pass. */
	static unsigned char tmp_seen[1 << 22];
	long tmp_max = 0;
	double t0 = t_now();
	int pass;
	for (pass = 0; pass < PASSES || t_now() - t0 < 2.0; pass++) {
		memset(seen, 0, sizeof(seen));
		memset(tmp_seen, 0, sizeof(tmp_seen));
		int fd = T_OK(open(".", O_RDONLY | O_DIRECTORY));
		char buf[512]; /* small: many resumptions from a cookie */
		for (;;) {
			long n = syscall(SYS_getdents64, fd, buf, sizeof(buf));
			T_ASSERT(n >= 0, "getdents64: %s", strerror(errno));
			if (n == 0)
				break;
			for (long off = 0; off < n;) {
				struct linux_dirent64 *e = (void *)(buf + off);
				off += e->d_reclen;
				unsigned long t;
				int i = parse_stable(e->d_name);
				if (i >= 0) {
					T_ASSERT(i < N, "name %s", e->d_name);
					seen[i]++;
				} else if (sscanf(e->d_name, "tmp_%lu", &t) == 1) {
					T_ASSERT(t < sizeof(tmp_seen), "tmp name too big");
					T_ASSERT(!tmp_seen[t], "pass %d: %s listed twice", pass,
						 e->d_name);
					tmp_seen[t] = 1;
					if ((long)t > tmp_max)
						tmp_max = (long)t;
				} else {
					T_ASSERT(!strcmp(e->d_name, ".") ||
						     !strcmp(e->d_name, ".."),
						 "unexpected name %s", e->d_name);
				}
			}
		}
		T_OK(close(fd));
		for (int i = 0; i < N; i++)
			T_ASSERT(seen[i] == 1, "pass %d: stable_%d listed %d times", pass, i,
				 seen[i]);
	}
	int st;
	T_ASSERT(waitpid(pid, &st, WNOHANG) == 0, "the churning child died early");
	kill(pid, SIGKILL);
	waitpid(pid, &st, 0);
	t_note("%d passes over %d stable names while %ld others came and went", pass, N, tmp_max);
	T_ASSERT(tmp_max > 100, "the churn ran (%ld names)", tmp_max);
}

static double create_range(long from, long to)
{
	char name[64];
	double t0 = t_now();
	for (long i = from; i < to; i++) {
		snprintf(name, sizeof(name), "f%07ld", i);
		int fd = open(name, O_WRONLY | O_CREAT | O_EXCL, 0644);
		if (fd < 0)
			t_fail(__FILE__, __LINE__, "create %s: %s", name, strerror(errno));
		close(fd);
	}
	return t_now() - t0;
}

static double miss_lookups(long tag, int count)
{
	char name[64];
	struct stat st;
	double t0 = t_now();
	for (int i = 0; i < count; i++) {
		snprintf(name, sizeof(name), "m%ld_%07d", tag, i);
		if (stat(name, &st) == 0 || errno != ENOENT)
			t_fail(__FILE__, __LINE__, "stat %s: expected ENOENT", name);
	}
	return t_now() - t0;
}

static void t_many_entries(void)
{
	long n = 100000;
	if (getenv("T_BIGDIR_N"))
		n = atol(getenv("T_BIGDIR_N"));
	T_ASSERT(n >= 1000, "T_BIGDIR_N too small");
	long tenth = n / 10;
	const int probes = 2000;
	double c_first = create_range(0, tenth);
	double l_first = miss_lookups(1, probes);
	double c_mid = create_range(tenth, n - tenth);
	double c_last = create_range(n - tenth, n);
	double l_last = miss_lookups(2, probes);
	double c_total = c_first + c_mid + c_last;
	t_note("%ld creates in %.2fs (%.0f/s); first 10%%: %.0f/s, last 10%%: %.0f/s", n, c_total,
	       n / c_total, tenth / c_first, tenth / c_last);
	t_note("failed lookups at %ld entries: %.0f/s, at %ld entries: %.0f/s", tenth,
	       probes / l_first, n, probes / l_last);
	/* Stat every name in a scrambled order. */
	char name[64];
	struct stat st;
	double t0 = t_now();
	for (long k = 0; k < n; k++) {
		long i = (k * 7919) % n;
		snprintf(name, sizeof(name), "f%07ld", i);
		if (lstat(name, &st) < 0)
			t_fail(__FILE__, __LINE__, "lstat %s: %s", name, strerror(errno));
	}
	double t_stat = t_now() - t0;
	/* readdir sees each once. */
	unsigned char *seen = calloc((size_t)n, 1);
	T_ASSERT(seen != NULL, "calloc");
	t0 = t_now();
	DIR *d = opendir(".");
	T_ASSERT(d != NULL, "opendir");
	struct dirent *e;
	long count = 0;
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		long i;
		T_ASSERT(sscanf(e->d_name, "f%ld", &i) == 1 && i >= 0 && i < n, "name %s",
			 e->d_name);
		T_ASSERT(!seen[i], "%s listed twice", e->d_name);
		seen[i] = 1;
		count++;
	}
	closedir(d);
	double t_readdir = t_now() - t0;
	T_EQ(count, n);
	T_EQ(lstat(".", &st), 0);
	t0 = t_now();
	for (long i = 0; i < n; i++) {
		snprintf(name, sizeof(name), "f%07ld", i);
		if (unlink(name) < 0)
			t_fail(__FILE__, __LINE__, "unlink %s: %s", name, strerror(errno));
	}
	double t_unlink = t_now() - t0;
	t_note("stat %.0f/s, readdir %.0f entries/s, unlink %.0f/s", n / t_stat, n / t_readdir,
	       n / t_unlink);
	d = opendir(".");
	count = 0;
	while ((e = readdir(d)) != NULL)
		count++;
	closedir(d);
	T_EQ(count, 2);
	free(seen);
	/* DESIGN §3: lookup and create stay O(log n). A linear directory is
	 * ~10x slower at the end than after the first tenth; allow 6x (a slow
	 * patch of a shared VM measured 3.5x for creates, 1.5x when quiet). */
	T_ASSERT(c_last <= 6 * c_first + 0.5, "creates slowed down: first 10%% %.2fs, last %.2fs",
		 c_first, c_last);
	T_ASSERT(l_last <= 6 * l_first + 0.5, "lookups slowed down: %.3fs at %ld, %.3fs at %ld",
		 l_first, tenth, l_last, n);
}

static const struct t_case cases[] = {
    {"readdir_all", t_readdir_all, 0},
    {"seekdir", t_seekdir, 0},
    {"readdir_concurrent", t_readdir_concurrent, 0},
    {"many_entries", t_many_entries, 3000},
    {NULL, NULL, 0},
};

int main(int argc, char **argv)
{
	return t_main(argc, argv, cases);
}

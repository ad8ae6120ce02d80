/* Randomized model test (issue 2 "Tests"): random namespace, data and xattr
 * operations run both on the filesystem and on an in-memory model; every
 * result (success or the exact errno) must match the model's prediction, and
 * after every step the whole tree is compared (names, types, sizes, link
 * counts, inode identity, symlink targets, user xattrs), plus the contents of
 * the file the step touched; all contents every 50 steps. When TARGET_REMOUNT
 * is set (tests/lib/target.sh does) the filesystem is unmounted and mounted
 * again a few times during the run and the tree compared in full after each.
 *
 *   model_test DIR [run]     env SEED=N (printed; reproduces a run), STEPS=N (1500)
 */
#include "tcheck.h"

/* Step descriptions ("what") are cut at 512 bytes on purpose. */
#if defined(__GNUC__) && !defined(__clang__) /* clang has no such warning */
#pragma GCC diagnostic ignored "-Wformat-truncation"
#endif

#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

enum { M_REG = 1, M_DIR, M_LNK };
enum { MAX_INO = 256, MAX_ENT = 80, MAX_X = 4, NAMES = 8, MAX_FILE = 320 * 1024 };

struct mx {
	char name[16];
	char val[128];
	int len;
};

struct ment {
	char name[8];
	int ino;
};

struct mino {
	int type; /* 0: free */
	unsigned char *data;
	size_t size;
	char target[64];
	ino_t real;
	struct mx x[MAX_X];
	int nx;
	/* directories */
	int parent;
	char name[8];
	struct ment *ents;
	int nents;
};

static struct mino M[MAX_INO];
static uint64_t rng;
static long step;
static char root_dir[PATH_MAX];

static uint64_t rnd(void)
{
	return t_xorshift(&rng);
}

static unsigned rn(unsigned n)
{
	return (unsigned)(rnd() % n);
}

#define FAIL(fmt, ...) t_fail(__FILE__, __LINE__, "step %ld: " fmt, step, ##__VA_ARGS__)

/* ---- model helpers ---- */

static int new_ino(int type)
{
	for (int i = 1; i < MAX_INO; i++)
		if (!M[i].type) {
			memset(&M[i], 0, sizeof(M[i]));
			M[i].type = type;
			return i;
		}
	return -1;
}

static int nlink_of(int ino)
{
	if (M[ino].type == M_DIR) {
		int n = 2;
		for (int e = 0; e < M[ino].nents; e++)
			n += M[M[ino].ents[e].ino].type == M_DIR;
		return n;
	}
	int n = 0;
	for (int d = 0; d < MAX_INO; d++)
		if (M[d].type == M_DIR)
			for (int e = 0; e < M[d].nents; e++)
				n += M[d].ents[e].ino == ino;
	return n;
}

static int total_ents(void)
{
	int n = 0;
	for (int d = 0; d < MAX_INO; d++)
		if (M[d].type == M_DIR)
			n += M[d].nents;
	return n;
}

static int lookup(int dir, const char *name)
{
	for (int e = 0; e < M[dir].nents; e++)
		if (!strcmp(M[dir].ents[e].name, name))
			return e;
	return -1;
}

static void add_ent(int dir, const char *name, int ino)
{
	struct mino *d = &M[dir];
	d->ents = realloc(d->ents, sizeof(*d->ents) * (size_t)(d->nents + 1));
	snprintf(d->ents[d->nents].name, sizeof(d->ents[0].name), "%s", name);
	d->ents[d->nents++].ino = ino;
	if (M[ino].type == M_DIR) {
		M[ino].parent = dir;
		snprintf(M[ino].name, sizeof(M[ino].name), "%s", name);
	}
}

static void free_ino(int ino)
{
	free(M[ino].data);
	free(M[ino].ents);
	memset(&M[ino], 0, sizeof(M[ino]));
}

/* Remove entry e of dir; frees the inode when its last name goes. */
static void del_ent(int dir, int e)
{
	int ino = M[dir].ents[e].ino;
	M[dir].ents[e] = M[dir].ents[--M[dir].nents];
	if (M[ino].type == M_DIR || nlink_of(ino) == 0)
		free_ino(ino);
}

static void path_of_dir(int dir, char *out, size_t cap)
{
	if (dir == 0) {
		snprintf(out, cap, ".");
		return;
	}
	char p[PATH_MAX];
	path_of_dir(M[dir].parent, p, sizeof(p));
	if ((size_t)snprintf(out, cap, "%s/%s", p, M[dir].name) >= cap)
		FAIL("path too long");
}

static void path_of(int dir, const char *name, char *out, size_t cap)
{
	char p[PATH_MAX];
	path_of_dir(dir, p, sizeof(p));
	if ((size_t)snprintf(out, cap, "%s/%s", p, name) >= cap)
		FAIL("path too long");
}

static int is_ancestor(int a, int d) /* a is d or an ancestor of d */
{
	for (;;) {
		if (d == a)
			return 1;
		if (d == 0)
			return 0;
		d = M[d].parent;
	}
}

static int random_dir(void)
{
	int dirs[MAX_INO], n = 0;
	for (int i = 0; i < MAX_INO; i++)
		if (M[i].type == M_DIR)
			dirs[n++] = i;
	return dirs[rn((unsigned)n)];
}

static void random_name(char *out)
{
	snprintf(out, 8, "n%u", rn(NAMES));
}

/* A random (dir, name): an existing entry most of the time. */
static void random_entry(int *dir, char *name)
{
	int n = total_ents();
	if (n == 0 || rn(8) == 0) {
		*dir = random_dir();
		random_name(name);
		return;
	}
	int k = (int)rn((unsigned)n);
	for (int d = 0; d < MAX_INO; d++)
		if (M[d].type == M_DIR) {
			if (k < M[d].nents) {
				*dir = d;
				snprintf(name, 8, "%s", M[d].ents[k].name);
				return;
			}
			k -= M[d].nents;
		}
}

/* ---- comparison ---- */

static void check_content(const char *path, int ino)
{
	static unsigned char buf[MAX_FILE + 1];
	int fd = open(path, O_RDONLY);
	if (fd < 0)
		FAIL("open %s: %s", path, strerror(errno));
	size_t got = 0;
	for (;;) {
		ssize_t n = read(fd, buf + got, sizeof(buf) - got);
		if (n < 0)
			FAIL("read %s: %s", path, strerror(errno));
		if (n == 0 || got + (size_t)n == sizeof(buf)) {
			got += (size_t)n;
			break;
		}
		got += (size_t)n;
	}
	close(fd);
	if (got != M[ino].size)
		FAIL("%s: read %zu bytes, model has %zu", path, got, M[ino].size);
	size_t i = t_memdiff(buf, M[ino].data, got);
	if (i != got)
		FAIL("%s: byte %zu is 0x%02x, model has 0x%02x", path, i, buf[i], M[ino].data[i]);
}

static void check_xattrs(const char *path, int ino)
{
	char list[4096], val[256];
	ssize_t n = llistxattr(path, list, sizeof(list));
	if (n < 0)
		FAIL("llistxattr %s: %s", path, strerror(errno));
	int users = 0;
	for (char *p = list; p < list + n; p += strlen(p) + 1) {
		if (strncmp(p, "user.", 5))
			continue;
		users++;
		int k;
		for (k = 0; k < M[ino].nx; k++)
			if (!strcmp(M[ino].x[k].name, p))
				break;
		if (k == M[ino].nx)
			FAIL("%s: xattr %s not in the model", path, p);
		ssize_t l = lgetxattr(path, p, val, sizeof(val));
		if (l != M[ino].x[k].len || memcmp(val, M[ino].x[k].val, (size_t)l))
			FAIL("%s: xattr %s has %zd bytes, model %d (or differs)", path, p, l,
			     M[ino].x[k].len);
	}
	if (users != M[ino].nx)
		FAIL("%s: %d user xattrs, model has %d", path, users, M[ino].nx);
}

static void compare_dir(int dir, int contents)
{
	char dpath[PATH_MAX], path[PATH_MAX + 16];
	path_of_dir(dir, dpath, sizeof(dpath));
	DIR *d = opendir(dpath);
	if (!d)
		FAIL("opendir %s: %s", dpath, strerror(errno));
	int seen[MAX_ENT * 4] = {0};
	struct dirent *de;
	while ((de = readdir(d)) != NULL) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		int e = lookup(dir, de->d_name);
		if (e < 0)
			FAIL("%s/%s exists, not in the model", dpath, de->d_name);
		if (seen[e]++)
			FAIL("%s/%s listed twice", dpath, de->d_name);
	}
	closedir(d);
	for (int e = 0; e < M[dir].nents; e++) {
		struct ment *me = &M[dir].ents[e];
		struct mino *mi = &M[me->ino];
		snprintf(path, sizeof(path), "%s/%s", dpath, me->name);
		if (!seen[e])
			FAIL("%s missing from readdir", path);
		struct stat st;
		if (lstat(path, &st) < 0)
			FAIL("lstat %s: %s", path, strerror(errno));
		int type = S_ISREG(st.st_mode)	 ? M_REG
			   : S_ISDIR(st.st_mode) ? M_DIR
			   : S_ISLNK(st.st_mode) ? M_LNK
						 : 0;
		if (type != mi->type)
			FAIL("%s: type %d, model %d", path, type, mi->type);
		if (st.st_ino != mi->real)
			FAIL("%s: inode %ju, model says it is inode %ju", path,
			     (uintmax_t)st.st_ino, (uintmax_t)mi->real);
		if ((int)st.st_nlink != nlink_of(me->ino))
			FAIL("%s: nlink %ju, model %d", path, (uintmax_t)st.st_nlink,
			     nlink_of(me->ino));
		if (mi->type == M_REG && (size_t)st.st_size != mi->size)
			FAIL("%s: size %jd, model %zu", path, (intmax_t)st.st_size, mi->size);
		if (mi->type == M_REG && contents)
			check_content(path, me->ino);
		if (mi->type == M_LNK) {
			char t[128];
			ssize_t l = readlink(path, t, sizeof(t));
			if (l < 0 || (size_t)l != strlen(mi->target) ||
			    memcmp(t, mi->target, (size_t)l))
				FAIL("%s: readlink differs from the model (%s)", path, mi->target);
		}
		if (mi->type != M_LNK)
			check_xattrs(path, me->ino);
		if (mi->type == M_DIR)
			compare_dir(me->ino, contents);
	}
}

/* ---- operations ---- */

static void expect(const char *what, int r, int err, int want)
{
	if (want == 0 && r < 0)
		FAIL("%s: %s, model expects success", what, t_errname(err));
	if (want != 0 && (r >= 0 || err != want))
		FAIL("%s: got %s, model expects %s", what, r >= 0 ? "success" : t_errname(err),
		     t_errname(want));
}

/* errno is read after the call (not as a sibling argument of it). */
#define EXPECT(what, call, want)                                                                   \
	do {                                                                                       \
		errno = 0;                                                                         \
		int _r = (int)(call);                                                              \
		expect(what, _r, errno, want);                                                     \
	} while (0)

static int op_create(char *what)
{
	int dir = random_dir();
	char name[8], p[PATH_MAX];
	random_name(name);
	path_of(dir, name, p, sizeof(p));
	int kind = (int)rn(3); /* file, dir, symlink */
	int want = lookup(dir, name) >= 0 ? EEXIST : 0;
	if (!want && total_ents() >= MAX_ENT)
		return -1;
	int r;
	char target[64];
	if (kind == 0) {
		snprintf(what, 512, "create %s", p);
		r = open(p, O_WRONLY | O_CREAT | O_EXCL, 0644);
		if (r >= 0)
			close(r);
	} else if (kind == 1) {
		snprintf(what, 512, "mkdir %s", p);
		r = mkdir(p, 0755);
	} else {
		snprintf(target, sizeof(target), "t%u/%u", rn(100), rn(100));
		snprintf(what, 512, "symlink %s -> %s", p, target);
		r = symlink(target, p);
	}
	expect(what, r, errno, want);
	if (want)
		return -1;
	int ino = new_ino(kind == 0 ? M_REG : kind == 1 ? M_DIR : M_LNK);
	if (ino < 0)
		FAIL("model full");
	if (kind == 2)
		snprintf(M[ino].target, sizeof(M[ino].target), "%s", target);
	add_ent(dir, name, ino);
	struct stat st;
	if (lstat(p, &st) < 0)
		FAIL("lstat %s after creating it: %s", p, strerror(errno));
	M[ino].real = st.st_ino;
	return ino;
}

/* A random regular file: its inode and path, or -1. */
static int random_file(char *p, size_t cap)
{
	for (int tries = 0; tries < 20; tries++) {
		int dir;
		char name[8];
		random_entry(&dir, name);
		int e = lookup(dir, name);
		if (e >= 0 && M[M[dir].ents[e].ino].type == M_REG) {
			path_of(dir, name, p, cap);
			return M[dir].ents[e].ino;
		}
	}
	return -1;
}

static int op_write(char *what)
{
	char p[PATH_MAX];
	int ino = random_file(p, sizeof(p));
	if (ino < 0)
		return -1;
	static unsigned char buf[64 * 1024];
	size_t off = rn(256 * 1024), len = 1 + rn(rn(4) ? 9000 : sizeof(buf));
	if (off + len > MAX_FILE)
		return -1;
	t_fill(buf, len, rnd());
	snprintf(what, 512, "pwrite %s off %zu len %zu", p, off, len);
	int fd = open(p, O_WRONLY);
	if (fd < 0)
		FAIL("%s: open: %s", what, strerror(errno));
	ssize_t n = pwrite(fd, buf, len, (off_t)off);
	if (n != (ssize_t)len)
		FAIL("%s: returned %zd (%s)", what, n, strerror(errno));
	if (rn(4) == 0 && fsync(fd) < 0)
		FAIL("%s: fsync: %s", what, strerror(errno));
	close(fd);
	struct mino *m = &M[ino];
	if (off + len > m->size) {
		m->data = realloc(m->data, off + len);
		memset(m->data + m->size, 0, off + len - m->size);
		m->size = off + len;
	}
	memcpy(m->data + off, buf, len);
	return ino;
}

static int op_truncate(char *what)
{
	char p[PATH_MAX];
	int ino = random_file(p, sizeof(p));
	if (ino < 0)
		return -1;
	size_t size = rn(3) ? rn((unsigned)M[ino].size + 1) : rn(MAX_FILE);
	snprintf(what, 512, "truncate %s to %zu", p, size);
	EXPECT(what, truncate(p, (off_t)size), 0);
	struct mino *m = &M[ino];
	m->data = realloc(m->data, size + 1);
	if (size > m->size)
		memset(m->data + m->size, 0, size - m->size);
	m->size = size;
	return ino;
}

static int op_rename(char *what)
{
	int sdir, ddir = random_dir();
	char sname[8], dname[8], sp[PATH_MAX], dp[PATH_MAX];
	random_entry(&sdir, sname);
	random_name(dname);
	path_of(sdir, sname, sp, sizeof(sp));
	path_of(ddir, dname, dp, sizeof(dp));
	unsigned flags = rn(4) == 0 ? RENAME_NOREPLACE : 0;
	snprintf(what, 512, "rename%s %s -> %s", flags ? "(NOREPLACE)" : "", sp, dp);
	int se = lookup(sdir, sname), de = lookup(ddir, dname);
	int sino = se >= 0 ? M[sdir].ents[se].ino : -1, dino = de >= 0 ? M[ddir].ents[de].ino : -1;
	int want = 0;
	/* The order of checks of Linux do_renameat2() and vfs_rename(). */
	if (sino < 0)
		want = ENOENT;
	else if (flags && dino >= 0)
		want = EEXIST;
	else if (M[sino].type == M_DIR && is_ancestor(sino, ddir))
		want = EINVAL;
	else if (dino >= 0 && M[dino].type == M_DIR && is_ancestor(dino, sdir))
		want = ENOTEMPTY;
	else if (dino == sino)
		want = -1; /* same inode: success, nothing changes */
	else if (dino >= 0 && M[sino].type == M_DIR && M[dino].type != M_DIR)
		want = ENOTDIR;
	else if (dino >= 0 && M[sino].type != M_DIR && M[dino].type == M_DIR)
		want = EISDIR;
	else if (dino >= 0 && M[dino].type == M_DIR && M[dino].nents)
		want = ENOTEMPTY;
	int r = renameat2(AT_FDCWD, sp, AT_FDCWD, dp, flags);
	expect(what, r, errno, want < 0 ? 0 : want);
	if (want)
		return -1;
	if (de >= 0)
		del_ent(ddir, de);
	se = lookup(sdir, sname); /* indices may have moved */
	M[sdir].ents[se] = M[sdir].ents[--M[sdir].nents];
	add_ent(ddir, dname, sino);
	return M[sino].type == M_REG ? sino : -1;
}

static int op_link(char *what)
{
	int sdir, ddir = random_dir();
	char sname[8], dname[8], sp[PATH_MAX], dp[PATH_MAX];
	random_entry(&sdir, sname);
	random_name(dname);
	path_of(sdir, sname, sp, sizeof(sp));
	path_of(ddir, dname, dp, sizeof(dp));
	snprintf(what, 512, "link %s -> %s", sp, dp);
	int se = lookup(sdir, sname), de = lookup(ddir, dname);
	int sino = se >= 0 ? M[sdir].ents[se].ino : -1;
	int want = sino < 0 ? ENOENT : de >= 0 ? EEXIST : M[sino].type == M_DIR ? EPERM : 0;
	if (!want && total_ents() >= MAX_ENT)
		return -1;
	EXPECT(what, link(sp, dp), want);
	if (want)
		return -1;
	add_ent(ddir, dname, sino);
	return -1;
}

static int op_remove(char *what)
{
	int dir;
	char name[8], p[PATH_MAX];
	random_entry(&dir, name);
	path_of(dir, name, p, sizeof(p));
	int e = lookup(dir, name);
	int ino = e >= 0 ? M[dir].ents[e].ino : -1;
	int want, r;
	if (rn(2)) {
		snprintf(what, 512, "unlink %s", p);
		want = ino < 0 ? ENOENT : M[ino].type == M_DIR ? EISDIR : 0;
		r = unlink(p);
	} else {
		snprintf(what, 512, "rmdir %s", p);
		want = ino < 0		      ? ENOENT
		       : M[ino].type != M_DIR ? ENOTDIR
		       : M[ino].nents	      ? ENOTEMPTY
					      : 0;
		r = rmdir(p);
	}
	expect(what, r, errno, want);
	if (!want)
		del_ent(dir, e);
	return -1;
}

static int op_xattr(char *what)
{
	int dir;
	char name[8], p[PATH_MAX];
	random_entry(&dir, name);
	int e = lookup(dir, name);
	if (e < 0)
		return -1;
	int ino = M[dir].ents[e].ino;
	path_of(dir, name, p, sizeof(p));
	char xname[16];
	snprintf(xname, sizeof(xname), "user.x%u", rn(MAX_X));
	int k;
	for (k = 0; k < M[ino].nx; k++)
		if (!strcmp(M[ino].x[k].name, xname))
			break;
	int exists = k < M[ino].nx, want;
	if (rn(3) == 0) {
		snprintf(what, 512, "removexattr %s %s", p, xname);
		want = M[ino].type == M_LNK ? EPERM : exists ? 0 : ENODATA;
		EXPECT(what, lremovexattr(p, xname), want);
		if (!want)
			M[ino].x[k] = M[ino].x[--M[ino].nx];
		return -1;
	}
	int flags = (int)rn(3) == 0 ? XATTR_CREATE : (int)rn(3) == 0 ? XATTR_REPLACE : 0;
	char val[128];
	int len = (int)rn(sizeof(val));
	t_fill(val, (size_t)len, rnd());
	snprintf(what, 512, "setxattr %s %s len %d flags %d", p, xname, len, flags);
	want = M[ino].type == M_LNK		     ? EPERM
	       : (flags == XATTR_CREATE && exists)   ? EEXIST
	       : (flags == XATTR_REPLACE && !exists) ? ENODATA
						     : 0;
	EXPECT(what, lsetxattr(p, xname, val, (size_t)len, flags), want);
	if (want)
		return -1;
	if (!exists) {
		k = M[ino].nx++;
		snprintf(M[ino].x[k].name, sizeof(M[ino].x[k].name), "%s", xname);
	}
	memcpy(M[ino].x[k].val, val, (size_t)len);
	M[ino].x[k].len = len;
	return -1;
}

static void remount(void)
{
	const char *cmd = getenv("TARGET_REMOUNT");
	if (chdir("/") < 0)
		FAIL("chdir /");
	t_note("step %ld: remounting (%s)", step, cmd);
	int r = system(cmd);
	if (r != 0)
		FAIL("remount command failed (%d)", r);
	if (chdir(root_dir) < 0)
		FAIL("chdir %s after remount: %s", root_dir, strerror(errno));
	compare_dir(0, 1);
}

static void t_run(void)
{
	uint64_t seed = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
	if (getenv("SEED"))
		seed = strtoull(getenv("SEED"), NULL, 0);
	long steps = getenv("STEPS") ? atol(getenv("STEPS")) : 1500;
	printf("# model_test: SEED=%" PRIu64 " STEPS=%ld\n", seed, steps);
	fflush(stdout);
	rng = seed ? seed : 1;
	if (!getcwd(root_dir, sizeof(root_dir)))
		FAIL("getcwd");
	M[0].type = M_DIR;
	struct stat st;
	T_OK(lstat(".", &st));
	M[0].real = st.st_ino;
	const char *kind = getenv("TARGET_KIND");
	int can_remount = getenv("TARGET_REMOUNT") && !(kind && !strcmp(kind, "tmpfs"));
	int remounts = 0;
	static char what[512];
	double t0 = t_now();
	for (step = 1; step <= steps; step++) {
		int touched = -1;
		what[0] = 0;
		switch (rn(20)) {
		case 0 ... 4:
			touched = op_create(what);
			break;
		case 5 ... 8:
			touched = op_write(what);
			break;
		case 9 ... 10:
			touched = op_truncate(what);
			break;
		case 11 ... 13:
			touched = op_rename(what);
			break;
		case 14:
			touched = op_link(what);
			break;
		case 15 ... 17:
			touched = op_remove(what);
			break;
		default:
			touched = op_xattr(what);
			break;
		}
		if (getenv("MODEL_VERBOSE") && what[0])
			fprintf(stderr, "step %ld: %s\n", step, what);
		int full = step % 50 == 0;
		compare_dir(0, full);
		if (!full && touched >= 0 && M[touched].type == M_REG) {
			/* Find a path of the touched inode and read it back. */
			for (int d = 0; d < MAX_INO; d++)
				if (M[d].type == M_DIR)
					for (int e = 0; e < M[d].nents; e++)
						if (M[d].ents[e].ino == touched) {
							char p[PATH_MAX];
							path_of(d, M[d].ents[e].name, p, sizeof(p));
							check_content(p, touched);
							d = MAX_INO;
							break;
						}
		}
		if (can_remount && step % (steps / 3 + 1) == 0) {
			remount();
			remounts++;
		}
	}
	if (can_remount) {
		remount();
		remounts++;
	}
	compare_dir(0, 1);
	t_note("SEED=%" PRIu64 ": %ld steps, %d remounts, %d entries at the end, %.1fs", seed,
	       steps, remounts, total_ents(), t_now() - t0);
}

static const struct t_case cases[] = {
    {"run", t_run, 900},
    {NULL, NULL, 0},
};

int main(int argc, char **argv)
{
	return t_main(argc, argv, cases);
}

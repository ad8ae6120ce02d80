/* tcheck: a small assertion and reporting helper for the integration tests
 * that run against a mounted directory (tests/integration/posix_*.c,
 * model_test.c).
 *
 * A program lists its cases in a NULL-terminated array of struct t_case and
 * calls t_main(). Every case runs in its own forked child, with its own fresh
 * directory (DIR/<prog>.<case>) as working directory, under an alarm. An
 * assertion that fails prints "file:line: what" and ends the child with
 * status 1; t_skip() ends it with 77. The parent prints one line per case
 * ("ok", "FAIL", "skip"), removes the case directory, and exits 0 when no
 * case failed, 1 when one did, 77 when every case skipped.
 *
 *   prog DIR [CASE...]     run every case, or only the named ones
 *   env T_TIMEOUT=SECONDS  per-case alarm (default 120)
 *   env T_KEEP=1           leave the case directories behind
 *
 * Assertions evaluate their arguments once and may be used in any child
 * (including those of t_as_user). */
#ifndef SANFS_TESTS_TCHECK_H
#define SANFS_TESTS_TCHECK_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>

struct t_case {
	const char *name;
	void (*fn)(void);
	unsigned timeout; /* seconds; 0: T_TIMEOUT or 120 */
};

int t_main(int argc, char **argv, const struct t_case *cases);

/* What the directory under test lives on (from statfs f_type). */
enum t_fs { T_FS_OTHER, T_FS_EXT4, T_FS_TMPFS, T_FS_FUSE };
enum t_fs t_fs_kind(void);
const char *t_fs_name(void);
/* Absolute path of the directory under test (the DIR argument). */
const char *t_root(void);

void t_fail(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4), noreturn));
void t_fail_cond(const char *file, int line, const char *cond, const char *fmt, ...)
    __attribute__((format(printf, 4, 5), noreturn));
void t_skip(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
void t_note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Runs fn(arg) in a child with no supplementary groups, gid and uid set (real,
 * effective and saved), so permission checks apply. Returns when the child is
 * done; a failed assertion in it fails the calling test. */
void t_as_user_at(const char *file, int line, uid_t uid, gid_t gid, void (*fn)(void *), void *arg);
#define t_as_user(uid, gid, fn, arg) t_as_user_at(__FILE__, __LINE__, uid, gid, fn, arg)

#define T_NOBODY 65534u
#define T_UID2	 65533u /* a second unprivileged user */

/* The call returns >= 0; the value is returned. */
#define T_OK(call)                                                                                 \
	({                                                                                         \
		long long _r = (long long)(call);                                                  \
		if (_r < 0)                                                                        \
			t_fail(__FILE__, __LINE__, "%s: %s", #call, strerror(errno));              \
		_r;                                                                                \
	})

/* The call returns -1 with errno e. */
#define T_ERR(call, e)                                                                             \
	do {                                                                                       \
		errno = 0;                                                                         \
		long long _r = (long long)(call);                                                  \
		int _e = errno;                                                                    \
		if (_r != -1 || _e != (e))                                                         \
			t_fail(__FILE__, __LINE__, "%s: expected -1 %s, got %lld %s", #call,       \
			       t_errname(e), _r, _r == -1 ? t_errname(_e) : "");                   \
	} while (0)

/* Integers equal. */
#define T_EQ(a, b)                                                                                 \
	do {                                                                                       \
		long long _a = (long long)(a), _b = (long long)(b);                                \
		if (_a != _b)                                                                      \
			t_fail(__FILE__, __LINE__, "%s == %s: got %lld, expected %lld", #a, #b,    \
			       _a, _b);                                                            \
	} while (0)

#define T_ASSERT(cond, ...)                                                                        \
	do {                                                                                       \
		if (!(cond))                                                                       \
			t_fail_cond(__FILE__, __LINE__, #cond, __VA_ARGS__);                       \
	} while (0)

#define T_STREQ(a, b)                                                                              \
	do {                                                                                       \
		const char *_a = (a), *_b = (b);                                                   \
		if (strcmp(_a, _b) != 0)                                                           \
			t_fail(__FILE__, __LINE__, "%s: got \"%s\", expected \"%s\"", #a, _a, _b); \
	} while (0)

#define T_MEMEQ(a, b, n)                                                                           \
	do {                                                                                       \
		size_t _n = (n);                                                                   \
		const unsigned char *_a = (const void *)(a), *_b = (const void *)(b);              \
		size_t _i = t_memdiff(_a, _b, _n);                                                 \
		if (_i != _n)                                                                      \
			t_fail(__FILE__, __LINE__,                                                 \
			       "%s != %s at byte %zu of %zu: got 0x%02x, expected 0x%02x", #a, #b, \
			       _i, _n, _a[_i], _b[_i]);                                            \
	} while (0)

const char *t_errname(int e);
size_t t_memdiff(const void *a, const void *b, size_t n); /* first differing index or n */

/* lstat(path) that must succeed (a failure names the caller's line). */
struct stat t_lstat_at(const char *file, int line, const char *path);
#define t_lstat(path) t_lstat_at(__FILE__, __LINE__, path)

/* Helpers for file contents. */
void t_write_file(const char *path, const void *buf, size_t len, int mode);
size_t t_read_file(const char *path, void *buf, size_t cap); /* whole file; fails if > cap */
/* One step of a xorshift64 generator whose state is *state (never 0): the
 * randomized tests' seeded, reproducible choices. */
uint64_t t_xorshift(uint64_t *state);
void t_fill(void *buf, size_t len, uint64_t seed); /* deterministic pseudo-random bytes */
int t_rm_rf(const char *path);			   /* 0 or -errno */
double t_now(void);				   /* monotonic seconds */

#endif

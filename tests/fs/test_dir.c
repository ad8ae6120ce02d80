/* Unit tests of fs/dir. Built three times (tests/fs/meson.build):
 *  - on the in-memory fake engine (fake_engine.c): names, random operations
 *    against a model with listings interleaved with changes, 1,000,000
 *    entries with a lookup/add/remove time ratio check, corrupt records;
 *  - the same with an 8-bit name hash (-DDIR_HASH_BITS=8): every name shares
 *    its hash with many others, so collision chains and their cookies are
 *    exercised;
 *  - on the real engine (-DSANFS_TEST_REAL_ENGINE) over an image file in
 *    /var/tmp: the model test, persistence across unmount and remount, and
 *    an on-disk corrupt node with a valid checksum.
 * Randomized tests print their seed (SANFS_SEED=N repeats a run). */
#include "fs/dir.h"
#include "tests/fs/fake_engine.h"
#include "tests/fs/test_rand.h"

#include "common/endian_le.h"
#include "common/log.h"

#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#ifdef SANFS_TEST_REAL_ENGINE
#include "fs/mkfs.h"
#include "tests/fs/test_img.h"
#endif

__attribute__((unused)) static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* ---- the filesystem under test: fake or real ---- */

struct env {
	struct sfs *fs;
	struct sfs_inode dir;
#ifdef SANFS_TEST_REAL_ENGINE
	char img[TIMG_PATH_MAX];
#endif
};

#ifdef SANFS_TEST_REAL_ENGINE
static struct sfs *mount_img(const char *img)
{
	struct sfs_mount_opts mo = {.local = true, .hb_wait_ms = 1, .commit_ms = 50};
	struct sfs *fs;
	int rc = sfs_open(img, &mo, NULL, &fs);
	ck_assert_msg(rc == 0, "sfs_open: %s", sfs_last_error());
	return fs;
}

static void env_init(struct env *e, uint64_t nblocks, bool check)
{
	(void)check;
	struct mkfs_opts o = {.slots = 2, .journal_bytes = 8 << 20};
	timg_mkfs(e->img, "dir", (nblocks + 8192) * 4096ull, &o, NULL);
	e->fs = mount_img(e->img);
	memset(&e->dir, 0, sizeof(e->dir));
	struct txn *t;
	ck_assert_int_eq(txn_begin(e->fs, 16, &t), 0);
	ck_assert_int_eq(alloc_inode(e->fs, t, 0, &e->dir.ino), 0);
	ck_assert_int_eq(txn_end(t, NULL), 0);
	e->dir.mode = S_IFDIR | 0755;
	ck_assert_int_eq(dir_init(e->fs, NULL, &e->dir, e->dir.ino), 0);
}

static void env_done(struct env *e)
{
	ck_assert_int_eq(sfs_close(e->fs), 0);
	unlink(e->img);
}
#else
static void env_init(struct env *e, uint64_t nblocks, bool check)
{
	e->fs = fake_sfs_new(nblocks, check);
	memset(&e->dir, 0, sizeof(e->dir));
	e->dir.ino = 9;
	e->dir.mode = S_IFDIR | 0755;
	ck_assert_int_eq(dir_init(e->fs, NULL, &e->dir, 3), 0);
}

static void env_done(struct env *e)
{
	EQ(fake_violations(e->fs), 0);
	EQ(fake_refs(e->fs), 0);
	fake_sfs_free(e->fs);
}
#endif

static struct txn *tb(struct env *e)
{
	struct txn *t;
	EQ(txn_begin(e->fs, dir_max_blocks(&e->dir), &t), 0);
	return t;
}

static void te(struct txn *t)
{
	EQ(txn_end(t, NULL), 0);
}

static int add(struct env *e, const char *name, uint64_t ino, uint8_t dt)
{
	struct txn *t = tb(e);
	int rc = dir_add(e->fs, t, &e->dir, name, strlen(name), ino, dt);
	te(t);
	return rc;
}

static int rm(struct env *e, const char *name, uint64_t *ino)
{
	struct txn *t = tb(e);
	int rc = dir_remove(e->fs, t, &e->dir, name, strlen(name), ino);
	te(t);
	return rc;
}

static int set(struct env *e, const char *name, uint64_t ino, uint8_t dt)
{
	struct txn *t = tb(e);
	int rc = dir_set(e->fs, t, &e->dir, name, strlen(name), ino, dt);
	te(t);
	return rc;
}

static int look(struct env *e, const char *name, uint64_t *ino, uint8_t *dt)
{
	return dir_lookup(e->fs, &e->dir, name, strlen(name), ino, dt);
}

/* ---- the model: a pool of names, each present or not ---- */

#define POOL 4000
struct mname {
	char name[DIR_NAME_MAX + 1];
	bool present;
	uint64_t ino;
	uint8_t dtype;
	/* listing bookkeeping */
	bool at_start, changed;
	unsigned seen;
};
static struct mname pool[POOL];

static const uint8_t dtypes[] = {DT_REG, DT_DIR, DT_LNK, DT_FIFO, DT_SOCK, DT_CHR, DT_BLK};

/* Names "<index>:" followed by random bytes (never '/' or NUL), 2..255
 * bytes, some of them long. */
static void pool_init(void)
{
	for (unsigned i = 0; i < POOL; i++) {
		unsigned len = 1 + (unsigned)(trand() % (trand() % 8 == 0 ? DIR_NAME_MAX : 24));
		char *n = pool[i].name;
		unsigned w = (unsigned)snprintf(n, DIR_NAME_MAX + 1, "%u:", i);
		for (unsigned j = w; j < len; j++) {
			n[j] = (char)(1 + trand() % 255);
			if (n[j] == '/')
				n[j] = '_';
		}
		n[len > w ? len : w] = '\0';
		pool[i].present = false;
	}
}

static int find_pool(const char *name, size_t len)
{
	unsigned idx = 0;
	size_t i = 0;
	while (i < len && name[i] >= '0' && name[i] <= '9' && i < 6)
		idx = idx * 10 + (unsigned)(name[i++] - '0');
	if (i == 0 || i == len || name[i] != ':' || idx >= POOL)
		return -1;
	if (strlen(pool[idx].name) != len || memcmp(pool[idx].name, name, len) != 0)
		return -1;
	return (int)idx;
}

struct listing {
	struct env *e;
	unsigned dots, limit, got;
	uint64_t last_cookie, prev_cookie;
	bool full;
};

static int list_cb(void *arg, const char *name, size_t len, uint64_t ino, uint8_t dtype,
		   uint64_t next)
{
	struct listing *l = arg;
	if (l->limit && l->got == l->limit)
		return 1; /* "buffer full": this entry is not taken */
	REQ(name[len] == '\0');
	REQ(next > l->prev_cookie); /* cookies grow along a listing */
	l->prev_cookie = next;
	if (len == 1 && name[0] == '.') {
		EQ(ino, l->e->dir.ino);
		l->dots++;
	} else if (len == 2 && name[0] == '.' && name[1] == '.') {
		EQ(ino, l->e->dir.fork.aux);
		l->dots++;
	} else {
		int k = find_pool(name, len);
		REQ(k >= 0);
		if (l->full) {
			REQ(pool[k].present);
			EQ(ino, pool[k].ino);
			EQ(dtype, pool[k].dtype);
		}
		pool[k].seen++;
	}
	l->got++;
	l->last_cookie = next;
	return 0;
}

static void check_full_listing(struct env *e)
{
	for (unsigned i = 0; i < POOL; i++)
		pool[i].seen = 0;
	struct listing l = {.e = e, .full = true};
	EQ(dir_iterate(e->fs, &e->dir, 0, list_cb, &l), 0);
	EQ(l.dots, 2);
	uint64_t n = 0;
	for (unsigned i = 0; i < POOL; i++) {
		EQ(pool[i].seen, pool[i].present ? 1 : 0);
		n += pool[i].present;
	}
	EQ(e->dir.fork.nrecs, n);
	EQ(dir_is_empty(e->fs, &e->dir), n == 0);
	EQ(btree_walk(e->fs, &e->dir.fork, e->dir.ino, NULL, NULL), 0);
}

static void random_op(struct env *e, unsigned i)
{
	unsigned k = (unsigned)(trand() % POOL);
	struct mname *m = &pool[k];
	unsigned op = (unsigned)(trand() % 100);
	uint64_t ino;
	uint8_t dt;
	if (op < 45) {
		uint64_t nino = 1000 + i;
		uint8_t ndt = dtypes[trand() % 7];
		EQ(add(e, m->name, nino, ndt), m->present ? -EEXIST : 0);
		if (!m->present) {
			m->present = true;
			m->ino = nino;
			m->dtype = ndt;
			m->changed = true;
		}
	} else if (op < 80) {
		EQ(rm(e, m->name, &ino), m->present ? 0 : -ENOENT);
		if (m->present) {
			EQ(ino, m->ino);
			m->present = false;
			m->changed = true;
		}
	} else if (op < 88) {
		uint64_t nino = 500000 + i;
		EQ(set(e, m->name, nino, DT_REG), m->present ? 0 : -ENOENT);
		if (m->present) {
			m->ino = nino;
			m->dtype = DT_REG;
		}
	} else {
		int rc = look(e, m->name, &ino, &dt);
		EQ(rc, m->present ? 0 : -ENOENT);
		if (m->present) {
			EQ(ino, m->ino);
			EQ(dt, m->dtype);
		}
	}
}

/* A listing in chunks of a few entries with random changes between chunks:
 * every entry present for the whole listing comes exactly once, no entry
 * twice, "." and ".." once each. */
static void chunked_listing(struct env *e, unsigned opbase)
{
	for (unsigned i = 0; i < POOL; i++) {
		pool[i].seen = 0;
		pool[i].at_start = pool[i].present;
		pool[i].changed = false;
	}
	struct listing l = {.e = e};
	uint64_t cookie = 0;
	unsigned rounds = 0;
	for (;;) {
		l.limit = 1 + (unsigned)(trand() % 40);
		l.got = 0;
		l.last_cookie = cookie;
		l.prev_cookie = cookie;
		EQ(dir_iterate(e->fs, &e->dir, cookie, list_cb, &l), 0);
		if (l.got == 0)
			break;
		cookie = l.last_cookie;
		unsigned nops = (unsigned)(trand() % 12);
		for (unsigned j = 0; j < nops; j++)
			random_op(e, opbase + rounds * 16 + j);
		rounds++;
	}
	EQ(l.dots, 2);
	for (unsigned i = 0; i < POOL; i++) {
		REQ(pool[i].seen <= 1);
		if (pool[i].at_start && !pool[i].changed)
			EQ(pool[i].seen, 1);
	}
}

static void model_run(unsigned ops)
{
	struct env e;
	env_init(&e, 1 << 16, true);
	pool_init();
	for (unsigned i = 0; i < ops; i++) {
		random_op(&e, i);
		if (i % 3000 == 0)
			check_full_listing(&e);
		if (i % 5000 == 2500) {
			chunked_listing(&e, 10000000 + i * 1000);
			check_full_listing(&e);
		}
	}
	check_full_listing(&e);
	/* Empty it: nothing left behind. */
	for (unsigned i = 0; i < POOL; i++)
		if (pool[i].present) {
			EQ(rm(&e, pool[i].name, NULL), 0);
			pool[i].present = false;
		}
	check_full_listing(&e);
	EQ(e.dir.fork.root, 0);
#ifndef SANFS_TEST_REAL_ENGINE
	EQ(fake_blocks_used(e.fs), 0);
#endif
	env_done(&e);
}

START_TEST(test_model)
{
	trand_seed("dir_model");
	model_run(40000);
}
END_TEST

START_TEST(test_basic)
{
	struct env e;
	env_init(&e, 1 << 12, true);
	uint64_t ino;
	uint8_t dt;
	EQ(dir_is_empty(e.fs, &e.dir), 1);
	EQ(look(&e, ".", &ino, &dt), 0);
	EQ(ino, e.dir.ino);
	EQ(dt, DT_DIR);
	EQ(look(&e, "..", &ino, &dt), 0);
	EQ(ino, e.dir.fork.aux);
	EQ(look(&e, "a", &ino, &dt), -ENOENT);
	EQ(add(&e, "a", 100, DT_REG), 0);
	EQ(add(&e, "a", 101, DT_REG), -EEXIST);
	EQ(add(&e, ".", 101, DT_DIR), -EEXIST);
	EQ(add(&e, "..", 101, DT_DIR), -EEXIST);
	EQ(add(&e, "b", 0, DT_REG), -EINVAL);
	EQ(add(&e, "b", 5, 0), -EINVAL);
	EQ(add(&e, "b", 5, 3), -EINVAL);
	EQ(dir_is_empty(e.fs, &e.dir), 0);
	EQ(look(&e, "a", &ino, &dt), 0);
	EQ(ino, 100);
	EQ(dt, DT_REG);
	EQ(set(&e, "a", 200, DT_DIR), 0);
	EQ(look(&e, "a", &ino, &dt), 0);
	EQ(ino, 200);
	EQ(dt, DT_DIR);
	EQ(set(&e, "nope", 200, DT_DIR), -ENOENT);
	EQ(set(&e, ".", 200, DT_DIR), -EINVAL);
	EQ(set(&e, "..", 77, DT_REG), -EINVAL);
	EQ(set(&e, "..", 77, DT_DIR), 0);
	EQ(look(&e, "..", &ino, &dt), 0);
	EQ(ino, 77);
	EQ(rm(&e, ".", NULL), -EINVAL);
	EQ(rm(&e, "..", NULL), -EINVAL);
	EQ(rm(&e, "zz", NULL), -ENOENT);
	EQ(rm(&e, "a", &ino), 0);
	EQ(ino, 200);
	EQ(look(&e, "a", &ino, &dt), -ENOENT);
	EQ(dir_is_empty(e.fs, &e.dir), 1);
	/* Name rules. */
	char longn[DIR_NAME_MAX + 2];
	memset(longn, 'x', sizeof(longn));
	longn[DIR_NAME_MAX] = '\0';
	EQ(add(&e, longn, 300, DT_REG), 0); /* 255 bytes: fine */
	EQ(look(&e, longn, &ino, &dt), 0);
	EQ(ino, 300);
	longn[DIR_NAME_MAX] = 'x';
	longn[DIR_NAME_MAX + 1] = '\0';
	EQ(add(&e, longn, 301, DT_REG), -ENAMETOOLONG);
	EQ(look(&e, longn, &ino, &dt), -ENAMETOOLONG);
	EQ(rm(&e, longn, NULL), -ENAMETOOLONG);
	EQ(add(&e, "a/b", 301, DT_REG), -EINVAL);
	EQ(add(&e, "", 301, DT_REG), -EINVAL);
	struct txn *t = tb(&e);
	EQ(dir_add(e.fs, t, &e.dir, "a\0b", 3, 301, DT_REG), -EINVAL);
	te(t);
	EQ(dir_lookup(e.fs, &e.dir, "a\0b", 3, &ino, &dt), -EINVAL);
	EQ(dir_init(e.fs, NULL, &e.dir, 0), -EINVAL);
	/* Listing: ".", "..", the long name; cookies 1, 2, then a key cookie. */
	pool_init();
	struct listing l = {.e = &e};
	longn[DIR_NAME_MAX] = '\0';
	t = tb(&e);
	EQ(dir_destroy(e.fs, t, &e.dir), 0);
	te(t);
	EQ(e.dir.fork.root, 0);
	EQ(e.dir.fork.aux, 77);
	EQ(dir_is_empty(e.fs, &e.dir), 1);
	EQ(dir_iterate(e.fs, &e.dir, 0, list_cb, &l), 0);
	EQ(l.dots, 2);
	EQ(l.got, 2);
	env_done(&e);
}
END_TEST

struct first {
	uint64_t cookie[3];
	char name[3][8];
	unsigned n;
};
static int first_cb(void *arg, const char *name, size_t len, uint64_t ino, uint8_t dtype,
		    uint64_t next)
{
	struct first *f = arg;
	(void)ino;
	(void)dtype;
	if (f->n == 3)
		return 1;
	snprintf(f->name[f->n], sizeof(f->name[0]), "%.*s", (int)len, name);
	f->cookie[f->n++] = next;
	return 0;
}

START_TEST(test_cookies)
{
	struct env e;
	env_init(&e, 1 << 12, true);
	EQ(add(&e, "x", 5, DT_REG), 0);
	struct first f = {0};
	EQ(dir_iterate(e.fs, &e.dir, 0, first_cb, &f), 0);
	EQ(f.n, 3);
	REQ(strcmp(f.name[0], ".") == 0 && strcmp(f.name[1], "..") == 0);
	EQ(f.cookie[0], 1);
	EQ(f.cookie[1], 2);
	uint64_t h = dir_hash(e.fs->sb.dir_hash_seed, "x", 1);
	EQ(f.cookie[2], (h << DIR_CTR_BITS) + 1);
	REQ(f.cookie[2] < (1ull << 63));
	/* Resuming at each cookie. */
	memset(&f, 0, sizeof(f));
	EQ(dir_iterate(e.fs, &e.dir, 1, first_cb, &f), 0);
	EQ(f.n, 2);
	REQ(strcmp(f.name[0], "..") == 0 && strcmp(f.name[1], "x") == 0);
	memset(&f, 0, sizeof(f));
	EQ(dir_iterate(e.fs, &e.dir, 2, first_cb, &f), 0);
	EQ(f.n, 1);
	memset(&f, 0, sizeof(f));
	EQ(dir_iterate(e.fs, &e.dir, (h << DIR_CTR_BITS) + 1, first_cb, &f), 0);
	EQ(f.n, 0);
	memset(&f, 0, sizeof(f));
	EQ(dir_iterate(e.fs, &e.dir, UINT64_MAX, first_cb, &f), 0);
	EQ(f.n, 0);
	EQ(rm(&e, "x", NULL), 0);
	env_done(&e);
}
END_TEST

START_TEST(test_siphash_vectors)
{
	/* The reference vectors of the SipHash paper: key 00..0f, message
	 * 00..len-1. */
	uint8_t key[16], msg[64];
	for (unsigned i = 0; i < 16; i++)
		key[i] = (uint8_t)i;
	for (unsigned i = 0; i < 64; i++)
		msg[i] = (uint8_t)i;
	EQ(dir_siphash24(key, msg, 0) == 0x726fdb47dd0e0e31ull, 1);
	EQ(dir_siphash24(key, msg, 1) == 0x74f839c593dc67fdull, 1);
	EQ(dir_siphash24(key, msg, 15) == 0xa129ca6149be45e5ull, 1);
	/* Keyed: another seed, another hash. */
	uint8_t key2[16] = {1};
	REQ(dir_hash(key, "name", 4) != dir_hash(key2, "name", 4));
	for (unsigned i = 0; i < 1000; i++) {
		char n[16];
		int len = snprintf(n, sizeof(n), "f%u", i);
		uint64_t h = dir_hash(key, n, (size_t)len);
		REQ(h >= 1 && h < (1ull << DIR_HASH_BITS) - 1);
	}
}
END_TEST

START_TEST(test_record_codec)
{
	uint8_t seed[16] = {9, 8, 7};
	uint8_t v[DIR_REC_HDR + DIR_NAME_MAX + 8];
	struct dir_rec r;
	size_t len = dir_rec_encode(42, DT_REG, "hello", 5, v);
	EQ(len, DIR_REC_HDR + 5);
	struct btree_key k = {dir_hash(seed, "hello", 5), 3};
	EQ(dir_rec_decode(seed, 1, &k, v, len, &r), 0);
	EQ(r.ino, 42);
	EQ(r.dtype, DT_REG);
	REQ(strcmp(r.name, "hello") == 0);
	EQ(le64_get(v), 42);
	EQ(v[8], DT_REG);
	EQ(v[9], 5);
	/* Each damage is refused. */
	struct btree_key badk = k;
	badk.hi ^= 1;
	EQ(dir_rec_decode(seed, 1, &badk, v, len, &r), -EIO);
	badk = k;
	badk.lo = 128;
	EQ(dir_rec_decode(seed, 1, &badk, v, len, &r), -EIO);
	EQ(dir_rec_decode(seed, 1, &k, v, len - 1, &r), -EIO);
	EQ(dir_rec_decode(seed, 1, &k, v, 5, &r), -EIO);
	EQ(dir_rec_decode(seed, 1, &k, v, DIR_REC_HDR, &r), -EIO);
	EQ(dir_rec_decode(NULL, 1, &k, v, len, &r), 0); /* no seed: no hash check */
	uint8_t w[sizeof(v)];
	memcpy(w, v, len);
	w[9] = 6;
	EQ(dir_rec_decode(NULL, 1, &k, w, len, &r), -EIO);
	memcpy(w, v, len);
	w[DIR_REC_HDR + 2] = '/';
	EQ(dir_rec_decode(NULL, 1, &k, w, len, &r), -EIO);
	memcpy(w, v, len);
	w[DIR_REC_HDR + 2] = 0;
	EQ(dir_rec_decode(NULL, 1, &k, w, len, &r), -EIO);
	memcpy(w, v, len);
	le64_put(w, 0);
	EQ(dir_rec_decode(NULL, 1, &k, w, len, &r), -EIO);
	memcpy(w, v, len);
	w[8] = 0;
	EQ(dir_rec_decode(NULL, 1, &k, w, len, &r), -EIO);
	size_t dl = dir_rec_encode(42, DT_DIR, "..", 2, w);
	EQ(dir_rec_decode(NULL, 1, &k, w, dl, &r), -EIO);
	dl = dir_rec_encode(42, DT_DIR, ".", 1, w);
	EQ(dir_rec_decode(NULL, 1, &k, w, dl, &r), -EIO);
}
END_TEST

#ifndef SANFS_TEST_REAL_ENGINE
/* The leaf holding name: found by walking the tree (fake engine only). */
struct leaf_of {
	uint64_t blk;
};
static int leaf_node(void *arg, uint64_t blkno, unsigned level, unsigned nrecs)
{
	struct leaf_of *l = arg;
	(void)nrecs;
	if (level == 0 && !l->blk)
		l->blk = blkno;
	return 0;
}

START_TEST(test_corrupt_entry_on_disk)
{
	struct env e;
	env_init(&e, 1 << 12, false);
	char n[32];
	for (unsigned i = 0; i < 200; i++) {
		snprintf(n, sizeof(n), "file%u", i);
		EQ(add(&e, n, 1000 + i, DT_REG), 0);
	}
	struct leaf_of lo = {0};
	struct btree_walk_ops ops = {leaf_node, NULL};
	EQ(btree_walk(e.fs, &e.dir.fork, e.dir.ino, &ops, &lo), 0);
	uint8_t *d = fake_block(e.fs, lo.blk);
	/* Turn the first name byte of the leaf's first record into '/'. */
	unsigned voff = le16_get(d + 64 + 16);
	uint8_t saved = d[voff + DIR_REC_HDR];
	d[voff + DIR_REC_HDR] = '/';
	struct listing l = {.e = &e};
	pool_init();
	EQ(dir_iterate(e.fs, &e.dir, 0, list_cb, &l) == -EIO || l.got < 202, 1);
	unsigned eio = 0;
	for (unsigned i = 0; i < 200; i++) {
		uint64_t ino;
		snprintf(n, sizeof(n), "file%u", i);
		int rc = look(&e, n, &ino, NULL);
		REQ(rc == 0 || rc == -EIO);
		eio += rc == -EIO;
	}
	REQ(eio >= 1);
	d[voff + DIR_REC_HDR] = saved;
	for (unsigned i = 0; i < 200; i++) {
		snprintf(n, sizeof(n), "file%u", i);
		EQ(rm(&e, n, NULL), 0);
	}
	env_done(&e);
}
END_TEST

#if DIR_HASH_BITS >= 16
struct lat {
	double lookup, add, remove;
	double rlookup, radd, rremove; /* node reads per operation */
};

/* One round of: lookups of existing names, adds and removes of fresh ones in
 * directory dir holding `have` entries "entry-<i>.dat"; keeps the best time
 * per operation seen in out. */
static void measure(struct env *e, struct sfs_inode *dir, unsigned have, unsigned round,
		    struct lat *out)
{
	char n[32];
	enum { L = 10000, A = 3000 };
	struct sfs_inode keep = e->dir;
	e->dir = *dir;
	uint64_t r0 = fake_reads(e->fs);
	double t0 = now();
	for (unsigned i = 0; i < L; i++) {
		unsigned k = (unsigned)(trand() % have);
		snprintf(n, sizeof(n), "entry-%u.dat", k);
		uint64_t ino;
		EQ(look(e, n, &ino, NULL), 0);
		EQ(ino, 100 + k);
	}
	double t1 = now();
	uint64_t r1 = fake_reads(e->fs);
	for (unsigned i = 0; i < A; i++) {
		snprintf(n, sizeof(n), "extra-%u-%u", round, i);
		EQ(add(e, n, 7, DT_REG), 0);
	}
	double t2 = now();
	uint64_t r2 = fake_reads(e->fs);
	for (unsigned i = 0; i < A; i++) {
		snprintf(n, sizeof(n), "extra-%u-%u", round, i);
		EQ(rm(e, n, NULL), 0);
	}
	double t3 = now();
	uint64_t r3 = fake_reads(e->fs);
	out->rlookup = (double)(r1 - r0) / L;
	out->radd = (double)(r2 - r1) / A;
	out->rremove = (double)(r3 - r2) / A;
	*dir = e->dir;
	e->dir = keep;
	if ((t1 - t0) / L < out->lookup)
		out->lookup = (t1 - t0) / L;
	if ((t2 - t1) / A < out->add)
		out->add = (t2 - t1) / A;
	if ((t3 - t2) / A < out->remove)
		out->remove = (t3 - t2) / A;
}

static void fill(struct env *e, struct sfs_inode *dir, unsigned n)
{
	char name[32];
	struct sfs_inode keep = e->dir;
	e->dir = *dir;
	for (unsigned i = 0; i < n; i++) {
		snprintf(name, sizeof(name), "entry-%u.dat", i);
		EQ(add(e, name, 100 + i, DT_REG), 0);
	}
	*dir = e->dir;
	e->dir = keep;
}

START_TEST(test_million_entries)
{
	/* DESIGN §3: lookup, create and unlink in a directory of 1,000,000
	 * entries stay O(log n). The time per operation at 1M must be within a
	 * small factor of the time at 10k (linear would be 100 times). The two
	 * directories are measured in alternating rounds (best of each) so that
	 * load from other processes hits both alike. */
	trand_seed("dir_million");
	enum { SMALL = 10000, BIG = 1000000 };
	struct env e;
	env_init(&e, 1 << 17, false);
	struct sfs_inode small_dir = e.dir, big_dir = e.dir;
	small_dir.ino = 10;
	big_dir.ino = 11;
	fill(&e, &small_dir, SMALL);
	fill(&e, &big_dir, BIG);
	EQ(big_dir.fork.nrecs, BIG);
	struct lat small = {1e9, 1e9, 1e9, 0, 0, 0}, big = {1e9, 1e9, 1e9, 0, 0, 0};
	for (unsigned r = 0; r < 3; r++) {
		measure(&e, &small_dir, SMALL, r, &small);
		measure(&e, &big_dir, BIG, r, &big);
	}
	printf("dir_million: depth %u, %u nodes; per op at 10k / 1M: lookup %.2f / %.2f us, "
	       "add %.2f / %.2f us, remove %.2f / %.2f us\n",
	       big_dir.fork.depth, big_dir.fork.nnodes, small.lookup * 1e6, big.lookup * 1e6,
	       small.add * 1e6, big.add * 1e6, small.remove * 1e6, big.remove * 1e6);
	printf("dir_million: node reads per op at 10k / 1M: lookup %.2f / %.2f, add %.2f / %.2f, "
	       "remove %.2f / %.2f\n",
	       small.rlookup, big.rlookup, small.radd, big.radd, small.rremove, big.rremove);
	fflush(stdout);
	/* The count of nodes visited grows with the depth only (2 -> 3 levels). */
	REQ(big.rlookup <= 2 * small.rlookup);
	REQ(big.radd <= 2 * small.radd);
	REQ(big.rremove <= 2 * small.rremove);
	/* Time: memory at 1M is cold where at 10k it sits in the CPU cache, and
	 * other processes compete for both; linear growth would be 100x. */
	REQ(big.lookup < 10 * small.lookup);
	REQ(big.add < 12 * small.add);
	REQ(big.remove < 12 * small.remove);
	EQ(btree_walk(e.fs, &big_dir.fork, big_dir.ino, NULL, NULL), 0);
	struct txn *t;
	EQ(txn_begin(e.fs, 1 << 20, &t), 0);
	EQ(dir_destroy(e.fs, t, &small_dir), 0);
	EQ(dir_destroy(e.fs, t, &big_dir), 0);
	te(t);
	EQ(fake_blocks_used(e.fs), 0);
	env_done(&e);
}
END_TEST
#endif

#if DIR_HASH_BITS < 16
START_TEST(test_chain_full)
{
	/* With an 8-bit hash, some hash gets 128 names: the 129th is -ENOSPC
	 * and the directory is unchanged; after a remove it fits again. */
	struct env e;
	env_init(&e, 1 << 14, false);
	char n[32];
	const uint8_t *seed = e.fs->sb.dir_hash_seed;
	uint64_t target = dir_hash(seed, "t0", 2);
	unsigned added = 0, i = 0;
	char first[32] = "t0";
	while (added < 128) {
		snprintf(n, sizeof(n), "t%u", i++);
		if (dir_hash(seed, n, strlen(n)) != target)
			continue;
		EQ(add(&e, n, 10 + added, DT_REG), 0);
		added++;
	}
	do
		snprintf(n, sizeof(n), "t%u", i++);
	while (dir_hash(seed, n, strlen(n)) != target);
	uint64_t recs = e.dir.fork.nrecs;
	EQ(add(&e, n, 99, DT_REG), -ENOSPC);
	EQ(e.dir.fork.nrecs, recs);
	EQ(rm(&e, first, NULL), 0);
	EQ(add(&e, n, 99, DT_REG), 0);
	uint64_t ino;
	EQ(look(&e, n, &ino, NULL), 0);
	EQ(ino, 99);
	EQ(look(&e, first, &ino, NULL), -ENOENT);
	EQ(btree_walk(e.fs, &e.dir.fork, e.dir.ino, NULL, NULL), 0);
	struct txn *t;
	EQ(txn_begin(e.fs, 1 << 20, &t), 0);
	EQ(dir_destroy(e.fs, t, &e.dir), 0);
	te(t);
	env_done(&e);
}
END_TEST
#endif
#endif /* !SANFS_TEST_REAL_ENGINE */

#ifdef SANFS_TEST_REAL_ENGINE
START_TEST(test_persist_remount)
{
	/* Entries written through the journal are there after unmount and
	 * mount (the fork is kept by the test, as the inode would keep it). */
	trand_seed("dir_persist");
	struct env e;
	env_init(&e, 1 << 15, false);
	char n[48];
	enum { N = 20000 };
	for (unsigned i = 0; i < N; i++) {
		snprintf(n, sizeof(n), "persist-%u-%u", i, (unsigned)(i * 2654435761u));
		EQ(add(&e, n, 100 + i, DT_REG), 0);
	}
	for (unsigned i = 0; i < N; i += 3) {
		snprintf(n, sizeof(n), "persist-%u-%u", i, (unsigned)(i * 2654435761u));
		EQ(rm(&e, n, NULL), 0);
	}
	struct sfs_fork keep = e.dir.fork;
	ck_assert_int_eq(sfs_close(e.fs), 0);
	e.fs = mount_img(e.img);
	e.dir.fork = keep;
	EQ(btree_walk(e.fs, &e.dir.fork, e.dir.ino, NULL, NULL), 0);
	for (unsigned i = 0; i < N; i++) {
		uint64_t ino;
		snprintf(n, sizeof(n), "persist-%u-%u", i, (unsigned)(i * 2654435761u));
		int rc = look(&e, n, &ino, NULL);
		if (i % 3 == 0) {
			EQ(rc, -ENOENT);
		} else {
			EQ(rc, 0);
			EQ(ino, 100 + i);
		}
	}
	/* Free the tree: the allocator gets every block back. */
	struct statvfs before, after;
	EQ(sfs_statfs(e.fs, &before), 0);
	struct txn *t;
	EQ(txn_begin(e.fs, 256, &t), 0);
	uint32_t nodes = e.dir.fork.nnodes;
	EQ(dir_destroy(e.fs, t, &e.dir), 0);
	te(t);
	EQ(jnl_sync(e.fs), 0);
	EQ(sfs_statfs(e.fs, &after), 0);
	EQ(after.f_bfree - before.f_bfree, nodes);
	env_done(&e);
}
END_TEST

/* The generic B+tree on the real engine: random inserts, updates and
 * deletes of values up to 512 bytes (deep trees, many splits and merges)
 * against a model, with an unmount and mount halfway. */
#define BT_KEYS 3000
static struct {
	bool present;
	uint16_t len;
	uint32_t ver;
} btm[BT_KEYS];

static void bt_val(uint8_t *v, size_t len, unsigned k, uint32_t ver)
{
	for (size_t i = 0; i < len; i++)
		v[i] = (uint8_t)(k * 7 + ver * 13 + i);
}

static void bt_check(struct env *e, struct btree *bt)
{
	uint8_t v[BTREE_MAX_VAL], w[BTREE_MAX_VAL];
	uint64_t n = 0;
	for (unsigned k = 0; k < BT_KEYS; k++) {
		struct btree_key key = {k, k % 3};
		size_t len = 0;
		int rc = btree_lookup(bt, &key, v, sizeof(v), &len);
		EQ(rc, btm[k].present ? 0 : -ENOENT);
		if (btm[k].present) {
			EQ(len, btm[k].len);
			bt_val(w, len, k, btm[k].ver);
			REQ(memcmp(v, w, len) == 0);
			n++;
		}
	}
	EQ(bt->fork->nrecs, n);
	EQ(btree_walk(e->fs, bt->fork, e->dir.ino, NULL, NULL), 0);
}

START_TEST(test_btree_real_engine)
{
	trand_seed("btree_real_engine");
	struct env e;
	env_init(&e, 1 << 15, false);
	struct sfs_fork fork = {0};
	struct btree bt;
	btree_open(&bt, e.fs, &fork, e.dir.ino);
	memset(btm, 0, sizeof(btm));
	uint8_t v[BTREE_MAX_VAL];
	for (unsigned i = 0; i < 24000; i++) {
		unsigned k = (unsigned)(trand() % BT_KEYS), op = (unsigned)(trand() % 10);
		struct btree_key key = {k, k % 3};
		size_t len = (size_t)(trand() % (BTREE_MAX_VAL + 1));
		bt_val(v, len, k, i);
		struct txn *t;
		EQ(txn_begin(e.fs, btree_max_blocks_depth(fork.depth), &t), 0);
		int rc;
		if (op < 5) {
			rc = btree_insert(&bt, t, &key, v, len);
			EQ(rc, btm[k].present ? -EEXIST : 0);
		} else if (op < 7) {
			rc = btree_update(&bt, t, &key, v, len);
			EQ(rc, btm[k].present ? 0 : -ENOENT);
		} else {
			rc = btree_delete(&bt, t, &key, NULL, 0, NULL);
			EQ(rc, btm[k].present ? 0 : -ENOENT);
		}
		te(t);
		if (rc == 0 && op < 7) {
			btm[k].present = true;
			btm[k].len = (uint16_t)len;
			btm[k].ver = i;
		} else if (rc == 0) {
			btm[k].present = false;
		}
		if (i == 12000) {
			bt_check(&e, &bt);
			ck_assert_int_eq(sfs_close(e.fs), 0);
			e.fs = mount_img(e.img);
			btree_open(&bt, e.fs, &fork, e.dir.ino);
			bt_check(&e, &bt);
		}
	}
	bt_check(&e, &bt);
	printf("btree_real_engine: depth %u, %u nodes, %" PRIu64 " records\n", fork.depth,
	       fork.nnodes, fork.nrecs);
	struct statvfs before, after;
	EQ(sfs_statfs(e.fs, &before), 0);
	uint32_t nodes = fork.nnodes;
	struct txn *t;
	EQ(txn_begin(e.fs, 256, &t), 0);
	EQ(btree_destroy(&bt, t), 0);
	te(t);
	EQ(jnl_sync(e.fs), 0);
	EQ(sfs_statfs(e.fs, &after), 0);
	EQ(after.f_bfree - before.f_bfree, nodes);
	env_done(&e);
}
END_TEST

START_TEST(test_corrupt_node_on_disk)
{
	/* A node whose checksum is right but whose content is not (a bug, or
	 * damage behind the checksum): -EIO with a log line, no crash. */
	struct env e;
	env_init(&e, 1 << 14, false);
	char n[32];
	for (unsigned i = 0; i < 3000; i++) {
		snprintf(n, sizeof(n), "c%u", i);
		EQ(add(&e, n, 100 + i, DT_REG), 0);
	}
	struct sfs_fork keep = e.dir.fork;
	ck_assert_int_eq(sfs_close(e.fs), 0);
	/* Damage the root's child count and reseal the block. */
	uint8_t *blk = aligned_alloc(4096, 4096);
	FILE *f = fopen(e.img, "r+b");
	REQ(f != NULL);
	REQ(fseeko(f, (off_t)(keep.root * 4096), SEEK_SET) == 0);
	REQ(fread(blk, 1, 4096, f) == 4096);
	le16_put(blk + 50, 999);
	sfs_blk_reseal(blk);
	REQ(fseeko(f, (off_t)(keep.root * 4096), SEEK_SET) == 0);
	REQ(fwrite(blk, 1, 4096, f) == 4096);
	fclose(f);
	free(blk);
	e.fs = mount_img(e.img);
	e.dir.fork = keep;
	uint64_t ino;
	EQ(look(&e, "c1", &ino, NULL), -EIO);
	EQ(add(&e, "new", 5, DT_REG), -EIO);
	EQ(btree_walk(e.fs, &e.dir.fork, e.dir.ino, NULL, NULL), -EIO);
	env_done(&e);
}
END_TEST
#endif

int main(void)
{
	Suite *s = suite_create("dir");
	TCase *tc = tcase_create("core");
	tcase_set_timeout(tc, 600);
	tcase_add_test(tc, test_siphash_vectors);
	tcase_add_test(tc, test_record_codec);
	tcase_add_test(tc, test_basic);
	tcase_add_test(tc, test_cookies);
	tcase_add_test(tc, test_model);
#ifndef SANFS_TEST_REAL_ENGINE
	tcase_add_test(tc, test_corrupt_entry_on_disk);
#if DIR_HASH_BITS < 16
	tcase_add_test(tc, test_chain_full);
#else
	tcase_add_test(tc, test_million_entries);
#endif
#else
	tcase_add_test(tc, test_persist_remount);
	tcase_add_test(tc, test_btree_real_engine);
	tcase_add_test(tc, test_corrupt_node_on_disk);
#endif
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}

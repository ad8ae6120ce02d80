/* Unit tests of fs/btree on the in-memory fake engine (tests/fs/fake_engine.c):
 * random operations against a model (seed printed; SANFS_SEED=N repeats a
 * run), 1,000,000 keys, sequential appends, ENOSPC, corrupt nodes, the fork
 * codec and the fsck walker. */
#include "fs/btree.h"
#include "fs/btree_int.h"
#include "tests/fs/fake_engine.h"
#include "tests/fs/test_rand.h"
#include "common/log.h"

#include <check.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define INO 7

/* Value of a record: derived from key and version, length len. */
static void make_val(uint8_t *v, size_t len, const struct btree_key *k, uint32_t ver)
{
	for (size_t i = 0; i < len; i++)
		v[i] = (uint8_t)(k->hi * 31 + k->lo * 7 + ver * 13 + i);
}

struct env {
	struct sfs *fs;
	struct sfs_fork fork;
	struct btree bt;
};

static void env_init(struct env *e, uint64_t nblocks, bool check)
{
	e->fs = fake_sfs_new(nblocks, check);
	memset(&e->fork, 0, sizeof(e->fork));
	btree_open(&e->bt, e->fs, &e->fork, INO);
}

static void env_done(struct env *e)
{
	EQ(fake_violations(e->fs), 0);
	EQ(fake_refs(e->fs), 0);
	fake_sfs_free(e->fs);
}

static int ins(struct env *e, uint64_t hi, uint64_t lo, const void *v, size_t len)
{
	struct txn *t;
	EQ(txn_begin(e->fs, btree_max_blocks_depth(e->fork.depth), &t), 0);
	struct btree_key k = {hi, lo};
	int rc = btree_insert(&e->bt, t, &k, v, len);
	txn_end(t, NULL);
	return rc;
}

static int del(struct env *e, uint64_t hi, uint64_t lo)
{
	struct txn *t;
	EQ(txn_begin(e->fs, btree_max_blocks_depth(e->fork.depth), &t), 0);
	struct btree_key k = {hi, lo};
	int rc = btree_delete(&e->bt, t, &k, NULL, 0, NULL);
	txn_end(t, NULL);
	return rc;
}

static int upd(struct env *e, uint64_t hi, uint64_t lo, const void *v, size_t len)
{
	struct txn *t;
	EQ(txn_begin(e->fs, btree_max_blocks_depth(e->fork.depth), &t), 0);
	struct btree_key k = {hi, lo};
	int rc = btree_update(&e->bt, t, &k, v, len);
	txn_end(t, NULL);
	return rc;
}

/* ---- model: a sorted array ---- */
struct mrec {
	struct btree_key k;
	uint32_t ver;
	uint16_t len;
};
struct model {
	struct mrec *r;
	size_t n, cap;
};

static size_t m_find(struct model *m, const struct btree_key *k, bool *found)
{
	size_t lo = 0, hi = m->n;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		int c = btree_key_cmp(&m->r[mid].k, k);
		if (c == 0) {
			*found = true;
			return mid;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	*found = false;
	return lo;
}

struct itctx {
	struct model *m;
	size_t pos, limit;
};

static int it_check(void *arg, const struct btree_key *k, const void *val, size_t len)
{
	struct itctx *c = arg;
	REQ_CMP(c->pos, <, c->m->n);
	struct mrec *r = &c->m->r[c->pos];
	EQ(btree_key_cmp(k, &r->k), 0);
	EQ(len, r->len);
	uint8_t v[BTREE_MAX_VAL];
	make_val(v, len, k, r->ver);
	REQ(memcmp(v, val, len) == 0);
	c->pos++;
	return c->limit && c->pos >= c->limit ? 1 : 0;
}

static unsigned long walk_nodes, walk_recs;
static int wn(void *arg, uint64_t blkno, unsigned level, unsigned nrecs)
{
	(void)arg;
	(void)blkno;
	(void)level;
	(void)nrecs;
	walk_nodes++;
	return 0;
}
static int wr(void *arg, const struct btree_key *k, const void *val, size_t len)
{
	(void)arg;
	(void)k;
	(void)val;
	(void)len;
	walk_recs++;
	return 0;
}
static const struct btree_walk_ops walk_ops = {wn, wr};

static void check_all(struct env *e, struct model *m)
{
	struct itctx c = {m, 0, 0};
	struct btree_key zero = {0, 0};
	EQ(btree_iterate(&e->bt, &zero, it_check, &c), 0);
	EQ(c.pos, m->n);
	EQ(e->fork.nrecs, m->n);
	walk_nodes = walk_recs = 0;
	EQ(btree_walk(e->fs, &e->fork, INO, &walk_ops, NULL), 0);
	EQ(walk_recs, m->n);
	EQ(walk_nodes, e->fork.nnodes);
	EQ(fake_blocks_used(e->fs), e->fork.nnodes);
	EQ(fake_refs(e->fs), 0);
	EQ(fake_violations(e->fs), 0);
}

static void random_run(unsigned ops, uint64_t keyspace, unsigned maxlen)
{
	struct env e;
	struct model m = {0};
	env_init(&e, 1 << 16, true);
	uint8_t v[BTREE_MAX_VAL], got[BTREE_MAX_VAL];
	for (unsigned i = 0; i < ops; i++) {
		struct btree_key k = {trand() % keyspace, trand() % 3};
		bool found;
		size_t pos = m_find(&m, &k, &found);
		unsigned op = trand() % 100;
		if (op < 45) {
			size_t len = trand() % (maxlen + 1);
			make_val(v, len, &k, i);
			int rc = ins(&e, k.hi, k.lo, v, len);
			EQ(rc, found ? -EEXIST : 0);
			if (!found) {
				if (m.n == m.cap) {
					m.cap = m.cap ? 2 * m.cap : 256;
					m.r = realloc(m.r, m.cap * sizeof(*m.r));
				}
				memmove(m.r + pos + 1, m.r + pos, (m.n - pos) * sizeof(*m.r));
				m.r[pos] = (struct mrec){k, i, (uint16_t)len};
				m.n++;
			}
		} else if (op < 75) {
			EQ(del(&e, k.hi, k.lo), found ? 0 : -ENOENT);
			if (found) {
				memmove(m.r + pos, m.r + pos + 1, (m.n - pos - 1) * sizeof(*m.r));
				m.n--;
			}
		} else if (op < 85) {
			size_t len = trand() % (maxlen + 1);
			make_val(v, len, &k, i);
			EQ(upd(&e, k.hi, k.lo, v, len), found ? 0 : -ENOENT);
			if (found) {
				m.r[pos].ver = i;
				m.r[pos].len = (uint16_t)len;
			}
		} else if (op < 92) {
			size_t len = 0;
			int rc = btree_lookup(&e.bt, &k, got, sizeof(got), &len);
			EQ(rc, found ? 0 : -ENOENT);
			if (found) {
				EQ(len, m.r[pos].len);
				make_val(v, len, &k, m.r[pos].ver);
				REQ(memcmp(v, got, len) == 0);
			}
		} else if (op < 96) {
			struct btree_key fk;
			int rc = btree_lookup_ge(&e.bt, &k, &fk, NULL, 0, NULL);
			if (pos < m.n) {
				EQ(rc, 0);
				EQ(btree_key_cmp(&fk, &m.r[pos].k), 0);
			} else {
				EQ(rc, -ENOENT);
			}
			rc = btree_lookup_le(&e.bt, &k, &fk, NULL, 0, NULL);
			size_t lp = found ? pos : pos - 1; /* wraps when pos == 0 */
			if (found || pos > 0) {
				EQ(rc, 0);
				EQ(btree_key_cmp(&fk, &m.r[lp].k), 0);
			} else {
				EQ(rc, -ENOENT);
			}
		} else {
			/* Iterate a stretch from k (next-key semantics). */
			struct itctx c = {&m, pos, pos + 1 + trand() % 300};
			if (c.limit > m.n)
				c.limit = 0;
			EQ(btree_iterate(&e.bt, &k, it_check, &c), 0);
			EQ(c.pos, c.limit ? c.limit : m.n);
		}
		if (i % 2000 == 0)
			check_all(&e, &m);
	}
	check_all(&e, &m);
	/* Delete everything: the tree must give back every block. */
	while (m.n) {
		size_t p = trand() % m.n;
		EQ(del(&e, m.r[p].k.hi, m.r[p].k.lo), 0);
		memmove(m.r + p, m.r + p + 1, (m.n - p - 1) * sizeof(*m.r));
		m.n--;
		if (m.n % 500 == 0)
			check_all(&e, &m);
	}
	EQ(e.fork.root, 0);
	EQ(e.fork.depth, 0);
	EQ(fake_blocks_used(e.fs), 0);
	REQ_CMP(fake_max_txn_blocks(e.fs), <=, btree_max_blocks());
	free(m.r);
	env_done(&e);
}

START_TEST(test_random_small_values)
{
	trand_seed("random_small_values");
	random_run(40000, 20000, 24);
}
END_TEST

START_TEST(test_random_big_values)
{
	/* Values up to 512 bytes: few records per leaf, deep trees, many
	 * splits, merges and redistributions. */
	trand_seed("random_big_values");
	random_run(30000, 3000, BTREE_MAX_VAL);
}
END_TEST

START_TEST(test_random_tiny_keyspace)
{
	trand_seed("random_tiny_keyspace");
	random_run(30000, 300, 600 > BTREE_MAX_VAL ? BTREE_MAX_VAL : 600);
}
END_TEST

START_TEST(test_empty_and_limits)
{
	struct env e;
	env_init(&e, 1024, true);
	struct btree_key k = {1, 2}, fk;
	uint8_t v[BTREE_MAX_VAL + 1] = {0};
	EQ(btree_lookup(&e.bt, &k, NULL, 0, NULL), -ENOENT);
	EQ(btree_lookup_ge(&e.bt, &k, &fk, NULL, 0, NULL), -ENOENT);
	EQ(btree_lookup_le(&e.bt, &k, &fk, NULL, 0, NULL), -ENOENT);
	EQ(del(&e, 1, 2), -ENOENT);
	EQ(upd(&e, 1, 2, v, 3), -ENOENT);
	EQ(ins(&e, 1, 2, v, BTREE_MAX_VAL + 1), -EINVAL);
	EQ(ins(&e, 1, 2, v, BTREE_MAX_VAL), 0);
	EQ(ins(&e, 1, 2, v, 1), -EEXIST);
	EQ(upd(&e, 1, 2, v, BTREE_MAX_VAL + 1), -EINVAL);
	size_t len = 0;
	uint8_t small[4];
	EQ(btree_lookup(&e.bt, &k, small, sizeof(small), &len), 0);
	EQ(len, BTREE_MAX_VAL); /* full length even when cut */
	EQ(ins(&e, UINT64_MAX, UINT64_MAX, v, 0), 0);
	EQ(ins(&e, 0, 0, v, 0), 0);
	EQ(e.fork.nrecs, 3);
	EQ(del(&e, 1, 2), 0);
	EQ(del(&e, 0, 0), 0);
	EQ(del(&e, UINT64_MAX, UINT64_MAX), 0);
	EQ(e.fork.root, 0);
	EQ(fake_blocks_used(e.fs), 0);
	env_done(&e);
}
END_TEST

static int count_cb(void *arg, const struct btree_key *k, const void *val, size_t len)
{
	uint64_t *c = arg;
	EQ(len, 8);
	EQ(le64_get(val), k->hi ^ 0x5555);
	REQ(k->hi == *c);
	(*c)++;
	return 0;
}

START_TEST(test_million_keys)
{
	/* 1,000,000 keys inserted in a random order (a permutation by an odd
	 * multiplier), all found, iterated in order, half deleted, rest
	 * deleted; the tree gives back every block. */
	trand_seed("million_keys");
	enum { N = 1000000 };
	struct env e;
	env_init(&e, 200000, false);
	uint64_t mul = (trand() | 1) & ((1u << 20) - 1), add = trand();
	uint8_t v[8];
	for (uint64_t i = 0; i < N; i++) {
		uint64_t key = ((i * mul + add) & ((1u << 20) - 1));
		le64_put(v, key ^ 0x5555);
		EQ(ins(&e, key, 0, v, 8), 0);
	}
	EQ(e.fork.nrecs, N);
	printf("million_keys: depth %u, %u nodes\n", e.fork.depth, e.fork.nnodes);
	REQ_CMP(e.fork.depth, <=, 4);
	size_t len;
	for (uint64_t i = 0; i < N; i += 7) {
		uint64_t key = ((i * mul + add) & ((1u << 20) - 1));
		struct btree_key k = {key, 0};
		EQ(btree_lookup(&e.bt, &k, v, 8, &len), 0);
		EQ(le64_get(v), key ^ 0x5555);
	}
	/* Keys are a permutation of part of [0, 2^20): iterate from the start. */
	uint64_t first = 0;
	struct btree_key z = {0, 0}, fk;
	EQ(btree_lookup_ge(&e.bt, &z, &fk, NULL, 0, NULL), 0);
	first = fk.hi;
	uint64_t c = first;
	(void)c;
	walk_nodes = walk_recs = 0;
	EQ(btree_walk(e.fs, &e.fork, INO, &walk_ops, NULL), 0);
	EQ(walk_recs, N);
	for (uint64_t i = 0; i < N; i += 2) {
		uint64_t key = ((i * mul + add) & ((1u << 20) - 1));
		EQ(del(&e, key, 0), 0);
	}
	EQ(e.fork.nrecs, N / 2);
	EQ(btree_walk(e.fs, &e.fork, INO, NULL, NULL), 0);
	for (uint64_t i = 1; i < N; i += 2) {
		uint64_t key = ((i * mul + add) & ((1u << 20) - 1));
		EQ(del(&e, key, 0), 0);
	}
	EQ(e.fork.root, 0);
	EQ(fake_blocks_used(e.fs), 0);
	env_done(&e);
}
END_TEST

START_TEST(test_sequential_append)
{
	/* Increasing keys (extent maps): leaves fill up instead of half. */
	struct env e;
	env_init(&e, 1 << 16, true);
	uint8_t v[24] = {0};
	enum { N = 50000 };
	for (uint64_t i = 0; i < N; i++) {
		le64_put(v, i ^ 0x5555);
		EQ(ins(&e, i, 0, v, 8), 0);
	}
	/* 28 bytes a record: 144 a full leaf. */
	REQ_CMP(e.fork.nnodes, <=, N / 140 + N / 140 / 100 + 5);
	uint64_t c = 0;
	struct btree_key z = {0, 0};
	EQ(btree_iterate(&e.bt, &z, count_cb, &c), 0);
	EQ(c, N);
	for (uint64_t i = 0; i < N; i++)
		EQ(del(&e, i, 0), 0);
	EQ(fake_blocks_used(e.fs), 0);
	env_done(&e);
}
END_TEST

START_TEST(test_enospc_leaves_tree_intact)
{
	struct env e;
	env_init(&e, 1 << 14, true);
	uint8_t v[200] = {0};
	unsigned n = 0;
	while (e.fork.depth < 3) {
		EQ(ins(&e, n * 10, 0, v, sizeof(v)), 0);
		n++;
	}
	/* Every insert that needs a new node fails cleanly. */
	fake_fail_alloc_after(e.fs, 0);
	unsigned failed = 0;
	for (unsigned i = 0; i < 200; i++) {
		uint64_t nodes = e.fork.nnodes, recs = e.fork.nrecs;
		int rc = ins(&e, i * 10 + 5, 0, v, sizeof(v));
		if (rc == -ENOSPC) {
			failed++;
			EQ(e.fork.nnodes, nodes);
			EQ(e.fork.nrecs, recs);
			struct btree_key k = {i * 10 + 5, 0};
			EQ(btree_lookup(&e.bt, &k, NULL, 0, NULL), -ENOENT);
		} else {
			EQ(rc, 0);
		}
		EQ(btree_walk(e.fs, &e.fork, INO, NULL, NULL), 0);
	}
	REQ_CMP(failed, >, 0);
	EQ(fake_blocks_used(e.fs), e.fork.nnodes);
	fake_fail_alloc_after(e.fs, -1);
	struct txn *t;
	txn_begin(e.fs, 100000, &t);
	EQ(btree_destroy(&e.bt, t), 0);
	txn_end(t, NULL);
	EQ(fake_blocks_used(e.fs), 0);
	EQ(e.fork.root, 0);
	env_done(&e);
}
END_TEST

START_TEST(test_destroy)
{
	struct env e;
	env_init(&e, 1 << 16, true);
	uint8_t v[100] = {0};
	e.fork.aux = 1234;
	for (unsigned i = 0; i < 20000; i++)
		EQ(ins(&e, (i * 7919u) % 20011u, 0, v, sizeof(v)), 0);
	REQ_CMP(e.fork.depth, >=, 3);
	struct txn *t;
	txn_begin(e.fs, 100000, &t);
	EQ(btree_destroy(&e.bt, t), 0);
	txn_end(t, NULL);
	EQ(fake_blocks_used(e.fs), 0);
	EQ(e.fork.root, 0);
	EQ(e.fork.nrecs, 0);
	EQ(e.fork.aux, 1234);
	env_done(&e);
}
END_TEST

START_TEST(test_fork_codec)
{
	struct sfs_fork f = {.root = 99, .nrecs = 5, .aux = 42, .nnodes = 3, .depth = 2}, g;
	uint8_t b[SFS_FORK_SIZE];
	sfs_fork_encode(&f, b);
	EQ(sfs_fork_decode(b, &g), 0);
	REQ(memcmp(&f, &g, sizeof(f)) == 0);
	EQ(le64_get(b), 99);
	EQ(le64_get(b + 16), 42);
	EQ(b[28], 2);
	struct sfs_fork bad[] = {
	    {.root = 0, .depth = 1},
	    {.root = 5, .depth = 0, .nrecs = 1, .nnodes = 1},
	    {.root = 5, .depth = BTREE_MAX_DEPTH + 1, .nrecs = 1, .nnodes = 20},
	    {.root = 0, .nrecs = 3},
	    {.root = 5, .depth = 1, .nrecs = 0, .nnodes = 1},
	    {.root = 5, .depth = 3, .nrecs = 9, .nnodes = 2},
	    {.root = 5, .depth = 1, .nrecs = 1, .nnodes = 1, .flags = 1},
	};
	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		sfs_fork_encode(&bad[i], b);
		EQ(sfs_fork_decode(b, &g), -EIO);
	}
	sfs_fork_encode(&f, b);
	b[30] = 1;
	EQ(sfs_fork_decode(b, &g), -EIO);
}
END_TEST

/* Collects the node blocks of a tree by level. */
struct nodes {
	uint64_t leaf, interior;
};
static int pick_nodes(void *arg, uint64_t blkno, unsigned level, unsigned nrecs)
{
	struct nodes *n = arg;
	(void)nrecs;
	if (level == 0 && !n->leaf)
		n->leaf = blkno;
	if (level > 0 && !n->interior)
		n->interior = blkno;
	return 0;
}

static int iter_nop(void *arg, const struct btree_key *k, const void *val, size_t len)
{
	(void)arg;
	(void)k;
	(void)val;
	(void)len;
	return 0;
}

/* Every operation on the tree answers 0/-ENOENT/-EEXIST or -EIO: never a
 * crash, never a wrong success on the corrupt path. Returns -EIO count. */
static unsigned exercise(struct env *e, unsigned nkeys)
{
	unsigned eio = 0;
	uint8_t v[64] = {0};
	struct btree_key z = {0, 0}, fk;
	int rc = btree_iterate(&e->bt, &z, iter_nop, NULL);
	REQ(rc == 0 || rc == -EIO);
	eio += rc == -EIO;
	rc = btree_walk(e->fs, &e->fork, INO, NULL, NULL);
	REQ(rc == 0 || rc == -EIO);
	eio += rc == -EIO;
	for (unsigned i = 0; i < nkeys; i += 37) {
		struct btree_key k = {i, 0};
		rc = btree_lookup(&e->bt, &k, v, sizeof(v), NULL);
		REQ(rc == 0 || rc == -EIO || rc == -ENOENT);
		eio += rc == -EIO;
		rc = btree_lookup_le(&e->bt, &k, &fk, NULL, 0, NULL);
		REQ(rc == 0 || rc == -EIO || rc == -ENOENT);
		rc = btree_lookup_ge(&e->bt, &k, &fk, NULL, 0, NULL);
		REQ(rc == 0 || rc == -EIO || rc == -ENOENT);
	}
	return eio;
}

START_TEST(test_corrupt_nodes)
{
	struct env e;
	env_init(&e, 1 << 14, false);
	uint8_t v[40] = {0};
	enum { N = 5000 };
	for (unsigned i = 0; i < N; i++)
		EQ(ins(&e, i, 0, v, (i % 40)), 0);
	struct nodes nd = {0};
	EQ(btree_walk(e.fs, &e.fork, INO, &(struct btree_walk_ops){pick_nodes, NULL}, &nd), 0);
	REQ(nd.leaf && nd.interior);
	EQ(exercise(&e, N), 0);
	uint8_t save[SFS_BLOCK_SIZE];
	struct {
		int leaf;
		unsigned off, width;
		uint64_t val;
	} cases[] = {
	    {1, BN_OFF_NRECS, 2, 0},			  /* empty leaf */
	    {1, BN_OFF_NRECS, 2, 300},			  /* too many */
	    {1, BN_OFF_LEVEL, 2, 1},			  /* wrong level */
	    {1, BN_OFF_LEVEL, 2, 200},			  /* absurd level */
	    {1, BN_OFF_DSTART, 2, 9000},		  /* value area outside */
	    {1, BN_OFF_DSTART, 2, 70},			  /* overlaps slots */
	    {1, BN_OFF_FLAGS, 2, 1},			  /* unknown flags */
	    {1, BN_HDR + 16, 2, 1},			  /* value offset */
	    {1, BN_HDR + 18, 2, 4000},			  /* value length */
	    {1, BN_HDR + BN_LEAF_SLOT, 8, 0},		  /* key order (key 1 hi) */
	    {1, BN_HDR, 8, UINT64_MAX},			  /* key 0 above its range */
	    {0, BN_HDR + BN_INT_SLOT + 16, 8, 0},	  /* child 0 */
	    {0, BN_HDR + 16, 8, 1},			  /* child points at block 1 */
	    {0, BN_HDR, 8, 5},				  /* separator 0 not zero */
	    {0, BN_HDR + BN_INT_SLOT, 8, UINT64_MAX / 2}, /* separators out of order */
	    {0, BN_OFF_NRECS, 2, 1000},			  /* too many children */
	    {0, BN_OFF_DSTART, 2, 5},			  /* interior dstart */
	    {0, BN_OFF_RSV, 8, 1},			  /* reserved */
	};
	for (unsigned c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		uint64_t blk = cases[c].leaf ? nd.leaf : nd.interior;
		uint8_t *d = fake_block(e.fs, blk);
		memcpy(save, d, SFS_BLOCK_SIZE);
		if (cases[c].width == 2)
			le16_put(d + cases[c].off, (uint16_t)cases[c].val);
		else
			le64_put(d + cases[c].off, cases[c].val);
		ck_assert_msg(exercise(&e, N) > 0, "corruption case %u not detected", c);
		/* The node alone is bad, except where only its place tells. */
		if (c != 2 && c != 12)
			EQ(btree_node_check(d, blk, -1), -EIO);
		/* Changes refuse to go on through the bad node. */
		struct txn *t;
		txn_begin(e.fs, btree_max_blocks(), &t);
		struct btree_key k = {0, 0};
		int rc = btree_delete(&e.bt, t, &k, NULL, 0, NULL);
		txn_end(t, NULL);
		if (rc == 0) { /* key 0 was not behind the bad node: put it back */
			memcpy(d, save, SFS_BLOCK_SIZE);
			EQ(ins(&e, 0, 0, v, 0), 0);
		}
		memcpy(d, save, SFS_BLOCK_SIZE);
		EQ(exercise(&e, N), 0);
	}
	EQ(fake_refs(e.fs), 0);
	fake_sfs_free(e.fs);
}
END_TEST

START_TEST(test_corrupt_random_bytes)
{
	/* Random byte damage in random nodes: every call answers, ASan/UBSan
	 * see no bad access, and the damage is restored afterwards. */
	trand_seed("corrupt_random_bytes");
	log_open_file("/dev/null"); /* thousands of expected "block N: ..." lines */
	struct env e;
	env_init(&e, 1 << 14, false);
	uint8_t v[40] = {0};
	enum { N = 3000 };
	for (unsigned i = 0; i < N; i++)
		EQ(ins(&e, i, i % 3, v, (i % 40)), 0);
	uint64_t blocks[4096];
	unsigned nb = 0;
	for (uint64_t b = 0; b < (1 << 14) && nb < 4096; b++)
		if (fake_block(e.fs, b))
			blocks[nb++] = b;
	uint8_t save[SFS_BLOCK_SIZE];
	for (unsigned round = 0; round < 400; round++) {
		uint64_t blk = blocks[trand() % nb];
		uint8_t *d = fake_block(e.fs, blk);
		memcpy(save, d, SFS_BLOCK_SIZE);
		unsigned flips = 1 + trand() % 4;
		for (unsigned f = 0; f < flips; f++) {
			unsigned off = SFS_BLK_HDR_SIZE + trand() % 200;
			if (trand() % 2)
				off = SFS_BLK_HDR_SIZE +
				      trand() % (SFS_BLOCK_SIZE - SFS_BLK_HDR_SIZE);
			d[off] ^= (uint8_t)(1 + trand() % 255);
		}
		exercise(&e, N);
		memcpy(d, save, SFS_BLOCK_SIZE);
	}
	EQ(exercise(&e, N), 0);
	EQ(fake_refs(e.fs), 0);
	fake_sfs_free(e.fs);
}
END_TEST

START_TEST(test_node_decoder_garbage)
{
	/* The node decoder on garbage and on valid nodes with random damage:
	 * it answers 0 or -EIO and reads nothing outside the block (ASan). A
	 * node it accepts is safe for every read path: lookups, walks. */
	trand_seed("node_decoder_garbage");
	log_open_file("/dev/null");
	uint8_t *blk = malloc(SFS_BLOCK_SIZE);
	struct bn_rec r[BN_LEAF_MAX];
	uint8_t vals[BN_LEAF_MAX][8];
	unsigned accepted = 0;
	for (unsigned round = 0; round < 20000; round++) {
		if (round % 2) {
			for (unsigned i = 0; i < SFS_BLOCK_SIZE; i++)
				blk[i] = (uint8_t)trand();
			if (round % 4 == 1) { /* plausible header fields */
				le16_put(blk + BN_OFF_LEVEL, (uint16_t)(trand() % 3));
				le16_put(blk + BN_OFF_NRECS, (uint16_t)(trand() % 210));
				le16_put(blk + BN_OFF_FLAGS, 0);
				le64_put(blk + BN_OFF_RSV, 0);
			}
		} else {
			unsigned n = 1 + (unsigned)(trand() % 150);
			for (unsigned i = 0; i < n; i++) {
				r[i].k = (struct btree_key){i * 3 + 1, trand() % 2};
				r[i].len = (uint16_t)(trand() % 9);
				r[i].v = vals[i];
				r[i].child = 100 + i;
			}
			if (trand() % 2)
				bn_write_leaf(blk, r, n);
			else
				bn_write_int(blk, 1 + (unsigned)(trand() % 3), r,
					     n > 168 ? 168 : n);
			REQ(btree_node_check(blk, 7, -1) == 0);
			unsigned flips = 1 + (unsigned)(trand() % 3);
			for (unsigned f = 0; f < flips; f++)
				blk[SFS_BLK_HDR_SIZE + trand() % 400] ^=
				    (uint8_t)(1 + trand() % 255);
		}
		int rc = btree_node_check(blk, 7, -1);
		REQ(rc == 0 || rc == -EIO);
		if (rc == 0) {
			accepted++;
			/* Everything the read paths do on an accepted node. */
			struct btree_key k = {trand() % 500, 0};
			bool found;
			unsigned n = bn_nrecs(blk);
			if (bn_level(blk) == 0) {
				unsigned pos = bn_leaf_search(blk, &k, &found);
				REQ(pos <= n);
				for (unsigned i = 0; i < n; i++) {
					uint16_t len;
					const uint8_t *v = bn_val(blk, i, &len);
					REQ(v >= blk + BN_HDR && v + len <= blk + SFS_BLOCK_SIZE);
				}
			} else {
				REQ(bn_int_search(blk, &k) < n);
			}
		}
	}
	printf("node_decoder_garbage: %u of 20000 images accepted\n", accepted);
	free(blk);
}
END_TEST

START_TEST(test_walk_callbacks)
{
	struct env e;
	env_init(&e, 1 << 14, true);
	uint8_t v[16] = {0};
	for (unsigned i = 0; i < 3000; i++)
		EQ(ins(&e, 3000 - i, 0, v, 16), 0);
	walk_nodes = walk_recs = 0;
	EQ(btree_walk(e.fs, &e.fork, INO, &walk_ops, NULL), 0);
	EQ(walk_recs, 3000);
	EQ(walk_nodes, e.fork.nnodes);
	/* A fork that disagrees with the tree is reported. */
	struct sfs_fork f = e.fork;
	f.nrecs++;
	EQ(btree_walk(e.fs, &f, INO, NULL, NULL), -EIO);
	f = e.fork;
	f.depth++;
	EQ(btree_walk(e.fs, &f, INO, NULL, NULL), -EIO);
	/* Wrong owner: the header check refuses the blocks. */
	EQ(btree_walk(e.fs, &e.fork, INO + 1, NULL, NULL), -EIO);
	env_done(&e);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("btree");
	TCase *tc = tcase_create("core");
	tcase_set_timeout(tc, 600);
	tcase_add_test(tc, test_empty_and_limits);
	tcase_add_test(tc, test_fork_codec);
	tcase_add_test(tc, test_random_small_values);
	tcase_add_test(tc, test_random_big_values);
	tcase_add_test(tc, test_random_tiny_keyspace);
	tcase_add_test(tc, test_sequential_append);
	tcase_add_test(tc, test_million_keys);
	tcase_add_test(tc, test_enospc_leaves_tree_intact);
	tcase_add_test(tc, test_destroy);
	tcase_add_test(tc, test_corrupt_nodes);
	tcase_add_test(tc, test_corrupt_random_bytes);
	tcase_add_test(tc, test_walk_callbacks);
	tcase_add_test(tc, test_node_decoder_garbage);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}

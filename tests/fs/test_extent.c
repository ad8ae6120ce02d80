/* Extent maps on the real engine (fs/extent.h): merging, splitting, unwritten
 * conversion, the move to a B+tree and back, the fsck walker, and a random
 * test against a per-block model. */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "common/log.h"
#include "fs/extent.h"
#include "fs/inode.h"
#include "fs/jnl.h"
#include "fs/sfs.h"
#include "test_inode_util.h"

static struct tfs T;
static struct sfs_inode *ip;

static void setup(void)
{
	tfs_make(&T, 64 << 20);
	ip = tfs_new(&T, S_IFREG | 0644);
}

static void teardown(void)
{
	inode_put(T.fs, ip);
	tfs_destroy(&T);
}

static struct txn *begin(void)
{
	struct txn *t;
	ck_assert_int_eq(txn_begin(T.fs, extent_op_blocks(ip) + 4, &t), 0);
	return t;
}

static void end(struct txn *t)
{
	ck_assert_int_eq(inode_write(T.fs, t, ip), 0);
	ck_assert_int_eq(txn_end(t, NULL), 0);
}

static int ins(uint64_t l, uint64_t p, uint32_t n, uint32_t fl)
{
	struct txn *t = begin();
	struct sfs_extent e = {l, p, n, fl};
	int r = extent_insert(T.fs, t, ip, &e);
	end(t);
	return r;
}

static void rm(uint64_t l, uint64_t n)
{
	bool more = true;
	while (more) {
		struct txn *t = begin();
		ck_assert_int_eq(extent_remove(T.fs, t, ip, l, n, 1, false, &more), 0);
		end(t);
	}
}

static void mw(uint64_t l, uint64_t n)
{
	bool more = true;
	while (more) {
		struct txn *t = begin();
		ck_assert_int_eq(extent_mark_written(T.fs, t, ip, l, n, 1, &more), 0);
		end(t);
	}
}

struct list {
	struct sfs_extent e[4096];
	unsigned n;
	unsigned nodes;
};

static int list_cb(void *arg, const struct sfs_extent *e)
{
	struct list *l = arg;
	ck_assert_uint_lt(l->n, 4096);
	l->e[l->n++] = *e;
	return 0;
}

static int node_cb(void *arg, uint64_t blkno, unsigned level)
{
	struct list *l = arg;
	(void)level;
	ck_assert_uint_ne(blkno, 0);
	l->nodes++;
	return 0;
}

static void walk(struct list *l)
{
	struct extent_walk_ops ops = {list_cb, node_cb};
	memset(l, 0, sizeof(*l));
	ck_assert_int_eq(extent_walk(T.fs, ip, &ops, l), 0);
	ck_assert_uint_eq(l->n, extent_count(ip));
	ck_assert_uint_eq(l->nodes, ip->fork.nnodes);
}

static void expect(const struct sfs_extent *want, unsigned n)
{
	static struct list l;
	walk(&l);
	ck_assert_uint_eq(l.n, n);
	for (unsigned i = 0; i < n; i++) {
		ck_assert_uint_eq(l.e[i].lblk, want[i].lblk);
		ck_assert_uint_eq(l.e[i].pblk, want[i].pblk);
		ck_assert_uint_eq(l.e[i].len, want[i].len);
		ck_assert_uint_eq(l.e[i].flags, want[i].flags);
	}
}

START_TEST(merge_and_split)
{
	ck_assert_int_eq(ins(0, 1000, 10, 0), 0);
	ck_assert_int_eq(ins(10, 1010, 5, 0), 0);		  /* continues: merged */
	ck_assert_int_eq(ins(20, 1020, 5, 0), 0);		  /* logical gap */
	ck_assert_int_eq(ins(15, 1015, 5, 0), 0);		  /* fills it: all one */
	ck_assert_int_eq(ins(25, 7000, 1, 0), 0);		  /* not physically next */
	ck_assert_int_eq(ins(26, 7001, 1, SFS_EXT_UNWRITTEN), 0); /* other flags */
	struct sfs_extent a[] = {
	    {0, 1000, 25, 0}, {25, 7000, 1, 0}, {26, 7001, 1, SFS_EXT_UNWRITTEN}};
	expect(a, 3);
	ck_assert_int_eq(ins(24, 9000, 1, 0), -EEXIST);
	ck_assert_int_eq(ins(5, 9000, 100, 0), -EEXIST);
	ck_assert_int_eq(ins(100, 0, 1, 0), -EINVAL);
	ck_assert_int_eq(ins(SFS_MAX_LBLK - 1, 5, 2, 0), -EINVAL);
	/* Lookup. */
	struct sfs_extent x;
	ck_assert_int_eq(extent_find(T.fs, ip, 7, &x), 0);
	ck_assert_uint_eq(x.lblk, 0);
	ck_assert_int_eq(extent_find(T.fs, ip, 27, &x), -ENOENT);
	/* Punch the middle, a head and a tail. */
	rm(5, 3);
	rm(0, 2);
	rm(20, 5);
	struct sfs_extent b[] = {
	    {2, 1002, 3, 0}, {8, 1008, 12, 0}, {25, 7000, 1, 0}, {26, 7001, 1, SFS_EXT_UNWRITTEN}};
	expect(b, 4);
	ck_assert_int_eq(extent_find(T.fs, ip, 5, &x), 0); /* a hole: the next one */
	ck_assert_uint_eq(x.lblk, 8);
	/* Unwritten conversion in the middle of an extent. */
	ck_assert_int_eq(ins(100, 2000, 10, SFS_EXT_UNWRITTEN), 0);
	mw(103, 2);
	mw(26, 1); /* joins the written one before it */
	struct sfs_extent c[] = {{2, 1002, 3, 0},   {8, 1008, 12, 0},
				 {25, 7000, 2, 0},  {100, 2000, 3, SFS_EXT_UNWRITTEN},
				 {103, 2003, 2, 0}, {105, 2005, 5, SFS_EXT_UNWRITTEN}};
	expect(c, 6);
	mw(0, 200);
	struct sfs_extent d[] = {
	    {2, 1002, 3, 0}, {8, 1008, 12, 0}, {25, 7000, 2, 0}, {100, 2000, 10, 0}};
	expect(d, 4);
	rm(0, SFS_MAX_LBLK);
	expect(NULL, 0);
}
END_TEST

START_TEST(tree_and_back)
{
	/* 500 extents that never merge. */
	for (unsigned i = 0; i < 500; i++)
		ck_assert_int_eq(ins(i * 2, 100000 + i * 3, 1, 0), 0);
	ck_assert(ip->lflags & INODE_LF_EXT_TREE);
	ck_assert_uint_eq(ip->niext, 0);
	ck_assert_uint_gt(ip->fork.nnodes, 1);
	ck_assert_uint_eq(ip->blocks, ip->fork.nnodes * 8);
	static struct list l;
	walk(&l);
	ck_assert_uint_eq(l.n, 500);
	for (unsigned i = 0; i < 500; i++)
		ck_assert(l.e[i].lblk == i * 2 && l.e[i].pblk == 100000 + i * 3);
	struct sfs_extent x;
	ck_assert_int_eq(extent_find(T.fs, ip, 501, &x), 0);
	ck_assert_uint_eq(x.lblk, 502);
	/* Iterate from the middle. */
	memset(&l, 0, sizeof(l));
	ck_assert_int_eq(extent_iterate(T.fs, ip, 900, list_cb, &l), 0);
	ck_assert_uint_eq(l.n, 50);
	ck_assert_uint_eq(l.e[0].lblk, 900);
	/* Survives a remount. */
	uint64_t ino = ip->ino;
	inode_put(T.fs, ip);
	tfs_umount(&T);
	tfs_mount(&T);
	ck_assert_int_eq(inode_get(T.fs, ino, &ip), 0);
	walk(&l);
	ck_assert_uint_eq(l.n, 500);
	/* Down to 21: inline again. */
	rm(42, SFS_MAX_LBLK);
	ck_assert(ip->lflags & INODE_LF_EXT_TREE);
	struct txn *t;
	ck_assert_int_eq(txn_begin(T.fs, extent_inline_blocks(ip) + 4, &t), 0);
	ck_assert_int_eq(extent_try_inline(T.fs, t, ip), 0);
	end(t);
	ck_assert(!(ip->lflags & INODE_LF_EXT_TREE));
	ck_assert_uint_eq(ip->niext, 21);
	ck_assert_uint_eq(ip->fork.root, 0);
	ck_assert_uint_eq(ip->blocks, 0);
	walk(&l);
	ck_assert_uint_eq(l.n, 21);
	ck_assert_uint_eq(l.e[20].lblk, 40);
}
END_TEST

/* Random inserts, removes and conversions against a per-block model. */
#define NB 3000

START_TEST(random_model)
{
	unsigned seed = getenv("SEED") ? (unsigned)atoi(getenv("SEED")) : (unsigned)time(NULL);
	printf("extent random_model seed %u\n", seed);
	fflush(stdout);
	srand(seed);
	static uint64_t pm[NB]; /* physical block, 0: hole */
	static uint8_t um[NB];	/* unwritten */
	uint64_t nextp = 50000;
	memset(pm, 0, sizeof(pm));
	for (int op = 0; op < 1500; op++) {
		uint64_t l = (uint64_t)rand() % NB, n = 1 + (uint64_t)rand() % 40;
		if (l + n > NB)
			n = NB - l;
		int k = rand() % 10;
		if (k < 5) {
			bool hole = true;
			for (uint64_t i = l; i < l + n; i++)
				hole &= pm[i] == 0;
			/* Physically after the block before it half of the time. */
			uint64_t p = (l > 0 && pm[l - 1] && rand() % 2) ? pm[l - 1] + 1 : nextp;
			uint32_t fl = rand() % 4 ? 0 : SFS_EXT_UNWRITTEN;
			int r = ins(l, p, (uint32_t)n, fl);
			if (!hole) {
				ck_assert_int_eq(r, -EEXIST);
				continue;
			}
			ck_assert_int_eq(r, 0);
			for (uint64_t i = 0; i < n; i++) {
				pm[l + i] = p + i;
				um[l + i] = fl ? 1 : 0;
			}
			if (p == nextp)
				nextp += n + (uint64_t)(rand() % 3);
		} else if (k < 8) {
			rm(l, n);
			memset(pm + l, 0, n * sizeof(pm[0]));
		} else {
			mw(l, n);
			memset(um + l, 0, n);
		}
	}
	/* Compare the map with the model block by block. */
	static struct list lst;
	walk(&lst);
	static uint64_t got[NB];
	static uint8_t gu[NB];
	memset(got, 0, sizeof(got));
	memset(gu, 0, sizeof(gu));
	for (unsigned i = 0; i < lst.n; i++) {
		const struct sfs_extent *e = &lst.e[i];
		ck_assert_uint_le(e->lblk + e->len, NB);
		if (i > 0) /* merged whenever the parts continue each other */
			ck_assert(!(lst.e[i - 1].lblk + lst.e[i - 1].len == e->lblk &&
				    lst.e[i - 1].pblk + lst.e[i - 1].len == e->pblk &&
				    lst.e[i - 1].flags == e->flags));
		for (uint32_t j = 0; j < e->len; j++) {
			got[e->lblk + j] = e->pblk + j;
			gu[e->lblk + j] = (e->flags & SFS_EXT_UNWRITTEN) ? 1 : 0;
		}
	}
	for (unsigned i = 0; i < NB; i++) {
		if (got[i] != pm[i])
			ck_abort_msg("block %u: mapped to %llu, model %llu", i,
				     (unsigned long long)got[i], (unsigned long long)pm[i]);
		if (pm[i])
			ck_assert_uint_eq(gu[i], um[i]);
	}
	ck_assert_uint_eq(ip->blocks, ip->fork.nnodes * 8);
}
END_TEST

int main(void)
{
	log_setup("test_extent", 0, getenv("VERBOSE") ? LOG_DEBUG : LOG_ERROR);
	Suite *s = suite_create("extent");
	TCase *tc = tcase_create("extent");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, merge_and_split);
	tcase_add_test(tc, tree_and_back);
	tcase_add_test(tc, random_model);
	tcase_set_timeout(tc, 120);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}

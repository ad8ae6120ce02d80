/* Unit tests of fs/alloc and fs/orphan on an image: contiguous runs near a
 * goal, the slot's own AG first, partial runs down to min, ENOSPC, inode
 * allocation, refused frees, statfs, persistence, parallel allocation
 * without overlap, and the orphan list with its reclaim callback at mount. */
#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "fs/alloc.h"
#include "fs/bcache.h"
#include "fs/fsck.h"
#include "fs/jnl.h"
#include "fs/mkfs.h"
#include "fs/orphan.h"
#include "fs/sfs.h"
#include "locks/lcl.h"
#include "test_img.h"

static char img[TIMG_PATH_MAX];
static struct lcl *lcl;

static void setup(void)
{
	struct mkfs_opts o = {.slots = 4,
			      .ag_blocks = 2048,
			      .journal_bytes = 2 << 20,
			      .root_init = mkfs_root_default};
	timg_mkfs(img, "alloc", 64 << 20, &o, NULL);
	ck_assert_int_eq(lcl_create_local(&lcl), 0);
}

static void teardown(void)
{
	lcl_destroy(lcl);
	unlink(img);
}

static uint64_t reclaimed[16];
static int nreclaimed;

static int reclaim(struct sfs *fs, uint64_t ino)
{
	reclaimed[nreclaimed++] = ino;
	struct txn *t;
	int rc = txn_begin(fs, 2, &t);
	if (rc)
		return rc;
	rc = orphan_del(fs, t, ino);
	txn_end(t, NULL);
	return rc;
}

static const struct sfs_ops ops = {.reclaim = reclaim};

static struct sfs *mount_slot(unsigned slot)
{
	struct sfs_mount_opts mo = {
	    .local = true, .slot = slot, .hb_wait_ms = 1, .commit_ms = 50, .ops = &ops};
	struct sfs *fs;
	int rc = sfs_open(img, &mo, lcl, &fs);
	ck_assert_msg(rc == 0, "%s", sfs_last_error());
	return fs;
}

/* fsck errors other than leaks (these tests allocate blocks nothing refers to). */
static void count_msg(void *arg, enum fsck_kind kind, const char *text)
{
	if (kind == FSCK_ERROR && !strstr(text, "referenced by nothing")) {
		(*(int *)arg)++;
		fprintf(stderr, "fsck: %s\n", text);
	}
}

static int fsck_errors(void)
{
	int n = 0;
	struct fsck_opts fo = {.msg = count_msg, .msg_arg = &n};
	struct fsck_result r;
	fsck_run(img, &fo, &r);
	return n;
}

START_TEST(runs_goals_and_slots)
{
	struct sfs *fs = mount_slot(2);
	struct txn *t;
	ck_assert_int_eq(txn_begin(fs, 16, &t), 0);
	uint64_t s;
	uint32_t got;
	/* No goal: the slot's own AG. */
	ck_assert_int_eq(alloc_blocks(fs, t, 0, 100, 100, &s, &got), 0);
	ck_assert_uint_eq(got, 100);
	ck_assert_uint_eq(sfs_ag_of(&fs->sb, s), 2);
	ck_assert_uint_eq(sfs_ag_of(&fs->sb, s + 99), 2);
	/* Next one continues after it. */
	uint64_t s2;
	ck_assert_int_eq(alloc_blocks(fs, t, 0, 10, 1, &s2, &got), 0);
	ck_assert_uint_eq(s2, s + 100);
	/* Near a goal in another AG. */
	uint64_t goal = sfs_ag_base(&fs->sb, 5) + 500;
	ck_assert_int_eq(alloc_blocks(fs, t, goal, 8, 8, &s2, &got), 0);
	ck_assert_uint_eq(s2, goal);
	/* Inodes. */
	uint64_t ino;
	ck_assert_int_eq(alloc_inode(fs, t, goal, &ino), 0);
	ck_assert_uint_eq(ino, goal + 8);
	ck_assert_int_eq(alloc_is_inode(fs, ino), 1);
	ck_assert_int_eq(alloc_is_inode(fs, s2), 0);
	/* Refused frees change nothing. */
	ck_assert_int_eq(alloc_free(fs, t, ino, 1), -EINVAL);
	ck_assert_int_eq(alloc_inode_free(fs, t, s2), -EINVAL);
	ck_assert_int_eq(alloc_free(fs, t, sfs_ag_base(&fs->sb, 3), 1), -EINVAL);
	ck_assert_int_eq(alloc_free(fs, t, fs->sb.blocks, 1), -EINVAL);
	ck_assert_int_eq(alloc_free(fs, t, 5, 1), -EINVAL);
	ck_assert_int_eq(alloc_free(fs, t, s2, 8), 0);
	ck_assert_int_eq(alloc_free(fs, t, s2, 8), -EINVAL); /* double free */
	ck_assert_int_eq(alloc_inode_free(fs, t, ino), 0);
	ck_assert_int_eq(alloc_is_inode(fs, ino), 0);
	ck_assert_int_eq(txn_end(t, NULL), 0);
	ck_assert_int_eq(sfs_close(fs), 0);
	ck_assert_int_eq(fsck_errors(), 0);
}
END_TEST

START_TEST(fill_partial_enospc_statfs)
{
	struct sfs *fs = mount_slot(0);
	struct statvfs st0, st;
	ck_assert_int_eq(sfs_statfs(fs, &st0), 0);
	uint64_t total = 0;
	int calls = 0;
	for (;;) {
		struct txn *t;
		ck_assert_int_eq(txn_begin(fs, ALLOC_MAX_BLOCKS, &t), 0);
		uint64_t s;
		uint32_t got;
		int rc = alloc_blocks(fs, t, 0, 3000, 1, &s, &got);
		ck_assert_int_eq(txn_end(t, NULL), 0);
		if (rc) {
			ck_assert_int_eq(rc, -ENOSPC);
			break;
		}
		ck_assert_uint_le(got, 3000);
		total += got;
		calls++;
	}
	ck_assert_uint_eq(total, st0.f_bfree);
	ck_assert_int_eq(sfs_statfs(fs, &st), 0);
	ck_assert_uint_eq(st.f_bfree, 0);
	struct txn *t;
	ck_assert_int_eq(txn_begin(fs, 4, &t), 0);
	uint64_t ino;
	ck_assert_int_eq(alloc_inode(fs, t, 0, &ino), -ENOSPC);
	/* The reserve: metadata blocks for a handle that has not changed
	 * anything yet are refused too (it can still fail cleanly) ... */
	uint64_t s;
	uint32_t got;
	ck_assert_int_eq(alloc_meta(fs, t, 0, 1, 1, &s, &got), -ENOSPC);
	ck_assert_int_eq(txn_end(t, NULL), 0);
	/* ... and granted once it has: it must not fail half-way. */
	uint64_t reserve = alloc_reserve_blocks(fs), taken = 0;
	ck_assert_uint_gt(reserve, 0);
	ck_assert_int_eq(txn_begin(fs, 64, &t), 0);
	struct buf *b;
	ck_assert_int_eq(bc_read(fs, sfs_slot_base(&fs->sb, 0) + SFS_SLOT_LALLOC, SFS_BT_LALLOC,
				 sfs_owner_slot(0), &b),
			 0);
	ck_assert_int_eq(txn_add(t, b), 0);
	bc_put(b);
	static uint64_t meta[8192];
	while (taken < 8192 && alloc_meta(fs, t, 0, 1, 1, &s, &got) == 0)
		meta[taken++] = s;
	ck_assert_uint_eq(taken, reserve);
	for (uint64_t i = 0; i < taken; i++)
		ck_assert_int_eq(alloc_free(fs, t, meta[i], 1), 0);
	ck_assert_int_eq(txn_end(t, NULL), 0);
	ck_assert_int_eq(sfs_statfs(fs, &st), 0);
	ck_assert_uint_eq(st.f_bfree, 0);
	ck_assert_int_eq(sfs_close(fs), 0);
	ck_assert_int_eq(fsck_errors(), 0);
	/* Persisted. */
	fs = mount_slot(0);
	ck_assert_int_eq(sfs_statfs(fs, &st), 0);
	ck_assert_uint_eq(st.f_bfree, 0);
	ck_assert_int_eq(sfs_close(fs), 0);
}
END_TEST

/* The reserve per AG: 1/64 of the filesystem up to 4096 blocks in all,
 * but never less than 16 blocks in an AG of 1024 blocks or more (a 16 TiB
 * filesystem of 16384 AGs would otherwise keep nothing back). */
START_TEST(reserve_geometry)
{
	struct sfs_super sb = {0};
	sb.ag_start = 100;
	sb.ag_blocks = 262144;
	sb.ag_count = 4;
	sb.blocks = sb.ag_start + 4ull * sb.ag_blocks;
	ck_assert_uint_eq(alloc_reserve_per_ag(&sb), 1024); /* 4096 / 4 */
	sb.ag_count = 16384;
	sb.blocks = sb.ag_start + 16384ull * sb.ag_blocks;
	ck_assert_uint_eq(alloc_reserve_per_ag(&sb), 16);
	sb.ag_blocks = 512; /* tiny AGs: 1/64 of one */
	sb.ag_count = 8;
	sb.blocks = sb.ag_start + 8ull * sb.ag_blocks;
	ck_assert_uint_eq(alloc_reserve_per_ag(&sb), 8);
	sb.ag_count = 1;
	sb.ag_blocks = 65536;
	sb.blocks = sb.ag_start + sb.ag_blocks;
	ck_assert_uint_eq(alloc_reserve_per_ag(&sb), (sb.blocks / 64));
}
END_TEST

struct par {
	struct sfs *fs;
	uint64_t starts[200];
	uint32_t lens[200];
	int n;
};

static void *par_fn(void *arg)
{
	struct par *p = arg;
	for (int i = 0; i < 200; i++) {
		struct txn *t;
		if (txn_begin(p->fs, ALLOC_MAX_BLOCKS, &t))
			return (void *)1;
		uint32_t got;
		int rc = alloc_blocks(p->fs, t, 0, 1 + i % 7, 1, &p->starts[p->n], &got);
		txn_end(t, NULL);
		if (rc)
			return (void *)2;
		p->lens[p->n++] = got;
	}
	return NULL;
}

START_TEST(parallel_no_overlap)
{
	struct sfs *fs = mount_slot(1);
	enum { NT = 6 };
	static struct par p[NT];
	pthread_t th[NT];
	for (int i = 0; i < NT; i++) {
		p[i] = (struct par){.fs = fs};
		pthread_create(&th[i], NULL, par_fn, &p[i]);
	}
	for (int i = 0; i < NT; i++) {
		void *r;
		pthread_join(th[i], &r);
		ck_assert_ptr_null(r);
	}
	uint8_t *seen = calloc(1, fs->sb.blocks);
	for (int i = 0; i < NT; i++)
		for (int k = 0; k < p[i].n; k++)
			for (uint32_t b = 0; b < p[i].lens[k]; b++) {
				ck_assert_msg(!seen[p[i].starts[k] + b], "block %llu twice",
					      (unsigned long long)(p[i].starts[k] + b));
				seen[p[i].starts[k] + b] = 1;
			}
	free(seen);
	ck_assert_int_eq(sfs_close(fs), 0);
	ck_assert_int_eq(fsck_errors(), 0);
}
END_TEST

START_TEST(orphans_listed_and_reclaimed)
{
	struct sfs *fs = mount_slot(0);
	struct txn *t;
	uint64_t inos[3];
	ck_assert_int_eq(txn_begin(fs, 16, &t), 0);
	for (int i = 0; i < 3; i++) {
		ck_assert_int_eq(alloc_inode(fs, t, 0, &inos[i]), 0);
		ck_assert_int_eq(orphan_add(fs, t, inos[i]), 0);
	}
	ck_assert_int_eq(orphan_add(fs, t, inos[1]), -EEXIST);
	ck_assert_int_eq(orphan_del(fs, t, inos[1]), 0);
	ck_assert_int_eq(orphan_del(fs, t, inos[1]), -ENOENT);
	uint64_t tid;
	ck_assert_int_eq(txn_end(t, &tid), 0);
	ck_assert_int_eq(jnl_wait(fs, tid), 0);
	uint64_t list[8];
	ck_assert_int_eq(orphan_list(fs, list, 8), 2);
	/* Crash: the next mount reclaims both through the callback. */
	sfs_crash(fs);
	nreclaimed = 0;
	fs = mount_slot(0);
	ck_assert_int_eq(nreclaimed, 2);
	ck_assert(reclaimed[0] == inos[0] || reclaimed[1] == inos[0]);
	ck_assert(reclaimed[0] == inos[2] || reclaimed[1] == inos[2]);
	ck_assert_int_eq(orphan_list(fs, list, 8), 0);
	/* The blocks fill up; past them orphans are kept in memory (an
	 * unlink must not fail half-way through its handle): added, found,
	 * deleted like the others, but not listed on disk. */
	unsigned cap = fs->sb.orphan_blocks * SFS_ORPHAN_PER_BLOCK, extra = 300, i;
	for (i = 0; i < cap + extra; i++) {
		ck_assert_int_eq(txn_begin(fs, 2, &t), 0);
		ck_assert_int_eq(orphan_add(fs, t, 100000 + i), 0);
		ck_assert_int_eq(txn_end(t, NULL), 0);
	}
	ck_assert_int_eq(txn_begin(fs, 2, &t), 0);
	ck_assert_int_eq(orphan_add(fs, t, 100000 + cap + 5), -EEXIST);
	ck_assert_int_eq(orphan_add(fs, t, 100000 + 5), -EEXIST);
	ck_assert_int_eq(orphan_del(fs, t, 100000 + cap + 7), 0);
	ck_assert_int_eq(orphan_del(fs, t, 100000 + cap + 7), -ENOENT);
	/* A block entry goes: the next add takes its place on disk. */
	ck_assert_int_eq(orphan_del(fs, t, 100000 + 9), 0);
	ck_assert_int_eq(orphan_add(fs, t, 900000), 0);
	ck_assert_int_eq(txn_end(t, NULL), 0);
	uint64_t *all = malloc((cap + extra) * sizeof(*all));
	ck_assert_int_eq(orphan_list(fs, all, cap + extra), (int)cap);
	bool seen = false;
	for (i = 0; i < cap; i++) {
		ck_assert(all[i] == 900000 || all[i] - 100000 < cap);
		ck_assert_uint_ne(all[i], 100000 + 9);
		seen |= all[i] == 900000;
	}
	ck_assert(seen);
	free(all);
	ck_assert_int_eq(orphan_list(fs, NULL, 0), 0);
	ck_assert_int_eq(sfs_close(fs), 0);
	/* fsck sees entries that are not inodes. */
	ck_assert_int_gt(fsck_errors(), 0);
}
END_TEST

int main(void)
{
	log_setup("test_alloc", 0, LOG_ERROR);
	log_set_level((enum log_level) - 1);
	Suite *s = suite_create("alloc");
	TCase *tc = tcase_create("alloc");
	tcase_set_timeout(tc, 60);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, runs_goals_and_slots);
	tcase_add_test(tc, fill_partial_enospc_statfs);
	tcase_add_test(tc, reserve_geometry);
	tcase_add_test(tc, parallel_no_overlap);
	tcase_add_test(tc, orphans_listed_and_reclaimed);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}

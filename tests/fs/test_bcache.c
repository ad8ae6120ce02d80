/* Unit tests of fs/bcache and the handle API of fs/jnl on a real image:
 * header checks, refcounts, the LRU bound, per-resource drops, forget, and
 * the journal rules (commit snapshots; home gets only committed images). */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/endian_le.h"
#include "common/log.h"
#include "fs/alloc.h"
#include "fs/bcache.h"
#include "fs/jnl.h"
#include "fs/mkfs.h"
#include "fs/sfs.h"
#include "locks/lcl.h"
#include "test_img.h"

static char img[TIMG_PATH_MAX];
static struct lcl *lcl;

static void setup(void)
{
	struct mkfs_opts o = {.slots = 2, .ag_blocks = 1024};
	timg_mkfs(img, "bc", 64 << 20, &o, NULL);
	ck_assert_int_eq(lcl_create_local(&lcl), 0);
}

static void teardown(void)
{
	lcl_destroy(lcl);
	unlink(img);
}

static struct sfs *mount_img(unsigned cache)
{
	struct sfs_mount_opts mo = {
	    .local = true, .hb_wait_ms = 1, .commit_ms = 50, .cache_blocks = cache};
	struct sfs *fs;
	int rc = sfs_open(img, &mo, lcl, &fs);
	ck_assert_msg(rc == 0, "%s", sfs_last_error());
	return fs;
}

/* A new metadata block owned by inode res, with payload byte v, committed. */
static uint64_t make_block(struct sfs *fs, uint8_t v, uint64_t *tid)
{
	struct txn *t;
	ck_assert_int_eq(txn_begin(fs, 8, &t), 0);
	uint64_t start;
	uint32_t got;
	ck_assert_int_eq(alloc_blocks(fs, t, 0, 1, 1, &start, &got), 0);
	struct buf *b;
	ck_assert_int_eq(bc_new(fs, start, SFS_BT_XATTR, sfs_owner_inode(start), &b), 0);
	ck_assert_int_eq(txn_add(t, b), 0);
	memset(b->data + 64, v, 100);
	bc_put(b);
	ck_assert_int_eq(txn_end(t, tid), 0);
	return start;
}

START_TEST(read_hits_and_checks)
{
	struct sfs *fs = mount_img(0);
	uint64_t agb = sfs_ag_base(&fs->sb, 1);
	struct buf *b, *b2;
	ck_assert_int_eq(bc_read(fs, agb, SFS_BT_AG, sfs_owner_ag(1), &b), 0);
	ck_assert_int_eq(bc_read(fs, agb, SFS_BT_AG, sfs_owner_ag(1), &b2), 0);
	ck_assert_ptr_eq(b, b2);
	ck_assert_uint_eq(le32_get(b->data + 48), 1);
	bc_put(b2);
	/* Wrong type or owner on a hit: EIO. */
	ck_assert_int_eq(bc_read(fs, agb, SFS_BT_INODE, sfs_owner_ag(1), &b2), -EIO);
	ck_assert_int_eq(bc_read(fs, agb, SFS_BT_AG, sfs_owner_ag(2), &b2), -EIO);
	bc_put(b);
	struct bc_stats st;
	bc_stats(fs, &st);
	ck_assert_uint_ge(st.hits, 1);
	/* Out of range. */
	ck_assert_int_eq(bc_read(fs, fs->sb.blocks, SFS_BT_AG, SFS_ANY_OWNER, &b), -EIO);
	ck_assert_int_eq(bc_read(fs, 0, SFS_BT_AG, SFS_ANY_OWNER, &b), -EIO);
	/* A corrupt block on disk: EIO, not cached; once repaired it reads. */
	uint64_t ag2 = sfs_ag_base(&fs->sb, 2);
	static uint8_t good[4096], bad[4096];
	timg_peek(img, ag2, good);
	memcpy(bad, good, 4096);
	bad[777] ^= 1;
	timg_poke(img, ag2, bad);
	ck_assert_int_eq(bc_read(fs, ag2, SFS_BT_AG, sfs_owner_ag(2), &b), -EIO);
	ck_assert_int_eq(bc_read(fs, ag2, SFS_BT_AG, sfs_owner_ag(2), &b), -EIO);
	timg_poke(img, ag2, good);
	ck_assert_int_eq(bc_read(fs, ag2, SFS_BT_AG, sfs_owner_ag(2), &b), 0);
	bc_put(b);
	/* Any owner: learns it from the header. */
	ck_assert_int_eq(bc_read(fs, sfs_ag_base(&fs->sb, 3), SFS_BT_AG, SFS_ANY_OWNER, &b), 0);
	ck_assert_uint_eq(b->res, sfs_owner_ag(3));
	bc_put(b);
	ck_assert_int_eq(sfs_close(fs), 0);
}
END_TEST

START_TEST(lru_bound_and_drop_res)
{
	struct sfs *fs = mount_img(8);
	for (uint32_t ag = 0; ag < fs->sb.ag_count; ag++) {
		struct buf *b;
		ck_assert_int_eq(
		    bc_read(fs, sfs_ag_base(&fs->sb, ag), SFS_BT_AG, sfs_owner_ag(ag), &b), 0);
		bc_put(b);
	}
	ck_assert_uint_gt(fs->sb.ag_count, 8);
	struct bc_stats st;
	bc_stats(fs, &st);
	ck_assert_uint_le(st.lru, 8);
	ck_assert_uint_le(st.cached, 8);
	/* drop_res: a change made on disk behind the cache is seen after the drop. */
	uint64_t bm = sfs_ag_base(&fs->sb, 1) + 1;
	struct buf *b;
	ck_assert_int_eq(bc_read(fs, bm, SFS_BT_BITMAP, sfs_owner_ag(1), &b), 0);
	bc_put(b);
	static uint8_t blk[4096];
	timg_peek(img, bm, blk);
	blk[SFS_BM_OFF + 100] = 0x5a;
	sfs_blk_reseal(blk);
	timg_poke(img, bm, blk);
	ck_assert_int_eq(bc_read(fs, bm, SFS_BT_BITMAP, sfs_owner_ag(1), &b), 0);
	ck_assert_uint_ne(b->data[SFS_BM_OFF + 100], 0x5a);
	bc_put(b);
	bc_drop_res(fs, sfs_owner_ag(1));
	ck_assert_int_eq(bc_read(fs, bm, SFS_BT_BITMAP, sfs_owner_ag(1), &b), 0);
	ck_assert_uint_eq(b->data[SFS_BM_OFF + 100], 0x5a);
	/* Dropped while referenced: the holder keeps its buffer, a new read gets a fresh one. */
	bc_drop_res(fs, sfs_owner_ag(1));
	struct buf *b2;
	ck_assert_int_eq(bc_read(fs, bm, SFS_BT_BITMAP, sfs_owner_ag(1), &b2), 0);
	ck_assert_ptr_ne(b, b2);
	bc_put(b);
	bc_put(b2);
	blk[SFS_BM_OFF + 100] = 0;
	sfs_blk_reseal(blk);
	timg_poke(img, bm, blk);
	bc_drop_res(fs, sfs_owner_ag(1));
	ck_assert_int_eq(sfs_close(fs), 0);
}
END_TEST

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

START_TEST(prefetch_reads_runs)
{
	struct sfs *fs = mount_img(0);
	enum { N = 24, BAD = 5, OTHER = 9 };
	uint64_t blk[N], own[N], tid;
	for (int i = 0; i < N; i++)
		blk[i] = make_block(fs, 0, &tid);
	qsort(blk, N, sizeof(blk[0]), cmp_u64);
	/* The payload tells the blocks apart once sorted. */
	for (int i = 0; i < N; i++) {
		struct txn *t;
		struct buf *b;
		own[i] = sfs_owner_inode(blk[i]);
		ck_assert_int_eq(txn_begin(fs, 2, &t), 0);
		ck_assert_int_eq(bc_read(fs, blk[i], SFS_BT_XATTR, own[i], &b), 0);
		ck_assert_int_eq(txn_add(t, b), 0);
		b->data[64] = (uint8_t)(i + 1);
		bc_put(b);
		ck_assert_int_eq(txn_end(t, &tid), 0);
	}
	ck_assert_int_eq(jnl_checkpoint_all(fs), 0);
	bc_shrink(fs);
	for (int i = 0; i < N; i++)
		ck_assert(!bc_cached(fs, blk[i]));
	/* One damaged block, one asked for under the wrong owner. */
	static uint8_t good[4096], bad[4096];
	timg_peek(img, blk[BAD], good);
	memcpy(bad, good, sizeof(bad));
	bad[900] ^= 1;
	timg_poke(img, blk[BAD], bad);
	own[OTHER] = sfs_owner_inode(blk[OTHER] + 1);
	/* One device request per run of blocks at most 8 apart. */
	unsigned runs = 1;
	for (int i = 1; i < N; i++)
		runs += blk[i] - blk[i - 1] > 8;
	ck_assert_uint_lt(runs, N);
	struct bc_stats st0, st1;
	bc_stats(fs, &st0);
	bc_prefetch(fs, blk, own, N, SFS_BT_XATTR);
	bc_stats(fs, &st1);
	ck_assert_uint_eq(st1.reads - st0.reads, runs);
	for (int i = 0; i < N; i++)
		ck_assert_msg(bc_cached(fs, blk[i]) == (i != BAD && i != OTHER), "block %d", i);
	/* The good ones are hits, not reads. */
	for (int i = 0; i < N; i++) {
		if (i == BAD || i == OTHER)
			continue;
		struct buf *b;
		ck_assert_int_eq(bc_read(fs, blk[i], SFS_BT_XATTR, own[i], &b), 0);
		ck_assert_uint_eq(b->data[64], i + 1);
		bc_put(b);
	}
	bc_stats(fs, &st0);
	ck_assert_uint_eq(st0.reads, st1.reads);
	ck_assert_uint_eq(st0.misses, st1.misses);
	ck_assert_uint_eq(st0.hits - st1.hits, N - 2);
	/* The failures were not cached: the read that follows reports the
	 * damage itself, and the other block reads under its real owner. */
	struct buf *b;
	ck_assert_int_eq(bc_read(fs, blk[BAD], SFS_BT_XATTR, sfs_owner_inode(blk[BAD]), &b), -EIO);
	ck_assert_int_eq(bc_read(fs, blk[OTHER], SFS_BT_XATTR, sfs_owner_inode(blk[OTHER]), &b), 0);
	ck_assert_uint_eq(b->data[64], OTHER + 1);
	bc_put(b);
	/* Cached blocks are not read again; the repaired one is. */
	timg_poke(img, blk[BAD], good);
	own[OTHER] = sfs_owner_inode(blk[OTHER]);
	bc_stats(fs, &st0);
	bc_prefetch(fs, blk, own, N, SFS_BT_XATTR);
	bc_stats(fs, &st1);
	ck_assert_uint_eq(st1.reads - st0.reads, 1);
	ck_assert(bc_cached(fs, blk[BAD]));
	ck_assert_int_eq(sfs_close(fs), 0);
}
END_TEST

/* A cached copy from before its block was reused (in a cluster, by another
 * node) no longer matches what the caller's lock says: an unused clean copy
 * is read again; one still in use is an error. */
START_TEST(stale_copy_is_read_again)
{
	struct sfs *fs = mount_img(0);
	uint64_t tid;
	uint64_t blk = make_block(fs, 0x5a, &tid);
	ck_assert_int_eq(jnl_checkpoint_all(fs), 0);
	struct buf *b;
	ck_assert_int_eq(bc_read(fs, blk, SFS_BT_XATTR, sfs_owner_inode(blk), &b), 0);
	bc_put(b);
	/* Behind the cache, the block becomes another inode's. */
	static uint8_t d[4096];
	timg_peek(img, blk, d);
	uint64_t other = sfs_owner_inode(blk + 7);
	sfs_blk_seal(d, fs->sb.uuid, SFS_BT_XATTR, blk, other);
	d[64] = 0x6b;
	sfs_blk_reseal(d);
	timg_poke(img, blk, d);
	ck_assert_int_eq(bc_read(fs, blk, SFS_BT_XATTR, other, &b), 0);
	ck_assert_uint_eq(b->res, other);
	ck_assert_uint_eq(b->data[64], 0x6b);
	/* In use: the mismatch is reported, nothing is dropped. */
	struct buf *b2;
	ck_assert_int_eq(bc_read(fs, blk, SFS_BT_XATTR, sfs_owner_inode(blk), &b2), -EIO);
	ck_assert_int_eq(bc_read(fs, blk, SFS_BT_XATTR, other, &b2), 0);
	ck_assert_ptr_eq(b, b2);
	bc_put(b2);
	bc_put(b);
	/* Unused, and the disk agrees with the cache: still an error. */
	ck_assert_int_eq(bc_read(fs, blk, SFS_BT_INODE, other, &b), -EIO);
	ck_assert_int_eq(sfs_close(fs), 0);
}
END_TEST

START_TEST(home_only_gets_committed_images)
{
	struct sfs *fs = mount_img(0);
	uint64_t tid;
	uint64_t blk = make_block(fs, 0x11, &tid);
	ck_assert_int_eq(jnl_wait(fs, tid), 0);
	/* Committed but not checkpointed: home is still the zero block. */
	static uint8_t d[4096];
	timg_peek(img, blk, d);
	ck_assert_uint_ne(d[64], 0x11);
	/* A running handle changes it; a checkpoint meanwhile writes the
	 * committed image, never the live one. */
	struct txn *t;
	ck_assert_int_eq(txn_begin(fs, 2, &t), 0);
	struct buf *b;
	ck_assert_int_eq(bc_read(fs, blk, SFS_BT_XATTR, sfs_owner_inode(blk), &b), 0);
	ck_assert_int_eq(txn_add(t, b), 0);
	memset(b->data + 64, 0x22, 100);
	ck_assert_int_eq(jnl_flush_res(fs, sfs_owner_ag(0)), 0); /* checkpoints committed ones */
	struct jnl_stats js;
	jnl_stats(fs, &js);
	ck_assert_uint_ge(js.checkpoints, 1);
	timg_peek(img, blk, d);
	ck_assert_uint_eq(d[64], 0x11);
	ck_assert_int_eq(sfs_blk_check(d, fs->sb.uuid, SFS_BT_XATTR, blk, sfs_owner_inode(blk)), 0);
	ck_assert_int_eq(txn_end(t, &tid), 0);
	bc_put(b);
	/* flush_res of the block's resource commits and checkpoints it. */
	ck_assert_int_eq(jnl_flush_res(fs, sfs_owner_inode(blk)), 0);
	timg_peek(img, blk, d);
	ck_assert_uint_eq(d[64], 0x22);
	ck_assert_int_eq(sfs_blk_check(d, fs->sb.uuid, SFS_BT_XATTR, blk, sfs_owner_inode(blk)), 0);
	jnl_stats(fs, &js);
	ck_assert_uint_eq(js.used_blocks, 0);
	ck_assert_int_eq(sfs_close(fs), 0);
}
END_TEST

struct worker {
	struct sfs *fs;
	int n;
	uint64_t blk;
};

static void *worker_fn(void *arg)
{
	struct worker *w = arg;
	for (int i = 0; i < w->n; i++) {
		struct txn *t;
		if (txn_begin(w->fs, 2, &t))
			return (void *)1;
		struct buf *b;
		if (bc_read(w->fs, w->blk, SFS_BT_XATTR, sfs_owner_inode(w->blk), &b))
			return (void *)2;
		txn_add(t, b);
		le32_put(b->data + 64, le32_get(b->data + 64) + 1);
		bc_put(b);
		uint64_t tid;
		if (txn_end(t, &tid) || jnl_wait(w->fs, tid))
			return (void *)3;
	}
	return NULL;
}

START_TEST(group_commit_many_handles)
{
	struct sfs *fs = mount_img(0);
	uint64_t tid;
	enum { NT = 8, N = 50 };
	struct worker w[NT];
	pthread_t th[NT];
	for (int i = 0; i < NT; i++) {
		w[i] = (struct worker){fs, N, make_block(fs, 0, &tid)};
		/* count from zero */
	}
	ck_assert_int_eq(jnl_sync(fs), 0);
	struct jnl_stats before, after;
	jnl_stats(fs, &before);
	for (int i = 0; i < NT; i++)
		pthread_create(&th[i], NULL, worker_fn, &w[i]);
	for (int i = 0; i < NT; i++) {
		void *r;
		pthread_join(th[i], &r);
		ck_assert_ptr_null(r);
	}
	jnl_stats(fs, &after);
	/* Every handle waited for durability, yet commits were shared. */
	ck_assert_uint_eq(after.handles - before.handles, NT * N);
	ck_assert_uint_lt(after.commits - before.commits, NT * N);
	uint64_t blks[NT];
	for (int i = 0; i < NT; i++)
		blks[i] = w[i].blk;
	ck_assert_int_eq(sfs_close(fs), 0);
	static uint8_t d[4096];
	for (int i = 0; i < NT; i++) {
		timg_peek(img, blks[i], d);
		ck_assert_uint_eq(le32_get(d + 64), N);
	}
}
END_TEST

START_TEST(forget_and_abort)
{
	struct sfs *fs = mount_img(0);
	uint64_t tid;
	uint64_t blk = make_block(fs, 0x33, &tid);
	struct txn *t;
	ck_assert_int_eq(txn_begin(fs, 4, &t), 0);
	ck_assert_int_eq(alloc_free(fs, t, blk, 1), 0);
	bc_forget(fs, blk);
	ck_assert_int_eq(txn_end(t, &tid), 0);
	ck_assert_int_eq(jnl_checkpoint_all(fs), 0);
	/* The forgotten block never went home. */
	static uint8_t d[4096];
	timg_peek(img, blk, d);
	ck_assert_uint_ne(d[64], 0x33);
	/* Double free is refused without changing anything. */
	ck_assert_int_eq(txn_begin(fs, 4, &t), 0);
	ck_assert_int_eq(alloc_free(fs, t, blk, 1), -EINVAL);
	txn_abort(t); /* added nothing: the journal lives on */
	ck_assert(!jnl_aborted(fs));
	/* A handle that failed after changes aborts the journal. */
	blk = make_block(fs, 0x44, &tid);
	ck_assert_int_eq(txn_begin(fs, 4, &t), 0);
	struct buf *b;
	ck_assert_int_eq(bc_read(fs, blk, SFS_BT_XATTR, sfs_owner_inode(blk), &b), 0);
	ck_assert_int_eq(txn_add(t, b), 0);
	b->data[64] = 0x55;
	bc_put(b);
	txn_abort(t);
	ck_assert(jnl_aborted(fs));
	ck_assert_int_eq(txn_begin(fs, 1, &t), -EIO);
	ck_assert_int_ne(sfs_close(fs), 0);
}
END_TEST

int main(void)
{
	log_setup("test_bcache", 0, LOG_ERROR);
	log_set_level((enum log_level) - 1);
	Suite *s = suite_create("bcache");
	TCase *tc = tcase_create("bcache");
	tcase_set_timeout(tc, 60);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, read_hits_and_checks);
	tcase_add_test(tc, lru_bound_and_drop_res);
	tcase_add_test(tc, prefetch_reads_runs);
	tcase_add_test(tc, stale_copy_is_read_again);
	tcase_add_test(tc, home_only_gets_committed_images);
	tcase_add_test(tc, group_commit_many_handles);
	tcase_add_test(tc, forget_and_abort);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}

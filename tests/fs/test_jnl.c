/* Unit tests of the journal (fs/jnl.c, fs/jnl_replay.c): replay after a
 * simulated crash brings back exactly the committed transactions, revoked
 * blocks are not overwritten by replay, a damaged transaction ends replay,
 * and random crashes (blockdev fault injection: EIO after N writes, torn
 * writes) always leave a state that is a prefix of the history, including
 * every transaction acknowledged by jnl_wait. Randomized: prints its seed
 * (SANFS_TEST_SEED overrides). */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "blockdev/bdev.h"
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

static void setup(void)
{
	struct mkfs_opts o = {.slots = 2, .ag_blocks = 4096, .journal_bytes = 1 << 20};
	timg_mkfs(img, "jnl", 64 << 20, &o, NULL);
}

static void teardown(void)
{
	unlink(img);
}

static struct sfs *mount_img(void)
{
	struct sfs_mount_opts mo = {.local = true, .hb_wait_ms = 1, .commit_ms = 20};
	struct sfs *fs;
	int rc = sfs_open(img, &mo, NULL, &fs);
	ck_assert_msg(rc == 0, "%s", sfs_last_error());
	return fs;
}

/* Set the u64 at offset 64 of block blk (an XATTR block of inode blk). */
static int set_val(struct sfs *fs, struct txn *t, uint64_t blk, uint64_t v, bool fresh)
{
	struct buf *b;
	int rc = fresh ? bc_new(fs, blk, SFS_BT_XATTR, sfs_owner_inode(blk), &b)
		       : bc_read(fs, blk, SFS_BT_XATTR, sfs_owner_inode(blk), &b);
	if (rc)
		return rc;
	rc = txn_add(t, b);
	if (!rc)
		le64_put(b->data + 64, v);
	bc_put(b);
	return rc;
}

static uint64_t disk_val(struct sfs_super *sb, uint64_t blk, bool *valid)
{
	static uint8_t d[4096];
	timg_peek(img, blk, d);
	*valid = sfs_blk_check(d, sb->uuid, SFS_BT_XATTR, blk, sfs_owner_inode(blk)) == 0;
	return le64_get(d + 64);
}

START_TEST(replay_after_crash)
{
	struct sfs *fs = mount_img();
	struct sfs_super sb = fs->sb;
	struct txn *t;
	uint64_t blk, tid;
	uint32_t got;
	ck_assert_int_eq(txn_begin(fs, 8, &t), 0);
	ck_assert_int_eq(alloc_blocks(fs, t, 0, 1, 1, &blk, &got), 0);
	ck_assert_int_eq(set_val(fs, t, blk, 1234, true), 0);
	ck_assert_int_eq(txn_end(t, &tid), 0);
	ck_assert_int_eq(jnl_wait(fs, tid), 0);
	/* A handle that never ended is lost. */
	ck_assert_int_eq(txn_begin(fs, 8, &t), 0);
	ck_assert_int_eq(set_val(fs, t, blk, 9999, false), 0);
	sfs_crash(fs);
	free(t); /* the handle died with the node */
	bool valid;
	disk_val(&sb, blk, &valid);
	ck_assert(!valid); /* never checkpointed */
	fs = mount_img();
	ck_assert_uint_eq(disk_val(&sb, blk, &valid), 1234);
	ck_assert(valid);
	ck_assert_int_eq(alloc_is_inode(fs, blk), 0);
	struct statvfs st;
	ck_assert_int_eq(sfs_statfs(fs, &st), 0);
	ck_assert_int_eq(sfs_close(fs), 0);
}
END_TEST

START_TEST(revoke_protects_reused_block)
{
	struct sfs *fs = mount_img();
	struct txn *t;
	uint64_t blk, tid;
	uint32_t got;
	ck_assert_int_eq(txn_begin(fs, 8, &t), 0);
	ck_assert_int_eq(alloc_blocks(fs, t, 0, 1, 1, &blk, &got), 0);
	ck_assert_int_eq(set_val(fs, t, blk, 77, true), 0);
	ck_assert_int_eq(txn_end(t, &tid), 0);
	ck_assert_int_eq(jnl_wait(fs, tid), 0);
	/* Freed in a later transaction, then reused for "data". */
	ck_assert_int_eq(txn_begin(fs, 8, &t), 0);
	ck_assert_int_eq(alloc_free(fs, t, blk, 1), 0);
	bc_forget(fs, blk);
	ck_assert_int_eq(txn_end(t, &tid), 0);
	ck_assert_int_eq(jnl_wait(fs, tid), 0);
	/* Not handed out before the free committed... and now it may be. */
	ck_assert_int_eq(txn_begin(fs, 8, &t), 0);
	uint64_t again;
	ck_assert_int_eq(alloc_blocks(fs, t, blk, 1, 1, &again, &got), 0);
	ck_assert_uint_eq(again, blk);
	ck_assert_int_eq(txn_end(t, &tid), 0);
	ck_assert_int_eq(jnl_wait(fs, tid), 0);
	static uint8_t data[4096];
	memset(data, 0xd5, sizeof(data));
	timg_poke(img, blk, data);
	sfs_crash(fs);
	fs = mount_img();
	static uint8_t d[4096];
	timg_peek(img, blk, d);
	ck_assert_mem_eq(d, data, 4096);
	ck_assert_int_eq(sfs_close(fs), 0);
}
END_TEST

START_TEST(freed_blocks_wait_for_commit)
{
	struct sfs *fs = mount_img();
	struct txn *t;
	uint64_t blk, b2, tid;
	uint32_t got;
	ck_assert_int_eq(txn_begin(fs, 8, &t), 0);
	ck_assert_int_eq(alloc_blocks(fs, t, 0, 1, 1, &blk, &got), 0);
	ck_assert_int_eq(txn_end(t, &tid), 0);
	ck_assert_int_eq(jnl_wait(fs, tid), 0);
	ck_assert_int_eq(txn_begin(fs, 8, &t), 0);
	ck_assert_int_eq(alloc_free(fs, t, blk, 1), 0);
	/* Same running transaction: the block is busy. */
	ck_assert_int_eq(alloc_blocks(fs, t, blk, 1, 1, &b2, &got), 0);
	ck_assert_uint_ne(b2, blk);
	ck_assert_int_eq(txn_end(t, &tid), 0);
	ck_assert_int_eq(sfs_close(fs), 0);
}
END_TEST

START_TEST(damaged_transaction_ends_replay)
{
	struct sfs *fs = mount_img();
	struct sfs_super sb = fs->sb;
	struct txn *t;
	uint64_t blk[3], tid;
	uint32_t got;
	for (int i = 0; i < 3; i++) {
		ck_assert_int_eq(txn_begin(fs, 8, &t), 0);
		ck_assert_int_eq(alloc_blocks(fs, t, 0, 1, 1, &blk[i], &got), 0);
		ck_assert_int_eq(set_val(fs, t, blk[i], 100 + i, true), 0);
		ck_assert_int_eq(txn_end(t, &tid), 0);
		ck_assert_int_eq(jnl_wait(fs, tid), 0);
	}
	sfs_crash(fs);
	/* Three transactions sit in the ring; damage an image of the second. */
	uint64_t ring = sfs_slot_journal(&sb, 0);
	static uint8_t d[4096];
	int found = 0;
	for (uint64_t p = 0; p < sb.journal_blocks && !found; p++) {
		timg_peek(img, ring + p, d);
		if (sfs_blk_type(d) == SFS_BT_XATTR && le64_get(d + 64) == 101) {
			d[2000] ^= 1;
			timg_poke(img, ring + p, d);
			found = 1;
		}
	}
	ck_assert(found);
	fs = mount_img();
	bool valid;
	ck_assert_uint_eq(disk_val(&sb, blk[0], &valid), 100);
	ck_assert(valid);
	disk_val(&sb, blk[1], &valid);
	ck_assert(!valid);
	disk_val(&sb, blk[2], &valid);
	ck_assert(!valid); /* after the damaged one: not replayed */
	ck_assert_int_eq(sfs_close(fs), 0);
}
END_TEST

/* ---- random crashes ---- */

#define NBLK  40
#define MAXTX 4000

struct hist {
	uint64_t blk[NBLK];
	uint16_t touched[MAXTX][8];
	uint8_t ntouched[MAXTX];
	uint64_t ntx;	/* transactions ended */
	uint64_t acked; /* highest value whose durability was acknowledged */
};

static uint64_t expected(const struct hist *h, int b, uint64_t upto)
{
	for (uint64_t v = upto; v >= 1; v--)
		for (int k = 0; k < h->ntouched[v]; k++)
			if (h->touched[v][k] == b)
				return v;
	return 0;
}

static uint64_t fault_hits;

/* One life: run transactions until the device dies or count is reached. */
static void run_life(struct hist *h, unsigned *seed, int count)
{
	struct sfs *fs = mount_img();
	struct bdev_fault f = {0};
	if (rand_r(seed) % 2) {
		f.kind = BDEV_FAULT_EIO_AFTER;
		f.n = rand_r(seed) % 120;
	} else {
		f.kind = BDEV_FAULT_TORN;
		f.n = rand_r(seed) % 8;
	}
	ck_assert_int_eq(bdev_fault_add(fs->dev, &f), 0);
	for (int i = 0; i < count && h->ntx + 1 < MAXTX; i++) {
		struct txn *t;
		if (txn_begin(fs, 8, &t))
			break;
		uint64_t v = h->ntx + 1;
		int n = 1 + rand_r(seed) % 6;
		h->ntouched[v] = 0;
		int bad = 0;
		for (int k = 0; k < n && !bad; k++) {
			int b = rand_r(seed) % NBLK;
			bad = set_val(fs, t, h->blk[b], v, false);
			if (!bad)
				h->touched[v][h->ntouched[v]++] = (uint16_t)b;
		}
		uint64_t tid;
		int rc = txn_end(t, &tid);
		h->ntx = v; /* it may or may not survive */
		if (bad || rc)
			break;
		if (rand_r(seed) % 4 == 0) {
			if (jnl_wait(fs, tid))
				break;
			h->acked = v;
		}
	}
	fault_hits += bdev_fault_hits(fs->dev);
	sfs_crash(fs);
}

static void check_prefix(const struct hist *h, struct sfs_super *sb)
{
	uint64_t vals[NBLK], top = 0;
	for (int b = 0; b < NBLK; b++) {
		bool valid;
		vals[b] = disk_val(sb, h->blk[b], &valid);
		ck_assert_msg(valid, "block %d corrupt after recovery", b);
		if (vals[b] > top)
			top = vals[b];
	}
	ck_assert_msg(top >= h->acked, "acknowledged %llu lost (state at %llu)",
		      (unsigned long long)h->acked, (unsigned long long)top);
	for (int b = 0; b < NBLK; b++)
		ck_assert_msg(vals[b] == expected(h, b, top),
			      "block %d holds %llu, the prefix up to %llu says %llu", b,
			      (unsigned long long)vals[b], (unsigned long long)top,
			      (unsigned long long)expected(h, b, top));
}

START_TEST(random_crashes_leave_a_prefix)
{
	unsigned seed = (unsigned)time(NULL);
	if (getenv("SANFS_TEST_SEED"))
		seed = (unsigned)strtoul(getenv("SANFS_TEST_SEED"), NULL, 0);
	printf("test_jnl random_crashes seed %u\n", seed);
	fflush(stdout);
	static struct hist h;
	memset(&h, 0, sizeof(h));
	struct sfs *fs = mount_img();
	struct sfs_super sb = fs->sb;
	struct txn *t;
	ck_assert_int_eq(txn_begin(fs, NBLK + 8, &t), 0);
	for (int b = 0; b < NBLK; b++) {
		uint32_t got;
		ck_assert_int_eq(alloc_blocks(fs, t, 0, 1, 1, &h.blk[b], &got), 0);
		ck_assert_int_eq(set_val(fs, t, h.blk[b], 0, true), 0);
	}
	ck_assert_int_eq(txn_end(t, NULL), 0);
	ck_assert_int_eq(sfs_close(fs), 0);
	for (int round = 0; round < 25; round++) {
		run_life(&h, &seed, 150);
		/* Recovery: mount (replay), check, unmount cleanly. */
		fs = mount_img();
		sfs_close(fs);
		check_prefix(&h, &sb);
		/* Forget what did not survive: history continues from the state on disk. */
		uint64_t top = 0;
		for (int b = 0; b < NBLK; b++) {
			bool valid;
			uint64_t v = disk_val(&sb, h.blk[b], &valid);
			if (v > top)
				top = v;
		}
		h.ntx = top;
		h.acked = top;
	}
	ck_assert_uint_gt(fault_hits, 10); /* the faults did strike */
	printf("test_jnl random_crashes: %llu faulted I/Os\n", (unsigned long long)fault_hits);
}
END_TEST

int main(void)
{
	log_setup("test_jnl", 0, LOG_ERROR);
	log_set_level((enum log_level) - 1);
	Suite *s = suite_create("jnl");
	TCase *tc = tcase_create("jnl");
	tcase_set_timeout(tc, 100);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, replay_after_crash);
	tcase_add_test(tc, revoke_protects_reused_block);
	tcase_add_test(tc, freed_blocks_wait_for_commit);
	tcase_add_test(tc, damaged_transaction_ends_replay);
	tcase_add_test(tc, random_crashes_leave_a_prefix);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}

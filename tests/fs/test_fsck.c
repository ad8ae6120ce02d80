/* Unit tests of fs/fsck: a fresh and a used filesystem are clean; garbage
 * and random one-byte corruptions of a valid image never crash fsck (ASan
 * runs this) and are reported; --repair fixes superblock copies, AG counts,
 * leaked and unmarked blocks and unreplayed journals, and a second run is
 * then clean. Randomized: prints its seed (SANFS_TEST_SEED overrides). */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/endian_le.h"
#include "common/log.h"
#include "fs/alloc.h"
#include "fs/bcache.h"
#include <dirent.h>
#include <sys/stat.h>

#include "fs/dir.h"
#include "fs/fsck.h"
#include "fs/inode.h"
#include "fs/inode_format.h"
#include "fs/jnl.h"
#include "fs/mkfs.h"
#include "fs/sfs.h"
#include "locks/lcl.h"
#include "test_img.h"

#define IMG_BYTES (24ull << 20)

static char img[TIMG_PATH_MAX], pristine[TIMG_PATH_MAX];
static struct sfs_super sb;

static void copy_file(const char *from, const char *to)
{
	int a = open(from, O_RDONLY), b = open(to, O_WRONLY | O_TRUNC);
	ck_assert(a >= 0 && b >= 0);
	static char buf[1 << 20];
	ssize_t n;
	while ((n = read(a, buf, sizeof(buf))) > 0)
		ck_assert_int_eq(write(b, buf, (size_t)n), n);
	close(a);
	close(b);
}

static void setup(void)
{
	struct mkfs_opts o = {.slots = 2,
			      .ag_blocks = 1024,
			      .journal_bytes = 1 << 20,
			      .root_init = mkfs_root_default};
	timg_mkfs(img, "fsck", IMG_BYTES, &o, &sb);
	pristine[0] = 0;
}

static void teardown(void)
{
	unlink(img);
	if (pristine[0])
		unlink(pristine);
}

/* Messages go to stderr: shown by meson only when a test fails. */
static void show(void *arg, enum fsck_kind kind, const char *text)
{
	(void)arg;
	if (kind != FSCK_INFO)
		fprintf(stderr, "  fsck %d: %s\n", (int)kind, text);
}

static int run(bool repair, struct fsck_result *r)
{
	struct fsck_opts fo = {.repair = repair, .msg = show};
	fprintf(stderr, "fsck%s:\n", repair ? " --repair" : "");
	fsck_run(img, &fo, r);
	return r->exit_code;
}

static struct sfs *mount_img(void)
{
	struct sfs_mount_opts mo = {.local = true, .hb_wait_ms = 1, .commit_ms = 50};
	struct sfs *fs;
	ck_assert_msg(sfs_open(img, &mo, NULL, &fs) == 0, "%s", sfs_last_error());
	return fs;
}

START_TEST(fresh_is_clean)
{
	struct fsck_result r;
	ck_assert_int_eq(run(false, &r), FSCK_EXIT_CLEAN);
	ck_assert_uint_eq(r.errors, 0);
	ck_assert_uint_eq(r.inodes, 1);
	ck_assert_int_eq(run(true, &r), FSCK_EXIT_CLEAN);
	ck_assert_uint_eq(r.fixed, 0);
}
END_TEST

START_TEST(garbage_never_crashes)
{
	unsigned seed = (unsigned)time(NULL);
	printf("test_fsck garbage seed %u\n", seed);
	static uint8_t buf[1 << 16];
	int fd = open(img, O_WRONLY);
	for (off_t off = 0; off < (off_t)IMG_BYTES; off += sizeof(buf)) {
		for (size_t i = 0; i < sizeof(buf); i++)
			buf[i] = (uint8_t)rand_r(&seed);
		ck_assert_int_eq(pwrite(fd, buf, sizeof(buf), off), (ssize_t)sizeof(buf));
	}
	close(fd);
	struct fsck_result r;
	ck_assert_int_eq(run(false, &r), FSCK_EXIT_ERRORS);
	ck_assert_int_eq(run(true, &r), FSCK_EXIT_ERRORS);
	/* Zeros too. */
	ck_assert_int_eq(truncate(img, 0), 0);
	ck_assert_int_eq(truncate(img, (off_t)IMG_BYTES), 0);
	ck_assert_int_eq(run(false, &r), FSCK_EXIT_ERRORS);
	/* A missing device is an operational error. */
	struct fsck_opts fo = {0};
	fsck_run("/nonexistent/dev", &fo, &r);
	ck_assert_int_eq(r.exit_code, FSCK_EXIT_OPERROR);
}
END_TEST

/* Metadata blocks worth corrupting: superblocks, slot blocks, AG blocks, root. */
static uint64_t pick_meta(unsigned *seed)
{
	switch (rand_r(seed) % 5) {
	case 0:
		return 1 + rand_r(seed) % 2;
	case 1:
		return sfs_slot_base(&sb, rand_r(seed) % sb.slot_count) + rand_r(seed) % 7;
	case 2:
	case 3: {
		uint32_t ag = rand_r(seed) % sb.ag_count;
		return sfs_ag_base(&sb, ag) + rand_r(seed) % sfs_ag_meta_blocks(&sb);
	}
	default:
		return sb.root_ino;
	}
}

START_TEST(one_byte_corruptions)
{
	unsigned seed = (unsigned)time(NULL);
	if (getenv("SANFS_TEST_SEED"))
		seed = (unsigned)strtoul(getenv("SANFS_TEST_SEED"), NULL, 0);
	printf("test_fsck one_byte seed %u\n", seed);
	/* Give the image some content: a few allocations through the engine. */
	struct sfs *fs = mount_img();
	sfs_close(fs);
	timg_create(pristine, "fsck-pristine", IMG_BYTES);
	copy_file(img, pristine);
	int detected = 0, repaired_clean = 0;
	for (int i = 0; i < 60; i++) {
		copy_file(pristine, img);
		uint64_t blk = pick_meta(&seed);
		static uint8_t d[4096];
		timg_peek(img, blk, d);
		unsigned off = rand_r(&seed) % 4096;
		d[off] ^= (uint8_t)(1 + rand_r(&seed) % 255);
		timg_poke(img, blk, d);
		struct fsck_result r;
		int ec = run(false, &r);
		ck_assert(ec == FSCK_EXIT_CLEAN || ec == FSCK_EXIT_ERRORS);
		if (ec == FSCK_EXIT_ERRORS)
			detected++;
		ec = run(true, &r);
		ck_assert(ec == FSCK_EXIT_CLEAN || ec == FSCK_EXIT_REPAIRED ||
			  ec == FSCK_EXIT_ERRORS);
		if (ec == FSCK_EXIT_REPAIRED) {
			ck_assert_msg(
			    run(false, &r) == FSCK_EXIT_CLEAN,
			    "block %llu byte %u: repaired, yet a second run finds %u error(s)",
			    (unsigned long long)blk, off, r.errors);
			repaired_clean++;
		}
	}
	printf("test_fsck: %d of 60 corruptions detected, %d repaired\n", detected, repaired_clean);
	/* Every checked block carries a crc: nearly every flip is caught. */
	ck_assert_int_ge(detected, 40);
	ck_assert_int_ge(repaired_clean, 10);
}
END_TEST

START_TEST(repairs)
{
	struct fsck_result r;
	static uint8_t d[4096], save[4096];
	/* Primary superblock destroyed: rebuilt from the backup. */
	timg_peek(img, 1, save);
	memset(d, 0x77, sizeof(d));
	timg_poke(img, 1, d);
	ck_assert_int_eq(run(false, &r), FSCK_EXIT_ERRORS);
	ck_assert_int_eq(run(true, &r), FSCK_EXIT_REPAIRED);
	ck_assert_int_eq(run(false, &r), FSCK_EXIT_CLEAN);
	timg_peek(img, 1, d);
	ck_assert_mem_eq(d + 48, save + 48, 200);
	/* Wrong AG free count (correctly sealed). */
	uint64_t agb = sfs_ag_base(&sb, 1);
	timg_peek(img, agb, d);
	le32_put(d + 56, le32_get(d + 56) - 5);
	sfs_blk_reseal(d);
	timg_poke(img, agb, d);
	ck_assert_int_eq(run(false, &r), FSCK_EXIT_ERRORS);
	ck_assert_int_eq(run(true, &r), FSCK_EXIT_REPAIRED);
	ck_assert_int_eq(run(false, &r), FSCK_EXIT_CLEAN);
	/* A leaked block: marked in use, referenced by nothing. */
	struct sfs *fs = mount_img();
	struct txn *t;
	uint64_t s;
	uint32_t got;
	ck_assert_int_eq(txn_begin(fs, 4, &t), 0);
	ck_assert_int_eq(alloc_blocks(fs, t, 0, 3, 3, &s, &got), 0);
	ck_assert_int_eq(txn_end(t, NULL), 0);
	ck_assert_int_eq(sfs_close(fs), 0);
	ck_assert_int_eq(run(false, &r), FSCK_EXIT_ERRORS);
	uint64_t free_before = r.free_blocks;
	ck_assert_int_eq(run(true, &r), FSCK_EXIT_REPAIRED);
	ck_assert_int_eq(run(false, &r), FSCK_EXIT_CLEAN);
	ck_assert_uint_eq(r.free_blocks, free_before + 3);
	/* Unreplayed journal: committed, then crashed. */
	fs = mount_img();
	ck_assert_int_eq(txn_begin(fs, 4, &t), 0);
	ck_assert_int_eq(alloc_inode(fs, t, 0, &s), 0);
	struct buf *b;
	ck_assert_int_eq(bc_new(fs, s, SFS_BT_INODE, sfs_owner_inode(s), &b), 0);
	bc_put(b);
	uint64_t tid;
	ck_assert_int_eq(txn_end(t, &tid), 0);
	ck_assert_int_eq(jnl_wait(fs, tid), 0);
	sfs_crash(fs);
	ck_assert_int_eq(run(false, &r), FSCK_EXIT_ERRORS);
	ck_assert_int_eq(run(true, &r), FSCK_EXIT_ERRORS); /* replayed, but that inode is junk */
	ck_assert_uint_ge(r.fixed, 1);
}
END_TEST

START_TEST(link_counts_and_names)
{
	struct lcl *lcl;
	ck_assert_int_eq(lcl_create_local(&lcl), 0);
	struct sfs_ops ops = {0};
	inode_sfs_ops(&ops);
	struct sfs_mount_opts mo = {.local = true, .hb_wait_ms = 1, .ops = &ops};
	struct sfs *fs;
	ck_assert_int_eq(sfs_open(img, &mo, lcl, &fs), 0);
	struct sfs_inode *root, *ip, *sub;
	ck_assert_int_eq(inode_get(fs, sfs_root_ino(fs), &root), 0);
	struct txn *t;
	unsigned nb = 16 + dir_max_blocks_per_op();
	ck_assert_int_eq(txn_begin(fs, nb, &t), 0);
	ck_assert_int_eq(inode_create(fs, t, root, S_IFREG | 0644, 0, 0, 0, &ip), 0);
	ck_assert_int_eq(dir_add(fs, t, root, "file", 4, ip->ino, DT_REG), 0);
	ck_assert_int_eq(inode_write(fs, t, root), 0);
	ck_assert_int_eq(txn_end(t, NULL), 0);
	ck_assert_int_eq(txn_begin(fs, nb, &t), 0);
	ck_assert_int_eq(inode_create(fs, t, root, S_IFDIR | 0755, 0, 0, 0, &sub), 0);
	ck_assert_int_eq(dir_init(fs, t, sub, root->ino), 0);
	ck_assert_int_eq(inode_write(fs, t, sub), 0);
	ck_assert_int_eq(dir_add(fs, t, root, "sub", 3, sub->ino, DT_DIR), 0);
	root->nlink++;
	ck_assert_int_eq(inode_write(fs, t, root), 0);
	ck_assert_int_eq(txn_end(t, NULL), 0);
	uint64_t file = ip->ino;
	inode_put(fs, ip);
	inode_put(fs, sub);
	inode_put(fs, root);
	ck_assert_int_eq(sfs_close(fs), 0);
	lcl_destroy(lcl);
	struct fsck_result r;
	ck_assert_int_eq(run(false, &r), FSCK_EXIT_CLEAN);
	ck_assert_uint_eq(r.inodes, 3);
	/* Wrong link count: found and corrected. */
	static uint8_t d[4096];
	timg_peek(img, file, d);
	struct sfs_inode x;
	memset(&x, 0, sizeof(x));
	ck_assert_int_eq(inode_block_decode(d, sb.uuid, file, &x), 0);
	x.nlink = 5;
	inode_encode(&x, d);
	inode_decoded_release(&x);
	sfs_blk_reseal(d);
	timg_poke(img, file, d);
	ck_assert_int_eq(run(false, &r), FSCK_EXIT_ERRORS);
	ck_assert_int_eq(run(true, &r), FSCK_EXIT_REPAIRED);
	ck_assert_int_eq(run(false, &r), FSCK_EXIT_CLEAN);
	timg_peek(img, file, d);
	memset(&x, 0, sizeof(x));
	ck_assert_int_eq(inode_block_decode(d, sb.uuid, file, &x), 0);
	ck_assert_uint_eq(x.nlink, 1);
	inode_decoded_release(&x);
	/* The root's link count counts its subdirectory. */
	timg_peek(img, sb.root_ino, d);
	memset(&x, 0, sizeof(x));
	ck_assert_int_eq(inode_block_decode(d, sb.uuid, sb.root_ino, &x), 0);
	ck_assert_uint_eq(x.nlink, 3);
	inode_decoded_release(&x);
}
END_TEST

START_TEST(mounted_is_refused)
{
	struct sfs *fs = mount_img();
	struct fsck_result r;
	ck_assert_int_eq(run(true, &r), FSCK_EXIT_OPERROR);
	ck_assert_int_eq(sfs_close(fs), 0);
	ck_assert_int_eq(run(false, &r), FSCK_EXIT_CLEAN);
}
END_TEST

int main(void)
{
	log_setup("test_fsck", 0, LOG_ERROR);
	log_set_level((enum log_level) - 1);
	Suite *s = suite_create("fsck");
	TCase *tc = tcase_create("fsck");
	tcase_set_timeout(tc, 110);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, fresh_is_clean);
	tcase_add_test(tc, garbage_never_crashes);
	tcase_add_test(tc, one_byte_corruptions);
	tcase_add_test(tc, repairs);
	tcase_add_test(tc, link_counts_and_names);
	tcase_add_test(tc, mounted_is_refused);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}

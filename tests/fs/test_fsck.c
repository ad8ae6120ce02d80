/* Unit tests of fs/fsck: a fresh and a used filesystem are clean; garbage
 * and random one-byte corruptions of a valid image never crash fsck (ASan
 * runs this) and are reported, as are corruptions of the blocks hanging off
 * inodes in a populated tree; --repair fixes superblock copies, AG counts,
 * leaked and unmarked blocks and unreplayed journals, link counts, st_blocks
 * and names (lost+found reconnection, entries naming corrupt inodes, corrupt
 * directory trees, records, root, xattr and symlink blocks, '..', second
 * names, cycles), and a second run is then clean, the files' data intact.
 * sanctl fsck runs as users run it (SANCTL). Randomized: prints its seed
 * (SANFS_TEST_SEED overrides). */
#include <check.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <sys/wait.h>
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
#include <dirent.h>
#include <sys/stat.h>

#include "fs/dir.h"
#include "fs/extent.h"
#include "fs/file.h"
#include "fs/symlink.h"
#include "fs/xattr.h"
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

/* The inode ino as the image holds it (fields only). */
static struct sfs_inode read_inode(uint64_t ino)
{
	static uint8_t d[4096];
	timg_peek(img, ino, d);
	struct sfs_inode x;
	memset(&x, 0, sizeof(x));
	ck_assert_int_eq(inode_block_decode(d, sb.uuid, ino, &x), 0);
	inode_decoded_release(&x);
	return x;
}

/* Change inode ino on the image behind the filesystem's back: its link count
 * (nlink != UINT32_MAX) and st_blocks (blocks != UINT64_MAX), block resealed. */
static void patch_inode(uint64_t ino, uint32_t nlink, uint64_t blocks)
{
	static uint8_t d[4096];
	timg_peek(img, ino, d);
	struct sfs_inode x;
	memset(&x, 0, sizeof(x));
	ck_assert_int_eq(inode_block_decode(d, sb.uuid, ino, &x), 0);
	if (nlink != UINT32_MAX)
		x.nlink = nlink;
	if (blocks != UINT64_MAX)
		x.blocks = blocks;
	inode_encode(&x, d);
	inode_decoded_release(&x);
	sfs_blk_reseal(d);
	timg_poke(img, ino, d);
}

/* Inode ino as its mount leaves one unlinked while open: link count 0 and,
 * when listed, the orphan flag (the engine sets both in one transaction),
 * on no orphan block (it was listed in memory only). */
static void make_unlinked(uint64_t ino, bool listed)
{
	static uint8_t d[4096];
	timg_peek(img, ino, d);
	struct sfs_inode x;
	memset(&x, 0, sizeof(x));
	ck_assert_int_eq(inode_block_decode(d, sb.uuid, ino, &x), 0);
	x.nlink = 0;
	if (listed)
		x.lflags |= INODE_LF_ORPHAN;
	inode_encode(&x, d);
	inode_decoded_release(&x);
	sfs_blk_reseal(d);
	timg_poke(img, ino, d);
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
	/* Replayed; that inode block is junk (no inode fields): cleared. */
	ck_assert_int_eq(run(true, &r), FSCK_EXIT_REPAIRED);
	ck_assert_uint_ge(r.fixed, 2);
	ck_assert_int_eq(run(false, &r), FSCK_EXIT_CLEAN);
}
END_TEST

/* The files at a and b have the same bytes. */
static bool same_file(const char *a, const char *b)
{
	int fa = open(a, O_RDONLY), fb = open(b, O_RDONLY);
	ck_assert(fa >= 0 && fb >= 0);
	static char x[1 << 20], y[1 << 20];
	bool same = true;
	for (;;) {
		ssize_t n = read(fa, x, sizeof(x)), m = read(fb, y, sizeof(y));
		if (n != m || (n > 0 && memcmp(x, y, (size_t)n))) {
			same = false;
			break;
		}
		if (n <= 0)
			break;
	}
	close(fa);
	close(fb);
	return same;
}

/* Mounts the image on slot, creates /file and /sub in one transaction, and
 * then unmounts (crash false) or crashes with that transaction committed
 * but not checkpointed (sfs_crash). Returns the inode number of /file. */
static uint64_t file_and_dir(unsigned slot, bool crash)
{
	struct lcl *lcl;
	ck_assert_int_eq(lcl_create_local(&lcl), 0);
	struct sfs_ops ops = {0};
	inode_sfs_ops(&ops);
	struct sfs_mount_opts mo = {.local = true, .slot = slot, .hb_wait_ms = 1, .ops = &ops};
	struct sfs *fs;
	ck_assert_int_eq(sfs_open(img, &mo, lcl, &fs), 0);
	struct sfs_inode *root, *ip, *sub;
	ck_assert_int_eq(inode_get(fs, sfs_root_ino(fs), &root), 0);
	struct txn *t;
	ck_assert_int_eq(txn_begin(fs, 32 + 2 * dir_max_blocks_per_op(), &t), 0);
	ck_assert_int_eq(inode_create(fs, t, root, S_IFREG | 0644, 0, 0, 0, &ip), 0);
	ck_assert_int_eq(dir_add(fs, t, root, "file", 4, ip->ino, DT_REG), 0);
	ck_assert_int_eq(inode_create(fs, t, root, S_IFDIR | 0755, 0, 0, 0, &sub), 0);
	ck_assert_int_eq(dir_init(fs, t, sub, root->ino), 0);
	ck_assert_int_eq(inode_write(fs, t, sub), 0);
	ck_assert_int_eq(dir_add(fs, t, root, "sub", 3, sub->ino, DT_DIR), 0);
	root->nlink++;
	ck_assert_int_eq(inode_write(fs, t, root), 0);
	uint64_t tid, file = ip->ino;
	ck_assert_int_eq(txn_end(t, &tid), 0);
	inode_put(fs, ip);
	inode_put(fs, sub);
	inode_put(fs, root);
	if (crash) {
		ck_assert_int_eq(jnl_wait(fs, tid), 0);
		sfs_crash(fs);
	} else {
		ck_assert_int_eq(sfs_close(fs), 0);
	}
	lcl_destroy(lcl);
	return file;
}

/* A crashed mount leaves committed transactions in its journal: a read-only
 * fsck checks the filesystem as the next mount will see it (the journal
 * replayed in memory), clean, and writes nothing; --repair replays. */
START_TEST(crashed_checked_as_replayed)
{
	file_and_dir(0, true);
	char before[TIMG_PATH_MAX + 16];
	snprintf(before, sizeof(before), "%s.before", img);
	int fd = open(before, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	ck_assert_int_ge(fd, 0);
	close(fd);
	copy_file(img, before);
	struct fsck_result r;
	ck_assert_int_eq(run(false, &r), FSCK_EXIT_CLEAN);
	ck_assert_uint_eq(r.inodes, 3); /* the root, and the two the journal holds */
	ck_assert_msg(same_file(img, before), "a read-only fsck changed the image");
	unlink(before);
	/* --repair replays on the device; then clean with the same count. */
	ck_assert_int_eq(run(true, &r), FSCK_EXIT_REPAIRED);
	ck_assert_int_eq(run(false, &r), FSCK_EXIT_CLEAN);
	ck_assert_uint_eq(r.inodes, 3);
}
END_TEST

/* Committed transactions the journal of slot holds (read, nothing written). */
static unsigned journal_holds(unsigned slot)
{
	struct bdev *dev;
	ck_assert_int_eq(bdev_open(img, BDEV_RDONLY, &dev), 0);
	unsigned n = 0;
	ck_assert_int_eq(jnl_replay(dev, &sb, slot, false, &n), 0);
	bdev_close(dev);
	return n;
}

/* A local mount owns the whole device. A crashed mount of another slot (a
 * cluster node, say) left committed transactions in its journal: the local
 * mount fences that slot and replays them before it reads anything, else
 * it would show the old tree and that slot's next mount would replay old
 * images over its changes. A live mount in another slot refuses it. */
START_TEST(own_device_recovers_other_slots)
{
	uint64_t file = file_and_dir(1, true);
	ck_assert_uint_gt(journal_holds(1), 0);
	struct lcl *lcl;
	ck_assert_int_eq(lcl_create_local(&lcl), 0);
	struct sfs_ops ops = {0};
	inode_sfs_ops(&ops);
	struct sfs_mount_opts mo = {
	    .local = true, .own_device = true, .hb_wait_ms = 300, .commit_ms = 50, .ops = &ops};
	struct sfs *fs;
	ck_assert_msg(sfs_open(img, &mo, lcl, &fs) == 0, "%s", sfs_last_error());
	struct sfs_inode *root;
	ck_assert_int_eq(inode_get(fs, sfs_root_ino(fs), &root), 0);
	uint64_t ino = 0;
	uint8_t type;
	ck_assert_int_eq(dir_lookup(fs, root, "file", 4, &ino, &type), 0);
	ck_assert_uint_eq(ino, file);
	inode_put(fs, root);
	ck_assert_int_eq(sfs_close(fs), 0);
	ck_assert_uint_eq(journal_holds(1), 0);
	struct bdev *dev;
	ck_assert_int_eq(bdev_open(img, BDEV_RDONLY, &dev), 0);
	struct bdev_hb hb;
	ck_assert_int_eq(
	    bdev_hb_read(dev, (sfs_slot_base(&sb, 1) + SFS_SLOT_HB) * SFS_BLOCK_SIZE, &hb, 0), 0);
	bdev_close(dev);
	ck_assert_int_eq(hb.state, BDEV_HB_FENCED);
	ck_assert_uint_eq(hb.pid, (uint32_t)getpid());
	struct fsck_result r;
	ck_assert_int_eq(run(false, &r), FSCK_EXIT_CLEAN);
	ck_assert_uint_eq(r.inodes, 3);

	/* Slot 1 mounted and alive: refused, naming it; fine once it is gone. */
	struct sfs_mount_opts m1 = {.local = true, .slot = 1, .hb_wait_ms = 1, .commit_ms = 50};
	struct sfs *other;
	ck_assert_msg(sfs_open(img, &m1, NULL, &other) == 0, "%s", sfs_last_error());
	mo.hb_wait_ms = 1200;
	ck_assert_int_eq(sfs_open(img, &mo, lcl, &fs), -EBUSY);
	ck_assert_msg(strstr(sfs_last_error(), "device is mounted on") &&
			  strstr(sfs_last_error(), "(slot 1)"),
		      "%s", sfs_last_error());
	ck_assert_int_eq(sfs_close(other), 0);
	ck_assert_msg(sfs_open(img, &mo, lcl, &fs) == 0, "%s", sfs_last_error());
	ck_assert_int_eq(sfs_close(fs), 0);
	lcl_destroy(lcl);
}
END_TEST

START_TEST(link_counts_and_names)
{
	uint64_t file = file_and_dir(0, false);
	struct fsck_result r;
	ck_assert_int_eq(run(false, &r), FSCK_EXIT_CLEAN);
	ck_assert_uint_eq(r.inodes, 3);
	/* Wrong link count: found and corrected. */
	patch_inode(file, 5, UINT64_MAX);
	ck_assert_int_eq(run(false, &r), FSCK_EXIT_ERRORS);
	ck_assert_int_eq(run(true, &r), FSCK_EXIT_REPAIRED);
	ck_assert_int_eq(run(false, &r), FSCK_EXIT_CLEAN);
	ck_assert_uint_eq(read_inode(file).nlink, 1);
	/* The root's link count counts its subdirectory. */
	ck_assert_uint_eq(read_inode(sb.root_ino).nlink, 3);
}
END_TEST

/* ---- names: lost+found, corrupt inodes, st_blocks ---- */

/* The engine with the inode part, as fuse mounts it (tests make trees
 * through the fs API, then break them precisely). */
struct tfs {
	struct lcl *lcl;
	struct sfs *fs;
	struct sfs_inode *root;
};

static void tfs_open(struct tfs *x)
{
	ck_assert_int_eq(lcl_create_local(&x->lcl), 0);
	static struct sfs_ops ops;
	memset(&ops, 0, sizeof(ops));
	inode_sfs_ops(&ops);
	struct sfs_mount_opts mo = {.local = true, .hb_wait_ms = 1, .ops = &ops};
	ck_assert_msg(sfs_open(img, &mo, x->lcl, &x->fs) == 0, "%s", sfs_last_error());
	ck_assert_int_eq(inode_get(x->fs, sfs_root_ino(x->fs), &x->root), 0);
}

static void tfs_close(struct tfs *x)
{
	inode_put(x->fs, x->root);
	ck_assert_int_eq(sfs_close(x->fs), 0);
	lcl_destroy(x->lcl);
}

static unsigned tfs_txn(void)
{
	return 16 + dir_max_blocks_per_op();
}

/* A new inode in dir (named when name is not NULL; a directory's tree
 * made); bytes of pattern data written to a regular file. */
static uint64_t tfs_make(struct tfs *x, struct sfs_inode *dir, const char *name, uint32_t mode,
			 size_t bytes, unsigned pattern)
{
	struct txn *t;
	struct sfs_inode *ip;
	ck_assert_int_eq(txn_begin(x->fs, tfs_txn(), &t), 0);
	ck_assert_int_eq(inode_create(x->fs, t, dir, mode, 0, 0, 0, &ip), 0);
	if (S_ISDIR(mode))
		ck_assert_int_eq(dir_init(x->fs, t, ip, dir->ino), 0);
	if (name) {
		ck_assert_int_eq(dir_add(x->fs, t, dir, name, strlen(name), ip->ino,
					 S_ISDIR(mode) ? DT_DIR : DT_REG),
				 0);
		if (S_ISDIR(mode))
			dir->nlink++;
		ck_assert_int_eq(inode_write(x->fs, t, dir), 0);
	}
	ck_assert_int_eq(inode_write(x->fs, t, ip), 0);
	ck_assert_int_eq(txn_end(t, NULL), 0);
	if (bytes) {
		uint8_t *buf = malloc(bytes);
		for (size_t i = 0; i < bytes; i++)
			buf[i] = (uint8_t)(i * 7 + pattern);
		size_t done;
		ck_assert_int_eq(file_write(x->fs, ip, buf, bytes, 0, &done), 0);
		ck_assert_uint_eq(done, bytes);
		free(buf);
	}
	uint64_t ino = ip->ino;
	inode_put(x->fs, ip);
	return ino;
}

/* ino's data is bytes of pattern. */
static void tfs_check_data(struct tfs *x, uint64_t ino, size_t bytes, unsigned pattern)
{
	struct sfs_inode *ip;
	ck_assert_int_eq(inode_get(x->fs, ino, &ip), 0);
	ck_assert_uint_eq(ip->size, bytes);
	uint8_t *buf = malloc(bytes + 1);
	size_t done;
	ck_assert_int_eq(file_read(x->fs, ip, buf, bytes + 1, 0, &done), 0);
	ck_assert_uint_eq(done, bytes);
	for (size_t i = 0; i < bytes; i++)
		ck_assert_msg(buf[i] == (uint8_t)(i * 7 + pattern), "inode %llu byte %zu",
			      (unsigned long long)ino, i);
	free(buf);
	inode_put(x->fs, ip);
}

static uint64_t lookup(struct tfs *x, uint64_t dir_ino, const char *name)
{
	struct sfs_inode *dir;
	ck_assert_int_eq(inode_get(x->fs, dir_ino, &dir), 0);
	uint64_t ino = 0;
	uint8_t dt;
	int r = dir_lookup(x->fs, dir, name, strlen(name), &ino, &dt);
	inode_put(x->fs, dir);
	return r ? 0 : ino;
}

/* Messages kept for tests that look for one. */
static char msgs[64 << 10];
static void keep(void *arg, enum fsck_kind kind, const char *text)
{
	(void)arg;
	show(NULL, kind, text);
	size_t n = strlen(msgs);
	snprintf(msgs + n, sizeof(msgs) - n, "%d:%s\n", (int)kind, text);
}

static int run_keep(bool repair, struct fsck_result *r)
{
	msgs[0] = 0;
	struct fsck_opts fo = {.repair = repair, .msg = keep};
	fprintf(stderr, "fsck%s:\n", repair ? " --repair" : "");
	fsck_run(img, &fo, r);
	return r->exit_code;
}

START_TEST(lost_found_reconnects)
{
	struct tfs x;
	tfs_open(&x);
	uint64_t named = tfs_make(&x, x.root, "named", S_IFREG | 0644, 5000, 1);
	/* Named by nothing: a file with data, a directory holding a file. */
	uint64_t lostf = tfs_make(&x, x.root, NULL, S_IFREG | 0644, 3 * 4096 + 100, 2);
	uint64_t lostd = tfs_make(&x, x.root, NULL, S_IFDIR | 0755, 0, 0);
	struct sfs_inode *d;
	ck_assert_int_eq(inode_get(x.fs, lostd, &d), 0);
	uint64_t inner = tfs_make(&x, d, "inner", S_IFREG | 0600, 9000, 3);
	inode_put(x.fs, d);
	tfs_close(&x);
	struct fsck_result r;
	ck_assert_int_eq(run_keep(false, &r), FSCK_EXIT_ERRORS);
	ck_assert_uint_eq(r.errors, 2);
	ck_assert_ptr_nonnull(strstr(msgs, "is named by no directory"));
	ck_assert_int_eq(run_keep(true, &r), FSCK_EXIT_REPAIRED);
	ck_assert_ptr_nonnull(strstr(msgs, "/lost+found created"));
	char want[128];
	snprintf(want, sizeof(want), "reconnected as /lost+found/#%llu", (unsigned long long)lostf);
	ck_assert_ptr_nonnull(strstr(msgs, want));
	ck_assert_int_eq(run_keep(false, &r), FSCK_EXIT_CLEAN);
	ck_assert_uint_eq(r.inodes, 6);
	/* Names, data, '..' and link counts. */
	tfs_open(&x);
	uint64_t lf = lookup(&x, x.root->ino, "lost+found");
	ck_assert_uint_ne(lf, 0);
	char nm[32];
	snprintf(nm, sizeof(nm), "#%llu", (unsigned long long)lostf);
	ck_assert_uint_eq(lookup(&x, lf, nm), lostf);
	snprintf(nm, sizeof(nm), "#%llu", (unsigned long long)lostd);
	ck_assert_uint_eq(lookup(&x, lf, nm), lostd);
	ck_assert_uint_eq(lookup(&x, lostd, ".."), lf);
	ck_assert_uint_eq(lookup(&x, lostd, "inner"), inner);
	ck_assert_uint_eq(lookup(&x, x.root->ino, "named"), named);
	tfs_check_data(&x, named, 5000, 1);
	tfs_check_data(&x, lostf, 3 * 4096 + 100, 2);
	tfs_check_data(&x, inner, 9000, 3);
	ck_assert_uint_eq(x.root->nlink, 3);
	/* Another lost file goes into the lost+found that exists now. */
	uint64_t again = tfs_make(&x, x.root, NULL, S_IFREG | 0644, 100, 4);
	tfs_close(&x);
	ck_assert_uint_eq(read_inode(lf).nlink, 3);
	ck_assert_uint_eq(read_inode(lostf).nlink, 1);
	ck_assert_int_eq(run_keep(false, &r), FSCK_EXIT_ERRORS);
	ck_assert_int_eq(run_keep(true, &r), FSCK_EXIT_REPAIRED);
	ck_assert_ptr_null(strstr(msgs, "created"));
	ck_assert_int_eq(run_keep(false, &r), FSCK_EXIT_CLEAN);
	tfs_open(&x);
	snprintf(nm, sizeof(nm), "#%llu", (unsigned long long)again);
	ck_assert_uint_eq(lookup(&x, lf, nm), again);
	tfs_check_data(&x, again, 100, 4);
	tfs_close(&x);
}
END_TEST

START_TEST(lost_file_with_nlink_0_not_orphan)
{
	/* Unlinked, on no orphan list, named by nothing, with the orphan flag
	 * (a node listed it in memory only, its orphan blocks full, and
	 * crashed before the last close): freed, as its orphan list would
	 * have had it freed, not brought back in lost+found. Without the flag
	 * (damage: the engine never writes one) and for a directory (it may
	 * name more): reconnected in lost+found with what they hold. */
	struct fsck_result r;
	ck_assert_int_eq(run(false, &r), FSCK_EXIT_CLEAN);
	uint64_t free0 = r.free_blocks;
	struct tfs x;
	tfs_open(&x);
	uint64_t f = tfs_make(&x, x.root, NULL, S_IFREG | 0644, 5 * 4096, 5);
	tfs_close(&x);
	make_unlinked(f, true);
	ck_assert_int_eq(run_keep(false, &r), FSCK_EXIT_ERRORS);
	ck_assert_uint_eq(r.errors, 1);
	char want[160];
	snprintf(want, sizeof(want),
		 "inode %llu: unlinked (link count 0), named by nothing and on no orphan list",
		 (unsigned long long)f);
	ck_assert_ptr_nonnull(strstr(msgs, want));
	ck_assert_int_eq(run_keep(true, &r), FSCK_EXIT_REPAIRED);
	snprintf(want, sizeof(want),
		 "inode %llu: unlinked (link count 0) and on no orphan list; freed",
		 (unsigned long long)f);
	ck_assert_ptr_nonnull(strstr(msgs, want));
	ck_assert_ptr_null(strstr(msgs, "lost+found"));
	ck_assert_int_eq(run_keep(false, &r), FSCK_EXIT_CLEAN);
	ck_assert_uint_eq(r.free_blocks, free0);
	ck_assert_uint_eq(r.inodes, 1);
	/* No flag, and a directory with the flag: lost+found. */
	tfs_open(&x);
	uint64_t h = tfs_make(&x, x.root, NULL, S_IFREG | 0644, 4096, 7);
	uint64_t d = tfs_make(&x, x.root, NULL, S_IFDIR | 0755, 0, 0);
	tfs_close(&x);
	make_unlinked(h, false);
	make_unlinked(d, true);
	ck_assert_int_eq(run_keep(false, &r), FSCK_EXIT_ERRORS);
	ck_assert_int_eq(run_keep(true, &r), FSCK_EXIT_REPAIRED);
	ck_assert_ptr_null(strstr(msgs, "freed"));
	/* The directory is named now: its orphan mark goes (a later rmdir
	 * would otherwise not list it, and its free would stop the journal). */
	snprintf(want, sizeof(want),
		 "inode %llu: marked as an orphan but on no orphan list; mark cleared",
		 (unsigned long long)d);
	ck_assert_ptr_nonnull(strstr(msgs, want));
	ck_assert_int_eq(run_keep(false, &r), FSCK_EXIT_CLEAN);
	ck_assert_uint_eq(read_inode(h).nlink, 1);
	ck_assert_uint_eq(read_inode(d).nlink, 2);
	ck_assert_uint_eq(read_inode(d).lflags & INODE_LF_ORPHAN, 0);
	tfs_open(&x);
	tfs_check_data(&x, h, 4096, 7);
	/* Link count 0 but named (on no orphan list): raised to its names. */
	uint64_t g = tfs_make(&x, x.root, "named0", S_IFREG | 0644, 100, 6);
	tfs_close(&x);
	patch_inode(g, 0, UINT64_MAX);
	ck_assert_int_eq(run_keep(false, &r), FSCK_EXIT_ERRORS);
	ck_assert_int_eq(run_keep(true, &r), FSCK_EXIT_REPAIRED);
	ck_assert_ptr_nonnull(strstr(msgs, "link count 0, should be 1; corrected"));
	ck_assert_int_eq(run_keep(false, &r), FSCK_EXIT_CLEAN);
	ck_assert_uint_eq(read_inode(g).nlink, 1);
	tfs_open(&x);
	tfs_check_data(&x, g, 100, 6);
	tfs_close(&x);
}
END_TEST

/* Corrupt inode block named by an entry: entry removed, inode and the
 * blocks only it used freed; a corrupt directory's children reconnected. */
static void corrupt_named(bool magic)
{
	struct fsck_result r;
	ck_assert_int_eq(run(false, &r), FSCK_EXIT_CLEAN);
	uint64_t free0 = r.free_blocks;
	struct tfs x;
	tfs_open(&x);
	uint64_t keepf = tfs_make(&x, x.root, "keep", S_IFREG | 0644, 2 * 4096, 6);
	uint64_t victim = tfs_make(&x, x.root, "victim", S_IFREG | 0644, 3 * 4096, 7);
	uint64_t sub = tfs_make(&x, x.root, "sub", S_IFDIR | 0755, 0, 0);
	struct sfs_inode *d;
	ck_assert_int_eq(inode_get(x.fs, sub, &d), 0);
	uint64_t child = tfs_make(&x, d, "child", S_IFREG | 0644, 4096 + 1, 8);
	inode_put(x.fs, d);
	tfs_close(&x);
	ck_assert_int_eq(run(false, &r), FSCK_EXIT_CLEAN);
	uint64_t free1 = r.free_blocks;
	static uint8_t blk[4096];
	uint64_t bad[2] = {victim, sub};
	for (int i = 0; i < 2; i++) {
		timg_peek(img, bad[i], blk);
		if (magic)
			memset(blk, 0xA5, 8); /* the header's magic */
		else
			blk[300 + i] ^= 0x40; /* a payload byte: crc no longer matches */
		timg_poke(img, bad[i], blk);
	}
	ck_assert_int_eq(run_keep(false, &r), FSCK_EXIT_ERRORS);
	ck_assert_int_eq(run_keep(true, &r), FSCK_EXIT_REPAIRED);
	char want[160];
	snprintf(want, sizeof(want),
		 "entry 'victim' named %llu, which is not a valid inode; entry removed",
		 (unsigned long long)victim);
	ck_assert_ptr_nonnull(strstr(msgs, want));
	snprintf(want, sizeof(want), "inode %llu: corrupt, cleared", (unsigned long long)victim);
	ck_assert_ptr_nonnull(strstr(msgs, want));
	ck_assert_ptr_nonnull(strstr(msgs, "referenced by nothing; freed"));
	ck_assert_int_eq(run_keep(false, &r), FSCK_EXIT_CLEAN);
	/* Freed: victim's inode and 3 data blocks, sub's inode and its tree
	 * (one node); taken: lost+found's inode and tree (one node). */
	ck_assert_uint_eq(r.free_blocks, free1 + (1 + 3) + (1 + 1) - 2);
	ck_assert_uint_lt(r.free_blocks, free0);
	tfs_open(&x);
	ck_assert_uint_eq(lookup(&x, x.root->ino, "victim"), 0);
	ck_assert_uint_eq(lookup(&x, x.root->ino, "sub"), 0);
	ck_assert_uint_eq(lookup(&x, x.root->ino, "keep"), keepf);
	tfs_check_data(&x, keepf, 2 * 4096, 6);
	uint64_t lf = lookup(&x, x.root->ino, "lost+found");
	ck_assert_uint_ne(lf, 0);
	char nm[32];
	snprintf(nm, sizeof(nm), "#%llu", (unsigned long long)child);
	ck_assert_uint_eq(lookup(&x, lf, nm), child);
	tfs_check_data(&x, child, 4096 + 1, 8);
	ck_assert_uint_eq(x.root->nlink, 3); /* lost+found; sub is gone */
	tfs_close(&x);
}

START_TEST(corrupt_inode_crc)
{
	corrupt_named(false);
}
END_TEST

START_TEST(corrupt_inode_magic)
{
	corrupt_named(true);
}
END_TEST

START_TEST(st_blocks_fixed)
{
	struct tfs x;
	tfs_open(&x);
	uint64_t f = tfs_make(&x, x.root, "f", S_IFREG | 0644, 5 * 4096, 9);
	tfs_close(&x);
	struct fsck_result r;
	ck_assert_int_eq(run(false, &r), FSCK_EXIT_CLEAN);
	ck_assert_uint_eq(read_inode(f).blocks, 40);
	uint64_t wrong[2] = {8, 800};
	for (int i = 0; i < 2; i++) {
		patch_inode(f, UINT32_MAX, wrong[i]);
		ck_assert_int_eq(run_keep(false, &r), FSCK_EXIT_ERRORS);
		ck_assert_ptr_nonnull(strstr(msgs, "st_blocks"));
		ck_assert_int_eq(run_keep(true, &r), FSCK_EXIT_REPAIRED);
		ck_assert_int_eq(run_keep(false, &r), FSCK_EXIT_CLEAN);
		ck_assert_uint_eq(read_inode(f).blocks, 40);
	}
	tfs_open(&x);
	tfs_check_data(&x, f, 5 * 4096, 9);
	tfs_close(&x);
}
END_TEST

/* A tree with every kind of block hanging off inodes: a directory of many
 * entries (several tree nodes), nested directories, a file with its extents
 * in a tree, an xattr block, a symlink block, unnamed inodes. */
static void populate(void)
{
	struct tfs x;
	tfs_open(&x);
	uint64_t a = tfs_make(&x, x.root, "a", S_IFDIR | 0755, 0, 0);
	struct sfs_inode *da;
	ck_assert_int_eq(inode_get(x.fs, a, &da), 0);
	for (int i = 0; i < 120; i++) {
		char nm[80];
		snprintf(nm, sizeof(nm), "a-rather-long-name-to-fill-directory-blocks-%03d", i);
		tfs_make(&x, da, nm, S_IFREG | 0644, i % 3 ? 0 : 100, (unsigned)i);
	}
	uint64_t b = tfs_make(&x, da, "b", S_IFDIR | 0755, 0, 0);
	inode_put(x.fs, da);
	struct sfs_inode *db;
	ck_assert_int_eq(inode_get(x.fs, b, &db), 0);
	tfs_make(&x, db, "data", S_IFREG | 0644, 6 * 4096, 11);
	inode_put(x.fs, db);
	/* 60 one-block extents with holes between: an extent tree. */
	uint64_t frag = tfs_make(&x, x.root, "frag", S_IFREG | 0644, 0, 0);
	struct sfs_inode *ip;
	ck_assert_int_eq(inode_get(x.fs, frag, &ip), 0);
	static uint8_t blk[4096];
	memset(blk, 0x5a, sizeof(blk));
	for (int i = 0; i < 60; i++) {
		size_t done;
		ck_assert_int_eq(file_write(x.fs, ip, blk, 4096, (uint64_t)i * 2 * 4096, &done), 0);
	}
	static char big[3000];
	memset(big, 'v', sizeof(big));
	ck_assert_int_eq(xattr_set(x.fs, ip, "user.big", big, sizeof(big), 0), 0);
	inode_put(x.fs, ip);
	/* A long symlink target: a symlink block. */
	struct txn *t;
	ck_assert_int_eq(txn_begin(x.fs, tfs_txn() + symlink_max_blocks(), &t), 0);
	ck_assert_int_eq(inode_create(x.fs, t, x.root, S_IFLNK | 0777, 0, 0, 0, &ip), 0);
	static char target[2000];
	memset(target, 't', sizeof(target) - 1);
	ck_assert_int_eq(symlink_set(x.fs, t, ip, target, strlen(target)), 0);
	ck_assert_int_eq(dir_add(x.fs, t, x.root, "link", 4, ip->ino, DT_LNK), 0);
	ck_assert_int_eq(inode_write(x.fs, t, x.root), 0);
	ck_assert_int_eq(txn_end(t, NULL), 0);
	inode_put(x.fs, ip);
	tfs_close(&x);
}

/* Corruptions of the blocks hanging off inodes (inode, tree, xattr and
 * symlink blocks) of a populated tree: a flipped byte (bad crc), a zeroed
 * block, random garbage, and random bytes under a valid crc (so the decoders
 * and walkers see them). fsck never crashes (ASan) and answers 0 or 4;
 * --repair answers 0, 1 or 4, and after a 1 a second fsck is clean. Prints
 * its seed (SANFS_TEST_SEED overrides). */
START_TEST(populated_corruptions)
{
	unsigned seed = (unsigned)time(NULL);
	if (getenv("SANFS_TEST_SEED"))
		seed = (unsigned)strtoul(getenv("SANFS_TEST_SEED"), NULL, 0);
	printf("test_fsck populated seed %u\n", seed);
	populate();
	struct fsck_result r;
	ck_assert_int_eq(run(false, &r), FSCK_EXIT_CLEAN);
	ck_assert_uint_ge(r.inodes, 120);
	/* The metadata blocks of the data area. */
	static uint64_t meta[4096];
	unsigned nmeta = 0;
	static uint8_t d[4096];
	int fd = open(img, O_RDONLY);
	for (uint64_t b = sb.ag_start; b < sb.blocks && nmeta < 4096; b++) {
		ck_assert_int_eq(pread(fd, d, 4096, (off_t)(b * 4096)), 4096);
		uint16_t ty = sfs_blk_type(d);
		if (le32_get(d) == SFS_MAGIC &&
		    (ty == SFS_BT_INODE || ty == SFS_BT_BTREE_NODE || ty == SFS_BT_DIRBLK ||
		     ty == SFS_BT_XATTR || ty == SFS_BT_SYMLINK))
			meta[nmeta++] = b;
	}
	close(fd);
	ck_assert_uint_ge(nmeta, 130);
	timg_create(pristine, "fsck-pristine", IMG_BYTES);
	copy_file(img, pristine);
	int detected = 0, repaired = 0, left = 0;
	for (int i = 0; i < 40; i++) {
		copy_file(pristine, img);
		uint64_t blk = meta[rand_r(&seed) % nmeta];
		/* Inodes first and often: most blocks are inode blocks. */
		int how = rand_r(&seed) % 4;
		timg_peek(img, blk, d);
		switch (how) {
		case 0:
			d[48 + rand_r(&seed) % (4096 - 48)] ^= (uint8_t)(1 + rand_r(&seed) % 255);
			break;
		case 1:
			memset(d, 0, sizeof(d));
			break;
		case 2:
			for (size_t k = 0; k < sizeof(d); k++)
				d[k] = (uint8_t)rand_r(&seed);
			break;
		default:
			for (int k = 0; k < 8; k++)
				d[48 + rand_r(&seed) % (4096 - 48)] = (uint8_t)rand_r(&seed);
			sfs_blk_reseal(d);
			break;
		}
		timg_poke(img, blk, d);
		fprintf(stderr, "-- block %llu, corruption %d\n", (unsigned long long)blk, how);
		int ec = run(false, &r);
		ck_assert(ec == FSCK_EXIT_CLEAN || ec == FSCK_EXIT_ERRORS);
		/* Every block carries a crc: only bytes changed under a valid
		 * one, in an area no field uses, can pass. */
		ck_assert_msg(ec == FSCK_EXIT_ERRORS || how == 3,
			      "seed %u block %llu corruption %d not detected", seed,
			      (unsigned long long)blk, how);
		if (ec == FSCK_EXIT_ERRORS)
			detected++;
		ec = run(true, &r);
		ck_assert(ec == FSCK_EXIT_CLEAN || ec == FSCK_EXIT_REPAIRED ||
			  ec == FSCK_EXIT_ERRORS);
		if (ec == FSCK_EXIT_ERRORS)
			left++;
		if (ec == FSCK_EXIT_REPAIRED) {
			ck_assert_msg(run(false, &r) == FSCK_EXIT_CLEAN,
				      "seed %u block %llu corruption %d: repaired, yet a second "
				      "run finds %u error(s)",
				      seed, (unsigned long long)blk, how, r.errors);
			repaired++;
		}
	}
	printf("test_fsck: populated: %d of 40 corruptions detected, %d repaired clean, %d "
	       "left with errors\n",
	       detected, repaired, left);
	ck_assert_int_ge(detected, 20);
	ck_assert_int_ge(repaired, 20);
}
END_TEST

static uint64_t count_entries_cb_n;
static int count_cb(void *arg, const char *name, size_t len, uint64_t ino, uint8_t dtype,
		    uint64_t next)
{
	(void)arg, (void)name, (void)len, (void)ino, (void)dtype, (void)next;
	count_entries_cb_n++;
	return 0;
}

/* Entries of a directory, "." and ".." excluded. */
static uint64_t count_entries(struct tfs *x, uint64_t dir_ino)
{
	struct sfs_inode *dir;
	ck_assert_int_eq(inode_get(x->fs, dir_ino, &dir), 0);
	count_entries_cb_n = 0;
	ck_assert_int_eq(dir_iterate(x->fs, dir, 0, count_cb, NULL), 0);
	inode_put(x->fs, dir);
	return count_entries_cb_n - 2;
}

static uint64_t in_lost_found(struct tfs *x, uint64_t ino)
{
	uint64_t lf = lookup(x, x->root->ino, "lost+found");
	ck_assert_uint_ne(lf, 0);
	char nm[32];
	snprintf(nm, sizeof(nm), "#%llu", (unsigned long long)ino);
	return lookup(x, lf, nm);
}

/* A directory tree node destroyed: the directory is emptied, every inode it
 * named is reconnected, data intact. */
START_TEST(dir_tree_corrupt)
{
	struct tfs x;
	tfs_open(&x);
	uint64_t a = tfs_make(&x, x.root, "a", S_IFDIR | 0755, 0, 0);
	struct sfs_inode *da;
	ck_assert_int_eq(inode_get(x.fs, a, &da), 0);
	static uint64_t inos[100];
	for (int i = 0; i < 100; i++) {
		char nm[80];
		snprintf(nm, sizeof(nm), "a-rather-long-name-to-fill-directory-blocks-%03d", i);
		inos[i] = tfs_make(&x, da, nm, S_IFREG | 0644, i % 10 ? 0 : 5000, (unsigned)i);
	}
	inode_put(x.fs, da);
	uint64_t sub = tfs_make(&x, x.root, "keep", S_IFREG | 0644, 100, 77);
	tfs_close(&x);
	struct fsck_result r;
	ck_assert_int_eq(run(false, &r), FSCK_EXIT_CLEAN);
	struct sfs_inode ia = read_inode(a);
	ck_assert_uint_ge(ia.fork.nnodes, 2);
	static uint8_t d[4096];
	memset(d, 0x33, sizeof(d));
	timg_poke(img, ia.fork.root, d);
	ck_assert_int_eq(run_keep(false, &r), FSCK_EXIT_ERRORS);
	ck_assert_int_eq(run_keep(true, &r), FSCK_EXIT_REPAIRED);
	ck_assert_ptr_nonnull(strstr(msgs, "tree corrupt; emptied"));
	ck_assert_int_eq(run_keep(false, &r), FSCK_EXIT_CLEAN);
	tfs_open(&x);
	ck_assert_uint_eq(count_entries(&x, a), 0);
	for (int i = 0; i < 100; i++) {
		ck_assert_uint_eq(in_lost_found(&x, inos[i]), inos[i]);
		if (i % 10 == 0)
			tfs_check_data(&x, inos[i], 5000, (unsigned)i);
	}
	ck_assert_uint_eq(count_entries(&x, lookup(&x, x.root->ino, "lost+found")), 100);
	ck_assert_uint_eq(lookup(&x, x.root->ino, "keep"), sub);
	tfs_check_data(&x, sub, 100, 77);
	tfs_close(&x);
}
END_TEST

/* The root inode block destroyed: made anew, what it named reconnected. */
START_TEST(root_corrupt)
{
	struct tfs x;
	tfs_open(&x);
	uint64_t f = tfs_make(&x, x.root, "f", S_IFREG | 0644, 7000, 21);
	uint64_t dd = tfs_make(&x, x.root, "d", S_IFDIR | 0755, 0, 0);
	struct sfs_inode *dip;
	ck_assert_int_eq(inode_get(x.fs, dd, &dip), 0);
	uint64_t y = tfs_make(&x, dip, "y", S_IFREG | 0644, 3000, 22);
	inode_put(x.fs, dip);
	tfs_close(&x);
	static uint8_t d[4096];
	timg_peek(img, sb.root_ino, d);
	d[200] ^= 0xff;
	timg_poke(img, sb.root_ino, d);
	struct fsck_result r;
	ck_assert_int_eq(run_keep(false, &r), FSCK_EXIT_ERRORS);
	ck_assert_int_eq(run_keep(true, &r), FSCK_EXIT_REPAIRED);
	ck_assert_ptr_nonnull(strstr(msgs, "made anew"));
	ck_assert_int_eq(run_keep(false, &r), FSCK_EXIT_CLEAN);
	tfs_open(&x);
	ck_assert_uint_eq(in_lost_found(&x, f), f);
	ck_assert_uint_eq(in_lost_found(&x, dd), dd);
	ck_assert_uint_eq(lookup(&x, dd, ".."), lookup(&x, x.root->ino, "lost+found"));
	ck_assert_uint_eq(lookup(&x, dd, "y"), y);
	tfs_check_data(&x, f, 7000, 21);
	tfs_check_data(&x, y, 3000, 22);
	tfs_close(&x);
}
END_TEST

/* Blocks hanging off a valid inode: a corrupt xattr block is dropped (the
 * file stays, data intact); a symlink whose target block is corrupt is
 * cleared and its entry removed; a record whose name no longer matches its
 * key is removed and the inode it named reconnected. */
START_TEST(side_blocks_and_records)
{
	struct tfs x;
	tfs_open(&x);
	uint64_t f = tfs_make(&x, x.root, "withxattr", S_IFREG | 0644, 4096 * 2, 31);
	struct sfs_inode *ip;
	ck_assert_int_eq(inode_get(x.fs, f, &ip), 0);
	static char big[3000];
	memset(big, 'v', sizeof(big));
	ck_assert_int_eq(xattr_set(x.fs, ip, "user.big", big, sizeof(big), 0), 0);
	uint64_t xblk = ip->xattr_blk;
	inode_put(x.fs, ip);
	ck_assert_uint_ne(xblk, 0);
	struct txn *t;
	ck_assert_int_eq(txn_begin(x.fs, tfs_txn() + symlink_max_blocks(), &t), 0);
	ck_assert_int_eq(inode_create(x.fs, t, x.root, S_IFLNK | 0777, 0, 0, 0, &ip), 0);
	static char target[2000];
	memset(target, 't', sizeof(target) - 1);
	ck_assert_int_eq(symlink_set(x.fs, t, ip, target, strlen(target)), 0);
	ck_assert_int_eq(dir_add(x.fs, t, x.root, "link", 4, ip->ino, DT_LNK), 0);
	ck_assert_int_eq(inode_write(x.fs, t, x.root), 0);
	ck_assert_int_eq(txn_end(t, NULL), 0);
	uint64_t sblk = ip->symlink_blk;
	inode_put(x.fs, ip);
	ck_assert_uint_ne(sblk, 0);
	uint64_t v = tfs_make(&x, x.root, "victim-name", S_IFREG | 0644, 1234, 32);
	tfs_close(&x);
	struct fsck_result r;
	ck_assert_int_eq(run(false, &r), FSCK_EXIT_CLEAN);
	static uint8_t d[4096];
	timg_peek(img, xblk, d);
	d[100] ^= 1;
	timg_poke(img, xblk, d);
	timg_peek(img, sblk, d);
	d[100] ^= 1;
	timg_poke(img, sblk, d);
	/* The root's tree is one leaf: change a byte of the name, reseal. */
	uint64_t leaf = read_inode(sb.root_ino).fork.root;
	timg_peek(img, leaf, d);
	uint8_t *at = memmem(d, sizeof(d), "victim-name", 11);
	ck_assert_ptr_nonnull(at);
	at[7] = 'b';
	sfs_blk_reseal(d);
	timg_poke(img, leaf, d);
	ck_assert_int_eq(run_keep(false, &r), FSCK_EXIT_ERRORS);
	ck_assert_ptr_nonnull(strstr(msgs, "corrupt entry"));
	ck_assert_int_eq(run_keep(true, &r), FSCK_EXIT_REPAIRED);
	ck_assert_ptr_nonnull(strstr(msgs, "dropped (the attributes it held are lost)"));
	ck_assert_ptr_nonnull(strstr(msgs, "entry 'link' named"));
	ck_assert_ptr_nonnull(strstr(msgs, "corrupt entry (key"));
	ck_assert_int_eq(run_keep(false, &r), FSCK_EXIT_CLEAN);
	tfs_open(&x);
	ck_assert_uint_eq(lookup(&x, x.root->ino, "withxattr"), f);
	tfs_check_data(&x, f, 4096 * 2, 31);
	ck_assert_uint_eq(lookup(&x, x.root->ino, "link"), 0);
	ck_assert_uint_eq(in_lost_found(&x, v), v);
	tfs_check_data(&x, v, 1234, 32);
	ck_assert_uint_eq(read_inode(f).xattr_blk, 0);
	tfs_close(&x);
}
END_TEST

/* An xattr run of several blocks: fsck reads every block and the entries
 * across them. A middle block claiming another place in the run, an entry
 * whose namespace is bad, a name both inline and in the run (all resealed,
 * so only the content checks see them) are errors; the repair drops the run
 * and frees its blocks. */
START_TEST(xattr_run_checked)
{
	for (int round = 0; round < 3; round++) {
		struct tfs x;
		tfs_open(&x);
		char fname[8];
		snprintf(fname, sizeof(fname), "run%d", round);
		uint64_t f = tfs_make(&x, x.root, fname, S_IFREG | 0644, 4096, 33);
		struct sfs_inode *ip;
		ck_assert_int_eq(inode_get(x.fs, f, &ip), 0);
		static char big[20000];
		memset(big, 'r', sizeof(big));
		ck_assert_int_eq(xattr_set(x.fs, ip, "user.small", "kept", 4, 0), 0);
		ck_assert_int_eq(xattr_set(x.fs, ip, "user.bxg", "inline", 6, 0), 0);
		ck_assert_int_eq(xattr_set(x.fs, ip, "user.big", big, sizeof(big), 0), 0);
		uint64_t xblk = ip->xattr_blk;
		unsigned n = ip->xattr_nblk;
		inode_put(x.fs, ip);
		ck_assert_uint_eq(n, 5);
		tfs_close(&x);
		struct fsck_result r;
		ck_assert_int_eq(run(false, &r), FSCK_EXIT_CLEAN);
		static uint8_t d[4096];
		if (round == 0) {
			timg_peek(img, xblk + 2, d);
			d[XATTR_BLK_INDEX_OFF] = 3;
			sfs_blk_reseal(d);
			timg_poke(img, xblk + 2, d);
		} else if (round == 2) {
			/* The inline "user.bxg" renamed "user.big": a name in both. */
			timg_peek(img, f, d);
			uint8_t *at = memmem(d + INODE_XATTR_OFF, INODE_XATTR_SIZE, "bxg", 3);
			ck_assert_ptr_nonnull(at);
			at[1] = 'i';
			sfs_blk_reseal(d);
			timg_poke(img, f, d);
		} else {
			/* The entry starts in block 0: its namespace byte. */
			timg_peek(img, xblk, d);
			uint8_t *at = memmem(d + XATTR_BLK_ENTRIES_OFF, 4032, "big", 3);
			ck_assert_ptr_nonnull(at);
			at[-XATTR_ENT_HDR] = 9;
			sfs_blk_reseal(d);
			timg_poke(img, xblk, d);
		}
		ck_assert_int_eq(run_keep(false, &r), FSCK_EXIT_ERRORS);
		ck_assert_ptr_nonnull(strstr(msgs, "xattr run"));
		ck_assert_int_eq(run_keep(true, &r), FSCK_EXIT_REPAIRED);
		ck_assert_ptr_nonnull(strstr(msgs, "dropped (the attributes it held are lost)"));
		ck_assert_int_eq(run_keep(false, &r), FSCK_EXIT_CLEAN);
		struct sfs_inode in = read_inode(f);
		ck_assert_uint_eq(in.xattr_blk, 0);
		ck_assert_uint_eq(in.xattr_nblk, 0);
		ck_assert_uint_eq(in.blocks, 8);
		tfs_open(&x);
		tfs_check_data(&x, f, 4096, 33);
		ck_assert_int_eq(inode_get(x.fs, f, &ip), 0);
		char v[8];
		size_t vl;
		ck_assert_int_eq(xattr_get(x.fs, ip, "user.small", v, sizeof(v), &vl), 0);
		if (round < 2)
			ck_assert_int_eq(xattr_get(x.fs, ip, "user.big", NULL, 0, &vl), -ENODATA);
		else
			ck_assert_int_eq(xattr_get(x.fs, ip, "user.big", v, sizeof(v), &vl), 0);
		inode_put(x.fs, ip);
		tfs_close(&x);
	}
}
END_TEST

/* Directory structure: an entry of the wrong type is retyped, a '..' that
 * disagrees with the directory's name is pointed at it, a second name of a
 * directory is removed (the one its '..' agrees with stays), a cycle of
 * directories cut from the root is broken and reconnected in /lost+found. */
START_TEST(structure_repairs)
{
	struct tfs x;
	tfs_open(&x);
	struct txn *t;
	uint64_t f = tfs_make(&x, x.root, NULL, S_IFREG | 0644, 500, 51);
	ck_assert_int_eq(txn_begin(x.fs, tfs_txn(), &t), 0);
	ck_assert_int_eq(dir_add(x.fs, t, x.root, "f", 1, f, DT_FIFO), 0);
	ck_assert_int_eq(inode_write(x.fs, t, x.root), 0);
	ck_assert_int_eq(txn_end(t, NULL), 0);
	uint64_t d1 = tfs_make(&x, x.root, "d1", S_IFDIR | 0755, 0, 0);
	uint64_t d2 = tfs_make(&x, x.root, "d2", S_IFDIR | 0755, 0, 0);
	uint64_t e = tfs_make(&x, x.root, "e", S_IFDIR | 0755, 0, 0);
	uint64_t ca = tfs_make(&x, x.root, "ca", S_IFDIR | 0755, 0, 0);
	struct sfs_inode *i1, *i2, *ia, *ib;
	ck_assert_int_eq(inode_get(x.fs, d1, &i1), 0);
	ck_assert_int_eq(inode_get(x.fs, d2, &i2), 0);
	ck_assert_int_eq(inode_get(x.fs, ca, &ia), 0);
	uint64_t cb = tfs_make(&x, ia, "cb", S_IFDIR | 0755, 0, 0);
	uint64_t inner = tfs_make(&x, ia, "inner", S_IFREG | 0644, 700, 52);
	ck_assert_int_eq(inode_get(x.fs, cb, &ib), 0);
	ck_assert_int_eq(txn_begin(x.fs, tfs_txn(), &t), 0);
	/* d2's '..' says d1. */
	ck_assert_int_eq(dir_set(x.fs, t, i2, "..", 2, d1, DT_DIR), 0);
	ck_assert_int_eq(inode_write(x.fs, t, i2), 0);
	ck_assert_int_eq(txn_end(t, NULL), 0);
	ck_assert_int_eq(txn_begin(x.fs, tfs_txn(), &t), 0);
	/* e also named in d1. */
	ck_assert_int_eq(dir_add(x.fs, t, i1, "e-again", 7, e, DT_DIR), 0);
	ck_assert_int_eq(inode_write(x.fs, t, i1), 0);
	ck_assert_int_eq(txn_end(t, NULL), 0);
	/* ca leaves the root and is named in cb, its own child. */
	ck_assert_int_eq(txn_begin(x.fs, tfs_txn(), &t), 0);
	ck_assert_int_eq(dir_remove(x.fs, t, x.root, "ca", 2, NULL), 0);
	x.root->nlink--;
	ck_assert_int_eq(inode_write(x.fs, t, x.root), 0);
	ck_assert_int_eq(txn_end(t, NULL), 0);
	ck_assert_int_eq(txn_begin(x.fs, tfs_txn(), &t), 0);
	ck_assert_int_eq(dir_add(x.fs, t, ib, "loop", 4, ca, DT_DIR), 0);
	ck_assert_int_eq(inode_write(x.fs, t, ib), 0);
	ck_assert_int_eq(dir_set(x.fs, t, ia, "..", 2, cb, DT_DIR), 0);
	ck_assert_int_eq(inode_write(x.fs, t, ia), 0);
	ck_assert_int_eq(txn_end(t, NULL), 0);
	inode_put(x.fs, i1);
	inode_put(x.fs, i2);
	inode_put(x.fs, ia);
	inode_put(x.fs, ib);
	tfs_close(&x);
	struct fsck_result r;
	ck_assert_int_eq(run_keep(false, &r), FSCK_EXIT_ERRORS);
	ck_assert_ptr_nonnull(strstr(msgs, "has type"));
	ck_assert_ptr_nonnull(strstr(msgs, "its '..' says"));
	ck_assert_ptr_nonnull(strstr(msgs, "more than one name"));
	ck_assert_ptr_nonnull(strstr(msgs, "cycle of directories cut from the root"));
	ck_assert_int_eq(run_keep(true, &r), FSCK_EXIT_REPAIRED);
	ck_assert_ptr_nonnull(strstr(msgs, "had the wrong type"));
	ck_assert_ptr_nonnull(strstr(msgs, "was a second name of directory"));
	ck_assert_ptr_nonnull(strstr(msgs, "closed a cycle"));
	ck_assert_int_eq(run_keep(false, &r), FSCK_EXIT_CLEAN);
	tfs_open(&x);
	struct sfs_inode *root = x.root;
	uint64_t ino;
	uint8_t dt;
	ck_assert_int_eq(dir_lookup(x.fs, root, "f", 1, &ino, &dt), 0);
	ck_assert_uint_eq(ino, f);
	ck_assert_uint_eq(dt, DT_REG);
	tfs_check_data(&x, f, 500, 51);
	ck_assert_uint_eq(lookup(&x, d2, ".."), sb.root_ino);
	ck_assert_uint_eq(lookup(&x, d1, "e-again"), 0);
	ck_assert_uint_eq(lookup(&x, x.root->ino, "e"), e);
	ck_assert_uint_eq(lookup(&x, cb, "loop"), 0);
	ck_assert_uint_eq(in_lost_found(&x, ca), ca);
	ck_assert_uint_eq(lookup(&x, ca, ".."), lookup(&x, x.root->ino, "lost+found"));
	ck_assert_uint_eq(lookup(&x, ca, "cb"), cb);
	ck_assert_uint_eq(lookup(&x, cb, ".."), ca);
	tfs_check_data(&x, inner, 700, 52);
	tfs_close(&x);
	ck_assert_uint_eq(read_inode(d1).nlink, 2);
	ck_assert_uint_eq(read_inode(cb).nlink, 2);
}
END_TEST

/* ---- blocks referenced twice ---- */

/* Inline extent i of inode ino as the image holds it. */
static struct sfs_extent read_extent(uint64_t ino, unsigned i)
{
	static uint8_t d[4096];
	timg_peek(img, ino, d);
	struct sfs_inode x;
	memset(&x, 0, sizeof(x));
	ck_assert_int_eq(inode_block_decode(d, sb.uuid, ino, &x), 0);
	ck_assert_uint_lt(i, x.niext);
	struct sfs_extent e = x.iext[i];
	inode_decoded_release(&x);
	return e;
}

/* Point inline extent i of inode ino at device block pblk, behind the
 * filesystem's back (block resealed). */
static void patch_extent(uint64_t ino, unsigned i, uint64_t pblk)
{
	static uint8_t d[4096];
	timg_peek(img, ino, d);
	struct sfs_inode x;
	memset(&x, 0, sizeof(x));
	ck_assert_int_eq(inode_block_decode(d, sb.uuid, ino, &x), 0);
	ck_assert_uint_lt(i, x.niext);
	x.iext[i].pblk = pblk;
	inode_encode(&x, d);
	inode_decoded_release(&x);
	sfs_blk_reseal(d);
	timg_poke(img, ino, d);
}

/* Replace the inline extents of inode ino by v[0..n) (block resealed). */
static void patch_extents(uint64_t ino, const struct sfs_extent *v, unsigned n)
{
	static uint8_t d[4096];
	timg_peek(img, ino, d);
	struct sfs_inode x;
	memset(&x, 0, sizeof(x));
	ck_assert_int_eq(inode_block_decode(d, sb.uuid, ino, &x), 0);
	ck_assert_ptr_nonnull(x.iext);
	ck_assert_uint_le(n, INODE_INLINE_EXT);
	memcpy(x.iext, v, n * sizeof(*v));
	x.niext = (uint16_t)n;
	inode_encode(&x, d);
	inode_decoded_release(&x);
	sfs_blk_reseal(d);
	timg_poke(img, ino, d);
}

/* ino's bytes [off, off+len) are zeros. */
static void tfs_check_zeros(struct tfs *x, uint64_t ino, uint64_t off, size_t len)
{
	struct sfs_inode *ip;
	ck_assert_int_eq(inode_get(x->fs, ino, &ip), 0);
	uint8_t *buf = malloc(len);
	size_t done;
	ck_assert_int_eq(file_read(x->fs, ip, buf, len, off, &done), 0);
	ck_assert_uint_eq(done, len);
	for (size_t i = 0; i < len; i++)
		ck_assert_msg(buf[i] == 0, "inode %llu byte %llu", (unsigned long long)ino,
			      (unsigned long long)(off + i));
	free(buf);
	inode_put(x->fs, ip);
}

/* ino's bytes [off, off+len) are those pattern wrote at the same offset. */
static void tfs_check_range(struct tfs *x, uint64_t ino, uint64_t off, size_t len, unsigned pattern,
			    uint64_t pat_off)
{
	struct sfs_inode *ip;
	ck_assert_int_eq(inode_get(x->fs, ino, &ip), 0);
	uint8_t *buf = malloc(len);
	size_t done;
	ck_assert_int_eq(file_read(x->fs, ip, buf, len, off, &done), 0);
	ck_assert_uint_eq(done, len);
	for (size_t i = 0; i < len; i++)
		ck_assert_msg(buf[i] == (uint8_t)((pat_off + i) * 7 + pattern),
			      "inode %llu byte %llu", (unsigned long long)ino,
			      (unsigned long long)(off + i));
	free(buf);
	inode_put(x->fs, ip);
}

static void tfs_write(struct tfs *x, uint64_t ino, uint64_t off, const void *p, size_t len)
{
	struct sfs_inode *ip;
	ck_assert_int_eq(inode_get(x->fs, ino, &ip), 0);
	size_t done;
	ck_assert_int_eq(file_write(x->fs, ip, p, len, off, &done), 0);
	ck_assert_uint_eq(done, len);
	inode_put(x->fs, ip);
}

static bool has_msg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static bool has_msg(const char *fmt, ...)
{
	char want[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(want, sizeof(want), fmt, ap);
	va_end(ap);
	return strstr(msgs, want) != NULL;
}

/* Two more files pointed into the first's blocks: the first (lowest inode)
 * keeps them, each other gets a private copy holding the shared content, and
 * a write to one no longer shows in the others. */
START_TEST(dup_data_cloned)
{
	struct tfs x;
	tfs_open(&x);
	uint64_t a = tfs_make(&x, x.root, "a", S_IFREG | 0644, 3 * 4096, 61);
	uint64_t b = tfs_make(&x, x.root, "b", S_IFREG | 0644, 3 * 4096, 62);
	uint64_t c = tfs_make(&x, x.root, "c", S_IFREG | 0644, 3 * 4096, 63);
	tfs_close(&x);
	ck_assert(a < b && b < c);
	struct fsck_result r;
	ck_assert_int_eq(run(false, &r), FSCK_EXIT_CLEAN);
	uint64_t free0 = r.free_blocks;
	struct sfs_extent ea = read_extent(a, 0);
	ck_assert_uint_eq(ea.len, 3);
	patch_extent(b, 0, ea.pblk);
	patch_extent(c, 0, ea.pblk);
	ck_assert_int_eq(run_keep(false, &r), FSCK_EXIT_ERRORS);
	ck_assert(has_msg("block %llu referenced twice", (unsigned long long)ea.pblk));
	ck_assert_int_eq(run_keep(true, &r), FSCK_EXIT_REPAIRED);
	ck_assert_uint_eq(r.errors, 0);
	struct sfs_extent eb = read_extent(b, 0), ec = read_extent(c, 0);
	ck_assert(has_msg("3:inode %llu: blocks %llu+3 (file block 0) shared with inode %llu; "
			  "copied to %llu+3\n",
			  (unsigned long long)b, (unsigned long long)ea.pblk, (unsigned long long)a,
			  (unsigned long long)eb.pblk));
	ck_assert(has_msg("3:inode %llu: blocks %llu+3 (file block 0) shared with inode %llu; "
			  "copied to %llu+3\n",
			  (unsigned long long)c, (unsigned long long)ea.pblk, (unsigned long long)a,
			  (unsigned long long)ec.pblk));
	/* b's and c's own blocks, referenced by nothing since the patch. */
	ck_assert_ptr_nonnull(strstr(msgs, "referenced by nothing; freed"));
	ck_assert_int_eq(run_keep(false, &r), FSCK_EXIT_CLEAN);
	/* Six blocks freed, six copies taken. */
	ck_assert_uint_eq(r.free_blocks, free0);
	ck_assert_uint_eq(read_extent(a, 0).pblk, ea.pblk);
	ck_assert_uint_eq(eb.len, 3);
	ck_assert_uint_eq(ec.len, 3);
	ck_assert(eb.pblk + 3 <= ea.pblk || eb.pblk >= ea.pblk + 3);
	ck_assert(ec.pblk + 3 <= ea.pblk || ec.pblk >= ea.pblk + 3);
	ck_assert(ec.pblk + 3 <= eb.pblk || ec.pblk >= eb.pblk + 3);
	ck_assert_uint_eq(read_inode(b).blocks, 24);
	tfs_open(&x);
	tfs_check_data(&x, a, 3 * 4096, 61);
	tfs_check_data(&x, b, 3 * 4096, 61);
	tfs_check_data(&x, c, 3 * 4096, 61);
	static uint8_t z[5000];
	memset(z, 0xEE, sizeof(z));
	tfs_write(&x, b, 1000, z, sizeof(z));
	tfs_check_data(&x, a, 3 * 4096, 61);
	tfs_check_data(&x, c, 3 * 4096, 61);
	tfs_close(&x);
	ck_assert_int_eq(run_keep(false, &r), FSCK_EXIT_CLEAN);
	ck_assert_uint_eq(r.free_blocks, free0);
}
END_TEST

/* The keeper takes one block from the middle of a later file's extent: that
 * extent is split around a copy of the block, the rest stays where it was. */
START_TEST(dup_data_split)
{
	struct tfs x;
	tfs_open(&x);
	uint64_t a = tfs_make(&x, x.root, "a", S_IFREG | 0644, 4096, 64);
	uint64_t b = tfs_make(&x, x.root, "b", S_IFREG | 0644, 4 * 4096, 65);
	tfs_close(&x);
	struct fsck_result r;
	ck_assert_int_eq(run(false, &r), FSCK_EXIT_CLEAN);
	uint64_t free0 = r.free_blocks;
	struct sfs_extent eb = read_extent(b, 0);
	ck_assert_uint_eq(eb.len, 4);
	patch_extent(a, 0, eb.pblk + 1);
	ck_assert_int_eq(run_keep(false, &r), FSCK_EXIT_ERRORS);
	ck_assert_int_eq(run_keep(true, &r), FSCK_EXIT_REPAIRED);
	ck_assert_uint_eq(r.errors, 0);
	ck_assert(has_msg("3:inode %llu: blocks %llu+1 (file block 1) shared with inode %llu; "
			  "copied to ",
			  (unsigned long long)b, (unsigned long long)eb.pblk + 1,
			  (unsigned long long)a));
	ck_assert_int_eq(run_keep(false, &r), FSCK_EXIT_CLEAN);
	ck_assert_uint_eq(r.free_blocks, free0); /* a's own block freed, one copy */
	ck_assert_uint_eq(read_extent(a, 0).pblk, eb.pblk + 1);
	struct sfs_extent b0 = read_extent(b, 0), b1 = read_extent(b, 1), b2 = read_extent(b, 2);
	ck_assert_uint_eq(b0.pblk, eb.pblk);
	ck_assert_uint_eq(b0.len, 1);
	ck_assert_uint_eq(b1.lblk, 1);
	ck_assert_uint_eq(b1.len, 1);
	ck_assert(b1.pblk < eb.pblk || b1.pblk >= eb.pblk + 4);
	ck_assert_uint_eq(b2.lblk, 2);
	ck_assert_uint_eq(b2.pblk, eb.pblk + 2);
	ck_assert_uint_eq(b2.len, 2);
	tfs_open(&x);
	tfs_check_data(&x, b, 4 * 4096, 65);
	/* a reads what b holds at that block. */
	tfs_check_range(&x, a, 0, 4096, 65, 4096);
	static uint8_t z[4096];
	memset(z, 0x11, sizeof(z));
	tfs_write(&x, a, 0, z, sizeof(z));
	tfs_check_data(&x, b, 4 * 4096, 65);
	tfs_close(&x);
	ck_assert_int_eq(run_keep(false, &r), FSCK_EXIT_CLEAN);
}
END_TEST

/* The file that gives up a block keeps its extents in a B+tree: the copy
 * goes through the tree like any extent change. */
START_TEST(dup_data_tree)
{
	struct tfs x;
	tfs_open(&x);
	uint64_t a = tfs_make(&x, x.root, "a", S_IFREG | 0644, 4096, 91);
	uint64_t t = tfs_make(&x, x.root, "sparse", S_IFREG | 0644, 0, 0);
	static uint8_t blk[4096];
	for (unsigned i = 0; i < 50; i++) {
		for (size_t k = 0; k < sizeof(blk); k++)
			blk[k] = (uint8_t)((2 * i * 4096 + k) * 7 + 92);
		tfs_write(&x, t, 2ull * i * 4096, blk, sizeof(blk));
	}
	/* Where the tree maps file block 20. */
	struct sfs_inode *ip;
	ck_assert_int_eq(inode_get(x.fs, t, &ip), 0);
	struct sfs_extent e;
	ck_assert_int_eq(extent_find(x.fs, ip, 20, &e), 0);
	inode_put(x.fs, ip);
	tfs_close(&x);
	ck_assert_uint_eq(e.lblk, 20);
	ck_assert_uint_ne(read_inode(t).fork.root, 0);
	struct fsck_result r;
	ck_assert_int_eq(run(false, &r), FSCK_EXIT_CLEAN);
	uint64_t free0 = r.free_blocks;
	patch_extent(a, 0, e.pblk);
	ck_assert_int_eq(run_keep(true, &r), FSCK_EXIT_REPAIRED);
	ck_assert_uint_eq(r.errors, 0);
	ck_assert(has_msg("3:inode %llu: blocks %llu+1 (file block 20) shared with inode %llu; "
			  "copied to ",
			  (unsigned long long)t, (unsigned long long)e.pblk,
			  (unsigned long long)a));
	ck_assert_int_eq(run_keep(false, &r), FSCK_EXIT_CLEAN);
	ck_assert_uint_eq(r.free_blocks, free0);
	ck_assert_uint_ne(read_inode(t).fork.root, 0);
	ck_assert_uint_eq(read_inode(t).blocks, 8 * 50 + 8 * read_inode(t).fork.nnodes);
	tfs_open(&x);
	for (unsigned i = 0; i < 50; i++)
		tfs_check_range(&x, t, 2ull * i * 4096, 4096, 92, 2ull * i * 4096);
	tfs_check_range(&x, a, 0, 4096, 92, 20 * 4096);
	ck_assert_int_eq(inode_get(x.fs, t, &ip), 0);
	struct sfs_extent e2;
	ck_assert_int_eq(extent_find(x.fs, ip, 20, &e2), 0);
	inode_put(x.fs, ip);
	ck_assert_uint_eq(e2.lblk, 20);
	ck_assert_uint_ne(e2.pblk, e.pblk);
	memset(blk, 0x5A, sizeof(blk));
	tfs_write(&x, a, 0, blk, sizeof(blk));
	tfs_check_range(&x, t, 20 * 4096, 4096, 92, 20 * 4096);
	tfs_close(&x);
	ck_assert_int_eq(run_keep(false, &r), FSCK_EXIT_CLEAN);
}
END_TEST

/* One file naming its own block twice keeps it for its first extent and
 * copies it for the second; a shared run longer than one copy handle
 * (DUP_COPY_MAX, 256 blocks) is copied in pieces, one line each. */
START_TEST(dup_within_one_file_and_long_run)
{
	struct tfs x;
	tfs_open(&x);
	uint64_t s1 = tfs_make(&x, x.root, "self", S_IFREG | 0644, 2 * 4096, 93);
	uint64_t a = tfs_make(&x, x.root, "a", S_IFREG | 0644, 300 * 4096, 94);
	uint64_t b = tfs_make(&x, x.root, "b", S_IFREG | 0644, 300 * 4096, 95);
	tfs_close(&x);
	struct fsck_result r;
	ck_assert_int_eq(run(false, &r), FSCK_EXIT_CLEAN);
	uint64_t free0 = r.free_blocks;
	struct sfs_extent es = read_extent(s1, 0), ea = read_extent(a, 0);
	ck_assert_uint_eq(es.len, 2);
	ck_assert_uint_eq(ea.len, 300);
	struct sfs_extent vs[2] = {{.lblk = 0, .pblk = es.pblk, .len = 1},
				   {.lblk = 1, .pblk = es.pblk, .len = 1}};
	patch_extents(s1, vs, 2);
	patch_extent(b, 0, ea.pblk);
	ck_assert_int_eq(run_keep(true, &r), FSCK_EXIT_REPAIRED);
	ck_assert_uint_eq(r.errors, 0);
	ck_assert(has_msg("3:inode %llu: blocks %llu+1 (file block 1) shared with inode %llu; "
			  "copied to ",
			  (unsigned long long)s1, (unsigned long long)es.pblk,
			  (unsigned long long)s1));
	ck_assert(has_msg("3:inode %llu: blocks %llu+256 (file block 0) shared with inode %llu; "
			  "copied to ",
			  (unsigned long long)b, (unsigned long long)ea.pblk,
			  (unsigned long long)a));
	ck_assert(has_msg("3:inode %llu: blocks %llu+44 (file block 256) shared with inode "
			  "%llu; copied to ",
			  (unsigned long long)b, (unsigned long long)(ea.pblk + 256),
			  (unsigned long long)a));
	ck_assert_int_eq(run_keep(false, &r), FSCK_EXIT_CLEAN);
	ck_assert_uint_eq(r.free_blocks, free0);
	ck_assert_uint_eq(read_extent(s1, 0).pblk, es.pblk);
	ck_assert_uint_ne(read_extent(s1, 1).pblk, es.pblk);
	tfs_open(&x);
	/* Both of self's blocks hold its first block's bytes. */
	tfs_check_range(&x, s1, 0, 4096, 93, 0);
	tfs_check_range(&x, s1, 4096, 4096, 93, 0);
	tfs_check_data(&x, a, 300 * 4096, 94);
	tfs_check_data(&x, b, 300 * 4096, 94);
	static uint8_t z[4096];
	memset(z, 0x3C, sizeof(z));
	tfs_write(&x, b, 299 * 4096, z, sizeof(z));
	tfs_write(&x, s1, 4096, z, sizeof(z));
	tfs_check_data(&x, a, 300 * 4096, 94);
	tfs_check_range(&x, s1, 0, 4096, 93, 0);
	tfs_close(&x);
	ck_assert_int_eq(run_keep(false, &r), FSCK_EXIT_CLEAN);
}
END_TEST

/* A file extent on a directory tree node, an extent tree node and an xattr
 * block: each metadata owner keeps its block, intact; the file's range is
 * unmapped (reads zeros, size kept) rather than given a copy of another
 * inode's metadata (fs/INTERNALS.md). */
START_TEST(dup_data_on_metadata)
{
	struct tfs x;
	tfs_open(&x);
	uint64_t d = tfs_make(&x, x.root, "d", S_IFDIR | 0755, 0, 0);
	struct sfs_inode *dip;
	ck_assert_int_eq(inode_get(x.fs, d, &dip), 0);
	uint64_t in_d[8];
	for (int i = 0; i < 8; i++) {
		char nm[16];
		snprintf(nm, sizeof(nm), "n%d", i);
		in_d[i] = tfs_make(&x, dip, nm, S_IFREG | 0644, 0, 0);
	}
	inode_put(x.fs, dip);
	/* 50 one-block extents apart: an extent tree. */
	uint64_t t = tfs_make(&x, x.root, "sparse", S_IFREG | 0644, 0, 0);
	static uint8_t blk[4096];
	for (unsigned i = 0; i < 50; i++) {
		for (size_t k = 0; k < sizeof(blk); k++)
			blk[k] = (uint8_t)((2 * i * 4096 + k) * 7 + 66);
		tfs_write(&x, t, 2ull * i * 4096, blk, sizeof(blk));
	}
	uint64_t xf = tfs_make(&x, x.root, "xa", S_IFREG | 0644, 100, 67);
	struct sfs_inode *ip;
	ck_assert_int_eq(inode_get(x.fs, xf, &ip), 0);
	static char big[3000];
	memset(big, 'v', sizeof(big));
	ck_assert_int_eq(xattr_set(x.fs, ip, "user.big", big, sizeof(big), 0), 0);
	uint64_t xblk = ip->xattr_blk;
	inode_put(x.fs, ip);
	uint64_t f[3];
	for (int i = 0; i < 3; i++) {
		char nm[16];
		snprintf(nm, sizeof(nm), "f%d", i);
		f[i] = tfs_make(&x, x.root, nm, S_IFREG | 0644, 2 * 4096, 68 + (unsigned)i);
	}
	tfs_close(&x);
	struct fsck_result r;
	ck_assert_int_eq(run(false, &r), FSCK_EXIT_CLEAN);
	uint64_t free0 = r.free_blocks;
	uint64_t dnode = read_inode(d).fork.root, tnode = read_inode(t).fork.root;
	ck_assert_uint_ne(dnode, 0);
	ck_assert_uint_ne(tnode, 0);
	ck_assert_uint_ne(xblk, 0);
	/* Each f's second block onto one metadata block: the first stays. */
	uint64_t meta[3] = {dnode, tnode, xblk};
	const char *what[3] = {"directory tree node", "extent tree node", "xattr block"};
	uint64_t owner[3] = {d, t, xf};
	static uint8_t before[3][4096];
	for (int i = 0; i < 3; i++) {
		timg_peek(img, meta[i], before[i]);
		struct sfs_extent e = read_extent(f[i], 0);
		ck_assert_uint_eq(e.len, 2);
		/* Split the file's extent in two so only block 1 moves. */
		struct sfs_extent v[2] = {{.lblk = 0, .pblk = e.pblk, .len = 1},
					  {.lblk = 1, .pblk = meta[i], .len = 1}};
		patch_extents(f[i], v, 2);
	}
	ck_assert_int_eq(run_keep(false, &r), FSCK_EXIT_ERRORS);
	ck_assert_int_eq(run_keep(true, &r), FSCK_EXIT_REPAIRED);
	ck_assert_uint_eq(r.errors, 0);
	for (int i = 0; i < 3; i++)
		ck_assert(has_msg("3:inode %llu: blocks %llu+1 (file block 1) are the %s of inode "
				  "%llu, which keeps them; unmapped from the file (it reads zeros "
				  "there)\n",
				  (unsigned long long)f[i], (unsigned long long)meta[i], what[i],
				  (unsigned long long)owner[i]));
	ck_assert_int_eq(run_keep(false, &r), FSCK_EXIT_CLEAN);
	/* Each f's own second block freed; nothing allocated. */
	ck_assert_uint_eq(r.free_blocks, free0 + 3);
	static uint8_t now[4096];
	for (int i = 0; i < 3; i++) {
		timg_peek(img, meta[i], now);
		ck_assert_mem_eq(now, before[i], sizeof(now));
		ck_assert_uint_eq(read_inode(f[i]).blocks, 8);
		ck_assert_uint_eq(read_inode(f[i]).size, 2 * 4096);
	}
	tfs_open(&x);
	for (int i = 0; i < 8; i++) {
		char nm[16];
		snprintf(nm, sizeof(nm), "n%d", i);
		ck_assert_uint_eq(lookup(&x, d, nm), in_d[i]);
	}
	for (unsigned i = 0; i < 50; i++)
		tfs_check_range(&x, t, 2ull * i * 4096, 4096, 66, 2ull * i * 4096);
	ck_assert_int_eq(inode_get(x.fs, xf, &ip), 0);
	static char got[3000];
	size_t len;
	ck_assert_int_eq(xattr_get(x.fs, ip, "user.big", got, sizeof(got), &len), 0);
	ck_assert_uint_eq(len, sizeof(big));
	ck_assert_mem_eq(got, big, sizeof(big));
	inode_put(x.fs, ip);
	for (int i = 0; i < 3; i++) {
		tfs_check_range(&x, f[i], 0, 4096, 68 + (unsigned)i, 0);
		tfs_check_zeros(&x, f[i], 4096, 4096);
	}
	tfs_close(&x);
}
END_TEST

/* File extents on filesystem metadata outside the inodes (an AG's header and
 * bitmaps, a slot's journal): the runs on metadata are unmapped from the
 * file, the metadata untouched; the file and its other blocks stay. */
/* An unlinked inode to free that also claims a block another inode holds
 * (its extent on g's inode block): the claim is settled first (unmapped:
 * metadata keeps its block), then the inode is freed in a later round, and
 * g's inode block stays allocated. Freeing first would fail on that block
 * and try again in every round. */
START_TEST(unlinked_sharing_a_block)
{
	struct tfs x;
	tfs_open(&x);
	uint64_t g = tfs_make(&x, x.root, "g", S_IFREG | 0644, 4096, 80);
	uint64_t u = tfs_make(&x, x.root, NULL, S_IFREG | 0644, 2 * 4096, 81);
	tfs_close(&x);
	struct sfs_extent e = read_extent(u, 0);
	ck_assert_uint_eq(e.len, 2);
	struct sfs_extent v[2] = {{.lblk = 0, .pblk = e.pblk, .len = 1},
				  {.lblk = 1, .pblk = g, .len = 1}};
	patch_extents(u, v, 2);
	make_unlinked(u, true);
	struct fsck_result r;
	ck_assert_int_eq(run_keep(false, &r), FSCK_EXIT_ERRORS);
	ck_assert_int_eq(run_keep(true, &r), FSCK_EXIT_REPAIRED);
	ck_assert_ptr_nonnull(strstr(msgs, "unmapped from the file"));
	char want[160];
	snprintf(want, sizeof(want),
		 "inode %llu: unlinked (link count 0) and on no orphan list; freed",
		 (unsigned long long)u);
	ck_assert_ptr_nonnull(strstr(msgs, want));
	ck_assert_ptr_null(strstr(msgs, "not freed"));
	ck_assert_ptr_null(strstr(msgs, "failed"));
	ck_assert_int_eq(run_keep(false, &r), FSCK_EXIT_CLEAN);
	ck_assert_uint_eq(r.inodes, 2);
	tfs_open(&x);
	ck_assert_uint_eq(lookup(&x, x.root->ino, "g"), g);
	tfs_check_data(&x, g, 4096, 80);
	tfs_close(&x);
}
END_TEST

START_TEST(extent_on_fs_metadata)
{
	struct tfs x;
	tfs_open(&x);
	uint64_t f = tfs_make(&x, x.root, "f", S_IFREG | 0644, 3 * 4096, 81);
	uint64_t g = tfs_make(&x, x.root, "g", S_IFREG | 0644, 6 * 4096, 82);
	uint64_t h = tfs_make(&x, x.root, "h", S_IFREG | 0644, 2 * 4096, 83);
	tfs_close(&x);
	struct fsck_result r;
	ck_assert_int_eq(run(false, &r), FSCK_EXIT_CLEAN);
	uint64_t free0 = r.free_blocks;
	ck_assert_uint_ge(sb.ag_count, 3);
	uint32_t meta = sfs_ag_meta_blocks(&sb);
	uint64_t ag1 = sfs_ag_base(&sb, 1), ag2 = sfs_ag_base(&sb, 2);
	uint64_t jr = sfs_slot_journal(&sb, 1); /* slot 1: nothing mounts it */
	ck_assert_uint_ge(meta, 2);
	/* f: all of AG 1's metadata; g: AG 2's last two metadata blocks and
	 * the two data blocks after them, then two blocks of slot 1's journal. */
	struct sfs_extent vf[1] = {{.lblk = 0, .pblk = ag1, .len = meta}};
	struct sfs_extent vg[2] = {{.lblk = 0, .pblk = ag2 + meta - 2, .len = 4},
				   {.lblk = 4, .pblk = jr, .len = 2}};
	static uint8_t before[16][4096];
	ck_assert_uint_le(meta + 2, 16);
	for (uint32_t i = 0; i < meta; i++)
		timg_peek(img, ag1 + i, before[i]);
	for (uint32_t i = 0; i < 2; i++)
		timg_peek(img, jr + i, before[meta + i]);
	patch_extents(f, vf, 1);
	patch_extents(g, vg, 2);
	ck_assert_int_eq(run_keep(false, &r), FSCK_EXIT_ERRORS);
	ck_assert(has_msg("2:inode %llu: extent blocks %llu+%u (file block 0) are AG 1's header "
			  "and bitmaps\n",
			  (unsigned long long)f, (unsigned long long)ag1, meta));
	ck_assert_int_eq(run_keep(true, &r), FSCK_EXIT_REPAIRED);
	ck_assert_uint_eq(r.errors, 0);
	ck_assert(has_msg("3:inode %llu: extent blocks %llu+%u (file block 0) are AG 1's header "
			  "and bitmaps; unmapped from the file (it reads zeros there)\n",
			  (unsigned long long)f, (unsigned long long)ag1, meta));
	ck_assert(has_msg("3:inode %llu: extent blocks %llu+2 (file block 0) are AG 2's header "
			  "and bitmaps; unmapped",
			  (unsigned long long)g, (unsigned long long)(ag2 + meta - 2)));
	ck_assert(has_msg("3:inode %llu: extent blocks %llu+2 (file block 4) are filesystem "
			  "metadata before the first AG (superblocks, slots, journals); unmapped",
			  (unsigned long long)g, (unsigned long long)jr));
	ck_assert_ptr_null(strstr(msgs, "cleared"));
	ck_assert_int_eq(run_keep(false, &r), FSCK_EXIT_CLEAN);
	/* f's 3 and g's 6 blocks freed; g holds AG 2's first two data blocks. */
	ck_assert_uint_eq(r.free_blocks, free0 + 3 + 6 - 2);
	static uint8_t now[4096];
	for (uint32_t i = 0; i < meta; i++) {
		timg_peek(img, ag1 + i, now);
		ck_assert_mem_eq(now, before[i], sizeof(now));
	}
	for (uint32_t i = 0; i < 2; i++) {
		timg_peek(img, jr + i, now);
		ck_assert_mem_eq(now, before[meta + i], sizeof(now));
	}
	ck_assert_uint_eq(read_inode(f).blocks, 0);
	ck_assert_uint_eq(read_inode(f).size, 3 * 4096);
	ck_assert_uint_eq(read_inode(g).blocks, 16);
	struct sfs_extent g0 = read_extent(g, 0);
	ck_assert_uint_eq(g0.lblk, 2);
	ck_assert_uint_eq(g0.pblk, ag2 + meta);
	ck_assert_uint_eq(g0.len, 2);
	tfs_open(&x);
	tfs_check_zeros(&x, f, 0, 3 * 4096);
	tfs_check_zeros(&x, g, 0, 6 * 4096);
	tfs_check_data(&x, h, 2 * 4096, 83);
	tfs_close(&x);
}
END_TEST

/* No space for the copy: an INFO line, the error stays (exit 4). That run
 * frees the blocks the patch leaked, so the next repair has room. */
START_TEST(dup_no_space)
{
	struct tfs x;
	tfs_open(&x);
	uint64_t a = tfs_make(&x, x.root, "a", S_IFREG | 0644, 2 * 4096, 71);
	uint64_t b = tfs_make(&x, x.root, "b", S_IFREG | 0644, 2 * 4096, 72);
	uint64_t fill = tfs_make(&x, x.root, "fill", S_IFREG | 0644, 0, 0);
	struct sfs_inode *ip;
	ck_assert_int_eq(inode_get(x.fs, fill, &ip), 0);
	uint64_t off = 0, chunk = 4096;
	while (chunk) {
		int rc = file_fallocate(x.fs, ip, 0, off, chunk * 4096);
		if (rc == 0)
			off += chunk * 4096;
		else {
			ck_assert_int_eq(rc, -ENOSPC);
			chunk /= 2;
		}
	}
	inode_put(x.fs, ip);
	tfs_close(&x);
	struct fsck_result r;
	ck_assert_int_eq(run(false, &r), FSCK_EXIT_CLEAN);
	/* What is left is the allocator's reserve, which the repair (like any
	 * file data) does not take. */
	uint64_t reserve = r.free_blocks;
	ck_assert_uint_gt(reserve, 0);
	ck_assert_uint_lt(reserve, 200);
	struct sfs_extent ea = read_extent(a, 0);
	patch_extent(b, 0, ea.pblk);
	ck_assert_int_eq(run_keep(true, &r), FSCK_EXIT_ERRORS);
	ck_assert(has_msg("0:inode %llu: blocks %llu+2 shared with inode %llu not copied: no "
			  "space left for the copy\n",
			  (unsigned long long)b, (unsigned long long)ea.pblk,
			  (unsigned long long)a));
	ck_assert(has_msg("2:block %llu referenced twice", (unsigned long long)ea.pblk));
	ck_assert_uint_eq(read_extent(b, 0).pblk, ea.pblk);
	ck_assert_uint_eq(r.free_blocks, reserve + 2); /* b's own blocks, leaked by the patch */
	ck_assert_int_eq(run_keep(true, &r), FSCK_EXIT_REPAIRED);
	ck_assert(has_msg("3:inode %llu: blocks %llu+2 (file block 0) shared with inode %llu; "
			  "copied to ",
			  (unsigned long long)b, (unsigned long long)ea.pblk,
			  (unsigned long long)a));
	ck_assert_int_eq(run_keep(false, &r), FSCK_EXIT_CLEAN);
	ck_assert_uint_eq(r.free_blocks, reserve);
	tfs_open(&x);
	tfs_check_data(&x, a, 2 * 4096, 71);
	tfs_check_data(&x, b, 2 * 4096, 71);
	tfs_close(&x);
}
END_TEST

/* sanctl fsck as users run it (SANCTL names the built binary, meson sets
 * it): exit codes, one line per change, JSON, a clear one-line error on
 * garbage. */
static int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int sh(const char *fmt, ...)
{
	char cmd[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	int st = system(cmd);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

START_TEST(cli_repair_lost_found)
{
	const char *s = getenv("SANCTL");
	ck_assert_msg(s != NULL, "SANCTL is not set (meson sets it)");
	struct tfs x;
	tfs_open(&x);
	uint64_t lost = tfs_make(&x, x.root, NULL, S_IFREG | 0644, 10000, 41);
	tfs_close(&x);
	const char *q = ">/dev/null 2>&1";
	ck_assert_int_eq(sh("%s fsck %s %s", s, img, q), 4);
	ck_assert_int_eq(
	    sh("%s fsck %s | grep -qx 'error: inode %llu (link count 1) is named by no directory'",
	       s, img, (unsigned long long)lost),
	    0);
	ck_assert_int_eq(
	    sh("%s fsck --repair --json %s | python3 -c 'import json,sys; d=json.load(sys.stdin); "
	       "f=[m[\"text\"] for m in d[\"messages\"] if m[\"kind\"]==\"fixed\"]; "
	       "sys.exit(0 if d[\"exit_code\"]==1 and d[\"errors\"]==0 and "
	       "any(t.endswith(\"reconnected as /lost+found/#%llu\") for t in f) and "
	       "any(t.startswith(\"/lost+found created\") for t in f) else 1)'",
	       s, img, (unsigned long long)lost),
	    0);
	ck_assert_int_eq(sh("%s fsck %s | tail -1 | grep -q ': clean: 0 error'", s, img), 0);
	ck_assert_int_eq(sh("%s fsck %s %s", s, img, q), 0);
	tfs_open(&x);
	ck_assert_uint_eq(in_lost_found(&x, lost), lost);
	tfs_check_data(&x, lost, 10000, 41);
	tfs_close(&x);
	/* Garbage: one error line, then the summary; exit 4, never a crash. */
	int fd = open(img, O_WRONLY);
	static uint8_t junk[1 << 16];
	unsigned seed = 7;
	for (size_t i = 0; i < sizeof(junk); i++)
		junk[i] = (uint8_t)rand_r(&seed);
	for (off_t off = 0; off < (off_t)IMG_BYTES; off += sizeof(junk))
		ck_assert_int_eq(pwrite(fd, junk, sizeof(junk), off), (ssize_t)sizeof(junk));
	close(fd);
	ck_assert_int_eq(sh("%s fsck %s %s", s, img, q), 4);
	ck_assert_int_eq(sh("%s fsck --repair %s %s", s, img, q), 4);
	ck_assert_int_eq(
	    sh("%s fsck %s 2>/dev/null | grep -c '^error: no valid superblock' | grep -qx 1", s,
	       img),
	    0);
	ck_assert_int_eq(sh("%s fsck /nonexistent/dev %s", s, q), 8);
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
	tcase_add_test(tc, crashed_checked_as_replayed);
	tcase_add_test(tc, own_device_recovers_other_slots);
	tcase_add_test(tc, mounted_is_refused);
	tcase_add_test(tc, lost_found_reconnects);
	tcase_add_test(tc, lost_file_with_nlink_0_not_orphan);
	tcase_add_test(tc, corrupt_inode_crc);
	tcase_add_test(tc, corrupt_inode_magic);
	tcase_add_test(tc, st_blocks_fixed);
	tcase_add_test(tc, populated_corruptions);
	tcase_add_test(tc, dir_tree_corrupt);
	tcase_add_test(tc, root_corrupt);
	tcase_add_test(tc, side_blocks_and_records);
	tcase_add_test(tc, xattr_run_checked);
	tcase_add_test(tc, structure_repairs);
	tcase_add_test(tc, cli_repair_lost_found);
	tcase_add_test(tc, dup_data_cloned);
	tcase_add_test(tc, dup_data_split);
	tcase_add_test(tc, dup_data_tree);
	tcase_add_test(tc, dup_within_one_file_and_long_run);
	tcase_add_test(tc, dup_data_on_metadata);
	tcase_add_test(tc, dup_no_space);
	tcase_add_test(tc, extent_on_fs_metadata);
	tcase_add_test(tc, unlinked_sharing_a_block);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}

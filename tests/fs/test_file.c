/* File data on the real engine over an image file (fs/file.h): a randomized
 * test against an in-memory model, holes, unwritten extents, SEEK_DATA/HOLE,
 * 16 TiB sparse offsets, truncate, remount persistence, copy_file_range. */
#include <check.h>
#include <errno.h>
#include <linux/falloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "blockdev/bdev.h"
#include "common/log.h"
#include "fs/extent.h"
#include "fs/file.h"
#include "fs/inode.h"
#include "fs/inode_priv.h"
#include "fs/sfs.h"
#include "test_inode_util.h"

#define MiB (1ull << 20)
#define TiB (1ull << 40)

static struct tfs T;

static void setup(void)
{
	tfs_make(&T, 256 * MiB);
}

static void teardown(void)
{
	tfs_fsck(&T); /* no block leaked or used twice */
	tfs_destroy(&T);
}

static void wr(struct sfs_inode *ip, const void *buf, size_t len, uint64_t off)
{
	size_t done;
	int r = file_write(T.fs, ip, buf, len, off, &done);
	ck_assert_msg(r == 0, "write %zu at %llu: %d", len, (unsigned long long)off, r);
	ck_assert_uint_eq(done, len);
}

static void rd(struct sfs_inode *ip, void *buf, size_t len, uint64_t off, size_t expect)
{
	size_t done;
	int r = file_read(T.fs, ip, buf, len, off, &done);
	ck_assert_msg(r == 0, "read %zu at %llu: %d", len, (unsigned long long)off, r);
	ck_assert_uint_eq(done, expect);
}

static bool all_same(const uint8_t *p, uint8_t v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != v)
			return false;
	return true;
}

static bool all_zero(const uint8_t *p, size_t n)
{
	return all_same(p, 0, n);
}

START_TEST(basic_rw)
{
	struct sfs_inode *ip = tfs_new(&T, S_IFREG | 0644);
	uint8_t buf[3 * 4096 + 100], out[sizeof(buf) + 10];
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)(i * 7 + 1);
	wr(ip, buf, sizeof(buf), 1000); /* unaligned, spans 4 blocks */
	ck_assert_uint_eq(ip->size, 1000 + sizeof(buf));
	rd(ip, out, sizeof(out), 1000, sizeof(buf)); /* short at EOF */
	ck_assert_mem_eq(out, buf, sizeof(buf));
	rd(ip, out, 1000, 0, 1000); /* the head of block 0 reads as zeros */
	ck_assert(all_zero(out, 1000));
	rd(ip, out, 10, ip->size, 0);
	/* Overwrite in the middle of a block: read-modify-write. */
	wr(ip, "HELLO", 5, 4096 + 7);
	rd(ip, out, 20, 4096, 20);
	ck_assert_mem_eq(out + 7, "HELLO", 5);
	ck_assert_mem_eq(out, buf + 4096 - 1000, 7);
	ck_assert_mem_eq(out + 12, buf + 4096 - 1000 + 12, 8);
	ck_assert_uint_eq(ip->blocks, 4 * 8);
	ck_assert_uint_eq(extent_count(ip), 1); /* one allocation, one extent */
	/* Persistence across a clean unmount. */
	uint64_t ino = ip->ino;
	inode_put(T.fs, ip);
	tfs_umount(&T);
	tfs_mount(&T);
	ck_assert_int_eq(inode_get(T.fs, ino, &ip), 0);
	ck_assert_uint_eq(ip->size, 1000 + sizeof(buf));
	rd(ip, out, sizeof(buf), 1000, sizeof(buf));
	ck_assert_mem_eq(out + 4096 - 1000 + 7, "HELLO", 5);
	inode_put(T.fs, ip);
}
END_TEST

START_TEST(sequential_contiguous)
{
	struct sfs_inode *ip = tfs_new(&T, S_IFREG | 0644);
	uint8_t *buf = malloc(MiB);
	for (int i = 0; i < 8; i++) { /* 8 MiB in 1 MiB writes */
		memset(buf, 'a' + i, MiB);
		wr(ip, buf, MiB, (uint64_t)i * MiB);
	}
	/* Allocation near the previous extent: one extent, or a few at AG
	 * boundaries, never one per write. */
	ck_assert_uint_le(extent_count(ip), 2);
	rd(ip, buf, MiB, 5 * MiB, MiB);
	ck_assert(buf[0] == 'f' && buf[MiB - 1] == 'f');
	free(buf);
	inode_put(T.fs, ip);
}
END_TEST

START_TEST(sparse_16tib)
{
	struct sfs_inode *ip = tfs_new(&T, S_IFREG | 0644);
	uint64_t far = 16 * TiB - 4096;
	uint8_t out[8192];
	wr(ip, "start", 5, 0);
	wr(ip, "the end", 7, far + 100);
	ck_assert_uint_eq(ip->size, far + 107);
	ck_assert_uint_eq(ip->blocks, 2 * 8);
	rd(ip, out, 7, far + 100, 7);
	ck_assert_mem_eq(out, "the end", 7);
	rd(ip, out, 8192, 8 * TiB, 8192); /* a hole in the middle */
	ck_assert(all_zero(out, 8192));
	uint64_t pos;
	ck_assert_int_eq(file_seek_data_hole(T.fs, ip, 1, SEEK_DATA, &pos), 0);
	ck_assert_uint_eq(pos, 1);
	ck_assert_int_eq(file_seek_data_hole(T.fs, ip, 5, SEEK_HOLE, &pos), 0);
	ck_assert_uint_eq(pos, 4096);
	ck_assert_int_eq(file_seek_data_hole(T.fs, ip, 4096, SEEK_DATA, &pos), 0);
	ck_assert_uint_eq(pos, far);
	ck_assert_int_eq(file_seek_data_hole(T.fs, ip, far + 1, SEEK_HOLE, &pos), 0);
	ck_assert_uint_eq(pos, far + 107); /* the end of file is a hole */
	ck_assert_int_eq(file_seek_data_hole(T.fs, ip, far + 107, SEEK_DATA, &pos), -ENXIO);
	/* Past the largest size. */
	size_t done;
	ck_assert_int_eq(file_write(T.fs, ip, "x", 1, SFS_MAX_FILE_SIZE, &done), -EFBIG);
	ck_assert_int_eq(file_truncate(T.fs, ip, SFS_MAX_FILE_SIZE + 1), -EFBIG);
	uint64_t free0 = tfs_free_blocks(&T);
	ck_assert_int_eq(file_truncate(T.fs, ip, 3), 0);
	ck_assert_uint_eq(tfs_free_blocks(&T), free0 + 1);
	ck_assert_uint_eq(ip->blocks, 8);
	rd(ip, out, 10, 0, 3);
	ck_assert_mem_eq(out, "sta", 3);
	/* Growing again shows zeros past the old end, not the old bytes. */
	ck_assert_int_eq(file_truncate(T.fs, ip, 10), 0);
	rd(ip, out, 10, 0, 10);
	ck_assert_mem_eq(out, "sta\0\0\0\0\0\0\0", 10);
	inode_put(T.fs, ip);
}
END_TEST

START_TEST(extent_tree_overflow)
{
	struct sfs_inode *ip = tfs_new(&T, S_IFREG | 0644);
	uint8_t blk[4096];
	/* Every other block: 300 extents, far more than fit inline. */
	for (int i = 0; i < 300; i++) {
		memset(blk, i & 0xff, sizeof(blk));
		blk[0] = (uint8_t)(i >> 8);
		wr(ip, blk, sizeof(blk), (uint64_t)i * 2 * 4096);
	}
	ck_assert(ip->lflags & INODE_LF_EXT_TREE);
	ck_assert_uint_eq(extent_count(ip), 300);
	ck_assert_uint_eq(ip->blocks, (300 + ip->fork.nnodes) * 8);
	uint64_t ino = ip->ino;
	inode_put(T.fs, ip);
	tfs_umount(&T);
	tfs_mount(&T);
	ck_assert_int_eq(inode_get(T.fs, ino, &ip), 0);
	for (int i = 0; i < 300; i++) {
		rd(ip, blk, sizeof(blk), (uint64_t)i * 2 * 4096, sizeof(blk));
		ck_assert_uint_eq(blk[0], (uint8_t)(i >> 8));
		ck_assert_uint_eq(blk[1], (uint8_t)(i & 0xff));
		if (i < 299) {
			rd(ip, blk, sizeof(blk), (uint64_t)(i * 2 + 1) * 4096, sizeof(blk));
			ck_assert(all_zero(blk, sizeof(blk)));
		}
	}
	/* Truncating back below the inline limit returns to inline extents. */
	uint64_t free0 = tfs_free_blocks(&T);
	uint32_t nodes = ip->fork.nnodes;
	ck_assert_int_eq(file_truncate(T.fs, ip, 10 * 2 * 4096), 0);
	ck_assert_uint_eq(extent_count(ip), 10);
	ck_assert(!(ip->lflags & INODE_LF_EXT_TREE));
	ck_assert_uint_eq(ip->fork.root, 0);
	ck_assert_uint_eq(tfs_free_blocks(&T), free0 + 290 + nodes);
	ck_assert_uint_eq(ip->blocks, 10 * 8);
	inode_put(T.fs, ip);
}
END_TEST

START_TEST(fallocate_modes)
{
	struct sfs_inode *ip = tfs_new(&T, S_IFREG | 0644);
	uint8_t buf[16384], out[16384];
	memset(buf, 0xAB, sizeof(buf));
	wr(ip, buf, sizeof(buf), 0); /* blocks 0..3 */
	/* Preallocate past EOF keeping the size: unwritten, reads as zeros. */
	ck_assert_int_eq(file_fallocate(T.fs, ip, FALLOC_FL_KEEP_SIZE, 16384, 65536), 0);
	ck_assert_uint_eq(ip->size, 16384);
	ck_assert_uint_eq(ip->blocks, (4 + 16) * 8);
	/* Mode 0 grows the size. */
	ck_assert_int_eq(file_fallocate(T.fs, ip, 0, 16384, 8192), 0);
	ck_assert_uint_eq(ip->size, 16384 + 8192);
	rd(ip, out, 8192, 16384, 8192);
	ck_assert(all_zero(out, 8192));
	uint64_t pos;
	ck_assert_int_eq(file_seek_data_hole(T.fs, ip, 0, SEEK_HOLE, &pos), 0);
	ck_assert_uint_eq(pos, 16384); /* unwritten counts as a hole */
	/* Writing into unwritten space converts only what was written. */
	wr(ip, "xyz", 3, 16384 + 4096 + 10);
	rd(ip, out, 8192, 16384, 8192);
	ck_assert(all_zero(out, 4096 + 10));
	ck_assert_mem_eq(out + 4096 + 10, "xyz", 3);
	ck_assert(all_zero(out + 4096 + 13, 4096 - 13));
	ck_assert_int_eq(file_seek_data_hole(T.fs, ip, 16384, SEEK_DATA, &pos), 0);
	ck_assert_uint_eq(pos, 16384 + 4096);
	/* Punch: partial edges zeroed, whole blocks freed. */
	uint64_t b0 = ip->blocks;
	ck_assert_int_eq(
	    file_fallocate(T.fs, ip, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 100, 3 * 4096), 0);
	ck_assert_uint_eq(ip->blocks, b0 - 2 * 8); /* blocks 1 and 2 */
	rd(ip, out, 16384, 0, 16384);
	ck_assert(all_zero(out + 100, 3 * 4096));
	ck_assert_uint_eq(out[99], 0xAB);
	ck_assert_uint_eq(out[100 + 3 * 4096], 0xAB);
	ck_assert_int_eq(file_fallocate(T.fs, ip, FALLOC_FL_PUNCH_HOLE, 0, 4096), -EOPNOTSUPP);
	ck_assert_int_eq(file_fallocate(T.fs, ip, 0x100, 0, 4096), -EOPNOTSUPP);
	ck_assert_int_eq(file_fallocate(T.fs, ip, 0, 0, 0), -EINVAL);
	/* Zero range: reads as zeros, stays allocated, grows the size. */
	wr(ip, buf, sizeof(buf), 0);
	ck_assert_int_eq(file_fallocate(T.fs, ip, FALLOC_FL_ZERO_RANGE, 10, 200000), 0);
	ck_assert_uint_eq(ip->size, 200010);
	rd(ip, out, 16384, 0, 16384);
	ck_assert_uint_eq(out[9], 0xAB);
	ck_assert(all_zero(out + 10, 16384 - 10));
	ck_assert_uint_eq(ip->blocks, 49 * 8); /* blocks 0..48 all allocated */
	inode_put(T.fs, ip);
}
END_TEST

START_TEST(copy_range)
{
	struct sfs_inode *a = tfs_new(&T, S_IFREG | 0644);
	struct sfs_inode *b = tfs_new(&T, S_IFREG | 0644);
	uint8_t buf[8192], out[3 * 65536];
	memset(buf, 'Q', sizeof(buf));
	wr(a, buf, sizeof(buf), 0);
	wr(a, buf, sizeof(buf), 65536); /* a hole in between */
	memset(buf, 'Z', sizeof(buf));
	wr(b, buf, sizeof(buf), 20000); /* must become a hole in b */
	size_t done;
	ck_assert_int_eq(file_copy_range(T.fs, a, 0, b, 4096, 1 << 20, &done), 0);
	ck_assert_uint_eq(done, 65536 + 8192);
	ck_assert_uint_eq(b->size, 4096 + 65536 + 8192);
	rd(b, out, sizeof(out), 0, b->size);
	ck_assert(all_zero(out, 4096));
	ck_assert(out[4096] == 'Q' && out[4096 + 8191] == 'Q');
	ck_assert(all_zero(out + 4096 + 8192, 65536 - 8192));
	ck_assert(out[4096 + 65536] == 'Q');
	ck_assert_int_eq(file_copy_range(T.fs, a, 0, a, 100, 200, &done), -EINVAL);
	inode_put(T.fs, a);
	inode_put(T.fs, b);
}
END_TEST

/* Running out of space: a short write, then -ENOSPC, nothing leaked. */
START_TEST(enospc)
{
	uint64_t free0 = tfs_free_blocks(&T);
	struct sfs_inode *ip = tfs_new(&T, S_IFREG | 0644);
	uint8_t *buf = malloc(MiB);
	memset(buf, 7, MiB);
	uint64_t off = 0;
	size_t done = MiB;
	int r = 0;
	while (done == MiB) {
		r = file_write(T.fs, ip, buf, MiB, off, &done);
		ck_assert_int_eq(r, 0);
		off += done;
		ck_assert_uint_lt(off, 512 * MiB);
	}
	ck_assert_uint_gt(off, 200 * MiB); /* most of the 256 MiB device */
	r = file_write(T.fs, ip, buf, MiB, off, &done);
	ck_assert_int_eq(r, -ENOSPC);
	ck_assert_uint_eq(done, 0);
	ck_assert_uint_eq(ip->size, off);
	ck_assert_int_eq(file_fallocate(T.fs, ip, 0, off, MiB), -ENOSPC);
	/* The data is all there. */
	rd(ip, buf, MiB, off - MiB, MiB);
	ck_assert(buf[0] == 7 && buf[MiB - 1] == 7);
	ck_assert_int_eq(file_truncate(T.fs, ip, 0), 0);
	ck_assert_uint_eq(ip->blocks, 0);
	ck_assert_uint_eq(tfs_free_blocks(&T), free0 - 1);
	free(buf);
	inode_put(T.fs, ip);
}
END_TEST

/* Fill the filesystem with another file's data (the allocator's reserve is
 * all that is left); returns it, to be truncated by the caller. */
static struct sfs_inode *fill_up(uint8_t *buf)
{
	struct sfs_inode *fill = tfs_new(&T, S_IFREG | 0644);
	uint64_t off = 0;
	size_t done = MiB;
	while (file_write(T.fs, fill, buf, MiB, off, &done) == 0 && done > 0)
		off += done;
	return fill;
}

/* 42 inline extents (the most an inode holds) on a full filesystem: a punch
 * that splits one, and a write into the middle of a fallocated extent, need
 * a tree block. They get it from the reserve: both succeed and nothing of
 * the file is lost (they used to fail with ENOSPC after editing the inline
 * extents in memory, losing an extent). */
START_TEST(split_inline_extents_when_full)
{
	struct sfs_inode *ip = tfs_new(&T, S_IFREG | 0644);
	struct sfs_inode *jp = tfs_new(&T, S_IFREG | 0644);
	uint8_t *buf = malloc(MiB);
	memset(buf, 9, MiB);
	wr(ip, buf, 3 * 4096, 0); /* blocks 0-2: one extent */
	ck_assert_int_eq(file_fallocate(T.fs, jp, 0, 0, 3 * 4096), 0);
	for (int i = 0; i < 41; i++) {
		wr(ip, buf, 4096, (uint64_t)(4 + 2 * i) * 4096);
		wr(jp, buf, 4096, (uint64_t)(4 + 2 * i) * 4096);
	}
	ck_assert_uint_eq(extent_count(ip), 42);
	ck_assert_uint_eq(extent_count(jp), 42);
	struct sfs_inode *fill = fill_up(buf);
	ck_assert_int_eq(
	    file_fallocate(T.fs, ip, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 4096, 4096), 0);
	ck_assert_uint_eq(extent_count(ip), 43);
	uint8_t blk[4096];
	rd(ip, blk, 4096, 0, 4096);
	ck_assert_uint_eq(blk[0], 9);
	rd(ip, blk, 4096, 4096, 4096);
	ck_assert(all_zero(blk, 4096));
	rd(ip, blk, 4096, 2 * 4096, 4096);
	ck_assert_uint_eq(blk[4095], 9);
	memset(blk, 5, sizeof(blk));
	wr(jp, blk, 4096, 4096); /* unwritten 0-2 -> unwritten, written, unwritten */
	ck_assert_uint_eq(extent_count(jp), 44);
	rd(jp, blk, 4096, 0, 4096);
	ck_assert(all_zero(blk, 4096));
	rd(jp, blk, 4096, 4096, 4096);
	ck_assert_uint_eq(blk[0], 5);
	rd(jp, blk, 4096, 2 * 4096, 4096);
	ck_assert(all_zero(blk, 4096));
	for (int i = 0; i < 41; i++) {
		rd(ip, blk, 4096, (uint64_t)(4 + 2 * i) * 4096, 4096);
		ck_assert_uint_eq(blk[0], 9);
		rd(jp, blk, 4096, (uint64_t)(4 + 2 * i) * 4096, 4096);
		ck_assert_uint_eq(blk[0], 9);
	}
	ck_assert_int_eq(file_truncate(T.fs, fill, 0), 0);
	inode_put(T.fs, fill);
	inode_put(T.fs, jp);
	inode_put(T.fs, ip);
	free(buf);
}
END_TEST

/* Small appends keep a copy of the block they end in (file.c's tail copy):
 * 1,000 appends of 7 bytes read nothing from the device (every read fails
 * with EIO meanwhile), and the file is what was written, read back from
 * the device after a remount. */
START_TEST(appends_read_nothing)
{
	struct sfs_inode *ip = tfs_new(&T, S_IFREG | 0644);
	enum { N = 1000, L = 7 };
	uint8_t *m = malloc(N * L), *back = aligned_alloc(4096, 4 * 4096);
	for (int i = 0; i < N * L; i++)
		m[i] = (uint8_t)(i * 31 + 7);
	wr(ip, m, L, 0);
	struct bdev_fault f = {
	    .kind = BDEV_FAULT_EIO, .ops = BDEV_FAULT_READ, .off = 0, .len = 1ull << 40};
	ck_assert_int_eq(bdev_fault_add(T.fs->dev, &f), 0);
	for (int i = 1; i < N; i++)
		wr(ip, m + i * L, L, (uint64_t)i * L);
	ck_assert_uint_eq(bdev_fault_hits(T.fs->dev), 0);
	bdev_fault_clear(T.fs->dev);
	uint64_t ino = ip->ino;
	inode_put(T.fs, ip);
	tfs_umount(&T);
	tfs_mount(&T);
	ck_assert_int_eq(inode_get(T.fs, ino, &ip), 0);
	rd(ip, back, 4 * 4096, 0, N * L);
	ck_assert(memcmp(back, m, N * L) == 0);
	inode_put(T.fs, ip);
	free(m);
	free(back);
}
END_TEST

/* The copy is dropped with the inode's other cached state: when another
 * node changed the block (here: written on the device behind the inode's
 * back) and the inode was invalidated, the next small write merges with
 * what the device holds, not with the old copy. A punch inside the block
 * and a truncate into it keep the copy right as well. */
START_TEST(tail_copy_follows_the_device)
{
	struct sfs_inode *ip = tfs_new(&T, S_IFREG | 0644);
	uint64_t ino = ip->ino;
	uint8_t a[100], c[10], *blk = aligned_alloc(4096, 4096), *back = aligned_alloc(4096, 8192);
	memset(a, 'A', sizeof(a));
	memset(c, 'C', sizeof(c));
	wr(ip, a, sizeof(a), 0);
	struct sfs_extent x;
	ck_assert_int_eq(extent_find(T.fs, ip, 0, &x), 0);
	memset(blk, 'B', 4096);
	ck_assert_int_eq(bdev_write(T.fs->dev, x.pblk * 4096, blk, 4096), 0);
	inode_invalidate(T.fs, ino); /* in use: re-read in place */
	ck_assert_int_eq(inode_revalidate(T.fs, ip), 0);
	wr(ip, c, 5, 100);
	rd(ip, back, 8192, 0, 105);
	ck_assert(all_same(back, 'B', 100) && all_same(back + 100, 'C', 5));
	ck_assert_int_eq(bdev_write(T.fs->dev, x.pblk * 4096, blk, 4096), 0);
	inode_invalidate(T.fs, ino); /* freed once unused, then read afresh */
	inode_put(T.fs, ip);
	ck_assert_int_eq(inode_get(T.fs, ino, &ip), 0);
	wr(ip, c, 10, 100);
	rd(ip, back, 8192, 0, 110);
	ck_assert(all_same(back, 'B', 100) && all_same(back + 100, 'C', 10));
	/* Punch bytes 50..60, then append: the zeros stay. */
	ck_assert_int_eq(
	    file_fallocate(T.fs, ip, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 50, 10), 0);
	wr(ip, c, sizeof(c), 110);
	rd(ip, back, 8192, 0, 120);
	ck_assert(all_same(back, 'B', 50) && all_zero(back + 50, 10) &&
		  all_same(back + 60, 'B', 40) && all_same(back + 100, 'C', 20));
	/* Truncate to 30, append at 40: 30..40 reads as zeros, not as 'B'. */
	ck_assert_int_eq(file_truncate(T.fs, ip, 30), 0);
	wr(ip, c, sizeof(c), 40);
	rd(ip, back, 8192, 0, 50);
	ck_assert(all_same(back, 'B', 30) && all_zero(back + 30, 10) &&
		  all_same(back + 40, 'C', 10));
	inode_put(T.fs, ip);
	free(blk);
	free(back);
}
END_TEST

/* A write that fails over the copy's block drops the copy (the device's
 * bytes are not known): the next small write merges with what the device
 * holds. */
START_TEST(failed_write_drops_the_copy)
{
	struct sfs_inode *ip = tfs_new(&T, S_IFREG | 0644);
	uint8_t a[100], c[10], *back = aligned_alloc(4096, 8192);
	memset(a, 'A', sizeof(a));
	memset(c, 'C', sizeof(c));
	wr(ip, a, sizeof(a), 0);
	ck_assert_ptr_nonnull(ip->tail);
	struct sfs_extent x;
	ck_assert_int_eq(extent_find(T.fs, ip, 0, &x), 0);
	struct bdev_fault f = {
	    .kind = BDEV_FAULT_EIO, .ops = BDEV_FAULT_WRITE, .off = x.pblk * 4096, .len = 4096};
	ck_assert_int_eq(bdev_fault_add(T.fs->dev, &f), 0);
	size_t done;
	ck_assert_int_eq(file_write(T.fs, ip, c, sizeof(c), 100, &done), -EIO);
	ck_assert_ptr_null(ip->tail);
	bdev_fault_clear(T.fs->dev);
	wr(ip, c, sizeof(c), 100);
	rd(ip, back, 8192, 0, 110);
	ck_assert(all_same(back, 'A', 100) && all_same(back + 100, 'C', 10));
	inode_put(T.fs, ip);
	free(back);
}
END_TEST

/* At most INODE_TAILS_MAX copies exist; every way one goes (forgotten at
 * the last close, a truncate, an invalidation, an unlinked inode freed)
 * gives its place back. */
START_TEST(copies_are_bounded_and_given_back)
{
	enum { N = INODE_TAILS_MAX + 10 };
	static struct sfs_inode *ips[N];
	uint8_t a[10];
	memset(a, 'a', sizeof(a));
	for (int round = 0; round < 2; round++) {
		for (int i = 0; i < N; i++) {
			if (round == 0 || !ips[i])
				ips[i] = tfs_new(&T, S_IFREG | 0644);
			wr(ips[i], a, sizeof(a), 0);
		}
		int with = 0;
		for (int i = 0; i < N; i++)
			with += ips[i]->tail != NULL;
		ck_assert_int_eq(with, INODE_TAILS_MAX);
		for (int i = 0; i < N; i++) {
			uint64_t ino = ips[i]->ino;
			switch (i % 4) {
			case 0:
				inode_tail_drop(ips[i]);
				break;
			case 1:
				ck_assert_int_eq(file_truncate(T.fs, ips[i], 0), 0);
				break;
			case 2:
				inode_invalidate(T.fs, ino);
				ck_assert_int_eq(inode_revalidate(T.fs, ips[i]), 0);
				break;
			default:
				tfs_set_nlink(&T, ips[i], 0);
				inode_put(T.fs, ips[i]); /* freed */
				ips[i] = NULL;
			}
			ck_assert(!ips[i] || !ips[i]->tail);
		}
	}
	for (int i = 0; i < N; i++)
		if (ips[i])
			inode_put(T.fs, ips[i]);
}
END_TEST

#define MODEL_MAX (6 * MiB)

static void model_check(struct sfs_inode *ip, const uint8_t *m, uint64_t msize, uint8_t *tmp)
{
	ck_assert_uint_eq(ip->size, msize);
	memset(tmp, 0xa5, MODEL_MAX);
	rd(ip, tmp, MODEL_MAX, 0, msize);
	for (uint64_t i = 0; i < msize; i++)
		if (tmp[i] != m[i])
			ck_abort_msg("byte %llu: %u, model %u", (unsigned long long)i, tmp[i],
				     m[i]);
	/* Every byte SEEK_DATA/SEEK_HOLE call a hole must be zero. */
	uint64_t pos = 0, d, h;
	while (pos < msize) {
		int r = file_seek_data_hole(T.fs, ip, pos, SEEK_DATA, &d);
		if (r == -ENXIO)
			d = msize;
		else
			ck_assert_int_eq(r, 0);
		ck_assert(all_zero(m + pos, d - pos));
		if (d >= msize)
			break;
		ck_assert_int_eq(file_seek_data_hole(T.fs, ip, d, SEEK_HOLE, &h), 0);
		ck_assert_uint_gt(h, d);
		pos = h;
	}
}

/* Random operations against an in-memory model of the contents (a third of
 * the writes small appends, which go through the tail copy). */
START_TEST(random_model)
{
	unsigned seed = getenv("SEED") ? (unsigned)atoi(getenv("SEED")) : (unsigned)time(NULL);
	printf("file random_model seed %u\n", seed);
	fflush(stdout);
	srand(seed);
	struct sfs_inode *ip = tfs_new(&T, S_IFREG | 0644);
	/* tmp is 4096-aligned: file_read puts whole blocks straight into it
	 * (model_check, and half the random reads); the other half reads at
	 * tmp + 1 through the bounce buffer. */
	uint8_t *m = calloc(1, MODEL_MAX), *tmp = aligned_alloc(4096, MODEL_MAX + 4096),
		*buf = malloc(MODEL_MAX);
	uint64_t msize = 0;
	uint64_t free0 = tfs_free_blocks(&T);
	for (int op = 0; op < 600; op++) {
		int k = rand() % 100;
		uint64_t off = (uint64_t)rand() % MODEL_MAX;
		uint64_t len = rand() % 4 ? (uint64_t)rand() % 20000 + 1
					  : (uint64_t)rand() % (MODEL_MAX / 4) + 1;
		if (len > MODEL_MAX - off)
			len = MODEL_MAX - off;
		if (k < 50 && rand() % 3 == 0 && msize < MODEL_MAX) { /* a small append */
			off = msize;
			len = (uint64_t)rand() % 100 + 1;
			if (len > MODEL_MAX - off)
				len = MODEL_MAX - off;
		}
		if (k < 50) { /* write */
			for (uint64_t i = 0; i < len; i++)
				buf[i] = (uint8_t)(rand() | 1);
			wr(ip, buf, len, off);
			memcpy(m + off, buf, len);
			if (off + len > msize)
				msize = off + len;
		} else if (k < 62) { /* truncate */
			uint64_t ns = (uint64_t)rand() % MODEL_MAX;
			ck_assert_int_eq(file_truncate(T.fs, ip, ns), 0);
			if (ns < msize)
				memset(m + ns, 0, msize - ns);
			msize = ns;
		} else if (k < 74) { /* punch */
			ck_assert_int_eq(file_fallocate(T.fs, ip,
							FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
							off, len),
					 0);
			memset(m + off, 0, len);
		} else if (k < 82) { /* zero range, sometimes growing */
			int keep = rand() % 2 ? FALLOC_FL_KEEP_SIZE : 0;
			ck_assert_int_eq(
			    file_fallocate(T.fs, ip, FALLOC_FL_ZERO_RANGE | keep, off, len), 0);
			memset(m + off, 0, len);
			if (!keep && off + len > msize)
				msize = off + len;
		} else if (k < 90) { /* preallocate */
			int keep = rand() % 2 ? FALLOC_FL_KEEP_SIZE : 0;
			ck_assert_int_eq(file_fallocate(T.fs, ip, keep, off, len), 0);
			if (!keep && off + len > msize)
				msize = off + len;
		} else if (k < 98) { /* read a range */
			size_t done;
			uint8_t *dst = rand() % 2 ? tmp + off % 4096 : tmp + 1;
			memset(dst, 0xa5, len); /* no byte left over from the last read */
			ck_assert_int_eq(file_read(T.fs, ip, dst, len, off, &done), 0);
			uint64_t exp = off >= msize ? 0 : (off + len > msize ? msize - off : len);
			ck_assert_uint_eq(done, exp);
			ck_assert(memcmp(dst, m + off, done) == 0);
		} else { /* remount */
			uint64_t ino = ip->ino;
			inode_put(T.fs, ip);
			tfs_umount(&T);
			tfs_mount(&T);
			ck_assert_int_eq(inode_get(T.fs, ino, &ip), 0);
		}
		if (op % 50 == 49)
			model_check(ip, m, msize, tmp);
	}
	model_check(ip, m, msize, tmp);
	/* Everything the file holds goes back when it is emptied. */
	ck_assert_int_eq(file_truncate(T.fs, ip, 0), 0);
	ck_assert_uint_eq(ip->blocks, 0);
	ck_assert_uint_eq(extent_count(ip), 0);
	ck_assert_uint_eq(tfs_free_blocks(&T), free0);
	inode_put(T.fs, ip);
	free(m);
	free(tmp);
	free(buf);
}
END_TEST

int main(void)
{
	log_setup("test_file", 0, getenv("VERBOSE") ? LOG_DEBUG : LOG_ERROR);
	Suite *s = suite_create("file");
	TCase *tc = tcase_create("file");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, basic_rw);
	tcase_add_test(tc, sequential_contiguous);
	tcase_add_test(tc, sparse_16tib);
	tcase_add_test(tc, extent_tree_overflow);
	tcase_add_test(tc, fallocate_modes);
	tcase_add_test(tc, copy_range);
	tcase_add_test(tc, enospc);
	tcase_add_test(tc, split_inline_extents_when_full);
	tcase_add_test(tc, random_model);
	tcase_add_test(tc, appends_read_nothing);
	tcase_add_test(tc, tail_copy_follows_the_device);
	tcase_add_test(tc, failed_write_drops_the_copy);
	tcase_add_test(tc, copies_are_bounded_and_given_back);
	tcase_set_timeout(tc, 120);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}

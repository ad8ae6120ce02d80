/* Unit tests of fs/format: the common block header, the superblock and the
 * other fixed-layout blocks, and the geometry mkfs computes. */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/endian_le.h"
#include "common/log.h"
#include "fs/format.h"
#include "fs/mkfs.h"
#include "locks/lcl.h"

static const uint8_t U[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};

START_TEST(header_seal_check)
{
	static uint8_t blk[SFS_BLOCK_SIZE];
	memset(blk, 0xab, sizeof(blk));
	uint64_t owner = LCL_RES(LCL_T_INODE, 77);
	sfs_blk_seal(blk, U, SFS_BT_INODE, 77, owner);
	ck_assert_uint_eq(le32_get(blk), SFS_MAGIC);
	ck_assert_mem_eq(blk, "SNFS", 4);
	ck_assert_int_eq(sfs_blk_check(blk, U, SFS_BT_INODE, 77, owner), 0);
	ck_assert_int_eq(sfs_blk_check(blk, U, 0, 77, SFS_ANY_OWNER), 0);
	ck_assert_int_eq(sfs_blk_check(blk, NULL, SFS_BT_INODE, 77, owner), 0);
	/* Each field mismatch is an error. */
	ck_assert_int_eq(sfs_blk_check(blk, U, SFS_BT_BTREE_NODE, 77, owner), -EIO);
	ck_assert_int_eq(sfs_blk_check(blk, U, SFS_BT_INODE, 78, owner), -EIO);
	ck_assert_int_eq(sfs_blk_check(blk, U, SFS_BT_INODE, 77, owner + 1), -EIO);
	uint8_t other[16] = {0};
	ck_assert_int_eq(sfs_blk_check(blk, other, SFS_BT_INODE, 77, owner), -EIO);
	ck_assert_uint_eq(sfs_blk_owner(blk), owner);
	/* Every single-byte change anywhere is caught by the crc. */
	for (size_t off = 0; off < SFS_BLOCK_SIZE; off += 97) {
		blk[off] ^= 0x10;
		ck_assert_int_eq(sfs_blk_check(blk, U, SFS_BT_INODE, 77, owner), -EIO);
		blk[off] ^= 0x10;
	}
	ck_assert_int_eq(sfs_blk_check(blk, U, SFS_BT_INODE, 77, owner), 0);
	/* Changing the payload and resealing is accepted. */
	blk[1000] = 1;
	sfs_blk_reseal(blk);
	ck_assert_int_eq(sfs_blk_check(blk, U, SFS_BT_INODE, 77, owner), 0);
	const char *why;
	blk[2000] ^= 1;
	ck_assert_int_eq(sfs_blk_verify(blk, U, SFS_BT_INODE, 77, owner, &why), -EIO);
	ck_assert_str_eq(why, "bad checksum");
}
END_TEST

static void geometry(uint64_t bytes, unsigned slots, struct sfs_super *sb)
{
	struct mkfs_opts o = {.slots = slots, .label = "data0", .uuid = U};
	const char *why;
	ck_assert_int_eq(mkfs_geometry(bytes, &o, sb, &why), 0);
}

START_TEST(super_roundtrip)
{
	struct sfs_super sb, back;
	geometry(256ull << 20, 16, &sb);
	static uint8_t blk[SFS_BLOCK_SIZE];
	sfs_super_encode(&sb, SFS_SUPER_BLKNO, blk);
	const char *why;
	ck_assert_int_eq(sfs_super_decode(blk, SFS_SUPER_BLKNO, &back, &why), 0);
	ck_assert_mem_eq(&sb.uuid, &back.uuid, 16);
	ck_assert_str_eq(back.label, "data0");
	ck_assert_uint_eq(back.blocks, sb.blocks);
	ck_assert_uint_eq(back.slot_count, 16);
	ck_assert_uint_eq(back.ag_count, sb.ag_count);
	ck_assert_uint_eq(back.root_ino, sb.root_ino);
	ck_assert_mem_eq(back.dir_hash_seed, sb.dir_hash_seed, 16);
	/* The backup is decoded at its own place only. */
	ck_assert_int_eq(sfs_super_decode(blk, SFS_SUPER_BACKUP, &back, &why), -EIO);
	sfs_super_encode(&sb, SFS_SUPER_BACKUP, blk);
	ck_assert_int_eq(sfs_super_decode(blk, SFS_SUPER_BACKUP, &back, &why), 0);
	/* Bad crc, wrong magic. */
	blk[300] ^= 1;
	ck_assert_int_eq(sfs_super_decode(blk, SFS_SUPER_BACKUP, &back, &why), -EIO);
	ck_assert_str_eq(why, "superblock checksum mismatch");
	memset(blk, 0, sizeof(blk));
	ck_assert_int_eq(sfs_super_decode(blk, SFS_SUPER_BLKNO, &back, &why), -EIO);
	ck_assert_ptr_nonnull(strstr(why, "not a sanfs"));
}
END_TEST

START_TEST(super_inconsistent_geometry)
{
	struct sfs_super sb, back;
	geometry(256ull << 20, 8, &sb);
	static uint8_t blk[SFS_BLOCK_SIZE];
	const char *why;
	struct sfs_super bad;
	bad = sb, bad.ag_count++;
	sfs_super_encode(&bad, 1, blk);
	ck_assert_int_eq(sfs_super_decode(blk, 1, &back, &why), -EIO);
	bad = sb, bad.slot_blocks++;
	sfs_super_encode(&bad, 1, blk);
	ck_assert_int_eq(sfs_super_decode(blk, 1, &back, &why), -EIO);
	bad = sb, bad.root_ino = 1;
	sfs_super_encode(&bad, 1, blk);
	ck_assert_int_eq(sfs_super_decode(blk, 1, &back, &why), -EIO);
	bad = sb, bad.slot_count = 0;
	sfs_super_encode(&bad, 1, blk);
	ck_assert_int_eq(sfs_super_decode(blk, 1, &back, &why), -EIO);
	/* Features and version are checked separately. */
	bool ro;
	bad = sb, bad.incompat = 1ull << 40;
	ck_assert_int_eq(sfs_super_compatible(&bad, &ro, &why), -EINVAL);
	ck_assert_str_eq(why, "unknown incompatible feature");
	bad = sb, bad.version = SFS_VERSION + 1;
	ck_assert_int_eq(sfs_super_compatible(&bad, &ro, &why), -EINVAL);
	bad = sb, bad.ro_compat = 1;
	ck_assert_int_eq(sfs_super_compatible(&bad, &ro, &why), 0);
	ck_assert(ro);
	bad = sb, bad.compat = 1;
	ck_assert_int_eq(sfs_super_compatible(&bad, &ro, &why), 0);
	ck_assert(!ro);
}
END_TEST

START_TEST(geometry_sizes)
{
	struct sfs_super sb;
	uint64_t sizes[] = {16ull << 20, 64ull << 20, 1ull << 30, 100ull << 30, 16ull << 40};
	unsigned slots[] = {1, 16, 64, 256};
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
		for (size_t k = 0; k < sizeof(slots) / sizeof(slots[0]); k++) {
			struct mkfs_opts o = {.slots = slots[k]};
			const char *why;
			int rc = mkfs_geometry(sizes[i], &o, &sb, &why);
			if (rc) {
				ck_assert_int_eq(rc, -ENOSPC);
				continue;
			}
			ck_assert_uint_le(sb.blocks * SFS_BLOCK_SIZE, sizes[i]);
			ck_assert_uint_ge(sb.ag_count, 1);
			/* Every block of the filesystem is in exactly one area. */
			ck_assert_uint_eq(sb.ag_start,
					  sb.slot_start + (uint64_t)sb.slot_count * sb.slot_blocks);
			ck_assert_uint_eq(sfs_ag_of(&sb, sb.blocks - 1), sb.ag_count - 1);
			ck_assert_uint_eq(sfs_ag_of(&sb, sb.ag_start), 0);
			ck_assert_uint_gt(sfs_ag_size(&sb, sb.ag_count - 1),
					  sfs_ag_meta_blocks(&sb));
			static uint8_t blk[SFS_BLOCK_SIZE];
			struct sfs_super back;
			sfs_super_encode(&sb, 1, blk);
			ck_assert_int_eq(sfs_super_decode(blk, 1, &back, &why), 0);
		}
	/* 64 slots fit a modest device. */
	struct mkfs_opts o = {.slots = 64};
	const char *why;
	ck_assert_int_eq(mkfs_geometry(1ull << 30, &o, &sb, &why), 0);
	ck_assert_uint_eq(sb.slot_count, 64);
	/* Too small, bad options. */
	ck_assert_int_eq(mkfs_geometry(64 * 4096, &o, &sb, &why), -ENOSPC);
	o = (struct mkfs_opts){.journal_bytes = 4096};
	ck_assert_int_eq(mkfs_geometry(1ull << 30, &o, &sb, &why), -EINVAL);
	o = (struct mkfs_opts){.slots = 1000};
	ck_assert_int_eq(mkfs_geometry(1ull << 30, &o, &sb, &why), -EINVAL);
	o = (struct mkfs_opts){
	    .label = "0123456789012345678901234567890123456789012345678901234567890123456789"};
	ck_assert_int_eq(mkfs_geometry(1ull << 30, &o, &sb, &why), -EINVAL);
}
END_TEST

START_TEST(other_blocks)
{
	struct sfs_super sb;
	geometry(64ull << 20, 4, &sb);
	static uint8_t blk[SFS_BLOCK_SIZE];
	struct sfs_ag a = {.index = 1,
			   .nblocks = sfs_ag_size(&sb, 1),
			   .free_blocks = 10,
			   .inodes = 3,
			   .bitmap_blocks = sb.bitmap_blocks},
		      b;
	memset(blk, 0, sizeof(blk));
	sfs_ag_encode(&a, blk);
	ck_assert_int_eq(sfs_ag_decode(blk, &sb, 1, &b), 0);
	ck_assert_uint_eq(b.free_blocks, 10);
	ck_assert_uint_eq(b.inodes, 3);
	ck_assert_int_eq(sfs_ag_decode(blk, &sb, 2, &b), -EIO);
	a.free_blocks = a.nblocks;
	sfs_ag_encode(&a, blk);
	ck_assert_int_eq(sfs_ag_decode(blk, &sb, 1, &b), -EIO);

	struct sfs_jhdr h = {.ring_blocks = sb.journal_blocks, .tail = 5, .tail_seq = 9}, h2;
	sfs_jhdr_encode(&h, blk);
	ck_assert_int_eq(sfs_jhdr_decode(blk, &sb, &h2), 0);
	ck_assert_uint_eq(h2.tail, 5);
	ck_assert_uint_eq(h2.tail_seq, 9);
	h.tail = sb.journal_blocks;
	sfs_jhdr_encode(&h, blk);
	ck_assert_int_eq(sfs_jhdr_decode(blk, &sb, &h2), -EIO);
}
END_TEST

int main(void)
{
	log_setup("test_format", 0, LOG_ERROR + 0);
	log_set_level((enum log_level) - 1);
	Suite *s = suite_create("format");
	TCase *tc = tcase_create("format");
	tcase_add_test(tc, header_seal_check);
	tcase_add_test(tc, super_roundtrip);
	tcase_add_test(tc, super_inconsistent_geometry);
	tcase_add_test(tc, geometry_sizes);
	tcase_add_test(tc, other_blocks);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}

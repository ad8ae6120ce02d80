/* Fuzz target (libFuzzer; tests/fuzz/meson.build "inode_decode", seeds in
 * tests/fuzz/corpus/inode_decode) for the inode part's decoders
 * (fs/inode_format.c): the inode block, the xattr run's blocks and entries,
 * the symlink block. Input byte 0 is a mode: bit 0 reseals the block as a
 * valid header of inode 1234 (so the payload checks are reached), bits 1-2
 * choose the decoder, bits 3.. give the xattr block's index in its run or
 * the symlink tail's length. Never a crash or leak; an inode that decodes
 * re-encodes to a block that decodes to the same encoding. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "fs/format.h"
#include "fs/inode.h"
#include "fs/inode_format.h"
#include "locks/lcl.h"
#include "tests/fuzz/fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define INO 1234ull

static const uint8_t uuid[16] = {7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t blk[SFS_BLOCK_SIZE], again[SFS_BLOCK_SIZE], third[SFS_BLOCK_SIZE];
	static int quiet;
	if (!quiet) {
		log_setup("fuzz", 0, LOG_ERROR);
		log_open_file("/dev/null");
		quiet = 1;
	}
	if (size == 0)
		return 0;
	unsigned mode = data[0];
	memset(blk, 0, sizeof(blk));
	memcpy(blk, data + 1, size - 1 < sizeof(blk) ? size - 1 : sizeof(blk));
	switch ((mode >> 1) & 3) {
	case 0:
	case 3: {
		if (mode & 1)
			sfs_blk_seal(blk, uuid, SFS_BT_INODE, INO, LCL_RES(LCL_T_INODE, INO));
		struct sfs_inode ip, ip2;
		memset(&ip, 0, sizeof(ip));
		if (inode_block_decode(blk, uuid, INO, &ip) == 0) {
			memcpy(again, blk, SFS_BLK_HDR_SIZE);
			inode_encode(&ip, again);
			sfs_blk_seal(again, uuid, SFS_BT_INODE, INO, LCL_RES(LCL_T_INODE, INO));
			memset(&ip2, 0, sizeof(ip2));
			FUZZ_CHECK(inode_block_decode(again, uuid, INO, &ip2) == 0);
			memcpy(third, again, SFS_BLK_HDR_SIZE);
			inode_encode(&ip2, third);
			FUZZ_CHECK(memcmp(again + SFS_BLK_HDR_SIZE, third + SFS_BLK_HDR_SIZE,
					  SFS_BLOCK_SIZE - SFS_BLK_HDR_SIZE) == 0);
			FUZZ_CHECK(ip2.niext <= INODE_INLINE_EXT &&
				   ip2.ixattr_len <= INODE_XATTR_SIZE);
			inode_decoded_release(&ip);
			inode_decoded_release(&ip2);
		}
		break;
	}
	case 1: {
		size_t used;
		if (xattr_block_decode(blk, 5, mode >> 3 & 31, &used) == 0) {
			FUZZ_CHECK(used > 0 && used <= XATTR_BLK_SIZE);
			(void)xattr_area_check(blk + XATTR_BLK_ENTRIES_OFF, used, 5);
		}
		break;
	}
	case 2:
		(void)symlink_block_decode(blk, 6, mode >> 3);
		break;
	}
	return 0;
}

/* Fuzz target: the generic block decoders of fs/format.c against a fixed,
 * valid geometry: the common header check, the AG header and the journal
 * header. Input byte 0 is a mode (bit 0: reseal the crc; bits 1-2: which
 * decoder), the rest one 4096-byte block. Never a crash; a header that
 * passes the check reseals to the same bytes; decoded AG and journal headers
 * keep their fields inside the geometry. */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "common/endian_le.h"
#include "common/log.h"
#include "fs/format.h"
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* 1 GiB, 16 slots, 1 MiB journals, AGs of 16384 blocks. */
static const struct sfs_super SB = {
    .version = 1,
    .block_size = 4096,
    .blocks = 262144,
    .slot_count = 16,
    .slot_blocks = 3 + 4 + 256,
    .slot_start = 3,
    .journal_blocks = 256,
    .orphan_blocks = 4,
    .ag_start = 3 + 16 * 263,
    .ag_blocks = 16384,
    .ag_count = 16,
    .bitmap_blocks = 1,
    .root_ino = 3 + 16 * 263 + 3,
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t block[SFS_BLOCK_SIZE], copy[SFS_BLOCK_SIZE];
	log_set_level((enum log_level) - 1);
	if (!fuzz_copy(data, size, block))
		return 0;
	if (data[0] & 1)
		sfs_blk_reseal(block);
	uint64_t blkno = le64_get(block + SFS_HDR_BLKNO);
	const char *why = NULL;
	int rc = sfs_blk_verify(block, NULL, SFS_ANY_TYPE, blkno, SFS_ANY_OWNER, &why);
	FUZZ_CHECK(rc == 0 || (rc == -EIO && why));
	if (rc == 0) {
		memcpy(copy, block, sizeof(copy));
		sfs_blk_reseal(copy);
		FUZZ_CHECK(memcmp(copy, block, sizeof(copy)) == 0);
		FUZZ_CHECK(sfs_blk_check(block, block + SFS_HDR_UUID, sfs_blk_type(block), blkno,
					 sfs_blk_owner(block)) == 0);
		(void)sfs_btype_name(sfs_blk_type(block));
	}
	switch ((data[0] >> 1) & 3) {
	case 0: {
		struct sfs_ag a;
		uint32_t idx = le32_get(block + 48);
		if (sfs_ag_decode(block, &SB, idx % (SB.ag_count + 1), &a) == 0) {
			FUZZ_CHECK(a.index < SB.ag_count);
			FUZZ_CHECK(a.free_blocks <= a.nblocks);
			FUZZ_CHECK(a.nblocks == sfs_ag_size(&SB, a.index));
		}
		break;
	}
	case 1: {
		struct sfs_jhdr h;
		if (sfs_jhdr_decode(block, &SB, &h) == 0) {
			FUZZ_CHECK(h.tail < SB.journal_blocks);
			FUZZ_CHECK(h.tail_seq != 0);
			memcpy(copy, block, sizeof(copy));
			sfs_jhdr_encode(&h, copy);
			FUZZ_CHECK(memcmp(copy, block, 80) == 0);
		}
		break;
	}
	default: {
		/* Journal record / orphan counts as replay and orphan code read them. */
		uint32_t cnt = le32_get(block + SFS_JREC_OFF_COUNT);
		if (cnt <= SFS_JREC_TAGS) {
			uint64_t sum = 0;
			for (uint32_t i = 0; i < cnt; i++)
				sum += le64_get(block + SFS_JREC_OFF_TAGS + 8 * i);
			(void)sum;
		}
		(void)sfs_ag_of(&SB, blkno);
		break;
	}
	}
	return 0;
}

/* Fuzz target: the superblock decoder (fs/format.c). Input byte 0 is a mode
 * (bit 0: reseal the header crc after the copy, so the fuzzer reaches the
 * geometry checks behind it), the rest one 4096-byte block. Any bytes give 0
 * or -EIO, never a crash; a decoded superblock re-encodes to one that decodes
 * the same, and its geometry helpers stay inside the filesystem. */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "common/log.h"
#include "fs/format.h"
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t block[SFS_BLOCK_SIZE] __attribute__((aligned(8))), again[SFS_BLOCK_SIZE];
	log_set_level((enum log_level) - 1);
	if (!fuzz_copy(data, size, block))
		return 0;
	uint64_t at = (data[0] & 2) ? SFS_SUPER_BACKUP : SFS_SUPER_BLKNO;
	if (data[0] & 1) {
		/* Put the header where a sealed superblock has it. */
		memcpy(block + SFS_HDR_BLKNO, &at, 8);
		sfs_blk_reseal(block);
	}
	struct sfs_super sb, back;
	const char *why = NULL;
	int rc = sfs_super_decode(block, at, &sb, &why);
	FUZZ_CHECK(rc == 0 || (rc == -EIO && why && strlen(why) < 200));
	if (rc)
		return 0;
	bool ro;
	rc = sfs_super_compatible(&sb, &ro, &why);
	FUZZ_CHECK(rc == 0 || rc == -EINVAL);
	sfs_super_encode(&sb, at, again);
	FUZZ_CHECK(sfs_super_decode(again, at, &back, &why) == 0);
	FUZZ_CHECK(memcmp(&sb, &back, sizeof(sb)) == 0);
	FUZZ_CHECK(sfs_ag_of(&sb, sb.ag_start) == 0);
	FUZZ_CHECK(sfs_ag_of(&sb, sb.blocks - 1) == sb.ag_count - 1);
	FUZZ_CHECK(sfs_ag_of(&sb, sb.blocks) == UINT32_MAX);
	FUZZ_CHECK(sfs_ag_size(&sb, sb.ag_count - 1) > sfs_ag_meta_blocks(&sb));
	FUZZ_CHECK(sfs_ag_size(&sb, sb.ag_count) == 0);
	FUZZ_CHECK(sfs_slot_journal(&sb, sb.slot_count - 1) + sb.journal_blocks == sb.ag_start);
	return 0;
}

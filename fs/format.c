/* format: encode/decode of the common block header, the superblock, AG
 * headers, journal headers and slot blocks (fs/FORMAT.md). Every decoder
 * validates before it fills its struct and never reads outside the block. */
#include "fs/format.h"

#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "common/crc32c.h"
#include "common/endian_le.h"
#include "common/log.h"
#include "locks/lcl.h"

static const char *const btype_names[SFS_BT_MAX] = {
    [0] = "none",
    [SFS_BT_SUPER] = "super",
    [SFS_BT_AG] = "ag",
    [SFS_BT_BITMAP] = "bitmap",
    [SFS_BT_INODE] = "inode",
    [SFS_BT_BTREE_NODE] = "btree",
    [SFS_BT_DIRBLK] = "dirblk",
    [SFS_BT_XATTR] = "xattr",
    [SFS_BT_JDESC] = "jdesc",
    [SFS_BT_JCOMMIT] = "jcommit",
    [SFS_BT_JREVOKE] = "jrevoke",
    [SFS_BT_HEARTBEAT] = "heartbeat",
    [SFS_BT_ORPHAN] = "orphan",
    [SFS_BT_JHDR] = "jhdr",
    [SFS_BT_LALLOC] = "lalloc",
    [SFS_BT_SYMLINK] = "symlink",
};

const char *sfs_btype_name(unsigned type)
{
	return type < SFS_BT_MAX && btype_names[type] ? btype_names[type] : "unknown";
}

uint32_t sfs_blk_crc(const void *blk)
{
	static const uint8_t zero[4];
	const uint8_t *b = blk;
	uint32_t c = crc32c(0, b, SFS_HDR_CRC);
	c = crc32c(c, zero, 4);
	return crc32c(c, b + SFS_HDR_CRC + 4, SFS_BLOCK_SIZE - SFS_HDR_CRC - 4);
}

void sfs_blk_init(void *blk, const uint8_t uuid[16], uint16_t type, uint64_t blkno, uint64_t owner)
{
	uint8_t *b = blk;
	le32_put(b + SFS_HDR_MAGIC, SFS_MAGIC);
	le16_put(b + SFS_HDR_TYPE, type);
	le16_put(b + SFS_HDR_FLAGS, 0);
	le64_put(b + SFS_HDR_BLKNO, blkno);
	memcpy(b + SFS_HDR_UUID, uuid, 16);
	le64_put(b + SFS_HDR_OWNER, owner);
	le32_put(b + SFS_HDR_CRC, 0);
	le32_put(b + 44, 0);
}

void sfs_blk_reseal(void *blk)
{
	le32_put((uint8_t *)blk + SFS_HDR_CRC, sfs_blk_crc(blk));
}

void sfs_blk_seal(void *blk, const uint8_t uuid[16], uint16_t type, uint64_t blkno, uint64_t owner)
{
	sfs_blk_init(blk, uuid, type, blkno, owner);
	sfs_blk_reseal(blk);
}

uint64_t sfs_blk_owner(const void *blk)
{
	return le64_get((const uint8_t *)blk + SFS_HDR_OWNER);
}

int sfs_blk_verify(const void *blk, const uint8_t uuid[16], uint16_t type, uint64_t blkno,
		   uint64_t owner, const char **why)
{
	const uint8_t *b = blk;
	const char *w = NULL;
	if (le32_get(b + SFS_HDR_MAGIC) != SFS_MAGIC)
		w = "bad magic";
	else if (le32_get(b + SFS_HDR_CRC) != sfs_blk_crc(b))
		w = "bad checksum";
	else if (le64_get(b + SFS_HDR_BLKNO) != blkno)
		w = "wrong block number in header (misdirected write?)";
	else if (uuid && memcmp(b + SFS_HDR_UUID, uuid, 16) != 0)
		w = "belongs to another filesystem (uuid)";
	else if (type != SFS_ANY_TYPE && le16_get(b + SFS_HDR_TYPE) != type)
		w = "unexpected block type";
	else if (owner != SFS_ANY_OWNER && le64_get(b + SFS_HDR_OWNER) != owner)
		w = "unexpected owner";
	if (why)
		*why = w;
	return w ? -EIO : 0;
}

int sfs_blk_check(const void *blk, const uint8_t uuid[16], uint16_t type, uint64_t blkno,
		  uint64_t owner)
{
	const char *why;
	int rc = sfs_blk_verify(blk, uuid, type, blkno, owner, &why);
	if (rc) {
		const uint8_t *b = blk;
		log_error("fs", "block %" PRIu64 ": %s (type %s, expected %s)", blkno, why,
			  sfs_btype_name(le16_get(b + SFS_HDR_TYPE)), sfs_btype_name(type));
	}
	return rc;
}

/* ---- superblock ---- */

void sfs_super_encode(const struct sfs_super *sb, uint64_t blkno, void *blk)
{
	uint8_t *b = blk;
	memset(b, 0, SFS_BLOCK_SIZE);
	le32_put(b + SFS_SB_OFF_VERSION, sb->version);
	le32_put(b + SFS_SB_OFF_BSIZE, sb->block_size);
	le64_put(b + SFS_SB_OFF_COMPAT, sb->compat);
	le64_put(b + SFS_SB_OFF_INCOMPAT, sb->incompat);
	le64_put(b + SFS_SB_OFF_ROCOMPAT, sb->ro_compat);
	le64_put(b + SFS_SB_OFF_BLOCKS, sb->blocks);
	le32_put(b + SFS_SB_OFF_SLOTS, sb->slot_count);
	le32_put(b + SFS_SB_OFF_SLOTBLKS, sb->slot_blocks);
	le64_put(b + SFS_SB_OFF_SLOTSTART, sb->slot_start);
	le32_put(b + SFS_SB_OFF_JBLOCKS, sb->journal_blocks);
	le32_put(b + SFS_SB_OFF_OBLOCKS, sb->orphan_blocks);
	le64_put(b + SFS_SB_OFF_AGSTART, sb->ag_start);
	le32_put(b + SFS_SB_OFF_AGBLOCKS, sb->ag_blocks);
	le32_put(b + SFS_SB_OFF_AGCOUNT, sb->ag_count);
	le32_put(b + SFS_SB_OFF_BMBLOCKS, sb->bitmap_blocks);
	le32_put(b + SFS_SB_OFF_STATE, sb->state);
	le64_put(b + SFS_SB_OFF_ROOT, sb->root_ino);
	le64_put(b + SFS_SB_OFF_CTIME, sb->ctime);
	le64_put(b + SFS_SB_OFF_MTIME, sb->mtime);
	memcpy(b + SFS_SB_OFF_HASHSEED, sb->dir_hash_seed, 16);
	memcpy(b + SFS_SB_OFF_LABEL, sb->label, strnlen(sb->label, SFS_LABEL_MAX));
	sfs_blk_seal(b, sb->uuid, SFS_BT_SUPER, blkno, LCL_RES(LCL_T_SUPER, 0));
}

static uint64_t div_up(uint64_t a, uint64_t b)
{
	return (a + b - 1) / b;
}

int sfs_super_decode(const void *blk, uint64_t blkno, struct sfs_super *out, const char **why)
{
	const uint8_t *b = blk;
	struct sfs_super sb;
	const char *w = NULL;
	if (le32_get(b + SFS_HDR_MAGIC) != SFS_MAGIC ||
	    le16_get(b + SFS_HDR_TYPE) != SFS_BT_SUPER) {
		*why = "not a sanfs filesystem (no superblock magic)";
		return -EIO;
	}
	if (sfs_blk_verify(b, NULL, SFS_BT_SUPER, blkno, LCL_RES(LCL_T_SUPER, 0), &w)) {
		*why = !strcmp(w, "bad checksum") ? "superblock checksum mismatch" : w;
		return -EIO;
	}
	memset(&sb, 0, sizeof(sb));
	sb.version = le32_get(b + SFS_SB_OFF_VERSION);
	sb.block_size = le32_get(b + SFS_SB_OFF_BSIZE);
	sb.compat = le64_get(b + SFS_SB_OFF_COMPAT);
	sb.incompat = le64_get(b + SFS_SB_OFF_INCOMPAT);
	sb.ro_compat = le64_get(b + SFS_SB_OFF_ROCOMPAT);
	sb.blocks = le64_get(b + SFS_SB_OFF_BLOCKS);
	sb.slot_count = le32_get(b + SFS_SB_OFF_SLOTS);
	sb.slot_blocks = le32_get(b + SFS_SB_OFF_SLOTBLKS);
	sb.slot_start = le64_get(b + SFS_SB_OFF_SLOTSTART);
	sb.journal_blocks = le32_get(b + SFS_SB_OFF_JBLOCKS);
	sb.orphan_blocks = le32_get(b + SFS_SB_OFF_OBLOCKS);
	sb.ag_start = le64_get(b + SFS_SB_OFF_AGSTART);
	sb.ag_blocks = le32_get(b + SFS_SB_OFF_AGBLOCKS);
	sb.ag_count = le32_get(b + SFS_SB_OFF_AGCOUNT);
	sb.bitmap_blocks = le32_get(b + SFS_SB_OFF_BMBLOCKS);
	sb.state = le32_get(b + SFS_SB_OFF_STATE);
	sb.root_ino = le64_get(b + SFS_SB_OFF_ROOT);
	sb.ctime = le64_get(b + SFS_SB_OFF_CTIME);
	sb.mtime = le64_get(b + SFS_SB_OFF_MTIME);
	memcpy(sb.uuid, b + SFS_HDR_UUID, 16);
	memcpy(sb.dir_hash_seed, b + SFS_SB_OFF_HASHSEED, 16);
	memcpy(sb.label, b + SFS_SB_OFF_LABEL, SFS_LABEL_MAX + 1);
	size_t ll = strnlen(sb.label, SFS_LABEL_MAX + 1);
	if (ll <= SFS_LABEL_MAX)
		memset(sb.label + ll, 0,
		       SFS_LABEL_MAX + 1 - ll); /* bytes after the NUL are not kept */

	if (sb.label[SFS_LABEL_MAX] != 0)
		w = "label not terminated";
	else if (sb.version == 0)
		w = "version 0";
	else if (sb.block_size != SFS_BLOCK_SIZE)
		w = "unsupported block size";
	else if (sb.slot_count == 0 || sb.slot_count > SFS_MAX_SLOTS)
		w = "slot count out of range";
	else if (sb.slot_start != SFS_FIRST_SLOT_BLKNO)
		w = "slot area misplaced";
	else if (sb.orphan_blocks == 0 || sb.orphan_blocks > 64)
		w = "orphan blocks out of range";
	else if (sb.journal_blocks < 64 || sb.journal_blocks > (1u << 24))
		w = "journal size out of range";
	else if ((uint64_t)sb.slot_blocks != 3ull + sb.orphan_blocks + sb.journal_blocks)
		w = "slot region size inconsistent";
	else if (sb.ag_start != sb.slot_start + (uint64_t)sb.slot_count * sb.slot_blocks)
		w = "allocation groups misplaced";
	else if (sb.ag_blocks < 64)
		w = "allocation group too small";
	else if (sb.bitmap_blocks != div_up(sb.ag_blocks, SFS_BM_BITS))
		w = "bitmap size inconsistent";
	else if (sb.blocks <= sb.ag_start || sb.blocks > (1ull << 48))
		w = "filesystem size inconsistent";
	else if (sb.ag_count == 0 || sb.ag_count != div_up(sb.blocks - sb.ag_start, sb.ag_blocks))
		w = "allocation group count inconsistent";
	else if (sfs_ag_size(&sb, sb.ag_count - 1) <= sfs_ag_meta_blocks(&sb))
		w = "last allocation group too small";
	else if (sb.root_ino < sb.ag_start || sb.root_ino >= sb.blocks)
		w = "root inode out of range";
	if (w) {
		*why = w;
		return -EIO;
	}
	*out = sb;
	*why = NULL;
	return 0;
}

int sfs_super_compatible(const struct sfs_super *sb, bool *ro_only, const char **why)
{
	*ro_only = false;
	if (sb->version > SFS_VERSION) {
		*why = "filesystem version is newer than this sanfs";
		return -EINVAL;
	}
	if (sb->version < SFS_VERSION) {
		/* Version 1 (before the xattr run) is a development format no
		 * release wrote: its xattr entries would be misread. */
		*why =
		    "filesystem version 1 is older than this sanfs reads (make it again with mkfs)";
		return -EINVAL;
	}
	if (sb->incompat & ~SFS_INCOMPAT_SUPP) {
		*why = "unknown incompatible feature";
		return -EINVAL;
	}
	if (sb->ro_compat & ~SFS_RO_COMPAT_SUPP)
		*ro_only = true;
	*why = NULL;
	return 0;
}

uint32_t sfs_ag_size(const struct sfs_super *sb, uint32_t ag)
{
	uint64_t base = sfs_ag_base(sb, ag);
	if (base >= sb->blocks)
		return 0;
	uint64_t left = sb->blocks - base;
	return left < sb->ag_blocks ? (uint32_t)left : sb->ag_blocks;
}

uint32_t sfs_ag_of(const struct sfs_super *sb, uint64_t blkno)
{
	if (blkno < sb->ag_start || blkno >= sb->blocks)
		return UINT32_MAX;
	return (uint32_t)((blkno - sb->ag_start) / sb->ag_blocks);
}

/* ---- AG header ---- */

#define AG_OFF_INDEX  48
#define AG_OFF_NBLK   52
#define AG_OFF_FREE   56
#define AG_OFF_INODES 60
#define AG_OFF_BMBLK  64
#define AG_OFF_FLAGS  68

void sfs_ag_encode(const struct sfs_ag *ag, void *blk)
{
	uint8_t *b = blk;
	le32_put(b + AG_OFF_INDEX, ag->index);
	le32_put(b + AG_OFF_NBLK, ag->nblocks);
	le32_put(b + AG_OFF_FREE, ag->free_blocks);
	le32_put(b + AG_OFF_INODES, ag->inodes);
	le32_put(b + AG_OFF_BMBLK, ag->bitmap_blocks);
	le32_put(b + AG_OFF_FLAGS, ag->flags);
}

int sfs_ag_decode(const void *blk, const struct sfs_super *sb, uint32_t index, struct sfs_ag *ag)
{
	const uint8_t *b = blk;
	struct sfs_ag a = {
	    .index = le32_get(b + AG_OFF_INDEX),
	    .nblocks = le32_get(b + AG_OFF_NBLK),
	    .free_blocks = le32_get(b + AG_OFF_FREE),
	    .inodes = le32_get(b + AG_OFF_INODES),
	    .bitmap_blocks = le32_get(b + AG_OFF_BMBLK),
	    .flags = le32_get(b + AG_OFF_FLAGS),
	};
	const char *w = NULL;
	if (index >= sb->ag_count || a.index != index)
		w = "AG index mismatch";
	else if (a.nblocks <= sfs_ag_meta_blocks(sb))
		w = "AG too small";
	else if (a.nblocks != sfs_ag_size(sb, index))
		w = "AG size mismatch";
	else if (a.bitmap_blocks != sb->bitmap_blocks)
		w = "AG bitmap size mismatch";
	else if (a.free_blocks > a.nblocks - sfs_ag_meta_blocks(sb))
		w = "AG free count out of range";
	else if (a.inodes > a.nblocks)
		w = "AG inode count out of range";
	if (w) {
		log_error("fs", "block %" PRIu64 ": %s", sfs_ag_base(sb, index), w);
		return -EIO;
	}
	*ag = a;
	return 0;
}

/* ---- journal header ---- */

#define JH_OFF_RING  48
#define JH_OFF_FLAGS 52
#define JH_OFF_TSEQ  56
#define JH_OFF_TAIL  64
#define JH_OFF_GEN   72

void sfs_jhdr_encode(const struct sfs_jhdr *h, void *blk)
{
	uint8_t *b = blk;
	le32_put(b + JH_OFF_RING, h->ring_blocks);
	le32_put(b + JH_OFF_FLAGS, h->flags);
	le64_put(b + JH_OFF_TSEQ, h->tail_seq);
	le64_put(b + JH_OFF_TAIL, h->tail);
	le64_put(b + JH_OFF_GEN, h->mount_gen);
}

int sfs_jhdr_decode(const void *blk, const struct sfs_super *sb, struct sfs_jhdr *h)
{
	const uint8_t *b = blk;
	struct sfs_jhdr j = {
	    .ring_blocks = le32_get(b + JH_OFF_RING),
	    .flags = le32_get(b + JH_OFF_FLAGS),
	    .tail_seq = le64_get(b + JH_OFF_TSEQ),
	    .tail = le64_get(b + JH_OFF_TAIL),
	    .mount_gen = le64_get(b + JH_OFF_GEN),
	};
	if (j.ring_blocks != sb->journal_blocks || j.tail >= j.ring_blocks || j.tail_seq == 0) {
		log_error("fs", "block %" PRIu64 ": journal header inconsistent",
			  le64_get(b + SFS_HDR_BLKNO));
		return -EIO;
	}
	*h = j;
	return 0;
}

uint64_t sfs_owner_super(void)
{
	return LCL_RES(LCL_T_SUPER, 0);
}

uint64_t sfs_owner_ag(uint32_t ag)
{
	return LCL_RES(LCL_T_AG, ag);
}

uint64_t sfs_owner_slot(unsigned slot)
{
	return LCL_RES(LCL_T_SLOT, slot);
}

uint64_t sfs_owner_inode(uint64_t ino)
{
	return LCL_RES(LCL_T_INODE, ino);
}

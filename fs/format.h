/* format: the on-disk format of sanfs (DESIGN §3; every byte in fs/FORMAT.md).
 *
 * Blocks are SFS_BLOCK_SIZE (4096) bytes. Every metadata block starts with the
 * 48-byte common header (fs/INTERNALS.md "Block header"): magic, type, its own
 * block number, the filesystem UUID, the lock resource that owns it and a
 * CRC32C of the whole block. The struct sfs_* below are the decoded, in-memory
 * forms; sfs_*_encode/decode is the one place each is converted, always with
 * the little-endian helpers of common/endian_le.h.
 *
 * Layout of a device (block numbers):
 *   0                 device label (blockdev/, not part of the filesystem proper)
 *   1                 superblock
 *   2                 backup superblock
 *   slot_start + s*slot_blocks   slot s: heartbeat, journal header, local
 *                     allocation window, orphan blocks, journal ring
 *   ag_start + n*ag_blocks       allocation group n: header, block bitmap,
 *                     inode bitmap, then data/inode/metadata blocks
 *
 * Decoders never trust the disk: every decode validates what it reads and
 * returns -EIO (with a log line naming the block) on anything inconsistent.
 * Thread-safe, no state. */
#ifndef SANFS_FS_FORMAT_H
#define SANFS_FS_FORMAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SFS_BLOCK_SIZE	  4096u
#define SFS_BLOCK_SHIFT	  12
#define SFS_MAGIC	  0x53464E53u /* "SNFS" */
#define SFS_BLK_HDR_SIZE  48u
#define SFS_VERSION	  2u
#define SFS_LABEL_MAX	  63 /* bytes, without the NUL */
#define SFS_UUID_SIZE	  16
#define SFS_DEFAULT_SLOTS 16u
#define SFS_MAX_SLOTS	  256u

/* Fixed block numbers. */
#define SFS_LABEL_BLKNO	     0ull
#define SFS_SUPER_BLKNO	     1ull
#define SFS_SUPER_BACKUP     2ull
#define SFS_FIRST_SLOT_BLKNO 3ull

/* Block types (header field "type"). Numbers are on disk: never reuse one. */
enum sfs_btype {
	SFS_BT_SUPER = 1,
	SFS_BT_AG = 2,
	SFS_BT_BITMAP = 3, /* block bitmap or inode bitmap of an AG */
	SFS_BT_INODE = 4,
	SFS_BT_BTREE_NODE = 5,
	SFS_BT_DIRBLK = 6,
	SFS_BT_XATTR = 7,
	SFS_BT_JDESC = 8,
	SFS_BT_JCOMMIT = 9,
	SFS_BT_JREVOKE = 10,
	SFS_BT_HEARTBEAT = 11,
	SFS_BT_ORPHAN = 12,
	SFS_BT_JHDR = 13,   /* journal header of a slot */
	SFS_BT_LALLOC = 14, /* local allocation window of a slot */
	SFS_BT_SYMLINK = 15,
	SFS_BT_MAX = 16,
};
const char *sfs_btype_name(unsigned type);

/* Header flags. */
#define SFS_BF_NONE 0

/* Common header: offsets within a block. */
#define SFS_HDR_MAGIC 0
#define SFS_HDR_TYPE  4
#define SFS_HDR_FLAGS 6
#define SFS_HDR_BLKNO 8
#define SFS_HDR_UUID  16
#define SFS_HDR_OWNER 32
#define SFS_HDR_CRC   40

#define SFS_ANY_TYPE  0
#define SFS_ANY_OWNER UINT64_MAX

/* Fill the header (magic, type, flags 0, blkno, uuid, owner) and compute the crc. */
void sfs_blk_seal(void *blk, const uint8_t uuid[16], uint16_t type, uint64_t blkno, uint64_t owner);
/* Fill the header without computing the crc (blocks sealed later). */
void sfs_blk_init(void *blk, const uint8_t uuid[16], uint16_t type, uint64_t blkno, uint64_t owner);
/* Recompute the crc of a block whose header is already filled. */
void sfs_blk_reseal(void *blk);
/* 0 or -EIO; logs "block N: why". type 0 / owner SFS_ANY_OWNER: any; uuid NULL: any. */
int sfs_blk_check(const void *blk, const uint8_t uuid[16], uint16_t type, uint64_t blkno,
		  uint64_t owner);
/* Same check without a log line; *why gets a static reason. */
int sfs_blk_verify(const void *blk, const uint8_t uuid[16], uint16_t type, uint64_t blkno,
		   uint64_t owner, const char **why);
uint32_t sfs_blk_crc(const void *blk); /* crc of the block with its crc field taken as zero */
static inline uint16_t sfs_blk_type(const void *blk)
{
	const uint8_t *b = blk;
	return (uint16_t)(b[SFS_HDR_TYPE] | (b[SFS_HDR_TYPE + 1] << 8));
}
uint64_t sfs_blk_owner(const void *blk);

/* ---- feature flags ---- */
/* compat: unknown ones are ignored. ro_compat: unknown ones allow read-only
 * mounts only. incompat: unknown ones refuse the mount. None are defined in
 * version 1; the masks name what this code understands. */
#define SFS_COMPAT_SUPP	   0ull
#define SFS_RO_COMPAT_SUPP 0ull
#define SFS_INCOMPAT_SUPP  0ull

/* Superblock state bits. */
#define SFS_SB_CLEAN 1u /* unmounted cleanly (local mode) or fresh from mkfs */
#define SFS_SB_ERROR 2u /* an error was met at run time: fsck advised */

struct sfs_super {
	uint32_t version;
	uint32_t block_size;
	uint64_t compat, incompat, ro_compat;
	uint64_t blocks; /* filesystem size in blocks (device may be larger) */
	uint32_t slot_count;
	uint32_t slot_blocks;	 /* blocks per slot region */
	uint64_t slot_start;	 /* first block of slot 0 */
	uint32_t journal_blocks; /* journal ring blocks per slot */
	uint32_t orphan_blocks;	 /* orphan blocks per slot */
	uint64_t ag_start;	 /* first block of AG 0 */
	uint32_t ag_blocks;	 /* blocks per AG (the last one may be shorter) */
	uint32_t ag_count;
	uint32_t bitmap_blocks; /* blocks of each bitmap (block and inode) per AG */
	uint32_t state;		/* SFS_SB_* */
	uint64_t root_ino;
	uint64_t ctime; /* mkfs time, seconds since the epoch */
	uint64_t mtime; /* last superblock write */
	uint8_t uuid[16];
	uint8_t dir_hash_seed[16];
	char label[SFS_LABEL_MAX + 1];
};

/* Offsets of the superblock payload (FORMAT.md). */
#define SFS_SB_OFF_VERSION   48
#define SFS_SB_OFF_BSIZE     52
#define SFS_SB_OFF_COMPAT    56
#define SFS_SB_OFF_INCOMPAT  64
#define SFS_SB_OFF_ROCOMPAT  72
#define SFS_SB_OFF_BLOCKS    80
#define SFS_SB_OFF_SLOTS     88
#define SFS_SB_OFF_SLOTBLKS  92
#define SFS_SB_OFF_SLOTSTART 96
#define SFS_SB_OFF_JBLOCKS   104
#define SFS_SB_OFF_OBLOCKS   108
#define SFS_SB_OFF_AGSTART   112
#define SFS_SB_OFF_AGBLOCKS  120
#define SFS_SB_OFF_AGCOUNT   124
#define SFS_SB_OFF_BMBLOCKS  128
#define SFS_SB_OFF_STATE     132
#define SFS_SB_OFF_ROOT	     136
#define SFS_SB_OFF_CTIME     144
#define SFS_SB_OFF_MTIME     152
#define SFS_SB_OFF_HASHSEED  160
#define SFS_SB_OFF_LABEL     176 /* 64 bytes, NUL padded */
#define SFS_SB_OFF_END	     240

/* Encode into a whole block and seal it at blkno (primary or backup). */
void sfs_super_encode(const struct sfs_super *sb, uint64_t blkno, void *blk);
/* Decode and validate the header (type SUPER, blkno, crc; uuid taken from the
 * block) and the geometry. 0, -EIO (not sanfs / bad crc / inconsistent),
 * with *why set to a one-line reason. Feature and version checks are the
 * caller's (sfs_super_compatible). */
int sfs_super_decode(const void *blk, uint64_t blkno, struct sfs_super *sb, const char **why);
/* 0 when this code can mount sb (rw unless *ro_only set); -EINVAL with *why. */
int sfs_super_compatible(const struct sfs_super *sb, bool *ro_only, const char **why);

/* ---- geometry ---- */
#define SFS_SLOT_HB	0 /* offsets inside a slot region */
#define SFS_SLOT_JHDR	1
#define SFS_SLOT_LALLOC 2
#define SFS_SLOT_ORPHAN 3 /* orphan_blocks blocks */
static inline uint64_t sfs_slot_base(const struct sfs_super *sb, unsigned slot)
{
	return sb->slot_start + (uint64_t)slot * sb->slot_blocks;
}
static inline uint64_t sfs_slot_journal(const struct sfs_super *sb, unsigned slot)
{
	return sfs_slot_base(sb, slot) + SFS_SLOT_ORPHAN + sb->orphan_blocks;
}
static inline uint64_t sfs_ag_base(const struct sfs_super *sb, uint32_t ag)
{
	return sb->ag_start + (uint64_t)ag * sb->ag_blocks;
}
/* Blocks in AG ag (the last one may be shorter). */
uint32_t sfs_ag_size(const struct sfs_super *sb, uint32_t ag);
/* AG of a block >= ag_start; UINT32_MAX when blkno is outside every AG. */
uint32_t sfs_ag_of(const struct sfs_super *sb, uint64_t blkno);
/* Blocks at the start of every AG used by its header and bitmaps. */
static inline uint32_t sfs_ag_meta_blocks(const struct sfs_super *sb)
{
	return 1 + 2 * sb->bitmap_blocks;
}

/* ---- bitmap blocks: payload bits after a 64-byte area (header + pad) ---- */
#define SFS_BM_OFF  64u
#define SFS_BM_BITS ((SFS_BLOCK_SIZE - SFS_BM_OFF) * 8u) /* 32256 */

/* ---- allocation group header ---- */
struct sfs_ag {
	uint32_t index;
	uint32_t nblocks;     /* blocks in this AG */
	uint32_t free_blocks; /* clear bits of its block bitmap */
	uint32_t inodes;      /* set bits of its inode bitmap */
	uint32_t bitmap_blocks;
	uint32_t flags;
};
void sfs_ag_encode(const struct sfs_ag *ag, void *blk); /* payload only; header by caller */
int sfs_ag_decode(const void *blk, const struct sfs_super *sb, uint32_t index, struct sfs_ag *ag);

/* ---- journal header of a slot (type JHDR, owner SLOT) ---- */
#define SFS_JH_CLEAN 1u /* the slot was released cleanly: nothing to replay */
struct sfs_jhdr {
	uint32_t ring_blocks; /* must equal sb.journal_blocks */
	uint32_t flags;	      /* SFS_JH_* */
	uint64_t tail_seq;    /* sequence number of the first transaction to replay */
	uint64_t tail;	      /* ring index (0..ring_blocks-1) where it starts */
	uint64_t mount_gen;   /* bumped at every claim of the slot */
};
void sfs_jhdr_encode(const struct sfs_jhdr *h, void *blk);
int sfs_jhdr_decode(const void *blk, const struct sfs_super *sb, struct sfs_jhdr *h);

/* ---- journal records in the ring: descriptor, revoke, commit ---- */
/* Descriptor (JDESC) and revoke (JREVOKE) blocks: u64 seq at 48, u32 count at
 * 56, u32 flags at 60, then count u64 block numbers from offset 64. */
#define SFS_JREC_OFF_SEQ   48
#define SFS_JREC_OFF_COUNT 56
#define SFS_JREC_OFF_FLAGS 60
#define SFS_JREC_OFF_TAGS  64
#define SFS_JREC_TAGS	   ((SFS_BLOCK_SIZE - SFS_JREC_OFF_TAGS) / 8) /* 504 */
/* Commit (JCOMMIT): u64 seq at 48, u32 nblocks (records + images before the
 * commit) at 56, u32 crc at 60 (CRC32C over those blocks as written, chained),
 * u64 time (ns) at 64. */
#define SFS_JC_OFF_SEQ	   48
#define SFS_JC_OFF_NBLOCKS 56
#define SFS_JC_OFF_DCRC	   60
#define SFS_JC_OFF_TIME	   64

/* ---- heartbeat block of a slot (slot offset 0) ----
 * Encoded by blockdev (bdev_hb_encode, blockdev/bdev.h), not with the common
 * header: node/ reads it too. Type SFS_BT_HEARTBEAT stays reserved. */

/* ---- orphan block (type ORPHAN, owner SLOT): u32 count at 48, then u64 inos at 64 ---- */
#define SFS_ORPHAN_OFF_COUNT	  48
#define SFS_ORPHAN_OFF_INOS	  64
#define SFS_ORPHAN_PER_BLOCK	  ((SFS_BLOCK_SIZE - SFS_ORPHAN_OFF_INOS) / 8) /* 504 */
#define SFS_DEFAULT_ORPHAN_BLOCKS 4u

/* ---- local allocation window (type LALLOC, owner SLOT) ----
 * u32 ag at 48 (UINT32_MAX: none), u32 pad, u64 goal at 56: where this slot's
 * next allocation in that AG starts (the allocator's cursor, kept across
 * mounts so a slot keeps filling its own region). */
#define SFS_LA_OFF_AG	48
#define SFS_LA_OFF_GOAL 56

/* Bitmap helpers on a payload pointer. */
static inline bool sfs_bit_test(const uint8_t *bm, uint32_t bit)
{
	return (bm[bit >> 3] >> (bit & 7)) & 1;
}
static inline void sfs_bit_set(uint8_t *bm, uint32_t bit)
{
	bm[bit >> 3] |= (uint8_t)(1u << (bit & 7));
}
static inline void sfs_bit_clear(uint8_t *bm, uint32_t bit)
{
	bm[bit >> 3] &= (uint8_t) ~(1u << (bit & 7));
}

/* Resource (LCL_RES) that owns a block of the fixed layout; the lock types are
 * those of locks/lcl.h. */
uint64_t sfs_owner_super(void);
uint64_t sfs_owner_ag(uint32_t ag);
uint64_t sfs_owner_slot(unsigned slot);
uint64_t sfs_owner_inode(uint64_t ino);

#endif

/* inode_format: the on-disk inode block, xattr block and symlink block, and
 * the extent record (byte layout in fs/FORMAT-inode.md).
 *
 * Encoding and decoding of these blocks sits here and nowhere else (STYLE).
 * Decoders validate every field and return -EIO with a log line naming the
 * block ("inode: block N: why"); they never trust a length, count or offset
 * read from the disk. Encoders write the payload only (bytes after the common
 * 48-byte block header): the engine reseals the header when it writes a block.
 *
 * No state, thread-safe. Errors: 0 or negative errno. */
#ifndef SANFS_FS_INODE_FORMAT_H
#define SANFS_FS_INODE_FORMAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/endian_le.h"

struct sfs_inode;

/* Inode block layout (offsets from the start of the 4 KiB block). */
#define INODE_CORE_OFF	 48   /* fixed fields, after the common header */
#define INODE_DATA_OFF	 256  /* data area: inline extents or symlink target */
#define INODE_DATA_SIZE	 1024 /* bytes */
#define INODE_XATTR_OFF	 1280 /* inline xattr area */
#define INODE_XATTR_SIZE 2816 /* bytes, up to the end of the block */

#define SFS_EXTENT_SIZE	 24				     /* one encoded extent */
#define INODE_INLINE_EXT (INODE_DATA_SIZE / SFS_EXTENT_SIZE) /* 42 */

/* Layout flags (struct sfs_inode.lflags), not visible to users. */
#define INODE_LF_EXT_TREE 0x0001 /* the extents live in the fork's B+tree */
#define INODE_LF_ORPHAN	  0x0002 /* on an orphan list (nlink 0 or being truncated) */
#define INODE_LF_KNOWN	  0x0003

/* User-visible inode flags (struct sfs_inode.flags): none defined yet. */
#define INODE_FLAGS_KNOWN 0x00000000u

/* Xattr run: 1..XATTR_RUN_MAX adjacent blocks whose payloads, one after the
 * other, hold the entries that do not fit inline. Each block: header, u16 its
 * index in the run, u16 zero, u32 bytes of entries in this block's payload
 * (every block but the last is full), zero to XATTR_BLK_ENTRIES_OFF. */
#define XATTR_BLK_INDEX_OFF   48
#define XATTR_BLK_USED_OFF    52
#define XATTR_BLK_ENTRIES_OFF 64
#define XATTR_BLK_SIZE	      (4096 - XATTR_BLK_ENTRIES_OFF) /* 4032 */
#define XATTR_RUN_MAX	      32			     /* blocks: 129,024 bytes of entries */

/* Symlink block: header, u16 bytes, the bytes of the target past the part kept
 * inline (a target longer than INODE_DATA_SIZE keeps its first
 * INODE_DATA_SIZE bytes in the inode block and the rest here). */
#define SYMLINK_BLK_LEN_OFF  48
#define SYMLINK_BLK_DATA_OFF 64
#define SYMLINK_MAX	     4095 /* PATH_MAX - 1 */

/* One xattr entry (inline area and xattr run alike):
 *   u8 ns, u8 name_len, u32 value_len (<= XATTR_VALUE_MAX), name, value. */
#define XATTR_ENT_HDR	6
#define XATTR_VALUE_MAX 65536 /* XATTR_SIZE_MAX */

/* Extent: file blocks [lblk, lblk+len) are device blocks [pblk, pblk+len). */
#define SFS_EXT_UNWRITTEN 0x1u /* allocated, reads as zeros (fallocate) */
#define SFS_EXT_KNOWN	  0x1u
#define SFS_EXT_MAX_LEN	  0x80000000u /* blocks per extent (8 TiB) */
/* Largest logical block + 1: 2^40 blocks = 4 PiB, well past the 16 TiB of
 * DESIGN §3. */
#define SFS_MAX_LBLK	  (1ull << 40)
#define SFS_MAX_FILE_SIZE (SFS_MAX_LBLK * 4096ull)

struct sfs_extent {
	uint64_t lblk;
	uint64_t pblk;
	uint32_t len;
	uint32_t flags;
};

void sfs_extent_encode(const struct sfs_extent *e, uint8_t out[SFS_EXTENT_SIZE]);
/* Field checks only (len, flags, ranges); blkno names the block it came from
 * (for the log line). -EIO on a bad record. */
int sfs_extent_decode(const uint8_t in[SFS_EXTENT_SIZE], uint64_t blkno, struct sfs_extent *e);

/* Write the payload of ip's inode block into blk (a full 4 KiB image; the
 * header bytes are left alone). Requires ip's inline parts to fit (asserted:
 * the callers keep them within the areas). */
void inode_encode(const struct sfs_inode *ip, uint8_t *blk);

/* Decode and validate the payload of the inode block of inode ino (header
 * already checked by bc_read). Fills the on-disk fields of *ip, allocating
 * its inline parts; release them with inode_decoded_release. On error *ip
 * holds nothing to release. */
int inode_decode(const uint8_t *blk, uint64_t ino, struct sfs_inode *ip);
void inode_decoded_release(struct sfs_inode *ip);

/* For fsck and fuzzing: check the header (magic, type INODE, blkno = ino,
 * uuid, owner, crc) and then decode as inode_decode. Read-only. */
int inode_block_decode(const uint8_t *blk, const uint8_t uuid[16], uint64_t ino,
		       struct sfs_inode *ip);

/* Xattr entry areas (the inline area, or the payloads of a run put one after
 * the other): check that entries tile [0, len) exactly with valid namespaces,
 * names and value lengths (all a reader needs to be safe; *count gets the
 * entries), and for xattr_area_check also that no name is there twice
 * (what a change needs). -EIO with a log line naming blkno, -ENOMEM. */
int xattr_area_tiles(const uint8_t *area, size_t len, uint64_t blkno, size_t *count);
int xattr_area_check(const uint8_t *area, size_t len, uint64_t blkno);
/* Length of the entry at e (checked areas only). */
size_t xattr_ent_len(const uint8_t *e);
static inline size_t xattr_ent_vlen(const uint8_t *e)
{
	return le32_get(e + 2);
}

/* Block `index` of a run: check its header; *used gets the bytes of entries
 * in its payload. The run's rules (all blocks but the last full) and its
 * entries are checked by the caller on the whole area. */
int xattr_block_decode(const uint8_t *blk, uint64_t blkno, unsigned index, size_t *used);
void xattr_block_encode(uint8_t *blk, unsigned index, size_t used);

/* Symlink block: the tail of the target. */
int symlink_block_decode(const uint8_t *blk, uint64_t blkno, size_t expect_len);
void symlink_block_encode(uint8_t *blk, const char *tail, size_t len);

#endif

/* alloc: the block and inode allocator (fs/INTERNALS.md "Allocator").
 *
 * Every AG has a header (free count, inode count) and two bitmaps: the block
 * bitmap (bit set: block in use) and the inode bitmap (bit set: the block is
 * an inode block; such a block is also set in the block bitmap). Bits past
 * the end of a short last AG are set in the block bitmap (never free).
 *
 * Placement: near goal when given (same AG, first free run at or after the
 * goal's offset, wrapping); otherwise this node's AG first (slot % ag_count),
 * then the next AGs in order. This slot's cursor (the local allocation window
 * block) remembers where its last allocation ended.
 *
 * Locking: the allocator takes LCL_RES(LCL_T_AG, n) EX itself, one AG at a
 * time, and never while the caller could deadlock: callers may hold inode
 * locks (lock order: inodes, then AGs, then SUPER). Blocks freed by a
 * transaction that has not committed are not handed out again until it has
 * (so data written into a reused block can never land in a block that a
 * crash would give back to its old owner).
 *
 * Every call joins the AG header and the touched bitmap blocks to t: count at
 * most ALLOC_MAX_BLOCKS per call in txn_begin bounds.
 *
 * Reserve: each AG keeps back a few blocks (in all about 1/64 of the
 * filesystem, at most 4096 blocks, but at least 16 per AG of 1024 blocks or
 * more) so that a handle that has already changed something never meets
 * ENOSPC half-way (which would abort the journal). alloc_blocks and
 * alloc_inode leave the reserve alone (and do not count blocks freed by
 * uncommitted transactions): they are a handle's first change, or their
 * caller undoes its work cleanly on ENOSPC (file data). alloc_meta (directory
 * and symlink blocks) takes from the reserve once its handle has changed
 * something, and is an ordinary allocation before that; alloc_reserved
 * (extent tree blocks: splitting an extent for a punch or for a write into
 * fallocated space must not fail, as in ext4) always may. Both try every AG
 * outside its reserve first. statfs does not count the reserve as free.
 *
 * Errors: -ENOSPC when nothing fits (min not met), -EINVAL for a range that
 * is not allocated or outside the AG area (logged: a caller bug or corruption),
 * -EIO. */
#ifndef SANFS_FS_ALLOC_H
#define SANFS_FS_ALLOC_H

#include <stdint.h>
#include <sys/statvfs.h>

struct sfs;
struct txn;

/* Blocks one alloc_* call adds to a transaction at most: the AG header and
 * the bitmap blocks a run of up to 32256 blocks can span (2), plus the
 * inode bitmap for inode calls. */
#define ALLOC_MAX_BLOCKS 4u

int alloc_blocks(struct sfs *fs, struct txn *t, uint64_t goal, uint32_t want, uint32_t min,
		 uint64_t *start, uint32_t *got);
int alloc_meta(struct sfs *fs, struct txn *t, uint64_t goal, uint32_t want, uint32_t min,
	       uint64_t *start, uint32_t *got);
int alloc_reserved(struct sfs *fs, struct txn *t, uint64_t goal, uint32_t want, uint32_t min,
		   uint64_t *start, uint32_t *got);
int alloc_free(struct sfs *fs, struct txn *t, uint64_t start, uint32_t len);
int alloc_inode(struct sfs *fs, struct txn *t, uint64_t near_ino, uint64_t *ino);
int alloc_inode_free(struct sfs *fs, struct txn *t, uint64_t ino);
/* Blocks kept back in each AG, and in all AGs together (see above). */
struct sfs_super;
uint32_t alloc_reserve_per_ag(const struct sfs_super *sb);
uint64_t alloc_reserve_blocks(struct sfs *fs);
/* 1 if ino is an allocated inode block, 0 if not, -errno. */
int alloc_is_inode(struct sfs *fs, uint64_t ino);

/* engine internal */
int alloc_setup(struct sfs *fs);
int alloc_save_cursor(struct sfs *fs); /* into the slot's window block, at close */
void alloc_teardown(struct sfs *fs);

#endif

/* extent: the extent map of a regular file (DESIGN §3 "Extent-mapped files
 * (inline extents, then a B+tree), sparse files"; layout in FORMAT-inode.md).
 *
 * An extent maps file blocks [lblk, lblk+len) to device blocks [pblk,
 * pblk+len); unwritten extents (fallocate) are allocated but read as zeros.
 * Extents never overlap; a block that no extent covers is a hole. Up to
 * INODE_INLINE_EXT extents live in the inode block; one more moves them all
 * into a B+tree (btree.h) rooted in the inode's fork, keyed (lblk, 0), value
 * (u64 pblk, u32 len, u32 flags). A tree that becomes empty goes back inline
 * by itself; one with few extents left by extent_try_inline.
 *
 * Locking: the caller holds the inode's LCL lock (PR for lookups and walks,
 * EX for changes). Changes update the in-core inode (extents, fork, blocks)
 * and leave the inode_write to the caller, in the same transaction.
 *
 * Transactions: extent_op_blocks(ip) bounds the blocks one extent change
 * adds to a transaction (it grows with the tree's depth), and
 * extent_ops_per_txn() says how many such changes one handle should carry
 * for this journal's size.
 * Errors: 0 or negative errno; a corrupt record or tree node is -EIO with a
 * log line naming the block. */
#ifndef SANFS_FS_EXTENT_H
#define SANFS_FS_EXTENT_H

#include <stdbool.h>
#include <stdint.h>

#include "fs/inode_format.h"

struct sfs;
struct txn;
struct sfs_inode;

/* Extent containing lblk (*e->lblk <= lblk), or else the first one after it
 * (e->lblk > lblk). -ENOENT when no extent ends past lblk. */
int extent_find(struct sfs *fs, struct sfs_inode *ip, uint64_t lblk, struct sfs_extent *e);

/* Map a range that is a hole ([e->lblk, +len) must overlap no extent:
 * -EEXIST otherwise). Merges with a neighbour that continues it logically and
 * physically with the same flags. Does not change ip->blocks for the data
 * (the caller allocated it); tree nodes are counted. */
int extent_insert(struct sfs *fs, struct txn *t, struct sfs_inode *ip, const struct sfs_extent *e);

/* Unmap [lblk, lblk+len) (holes inside are fine), at most max_ext extents
 * touched per call; *more is set when extents remain in the range. With
 * free_blocks, the device blocks go back through alloc_free and ip->blocks
 * drops accordingly. The last extents are removed first (truncation from the
 * end keeps the file consistent after every step). */
int extent_remove(struct sfs *fs, struct txn *t, struct sfs_inode *ip, uint64_t lblk, uint64_t len,
		  unsigned max_ext, bool free_blocks, bool *more);

/* Mark [lblk, lblk+len) written (clear UNWRITTEN), splitting extents at the
 * edges; holes inside are skipped. At most max_ext extents per call; *more as
 * above. */
int extent_mark_written(struct sfs *fs, struct txn *t, struct sfs_inode *ip, uint64_t lblk,
			uint64_t len, unsigned max_ext, bool *more);

/* Calls fn for every extent that ends after lblk, in order; fn returns 0 to
 * go on, > 0 to stop (result 0), < 0 to stop with that error. */
typedef int (*extent_fn)(void *arg, const struct sfs_extent *e);
int extent_iterate(struct sfs *fs, struct sfs_inode *ip, uint64_t lblk, extent_fn fn, void *arg);

/* Allocation goal for file block lblk: the device block that would continue
 * the extent before it, else a block near the inode. */
uint64_t extent_goal(struct sfs *fs, struct sfs_inode *ip, uint64_t lblk);

/* Number of extents (inline or in the tree). */
uint64_t extent_count(const struct sfs_inode *ip);

/* Bound of blocks one extent change (an insert, or one extent of a remove
 * or mark_written) adds to a transaction, from ip's current tree depth. */
unsigned extent_op_blocks(const struct sfs_inode *ip);
/* How many extent changes (each extent_op_blocks + extra blocks) one handle
 * should carry next to fixed other blocks: a quarter of the journal at
 * most, at least 1, at most 8. */
unsigned extent_ops_per_txn(struct sfs *fs, const struct sfs_inode *ip, unsigned extra,
			    unsigned fixed);

/* A tree with at most INODE_INLINE_EXT / 2 extents goes back inline (its
 * nodes freed). extent_inline_blocks(ip) bounds what that adds to t. */
int extent_try_inline(struct sfs *fs, struct txn *t, struct sfs_inode *ip);
unsigned extent_inline_blocks(const struct sfs_inode *ip);

/* For fsck (read-only): every extent (decoded and checked, in order, no
 * overlap) and every tree node of ip. Either callback may be NULL; a nonzero
 * return stops the walk and is returned. -EIO on corruption. */
struct extent_walk_ops {
	int (*extent)(void *arg, const struct sfs_extent *e);
	int (*node)(void *arg, uint64_t blkno, unsigned level);
};
int extent_walk(struct sfs *fs, const struct sfs_inode *ip, const struct extent_walk_ops *ops,
		void *arg);

/* Value encoding of a tree record (16 bytes). */
#define EXTENT_VAL_SIZE 16
void extent_val_encode(const struct sfs_extent *e, uint8_t out[EXTENT_VAL_SIZE]);
int extent_val_decode(uint64_t lblk, const uint8_t *val, size_t len, uint64_t ino,
		      struct sfs_extent *e);

#endif

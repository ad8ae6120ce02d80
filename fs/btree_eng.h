/* The part of the engine API (fs/INTERNALS.md "Engine API") that the B+tree
 * and directory code call. Until the engine's headers (bcache.h, jnl.h,
 * alloc.h, format.h, sfs.h) exist on this branch, this file declares the
 * calls exactly as INTERNALS.md writes them; the unit tests link an in-memory
 * fake of them (tests/fs/fake_engine.c). Once the engine lands, this file only
 * includes its headers. */
#ifndef SANFS_FS_BTREE_ENG_H
#define SANFS_FS_BTREE_ENG_H

#include <stdint.h>

#define SFS_BLOCK_SIZE	 4096
#define SFS_BLK_HDR_SIZE 48 /* the common block header (INTERNALS.md) */
#define BTREE_BLK_TYPE	 5  /* enum sfs_btype BTREE_NODE */

struct sfs;
struct txn;
struct buf {
	uint64_t blkno;
	uint8_t *data;
};

int bc_read(struct sfs *fs, uint64_t blkno, uint16_t type, uint64_t owner, struct buf **out);
int bc_new(struct sfs *fs, uint64_t blkno, uint16_t type, uint64_t owner, struct buf **out);
void bc_get(struct buf *b);
void bc_put(struct buf *b);
void bc_forget(struct sfs *fs, uint64_t blkno);
int txn_add(struct txn *t, struct buf *b);
int alloc_blocks(struct sfs *fs, struct txn *t, uint64_t goal, uint32_t want, uint32_t min,
		 uint64_t *start, uint32_t *got);
int alloc_free(struct sfs *fs, struct txn *t, uint64_t start, uint32_t len);

/* The per-filesystem 16-byte key of the directory name hash (superblock). */
const uint8_t *sfs_dir_hash_seed(struct sfs *fs);

/* Blocks one alloc_blocks/alloc_free call may add to a transaction (an AG
 * header and the bitmap blocks of a run); used for txn_begin bounds. */
#define BTREE_ALLOC_CALL_BLOCKS 3

#endif

/* bcache: the buffer cache of metadata blocks (fs/INTERNALS.md "Engine API").
 *
 * Buffers are hashed by block number and refcounted. Each knows its lock
 * resource (the header's owner field) so that everything cached of one
 * resource can be found: bc_drop_res before PR is given up, jnl_flush_res
 * before EX is given up (DESIGN §3). Buffers without references and without
 * journal state sit on an LRU list; the cache keeps at most cache_blocks of
 * them (buffers in use or waiting for checkpoint are never evicted).
 *
 * Reads check the whole header (magic, crc, block number, uuid, type, owner)
 * and fail with -EIO and a log line naming the block; a failed read is not
 * cached. A cache hit checks type and owner again.
 *
 * Writes: callers never write buffers. They txn_add a buffer to a handle
 * before changing its payload (jnl.h); the journal copies it at commit,
 * reseals the header crc in the copy and later writes the copy home.
 *
 * Ownership: bc_read/bc_new return a reference the caller drops with bc_put.
 * b->data is SFS_BLOCK_SIZE bytes, 4096-aligned, valid while referenced.
 * Thread-safe: one mutex protects the tables (never held across I/O). */
#ifndef SANFS_FS_BCACHE_H
#define SANFS_FS_BCACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct sfs;

struct buf {
	uint64_t blkno;
	uint8_t *data;
	/* private to bcache/jnl */
	struct sfs *fs;
	uint64_t res;
	unsigned refs;	 /* users + one for the journal while jref */
	unsigned flags;	 /* BUF_* of bcache.c */
	int err;	 /* load error, for waiters */
	bool jref;	 /* the journal holds a reference */
	bool committing; /* a copy is being committed */
	uint64_t jtid;	 /* running transaction it belongs to, 0: none */
	uint8_t *ck;	 /* committed image not yet home (sealed) */
	uint64_t ck_tid;
	struct buf *hnext;	   /* hash chain */
	struct buf *rnext, *rprev; /* chain of the same resource */
	struct buf *lru_prev, *lru_next;
	struct buf *jnext;	     /* running transaction's list */
	struct buf *cknext, *ckprev; /* checkpoint list */
};

int bc_setup(struct sfs *fs, unsigned cache_blocks);
void bc_teardown(struct sfs *fs); /* every buffer must be unreferenced */

int bc_read(struct sfs *fs, uint64_t blkno, uint16_t type, uint64_t owner, struct buf **out);
/* Read ahead: the blocks blk[0..n) (ascending; blk[i] of the given type,
 * owned by owner[i]) that are not cached are read in as few device requests as
 * their nearness allows (a gap of a few blocks is read and thrown away) and
 * left cached without references. Best effort and quiet: a block that fails
 * to read or to check is not cached, so the bc_read that follows reports it.
 * The caller holds each owner's lock in PR or stronger, as for bc_read. */
void bc_prefetch(struct sfs *fs, const uint64_t *blk, const uint64_t *owner, size_t n,
		 uint16_t type);
/* Whether blkno is cached (a bc_read of it would not wait for the device). */
bool bc_cached(struct sfs *fs, uint64_t blkno);
/* A freshly allocated block: zeroed, header filled (crc at write), not read. */
int bc_new(struct sfs *fs, uint64_t blkno, uint16_t type, uint64_t owner, struct buf **out);
void bc_get(struct buf *b);
void bc_put(struct buf *b);
/* The block was freed: forget it; its images never go home and a revoke
 * record in the running transaction keeps replay from writing older ones. */
void bc_forget(struct sfs *fs, uint64_t blkno);
/* Drop every cached block of res (before giving up PR). Blocks with journal
 * state are kept (jnl_flush_res must run first; a warning says so). */
void bc_drop_res(struct sfs *fs, uint64_t res);
/* Drop every unreferenced clean buffer (tests, memory pressure). */
void bc_shrink(struct sfs *fs);

struct bc_stats {
	unsigned cached, lru, pinned;
	uint64_t hits, misses, reads;
};
void bc_stats(struct sfs *fs, struct bc_stats *st);

#endif

/* inode: in-core inodes and their cache (fs/INTERNALS.md "Inodes and files";
 * on-disk layout in fs/FORMAT-inode.md).
 *
 * One inode per 4 KiB block: the inode number is the block number of its
 * inode block, which belongs to the lock resource LCL_RES(LCL_T_INODE, ino),
 * as does every block hanging off the inode (extent tree nodes, xattr block,
 * symlink block). DESIGN §3: callers hold that resource's LCL lock, PR to read
 * the in-core fields, EX to change them (and to call inode_write).
 *
 * The cache: in-core inodes are hashed by number and refcounted; an inode
 * whose last reference is put stays cached on an LRU list of bounded length
 * (the oldest unused ones are dropped). The cache is thread-safe; the fields
 * of one inode are protected by the caller's LCL lock, not by the cache.
 *
 * Lifetime and orphans: when inode_write stores nlink == 0, the inode goes on
 * this slot's orphan list in the same transaction. At the last inode_put of an
 * inode with nlink == 0 its blocks are freed (extents, tree nodes, xattr and
 * symlink blocks, the inode block) and it leaves the orphan list in the last
 * transaction, so a crash at any point leaves it on the orphan list, and
 * mount reclaims it (inode_reclaim, the engine's reclaim callback).
 *
 * Errors: 0 or negative errno; a corrupt inode block is -EIO with a log line
 * naming the block. */
#ifndef SANFS_FS_INODE_H
#define SANFS_FS_INODE_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>
#include <time.h>

#include "fs/btree.h"
#include "fs/inode_format.h"

struct sfs;
struct txn;

struct sfs_inode {
	uint64_t ino;
	uint32_t mode, uid, gid, nlink;
	uint64_t size, blocks; /* blocks in 512-byte units, as st_blocks */
	struct timespec atime, mtime, ctime, btime;
	uint32_t rdev, flags;
	uint64_t generation;
	struct sfs_fork fork; /* extent tree (files) / directory tree (dir.h) */

	/* Private to the inode part (inode, extent, file, xattr, symlink). */
	uint16_t lflags;	    /* INODE_LF_* */
	uint16_t niext;		    /* inline extents in use */
	struct sfs_extent *iext;    /* INODE_INLINE_EXT slots, NULL when none */
	uint32_t symlen;	    /* symlink target length (0: not a symlink) */
	char *sym;		    /* inline part of the target, NUL-terminated */
	uint64_t symlink_blk;	    /* tail of a long target, 0: none */
	uint64_t xattr_blk;	    /* first block of the xattr run, 0: none */
	uint16_t xattr_nblk;	    /* blocks in the run (0 without one) */
	uint16_t ixattr_len;	    /* bytes of inline xattr entries */
	uint8_t *ixattr;	    /* INODE_XATTR_SIZE bytes, NULL when none */
	uint8_t *tail;		    /* file.c's copy of a written block, NULL: none */
	uint64_t tail_lblk;	    /* ... its logical block */
	uint64_t tail_pblk;	    /* ... and where it is on the device */
	unsigned refs;		    /* cache references (under the cache mutex) */
	bool cached;		    /* in the hash table */
	bool stale;		    /* must be re-read before use (inode_invalidate) */
	bool dying;		    /* last reference gone with nlink 0: being freed */
	bool linkable;		    /* O_TMPFILE not named yet: a link may name it */
	uint64_t sync_tid;	    /* last transaction that changed the inode */
	pthread_mutex_t rlock;	    /* serialises re-reads after an invalidation */
	struct sfs_inode *hnext;    /* hash chain */
	struct sfs_inode *lru_prev; /* LRU of unreferenced inodes */
	struct sfs_inode *lru_next;
};

/* The per-filesystem cache (fs->icache). inode_setup and inode_teardown are
 * the engine's ops.setup/ops.teardown hooks, inode_reclaim its ops.reclaim,
 * inode_invalidate_res its ops.invalidate: inode_sfs_ops() fills the four
 * into a struct sfs_ops. The LRU of unused
 * inodes keeps at most max_unused (default 8192; inode_cache_bound). */
struct icache;
struct sfs_ops;
int inode_setup(struct sfs *fs);
void inode_teardown(struct sfs *fs);
void inode_sfs_ops(struct sfs_ops *ops);
void inode_cache_bound(struct sfs *fs, unsigned max_unused);
/* Inodes in the cache (referenced or not) and unused ones on the LRU. */
void inode_cache_counts(struct sfs *fs, unsigned long *cached, unsigned *unused);

/* Take a reference on inode ino, reading and checking its block when it is not
 * cached. Caller holds at least PR on the inode's resource (or is fsck).
 * -ENOENT for a number that is not an inode of this filesystem (outside the
 * device, or not an inode block), -EIO for a corrupt block. */
int inode_get(struct sfs *fs, uint64_t ino, struct sfs_inode **out);
/* The first name of an O_TMPFILE inode (link count 0, on the orphan list):
 * link count 1 and off the orphan list, in t (inode_write then stores it).
 * Caller holds EX on the inode. */
int inode_link_tmpfile(struct sfs *fs, struct txn *t, struct sfs_inode *ip);
/* Whether inode_get of ino would find it cached and current (no read). */
bool inode_cached(struct sfs *fs, uint64_t ino);
/* The tail copy (ip->tail: the block the last write ended inside, kept by
 * file.c so that the next small write need not read it back) lives while
 * the file is open for writing. inode_tail_drop frees it (caller holds EX;
 * inode_decoded_release does it too: a re-read, an eviction);
 * inode_tail_peek says whether the cached inode ino holds one (a hint, no
 * lock: whether the drop is worth taking the lock). */
void inode_tail_drop(struct sfs_inode *ip);
bool inode_tail_peek(struct sfs *fs, uint64_t ino);
/* An extra reference on an inode already held. */
void inode_ref(struct sfs *fs, struct sfs_inode *ip);
/* Drop a reference. At the last one of an inode with nlink == 0 the inode is
 * freed (its own transactions); the caller must not hold the inode's LCL lock
 * then (inode_put takes EX itself). Errors while freeing are logged; the
 * inode then stays on the orphan list for the next mount. */
void inode_put(struct sfs *fs, struct sfs_inode *ip);

/* Allocate an inode near dir (NULL: near the root) and initialise it: mode
 * (type bits required), owner, rdev, nlink 1 (2 for a directory, whose tree
 * the caller then creates with dir_init), all times now, a fresh generation.
 * The inode block joins t. *out holds a reference. */
int inode_create(struct sfs *fs, struct txn *t, struct sfs_inode *dir, uint32_t mode, uint32_t uid,
		 uint32_t gid, uint32_t rdev, struct sfs_inode **out);

/* The same on an inode block already allocated (mkfs's root inode: the
 * engine's mkfs root_init hook). */
int inode_create_at(struct sfs *fs, struct txn *t, uint64_t ino, uint32_t mode, uint32_t uid,
		    uint32_t gid, uint32_t rdev, struct sfs_inode **out);

/* Encode the in-core fields into the inode block, which joins t. Stores
 * nlink == 0 by putting the inode on the orphan list (same transaction). */
int inode_write(struct sfs *fs, struct txn *t, struct sfs_inode *ip);

/* Blocks inode_write may add to a transaction (inode block + orphan list). */
unsigned inode_write_max_blocks(void);

int inode_stat(struct sfs_inode *ip, struct stat *st);

/* Cluster invalidation (DESIGN §3): the next inode_get/inode_revalidate of
 * ino re-reads its block. Called from the inode type's invalidate callout. */
void inode_invalidate(struct sfs *fs, uint64_t ino);
/* ops.invalidate of the engine (sfs.h) for inode resources: calls
 * inode_invalidate for LCL_T_INODE resources, ignores the others. A part that
 * installs its own ops.invalidate (FUSE) calls this one from it. */
void inode_invalidate_res(struct sfs *fs, uint64_t res);
/* Re-read ip's block if it was invalidated; caller holds PR or EX. */
int inode_revalidate(struct sfs *fs, struct sfs_inode *ip);

/* The engine's orphan-reclaim callback (fs/INTERNALS.md): finish what was
 * left of orphan ino (free an unlinked inode, or take a surviving one off the
 * list) and remove it from the orphan list. Takes EX on the inode. */
int inode_reclaim(struct sfs *fs, uint64_t ino);

/* Remember that transaction tid changed ip (inode_write notes the tid of
 * its handle itself). inode_fsync waits for the newest one. */
void inode_note_tid(struct sfs_inode *ip, uint64_t tid);
/* fsync (DESIGN §3): data written so far and the metadata reaching it are
 * durable when this returns: the journal commits up to ip's newest
 * transaction, whose commit flushes the device after the data writes that
 * preceded it. Caller holds at least PR. */
int inode_fsync(struct sfs *fs, struct sfs_inode *ip);

/* Current time for timestamps. */
void inode_now(struct timespec *ts);

/* The lock resource of inode ino. */
uint64_t inode_res(uint64_t ino);

#endif

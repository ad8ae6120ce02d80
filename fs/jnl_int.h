/* Private to the engine (bcache.c, jnl.c, jnl_replay.c, alloc.c, sfs.c): the
 * cache lock shared by the buffer cache and the journal, and the calls
 * between them. One mutex guards the cache tables and every buffer's journal
 * fields (jtid, jnext, ck, committing, jref); it is never held across I/O. */
#ifndef SANFS_FS_JNL_INT_H
#define SANFS_FS_JNL_INT_H

#include <pthread.h>
#include <stdint.h>

struct sfs;
struct buf;

pthread_mutex_t *bc_mutex(struct sfs *fs);
/* Buffer flags. */
#define BUF_LOADING   1u /* being read; waiters sleep on the cache cond */
#define BUF_HASHED    2u /* in the hash table */
#define BUF_FORGOTTEN 4u /* block freed: never written home */

/* Under the cache lock: the journal no longer needs b (no running
 * transaction, no commit, no snapshot): drop its reference. */
void bc_unpin_locked(struct buf *b);
/* Under the cache lock: take the journal's reference if not held. */
void bc_pin_locked(struct buf *b);
/* Under the cache lock: drop a reference taken with b->refs++. */
void bc_unref_locked(struct buf *b);
/* Under the cache lock: take b off the checkpoint list (its snapshot is gone). */
void jnl_ck_unlink_locked(struct sfs *fs, struct buf *b);
/* Under the cache lock: iterate the buffers of res. */
struct buf *bc_res_first_locked(struct sfs *fs, uint64_t res);

/* Journal ring I/O helpers shared by jnl.c and jnl_replay.c. */
struct bdev;
int jnl_ring_write(struct bdev *dev, uint64_t ring_start, uint64_t ring_len, uint64_t pos,
		   const uint8_t *blocks, uint64_t n);

#endif

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
#define BUF_PREFETCH  8u /* loaded by bc_prefetch (a failure was not logged) */

/* Under the cache lock: the journal no longer needs b (no running
 * transaction, no commit, no snapshot): drop its reference. */
void bc_unpin_locked(struct buf *b);
/* Under the cache lock: take the journal's reference if not held. */
void bc_pin_locked(struct buf *b);
/* Under the cache lock: drop a reference taken with b->refs++. */
void bc_unref_locked(struct buf *b);
/* Under the cache lock: sleep until the journal's state changes (a commit
 * completes, a handle ends...). */
void jnl_wait_change_locked(struct sfs *fs);
/* Under the cache lock: take b off the checkpoint list (its snapshot is gone). */
void jnl_ck_unlink_locked(struct sfs *fs, struct buf *b);
/* Under the cache lock: iterate the buffers of res. */
struct buf *bc_res_first_locked(struct sfs *fs, uint64_t res);

/* Journal ring I/O helpers shared by jnl.c and jnl_replay.c. */
struct bdev;
int jnl_ring_write(struct bdev *dev, uint64_t ring_start, uint64_t ring_len, uint64_t pos,
		   const uint8_t *blocks, uint64_t n);

/* ---- the journal's state, shared by jnl.c and jnl_ckpt.c ---- */
#include <stdatomic.h>
#include <stdbool.h>

#include "fs/format.h"

struct jtxn {
	uint64_t tid;
	unsigned handles;
	unsigned reserved; /* sum of the open handles' max_blocks */
	unsigned nbufs;
	bool locked;
	struct buf *bufs; /* via jnext */
	uint64_t *revokes;
	unsigned nrev, caprev;
};

struct txn {
	struct sfs *fs;
	struct jtxn *t;
	unsigned max, added;
	bool touched; /* txn_add was called */
};

struct jnl {
	struct sfs *fs;
	pthread_mutex_t *mu; /* the cache lock */
	pthread_cond_t cv;   /* any state change */
	pthread_cond_t kick; /* wakes the commit thread */
	pthread_mutex_t ckpt_mu;
	pthread_t thr;
	bool thr_started, stop;
	int aborted; /* 0 or the negative errno that aborted it */
	unsigned commit_ms;

	struct jtxn *running;
	uint64_t committed;  /* highest committed tid */
	uint64_t commit_req; /* highest tid someone waits for */

	uint64_t ring_start, ring_len, jhdr_blkno;
	uint64_t head, tail, tail_seq;
	uint64_t ck_tid, ck_end; /* newest committed tid and the head after it */
	struct sfs_jhdr hdr;
	struct buf *ck_list; /* buffers with a snapshot to write home */
	void (*commit_hook)(struct sfs *fs, uint64_t tid);

	uint64_t n_commits, n_commit_blocks, n_ckpts, n_handles;
	/* File data written in place since the last flush (jnl_note_data). */
	atomic_bool data_unflushed;
};

/* Under the cache lock: abort with err (first cause wins), wake everyone. */
void jnl_abort_locked(struct jnl *j, int err, const char *what);
/* Write and flush the journal header (j->hdr). Caller holds ckpt_mu. */
int jnl_write_hdr(struct jnl *j);
/* Write every committed snapshot home, flush, move the tail. Caller holds
 * ckpt_mu and not the cache lock. */
int jnl_checkpoint_locked(struct jnl *j);
/* Under the cache lock: put b on the checkpoint list. */
void jnl_ck_push_locked(struct jnl *j, struct buf *b);

#endif

/* jnl: handles, group commit and checkpoint of the per-slot journal (jnl.h).
 *
 * Positions in the ring are monotonic counters; the block of position p is
 * ring_start + p % ring_len. Used space is head - tail. Only the commit thread
 * advances head; only a checkpoint (under ckpt_mu) advances tail. */
#include "fs/jnl.h"

#include <errno.h>
#include <stdatomic.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "blockdev/bdev.h"
#include "common/crc32c.h"
#include "common/endian_le.h"
#include "common/log.h"
#include "fs/bcache.h"
#include "fs/jnl_int.h"
#include "fs/sfs.h"

static struct jtxn *jtxn_new(uint64_t tid)
{
	struct jtxn *t = calloc(1, sizeof(*t));
	if (t)
		t->tid = tid;
	return t;
}

static void jtxn_free(struct jtxn *t)
{
	if (t) {
		free(t->revokes);
		free(t);
	}
}

bool jnl_aborted(struct sfs *fs)
{
	struct jnl *j = fs->jnl;
	if (!j)
		return true;
	pthread_mutex_lock(j->mu);
	bool a = j->aborted != 0;
	pthread_mutex_unlock(j->mu);
	return a;
}

void jnl_abort_locked(struct jnl *j, int err, const char *what)
{
	if (!j->aborted) {
		j->aborted = err ? err : -EIO;
		log_error("fs",
			  "journal of slot %u aborted: %s (%s); the filesystem refuses "
			  "further changes",
			  j->fs->slot, what, strerror(-j->aborted));
		sfs_mark_error(j->fs);
	}
	pthread_cond_broadcast(&j->cv);
}

/* ---- handles ---- */

/* Under the lock: the most ring blocks t can need at commit: the buffers it
 * holds, what its open handles may still add, and the descriptor, revoke
 * and commit blocks. Handles that ended count by what they added, not by
 * what they reserved, so a transaction holds as many operations as fit. */
static uint64_t jtxn_size(const struct jtxn *t)
{
	uint64_t bufs = (uint64_t)t->nbufs + t->reserved;
	return bufs + (bufs + SFS_JREC_TAGS - 1) / SFS_JREC_TAGS +
	       (t->nrev + SFS_JREC_TAGS - 1) / SFS_JREC_TAGS + 1;
}

int txn_begin(struct sfs *fs, unsigned max_blocks, struct txn **out)
{
	struct jnl *j = fs->jnl;
	if (fs->readonly || !j || atomic_load(&fs->frozen))
		return -EROFS;
	if (max_blocks == 0)
		max_blocks = 1;
	/* One handle's worst case must fit the ring with room to spare (a
	 * commit checkpoints everything first when it needs to); a small
	 * journal (1 MiB: 256 blocks) must still take a rename's ~170. */
	uint64_t cap = j->ring_len * 3 / 4;
	if (max_blocks + 2 + max_blocks / SFS_JREC_TAGS > cap) {
		log_error("fs", "transaction of %u blocks cannot fit the journal (%" PRIu64 ")",
			  max_blocks, j->ring_len);
		return -ENOSPC;
	}
	struct txn *h = malloc(sizeof(*h));
	if (!h)
		return -ENOMEM;
	pthread_mutex_lock(j->mu);
	for (;;) {
		if (j->aborted) {
			pthread_mutex_unlock(j->mu);
			free(h);
			return -EIO;
		}
		struct jtxn *r = j->running;
		if (!r->locked &&
		    (jtxn_size(r) + max_blocks <= j->ring_len / 4 || r->handles + r->nbufs == 0))
			break;
		if (!r->locked && j->commit_req < r->tid) {
			j->commit_req = r->tid;
			pthread_cond_signal(&j->kick);
		}
		pthread_cond_wait(&j->cv, j->mu);
	}
	h->fs = fs;
	h->t = j->running;
	h->max = max_blocks;
	h->added = 0;
	h->touched = false;
	h->t->handles++;
	h->t->reserved += max_blocks;
	j->n_handles++;
	pthread_mutex_unlock(j->mu);
	*out = h;
	return 0;
}

uint64_t txn_tid(const struct txn *t)
{
	return t->t->tid;
}

bool txn_touched(const struct txn *t)
{
	return t->touched;
}

/* Under the lock: a revoke of blkno in the running transaction no longer
 * holds once the block is journaled again in it. */
static void cancel_revoke(struct jtxn *t, uint64_t blkno)
{
	for (unsigned i = 0; i < t->nrev; i++)
		if (t->revokes[i] == blkno) {
			t->revokes[i] = t->revokes[--t->nrev];
			return;
		}
}

int txn_add(struct txn *h, struct buf *b)
{
	struct jnl *j = h->fs->jnl;
	pthread_mutex_lock(j->mu);
	if (j->aborted) {
		pthread_mutex_unlock(j->mu);
		return -EIO;
	}
	h->touched = true;
	if (b->jtid != h->t->tid) {
		/* A buffer is in at most one running transaction: the running
		 * one (older ones were copied at commit and released it). */
		b->jtid = h->t->tid;
		b->jnext = h->t->bufs;
		h->t->bufs = b;
		h->t->nbufs++;
		bc_pin_locked(b);
		if (h->t->nrev)
			cancel_revoke(h->t, b->blkno);
		if (++h->added > h->max)
			log_warn("fs", "handle added %u blocks, reserved %u (block %" PRIu64 ")",
				 h->added, h->max, b->blkno);
	}
	pthread_mutex_unlock(j->mu);
	return 0;
}

int txn_end(struct txn *h, uint64_t *tid_out)
{
	struct jnl *j = h->fs->jnl;
	pthread_mutex_lock(j->mu);
	struct jtxn *t = h->t;
	if (tid_out)
		*tid_out = t->tid;
	t->reserved -= h->max;
	if (--t->handles == 0)
		pthread_cond_broadcast(&j->cv);
	int rc = j->aborted ? -EIO : 0;
	pthread_mutex_unlock(j->mu);
	free(h);
	return rc;
}

void txn_abort(struct txn *h)
{
	struct jnl *j = h->fs->jnl;
	pthread_mutex_lock(j->mu);
	if (h->touched)
		jnl_abort_locked(j, -EIO, "a handle failed half-way through its changes");
	h->t->reserved -= h->max;
	if (--h->t->handles == 0)
		pthread_cond_broadcast(&j->cv);
	pthread_mutex_unlock(j->mu);
	free(h);
}

void jnl_revoke_locked(struct sfs *fs, uint64_t blkno)
{
	struct jnl *j = fs->jnl;
	struct jtxn *t = j->running;
	for (unsigned i = 0; i < t->nrev; i++)
		if (t->revokes[i] == blkno)
			return;
	if (t->nrev == t->caprev) {
		unsigned cap = t->caprev ? t->caprev * 2 : 64;
		uint64_t *n = realloc(t->revokes, cap * sizeof(*n));
		if (!n) {
			jnl_abort_locked(j, -ENOMEM, "no memory for a revoke record");
			return;
		}
		t->revokes = n;
		t->caprev = cap;
	}
	t->revokes[t->nrev++] = blkno;
}

/* ---- ring I/O ---- */

int jnl_ring_write(struct bdev *dev, uint64_t ring_start, uint64_t ring_len, uint64_t pos,
		   const uint8_t *blocks, uint64_t n)
{
	while (n) {
		uint64_t idx = pos % ring_len;
		uint64_t run = ring_len - idx < n ? ring_len - idx : n;
		int rc = bdev_write(dev, (ring_start + idx) * SFS_BLOCK_SIZE, blocks,
				    run * SFS_BLOCK_SIZE);
		if (rc)
			return rc;
		blocks += run * SFS_BLOCK_SIZE;
		pos += run;
		n -= run;
	}
	return 0;
}

/* ---- commit ---- */

static void put_tags(uint8_t *blk, uint64_t seq, const uint64_t *tags, unsigned count)
{
	le64_put(blk + SFS_JREC_OFF_SEQ, seq);
	le32_put(blk + SFS_JREC_OFF_COUNT, count);
	le32_put(blk + SFS_JREC_OFF_FLAGS, 0);
	for (unsigned i = 0; i < count; i++)
		le64_put(blk + SFS_JREC_OFF_TAGS + 8 * i, tags[i]);
}

/* Commit the running transaction. Called by the commit thread with the lock
 * held; returns with it held. */
static void commit_locked(struct jnl *j)
{
	struct sfs *fs = j->fs;
	struct jtxn *t = j->running;
	t->locked = true;
	while (t->handles && !j->aborted)
		pthread_cond_wait(&j->cv, j->mu);
	if (j->aborted)
		return;
	struct jtxn *next = jtxn_new(t->tid + 1);
	if (!next) {
		jnl_abort_locked(j, -ENOMEM, "no memory for a transaction");
		return;
	}

	/* The short exclusive section: copy every buffer, then let the next
	 * transaction run. */
	unsigned n = 0;
	struct buf **bufs = malloc((t->nbufs ? t->nbufs : 1) * sizeof(*bufs));
	uint8_t **snaps = malloc((t->nbufs ? t->nbufs : 1) * sizeof(*snaps));
	if (!bufs || !snaps) {
		free(bufs);
		free(snaps);
		jtxn_free(next);
		jnl_abort_locked(j, -ENOMEM, "no memory to commit");
		return;
	}
	int err = 0;
	for (struct buf *b = t->bufs, *nb; b; b = nb) {
		nb = b->jnext;
		b->jtid = 0;
		if (b->flags & BUF_FORGOTTEN) {
			bc_unpin_locked(b);
			continue;
		}
		uint8_t *s = bdev_alloc(SFS_BLOCK_SIZE);
		if (!s) {
			err = -ENOMEM;
			bc_unpin_locked(b);
			continue;
		}
		memcpy(s, b->data, SFS_BLOCK_SIZE);
		b->committing = true;
		bufs[n] = b;
		snaps[n++] = s;
	}
	j->running = next;
	pthread_cond_broadcast(&j->cv);
	uint64_t nrev = t->nrev;
	uint64_t head = j->head;
	pthread_mutex_unlock(j->mu);

	/* Build desc + images + revokes + commit in one staging area. */
	uint64_t ndesc = (n + SFS_JREC_TAGS - 1) / SFS_JREC_TAGS;
	uint64_t nrevb = (nrev + SFS_JREC_TAGS - 1) / SFS_JREC_TAGS;
	uint64_t total = ndesc + n + nrevb + 1;
	uint8_t *stage = NULL;
	uint64_t *tags = NULL;
	if (!err && n + nrev > 0) {
		stage = bdev_alloc(total * SFS_BLOCK_SIZE);
		tags = malloc((n ? n : 1) * sizeof(*tags));
		if (!stage || !tags)
			err = -ENOMEM;
	}
	if (!err && n + nrev > 0) {
		/* Space: checkpoint first when the ring cannot take it. */
		if (total > j->ring_len) {
			err = -ENOSPC;
		} else if (j->ring_len - (head - j->tail) < total) {
			pthread_mutex_lock(&j->ckpt_mu);
			err = jnl_checkpoint_locked(j);
			pthread_mutex_unlock(&j->ckpt_mu);
			if (!err && j->ring_len - (head - j->tail) < total)
				err = -ENOSPC;
		}
	}
	if (!err && n + nrev > 0) {
		const uint8_t *uuid = fs->sb.uuid;
		uint64_t owner = sfs_owner_slot(fs->slot);
		uint64_t pos = head;
		uint8_t *p = stage;
		uint32_t crc = 0;
		for (unsigned i = 0; i < n; i++) {
			sfs_blk_reseal(snaps[i]);
			tags[i] = bufs[i]->blkno;
		}
		for (unsigned i = 0; i < n; i += SFS_JREC_TAGS) {
			unsigned cnt = n - i < SFS_JREC_TAGS ? n - i : SFS_JREC_TAGS;
			sfs_blk_init(p, uuid, SFS_BT_JDESC, j->ring_start + pos % j->ring_len,
				     owner);
			put_tags(p, t->tid, tags + i, cnt);
			sfs_blk_reseal(p);
			crc = crc32c(crc, p, SFS_BLOCK_SIZE);
			p += SFS_BLOCK_SIZE;
			pos++;
			for (unsigned k = 0; k < cnt; k++) {
				memcpy(p, snaps[i + k], SFS_BLOCK_SIZE);
				crc = crc32c(crc, p, SFS_BLOCK_SIZE);
				p += SFS_BLOCK_SIZE;
				pos++;
			}
		}
		for (uint64_t i = 0; i < nrev; i += SFS_JREC_TAGS) {
			unsigned cnt =
			    (unsigned)(nrev - i < SFS_JREC_TAGS ? nrev - i : SFS_JREC_TAGS);
			sfs_blk_init(p, uuid, SFS_BT_JREVOKE, j->ring_start + pos % j->ring_len,
				     owner);
			put_tags(p, t->tid, t->revokes + i, cnt);
			sfs_blk_reseal(p);
			crc = crc32c(crc, p, SFS_BLOCK_SIZE);
			p += SFS_BLOCK_SIZE;
			pos++;
		}
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		sfs_blk_init(p, uuid, SFS_BT_JCOMMIT, j->ring_start + pos % j->ring_len, owner);
		le64_put(p + SFS_JC_OFF_SEQ, t->tid);
		le32_put(p + SFS_JC_OFF_NBLOCKS, (uint32_t)(total - 1));
		le32_put(p + SFS_JC_OFF_DCRC, crc);
		le64_put(p + SFS_JC_OFF_TIME, (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec);
		sfs_blk_reseal(p);
		/* Data of this transaction's handles was written before they
		 * ended, so before this point: make it durable first. */
		if (atomic_exchange(&j->data_unflushed, false))
			err = bdev_flush(fs->dev);
		if (!err)
			err =
			    jnl_ring_write(fs->dev, j->ring_start, j->ring_len, head, stage, total);
		if (!err)
			err = bdev_flush(fs->dev);
		if (err)
			log_error("fs", "journal of slot %u: commit %" PRIu64 " failed: %s",
				  fs->slot, t->tid, strerror(-err));
	}
	bdev_free(stage);
	free(tags);

	pthread_mutex_lock(j->mu);
	for (unsigned i = 0; i < n; i++) {
		struct buf *b = bufs[i];
		b->committing = false;
		if (err || (b->flags & BUF_FORGOTTEN)) {
			bdev_free(snaps[i]);
		} else {
			if (b->ck)
				bdev_free(b->ck);
			else
				jnl_ck_push_locked(j, b);
			b->ck = snaps[i];
			b->ck_tid = t->tid;
		}
		bc_unpin_locked(b);
	}
	free(bufs);
	free(snaps);
	if (!err && j->commit_hook) {
		/* Before waiters learn of the commit: blocks freed by it become
		 * allocatable. (The hook takes allocator locks: not under ours.) */
		void (*hook)(struct sfs *, uint64_t) = j->commit_hook;
		pthread_mutex_unlock(j->mu);
		hook(fs, t->tid);
		pthread_mutex_lock(j->mu);
	}
	if (err) {
		jnl_abort_locked(j, err, "commit failed");
	} else {
		if (n + nrev > 0) {
			j->head = head + total;
			j->ck_end = j->head;
			j->ck_tid = t->tid;
			j->n_commits++;
			j->n_commit_blocks += total;
		}
		j->committed = t->tid;
	}
	jtxn_free(t);
	pthread_cond_broadcast(&j->cv);
}

static void *commit_thread(void *arg)
{
	struct jnl *j = arg;
	pthread_mutex_lock(j->mu);
	while (!j->stop) {
		struct jtxn *r = j->running;
		bool want = j->commit_req >= r->tid;
		if (!want && !j->aborted) {
			struct timespec ts;
			clock_gettime(CLOCK_REALTIME, &ts);
			uint64_t ns = ts.tv_nsec + (uint64_t)j->commit_ms * 1000000ull;
			ts.tv_sec += ns / 1000000000ull;
			ts.tv_nsec = ns % 1000000000ull;
			int w = pthread_cond_timedwait(&j->kick, j->mu, &ts);
			if (j->stop)
				break;
			r = j->running;
			want =
			    j->commit_req >= r->tid || (w == ETIMEDOUT && r->nbufs + r->nrev > 0);
		}
		if (j->aborted) {
			pthread_cond_broadcast(&j->cv);
			pthread_cond_wait(&j->kick, j->mu);
			continue;
		}
		if (want)
			commit_locked(j);
		/* Past half the ring: write home now, while handles fill the next
		 * transaction, rather than inline in a commit that finds no room. */
		if (!j->aborted && !j->stop && j->head - j->tail > j->ring_len / 2) {
			pthread_mutex_unlock(j->mu);
			pthread_mutex_lock(&j->ckpt_mu);
			jnl_checkpoint_locked(j);
			pthread_mutex_unlock(&j->ckpt_mu);
			pthread_mutex_lock(j->mu);
		}
	}
	pthread_mutex_unlock(j->mu);
	return NULL;
}

void jnl_wait_change_locked(struct sfs *fs)
{
	pthread_cond_wait(&fs->jnl->cv, fs->jnl->mu);
}

void jnl_note_data(struct sfs *fs)
{
	if (fs->jnl)
		atomic_store(&fs->jnl->data_unflushed, true);
}

int jnl_wait(struct sfs *fs, uint64_t tid)
{
	struct jnl *j = fs->jnl;
	if (!j)
		return fs->readonly ? 0 : -EIO;
	pthread_mutex_lock(j->mu);
	if (tid > j->running->tid)
		tid = j->running->tid;
	if (j->committed < tid && j->commit_req < tid) {
		j->commit_req = tid;
		pthread_cond_signal(&j->kick);
	}
	while (j->committed < tid && !j->aborted)
		pthread_cond_wait(&j->cv, j->mu);
	int rc = j->committed >= tid ? 0 : -EIO;
	pthread_mutex_unlock(j->mu);
	return rc;
}

int jnl_sync(struct sfs *fs)
{
	struct jnl *j = fs->jnl;
	if (!j)
		return fs->readonly ? 0 : -EIO;
	pthread_mutex_lock(j->mu);
	uint64_t tid = j->running->tid;
	if (j->running->nbufs + j->running->nrev + j->running->handles == 0)
		tid--; /* nothing in it */
	pthread_mutex_unlock(j->mu);
	return tid ? jnl_wait(fs, tid) : 0;
}

int jnl_checkpoint_all(struct sfs *fs)
{
	if (!fs->jnl)
		return fs->readonly ? 0 : -EIO;
	int rc = jnl_sync(fs);
	if (rc)
		return rc;
	pthread_mutex_lock(&fs->jnl->ckpt_mu);
	rc = jnl_checkpoint_locked(fs->jnl);
	pthread_mutex_unlock(&fs->jnl->ckpt_mu);
	return rc;
}

int jnl_flush_res(struct sfs *fs, uint64_t res)
{
	struct jnl *j = fs->jnl;
	if (!j)
		return 0;
	uint64_t tid = 0;
	bool ckpt = false;
	pthread_mutex_lock(j->mu);
	for (struct buf *b = bc_res_first_locked(fs, res); b; b = b->rnext) {
		if (b->res != res)
			continue;
		if (b->jtid && b->jtid > tid)
			tid = b->jtid;
		/* In the commit under way (the one before the running one): its
		 * snapshot reaches the checkpoint list only when it completes. */
		if (b->committing && j->running->tid - 1 > tid)
			tid = j->running->tid - 1;
		if (b->ck || b->committing || b->jtid)
			ckpt = true;
	}
	pthread_mutex_unlock(j->mu);
	int rc = 0;
	if (tid)
		rc = jnl_wait(fs, tid);
	if (!rc && ckpt) {
		pthread_mutex_lock(&j->ckpt_mu);
		rc = jnl_checkpoint_locked(j);
		pthread_mutex_unlock(&j->ckpt_mu);
	}
	return rc;
}

void jnl_set_commit_hook(struct sfs *fs, void (*fn)(struct sfs *fs, uint64_t tid))
{
	pthread_mutex_lock(fs->jnl->mu);
	fs->jnl->commit_hook = fn;
	pthread_mutex_unlock(fs->jnl->mu);
}

void jnl_stats(struct sfs *fs, struct jnl_stats *st)
{
	struct jnl *j = fs->jnl;
	memset(st, 0, sizeof(*st));
	if (!j)
		return;
	pthread_mutex_lock(j->mu);
	st->commits = j->n_commits;
	st->commit_blocks = j->n_commit_blocks;
	st->checkpoints = j->n_ckpts;
	st->handles = j->n_handles;
	st->running_tid = j->running->tid;
	st->committed_tid = j->committed;
	st->used_blocks = j->head - j->tail;
	st->ring_blocks = j->ring_len;
	pthread_mutex_unlock(j->mu);
}

/* ---- start / stop ---- */

int jnl_start(struct sfs *fs, unsigned commit_ms)
{
	struct jnl *j = calloc(1, sizeof(*j));
	if (!j)
		return -ENOMEM;
	j->fs = fs;
	j->mu = bc_mutex(fs);
	j->commit_ms = commit_ms ? commit_ms : 5000;
	j->jhdr_blkno = sfs_slot_base(&fs->sb, fs->slot) + SFS_SLOT_JHDR;
	j->ring_start = sfs_slot_journal(&fs->sb, fs->slot);
	j->ring_len = fs->sb.journal_blocks;
	uint8_t *blk = bdev_alloc(SFS_BLOCK_SIZE);
	if (!blk) {
		free(j);
		return -ENOMEM;
	}
	int rc = bdev_read(fs->dev, j->jhdr_blkno * SFS_BLOCK_SIZE, blk, SFS_BLOCK_SIZE);
	if (!rc)
		rc = sfs_blk_check(blk, fs->sb.uuid, SFS_BT_JHDR, j->jhdr_blkno,
				   sfs_owner_slot(fs->slot));
	if (!rc)
		rc = sfs_jhdr_decode(blk, &fs->sb, &j->hdr);
	bdev_free(blk);
	if (rc) {
		free(j);
		return rc;
	}
	j->head = j->tail = j->ck_end = j->hdr.tail;
	j->tail_seq = j->hdr.tail_seq;
	j->ck_tid = j->committed = j->commit_req = j->hdr.tail_seq - 1;
	j->running = jtxn_new(j->hdr.tail_seq);
	if (!j->running) {
		free(j);
		return -ENOMEM;
	}
	/* The slot is in use from now on: a crash must replay. */
	j->hdr.flags &= ~SFS_JH_CLEAN;
	j->hdr.mount_gen++;
	pthread_cond_init(&j->cv, NULL);
	pthread_cond_init(&j->kick, NULL);
	pthread_mutex_init(&j->ckpt_mu, NULL);
	fs->jnl = j;
	rc = jnl_write_hdr(j);
	if (!rc) {
		rc = -pthread_create(&j->thr, NULL, commit_thread, j);
		j->thr_started = rc == 0;
	}
	if (rc) {
		fs->jnl = NULL;
		jtxn_free(j->running);
		free(j);
	}
	return rc;
}

int jnl_stop(struct sfs *fs, bool clean)
{
	struct jnl *j = fs->jnl;
	if (!j)
		return 0;
	int rc = 0;
	if (clean) {
		rc = jnl_checkpoint_all(fs);
		if (!rc) {
			pthread_mutex_lock(&j->ckpt_mu);
			j->hdr.flags |= SFS_JH_CLEAN;
			rc = jnl_write_hdr(j);
			pthread_mutex_unlock(&j->ckpt_mu);
		}
	}
	pthread_mutex_lock(j->mu);
	j->stop = true;
	pthread_cond_broadcast(&j->kick);
	pthread_mutex_unlock(j->mu);
	if (j->thr_started)
		pthread_join(j->thr, NULL);
	/* Drop all journal state of the buffers (a crash, or after an error). */
	pthread_mutex_lock(j->mu);
	for (struct buf *b = j->running->bufs; b; b = b->jnext)
		b->jtid = 0;
	struct buf *ck = j->ck_list;
	j->ck_list = NULL;
	for (struct buf *b = j->running->bufs, *n; b; b = n) {
		n = b->jnext;
		bc_unpin_locked(b);
	}
	while (ck) {
		struct buf *n = ck->cknext;
		bdev_free(ck->ck);
		ck->ck = NULL;
		ck->cknext = ck->ckprev = NULL;
		bc_unpin_locked(ck);
		ck = n;
	}
	pthread_mutex_unlock(j->mu);
	jtxn_free(j->running);
	pthread_cond_destroy(&j->cv);
	pthread_cond_destroy(&j->kick);
	pthread_mutex_destroy(&j->ckpt_mu);
	fs->jnl = NULL;
	free(j);
	return rc;
}

/* jnl_ckpt: checkpoint of the per-slot journal (jnl.h): committed snapshots
 * written home (several writes in flight), the device flushed, then the
 * journal header moved past them and flushed again. */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "blockdev/bdev.h"
#include "common/log.h"
#include "fs/bcache.h"
#include "fs/jnl.h"
#include "fs/jnl_int.h"
#include "fs/sfs.h"

int jnl_write_hdr(struct jnl *j)
{
	uint8_t *blk = bdev_alloc(SFS_BLOCK_SIZE);
	if (!blk)
		return -ENOMEM;
	sfs_jhdr_encode(&j->hdr, blk);
	sfs_blk_seal(blk, j->fs->sb.uuid, SFS_BT_JHDR, j->jhdr_blkno, sfs_owner_slot(j->fs->slot));
	int rc = bdev_write(j->fs->dev, j->jhdr_blkno * SFS_BLOCK_SIZE, blk, SFS_BLOCK_SIZE);
	if (!rc)
		rc = bdev_flush(j->fs->dev);
	bdev_free(blk);
	return rc;
}

/* ---- checkpoint ---- */

struct ckw {
	struct sfs *fs;
	struct buf **v;
	uint8_t **snaps;
	size_t from, to; /* [from, to) of the sorted arrays */
	int rc;
};

#define CKPT_RUN     64 /* blocks per write */
#define CKPT_THREADS 4	/* writes in flight */

/* Write snapshots [from, to) home, merging adjacent blocks into one write. */
static void *ckw_run(void *arg)
{
	struct ckw *w = arg;
	uint8_t *stage = NULL;
	for (size_t i = w->from; i < w->to && !w->rc;) {
		size_t k = 1;
		while (i + k < w->to && k < CKPT_RUN && w->v[i + k]->blkno == w->v[i]->blkno + k)
			k++;
		const uint8_t *src = w->snaps[i];
		if (k > 1) {
			if (!stage)
				stage = bdev_alloc(CKPT_RUN * SFS_BLOCK_SIZE);
			if (!stage) {
				w->rc = -ENOMEM;
				break;
			}
			for (size_t m = 0; m < k; m++)
				memcpy(stage + m * SFS_BLOCK_SIZE, w->snaps[i + m], SFS_BLOCK_SIZE);
			src = stage;
		}
		w->rc = bdev_write(w->fs->dev, w->v[i]->blkno * SFS_BLOCK_SIZE, src,
				   k * SFS_BLOCK_SIZE);
		if (w->rc)
			log_error("fs", "block %" PRIu64 ": checkpoint write failed: %s",
				  w->v[i]->blkno, strerror(-w->rc));
		i += k;
	}
	bdev_free(stage);
	return NULL;
}

/* Write n sorted snapshots home, several writes in flight when there are many. */
static int ckpt_write(struct sfs *fs, struct buf **v, uint8_t **snaps, size_t n)
{
	struct ckw w[CKPT_THREADS];
	pthread_t th[CKPT_THREADS];
	bool started[CKPT_THREADS] = {false};
	size_t parts = n >= 256 ? CKPT_THREADS : 1;
	for (size_t p = 0; p < parts; p++) {
		w[p] = (struct ckw){fs, v, snaps, n * p / parts, n * (p + 1) / parts, 0};
		if (p > 0 && pthread_create(&th[p], NULL, ckw_run, &w[p]) == 0)
			started[p] = true;
		else if (p > 0)
			ckw_run(&w[p]);
	}
	ckw_run(&w[0]);
	int rc = w[0].rc;
	for (size_t p = 1; p < parts; p++) {
		if (started[p])
			pthread_join(th[p], NULL);
		if (!rc)
			rc = w[p].rc;
	}
	return rc;
}

void jnl_ck_push_locked(struct jnl *j, struct buf *b)
{
	b->ckprev = NULL;
	b->cknext = j->ck_list;
	if (b->cknext)
		b->cknext->ckprev = b;
	j->ck_list = b;
}

void jnl_ck_unlink_locked(struct sfs *fs, struct buf *b)
{
	struct jnl *j = fs->jnl;
	if (b->ckprev)
		b->ckprev->cknext = b->cknext;
	else if (j && j->ck_list == b)
		j->ck_list = b->cknext;
	if (b->cknext)
		b->cknext->ckprev = b->ckprev;
	b->cknext = b->ckprev = NULL;
}

static int cmp_buf_blkno(const void *a, const void *b)
{
	const struct buf *x = *(struct buf *const *)a, *y = *(struct buf *const *)b;
	return x->blkno < y->blkno ? -1 : x->blkno > y->blkno;
}

/* Write every committed snapshot home, flush, move the tail. Caller holds
 * ckpt_mu and not the cache lock. */
int jnl_checkpoint_locked(struct jnl *j)
{
	struct sfs *fs = j->fs;
	pthread_mutex_lock(j->mu);
	if (j->aborted) {
		pthread_mutex_unlock(j->mu);
		return -EIO;
	}
	uint64_t end = j->ck_end, seq = j->ck_tid + 1;
	if (end == j->tail) {
		pthread_mutex_unlock(j->mu);
		return 0;
	}
	size_t n = 0;
	for (struct buf *b = j->ck_list; b; b = b->cknext)
		n++;
	struct buf **v = malloc((n ? n : 1) * sizeof(*v));
	uint8_t **snaps = malloc((n ? n : 1) * sizeof(*snaps));
	if (!v || !snaps) {
		free(v);
		free(snaps);
		pthread_mutex_unlock(j->mu);
		return -ENOMEM;
	}
	size_t i = 0;
	for (struct buf *b = j->ck_list; b; b = b->cknext)
		v[i++] = b;
	j->ck_list = NULL;
	qsort(v, n, sizeof(*v), cmp_buf_blkno);
	for (i = 0; i < n; i++) {
		snaps[i] = v[i]->ck;
		v[i]->ck = NULL;
		v[i]->cknext = v[i]->ckprev = NULL;
		v[i]->refs++; /* keep it while we write */
	}
	pthread_mutex_unlock(j->mu);

	int rc = ckpt_write(fs, v, snaps, n);
	if (!rc)
		rc = bdev_flush(fs->dev);
	if (!rc) {
		j->hdr.tail = end % j->ring_len;
		j->hdr.tail_seq = seq;
		j->hdr.flags &= ~SFS_JH_CLEAN;
		rc = jnl_write_hdr(j);
	}

	pthread_mutex_lock(j->mu);
	for (i = 0; i < n; i++) {
		struct buf *b = v[i];
		if (rc && !b->ck && !(b->flags & BUF_FORGOTTEN)) {
			/* Put it back: it still has to go home. */
			b->ck = snaps[i];
			jnl_ck_push_locked(j, b);
		} else {
			bdev_free(snaps[i]);
		}
		bc_unpin_locked(b);
		bc_unref_locked(b); /* our temporary reference */
	}
	if (rc) {
		jnl_abort_locked(j, rc, "checkpoint failed");
	} else {
		j->tail = end;
		j->tail_seq = seq;
		j->n_ckpts++;
	}
	pthread_cond_broadcast(&j->cv);
	pthread_mutex_unlock(j->mu);
	free(v);
	free(snaps);
	return rc;
}

void jnl_ckpt_lock(struct sfs *fs)
{
	pthread_mutex_lock(&fs->jnl->ckpt_mu);
}

void jnl_ckpt_unlock(struct sfs *fs)
{
	pthread_mutex_unlock(&fs->jnl->ckpt_mu);
}

/* bcache: hash table of metadata buffers with refcounts, a per-resource
 * chain and an LRU bound (bcache.h). */
#include "fs/bcache.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "blockdev/bdev.h"
#include "common/log.h"
#include "fs/jnl.h"
#include "fs/jnl_int.h"
#include "fs/sfs.h"

#define RES_BUCKETS 4096

struct bcache {
	pthread_mutex_t mu;
	pthread_cond_t cv; /* loads finished */
	struct buf **hash;
	size_t nhash; /* power of two */
	struct buf *res_hash[RES_BUCKETS];
	struct buf lru; /* sentinel: lru_next = oldest */
	unsigned cached, nlru, max_lru;
	uint64_t hits, misses, reads;
};

static inline size_t hslot(const struct bcache *bc, uint64_t blkno)
{
	return (size_t)((blkno * 0x9E3779B97F4A7C15ull) >> 20) & (bc->nhash - 1);
}

static inline size_t rslot(uint64_t res)
{
	return (size_t)((res * 0x9E3779B97F4A7C15ull) >> 40) & (RES_BUCKETS - 1);
}

pthread_mutex_t *bc_mutex(struct sfs *fs)
{
	return &fs->bc->mu;
}

int bc_setup(struct sfs *fs, unsigned cache_blocks)
{
	struct bcache *bc = calloc(1, sizeof(*bc));
	if (!bc)
		return -ENOMEM;
	bc->max_lru = cache_blocks ? cache_blocks : 32768;
	bc->nhash = 1024;
	while (bc->nhash < bc->max_lru)
		bc->nhash <<= 1;
	bc->hash = calloc(bc->nhash, sizeof(*bc->hash));
	if (!bc->hash) {
		free(bc);
		return -ENOMEM;
	}
	pthread_mutex_init(&bc->mu, NULL);
	pthread_cond_init(&bc->cv, NULL);
	bc->lru.lru_next = bc->lru.lru_prev = &bc->lru;
	fs->bc = bc;
	return 0;
}

static void lru_del(struct bcache *bc, struct buf *b)
{
	if (b->lru_next) {
		b->lru_prev->lru_next = b->lru_next;
		b->lru_next->lru_prev = b->lru_prev;
		b->lru_next = b->lru_prev = NULL;
		bc->nlru--;
	}
}

static void lru_add(struct bcache *bc, struct buf *b)
{
	b->lru_prev = bc->lru.lru_prev;
	b->lru_next = &bc->lru;
	bc->lru.lru_prev->lru_next = b;
	bc->lru.lru_prev = b;
	bc->nlru++;
}

static void hash_del(struct bcache *bc, struct buf *b)
{
	if (!(b->flags & BUF_HASHED))
		return;
	struct buf **pp = &bc->hash[hslot(bc, b->blkno)];
	while (*pp && *pp != b)
		pp = &(*pp)->hnext;
	if (*pp)
		*pp = b->hnext;
	b->hnext = NULL;
	if (b->rprev)
		b->rprev->rnext = b->rnext;
	else
		bc->res_hash[rslot(b->res)] = b->rnext;
	if (b->rnext)
		b->rnext->rprev = b->rprev;
	b->rnext = b->rprev = NULL;
	b->flags &= ~BUF_HASHED;
	bc->cached--;
}

static void hash_add(struct bcache *bc, struct buf *b)
{
	size_t h = hslot(bc, b->blkno);
	b->hnext = bc->hash[h];
	bc->hash[h] = b;
	size_t r = rslot(b->res);
	b->rprev = NULL;
	b->rnext = bc->res_hash[r];
	if (b->rnext)
		b->rnext->rprev = b;
	bc->res_hash[r] = b;
	b->flags |= BUF_HASHED;
	bc->cached++;
}

static struct buf *lookup(struct bcache *bc, uint64_t blkno)
{
	for (struct buf *b = bc->hash[hslot(bc, blkno)]; b; b = b->hnext)
		if (b->blkno == blkno)
			return b;
	return NULL;
}

static void buf_free(struct buf *b)
{
	bdev_free(b->data);
	bdev_free(b->ck);
	free(b);
}

/* Under the lock: trim the LRU to its bound. */
static void evict(struct bcache *bc)
{
	while (bc->nlru > bc->max_lru) {
		struct buf *b = bc->lru.lru_next;
		lru_del(bc, b);
		hash_del(bc, b);
		buf_free(b);
	}
}

/* Under the lock: the last reference is gone. */
static void buf_release(struct bcache *bc, struct buf *b)
{
	if (b->flags & BUF_HASHED) {
		lru_add(bc, b);
		evict(bc);
	} else {
		buf_free(b);
	}
}

void bc_teardown(struct sfs *fs)
{
	struct bcache *bc = fs->bc;
	if (!bc)
		return;
	for (size_t i = 0; i < bc->nhash; i++) {
		struct buf *b = bc->hash[i];
		while (b) {
			struct buf *n = b->hnext;
			if (b->refs)
				log_warn("fs",
					 "block %" PRIu64 ": still referenced at unmount (%u)",
					 b->blkno, b->refs);
			buf_free(b);
			b = n;
		}
	}
	free(bc->hash);
	pthread_mutex_destroy(&bc->mu);
	pthread_cond_destroy(&bc->cv);
	free(bc);
	fs->bc = NULL;
}

static struct buf *buf_alloc(struct sfs *fs, uint64_t blkno)
{
	struct buf *b = calloc(1, sizeof(*b));
	if (!b)
		return NULL;
	b->data = bdev_alloc(SFS_BLOCK_SIZE);
	if (!b->data) {
		free(b);
		return NULL;
	}
	b->fs = fs;
	b->blkno = blkno;
	b->refs = 1;
	return b;
}

static int check_hit(struct sfs *fs, struct buf *b, uint16_t type, uint64_t owner, bool say)
{
	uint16_t t = sfs_blk_type(b->data);
	if ((type != SFS_ANY_TYPE && t != type) || (owner != SFS_ANY_OWNER && b->res != owner)) {
		if (!say)
			return -EIO;
		log_error("fs",
			  "block %" PRIu64 ": cached as %s owner %#" PRIx64
			  ", wanted %s owner %#" PRIx64,
			  b->blkno, sfs_btype_name(t), b->res, sfs_btype_name(type), owner);
		(void)fs;
		return -EIO;
	}
	return 0;
}

int bc_read(struct sfs *fs, uint64_t blkno, uint16_t type, uint64_t owner, struct buf **out)
{
	struct bcache *bc = fs->bc;
	if (blkno == 0 || blkno >= fs->sb.blocks) {
		log_error("fs", "block %" PRIu64 ": outside the filesystem (%" PRIu64 " blocks)",
			  blkno, fs->sb.blocks);
		return -EIO;
	}
	pthread_mutex_lock(&bc->mu);
	struct buf *b;
	bool reread = false;
again:
	b = lookup(bc, blkno);
	if (b) {
		if (b->refs++ == 0)
			lru_del(bc, b);
		while (b->flags & BUF_LOADING)
			pthread_cond_wait(&bc->cv, &bc->mu);
		int err = b->err;
		if (err && (b->flags & BUF_PREFETCH)) {
			/* A read-ahead failed quietly: read it here, and say why. */
			if (--b->refs == 0)
				buf_release(bc, b);
			goto again;
		}
		if (!err && !reread && b->refs == 1 && !b->jref && !b->committing &&
		    check_hit(fs, b, type, owner, false)) {
			/* Cached, unused and clean, but not what the caller's lock
			 * says it is: a copy from before the block was freed and
			 * reused (in a cluster, by another node). Read it again. */
			lru_del(bc, b);
			hash_del(bc, b);
			buf_free(b);
			reread = true;
			goto again;
		}
		if (!err)
			err = check_hit(fs, b, type, owner, true);
		if (err) {
			if (--b->refs == 0)
				buf_release(bc, b);
			pthread_mutex_unlock(&bc->mu);
			return err;
		}
		bc->hits++;
		pthread_mutex_unlock(&bc->mu);
		*out = b;
		return 0;
	}
	b = buf_alloc(fs, blkno);
	if (!b) {
		pthread_mutex_unlock(&bc->mu);
		return -ENOMEM;
	}
	b->flags = BUF_LOADING;
	b->res = owner;
	hash_add(bc, b);
	bc->misses++;
	pthread_mutex_unlock(&bc->mu);

	int err = bdev_read(fs->dev, blkno * SFS_BLOCK_SIZE, b->data, SFS_BLOCK_SIZE);
	if (err)
		log_error("fs", "block %" PRIu64 ": read failed: %s", blkno, strerror(-err));
	else
		err = sfs_blk_check(b->data, fs->sb.uuid, type, blkno, owner);

	pthread_mutex_lock(&bc->mu);
	bc->reads++;
	b->flags &= ~BUF_LOADING;
	if (err) {
		b->err = err;
		/* Rehash under the actual owner is pointless: drop it. */
		hash_del(bc, b);
	} else if (owner == SFS_ANY_OWNER) {
		/* Move to the right resource chain now that the header is known. */
		hash_del(bc, b);
		b->res = sfs_blk_owner(b->data);
		hash_add(bc, b);
	}
	pthread_cond_broadcast(&bc->cv);
	if (err) {
		if (--b->refs == 0)
			buf_free(b);
		pthread_mutex_unlock(&bc->mu);
		return err;
	}
	pthread_mutex_unlock(&bc->mu);
	*out = b;
	return 0;
}

bool bc_cached(struct sfs *fs, uint64_t blkno)
{
	struct bcache *bc = fs->bc;
	pthread_mutex_lock(&bc->mu);
	struct buf *b = lookup(bc, blkno);
	bool cached = b && !(b->flags & BUF_LOADING);
	pthread_mutex_unlock(&bc->mu);
	return cached;
}

/* bc_prefetch reads a run in one request when the blocks lie at most
 * PF_GAP apart, up to PF_SPAN blocks (1 MiB) per request. */
#define PF_GAP	8
#define PF_SPAN 256

/* Under the lock: end the load of b begun by bc_prefetch (b->err set: not
 * cached). */
static void prefetch_done(struct bcache *bc, struct buf *b)
{
	b->flags &= ~BUF_LOADING;
	if (b->err)
		hash_del(bc, b);
	if (--b->refs == 0)
		buf_release(bc, b);
}

/* The end of the run that starts at load[i]: blocks at most PF_GAP apart,
 * at most PF_SPAN from its first. */
static size_t run_end(struct buf *const *load, size_t i, size_t m)
{
	size_t j = i + 1;
	while (j < m && load[j]->blkno - load[j - 1]->blkno <= PF_GAP &&
	       load[j]->blkno - load[i]->blkno < PF_SPAN)
		j++;
	return j;
}

void bc_prefetch(struct sfs *fs, const uint64_t *blk, const uint64_t *owner, size_t n,
		 uint16_t type)
{
	struct bcache *bc = fs->bc;
	struct buf **load = calloc(n ? n : 1, sizeof(*load));
	if (!load)
		return;
	/* Claim the missing blocks as loading, as bc_read does: a reader that
	 * comes meanwhile waits for this load instead of reading again. */
	size_t m = 0;
	pthread_mutex_lock(&bc->mu);
	for (size_t i = 0; i < n; i++) {
		if (blk[i] == 0 || blk[i] >= fs->sb.blocks || (m && blk[i] <= load[m - 1]->blkno) ||
		    lookup(bc, blk[i]))
			continue;
		struct buf *b = buf_alloc(fs, blk[i]);
		if (!b)
			break;
		b->flags = BUF_LOADING | BUF_PREFETCH;
		b->res = owner[i];
		hash_add(bc, b);
		load[m++] = b;
	}
	pthread_mutex_unlock(&bc->mu);

	/* One buffer for the longest run. */
	uint64_t longest = 1;
	for (size_t i = 0, j; i < m; i = j) {
		j = run_end(load, i, m);
		uint64_t len = load[j - 1]->blkno - load[i]->blkno + 1;
		if (len > longest)
			longest = len;
	}
	uint8_t *span = bdev_alloc(longest * SFS_BLOCK_SIZE);
	for (size_t i = 0; i < m;) {
		uint64_t first = load[i]->blkno;
		size_t j = span ? run_end(load, i, m) : m;
		uint64_t nblk = load[j - 1]->blkno - first + 1;
		int err =
		    span ? bdev_read(fs->dev, first * SFS_BLOCK_SIZE, span, nblk * SFS_BLOCK_SIZE)
			 : -ENOMEM;
		/* Waiters look at b->err only once the load is over (under the
		 * lock), so it is set here without it. */
		for (size_t k = i; k < j; k++) {
			struct buf *b = load[k];
			b->err = err;
			if (!err) {
				memcpy(b->data, span + (b->blkno - first) * SFS_BLOCK_SIZE,
				       SFS_BLOCK_SIZE);
				b->err = sfs_blk_verify(b->data, fs->sb.uuid, type, b->blkno,
							b->res, NULL);
			}
		}
		pthread_mutex_lock(&bc->mu);
		for (size_t k = i; k < j; k++)
			prefetch_done(bc, load[k]);
		bc->reads++;
		pthread_cond_broadcast(&bc->cv);
		pthread_mutex_unlock(&bc->mu);
		i = j;
	}
	free(load);
	bdev_free(span);
}

int bc_new(struct sfs *fs, uint64_t blkno, uint16_t type, uint64_t owner, struct buf **out)
{
	struct bcache *bc = fs->bc;
	if (blkno == 0 || blkno >= fs->sb.blocks || owner == SFS_ANY_OWNER) {
		log_error("fs", "block %" PRIu64 ": bc_new outside the filesystem", blkno);
		return -EIO;
	}
	pthread_mutex_lock(&bc->mu);
	/* A load under way ends first; its buffer may be gone by the time
	 * this thread runs again (evicted once unreferenced): look again. */
	struct buf *b;
	while ((b = lookup(bc, blkno)) && (b->flags & BUF_LOADING))
		pthread_cond_wait(&bc->cv, &bc->mu);
	if (b) {
		/* A stale copy (the block was freed elsewhere without bc_forget,
		 * or another node freed it): take it out of the cache. Its
		 * users keep their reference to an unhashed buffer. */
		if (b->refs == 0 && !b->jref) {
			lru_del(bc, b);
			hash_del(bc, b);
			buf_free(b);
		} else {
			if (b->jtid || b->ck || b->committing)
				log_warn("fs",
					 "block %" PRIu64 ": reused while journaled; "
					 "was it freed without bc_forget?",
					 blkno);
			hash_del(bc, b);
			b->flags |= BUF_FORGOTTEN;
			/* Its committed image must never go home over the new
			 * block's (a checkpoint already writing it finishes before
			 * the next one, which carries the new image). */
			if (b->ck) {
				jnl_ck_unlink_locked(fs, b);
				bdev_free(b->ck);
				b->ck = NULL;
				bc_unpin_locked(b);
			}
		}
	}
	b = buf_alloc(fs, blkno);
	if (!b) {
		pthread_mutex_unlock(&bc->mu);
		return -ENOMEM;
	}
	sfs_blk_init(b->data, fs->sb.uuid, type, blkno, owner);
	b->res = owner;
	hash_add(bc, b);
	pthread_mutex_unlock(&bc->mu);
	*out = b;
	return 0;
}

void bc_get(struct buf *b)
{
	struct bcache *bc = b->fs->bc;
	pthread_mutex_lock(&bc->mu);
	b->refs++;
	pthread_mutex_unlock(&bc->mu);
}

void bc_put(struct buf *b)
{
	if (!b)
		return;
	struct bcache *bc = b->fs->bc;
	pthread_mutex_lock(&bc->mu);
	if (--b->refs == 0)
		buf_release(bc, b);
	pthread_mutex_unlock(&bc->mu);
}

void bc_pin_locked(struct buf *b)
{
	if (!b->jref) {
		b->jref = true;
		if (b->refs++ == 0)
			lru_del(b->fs->bc, b);
	}
}

void bc_unref_locked(struct buf *b)
{
	if (--b->refs == 0)
		buf_release(b->fs->bc, b);
}

void bc_unpin_locked(struct buf *b)
{
	if (b->jref && !b->jtid && !b->ck && !b->committing) {
		b->jref = false;
		if (--b->refs == 0)
			buf_release(b->fs->bc, b);
	}
}

void bc_forget(struct sfs *fs, uint64_t blkno)
{
	struct bcache *bc = fs->bc;
	/* The free is not committed yet: until it is, a crash keeps the block
	 * allocated and its newest committed image must survive. That image
	 * may be waiting in the journal for a checkpoint (b->ck), and the next
	 * checkpoint would move the tail past it; so it is written home here,
	 * before the block can become free. It may be reused for data at once
	 * after the free commits, when no stale image may be in flight: hence
	 * the checkpoint lock, held until this write is done. An image still
	 * in a commit under way is waited for first, without the checkpoint
	 * lock (that commit may need it to make room in the ring). */
	bool ck_locked = false;
	pthread_mutex_lock(&bc->mu);
	struct buf *b;
	for (;;) {
		b = lookup(bc, blkno);
		if (b && (b->flags & BUF_LOADING)) {
			pthread_cond_wait(&bc->cv, &bc->mu);
			continue;
		}
		if (b && b->committing && fs->jnl) {
			if (ck_locked) {
				pthread_mutex_unlock(&bc->mu);
				jnl_ckpt_unlock(fs);
				ck_locked = false;
				pthread_mutex_lock(&bc->mu);
			} else {
				jnl_wait_change_locked(fs);
			}
			continue;
		}
		if (fs->jnl && !ck_locked) {
			pthread_mutex_unlock(&bc->mu);
			jnl_ckpt_lock(fs);
			ck_locked = true;
			pthread_mutex_lock(&bc->mu);
			continue;
		}
		break;
	}
	uint8_t *home = NULL;
	if (b) {
		if (b->refs == 0) {
			lru_del(bc, b);
			hash_del(bc, b);
			buf_free(b);
		} else {
			hash_del(bc, b);
			b->flags |= BUF_FORGOTTEN;
			if (b->ck) {
				jnl_ck_unlink_locked(fs, b);
				home = b->ck;
				b->ck = NULL;
			}
			bc_unpin_locked(b);
		}
	}
	if (fs->jnl)
		jnl_revoke_locked(fs, blkno);
	pthread_mutex_unlock(&bc->mu);
	if (home) {
		int rc = bdev_write(fs->dev, blkno * SFS_BLOCK_SIZE, home, SFS_BLOCK_SIZE);
		if (rc) {
			pthread_mutex_lock(&bc->mu);
			jnl_abort_locked(fs->jnl, rc, "writing a freed block's last image home");
			pthread_mutex_unlock(&bc->mu);
		}
		bdev_free(home);
	}
	if (ck_locked)
		jnl_ckpt_unlock(fs);
}

struct buf *bc_res_first_locked(struct sfs *fs, uint64_t res)
{
	struct buf *b = fs->bc->res_hash[rslot(res)];
	while (b && b->res != res)
		b = b->rnext;
	return b;
}

void bc_drop_res(struct sfs *fs, uint64_t res)
{
	struct bcache *bc = fs->bc;
	pthread_mutex_lock(&bc->mu);
	struct buf *b = bc->res_hash[rslot(res)];
	while (b) {
		struct buf *n = b->rnext;
		if (b->res == res && !(b->flags & BUF_LOADING)) {
			if (b->jref) {
				log_warn("fs",
					 "block %" PRIu64 ": dropped with journal state pending "
					 "(flush before giving up EX)",
					 b->blkno);
			} else if (b->refs == 0) {
				lru_del(bc, b);
				hash_del(bc, b);
				buf_free(b);
			} else {
				hash_del(bc, b); /* freed by the last bc_put */
			}
		}
		b = n;
	}
	pthread_mutex_unlock(&bc->mu);
}

void bc_shrink(struct sfs *fs)
{
	struct bcache *bc = fs->bc;
	pthread_mutex_lock(&bc->mu);
	while (bc->nlru) {
		struct buf *b = bc->lru.lru_next;
		lru_del(bc, b);
		hash_del(bc, b);
		buf_free(b);
	}
	pthread_mutex_unlock(&bc->mu);
}

void bc_stats(struct sfs *fs, struct bc_stats *st)
{
	struct bcache *bc = fs->bc;
	pthread_mutex_lock(&bc->mu);
	st->cached = bc->cached;
	st->lru = bc->nlru;
	st->pinned = 0;
	for (size_t i = 0; i < bc->nhash; i++)
		for (struct buf *b = bc->hash[i]; b; b = b->hnext)
			st->pinned += b->jref;
	st->hits = bc->hits;
	st->misses = bc->misses;
	st->reads = bc->reads;
	pthread_mutex_unlock(&bc->mu);
}

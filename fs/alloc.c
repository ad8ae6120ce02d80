/* alloc: AG bitmaps, free counts, busy extents and statfs (alloc.h). */
#include "fs/alloc.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "blockdev/bdev.h"
#include "common/endian_le.h"
#include "common/log.h"
#include "fs/bcache.h"
#include "fs/jnl.h"
#include "fs/sfs.h"
#include "locks/lcl.h"

struct busy {
	uint64_t start, tid;
	uint32_t len;
};

struct sfs_alloc {
	pthread_mutex_t mu; /* busy list and cursor */
	struct busy *busy;
	size_t nbusy, capbusy;
	uint64_t cursor; /* where this slot's next allocation without a goal starts */
	uint32_t home_ag;
	uint32_t reserve_ag; /* blocks each AG keeps back (alloc.h "Reserve") */
	/* Local exclusion per AG under the LCL lock (also when fs->lcl is NULL:
	 * offline tools and tests). */
	pthread_mutex_t *ag_mu;
};

/* ---- AG access ---- */

struct agctx {
	struct sfs *fs;
	uint32_t ag;
	struct lcl_handle *lk;
	struct buf *hdr;
	struct buf *bm[2][64]; /* [0] block bitmap, [1] inode bitmap; loaded lazily */
	struct sfs_ag a;
};

static int ag_open(struct sfs *fs, uint32_t ag, enum lcl_mode mode, struct agctx *c)
{
	memset(c, 0, sizeof(*c));
	c->fs = fs;
	c->ag = ag;
	if (fs->sb.bitmap_blocks > 64)
		return -EIO;
	int rc = 0;
	if (fs->lcl) {
		rc = lcl_lock(fs->lcl, sfs_owner_ag(ag), mode, &c->lk);
		if (rc)
			return rc;
	}
	pthread_mutex_lock(&fs->alloc->ag_mu[ag]);
	rc = bc_read(fs, sfs_ag_base(&fs->sb, ag), SFS_BT_AG, sfs_owner_ag(ag), &c->hdr);
	if (!rc)
		rc = sfs_ag_decode(c->hdr->data, &fs->sb, ag, &c->a);
	if (rc) {
		bc_put(c->hdr);
		pthread_mutex_unlock(&fs->alloc->ag_mu[ag]);
		if (c->lk)
			lcl_unlock(c->lk);
		c->hdr = NULL;
		c->lk = NULL;
	}
	return rc;
}

static void ag_close(struct agctx *c)
{
	for (int k = 0; k < 2; k++)
		for (int i = 0; i < 64; i++)
			bc_put(c->bm[k][i]);
	bc_put(c->hdr);
	pthread_mutex_unlock(&c->fs->alloc->ag_mu[c->ag]);
	if (c->lk)
		lcl_unlock(c->lk);
}

/* Bitmap block of kind k (0 blocks, 1 inodes) holding bit. */
static int ag_bm(struct agctx *c, int k, uint32_t bit, uint8_t **bits, struct buf **bp)
{
	uint32_t i = bit / SFS_BM_BITS;
	if (i >= c->fs->sb.bitmap_blocks)
		return -EIO;
	if (!c->bm[k][i]) {
		uint64_t blk =
		    sfs_ag_base(&c->fs->sb, c->ag) + 1 + (uint64_t)k * c->fs->sb.bitmap_blocks + i;
		int rc = bc_read(c->fs, blk, SFS_BT_BITMAP, sfs_owner_ag(c->ag), &c->bm[k][i]);
		if (rc)
			return rc;
	}
	*bits = c->bm[k][i]->data + SFS_BM_OFF;
	if (bp)
		*bp = c->bm[k][i];
	return 0;
}

static int ag_test(struct agctx *c, int k, uint32_t bit, bool *set)
{
	uint8_t *bits;
	int rc = ag_bm(c, k, bit, &bits, NULL);
	if (!rc)
		*set = sfs_bit_test(bits, bit % SFS_BM_BITS);
	return rc;
}

/* Set or clear bits [from, from+len) of kind k inside t. */
static int ag_change(struct agctx *c, struct txn *t, int k, uint32_t from, uint32_t len, bool set)
{
	for (uint32_t b = from; b < from + len;) {
		uint8_t *bits;
		struct buf *bp;
		int rc = ag_bm(c, k, b, &bits, &bp);
		if (!rc)
			rc = txn_add(t, bp);
		if (rc)
			return rc;
		uint32_t end = (b / SFS_BM_BITS + 1) * SFS_BM_BITS;
		if (end > from + len)
			end = from + len;
		for (; b < end; b++) {
			if (set)
				sfs_bit_set(bits, b % SFS_BM_BITS);
			else
				sfs_bit_clear(bits, b % SFS_BM_BITS);
		}
	}
	return 0;
}

static int ag_write_hdr(struct agctx *c, struct txn *t)
{
	int rc = txn_add(t, c->hdr);
	if (!rc)
		sfs_ag_encode(&c->a, c->hdr->data);
	return rc;
}

/* ---- busy extents ---- */

/* End of the busy extent (of the snapshot) covering blk, or 0. */
static uint64_t busy_end(const struct busy *v, size_t n, uint64_t blk)
{
	for (size_t i = 0; i < n; i++)
		if (blk >= v[i].start && blk < v[i].start + v[i].len)
			return v[i].start + v[i].len;
	return 0;
}

/* The busy extents overlapping [lo, hi) (the caller holds the AG, so no new
 * ones appear there meanwhile), and how many of their blocks lie inside. */
struct busy_view {
	struct busy *v; /* malloc'ed, or NULL when n == 0 */
	size_t n;
	uint64_t blocks;
};

/* 0, or -ENOMEM (then nothing may be allocated: busy blocks could be
 * handed out). */
static int busy_snapshot(struct sfs_alloc *al, uint64_t lo, uint64_t hi, struct busy_view *bv)
{
	*bv = (struct busy_view){0};
	pthread_mutex_lock(&al->mu);
	size_t n = 0;
	for (size_t i = 0; i < al->nbusy; i++)
		if (al->busy[i].start < hi && al->busy[i].start + al->busy[i].len > lo)
			n++;
	if (n && !(bv->v = malloc(n * sizeof(*bv->v)))) {
		pthread_mutex_unlock(&al->mu);
		return -ENOMEM;
	}
	for (size_t i = 0; i < al->nbusy && bv->n < n; i++) {
		uint64_t s = al->busy[i].start, e = s + al->busy[i].len;
		if (s >= hi || e <= lo)
			continue;
		bv->v[bv->n++] = al->busy[i];
		bv->blocks += (e < hi ? e : hi) - (s > lo ? s : lo);
	}
	pthread_mutex_unlock(&al->mu);
	return 0;
}

/* Record [start, start+len) as freed by transaction tid: no allocation hands
 * it out before tid commits. The caller still holds the AG's EX lock, so no
 * allocator sees the cleared bits without this record. -ENOMEM: the free
 * must fail (without the record the blocks could be reused at once). */
static int busy_add(struct sfs_alloc *al, uint64_t start, uint32_t len, uint64_t tid)
{
	pthread_mutex_lock(&al->mu);
	if (al->nbusy == al->capbusy) {
		size_t cap = al->capbusy ? al->capbusy * 2 : 64;
		struct busy *n = realloc(al->busy, cap * sizeof(*n));
		if (!n) {
			pthread_mutex_unlock(&al->mu);
			return -ENOMEM;
		}
		al->busy = n;
		al->capbusy = cap;
	}
	al->busy[al->nbusy++] = (struct busy){start, tid, len};
	pthread_mutex_unlock(&al->mu);
	return 0;
}

static void busy_commit_hook(struct sfs *fs, uint64_t tid)
{
	struct sfs_alloc *al = fs->alloc;
	if (!al)
		return;
	pthread_mutex_lock(&al->mu);
	size_t k = 0;
	for (size_t i = 0; i < al->nbusy; i++)
		if (al->busy[i].tid > tid)
			al->busy[k++] = al->busy[i];
	al->nbusy = k;
	pthread_mutex_unlock(&al->mu);
}

/* ---- search ---- */

/* Find a free run in c: the first of at least want blocks at or after
 * from (wrapping), else the longest of at least min. Bits are AG offsets. */
static int ag_search(struct agctx *c, const struct busy_view *busy, uint32_t from, uint32_t want,
		     uint32_t min, uint32_t *off, uint32_t *len)
{
	uint32_t n = c->a.nblocks, meta = sfs_ag_meta_blocks(&c->fs->sb);
	uint64_t base = sfs_ag_base(&c->fs->sb, c->ag);
	uint32_t best_off = 0, best_len = 0;
	if (from < meta || from >= n)
		from = meta;
	const struct busy *bv = busy->v;
	size_t nb = busy->n;
	for (int pass = 0; pass < 2; pass++) {
		uint32_t lo = pass ? meta : from, hi = pass ? from : n;
		uint32_t run_start = 0, run = 0;
		for (uint32_t b = lo; b < hi; b++) {
			uint8_t *bits;
			int rc = ag_bm(c, 0, b, &bits, NULL);
			if (rc)
				return rc;
			uint32_t o = b % SFS_BM_BITS;
			if (run == 0 && (o & 7) == 0 && bits[o >> 3] == 0xff && b + 8 <= hi) {
				b += 7;
				continue;
			}
			bool used = sfs_bit_test(bits, o);
			if (!used && nb) {
				uint64_t e = busy_end(bv, nb, base + b);
				if (e) {
					used = true;
					if (e - base - 1 > b && e - base - 1 < hi)
						b = (uint32_t)(e - base - 1);
					else if (e - base - 1 >= hi)
						b = hi - 1;
				}
			}
			if (!used) {
				if (run++ == 0)
					run_start = b;
				if (run >= want) {
					*off = run_start;
					*len = want;
					return 0;
				}
			}
			if (used || b + 1 == hi) {
				if (run > best_len) {
					best_len = run;
					best_off = run_start;
				}
				run = 0;
			}
		}
	}
	if (best_len >= min && best_len > 0) {
		*off = best_off;
		*len = best_len;
		return 0;
	}
	return -ENOSPC;
}

static int alloc_in_ag(struct sfs *fs, struct txn *t, uint32_t ag, uint32_t from, uint32_t want,
		       uint32_t min, bool inode, bool reserve, uint64_t *start, uint32_t *got)
{
	struct agctx c;
	int rc = ag_open(fs, ag, LCL_EX, &c);
	if (rc)
		return rc;
	uint64_t base = sfs_ag_base(&fs->sb, ag);
	struct busy_view busy;
	rc = busy_snapshot(fs->alloc, base, base + c.a.nblocks, &busy);
	if (rc) {
		ag_close(&c);
		return rc;
	}
	uint64_t avail = c.a.free_blocks;
	if (!reserve) { /* leave the reserve, counting only committed frees */
		uint64_t keep = fs->alloc->reserve_ag + busy.blocks;
		avail = avail > keep ? avail - keep : 0;
		if (want > avail)
			want = (uint32_t)avail;
	}
	uint32_t off = 0, len = 0; /* set by ag_search on success; gcc -O3 cannot see it */
	rc = avail < min || want == 0 ? -ENOSPC : ag_search(&c, &busy, from, want, min, &off, &len);
	free(busy.v);
	if (!rc)
		rc = ag_change(&c, t, 0, off, len, true);
	if (!rc && inode)
		rc = ag_change(&c, t, 1, off, len, true);
	if (!rc) {
		if (c.a.free_blocks < len) {
			log_error("fs", "block %" PRIu64 ": AG free count below the bitmap's",
				  sfs_ag_base(&fs->sb, ag));
			c.a.free_blocks = len;
		}
		c.a.free_blocks -= len;
		if (inode)
			c.a.inodes += len;
		rc = ag_write_hdr(&c, t);
	}
	ag_close(&c);
	if (!rc) {
		*start = sfs_ag_base(&fs->sb, ag) + off;
		*got = len;
	}
	return rc;
}

static int do_alloc(struct sfs *fs, struct txn *t, uint64_t goal, uint32_t want, uint32_t min,
		    bool inode, bool reserve, uint64_t *start, uint32_t *got)
{
	struct sfs_alloc *al = fs->alloc;
	if (fs->readonly)
		return -EROFS;
	if (want == 0)
		return -EINVAL;
	if (min == 0)
		min = 1;
	if (min > want)
		min = want;
	uint32_t first = sfs_ag_of(&fs->sb, goal);
	if (first == UINT32_MAX) {
		pthread_mutex_lock(&al->mu);
		goal = al->cursor;
		pthread_mutex_unlock(&al->mu);
		first = sfs_ag_of(&fs->sb, goal);
		if (first == UINT32_MAX) {
			first = al->home_ag;
			goal = sfs_ag_base(&fs->sb, first);
		}
	}
	uint32_t n = fs->sb.ag_count;
	int rc = -ENOSPC;
	/* Two rounds: first only runs of the full size, then anything >= min;
	 * the reserve only when nothing else is left anywhere (else metadata
	 * aimed at a full AG would eat that AG's reserve while others have
	 * room). */
	for (int pass = 0; pass < (reserve ? 2 : 1) && rc == -ENOSPC; pass++) {
		for (int round = 0; round < 2 && rc == -ENOSPC; round++) {
			uint32_t m = round == 0 ? want : min;
			if (round == 1 && min == want)
				break;
			for (uint32_t i = 0; i < n; i++) {
				uint32_t ag = (first + i) % n;
				uint32_t from =
				    i == 0 ? (uint32_t)(goal - sfs_ag_base(&fs->sb, ag)) : 0;
				rc = alloc_in_ag(fs, t, ag, from, want, m, inode, pass == 1, start,
						 got);
				if (rc != -ENOSPC)
					break;
			}
		}
	}
	if (!rc) {
		pthread_mutex_lock(&al->mu);
		al->cursor = *start + *got;
		pthread_mutex_unlock(&al->mu);
	}
	return rc;
}

int alloc_blocks(struct sfs *fs, struct txn *t, uint64_t goal, uint32_t want, uint32_t min,
		 uint64_t *start, uint32_t *got)
{
	return do_alloc(fs, t, goal, want, min, false, false, start, got);
}

int alloc_meta(struct sfs *fs, struct txn *t, uint64_t goal, uint32_t want, uint32_t min,
	       uint64_t *start, uint32_t *got)
{
	return do_alloc(fs, t, goal, want, min, false, txn_touched(t), start, got);
}

int alloc_reserved(struct sfs *fs, struct txn *t, uint64_t goal, uint32_t want, uint32_t min,
		   uint64_t *start, uint32_t *got)
{
	return do_alloc(fs, t, goal, want, min, false, true, start, got);
}

int alloc_inode(struct sfs *fs, struct txn *t, uint64_t near_ino, uint64_t *ino)
{
	uint32_t got;
	return do_alloc(fs, t, near_ino, 1, 1, true, false, ino, &got);
}

/* Free [start, start+len) inside one AG. */
static int free_in_ag(struct sfs *fs, struct txn *t, uint64_t start, uint32_t len, bool inode)
{
	uint32_t ag = sfs_ag_of(&fs->sb, start);
	uint64_t base = sfs_ag_base(&fs->sb, ag);
	uint32_t off = (uint32_t)(start - base);
	struct agctx c;
	int rc = ag_open(fs, ag, LCL_EX, &c);
	if (rc)
		return rc;
	if (off < sfs_ag_meta_blocks(&fs->sb) || off + (uint64_t)len > c.a.nblocks) {
		log_error("fs", "free of blocks %" PRIu64 "+%u: outside the data area of AG %u",
			  start, len, ag);
		ag_close(&c);
		return -EINVAL;
	}
	for (uint32_t i = 0; i < len; i++) {
		bool used, isino;
		rc = ag_test(&c, 0, off + i, &used);
		if (!rc)
			rc = ag_test(&c, 1, off + i, &isino);
		if (rc)
			break;
		if (!used || isino != inode) {
			log_error("fs", "free of block %" PRIu64 ": %s", start + i,
				  !used	  ? "already free"
				  : isino ? "is an inode"
					  : "is not an inode");
			rc = -EINVAL;
			break;
		}
	}
	/* Busy first, while the AG is held: once the bits clear and the lock
	 * goes, a concurrent allocation must already see the record (else it
	 * could reuse the block in this very transaction, and the freeing
	 * handle's bc_forget would then drop the new owner's buffer). */
	if (!rc)
		rc = busy_add(fs->alloc, start, len, txn_tid(t));
	if (!rc)
		rc = ag_change(&c, t, 0, off, len, false);
	if (!rc && inode)
		rc = ag_change(&c, t, 1, off, len, false);
	if (!rc) {
		c.a.free_blocks += len;
		if (inode)
			c.a.inodes -= len < c.a.inodes ? len : c.a.inodes;
		rc = ag_write_hdr(&c, t);
	}
	ag_close(&c);
	return rc;
}

int alloc_free(struct sfs *fs, struct txn *t, uint64_t start, uint32_t len)
{
	if (fs->readonly)
		return -EROFS;
	if (len == 0)
		return 0;
	if (sfs_ag_of(&fs->sb, start) == UINT32_MAX ||
	    sfs_ag_of(&fs->sb, start + len - 1) == UINT32_MAX) {
		log_error("fs", "free of blocks %" PRIu64 "+%u: outside the filesystem", start,
			  len);
		return -EINVAL;
	}
	while (len) {
		uint32_t ag = sfs_ag_of(&fs->sb, start);
		uint64_t end = sfs_ag_base(&fs->sb, ag) + sfs_ag_size(&fs->sb, ag);
		uint32_t n = end - start < len ? (uint32_t)(end - start) : len;
		int rc = free_in_ag(fs, t, start, n, false);
		if (rc)
			return rc;
		start += n;
		len -= n;
	}
	return 0;
}

int alloc_inode_free(struct sfs *fs, struct txn *t, uint64_t ino)
{
	if (fs->readonly)
		return -EROFS;
	if (sfs_ag_of(&fs->sb, ino) == UINT32_MAX) {
		log_error("fs", "free of inode %" PRIu64 ": outside the filesystem", ino);
		return -EINVAL;
	}
	return free_in_ag(fs, t, ino, 1, true);
}

int alloc_is_inode(struct sfs *fs, uint64_t ino)
{
	uint32_t ag = sfs_ag_of(&fs->sb, ino);
	if (ag == UINT32_MAX)
		return 0;
	uint32_t off = (uint32_t)(ino - sfs_ag_base(&fs->sb, ag));
	if (off < sfs_ag_meta_blocks(&fs->sb))
		return 0;
	struct agctx c;
	int rc = ag_open(fs, ag, LCL_PR, &c);
	if (rc)
		return rc;
	bool isino = false;
	rc = ag_test(&c, 1, off, &isino);
	ag_close(&c);
	return rc ? rc : isino;
}

uint32_t alloc_reserve_per_ag(const struct sfs_super *sb)
{
	uint64_t total = sb->blocks / 64;
	if (total > 4096)
		total = 4096;
	uint32_t per = (uint32_t)(total / sb->ag_count);
	/* Many AGs (a large filesystem): still enough for a few handles. */
	uint32_t floor = sfs_ag_size(sb, 0) / 64;
	if (floor > 16)
		floor = 16;
	return per > floor ? per : floor;
}

uint64_t alloc_reserve_blocks(struct sfs *fs)
{
	return (uint64_t)fs->alloc->reserve_ag * fs->sb.ag_count;
}

int sfs_statfs(struct sfs *fs, struct statvfs *st)
{
	uint64_t free_blocks = 0, inodes = 0;
	for (uint32_t ag = 0; ag < fs->sb.ag_count; ag++) {
		struct agctx c;
		int rc = ag_open(fs, ag, LCL_PR, &c);
		if (rc)
			return rc;
		/* As the allocator counts: the reserve is not free space a
		 * user can have. */
		if (c.a.free_blocks > fs->alloc->reserve_ag)
			free_blocks += c.a.free_blocks - fs->alloc->reserve_ag;
		inodes += c.a.inodes;
		ag_close(&c);
	}
	memset(st, 0, sizeof(*st));
	st->f_bsize = SFS_BLOCK_SIZE;
	st->f_frsize = SFS_BLOCK_SIZE;
	st->f_blocks = fs->sb.blocks;
	st->f_bfree = free_blocks;
	st->f_bavail = free_blocks;
	st->f_files = inodes + free_blocks;
	st->f_ffree = free_blocks;
	st->f_favail = free_blocks;
	st->f_fsid = le64_get(fs->sb.uuid) ^ le64_get(fs->sb.uuid + 8);
	st->f_namemax = 255;
	st->f_flag = fs->readonly ? ST_RDONLY : 0;
	return 0;
}

/* ---- setup ---- */

int alloc_setup(struct sfs *fs)
{
	struct sfs_alloc *al = calloc(1, sizeof(*al));
	if (!al)
		return -ENOMEM;
	pthread_mutex_init(&al->mu, NULL);
	al->ag_mu = calloc(fs->sb.ag_count, sizeof(*al->ag_mu));
	if (!al->ag_mu) {
		free(al);
		return -ENOMEM;
	}
	for (uint32_t i = 0; i < fs->sb.ag_count; i++)
		pthread_mutex_init(&al->ag_mu[i], NULL);
	al->home_ag = fs->slot % fs->sb.ag_count;
	al->reserve_ag = alloc_reserve_per_ag(&fs->sb);
	al->cursor = sfs_ag_base(&fs->sb, al->home_ag);
	/* The slot's window block keeps the cursor across mounts. */
	uint64_t la = sfs_slot_base(&fs->sb, fs->slot) + SFS_SLOT_LALLOC;
	struct buf *b;
	if (bc_read(fs, la, SFS_BT_LALLOC, sfs_owner_slot(fs->slot), &b) == 0) {
		uint64_t goal = le64_get(b->data + SFS_LA_OFF_GOAL);
		uint32_t ag = le32_get(b->data + SFS_LA_OFF_AG);
		if (ag < fs->sb.ag_count && sfs_ag_of(&fs->sb, goal) == ag)
			al->cursor = goal;
		bc_put(b);
	}
	fs->alloc = al;
	if (fs->jnl)
		jnl_set_commit_hook(fs, busy_commit_hook);
	return 0;
}

int alloc_save_cursor(struct sfs *fs)
{
	struct sfs_alloc *al = fs->alloc;
	if (!al || fs->readonly)
		return 0;
	uint64_t la = sfs_slot_base(&fs->sb, fs->slot) + SFS_SLOT_LALLOC;
	struct txn *t;
	int rc = txn_begin(fs, 1, &t);
	if (rc)
		return rc;
	struct buf *b;
	rc = bc_read(fs, la, SFS_BT_LALLOC, sfs_owner_slot(fs->slot), &b);
	if (!rc) {
		rc = txn_add(t, b);
		if (!rc) {
			pthread_mutex_lock(&al->mu);
			uint64_t goal = al->cursor;
			pthread_mutex_unlock(&al->mu);
			uint32_t ag = sfs_ag_of(&fs->sb, goal);
			le32_put(b->data + SFS_LA_OFF_AG, ag == UINT32_MAX ? al->home_ag : ag);
			le64_put(b->data + SFS_LA_OFF_GOAL, goal);
		}
		bc_put(b);
	}
	int r = txn_end(t, NULL);
	return rc ? rc : r;
}

void alloc_teardown(struct sfs *fs)
{
	struct sfs_alloc *al = fs->alloc;
	if (!al)
		return;
	if (fs->jnl)
		jnl_set_commit_hook(fs, NULL);
	pthread_mutex_destroy(&al->mu);
	for (uint32_t i = 0; i < fs->sb.ag_count; i++)
		pthread_mutex_destroy(&al->ag_mu[i]);
	free(al->ag_mu);
	free(al->busy);
	free(al);
	fs->alloc = NULL;
}

/* In-core inodes: the cache, create, write, and freeing at the last put
 * (inode.h). */
#include "fs/inode.h"

#include <assert.h>
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "blockdev/bdev.h"
#include "common/log.h"
#include "fs/alloc.h"
#include "fs/bcache.h"
#include "fs/extent.h"
#include "fs/file.h"
#include "fs/format.h"
#include "fs/inode_priv.h"
#include "fs/jnl.h"
#include "fs/orphan.h"
#include "fs/sfs.h"
#include "locks/lcl.h"

#define SUB		   "inode"
#define DEFAULT_MAX_UNUSED 8192
#define IOPOOL_COUNT	   8	/* file I/O at once without allocating (FUSE workers) */
#define NBUCKETS	   4096 /* grows with the population (load factor 2) */

struct icache {
	pthread_mutex_t mu;
	struct sfs_inode **hash;
	size_t nbuckets;
	size_t count;		    /* inodes in the hash */
	struct sfs_inode *lru_head; /* most recently unused */
	struct sfs_inode *lru_tail; /* oldest: evicted first */
	unsigned nunused, max_unused;
	uint64_t gen_next;	  /* generation numbers */
	struct bdev_pool *iopool; /* file I/O bounce buffers (inode_iobuf_get) */
	bool orphans_kept;	  /* unlinked inodes not freed: the journal stopped */
};

uint64_t inode_res(uint64_t ino)
{
	return LCL_RES(LCL_T_INODE, ino);
}

void inode_now(struct timespec *ts)
{
	clock_gettime(CLOCK_REALTIME, ts);
}

static size_t bucket(const struct icache *ic, uint64_t ino)
{
	return (size_t)((ino * 0x9E3779B97F4A7C15ull) >> 20) & (ic->nbuckets - 1);
}

static void hash_grow(struct icache *ic)
{
	size_t nb = ic->nbuckets * 2;
	struct sfs_inode **h = calloc(nb, sizeof(*h));
	if (!h)
		return; /* keep the longer chains */
	struct sfs_inode **old = ic->hash;
	size_t onb = ic->nbuckets;
	ic->hash = h;
	ic->nbuckets = nb;
	for (size_t i = 0; i < onb; i++)
		for (struct sfs_inode *ip = old[i], *n; ip; ip = n) {
			n = ip->hnext;
			size_t b = bucket(ic, ip->ino);
			ip->hnext = h[b];
			h[b] = ip;
		}
	free(old);
}

static struct sfs_inode *hash_find(struct icache *ic, uint64_t ino)
{
	for (struct sfs_inode *ip = ic->hash[bucket(ic, ino)]; ip; ip = ip->hnext)
		if (ip->ino == ino)
			return ip;
	return NULL;
}

static void hash_add(struct icache *ic, struct sfs_inode *ip)
{
	if (ic->count >= ic->nbuckets * 2)
		hash_grow(ic);
	size_t b = bucket(ic, ip->ino);
	ip->hnext = ic->hash[b];
	ic->hash[b] = ip;
	ip->cached = true;
	ic->count++;
}

static void hash_del(struct icache *ic, struct sfs_inode *ip)
{
	struct sfs_inode **pp = &ic->hash[bucket(ic, ip->ino)];
	while (*pp && *pp != ip)
		pp = &(*pp)->hnext;
	assert(*pp == ip);
	*pp = ip->hnext;
	ip->cached = false;
	ic->count--;
}

static void lru_del(struct icache *ic, struct sfs_inode *ip)
{
	if (ip->lru_prev)
		ip->lru_prev->lru_next = ip->lru_next;
	else
		ic->lru_head = ip->lru_next;
	if (ip->lru_next)
		ip->lru_next->lru_prev = ip->lru_prev;
	else
		ic->lru_tail = ip->lru_prev;
	ip->lru_prev = ip->lru_next = NULL;
	ic->nunused--;
}

static void lru_add(struct icache *ic, struct sfs_inode *ip)
{
	ip->lru_prev = NULL;
	ip->lru_next = ic->lru_head;
	if (ic->lru_head)
		ic->lru_head->lru_prev = ip;
	else
		ic->lru_tail = ip;
	ic->lru_head = ip;
	ic->nunused++;
}

static struct sfs_inode *inode_alloc_struct(void)
{
	struct sfs_inode *ip = calloc(1, sizeof(*ip));
	if (ip)
		pthread_mutex_init(&ip->rlock, NULL);
	return ip;
}

static void inode_free_struct(struct sfs_inode *ip)
{
	inode_decoded_release(ip);
	pthread_mutex_destroy(&ip->rlock);
	free(ip);
}

void inode_cache_bound(struct sfs *fs, unsigned max_unused)
{
	struct icache *ic = fs->icache;
	pthread_mutex_lock(&ic->mu);
	ic->max_unused = max_unused ? max_unused : DEFAULT_MAX_UNUSED;
	while (ic->nunused > ic->max_unused) {
		struct sfs_inode *victim = ic->lru_tail;
		lru_del(ic, victim);
		hash_del(ic, victim);
		inode_free_struct(victim);
	}
	pthread_mutex_unlock(&ic->mu);
}

void inode_cache_counts(struct sfs *fs, unsigned long *cached, unsigned *unused)
{
	struct icache *ic = fs->icache;
	pthread_mutex_lock(&ic->mu);
	*cached = ic->count;
	*unused = ic->nunused;
	pthread_mutex_unlock(&ic->mu);
}

void inode_sfs_ops(struct sfs_ops *ops)
{
	ops->setup = inode_setup;
	ops->teardown = inode_teardown;
	ops->reclaim = inode_reclaim;
	ops->invalidate = inode_invalidate_res;
}

void inode_invalidate_res(struct sfs *fs, uint64_t res)
{
	if (LCL_RES_TYPE(res) == LCL_T_INODE)
		inode_invalidate(fs, LCL_RES_NUM(res));
}

int inode_setup(struct sfs *fs)
{
	struct icache *ic = calloc(1, sizeof(*ic));
	if (!ic)
		return -ENOMEM;
	ic->nbuckets = NBUCKETS;
	ic->hash = calloc(ic->nbuckets, sizeof(*ic->hash));
	if (!ic->hash) {
		free(ic);
		return -ENOMEM;
	}
	pthread_mutex_init(&ic->mu, NULL);
	ic->max_unused = DEFAULT_MAX_UNUSED;
	if (getrandom(&ic->gen_next, sizeof(ic->gen_next), 0) != sizeof(ic->gen_next))
		ic->gen_next = (uint64_t)time(NULL) << 20;
	if (bdev_pool_create(FILE_IO_CHUNK, IOPOOL_COUNT, &ic->iopool))
		ic->iopool = NULL; /* the file code then allocates per call */
	fs->icache = ic;
	return 0;
}

void *inode_iobuf_get(struct sfs *fs)
{
	struct icache *ic = fs->icache;
	return ic->iopool ? bdev_pool_tryget(ic->iopool) : NULL;
}

void inode_iobuf_put(struct sfs *fs, void *buf)
{
	bdev_pool_put(fs->icache->iopool, buf);
}

static atomic_uint tails_live;

uint8_t *inode_tail_hold(struct sfs_inode *ip)
{
	if (ip->tail)
		return ip->tail;
	if (atomic_fetch_add(&tails_live, 1) >= INODE_TAILS_MAX ||
	    !(ip->tail = malloc(SFS_BLOCK_SIZE)))
		atomic_fetch_sub(&tails_live, 1);
	return ip->tail;
}

bool inode_tail_peek(struct sfs *fs, uint64_t ino)
{
	struct icache *ic = fs->icache;
	pthread_mutex_lock(&ic->mu);
	struct sfs_inode *ip = hash_find(ic, ino);
	bool has = ip && ip->tail;
	pthread_mutex_unlock(&ic->mu);
	return has;
}

void inode_tail_drop(struct sfs_inode *ip)
{
	if (!ip->tail)
		return;
	free(ip->tail);
	ip->tail = NULL;
	atomic_fetch_sub(&tails_live, 1);
}

void inode_teardown(struct sfs *fs)
{
	struct icache *ic = fs->icache;
	if (!ic)
		return;
	for (size_t i = 0; i < ic->nbuckets; i++)
		for (struct sfs_inode *ip = ic->hash[i], *n; ip; ip = n) {
			n = ip->hnext;
			if (ip->refs)
				log_warn(SUB, "inode %llu still referenced (%u) at unmount",
					 (unsigned long long)ip->ino, ip->refs);
			inode_free_struct(ip);
		}
	pthread_mutex_destroy(&ic->mu);
	if (ic->iopool)
		bdev_pool_destroy(ic->iopool);
	free(ic->hash);
	free(ic);
	fs->icache = NULL;
}

/* Read and decode the block of ino into *ip (fields only). */
static int inode_read(struct sfs *fs, uint64_t ino, struct sfs_inode *ip)
{
	struct buf *b;
	if (ino < fs->sb.ag_start || ino >= fs->sb.blocks)
		return -ENOENT;
	int r = bc_read(fs, ino, SFS_BT_INODE, inode_res(ino), &b);
	if (r == -EIO && alloc_is_inode(fs, ino) == 0)
		return -ENOENT; /* a stale number, not a corrupt inode */
	if (r)
		return r;
	r = inode_decode(b->data, ino, ip);
	bc_put(b);
	/* A freed inode's block keeps its last image (nlink 0) until reused:
	 * only the inode bitmap tells it from an orphan still in use. */
	if (r == 0 && ip->nlink == 0 && alloc_is_inode(fs, ino) == 0) {
		inode_decoded_release(ip);
		return -ENOENT;
	}
	return r;
}

/* Replace the on-disk fields of ip by a fresh read (cache fields kept). */
static int inode_reread(struct sfs *fs, struct sfs_inode *ip)
{
	struct icache *ic = fs->icache;
	struct sfs_inode tmp;
	int r = 0;
	pthread_mutex_lock(&ip->rlock);
	pthread_mutex_lock(&ic->mu);
	bool stale = ip->stale;
	pthread_mutex_unlock(&ic->mu);
	if (stale)
		r = inode_read(fs, ip->ino, &tmp);
	if (stale && r == 0) {
		inode_decoded_release(ip);
		memcpy(ip, &tmp, offsetof(struct sfs_inode, refs));
		pthread_mutex_lock(&ic->mu);
		ip->stale = false;
		pthread_mutex_unlock(&ic->mu);
	}
	pthread_mutex_unlock(&ip->rlock);
	return r;
}

int inode_get(struct sfs *fs, uint64_t ino, struct sfs_inode **out)
{
	struct icache *ic = fs->icache;
	pthread_mutex_lock(&ic->mu);
	struct sfs_inode *ip = hash_find(ic, ino);
	if (ip) {
		if (ip->dying) {
			pthread_mutex_unlock(&ic->mu);
			return -ENOENT;
		}
		if (ip->refs++ == 0)
			lru_del(ic, ip);
		bool stale = ip->stale;
		pthread_mutex_unlock(&ic->mu);
		if (stale) {
			int r = inode_reread(fs, ip);
			if (r) {
				inode_put(fs, ip);
				return r;
			}
		}
		*out = ip;
		return 0;
	}
	pthread_mutex_unlock(&ic->mu);

	struct sfs_inode *nip = inode_alloc_struct();
	if (!nip)
		return -ENOMEM;
	int r = inode_read(fs, ino, nip);
	if (r) {
		inode_free_struct(nip);
		return r;
	}
	pthread_mutex_lock(&ic->mu);
	ip = hash_find(ic, ino);
	if (ip) { /* another thread read it meanwhile: use theirs */
		if (ip->dying) {
			pthread_mutex_unlock(&ic->mu);
			inode_free_struct(nip);
			return -ENOENT;
		}
		if (ip->refs++ == 0)
			lru_del(ic, ip);
		pthread_mutex_unlock(&ic->mu);
		inode_free_struct(nip);
		*out = ip;
		return 0;
	}
	nip->refs = 1;
	hash_add(ic, nip);
	pthread_mutex_unlock(&ic->mu);
	*out = nip;
	return 0;
}

int inode_link_tmpfile(struct sfs *fs, struct txn *t, struct sfs_inode *ip)
{
	if (ip->lflags & INODE_LF_ORPHAN) {
		int r = orphan_del(fs, t, ip->ino);
		if (r)
			return r;
		ip->lflags &= (uint16_t)~INODE_LF_ORPHAN;
	}
	ip->nlink = 1;
	ip->linkable = false;
	return 0;
}

bool inode_cached(struct sfs *fs, uint64_t ino)
{
	struct icache *ic = fs->icache;
	pthread_mutex_lock(&ic->mu);
	struct sfs_inode *ip = hash_find(ic, ino);
	bool cached = ip && !ip->stale && !ip->dying;
	pthread_mutex_unlock(&ic->mu);
	return cached;
}

void inode_ref(struct sfs *fs, struct sfs_inode *ip)
{
	struct icache *ic = fs->icache;
	pthread_mutex_lock(&ic->mu);
	assert(ip->refs > 0);
	ip->refs++;
	pthread_mutex_unlock(&ic->mu);
}

unsigned inode_write_max_blocks(void)
{
	return 1 + ORPHAN_MAX_BLOCKS;
}

int inode_write(struct sfs *fs, struct txn *t, struct sfs_inode *ip)
{
	struct buf *b;
	int r = bc_read(fs, ip->ino, SFS_BT_INODE, inode_res(ip->ino), &b);
	if (r)
		return r;
	r = txn_add(t, b);
	if (r)
		goto out;
	if (ip->nlink == 0 && !(ip->lflags & INODE_LF_ORPHAN)) {
		r = orphan_add(fs, t, ip->ino);
		if (r)
			goto out;
		ip->lflags |= INODE_LF_ORPHAN;
	}
	inode_encode(ip, b->data);
	inode_note_tid(ip, txn_tid(t));
out:
	bc_put(b);
	return r;
}

static bool type_valid(uint32_t mode)
{
	switch (mode & S_IFMT) {
	case S_IFREG:
	case S_IFDIR:
	case S_IFLNK:
	case S_IFCHR:
	case S_IFBLK:
	case S_IFIFO:
	case S_IFSOCK:
		return !(mode & ~(uint32_t)(S_IFMT | 07777));
	default:
		return false;
	}
}

int inode_create_at(struct sfs *fs, struct txn *t, uint64_t ino, uint32_t mode, uint32_t uid,
		    uint32_t gid, uint32_t rdev, struct sfs_inode **out)
{
	struct icache *ic = fs->icache;
	if (!type_valid(mode))
		return -EINVAL;
	struct sfs_inode *ip = inode_alloc_struct();
	if (!ip)
		return -ENOMEM;
	struct buf *b;
	int r = bc_new(fs, ino, SFS_BT_INODE, inode_res(ino), &b);
	if (r == 0) {
		r = txn_add(t, b);
		if (r)
			bc_put(b);
	}
	if (r) {
		inode_free_struct(ip);
		return r;
	}
	ip->ino = ino;
	ip->mode = mode;
	ip->uid = uid;
	ip->gid = gid;
	ip->rdev = (S_ISCHR(mode) || S_ISBLK(mode)) ? rdev : 0;
	ip->nlink = S_ISDIR(mode) ? 2 : 1;
	inode_now(&ip->atime);
	ip->mtime = ip->ctime = ip->btime = ip->atime;
	pthread_mutex_lock(&ic->mu);
	ip->generation = ic->gen_next++;
	pthread_mutex_unlock(&ic->mu);
	inode_encode(ip, b->data);
	inode_note_tid(ip, txn_tid(t));
	bc_put(b);

	pthread_mutex_lock(&ic->mu);
	struct sfs_inode *old = hash_find(ic, ino);
	if (old) {
		/* A cached copy of a freed inode whose number came back: an unused
		 * one goes now, a dying or still referenced one when it is put. */
		hash_del(ic, old);
		if (old->refs == 0 && !old->dying) {
			lru_del(ic, old);
			inode_free_struct(old);
		} else if (!old->dying) {
			log_error(SUB, "inode %llu reallocated while still in use",
				  (unsigned long long)ino);
		}
	}
	ip->refs = 1;
	hash_add(ic, ip);
	pthread_mutex_unlock(&ic->mu);
	*out = ip;
	return 0;
}

int inode_create(struct sfs *fs, struct txn *t, struct sfs_inode *dir, uint32_t mode, uint32_t uid,
		 uint32_t gid, uint32_t rdev, struct sfs_inode **out)
{
	uint64_t ino;
	if (!type_valid(mode))
		return -EINVAL;
	int r = alloc_inode(fs, t, dir ? dir->ino : fs->sb.root_ino, &ino);
	if (r)
		return r;
	/* On failure the inode bitmap change stays in t: the caller's handle
	 * fails and must not commit (txn_abort), so nothing leaks. */
	return inode_create_at(fs, t, ino, mode, uid, gid, rdev, out);
}

int inode_stat(struct sfs_inode *ip, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = ip->ino;
	st->st_mode = ip->mode;
	st->st_nlink = ip->nlink;
	st->st_uid = ip->uid;
	st->st_gid = ip->gid;
	st->st_rdev = ip->rdev;
	st->st_size = (off_t)ip->size;
	st->st_blksize = SFS_BLOCK_SIZE;
	st->st_blocks = (blkcnt_t)ip->blocks;
	st->st_atim = ip->atime;
	st->st_mtim = ip->mtime;
	st->st_ctim = ip->ctime;
	return 0;
}

void inode_invalidate(struct sfs *fs, uint64_t ino)
{
	struct icache *ic = fs->icache;
	pthread_mutex_lock(&ic->mu);
	struct sfs_inode *ip = hash_find(ic, ino);
	if (ip) {
		if (ip->refs == 0 && !ip->dying) {
			lru_del(ic, ip);
			hash_del(ic, ip);
			inode_free_struct(ip);
		} else {
			ip->stale = true;
		}
	}
	pthread_mutex_unlock(&ic->mu);
}

int inode_revalidate(struct sfs *fs, struct sfs_inode *ip)
{
	return inode_reread(fs, ip);
}

void inode_note_tid(struct sfs_inode *ip, uint64_t tid)
{
	if (tid > ip->sync_tid)
		ip->sync_tid = tid;
}

int inode_fsync(struct sfs *fs, struct sfs_inode *ip)
{
	/* Every data write is followed by a transaction noted in sync_tid (its
	 * mtime), and a commit flushes the device after its records, so once
	 * that transaction is committed the data written before it is durable
	 * too: no second flush. Nothing noted: nothing changed since mount. */
	return ip->sync_tid ? jnl_wait(fs, ip->sync_tid) : 0;
}

/* One freeing step: how many extents, and the handle's bound. */
static unsigned free_step(struct sfs *fs, struct sfs_inode *ip, unsigned *blocks)
{
	unsigned fixed = inode_write_max_blocks() + ORPHAN_MAX_BLOCKS;
	unsigned n = extent_ops_per_txn(fs, ip, 0, fixed);
	*blocks = n * extent_op_blocks(ip) + fixed;
	return n;
}

/* Free every block of an unlinked inode; the caller holds EX. The inode
 * stays on the orphan list until the last transaction. */
static int inode_free_blocks(struct sfs *fs, struct sfs_inode *ip)
{
	struct txn *t;
	uint64_t tid;
	int r;
	bool more = S_ISREG(ip->mode);
	while (more) {
		unsigned nblk, n = free_step(fs, ip, &nblk);
		r = txn_begin(fs, nblk, &t);
		if (r)
			return r;
		r = extent_remove(fs, t, ip, 0, SFS_MAX_LBLK, n, true, &more);
		if (r == 0)
			r = inode_write(fs, t, ip);
		r = inode_txn_close(t, r, false, &tid);
		if (r)
			return r;
	}
	r = txn_begin(fs, 16 * ALLOC_MAX_BLOCKS + 4 + ORPHAN_MAX_BLOCKS, &t);
	if (r)
		return r;
	if (S_ISDIR(ip->mode) && ip->fork.root) {
		struct btree bt;
		btree_open(&bt, fs, &ip->fork, ip->ino);
		r = btree_destroy(&bt, t);
	}
	if (r == 0 && ip->xattr_blk) {
		r = alloc_free(fs, t, ip->xattr_blk, ip->xattr_nblk);
		for (unsigned i = 0; i < ip->xattr_nblk; i++)
			bc_forget(fs, ip->xattr_blk + i);
	}
	if (r == 0 && ip->symlink_blk) {
		r = alloc_free(fs, t, ip->symlink_blk, 1);
		bc_forget(fs, ip->symlink_blk);
	}
	if (r == 0)
		r = alloc_inode_free(fs, t, ip->ino);
	if (r == 0) {
		bc_forget(fs, ip->ino);
		r = orphan_del(fs, t, ip->ino);
	}
	return inode_txn_close(t, r, false, &tid);
}

void inode_put(struct sfs *fs, struct sfs_inode *ip)
{
	struct icache *ic = fs->icache;
	pthread_mutex_lock(&ic->mu);
	assert(ip->refs > 0);
	if (--ip->refs > 0) {
		pthread_mutex_unlock(&ic->mu);
		return;
	}
	/* With the journal stopped no change can be written: an unlinked inode
	 * is left to the next mount's orphan recovery (said once, not once per
	 * inode: an unmount after a device failure forgets them all). Lock
	 * order: the cache's mutex, then the journal's (jnl_aborted); nothing
	 * takes them the other way round. */
	bool stopped = ip->nlink == 0 && !fs->readonly && jnl_aborted(fs);
	if (stopped && !ic->orphans_kept) {
		ic->orphans_kept = true;
		log_warn(SUB,
			 "inode %llu: unlinked, not freed (the journal stopped); unlinked "
			 "inodes are left to the next mount's orphan recovery",
			 (unsigned long long)ip->ino);
	}
	if (ip->nlink == 0 && !stopped && !ip->stale && !fs->readonly &&
	    !atomic_load(&fs->frozen)) {
		ip->dying = true;
		pthread_mutex_unlock(&ic->mu);
		struct lcl_handle *h;
		int r = lcl_lock(fs->lcl, inode_res(ip->ino), LCL_EX, &h);
		if (r == 0) {
			r = inode_revalidate(fs, ip);
			if (r == 0 && ip->nlink == 0)
				r = inode_free_blocks(fs, ip);
			lcl_unlock(h);
		}
		if (r)
			log_error(SUB, "inode %llu: freeing failed (%d); left on the orphan list",
				  (unsigned long long)ip->ino, r);
		pthread_mutex_lock(&ic->mu);
		if (ip->cached)
			hash_del(ic, ip);
		pthread_mutex_unlock(&ic->mu);
		inode_free_struct(ip);
		return;
	}
	if (ip->stale || !ip->cached) { /* invalidated or replaced while in use */
		if (ip->cached)
			hash_del(ic, ip);
		pthread_mutex_unlock(&ic->mu);
		inode_free_struct(ip);
		return;
	}
	lru_add(ic, ip);
	struct sfs_inode *victim = NULL;
	if (ic->nunused > ic->max_unused) {
		victim = ic->lru_tail;
		lru_del(ic, victim);
		hash_del(ic, victim);
	}
	pthread_mutex_unlock(&ic->mu);
	if (victim)
		inode_free_struct(victim);
}

int inode_reclaim(struct sfs *fs, uint64_t ino)
{
	struct sfs_inode *ip;
	struct lcl_handle *h;
	int r = inode_get(fs, ino, &ip);
	if (r) {
		log_error(SUB, "orphan %llu: cannot read the inode (%d)", (unsigned long long)ino,
			  r);
		return r;
	}
	if (ip->nlink == 0) {
		log_info(SUB, "orphan %llu: freeing an unlinked inode", (unsigned long long)ino);
		inode_put(fs, ip); /* frees it and takes it off the list */
		return 0;
	}
	/* A truncation that did not finish: drop extents past the size. */
	r = lcl_lock(fs->lcl, inode_res(ino), LCL_EX, &h);
	if (r) {
		inode_put(fs, ip);
		return r;
	}
	bool more = S_ISREG(ip->mode);
	uint64_t from = (ip->size + SFS_BLOCK_SIZE - 1) / SFS_BLOCK_SIZE;
	struct txn *t;
	uint64_t tid;
	while (r == 0) {
		unsigned nblk, n = free_step(fs, ip, &nblk);
		r = txn_begin(fs, nblk, &t);
		if (r)
			break;
		if (more)
			r = extent_remove(fs, t, ip, from, SFS_MAX_LBLK - from, n, true, &more);
		if (r == 0 && !more) {
			r = orphan_del(fs, t, ino);
			ip->lflags &= (uint16_t)~INODE_LF_ORPHAN;
		}
		if (r == 0)
			r = inode_write(fs, t, ip);
		r = inode_txn_close(t, r, false, &tid);
		if (!more)
			break;
	}
	if (r == 0 && (ip->lflags & INODE_LF_EXT_TREE) && ip->fork.nrecs <= INODE_INLINE_EXT / 2) {
		r = txn_begin(fs, extent_inline_blocks(ip) + inode_write_max_blocks(), &t);
		if (r == 0) {
			r = extent_try_inline(fs, t, ip);
			if (r == 0)
				r = inode_write(fs, t, ip);
			r = inode_txn_close(t, r, false, &tid);
		}
	}
	lcl_unlock(h);
	inode_put(fs, ip);
	return r;
}

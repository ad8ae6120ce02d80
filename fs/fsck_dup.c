/* fsck repair of blocks claimed twice (fs/INTERNALS.md "fsck and
 * lost+found").
 *
 * As e2fsck's passes 1B-1D, in our own shape: the walk marked every block
 * referenced more than once in ck->dup; a second scan of every inode lists
 * each claim of such a block (which inode, as what: file data at which file
 * block, or a metadata structure); per block one claimant keeps it (the
 * metadata structure when there is one, else the first claim in inode order)
 * and every other data claim lets go of it: a file sharing data with another
 * file gets a private copy, a file whose data lies on a metadata block has
 * that range unmapped. Both go through the engine, one handle per change. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "blockdev/bdev.h"
#include "fs/alloc.h"
#include "fs/bcache.h"
#include "fs/btree.h"
#include "fs/dir.h"
#include "fs/extent.h"
#include "fs/fsck_int.h"
#include "fs/inode.h"
#include "fs/jnl.h"
#include "fs/sfs.h"
#include "fs/xattr.h"

struct claim {
	uint64_t blk;	  /* the device block claimed */
	uint64_t seq;	  /* order of the claim in the scan (inode order) */
	uint64_t ino;	  /* the claimant */
	uint64_t lblk;	  /* file data: the file block */
	uint64_t elblk;	  /* file data: first file block of the extent */
	uint32_t flags;	  /* file data: the extent's flags */
	const char *what; /* NULL: file data; else the metadata structure */
};

/* What one inode has to change for a run of blocks of one extent. */
struct dup_fix {
	uint64_t ino, lblk, pblk, n, elblk;
	uint32_t flags;
	uint64_t keeper;	 /* the inode that keeps the blocks */
	const char *keeper_what; /* NULL: its file data; else its metadata */
};

struct claims {
	struct fsck *ck;
	struct claim *v;
	uint64_t n, cap, seq;
	uint64_t ino; /* the inode being scanned */
	int err;
};

static bool is_dup(struct fsck *ck, uint64_t b)
{
	return b < ck->sb.blocks && (ck->dup[b >> 3] >> (b & 7)) & 1;
}

static void claim_add(struct claims *c, uint64_t blk, const char *what, const struct sfs_extent *e,
		      uint64_t lblk)
{
	if (c->err)
		return;
	if (c->n == c->cap) {
		uint64_t cap = c->cap ? 2 * c->cap : 64;
		struct claim *nv = realloc(c->v, cap * sizeof(*nv));
		if (!nv) {
			c->err = -ENOMEM;
			return;
		}
		c->v = nv;
		c->cap = cap;
	}
	c->v[c->n++] = (struct claim){.blk = blk,
				      .seq = c->seq++,
				      .ino = c->ino,
				      .lblk = lblk,
				      .elblk = e ? e->lblk : 0,
				      .flags = e ? e->flags : 0,
				      .what = what};
}

static void claim_meta(struct claims *c, uint64_t blk, const char *what)
{
	if (is_dup(c->ck, blk))
		claim_add(c, blk, what, NULL, 0);
}

static int on_dup_extent(void *arg, const struct sfs_extent *e)
{
	struct claims *c = arg;
	for (uint64_t i = 0; i < e->len && !c->err; i++)
		if (is_dup(c->ck, e->pblk + i))
			claim_add(c, e->pblk + i, NULL, e, e->lblk + i);
	return c->err;
}

static int on_dup_ext_node(void *arg, uint64_t blkno, unsigned level)
{
	(void)level;
	claim_meta(arg, blkno, "extent tree node");
	return ((struct claims *)arg)->err;
}

static int on_dup_dir_node(void *arg, uint64_t blkno, unsigned level, unsigned nrecs)
{
	(void)level;
	(void)nrecs;
	claim_meta(arg, blkno, "directory tree node");
	return ((struct claims *)arg)->err;
}

static bool side_valid(struct sfs *fs, uint64_t blk, uint16_t type, uint64_t ino)
{
	struct buf *b;
	if (!blk || blk >= fs->sb.blocks || bc_read(fs, blk, type, sfs_owner_inode(ino), &b))
		return false;
	bc_put(b);
	return true;
}

/* 1 when ip's xattr run holds its blocks (reads and checks), 0 when not,
 * -ENOMEM. */
static int xattr_run_valid(struct sfs *fs, uint64_t ino, const struct sfs_inode *ip)
{
	uint8_t *area;
	size_t len;
	if (!ip->xattr_blk || ip->xattr_blk + ip->xattr_nblk > fs->sb.blocks)
		return 0;
	int r = xattr_run_read(fs, ino, ip->xattr_blk, ip->xattr_nblk, 0, true, &area, &len);
	if (r)
		return r == -ENOMEM ? r : 0;
	free(area);
	return 1;
}

/* Every claim of a block marked in ck->dup, in inode order, through a
 * read-only mount (as the walk reads). 0, -ENOMEM, or -EIO when an inode
 * the walk read cannot be read now. */
static int dup_scan(struct fsck *ck, struct claims *c)
{
	struct sfs_mount_opts mo = {.readonly = true, .buffered = ck->o->buffered, .dev = ck->dev};
	struct sfs *fs;
	if (sfs_open(ck->path, &mo, NULL, &fs))
		return -EIO;
	int rc = 0;
	for (uint64_t i = 0; i < ck->ninodes && !rc; i++) {
		uint64_t ino = ck->inodes[i];
		struct sfs_inode ip;
		memset(&ip, 0, sizeof(ip));
		if (bdev_read(ck->dev, ino * SFS_BLOCK_SIZE, ck->blk, SFS_BLOCK_SIZE) ||
		    inode_block_decode(ck->blk, ck->sb.uuid, ino, &ip)) {
			rc = -EIO;
			break;
		}
		c->ino = ino;
		claim_meta(c, ino, "inode block");
		if (S_ISDIR(ip.mode)) {
			struct btree_walk_ops bo = {.node = on_dup_dir_node};
			rc = btree_walk(fs, &ip.fork, ino, &bo, c);
		} else {
			struct extent_walk_ops eo = {.extent = on_dup_extent,
						     .node = on_dup_ext_node};
			rc = extent_walk(fs, &ip, &eo, c);
		}
		/* A side block holds the block only when it is what it claims
		 * to be: a corrupt xattr run is dropped by the last walk. */
		int xv = xattr_run_valid(fs, ino, &ip);
		if (xv < 0)
			c->err = xv;
		for (unsigned k = 0; xv > 0 && k < ip.xattr_nblk; k++)
			claim_meta(c, ip.xattr_blk + k, "xattr block");
		if (side_valid(fs, ip.symlink_blk, SFS_BT_SYMLINK, ino))
			claim_meta(c, ip.symlink_blk, "symlink block");
		if (c->err)
			rc = c->err;
		bc_drop_res(fs, sfs_owner_inode(ino));
		inode_decoded_release(&ip);
	}
	sfs_close(fs);
	return rc;
}

static int cmp_claim(const void *a, const void *b)
{
	const struct claim *x = a, *y = b;
	if (x->blk != y->blk)
		return x->blk < y->blk ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static int cmp_fix(const void *a, const void *b)
{
	const struct dup_fix *x = a, *y = b;
	if (x->ino != y->ino)
		return x->ino < y->ino ? -1 : 1;
	return x->lblk < y->lblk ? -1 : x->lblk > y->lblk;
}

/* Per block, who keeps it and which data claims let go of it: one dup_fix
 * per block, sorted by inode and file block, then runs of one extent with
 * the same keeper merged. *out is malloc'ed (the caller frees it). A block
 * held by two metadata structures is reported and left. */
static int dup_decide(struct fsck *ck, struct claims *c, struct dup_fix **out, uint64_t *nout)
{
	struct dup_fix *v = malloc((c->n ? c->n : 1) * sizeof(*v));
	if (!v)
		return -ENOMEM;
	uint64_t n = 0;
	qsort(c->v, c->n, sizeof(*c->v), cmp_claim);
	for (uint64_t i = 0, j; i < c->n; i = j) {
		uint64_t meta = 0, keep = i;
		for (j = i; j < c->n && c->v[j].blk == c->v[i].blk; j++)
			if (c->v[j].what && meta++ == 0)
				keep = j;
		if (j - i < 2)
			continue; /* its other claimant is gone (cleared by a repair) */
		if (meta > 1) {
			fsck_say(ck, FSCK_INFO,
				 "block %" PRIu64 " is held by %" PRIu64
				 " metadata structures; not repaired (no structure is copied)",
				 c->v[i].blk, meta);
			continue;
		}
		for (uint64_t k = i; k < j; k++) {
			const struct claim *x = &c->v[k];
			if (k == keep)
				continue;
			v[n++] = (struct dup_fix){.ino = x->ino,
						  .lblk = x->lblk,
						  .pblk = x->blk,
						  .n = 1,
						  .elblk = x->elblk,
						  .flags = x->flags,
						  .keeper = c->v[keep].ino,
						  .keeper_what = c->v[keep].what};
		}
	}
	qsort(v, n, sizeof(*v), cmp_fix);
	uint64_t m = 0;
	for (uint64_t i = 0; i < n; i++) {
		struct dup_fix *p = m ? &v[m - 1] : NULL;
		if (p && p->ino == v[i].ino && p->elblk == v[i].elblk &&
		    p->lblk + p->n == v[i].lblk && p->pblk + p->n == v[i].pblk &&
		    p->keeper == v[i].keeper && p->keeper_what == v[i].keeper_what)
			p->n++;
		else
			v[m++] = v[i];
	}
	*out = v;
	*nout = m;
	return 0;
}

/* Blocks copied per handle (the copy buffer is this many blocks). */
#define DUP_COPY_MAX 256u

/* Give inode ip private copies of f's blocks: allocate, copy the contents,
 * point the file blocks at the copies, one handle per run allocated. 0,
 * -ENOSPC (reported as INFO, nothing changed for the rest), or another
 * error (after which the journal may be aborted). */
static int dup_copy(struct fsck *ck, struct sfs *fs, struct sfs_inode *ip, const struct dup_fix *f,
		    uint8_t *buf)
{
	uint64_t done = 0;
	while (done < f->n) {
		uint64_t lblk = f->lblk + done, old = f->pblk + done;
		uint32_t want = (uint32_t)(f->n - done < DUP_COPY_MAX ? f->n - done : DUP_COPY_MAX);
		struct txn *t;
		int r = txn_begin(
		    fs, 2 * extent_op_blocks(ip) + ALLOC_MAX_BLOCKS + inode_write_max_blocks() + 4,
		    &t);
		if (r)
			return r;
		uint64_t start;
		uint32_t got;
		r = alloc_blocks(fs, t, extent_goal(fs, ip, lblk), want, 1, &start, &got);
		if (r) {
			txn_abort(t); /* nothing added: aborts alone */
			if (r == -ENOSPC)
				fsck_say(ck, FSCK_INFO,
					 "inode %" PRIu64 ": blocks %" PRIu64 "+%" PRIu64
					 " shared with inode %" PRIu64
					 " not copied: no space left for the copy",
					 f->ino, old, f->n - done, f->keeper);
			return r;
		}
		r = bdev_read(fs->dev, old * SFS_BLOCK_SIZE, buf, (size_t)got * SFS_BLOCK_SIZE);
		if (!r)
			r = bdev_write(fs->dev, start * SFS_BLOCK_SIZE, buf,
				       (size_t)got * SFS_BLOCK_SIZE);
		if (r) {
			/* Nothing points at the new blocks yet: give them back. */
			return fsck_txn_finish(t, alloc_free(fs, t, start, got)) ? -EIO : r;
		}
		jnl_note_data(fs); /* ordered data: the copy is on the device before the commit */
		bool more;
		struct sfs_extent e = {.lblk = lblk, .pblk = start, .len = got, .flags = f->flags};
		r = extent_remove(fs, t, ip, lblk, got, 1, false, &more);
		if (!r && more)
			r = -EIO; /* the run lies inside one extent: never */
		if (!r)
			r = extent_insert(fs, t, ip, &e);
		if (!r) {
			inode_now(&ip->ctime);
			r = inode_write(fs, t, ip);
		}
		r = fsck_txn_finish(t, r);
		if (r)
			return r;
		fsck_say(ck, FSCK_FIXED,
			 "inode %" PRIu64 ": blocks %" PRIu64 "+%u (file block %" PRIu64
			 ") shared with inode %" PRIu64 "; copied to %" PRIu64 "+%u",
			 f->ino, old, got, lblk, f->keeper, start, got);
		done += got;
	}
	return 0;
}

/* Unmap f's blocks from inode ip: they hold a metadata structure, which
 * keeps them; the file reads zeros there (a hole). */
static int dup_unmap(struct fsck *ck, struct sfs *fs, struct sfs_inode *ip, const struct dup_fix *f)
{
	int r = fsck_unmap_run(fs, ip, f->lblk, f->n);
	if (!r)
		fsck_say(ck, FSCK_FIXED,
			 "inode %" PRIu64 ": blocks %" PRIu64 "+%" PRIu64 " (file block %" PRIu64
			 ") are the %s of inode %" PRIu64
			 ", which keeps them; unmapped from the file (it reads zeros there)",
			 f->ino, f->pblk, f->n, f->lblk, f->keeper_what, f->keeper);
	return r;
}

/* The changes of dup_decide, through the engine. */
static void dup_repair(struct fsck *ck, const struct dup_fix *v, uint64_t n)
{
	fsck_mark_referenced(ck);
	struct lcl *lcl;
	struct sfs *fs;
	if (fsck_repair_mount(ck, "blocks referenced twice", &lcl, &fs))
		return;
	uint8_t *buf = bdev_alloc((size_t)DUP_COPY_MAX * SFS_BLOCK_SIZE);
	for (uint64_t i = 0; buf && i < n; i++) {
		const struct dup_fix *f = &v[i];
		struct sfs_inode *ip;
		int r = inode_get(fs, f->ino, &ip);
		if (!r) {
			uint32_t nlink = ip->nlink;
			if (!f->keeper_what)
				r = dup_copy(ck, fs, ip, f, buf);
			else
				r = dup_unmap(ck, fs, ip, f);
			/* An orphan keeps nlink 0 on disk; in core it must not
			 * be freed by this put (the next mount reclaims it). */
			if (nlink == 0)
				ip->nlink = 1;
			inode_put(fs, ip);
		}
		if (r == -ENOSPC)
			continue; /* reported by dup_copy; the next may fit */
		if (r)
			fsck_say(ck, FSCK_INFO,
				 "inode %" PRIu64 ": blocks %" PRIu64 "+%" PRIu64
				 " also held by inode %" PRIu64 " not repaired: %s",
				 f->ino, f->pblk, f->n, f->keeper, strerror(-r));
		if (r == -EIO || jnl_aborted(fs))
			break; /* nothing more goes through the journal */
	}
	if (!buf)
		fsck_say(ck, FSCK_INFO, "blocks referenced twice not repaired: out of memory");
	bdev_free(buf);
	fsck_repair_unmount(ck, "blocks referenced twice", lcl, fs);
}

int fsck_repair_dups(struct fsck *ck)
{
	if (ck->journal_dirty) {
		fsck_say(ck, FSCK_INFO,
			 "blocks referenced twice not repaired: a journal was not replayed");
		return 0;
	}
	if (!ck->refs_complete) {
		/* A claimant the walk could not read could lose its block. */
		fsck_say(ck, FSCK_INFO,
			 "blocks referenced twice not repaired: the inode walk was incomplete");
		return 0;
	}
	struct claims c = {.ck = ck};
	int rc = dup_scan(ck, &c);
	struct dup_fix *v = NULL;
	uint64_t n = 0;
	if (!rc)
		rc = dup_decide(ck, &c, &v, &n);
	free(c.v);
	if (rc == -ENOMEM)
		return rc;
	if (rc) {
		fsck_say(
		    ck, FSCK_INFO,
		    "blocks referenced twice not repaired: the inodes could not be read again");
		return 0;
	}
	if (n)
		dup_repair(ck, v, n);
	free(v);
	return 0;
}

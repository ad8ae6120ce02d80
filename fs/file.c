/* File data: read, write, truncate, fallocate, SEEK_DATA/HOLE, copy (file.h). */
#include "fs/file.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "blockdev/bdev.h"
#include "common/log.h"
#include "fs/alloc.h"
#include "fs/extent.h"
#include "fs/format.h"
#include "fs/inode.h"
#include "fs/inode_priv.h"
#include "fs/orphan.h"
#include "fs/sfs.h"

#define SUB "file"
#define BS  ((uint64_t)SFS_BLOCK_SIZE)

static uint64_t div_up(uint64_t a)
{
	return (a + BS - 1) / BS;
}

static uint64_t min64(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

static int dev_read(struct sfs *fs, uint64_t pblk, void *buf, uint64_t nblk)
{
	int r = bdev_read(fs->dev, pblk * BS, buf, nblk * BS);
	if (r)
		log_error(SUB, "read of data blocks %llu+%llu failed: %d", (unsigned long long)pblk,
			  (unsigned long long)nblk, r);
	return r;
}

static int dev_write(struct sfs *fs, uint64_t pblk, const void *buf, uint64_t nblk)
{
	int r = bdev_write(fs->dev, pblk * BS, buf, nblk * BS);
	if (r)
		log_error(SUB, "write of data blocks %llu+%llu failed: %d",
			  (unsigned long long)pblk, (unsigned long long)nblk, r);
	else
		jnl_note_data(fs);
	return r;
}

/* Extent changes per handle of a write or fallocate, and the handle's bound. */
static unsigned write_ops(struct sfs *fs, struct sfs_inode *ip, unsigned *blocks)
{
	unsigned extra = 2 * ALLOC_MAX_BLOCKS, fixed = inode_write_max_blocks();
	unsigned n = extent_ops_per_txn(fs, ip, extra, fixed);
	*blocks = n * (extent_op_blocks(ip) + extra) + fixed;
	return n;
}

static void touch(struct sfs_inode *ip, bool mtime)
{
	struct timespec now;
	inode_now(&now);
	ip->ctime = now;
	if (mtime)
		ip->mtime = now;
}

/* A bounce buffer for len bytes starting skip bytes into a block: a pooled
 * FILE_IO_CHUNK buffer (no page faults, no zeroing), else a fresh one. */
static uint8_t *bounce(struct sfs *fs, uint64_t skip, uint64_t len, size_t *size, bool *pooled)
{
	uint8_t *b = inode_iobuf_get(fs);
	*pooled = b != NULL;
	if (b) {
		*size = FILE_IO_CHUNK;
		return b;
	}
	*size = (size_t)min64(div_up(skip + len) * BS, FILE_IO_CHUNK);
	return bdev_alloc(*size);
}

static void bounce_put(struct sfs *fs, uint8_t *b, bool pooled)
{
	if (pooled)
		inode_iobuf_put(fs, b);
	else
		bdev_free(b);
}

int file_read(struct sfs *fs, struct sfs_inode *ip, void *buf, size_t len, uint64_t off,
	      size_t *done)
{
	*done = 0;
	if (S_ISDIR(ip->mode))
		return -EISDIR;
	if (!S_ISREG(ip->mode))
		return -EINVAL;
	if (off >= ip->size || len == 0)
		return 0;
	if (len > ip->size - off)
		len = (size_t)(ip->size - off);
	uint8_t *out = buf;
	uint64_t pos = off, end = off + len;
	size_t bbsz;
	bool pooled;
	uint8_t *bb = bounce(fs, off % BS, len, &bbsz, &pooled);
	if (!bb)
		return -ENOMEM;
	int r = 0;
	while (pos < end) {
		uint64_t lb = pos / BS;
		struct sfs_extent x;
		r = extent_find(fs, ip, lb, &x);
		if (r && r != -ENOENT)
			break;
		if (r == -ENOENT || x.lblk > lb || (x.flags & SFS_EXT_UNWRITTEN)) {
			uint64_t z = end;
			if (r == 0)
				z = min64(end, (x.lblk > lb ? x.lblk : x.lblk + x.len) * BS);
			memset(out + (pos - off), 0, z - pos);
			pos = z;
			r = 0;
			continue;
		}
		uint64_t skip = pos % BS;
		uint64_t n = min64(end, (x.lblk + x.len) * BS) - pos;
		uint8_t *dst = out + (pos - off);
		if (skip == 0 && n >= BS && (uintptr_t)dst % BDEV_BUF_ALIGN == 0) {
			/* Whole blocks straight into an aligned caller buffer:
			 * no bounce copy (a FUSE read's reply buffer is). */
			n = min64(n - n % BS, FILE_IO_CHUNK);
			r = dev_read(fs, x.pblk + (lb - x.lblk), dst, n / BS);
			if (r)
				break;
			pos += n;
			continue;
		}
		if (skip + n > bbsz)
			n = bbsz - skip;
		r = dev_read(fs, x.pblk + (lb - x.lblk), bb, div_up(skip + n));
		if (r)
			break;
		memcpy(out + (pos - off), bb + skip, n);
		pos += n;
	}
	bounce_put(fs, bb, pooled);
	*done = pos - off;
	return *done ? 0 : r;
}

/* The tail copy: one block of the file as the device holds it, the last
 * one a write ended inside, so that the next small write there (an append,
 * a log line) need not read it back first. Only the code below writes file
 * data, and each write keeps the copy right (tail_wrote); freeing blocks
 * drops it; and it goes with the inode's other cached state when the
 * inode's lock is lost (inode_invalidate: a re-read) or the inode leaves
 * the cache. A copy also names its device block: a block freed and given
 * to the file again is never mistaken for it. */
static const uint8_t *tail_find(const struct sfs_inode *ip, uint64_t lb, uint64_t phys)
{
	return ip->tail && ip->tail_lblk == lb && ip->tail_pblk == phys ? ip->tail : NULL;
}

/* Block lb at phys as the device holds it: from the tail copy, else read. */
static int read_edge(struct sfs *fs, const struct sfs_inode *ip, uint64_t lb, uint64_t phys,
		     uint8_t *out)
{
	const uint8_t *c = tail_find(ip, lb, phys);
	if (!c)
		return dev_read(fs, phys, out, 1);
	memcpy(out, c, BS);
	return 0;
}

/* bb's nblk blocks for lb.. at phys.. went to the device (r: how). When
 * the written data ended inside the last block (partial), that block
 * becomes the copy; a copy inside the range is refreshed. */
static void tail_wrote(struct sfs_inode *ip, uint64_t lb, uint64_t phys, const uint8_t *bb,
		       uint64_t nblk, bool partial, int r)
{
	bool inside = ip->tail && ip->tail_lblk >= lb && ip->tail_lblk - lb < nblk;
	if (r) { /* what the device holds now is not known */
		if (inside)
			inode_tail_drop(ip);
		return;
	}
	if (partial && inode_tail_hold(ip)) {
		ip->tail_lblk = lb + nblk - 1;
		ip->tail_pblk = phys + nblk - 1;
		inside = true;
	}
	if (!inside)
		return;
	if (ip->tail_pblk == phys + (ip->tail_lblk - lb))
		memcpy(ip->tail, bb + (ip->tail_lblk - lb) * BS, BS);
	else
		inode_tail_drop(ip);
}

/* Blocks freed by a transaction are allocatable only once it commits (the
 * journal could otherwise replay an old image over their new owner's data).
 * So ENOSPC right after a big truncate or unlink may only mean "not yet":
 * commit everything once and let the caller try again (as ext4 does). */
static bool enospc_retry(struct sfs *fs, bool *retried)
{
	if (*retried)
		return false;
	*retried = true;
	return jnl_sync(fs) == 0;
}

/* One segment of a write at *pos (a hole, an unwritten or a written run).
 * Sets *broken when the metadata was left half-changed. */
static int write_seg(struct sfs *fs, struct txn *t, struct sfs_inode *ip, uint8_t *bb, size_t bbsz,
		     const uint8_t *data, uint64_t *pos, uint64_t end, unsigned *ops, bool *broken)
{
	uint64_t lb = *pos / BS, skip = *pos % BS;
	uint64_t maxblk = min64(div_up(end), lb + bbsz / BS);
	struct sfs_extent x;
	int r = extent_find(fs, ip, lb, &x);
	if (r && r != -ENOENT)
		return r;
	if (r == -ENOENT || x.lblk > lb) { /* hole: allocate */
		uint64_t lim = min64(maxblk, r == 0 ? x.lblk : SFS_MAX_LBLK);
		uint64_t start;
		uint32_t got;
		r = alloc_blocks(fs, t, extent_goal(fs, ip, lb), (uint32_t)(lim - lb), 1, &start,
				 &got);
		if (r)
			return r;
		uint64_t se = min64(end, (lb + got) * BS);
		memset(bb, 0, skip); /* new block: zeros around the data */
		memset(bb + skip + (se - *pos), 0, got * BS - skip - (se - *pos));
		memcpy(bb + skip, data, se - *pos);
		r = dev_write(fs, start, bb, got);
		tail_wrote(ip, lb, start, bb, got, se % BS, r);
		if (r == 0) {
			struct sfs_extent e = {lb, start, got, 0};
			r = extent_insert(fs, t, ip, &e);
			if (r && r != -ENOSPC)
				*broken = true;
		}
		if (r) {
			if (alloc_free(fs, t, start, got))
				*broken = true;
			return r;
		}
		ip->blocks += (uint64_t)got * 8;
		(*ops)++;
		*pos = se;
		return 0;
	}
	uint64_t nblk = min64(maxblk, x.lblk + x.len) - lb;
	uint64_t se = min64(end, (lb + nblk) * BS);
	uint64_t phys = x.pblk + (lb - x.lblk);
	if (x.flags & SFS_EXT_UNWRITTEN) {
		memset(bb, 0, skip);
		memset(bb + skip + (se - *pos), 0, nblk * BS - skip - (se - *pos));
		memcpy(bb + skip, data, se - *pos);
		r = dev_write(fs, phys, bb, nblk);
		tail_wrote(ip, lb, phys, bb, nblk, se % BS, r);
		if (r)
			return r;
		bool more;
		r = extent_mark_written(fs, t, ip, lb, nblk, 1, &more);
		if (r) {
			*broken = true;
			return r;
		}
		(*ops)++;
		*pos = se;
		return 0;
	}
	/* Written: read-modify-write of the partial edge blocks only. */
	if (skip && (r = read_edge(fs, ip, lb, phys, bb)))
		return r;
	if (se % BS && (nblk > 1 || skip == 0) &&
	    (r = read_edge(fs, ip, lb + nblk - 1, phys + nblk - 1, bb + (nblk - 1) * BS)))
		return r;
	memcpy(bb + skip, data, se - *pos);
	r = dev_write(fs, phys, bb, nblk);
	tail_wrote(ip, lb, phys, bb, nblk, se % BS, r);
	if (r)
		return r;
	*pos = se;
	return 0;
}

int file_write(struct sfs *fs, struct sfs_inode *ip, const void *buf, size_t len, uint64_t off,
	       size_t *done)
{
	*done = 0;
	if (S_ISDIR(ip->mode))
		return -EISDIR;
	if (!S_ISREG(ip->mode))
		return -EINVAL;
	if (len == 0)
		return 0;
	if (off >= SFS_MAX_FILE_SIZE)
		return -EFBIG;
	if (len > SFS_MAX_FILE_SIZE - off)
		len = (size_t)(SFS_MAX_FILE_SIZE - off);
	size_t bbsz;
	bool pooled;
	uint8_t *bb = bounce(fs, off % BS, len, &bbsz, &pooled);
	if (!bb)
		return -ENOMEM;
	const uint8_t *src = buf;
	uint64_t pos = off, end = off + len;
	int err = 0;
	bool retried = false;
	while (pos < end && !err) {
		struct txn *t;
		uint64_t tid;
		unsigned nblk, nops = write_ops(fs, ip, &nblk);
		int r = txn_begin(fs, nblk, &t);
		if (r) {
			err = r;
			break;
		}
		uint64_t tstart = pos;
		unsigned ops = 0;
		bool broken = false;
		while (pos < end && ops < nops) {
			r = write_seg(fs, t, ip, bb, bbsz, src + (pos - off), &pos, end, &ops,
				      &broken);
			if (r) {
				err = r;
				break;
			}
		}
		if (pos > tstart && !broken) {
			if (pos > ip->size)
				ip->size = pos;
			touch(ip, true);
			r = inode_write(fs, t, ip);
			if (r)
				broken = true, err = r;
		}
		r = inode_txn_close(t, broken ? err : 0, !broken, &tid);
		if (r && !err)
			err = r;
		if (broken)
			pos = tstart; /* nothing of this handle counts */
		if (err == -ENOSPC && enospc_retry(fs, &retried))
			err = 0;
	}
	bounce_put(fs, bb, pooled);
	*done = pos - off;
	return *done ? 0 : err;
}

/* Zero n bytes at off inside one block, when that block holds written data. */
static int zero_partial(struct sfs *fs, struct sfs_inode *ip, uint64_t off, uint64_t n)
{
	uint64_t lb = off / BS;
	struct sfs_extent x;
	if (n == 0)
		return 0;
	int r = extent_find(fs, ip, lb, &x);
	if (r == -ENOENT || (r == 0 && (x.lblk > lb || (x.flags & SFS_EXT_UNWRITTEN))))
		return 0;
	if (r)
		return r;
	uint8_t *bb = bdev_alloc(BS);
	if (!bb)
		return -ENOMEM;
	uint64_t phys = x.pblk + (lb - x.lblk);
	r = read_edge(fs, ip, lb, phys, bb);
	if (r == 0) {
		memset(bb + off % BS, 0, n);
		r = dev_write(fs, phys, bb, 1);
		tail_wrote(ip, lb, phys, bb, 1, false, r);
	}
	bdev_free(bb);
	return r;
}

/* Free the extents of [from, to) in steps. When orphan is set the inode is
 * taken off the orphan list in the last step (it was put there by the
 * caller); otherwise only the extents go. */
static int remove_blocks(struct sfs *fs, struct sfs_inode *ip, uint64_t from, uint64_t to,
			 bool orphan)
{
	bool more = true;
	int r = 0;
	if (ip->tail && ip->tail_lblk >= from && ip->tail_lblk < to)
		inode_tail_drop(ip);
	while (more && r == 0) {
		struct txn *t;
		unsigned fixed = inode_write_max_blocks() + ORPHAN_MAX_BLOCKS;
		unsigned n = extent_ops_per_txn(fs, ip, 0, fixed);
		r = txn_begin(fs, n * extent_op_blocks(ip) + fixed, &t);
		if (r)
			return r;
		r = extent_remove(fs, t, ip, from, to - from, n, true, &more);
		if (r == 0 && !more && orphan && ip->nlink > 0) {
			r = orphan_del(fs, t, ip->ino);
			ip->lflags &= (uint16_t)~INODE_LF_ORPHAN;
		}
		if (r == 0)
			r = inode_write(fs, t, ip);
		r = inode_txn_close(t, r, false, NULL);
	}
	if (r == 0 && (ip->lflags & INODE_LF_EXT_TREE) && ip->fork.nrecs <= INODE_INLINE_EXT / 2) {
		struct txn *t;
		r = txn_begin(fs, extent_inline_blocks(ip) + inode_write_max_blocks(), &t);
		if (r)
			return r;
		r = extent_try_inline(fs, t, ip);
		if (r == 0)
			r = inode_write(fs, t, ip);
		r = inode_txn_close(t, r, false, NULL);
	}
	return r;
}

int file_truncate(struct sfs *fs, struct sfs_inode *ip, uint64_t size)
{
	if (S_ISDIR(ip->mode))
		return -EISDIR;
	if (!S_ISREG(ip->mode))
		return -EINVAL;
	if (size > SFS_MAX_FILE_SIZE)
		return -EFBIG;
	uint64_t from = div_up(size);
	struct sfs_extent x;
	int r = extent_find(fs, ip, from, &x);
	if (r && r != -ENOENT)
		return r;
	bool past = r == 0;
	if (size < ip->size && size % BS) {
		r = zero_partial(fs, ip, size, BS - size % BS);
		if (r)
			return r;
	}
	struct txn *t;
	r = txn_begin(fs, inode_write_max_blocks() + ORPHAN_MAX_BLOCKS, &t);
	if (r)
		return r;
	bool orphan = false;
	if (past && !(ip->lflags & INODE_LF_ORPHAN)) {
		r = orphan_add(fs, t, ip->ino);
		if (r)
			return inode_txn_close(t, r, true, NULL);
		ip->lflags |= INODE_LF_ORPHAN;
		orphan = true;
	}
	ip->size = size;
	touch(ip, true);
	r = inode_write(fs, t, ip);
	r = inode_txn_close(t, r, false, NULL);
	if (r || !past)
		return r;
	return remove_blocks(fs, ip, from, SFS_MAX_LBLK, orphan);
}

/* Unwritten extents over the holes of blocks [lb0, lb1). */
static int prealloc(struct sfs *fs, struct sfs_inode *ip, uint64_t lb0, uint64_t lb1,
		    uint64_t new_size)
{
	uint64_t pos = lb0;
	int err = 0;
	bool first = true, retried = false;
	while ((pos < lb1 || first) && !err) {
		struct txn *t;
		unsigned nblk, nops = write_ops(fs, ip, &nblk);
		int r = txn_begin(fs, nblk, &t);
		if (r)
			return r;
		first = false;
		unsigned ops = 0;
		bool broken = false;
		while (pos < lb1 && ops < nops) {
			struct sfs_extent x;
			r = extent_find(fs, ip, pos, &x);
			if (r && r != -ENOENT) {
				err = r;
				break;
			}
			if (r == 0 && x.lblk <= pos) {
				pos = x.lblk + x.len;
				continue;
			}
			uint64_t lim = min64(lb1, r == 0 ? x.lblk : lb1);
			uint64_t want = min64(lim - pos, SFS_EXT_MAX_LEN / 2);
			uint64_t start;
			uint32_t got;
			r = alloc_blocks(fs, t, extent_goal(fs, ip, pos), (uint32_t)want, 1, &start,
					 &got);
			if (r) {
				err = r;
				break;
			}
			struct sfs_extent e = {pos, start, got, SFS_EXT_UNWRITTEN};
			r = extent_insert(fs, t, ip, &e);
			if (r) {
				err = r;
				if (r != -ENOSPC || alloc_free(fs, t, start, got))
					broken = true;
				break;
			}
			ip->blocks += (uint64_t)got * 8;
			ops++;
			pos += got;
		}
		if (!broken) {
			if (pos >= lb1 && new_size > ip->size)
				ip->size = new_size;
			/* As ext4: fallocate changes mtime too, also with
			 * KEEP_SIZE and when nothing needed allocating. */
			touch(ip, true);
			r = inode_write(fs, t, ip);
			if (r)
				broken = true, err = r;
		}
		r = inode_txn_close(t, broken ? err : 0, !broken, NULL);
		if (r && !err)
			err = r;
		if (err == -ENOSPC && enospc_retry(fs, &retried))
			err = 0;
	}
	return err;
}

/* Zero the partial edges of [off, end) and free the whole blocks inside. */
static int punch(struct sfs *fs, struct sfs_inode *ip, uint64_t off, uint64_t end)
{
	uint64_t b0 = div_up(off), b1 = end / BS;
	int r;
	if (off / BS == (end - 1) / BS && (off % BS || end % BS)) /* inside one block */
		return zero_partial(fs, ip, off, end - off);
	if (off % BS && (r = zero_partial(fs, ip, off, b0 * BS - off)))
		return r;
	if (end % BS && (r = zero_partial(fs, ip, b1 * BS, end - b1 * BS)))
		return r;
	if (b1 > b0)
		return remove_blocks(fs, ip, b0, b1, false);
	return 0;
}

static int touch_write(struct sfs *fs, struct sfs_inode *ip, uint64_t new_size)
{
	struct txn *t;
	int r = txn_begin(fs, inode_write_max_blocks(), &t);
	if (r)
		return r;
	if (new_size > ip->size)
		ip->size = new_size;
	touch(ip, true);
	r = inode_write(fs, t, ip);
	return inode_txn_close(t, r, false, NULL);
}

int file_fallocate(struct sfs *fs, struct sfs_inode *ip, int mode, uint64_t off, uint64_t len)
{
	const int known = FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE | FALLOC_FL_ZERO_RANGE;
	if (S_ISDIR(ip->mode))
		return -EISDIR;
	if (!S_ISREG(ip->mode))
		return -ENODEV;
	if (mode & ~known)
		return -EOPNOTSUPP;
	if (len == 0)
		return -EINVAL;
	if (off >= SFS_MAX_FILE_SIZE || len > SFS_MAX_FILE_SIZE - off)
		return -EFBIG;
	uint64_t end = off + len;
	bool keep = mode & FALLOC_FL_KEEP_SIZE;
	if (mode & FALLOC_FL_PUNCH_HOLE) {
		if (!keep || (mode & FALLOC_FL_ZERO_RANGE))
			return -EOPNOTSUPP;
		int r = punch(fs, ip, off, end);
		return r ? r : touch_write(fs, ip, 0);
	}
	if (mode & FALLOC_FL_ZERO_RANGE) {
		int r = punch(fs, ip, off, end);
		if (r)
			return r;
		r = prealloc(fs, ip, off / BS, div_up(end), keep ? 0 : end);
		return r ? r : touch_write(fs, ip, 0);
	}
	return prealloc(fs, ip, off / BS, div_up(end), keep ? 0 : end);
}

struct seek_ctx {
	int whence;
	uint64_t pos; /* SEEK_DATA: result; SEEK_HOLE: covered up to here */
	bool found;
};

static int seek_cb(void *arg, const struct sfs_extent *e)
{
	struct seek_ctx *c = arg;
	uint64_t s = e->lblk * BS, x = (e->lblk + e->len) * BS;
	bool data = !(e->flags & SFS_EXT_UNWRITTEN);
	if (c->whence == SEEK_DATA) {
		if (!data)
			return 0;
		if (s > c->pos)
			c->pos = s;
		c->found = true;
		return 1;
	}
	if (!data || s > c->pos)
		return 1; /* the hole starts at c->pos */
	if (x > c->pos)
		c->pos = x;
	return 0;
}

int file_seek_data_hole(struct sfs *fs, struct sfs_inode *ip, uint64_t off, int whence,
			uint64_t *out)
{
	if (whence != SEEK_DATA && whence != SEEK_HOLE)
		return -EINVAL;
	if (!S_ISREG(ip->mode))
		return -EINVAL;
	if (off >= ip->size)
		return -ENXIO;
	struct seek_ctx c = {whence, off, false};
	int r = extent_iterate(fs, ip, off / BS, seek_cb, &c);
	if (r)
		return r;
	if (whence == SEEK_DATA) {
		if (!c.found || c.pos >= ip->size)
			return -ENXIO;
		*out = c.pos;
	} else {
		*out = min64(c.pos, ip->size);
	}
	return 0;
}

int file_copy_range(struct sfs *fs, struct sfs_inode *src, uint64_t soff, struct sfs_inode *dst,
		    uint64_t doff, size_t len, size_t *done)
{
	*done = 0;
	if (!S_ISREG(src->mode) || !S_ISREG(dst->mode))
		return S_ISDIR(src->mode) || S_ISDIR(dst->mode) ? -EISDIR : -EINVAL;
	if (src == dst && soff < doff + len && doff < soff + len)
		return -EINVAL;
	if (soff >= src->size || len == 0)
		return 0;
	uint64_t end = min64(soff + len, src->size);
	if (doff >= SFS_MAX_FILE_SIZE || end - soff > SFS_MAX_FILE_SIZE - doff)
		return -EFBIG;
	uint8_t *buf = malloc(FILE_IO_CHUNK);
	if (!buf)
		return -ENOMEM;
	uint64_t cur = soff;
	int r = 0;
	while (cur < end && r == 0) {
		uint64_t d, h;
		r = file_seek_data_hole(fs, src, cur, SEEK_DATA, &d);
		if (r == -ENXIO) {
			d = end;
			r = 0;
		}
		if (r)
			break;
		d = min64(d, end);
		if (d > cur) { /* a hole of src: make it a hole of dst too */
			r = punch(fs, dst, doff + (cur - soff), doff + (d - soff));
			if (r)
				break;
			cur = d;
			continue;
		}
		r = file_seek_data_hole(fs, src, cur, SEEK_HOLE, &h);
		if (r)
			break;
		h = min64(h, end);
		while (cur < h) {
			size_t n = (size_t)min64(h - cur, FILE_IO_CHUNK), got, put;
			r = file_read(fs, src, buf, n, cur, &got);
			if (r == 0 && got != n)
				r = -EIO; /* src is held: its size cannot shrink */
			if (r == 0)
				r = file_write(fs, dst, buf, n, doff + (cur - soff), &put);
			if (r)
				break;
			cur += put;
			if (put < n) {
				r = -ENOSPC;
				break;
			}
		}
	}
	free(buf);
	if (cur > soff && doff + (cur - soff) > dst->size) {
		int r2 = touch_write(fs, dst, doff + (cur - soff));
		if (r2 && !r)
			r = r2;
	}
	*done = cur - soff;
	return *done ? 0 : r;
}

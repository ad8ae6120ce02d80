/* Extended attributes: inline area, then a run of xattr blocks (xattr.h). */
#include "fs/xattr.h"

#include <errno.h>
#include <linux/limits.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/xattr.h>

#include "common/endian_le.h"
#include "common/log.h"
#include "fs/alloc.h"
#include "fs/bcache.h"
#include "fs/format.h"
#include "fs/inode.h"
#include "fs/inode_priv.h"
#include "fs/jnl.h"
#include "fs/sfs.h"

static const struct {
	const char *prefix;
	size_t plen;
	bool exact; /* the whole name, no suffix */
} nspace[] = {
    {NULL, 0, false},
    {"user.", 5, false},
    {"trusted.", 8, false},
    {"security.", 9, false},
    {"system.posix_acl_access", 23, true},
    {"system.posix_acl_default", 24, true},
};
#define NS_COUNT 6

int xattr_parse_name(const char *name, unsigned *ns, const char **suffix, size_t *slen)
{
	size_t len = strlen(name);
	if (len == 0)
		return -EINVAL;
	if (len > XATTR_NAME_MAX)
		return -ERANGE;
	for (unsigned i = 1; i < NS_COUNT; i++) {
		if (nspace[i].exact) {
			if (!strcmp(name, nspace[i].prefix)) {
				*ns = i;
				*suffix = name + len;
				*slen = 0;
				return 0;
			}
		} else if (!strncmp(name, nspace[i].prefix, nspace[i].plen)) {
			if (len == nspace[i].plen)
				return -EINVAL;
			*ns = i;
			*suffix = name + nspace[i].plen;
			*slen = len - nspace[i].plen;
			return 0;
		}
	}
	return -EOPNOTSUPP;
}

/* An entry area (checked on load: entries tile [0, len)). */
struct area {
	uint8_t *p;
	size_t len, cap;
};

static long area_find(const struct area *a, unsigned ns, const char *s, size_t sl)
{
	for (size_t off = 0; off < a->len; off += xattr_ent_len(a->p + off)) {
		const uint8_t *e = a->p + off;
		if (e[0] == ns && e[1] == sl && !memcmp(e + XATTR_ENT_HDR, s, sl))
			return (long)off;
	}
	return -1;
}

static void area_del(struct area *a, size_t off)
{
	size_t n = xattr_ent_len(a->p + off);
	memmove(a->p + off, a->p + off + n, a->len - off - n);
	a->len -= n;
}

static bool area_add(struct area *a, unsigned ns, const char *s, size_t sl, const void *v,
		     size_t vl)
{
	size_t n = XATTR_ENT_HDR + sl + vl;
	if (n > a->cap - a->len)
		return false;
	uint8_t *e = a->p + a->len;
	e[0] = (uint8_t)ns;
	e[1] = (uint8_t)sl;
	le32_put(e + 2, (uint32_t)vl);
	memcpy(e + XATTR_ENT_HDR, s, sl);
	memcpy(e + XATTR_ENT_HDR + sl, v, vl);
	a->len += n;
	return true;
}

int xattr_run_read(struct sfs *fs, uint64_t ino, uint64_t blk, unsigned n, size_t cap, bool full,
		   uint8_t **out, size_t *len)
{
	if (n == 0 || n > XATTR_RUN_MAX)
		return -EIO;
	if (cap < (size_t)n * XATTR_BLK_SIZE)
		cap = (size_t)n * XATTR_BLK_SIZE;
	uint8_t *p = malloc(cap);
	if (!p)
		return -ENOMEM;
	size_t total = 0;
	int r = 0;
	for (unsigned i = 0; i < n && r == 0; i++) {
		struct buf *b;
		size_t used;
		r = bc_read(fs, blk + i, SFS_BT_XATTR, inode_res(ino), &b);
		if (r)
			break;
		r = xattr_block_decode(b->data, blk + i, i, &used);
		if (r == 0 && i + 1 < n && used != XATTR_BLK_SIZE) {
			log_error("inode", "block %" PRIu64 ": xattr block %u of %u not full",
				  blk + i, i, n);
			r = -EIO;
		}
		if (r == 0) {
			memcpy(p + total, b->data + XATTR_BLK_ENTRIES_OFF, used);
			total += used;
		}
		bc_put(b);
	}
	size_t count;
	if (r == 0)
		r = full ? xattr_area_check(p, total, blk)
			 : xattr_area_tiles(p, total, blk, &count);
	if (r) {
		free(p);
		return r;
	}
	*out = p;
	*len = total;
	return 0;
}

/* ip's run as an area (a->p NULL, nothing to free, when ip has none); full:
 * checked for duplicates too, as a change needs. */
static int load_run(struct sfs *fs, struct sfs_inode *ip, bool full, struct area *a)
{
	a->p = NULL;
	a->len = 0;
	a->cap = (size_t)ip->xattr_nblk * XATTR_BLK_SIZE;
	if (!ip->xattr_blk)
		return 0;
	return xattr_run_read(fs, ip->ino, ip->xattr_blk, ip->xattr_nblk, 0, full, &a->p, &a->len);
}

/* For a change: the run as it is (old) and a copy with room for the
 * largest run (nw). */
static int run_copy(struct sfs *fs, struct sfs_inode *ip, struct area *old, struct area *nw)
{
	int r = load_run(fs, ip, true, old);
	if (r)
		return r;
	nw->cap = (size_t)XATTR_RUN_MAX * XATTR_BLK_SIZE;
	nw->len = old->len;
	nw->p = malloc(nw->cap);
	if (!nw->p) {
		free(old->p);
		old->p = NULL;
		return -ENOMEM;
	}
	if (old->len)
		memcpy(nw->p, old->p, old->len);
	return 0;
}

static void inline_area(struct sfs_inode *ip, struct area *a)
{
	a->p = ip->ixattr;
	a->len = ip->ixattr_len;
	a->cap = INODE_XATTR_SIZE;
}

int xattr_get(struct sfs *fs, struct sfs_inode *ip, const char *name, void *buf, size_t size,
	      size_t *len)
{
	unsigned ns;
	const char *s;
	size_t sl;
	int r = xattr_parse_name(name, &ns, &s, &sl);
	if (r)
		return r;
	struct area a, run = {NULL, 0, 0};
	inline_area(ip, &a);
	long off = a.p ? area_find(&a, ns, s, sl) : -1;
	if (off < 0 && ip->xattr_blk) {
		r = load_run(fs, ip, false, &run);
		if (r)
			return r;
		a = run;
		off = area_find(&a, ns, s, sl);
	}
	if (off < 0)
		r = -ENODATA;
	else {
		const uint8_t *e = a.p + off;
		size_t vl = xattr_ent_vlen(e);
		*len = vl;
		if (size && vl > size)
			r = -ERANGE;
		else if (size)
			memcpy(buf, e + XATTR_ENT_HDR + e[1], vl);
	}
	free(run.p);
	return r;
}

static int list_area(const struct area *a, char *buf, size_t size, size_t *pos)
{
	for (size_t off = 0; off < a->len; off += xattr_ent_len(a->p + off)) {
		const uint8_t *e = a->p + off;
		size_t pl = nspace[e[0]].plen, n = pl + e[1] + 1;
		if (size) {
			if (*pos + n > size)
				return -ERANGE;
			memcpy(buf + *pos, nspace[e[0]].prefix, pl);
			memcpy(buf + *pos + pl, e + XATTR_ENT_HDR, e[1]);
			buf[*pos + n - 1] = 0;
		}
		*pos += n;
	}
	return 0;
}

int xattr_list(struct sfs *fs, struct sfs_inode *ip, char *buf, size_t size, size_t *len)
{
	struct area a;
	size_t pos = 0;
	inline_area(ip, &a);
	int r = a.p ? list_area(&a, buf, size, &pos) : 0;
	if (r == 0 && ip->xattr_blk) {
		r = load_run(fs, ip, false, &a);
		if (r)
			return r;
		r = list_area(&a, buf, size, &pos);
		free(a.p);
	}
	if (r == 0)
		*len = pos;
	return r;
}

/* Bytes listxattr gives for the entry names of an area (0 for none). */
static size_t list_len(const struct area *a)
{
	size_t pos = 0;
	if (a->p)
		list_area(a, NULL, 0, &pos);
	return pos;
}

static size_t name_list_len(unsigned ns, size_t sl)
{
	return nspace[ns].plen + sl + 1;
}

/* Blocks of a run that holds len bytes of entries. */
static unsigned run_blocks(size_t len)
{
	return (unsigned)((len + XATTR_BLK_SIZE - 1) / XATTR_BLK_SIZE);
}

/* Write block i of the run at blk with its part of the entries in a
 * (new: a fresh block, else the cached one joins the transaction). */
static int run_put_block(struct sfs *fs, struct txn *t, struct sfs_inode *ip, uint64_t blk,
			 unsigned i, const struct area *a, bool new)
{
	struct buf *b;
	int r = new ? bc_new(fs, blk + i, SFS_BT_XATTR, inode_res(ip->ino), &b)
		    : bc_read(fs, blk + i, SFS_BT_XATTR, inode_res(ip->ino), &b);
	if (r)
		return r;
	r = txn_add(t, b);
	if (r == 0) {
		size_t off = (size_t)i * XATTR_BLK_SIZE, used = a->len - off;
		if (used > XATTR_BLK_SIZE)
			used = XATTR_BLK_SIZE;
		memcpy(b->data + XATTR_BLK_ENTRIES_OFF, a->p + off, used);
		xattr_block_encode(b->data, i, used);
	}
	bc_put(b);
	return r;
}

static int run_free(struct sfs *fs, struct txn *t, uint64_t blk, unsigned n)
{
	int r = alloc_free(fs, t, blk, n);
	for (unsigned i = 0; i < n; i++)
		bc_forget(fs, blk + i);
	return r;
}

/* Make ip's run hold the entries of nw (old: what it holds now). A run that
 * must grow moves to a new run of adjacent blocks, allocated first (so
 * -ENOSPC changes nothing); one that shrinks frees its last blocks; only
 * the blocks whose bytes change are written. *clean goes false at the first
 * change. */
static int run_store(struct sfs *fs, struct txn *t, struct sfs_inode *ip, const struct area *old,
		     const struct area *nw, bool *clean)
{
	unsigned n = ip->xattr_nblk, m = run_blocks(nw->len);
	uint64_t blk = ip->xattr_blk;
	int r = 0;
	if (m > n) {
		uint64_t start;
		uint32_t got;
		r = alloc_blocks(fs, t, ip->ino + 1, m, m, &start, &got);
		if (r)
			return r;
		*clean = false;
		for (unsigned i = 0; i < m && r == 0; i++)
			r = run_put_block(fs, t, ip, start, i, nw, true);
		if (r == 0 && n)
			r = run_free(fs, t, blk, n);
		if (r == 0) {
			ip->xattr_blk = start;
			ip->xattr_nblk = (uint16_t)m;
			ip->blocks += 8ull * (m - n);
		}
		return r;
	}
	for (unsigned i = 0; i < m && r == 0; i++) {
		size_t off = (size_t)i * XATTR_BLK_SIZE;
		size_t ol = old->len > off ? old->len - off : 0, nl = nw->len - off;
		ol = ol > XATTR_BLK_SIZE ? XATTR_BLK_SIZE : ol;
		nl = nl > XATTR_BLK_SIZE ? XATTR_BLK_SIZE : nl;
		if (ol == nl && !memcmp(old->p + off, nw->p + off, nl))
			continue;
		*clean = false;
		r = run_put_block(fs, t, ip, blk, i, nw, false);
	}
	if (r == 0 && m < n) {
		*clean = false;
		r = run_free(fs, t, blk + m, n - m);
		if (r == 0) {
			ip->xattr_nblk = (uint16_t)m;
			ip->xattr_blk = m ? blk : 0;
			ip->blocks -= 8ull * (n - m);
		}
	}
	return r;
}

/* Set (value != NULL) or remove (value == NULL) one attribute. */
static int xattr_change(struct sfs *fs, struct sfs_inode *ip, const char *name, const void *value,
			size_t size, int flags)
{
	unsigned ns;
	const char *s;
	size_t sl;
	int r = xattr_parse_name(name, &ns, &s, &sl);
	if (r)
		return r;
	if (flags & ~(XATTR_CREATE | XATTR_REPLACE))
		return -EINVAL;
	if (value && size > XATTR_VALUE_MAX)
		return -E2BIG;

	/* Work on copies; nothing changes until the new layout fits. The run
	 * is read only when the name may be there (it is not inline) or the
	 * value does not fit inline. */
	uint8_t icopy[INODE_XATTR_SIZE];
	struct area in = {icopy, ip->ixattr_len, INODE_XATTR_SIZE};
	if (ip->ixattr_len)
		memcpy(icopy, ip->ixattr, ip->ixattr_len);
	struct area old = {NULL, 0, 0}, rk = {NULL, 0, 0};
	bool rchanged = false;
	long off = area_find(&in, ns, s, sl);
	bool exists = off >= 0;
	if (exists) {
		area_del(&in, (size_t)off);
	} else if (ip->xattr_blk) {
		r = run_copy(fs, ip, &old, &rk);
		if (r == 0 && (off = area_find(&rk, ns, s, sl)) >= 0) {
			exists = true;
			area_del(&rk, (size_t)off);
			rchanged = true;
		}
	}
	if (r == 0 && !value && !exists)
		r = -ENODATA;
	else if (r == 0 && value && exists && (flags & XATTR_CREATE))
		r = -EEXIST;
	else if (r == 0 && value && !exists && (flags & XATTR_REPLACE))
		r = -ENODATA;
	else if (r == 0 && value && !exists &&
		 list_len(&in) + list_len(&rk) + name_list_len(ns, sl) > XATTR_LIST_MAX)
		r = -EOVERFLOW; /* listxattr could no longer list them: see xattr_set */
	else if (r == 0 && value && !area_add(&in, ns, s, sl, value, size)) {
		if (!rk.p)
			r = run_copy(fs, ip, &old, &rk);
		if (r == 0 && area_add(&rk, ns, s, sl, value, size))
			rchanged = true;
		else if (r == 0)
			r = -EOVERFLOW; /* no room in the inode or its run: see xattr_set */
	}
	if (r == 0 && in.len && !ip->ixattr) {
		ip->ixattr = malloc(INODE_XATTR_SIZE);
		if (!ip->ixattr)
			r = -ENOMEM;
	}
	struct txn *t = NULL;
	if (r == 0) {
		unsigned res = inode_write_max_blocks();
		if (rchanged)
			res += ip->xattr_nblk + run_blocks(rk.len) + 2 * ALLOC_MAX_BLOCKS;
		r = txn_begin(fs, res, &t);
	}
	if (r) {
		free(old.p);
		free(rk.p);
		return r;
	}
	bool clean = true;
	if (rchanged)
		r = run_store(fs, t, ip, &old, &rk, &clean);
	free(old.p);
	free(rk.p);
	if (r == 0) {
		if (in.len)
			memcpy(ip->ixattr, icopy, in.len);
		ip->ixattr_len = (uint16_t)in.len;
		struct timespec now;
		inode_now(&now);
		ip->ctime = now;
		r = inode_write(fs, t, ip);
		clean = false;
	}
	return inode_txn_close(t, r, clean, NULL);
}

int xattr_set(struct sfs *fs, struct sfs_inode *ip, const char *name, const void *value,
	      size_t size, int flags)
{
	static const char empty;
	int r = xattr_change(fs, ip, name, value ? value : &empty, size, flags);
	/* No free block may only mean "not yet": blocks freed by transactions
	 * not yet committed are not handed out (fs/alloc.h). Commit and try
	 * once more, as file writes and creates do. */
	if (r == -ENOSPC && jnl_sync(fs) == 0)
		r = xattr_change(fs, ip, name, value ? value : &empty, size, flags);
	return r == -EOVERFLOW ? -ENOSPC : r; /* no room for it: as ext4 answers */
}

int xattr_remove(struct sfs *fs, struct sfs_inode *ip, const char *name)
{
	return xattr_change(fs, ip, name, NULL, 0, 0);
}

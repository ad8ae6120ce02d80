/* Extended attributes: inline area, then one xattr block (xattr.h). */
#include "fs/xattr.h"

#include <errno.h>
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

#define NAME_MAX_ 255	/* XATTR_NAME_MAX */
#define SIZE_MAX_ 65536 /* XATTR_SIZE_MAX */

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
	if (len > NAME_MAX_)
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

static size_t ent_len(const uint8_t *e)
{
	return XATTR_ENT_HDR + e[1] + le16_get(e + 2);
}

static long area_find(const struct area *a, unsigned ns, const char *s, size_t sl)
{
	for (size_t off = 0; off < a->len; off += ent_len(a->p + off)) {
		const uint8_t *e = a->p + off;
		if (e[0] == ns && e[1] == sl && !memcmp(e + XATTR_ENT_HDR, s, sl))
			return (long)off;
	}
	return -1;
}

static void area_del(struct area *a, size_t off)
{
	size_t n = ent_len(a->p + off);
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
	le16_put(e + 2, (uint16_t)vl);
	memcpy(e + XATTR_ENT_HDR, s, sl);
	memcpy(e + XATTR_ENT_HDR + sl, v, vl);
	a->len += n;
	return true;
}

/* Load the xattr block of ip (a reference in *bp, its area in *a). */
static int load_block(struct sfs *fs, struct sfs_inode *ip, struct buf **bp, struct area *a)
{
	size_t used;
	int r = bc_read(fs, ip->xattr_blk, SFS_BT_XATTR, inode_res(ip->ino), bp);
	if (r)
		return r;
	r = xattr_block_decode((*bp)->data, ip->xattr_blk, &used);
	if (r) {
		bc_put(*bp);
		return r;
	}
	a->p = (*bp)->data + XATTR_BLK_ENTRIES_OFF;
	a->len = used;
	a->cap = XATTR_BLK_SIZE;
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
	struct area a;
	struct buf *b = NULL;
	inline_area(ip, &a);
	long off = a.p ? area_find(&a, ns, s, sl) : -1;
	if (off < 0 && ip->xattr_blk) {
		r = load_block(fs, ip, &b, &a);
		if (r)
			return r;
		off = area_find(&a, ns, s, sl);
	}
	if (off < 0)
		r = -ENODATA;
	else {
		const uint8_t *e = a.p + off;
		size_t vl = le16_get(e + 2);
		*len = vl;
		if (size && vl > size)
			r = -ERANGE;
		else if (size)
			memcpy(buf, e + XATTR_ENT_HDR + e[1], vl);
	}
	if (b)
		bc_put(b);
	return r;
}

static int list_area(const struct area *a, char *buf, size_t size, size_t *pos)
{
	for (size_t off = 0; off < a->len; off += ent_len(a->p + off)) {
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
		struct buf *b;
		r = load_block(fs, ip, &b, &a);
		if (r)
			return r;
		r = list_area(&a, buf, size, &pos);
		bc_put(b);
	}
	if (r == 0)
		*len = pos;
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
	if (value && size > SIZE_MAX_)
		return -E2BIG;

	/* Work on copies; nothing changes until the new layout fits. */
	uint8_t icopy[INODE_XATTR_SIZE], bcopy[XATTR_BLK_SIZE];
	struct area in = {icopy, ip->ixattr_len, INODE_XATTR_SIZE};
	struct area bk = {bcopy, 0, XATTR_BLK_SIZE};
	if (ip->ixattr_len)
		memcpy(icopy, ip->ixattr, ip->ixattr_len);
	struct buf *b = NULL;
	if (ip->xattr_blk) {
		struct area ba;
		r = load_block(fs, ip, &b, &ba);
		if (r)
			return r;
		memcpy(bcopy, ba.p, ba.len);
		bk.len = ba.len;
	}
	bool bchanged = false;
	long off = area_find(&in, ns, s, sl);
	bool exists = off >= 0;
	if (exists) {
		area_del(&in, (size_t)off);
	} else if ((off = area_find(&bk, ns, s, sl)) >= 0) {
		exists = true;
		area_del(&bk, (size_t)off);
		bchanged = true;
	}
	if (!value && !exists)
		r = -ENODATA;
	else if (value && exists && (flags & XATTR_CREATE))
		r = -EEXIST;
	else if (value && !exists && (flags & XATTR_REPLACE))
		r = -ENODATA;
	else if (value && !area_add(&in, ns, s, sl, value, size)) {
		if (area_add(&bk, ns, s, sl, value, size))
			bchanged = true;
		else
			r = -EOVERFLOW; /* no room in the inode or its block: see xattr_set */
	}
	if (r) {
		if (b)
			bc_put(b);
		return r;
	}

	struct txn *t;
	r = txn_begin(fs, 1 + ALLOC_MAX_BLOCKS + inode_write_max_blocks(), &t);
	if (r) {
		if (b)
			bc_put(b);
		return r;
	}
	bool clean = true;
	uint64_t newblk = 0;
	if (bchanged && bk.len == 0 && b) { /* the block is empty: free it */
		r = alloc_free(fs, t, ip->xattr_blk, 1);
		if (r == 0) {
			bc_put(b);
			b = NULL;
			bc_forget(fs, ip->xattr_blk);
			ip->xattr_blk = 0;
			ip->blocks -= 8;
		}
		clean = false;
	} else if (bchanged) {
		if (!b) {
			uint32_t got;
			r = alloc_blocks(fs, t, ip->ino + 1, 1, 1, &newblk, &got);
			if (r == 0) {
				clean = false;
				r = bc_new(fs, newblk, SFS_BT_XATTR, inode_res(ip->ino), &b);
				if (r)
					alloc_free(fs, t, newblk, 1);
			}
		}
		if (r == 0)
			r = txn_add(t, b);
		if (r == 0) {
			clean = false;
			memcpy(b->data + XATTR_BLK_ENTRIES_OFF, bcopy, bk.len);
			xattr_block_set_used(b->data, bk.len);
			if (newblk) {
				ip->xattr_blk = newblk;
				ip->blocks += 8;
			}
		}
	}
	if (r == 0) {
		if (in.len && !ip->ixattr) {
			ip->ixattr = malloc(INODE_XATTR_SIZE);
			if (!ip->ixattr)
				r = -ENOMEM;
		}
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
	}
	if (b)
		bc_put(b);
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

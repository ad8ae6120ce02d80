/* Extent maps: inline array in the inode block, then a B+tree (extent.h). */
#include "fs/extent.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/endian_le.h"
#include "common/log.h"
#include "fs/alloc.h"
#include "fs/btree.h"
#include "fs/inode.h"
#include "fs/jnl.h"

#define SUB "extent"

void extent_val_encode(const struct sfs_extent *e, uint8_t out[EXTENT_VAL_SIZE])
{
	le64_put(out, e->pblk);
	le32_put(out + 8, e->len);
	le32_put(out + 12, e->flags);
}

int extent_val_decode(uint64_t lblk, const uint8_t *val, size_t len, uint64_t ino,
		      struct sfs_extent *e)
{
	uint8_t raw[SFS_EXTENT_SIZE];
	if (len != EXTENT_VAL_SIZE) {
		log_error(SUB, "inode %llu: extent record of %zu bytes", (unsigned long long)ino,
			  len);
		return -EIO;
	}
	le64_put(raw, lblk);
	memcpy(raw + 8, val, EXTENT_VAL_SIZE);
	return sfs_extent_decode(raw, ino, e);
}

static bool in_tree(const struct sfs_inode *ip)
{
	return ip->lflags & INODE_LF_EXT_TREE;
}

uint64_t extent_count(const struct sfs_inode *ip)
{
	return in_tree(ip) ? ip->fork.nrecs : ip->niext;
}

unsigned extent_op_blocks(const struct sfs_inode *ip)
{
	/* One tree change: the path (depth d, which may grow by one), a new
	 * node or a sibling per level, an allocator call per level. A split
	 * or a mark_written is up to four tree changes on the same path; one
	 * alloc_free for the data. */
	unsigned d = (in_tree(ip) ? ip->fork.depth : 0) + 1;
	unsigned tree_op = 2 * d + 1 + (d + 1) * ALLOC_MAX_BLOCKS;
	return 4 * tree_op + ALLOC_MAX_BLOCKS;
}

unsigned extent_ops_per_txn(struct sfs *fs, const struct sfs_inode *ip, unsigned extra,
			    unsigned fixed)
{
	struct jnl_stats st;
	jnl_stats(fs, &st);
	uint64_t lim = st.ring_blocks / 4, op = extent_op_blocks(ip) + extra;
	if (lim < fixed + 2 * op)
		return 1;
	uint64_t n = (lim - fixed) / op;
	return n > 8 ? 8 : (unsigned)n;
}

/* ---- storage primitives: inline array or tree ---- */

static int tree_rec(struct sfs_inode *ip, const struct btree_key *k, const uint8_t *v, size_t len,
		    int r, struct sfs_extent *e)
{
	if (r)
		return r;
	return extent_val_decode(k->hi, v, len, ip->ino, e);
}

/* Greatest extent start <= lblk. */

/* An inode's extent tree: its new nodes may come from the allocator's
 * reserve (a punch or a write into fallocated space must not fail half-way
 * for want of a tree block). */
static void ext_bt(struct btree *bt, struct sfs *fs, struct sfs_inode *ip)
{
	btree_open(bt, fs, &ip->fork, ip->ino);
	bt->reserved = true;
}

static int st_le(struct sfs *fs, struct sfs_inode *ip, uint64_t lblk, struct sfs_extent *e)
{
	if (in_tree(ip)) {
		struct btree bt;
		struct btree_key k = {lblk, 0}, f;
		uint8_t v[EXTENT_VAL_SIZE];
		size_t len;
		ext_bt(&bt, fs, ip);
		int r = btree_lookup_le(&bt, &k, &f, v, sizeof(v), &len);
		return tree_rec(ip, &f, v, len, r, e);
	}
	for (int i = (int)ip->niext - 1; i >= 0; i--)
		if (ip->iext[i].lblk <= lblk) {
			*e = ip->iext[i];
			return 0;
		}
	return -ENOENT;
}

/* Smallest extent start >= lblk. */
static int st_ge(struct sfs *fs, struct sfs_inode *ip, uint64_t lblk, struct sfs_extent *e)
{
	if (in_tree(ip)) {
		struct btree bt;
		struct btree_key k = {lblk, 0}, f;
		uint8_t v[EXTENT_VAL_SIZE];
		size_t len;
		ext_bt(&bt, fs, ip);
		int r = btree_lookup_ge(&bt, &k, &f, v, sizeof(v), &len);
		return tree_rec(ip, &f, v, len, r, e);
	}
	for (unsigned i = 0; i < ip->niext; i++)
		if (ip->iext[i].lblk >= lblk) {
			*e = ip->iext[i];
			return 0;
		}
	return -ENOENT;
}

static void count_nodes(struct sfs_inode *ip, uint32_t before)
{
	ip->blocks += ((int64_t)ip->fork.nnodes - (int64_t)before) * 8;
}

static int tree_insert(struct sfs *fs, struct txn *t, struct sfs_inode *ip,
		       const struct sfs_extent *e)
{
	struct btree bt;
	struct btree_key k = {e->lblk, 0};
	uint8_t v[EXTENT_VAL_SIZE];
	uint32_t before = ip->fork.nnodes;
	extent_val_encode(e, v);
	ext_bt(&bt, fs, ip);
	int r = btree_insert(&bt, t, &k, v, sizeof(v));
	count_nodes(ip, before);
	return r;
}

/* Move the inline extents into a new tree. */
static int to_tree(struct sfs *fs, struct txn *t, struct sfs_inode *ip)
{
	assert(!in_tree(ip) && ip->fork.root == 0);
	ip->lflags |= INODE_LF_EXT_TREE;
	for (unsigned i = 0; i < ip->niext; i++) {
		int r = tree_insert(fs, t, ip, &ip->iext[i]);
		if (r) {
			if (i == 0) { /* nothing changed on disk */
				ip->lflags &= (uint16_t)~INODE_LF_EXT_TREE;
				return r;
			}
			log_error(SUB, "inode %llu: moving extents to a tree failed: %d",
				  (unsigned long long)ip->ino, r);
			return r == -ENOSPC ? r : -EIO;
		}
	}
	ip->niext = 0;
	return 0;
}

static int st_ins(struct sfs *fs, struct txn *t, struct sfs_inode *ip, const struct sfs_extent *e)
{
	if (!in_tree(ip) && ip->niext == INODE_INLINE_EXT) {
		int r = to_tree(fs, t, ip);
		if (r)
			return r;
	}
	if (in_tree(ip))
		return tree_insert(fs, t, ip, e);
	if (!ip->iext) {
		ip->iext = calloc(INODE_INLINE_EXT, sizeof(*ip->iext));
		if (!ip->iext)
			return -ENOMEM;
	}
	unsigned i = ip->niext;
	while (i > 0 && ip->iext[i - 1].lblk > e->lblk) {
		ip->iext[i] = ip->iext[i - 1];
		i--;
	}
	ip->iext[i] = *e;
	ip->niext++;
	return 0;
}

static int st_del(struct sfs *fs, struct txn *t, struct sfs_inode *ip, uint64_t lblk)
{
	if (in_tree(ip)) {
		struct btree bt;
		struct btree_key k = {lblk, 0};
		uint32_t before = ip->fork.nnodes;
		ext_bt(&bt, fs, ip);
		int r = btree_delete(&bt, t, &k, NULL, 0, NULL);
		count_nodes(ip, before);
		if (r == 0 && ip->fork.nrecs == 0 && ip->fork.root == 0)
			ip->lflags &= (uint16_t)~INODE_LF_EXT_TREE; /* back inline */
		return r;
	}
	for (unsigned i = 0; i < ip->niext; i++)
		if (ip->iext[i].lblk == lblk) {
			memmove(&ip->iext[i], &ip->iext[i + 1],
				(ip->niext - i - 1) * sizeof(*ip->iext));
			ip->niext--;
			return 0;
		}
	return -ENOENT;
}

static int st_upd(struct sfs *fs, struct txn *t, struct sfs_inode *ip, const struct sfs_extent *e)
{
	if (in_tree(ip)) {
		struct btree bt;
		struct btree_key k = {e->lblk, 0};
		uint8_t v[EXTENT_VAL_SIZE];
		uint32_t before = ip->fork.nnodes;
		extent_val_encode(e, v);
		ext_bt(&bt, fs, ip);
		int r = btree_update(&bt, t, &k, v, sizeof(v));
		count_nodes(ip, before);
		return r;
	}
	for (unsigned i = 0; i < ip->niext; i++)
		if (ip->iext[i].lblk == e->lblk) {
			ip->iext[i] = *e;
			return 0;
		}
	return -ENOENT;
}

/* Before a change that first edits inline extents in memory and then adds
 * up to extra more: move them to a tree now if they might not fit, so that
 * a failure (no block for the tree) leaves the inode as it was. */
static int make_room(struct sfs *fs, struct txn *t, struct sfs_inode *ip, unsigned extra)
{
	if (in_tree(ip) || ip->niext + extra <= INODE_INLINE_EXT)
		return 0;
	return to_tree(fs, t, ip);
}

/* ---- operations ---- */

uint64_t extent_goal(struct sfs *fs, struct sfs_inode *ip, uint64_t lblk)
{
	struct sfs_extent x;
	if (lblk > 0 && st_le(fs, ip, lblk - 1, &x) == 0)
		return x.pblk + (lblk - x.lblk);
	return ip->ino + 1;
}

int extent_find(struct sfs *fs, struct sfs_inode *ip, uint64_t lblk, struct sfs_extent *e)
{
	int r = st_le(fs, ip, lblk, e);
	if (r == 0 && e->lblk + e->len > lblk)
		return 0;
	if (r && r != -ENOENT)
		return r;
	return st_ge(fs, ip, lblk, e);
}

static bool joins(const struct sfs_extent *a, const struct sfs_extent *b)
{
	return a->lblk + a->len == b->lblk && a->pblk + a->len == b->pblk && a->flags == b->flags &&
	       (uint64_t)a->len + b->len <= SFS_EXT_MAX_LEN;
}

int extent_insert(struct sfs *fs, struct txn *t, struct sfs_inode *ip, const struct sfs_extent *e)
{
	struct sfs_extent x, prev, next;
	if (e->len == 0 || e->len > SFS_EXT_MAX_LEN || e->lblk >= SFS_MAX_LBLK ||
	    e->len > SFS_MAX_LBLK - e->lblk || e->pblk == 0 || (e->flags & ~SFS_EXT_KNOWN))
		return -EINVAL;
	int r = extent_find(fs, ip, e->lblk, &x);
	if (r == 0 && x.lblk < e->lblk + e->len)
		return -EEXIST;
	if (r && r != -ENOENT)
		return r;
	bool mp = false, mn = false;
	if (e->lblk > 0) {
		r = st_le(fs, ip, e->lblk - 1, &prev);
		if (r && r != -ENOENT)
			return r;
		mp = r == 0 && joins(&prev, e);
	}
	r = st_ge(fs, ip, e->lblk + e->len, &next);
	if (r && r != -ENOENT)
		return r;
	mn = r == 0 && joins(e, &next);
	if (mp && mn && (uint64_t)prev.len + e->len + next.len > SFS_EXT_MAX_LEN)
		mn = false;
	if (mp) {
		prev.len += e->len;
		if (mn) {
			r = st_del(fs, t, ip, next.lblk);
			if (r)
				return r;
			prev.len += next.len;
		}
		return st_upd(fs, t, ip, &prev);
	}
	if (mn) {
		struct sfs_extent m = *e;
		m.len += next.len;
		r = st_del(fs, t, ip, next.lblk);
		if (r)
			return r;
		return st_ins(fs, t, ip, &m);
	}
	return st_ins(fs, t, ip, e);
}

static int free_run(struct sfs *fs, struct txn *t, struct sfs_inode *ip, uint64_t pblk,
		    uint64_t len, bool free_blocks)
{
	if (!free_blocks || len == 0)
		return 0;
	int r = alloc_free(fs, t, pblk, (uint32_t)len);
	if (r)
		return r;
	ip->blocks -= len * 8;
	return 0;
}

int extent_remove(struct sfs *fs, struct txn *t, struct sfs_inode *ip, uint64_t lblk, uint64_t len,
		  unsigned max_ext, bool free_blocks, bool *more)
{
	struct sfs_extent x;
	*more = false;
	if (len == 0 || lblk >= SFS_MAX_LBLK)
		return 0;
	uint64_t end = len > SFS_MAX_LBLK - lblk ? SFS_MAX_LBLK : lblk + len;
	unsigned done = 0;
	int r;
	while (end > lblk) {
		r = st_le(fs, ip, end - 1, &x);
		if (r == -ENOENT)
			return 0;
		if (r)
			return r;
		uint64_t xe = x.lblk + x.len;
		if (xe <= lblk)
			return 0;
		if (done == max_ext) {
			*more = true;
			return 0;
		}
		uint64_t a = x.lblk > lblk ? x.lblk : lblk;
		uint64_t b = xe < end ? xe : end;
		struct sfs_extent tail = {b, x.pblk + (b - x.lblk), (uint32_t)(xe - b), x.flags};
		if (xe > end && (r = make_room(fs, t, ip, 1)) != 0)
			return r;
		if (x.lblk >= lblk) {
			r = st_del(fs, t, ip, x.lblk);
		} else {
			x.len = (uint32_t)(a - x.lblk);
			r = st_upd(fs, t, ip, &x);
		}
		if (r == 0 && xe > end)
			r = st_ins(fs, t, ip, &tail);
		if (r == 0)
			r = free_run(fs, t, ip, x.pblk + (a - x.lblk), b - a, free_blocks);
		if (r)
			return r;
		end = a;
		done++;
	}
	return 0;
}

int extent_mark_written(struct sfs *fs, struct txn *t, struct sfs_inode *ip, uint64_t lblk,
			uint64_t len, unsigned max_ext, bool *more)
{
	struct sfs_extent x;
	uint64_t pos = lblk, end = lblk + len;
	unsigned done = 0;
	*more = false;
	while (pos < end) {
		int r = extent_find(fs, ip, pos, &x);
		if (r == -ENOENT)
			return 0;
		if (r)
			return r;
		if (x.lblk >= end)
			return 0;
		uint64_t xe = x.lblk + x.len;
		if (!(x.flags & SFS_EXT_UNWRITTEN)) {
			pos = xe;
			continue;
		}
		if (done == max_ext) {
			*more = true;
			return 0;
		}
		uint64_t a = x.lblk > pos ? x.lblk : pos;
		uint64_t b = xe < end ? xe : end;
		r = make_room(fs, t, ip, 2);
		if (r)
			return r;
		r = st_del(fs, t, ip, x.lblk);
		struct sfs_extent left = {x.lblk, x.pblk, (uint32_t)(a - x.lblk), x.flags};
		struct sfs_extent mid = {a, x.pblk + (a - x.lblk), (uint32_t)(b - a), 0};
		struct sfs_extent right = {b, x.pblk + (b - x.lblk), (uint32_t)(xe - b), x.flags};
		if (r == 0 && left.len)
			r = extent_insert(fs, t, ip, &left);
		if (r == 0)
			r = extent_insert(fs, t, ip, &mid);
		if (r == 0 && right.len)
			r = extent_insert(fs, t, ip, &right);
		if (r)
			return r;
		pos = b;
		done++;
	}
	return 0;
}

struct iter_ctx {
	struct sfs_inode *ip;
	extent_fn fn;
	void *arg;
	uint64_t lblk;
};

static int iter_rec(void *arg, const struct btree_key *k, const void *val, size_t len)
{
	struct iter_ctx *c = arg;
	struct sfs_extent e;
	int r = extent_val_decode(k->hi, val, len, c->ip->ino, &e);
	if (r)
		return r;
	if (e.lblk + e.len <= c->lblk)
		return 0;
	return c->fn(c->arg, &e);
}

int extent_iterate(struct sfs *fs, struct sfs_inode *ip, uint64_t lblk, extent_fn fn, void *arg)
{
	if (!in_tree(ip)) {
		for (unsigned i = 0; i < ip->niext; i++) {
			struct sfs_extent e = ip->iext[i];
			if (e.lblk + e.len <= lblk)
				continue;
			int r = fn(arg, &e);
			if (r)
				return r < 0 ? r : 0;
		}
		return 0;
	}
	struct sfs_extent x;
	uint64_t from = lblk;
	int r = st_le(fs, ip, lblk, &x);
	if (r == 0)
		from = x.lblk;
	else if (r != -ENOENT)
		return r;
	struct iter_ctx c = {ip, fn, arg, lblk};
	struct btree bt;
	struct btree_key k = {from, 0};
	ext_bt(&bt, fs, ip);
	return btree_iterate(&bt, &k, iter_rec, &c);
}

struct walk_ctx {
	const struct sfs_inode *ip;
	const struct extent_walk_ops *ops;
	void *arg;
	uint64_t next; /* first block the next extent may start at */
};

static int walk_ext(struct walk_ctx *c, const struct sfs_extent *e)
{
	if (e->lblk < c->next) {
		log_error(SUB, "inode %llu: extent at %llu overlaps its predecessor",
			  (unsigned long long)c->ip->ino, (unsigned long long)e->lblk);
		return -EIO;
	}
	c->next = e->lblk + e->len;
	return c->ops->extent ? c->ops->extent(c->arg, e) : 0;
}

static int walk_rec(void *arg, const struct btree_key *k, const void *val, size_t len)
{
	struct walk_ctx *c = arg;
	struct sfs_extent e;
	if (k->lo != 0) {
		log_error(SUB, "inode %llu: extent key with low word %llu",
			  (unsigned long long)c->ip->ino, (unsigned long long)k->lo);
		return -EIO;
	}
	int r = extent_val_decode(k->hi, val, len, c->ip->ino, &e);
	return r ? r : walk_ext(c, &e);
}

static int walk_node(void *arg, uint64_t blkno, unsigned level, unsigned nrecs)
{
	struct walk_ctx *c = arg;
	(void)nrecs;
	return c->ops->node ? c->ops->node(c->arg, blkno, level) : 0;
}

int extent_walk(struct sfs *fs, const struct sfs_inode *ip, const struct extent_walk_ops *ops,
		void *arg)
{
	struct walk_ctx c = {ip, ops, arg, 0};
	if (!in_tree(ip)) {
		for (unsigned i = 0; i < ip->niext; i++) {
			int r = walk_ext(&c, &ip->iext[i]);
			if (r)
				return r;
		}
		return 0;
	}
	struct btree_walk_ops bo = {walk_node, walk_rec};
	return btree_walk(fs, &ip->fork, ip->ino, &bo, &c);
}

struct collect {
	struct sfs_extent *ex;
	unsigned n, max;
	uint64_t ino;
};

static int collect_rec(void *arg, const struct btree_key *k, const void *val, size_t len)
{
	struct collect *c = arg;
	if (c->n == c->max)
		return -EIO; /* more records than the fork says */
	return extent_val_decode(k->hi, val, len, c->ino, &c->ex[c->n++]);
}

unsigned extent_inline_blocks(const struct sfs_inode *ip)
{
	return ip->fork.nnodes * ALLOC_MAX_BLOCKS + 1;
}

int extent_try_inline(struct sfs *fs, struct txn *t, struct sfs_inode *ip)
{
	if (!in_tree(ip) || ip->fork.nrecs > INODE_INLINE_EXT / 2)
		return 0;
	struct sfs_extent ex[INODE_INLINE_EXT / 2];
	struct collect c = {ex, 0, INODE_INLINE_EXT / 2, ip->ino};
	struct btree bt;
	struct btree_key k = {0, 0};
	ext_bt(&bt, fs, ip);
	int r = btree_iterate(&bt, &k, collect_rec, &c);
	if (r)
		return r;
	if (!ip->iext) {
		ip->iext = calloc(INODE_INLINE_EXT, sizeof(*ip->iext));
		if (!ip->iext)
			return -ENOMEM;
	}
	uint32_t before = ip->fork.nnodes;
	r = btree_destroy(&bt, t);
	count_nodes(ip, before);
	if (r)
		return r;
	memcpy(ip->iext, ex, c.n * sizeof(*ex));
	ip->niext = (uint16_t)c.n;
	ip->lflags &= (uint16_t)~INODE_LF_EXT_TREE;
	return 0;
}

/* B+tree operations: descent, lookup, insert with splits, delete with
 * merge/redistribute, iteration (btree.h). Node images: btree_node.c. */
#include "fs/btree_int.h"

#include "common/log.h"
#include "locks/lcl.h"

#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <string.h>

uint64_t btree_owner(uint64_t ino)
{
	return LCL_RES(LCL_T_INODE, ino);
}

unsigned btree_max_blocks_depth(unsigned depth)
{
	/* Insert/update: the path, one new node per level plus a new root, got
	 * in at most that many alloc calls. Delete: the path, one sibling per
	 * level, at most one freed node per level. */
	if (depth > BTREE_MAX_DEPTH)
		depth = BTREE_MAX_DEPTH;
	unsigned ins = depth + (depth + 1) * (1 + BTREE_ALLOC_CALL_BLOCKS);
	unsigned del = 2 * depth + depth * BTREE_ALLOC_CALL_BLOCKS;
	return ins > del ? ins : del;
}

unsigned btree_max_blocks(void)
{
	return btree_max_blocks_depth(BTREE_MAX_DEPTH);
}

void bt_path_release(struct bpath *p, unsigned from)
{
	while (p->n > from) {
		p->n--;
		bc_put(p->b[p->n]);
		p->b[p->n] = NULL;
	}
}

int bt_read_node(struct btree *bt, uint64_t blkno, unsigned level, const struct bn_bound *b,
		 struct buf **out)
{
	struct buf *buf;
	int rc = bc_read(bt->fs, blkno, BTREE_BLK_TYPE, btree_owner(bt->ino), &buf);
	if (rc < 0)
		return rc;
	rc = bn_check(buf->data, blkno, (int)level, b);
	if (rc < 0) {
		bc_put(buf);
		return rc;
	}
	*out = buf;
	return 0;
}

/* Push node at level of the path: the child idx[j] of p->b[n-1] (or the
 * root when the path is empty). */
int bt_path_push(struct btree *bt, struct bpath *p)
{
	unsigned depth = bt->fork->depth;
	uint64_t blk;
	struct bn_bound b;
	if (p->n == 0) {
		blk = bt->fork->root;
		memset(&b, 0, sizeof(b));
	} else {
		const uint8_t *d = p->b[p->n - 1]->data;
		unsigned i = p->idx[p->n - 1];
		blk = bn_child(d, i);
		bn_child_bound(d, i, &p->bound[p->n - 1], &b);
	}
	struct buf *buf;
	int rc = bt_read_node(bt, blk, depth - 1 - p->n, &b, &buf);
	if (rc < 0)
		return rc;
	p->b[p->n] = buf;
	p->bound[p->n] = b;
	p->n++;
	return 0;
}

/* Root to leaf towards k. *found tells whether the leaf holds k exactly. */
int bt_path_descend(struct btree *bt, const struct btree_key *k, struct bpath *p, bool *found)
{
	unsigned depth = bt->fork->depth;
	p->n = 0;
	if (depth == 0 || depth > BTREE_MAX_DEPTH || bt->fork->root == 0) {
		if (depth == 0 && bt->fork->root == 0)
			return -ENOENT;
		log_error("btree", "inode %" PRIu64 ": fork depth %u root %" PRIu64 " invalid",
			  bt->ino, depth, bt->fork->root);
		return -EIO;
	}
	for (;;) {
		int rc = bt_path_push(bt, p);
		if (rc < 0) {
			bt_path_release(p, 0);
			return rc;
		}
		const uint8_t *d = p->b[p->n - 1]->data;
		if (p->n == depth) {
			p->idx[p->n - 1] = bn_leaf_search(d, k, found);
			return 0;
		}
		p->idx[p->n - 1] = bn_int_search(d, k);
	}
}

/* Extend the path from its deepest node down to a leaf, always taking the
 * first (left) or last child. */
static int path_edge(struct btree *bt, struct bpath *p, bool left)
{
	while (p->n < bt->fork->depth) {
		int rc = bt_path_push(bt, p);
		if (rc < 0)
			return rc;
		const uint8_t *d = p->b[p->n - 1]->data;
		p->idx[p->n - 1] = left ? 0 : bn_nrecs(d) - 1;
	}
	return 0;
}

/* Move to the next (dir > 0) or previous leaf. 1 when there is none. */
static int path_step_leaf(struct btree *bt, struct bpath *p, int dir)
{
	unsigned depth = bt->fork->depth;
	for (unsigned j = depth - 1; j-- > 0;) {
		unsigned n = bn_nrecs(p->b[j]->data);
		if (dir > 0 ? p->idx[j] + 1 < n : p->idx[j] > 0) {
			p->idx[j] = dir > 0 ? p->idx[j] + 1 : p->idx[j] - 1;
			bt_path_release(p, j + 1);
			int rc = path_edge(bt, p, dir > 0);
			return rc;
		}
	}
	return 1;
}

static void copy_val(const uint8_t *v, uint16_t vlen, void *val, size_t cap, size_t *len)
{
	if (val && cap)
		memcpy(val, v, vlen < cap ? vlen : cap);
	if (len)
		*len = vlen;
}

int btree_lookup(struct btree *bt, const struct btree_key *k, void *val, size_t cap, size_t *len)
{
	struct bpath p;
	bool found;
	int rc = bt_path_descend(bt, k, &p, &found);
	if (rc < 0)
		return rc;
	if (found) {
		uint16_t vlen;
		const uint8_t *d = p.b[p.n - 1]->data;
		const uint8_t *v = bn_val(d, p.idx[p.n - 1], &vlen);
		copy_val(v, vlen, val, cap, len);
	}
	bt_path_release(&p, 0);
	return found ? 0 : -ENOENT;
}

static int lookup_dir(struct btree *bt, const struct btree_key *k, int dir, struct btree_key *fk,
		      void *val, size_t cap, size_t *len)
{
	struct bpath p;
	bool found;
	int rc = bt_path_descend(bt, k, &p, &found);
	if (rc < 0)
		return rc;
	unsigned leaf = p.n - 1, pos = p.idx[leaf];
	if (dir > 0 && pos == bn_nrecs(p.b[leaf]->data)) {
		rc = path_step_leaf(bt, &p, 1);
		pos = 0;
	} else if (dir < 0 && !found) {
		if (pos == 0) {
			rc = path_step_leaf(bt, &p, -1);
			if (rc == 0)
				pos = bn_nrecs(p.b[p.n - 1]->data) - 1;
		} else {
			pos--;
		}
	}
	if (rc == 0) {
		const uint8_t *d = p.b[p.n - 1]->data;
		uint16_t vlen;
		const uint8_t *v = bn_val(d, pos, &vlen);
		*fk = bn_key(d, pos);
		copy_val(v, vlen, val, cap, len);
	} else if (rc > 0) {
		rc = -ENOENT;
	}
	bt_path_release(&p, 0);
	return rc;
}

int btree_lookup_ge(struct btree *bt, const struct btree_key *k, struct btree_key *found, void *val,
		    size_t cap, size_t *len)
{
	return lookup_dir(bt, k, 1, found, val, cap, len);
}

int btree_lookup_le(struct btree *bt, const struct btree_key *k, struct btree_key *found, void *val,
		    size_t cap, size_t *len)
{
	return lookup_dir(bt, k, -1, found, val, cap, len);
}

int btree_iterate(struct btree *bt, const struct btree_key *from, btree_iter_fn fn, void *arg)
{
	struct bpath p;
	bool found;
	int rc = bt_path_descend(bt, from, &p, &found);
	if (rc == -ENOENT)
		return 0;
	if (rc < 0)
		return rc;
	unsigned pos = p.idx[p.n - 1];
	for (;;) {
		const uint8_t *d = p.b[p.n - 1]->data;
		unsigned n = bn_nrecs(d);
		for (; pos < n; pos++) {
			uint16_t vlen;
			const uint8_t *v = bn_val(d, pos, &vlen);
			struct btree_key k = bn_key(d, pos);
			rc = fn(arg, &k, v, vlen);
			if (rc != 0)
				goto out;
		}
		rc = path_step_leaf(bt, &p, 1);
		if (rc != 0)
			break;
		pos = 0;
	}
out:
	bt_path_release(&p, 0);
	return rc < 0 ? rc : 0;
}

/* Allocate count node blocks near goal into out[]. All or nothing. */
int bt_alloc_nodes(struct btree *bt, struct txn *t, uint64_t goal, unsigned count, uint64_t *out)
{
	unsigned have = 0;
	while (have < count) {
		uint64_t start;
		uint32_t got;
		int rc = bt->reserved
			     ? alloc_reserved(bt->fs, t, goal, count - have, 1, &start, &got)
			     : alloc_meta(bt->fs, t, goal, count - have, 1, &start, &got);
		if (rc == 0 && (got == 0 || got > count - have))
			rc = -EIO;
		if (rc < 0) {
			for (unsigned i = 0; i < have; i++)
				alloc_free(bt->fs, t, out[i], 1);
			return rc;
		}
		for (uint32_t i = 0; i < got; i++)
			out[have++] = start + i;
		goal = start + got;
	}
	return 0;
}

int bt_new_node(struct btree *bt, struct txn *t, uint64_t blk, struct buf **out)
{
	struct buf *b;
	int rc = bc_new(bt->fs, blk, BTREE_BLK_TYPE, btree_owner(bt->ino), &b);
	if (rc < 0)
		return rc;
	rc = txn_add(t, b);
	if (rc < 0) {
		bc_put(b);
		return rc;
	}
	*out = b;
	return 0;
}

/* Write records r[0..n) into the leaf at the end of path p (already changed
 * in memory by the caller only through r, which must not point into the
 * leaf), splitting it and its ancestors as needed. append: the new record
 * is the last one of the rightmost leaf. */
static int leaf_store(struct btree *bt, struct txn *t, struct bpath *p, const struct bn_rec *r,
		      unsigned n, bool append)
{
	unsigned leaf = p->n - 1;
	struct buf *lb = p->b[leaf];
	if (bn_recs_used(r, n) <= BN_CAP) {
		int rc = txn_add(t, lb);
		if (rc < 0)
			return rc;
		bn_write_leaf(lb->data, r, n);
		return 0;
	}
	/* Count the splits: the leaf, then each full ancestor, then a new root. */
	unsigned splits = 1, j = leaf;
	while (j > 0 && bn_nrecs(p->b[j - 1]->data) >= BN_INT_MAX) {
		splits++;
		j--;
	}
	bool new_root = (j == 0);
	if (new_root && bt->fork->depth >= BTREE_MAX_DEPTH) {
		log_error("btree", "inode %" PRIu64 ": tree at its maximum depth %u", bt->ino,
			  BTREE_MAX_DEPTH);
		return -ENOSPC;
	}
	uint64_t blks[BTREE_MAX_DEPTH + 1];
	unsigned nalloc = splits + (new_root ? 1 : 0);
	int rc = bt_alloc_nodes(bt, t, lb->blkno, nalloc, blks);
	if (rc < 0)
		return rc;
	/* Join every node that changes before changing any. */
	for (unsigned k = (new_root ? 0 : j - 1); k <= leaf && rc == 0; k++)
		rc = txn_add(t, p->b[k]);
	struct buf *nb[BTREE_MAX_DEPTH + 1] = {0};
	for (unsigned k = 0; k < nalloc && rc == 0; k++)
		rc = bt_new_node(bt, t, blks[k], &nb[k]);
	if (rc < 0) {
		for (unsigned k = 0; k < nalloc; k++) {
			if (nb[k])
				bc_put(nb[k]);
			alloc_free(bt->fs, t, blks[k], 1);
			bc_forget(bt->fs, blks[k]);
		}
		return rc;
	}

	/* Leaf split. */
	unsigned m = bn_leaf_split_point(r, n, append);
	bn_write_leaf(lb->data, r, m);
	bn_write_leaf(nb[0]->data, r + m, n - m);
	struct btree_key sep = r[m].k;
	uint64_t newchild = blks[0];

	/* Insert (sep, newchild) after idx in each ancestor, splitting full ones. */
	static_assert(BN_INT_MAX + 1 <= 2 * BN_LEAF_MAX, "entry scratch too small");
	struct bn_rec e[BN_INT_MAX + 1];
	unsigned used = 1;
	for (j = leaf; j-- > 0;) {
		uint8_t *d = p->b[j]->data;
		unsigned cnt = bn_load(d, e), at = p->idx[j] + 1;
		memmove(e + at + 1, e + at, (cnt - at) * sizeof(e[0]));
		e[at].k = sep;
		e[at].child = newchild;
		cnt++;
		if (cnt <= BN_INT_MAX) {
			bn_write_int(d, bn_level(d), e, cnt);
			break;
		}
		unsigned half = cnt / 2, level = bn_level(d);
		sep = e[half].k;
		newchild = blks[used];
		bn_write_int(d, level, e, half);
		bn_write_int(nb[used]->data, level, e + half, cnt - half);
		used++;
	}
	if (new_root) {
		struct bn_rec re[2] = {{.child = bt->fork->root}, {.k = sep, .child = newchild}};
		bn_write_int(nb[used]->data, bt->fork->depth, re, 2);
		bt->fork->root = blks[used];
		bt->fork->depth++;
		used++;
	}
	assert(used == nalloc);
	bt->fork->nnodes += nalloc;
	for (unsigned k = 0; k < nalloc; k++)
		bc_put(nb[k]);
	return 0;
}

static int check_val(const void *val, size_t len)
{
	if (len > BTREE_MAX_VAL || (len && !val))
		return -EINVAL;
	return 0;
}

int btree_insert(struct btree *bt, struct txn *t, const struct btree_key *k, const void *val,
		 size_t len)
{
	int rc = check_val(val, len);
	if (rc < 0)
		return rc;
	if (bt->fork->depth == 0 && bt->fork->root == 0) {
		uint64_t blk;
		struct buf *b;
		rc = bt_alloc_nodes(bt, t, bt->ino, 1, &blk);
		if (rc < 0)
			return rc;
		rc = bt_new_node(bt, t, blk, &b);
		if (rc < 0) {
			alloc_free(bt->fs, t, blk, 1);
			return rc;
		}
		struct bn_rec r = {.k = *k, .v = val, .len = (uint16_t)len};
		bn_write_leaf(b->data, &r, 1);
		bc_put(b);
		bt->fork->root = blk;
		bt->fork->depth = 1;
		bt->fork->nnodes = 1;
		bt->fork->nrecs = 1;
		return 0;
	}
	struct bpath p;
	bool found;
	rc = bt_path_descend(bt, k, &p, &found);
	if (rc < 0)
		return rc;
	if (found) {
		bt_path_release(&p, 0);
		return -EEXIST;
	}
	uint8_t tmp[SFS_BLOCK_SIZE];
	struct bn_rec r[BN_LEAF_MAX + 1];
	unsigned leaf = p.n - 1, pos = p.idx[leaf];
	memcpy(tmp, p.b[leaf]->data, SFS_BLOCK_SIZE);
	unsigned n = bn_load(tmp, r);
	memmove(r + pos + 1, r + pos, (n - pos) * sizeof(r[0]));
	r[pos] = (struct bn_rec){.k = *k, .v = val, .len = (uint16_t)len};
	bool append = (pos == n) && !p.bound[leaf].has_hi;
	rc = leaf_store(bt, t, &p, r, n + 1, append);
	if (rc == 0)
		bt->fork->nrecs++;
	bt_path_release(&p, 0);
	return rc;
}

int btree_update(struct btree *bt, struct txn *t, const struct btree_key *k, const void *val,
		 size_t len)
{
	int rc = check_val(val, len);
	if (rc < 0)
		return rc;
	struct bpath p;
	bool found;
	rc = bt_path_descend(bt, k, &p, &found);
	if (rc < 0)
		return rc;
	if (!found) {
		bt_path_release(&p, 0);
		return -ENOENT;
	}
	uint8_t tmp[SFS_BLOCK_SIZE];
	struct bn_rec r[BN_LEAF_MAX + 1];
	unsigned leaf = p.n - 1, pos = p.idx[leaf];
	memcpy(tmp, p.b[leaf]->data, SFS_BLOCK_SIZE);
	unsigned n = bn_load(tmp, r);
	r[pos].v = val;
	r[pos].len = (uint16_t)len;
	rc = leaf_store(bt, t, &p, r, n, false);
	bt_path_release(&p, 0);
	return rc;
}

/* B+tree delete with merge/redistribute, and freeing a whole tree (btree.h). */
#include "fs/btree_int.h"

#include "common/log.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

int bt_free_node(struct btree *bt, struct txn *t, uint64_t blk)
{
	int rc = alloc_free(bt->fs, t, blk, 1);
	bc_forget(bt->fs, blk);
	return rc;
}

/* Rewrite parent pd without entry ri, or with key[ri] set to *newkey. */
static void parent_fix(uint8_t *pd, unsigned ri, const struct btree_key *newkey)
{
	struct bn_rec e[BN_INT_MAX];
	unsigned n = bn_load(pd, e);
	if (newkey) {
		e[ri].k = *newkey;
	} else {
		memmove(e + ri, e + ri + 1, (n - ri - 1) * sizeof(e[0]));
		n--;
	}
	bn_write_int(pd, bn_level(pd), e, n);
}

/* Node j of the path just lost a record or child. Merge it with or refill it
 * from a sibling while it is underfull, up the path; shrink the root. Blocks
 * that leave the tree are appended to freed[]. */
static int rebalance(struct btree *bt, struct txn *t, struct bpath *p, uint64_t *freed,
		     unsigned *nfreed)
{
	unsigned j = p->n - 1;
	for (;;) {
		struct buf *nb = p->b[j];
		unsigned lvl = bn_level(nb->data), n = bn_nrecs(nb->data);
		if (j == 0) {
			if (n == 0) { /* last record gone: the tree is empty */
				freed[(*nfreed)++] = nb->blkno;
				bt->fork->root = 0;
				bt->fork->depth = 0;
				bt->fork->nnodes--;
			} else if (lvl > 0 && n == 1) { /* root with one child: drop a level */
				freed[(*nfreed)++] = nb->blkno;
				bt->fork->root = bn_child(nb->data, 0);
				bt->fork->depth--;
				bt->fork->nnodes--;
			}
			return 0;
		}
		bool under = lvl == 0 ? bn_leaf_used(nb->data) < BN_LEAF_MIN : n < BN_INT_MIN;
		if (!under)
			return 0;
		struct buf *pb = p->b[j - 1];
		unsigned pn = bn_nrecs(pb->data), pi = p->idx[j - 1];
		int rc;
		if (pn < 2) {
			if (n > 0)
				return 0; /* no sibling to lean on; underfull is allowed */
			rc = txn_add(t, pb);
			if (rc < 0)
				return rc;
			parent_fix(pb->data, pi, NULL);
			freed[(*nfreed)++] = nb->blkno;
			bt->fork->nnodes--;
			j--;
			continue;
		}
		unsigned si = pi + 1 < pn ? pi + 1 : pi - 1;
		struct bn_bound sbound;
		bn_child_bound(pb->data, si, &p->bound[j - 1], &sbound);
		struct buf *sb;
		rc = bt_read_node(bt, bn_child(pb->data, si), lvl, &sbound, &sb);
		if (rc < 0)
			return rc;
		struct buf *L = si > pi ? nb : sb, *R = si > pi ? sb : nb;
		unsigned ri = si > pi ? si : pi;
		/* Both nodes side by side: L's entries, then R's. For interior
		 * nodes R's first entry takes the parent's separator as its key. */
		uint8_t tl[SFS_BLOCK_SIZE], tr[SFS_BLOCK_SIZE];
		struct bn_rec e[2 * BN_LEAF_MAX];
		memcpy(tl, L->data, SFS_BLOCK_SIZE);
		memcpy(tr, R->data, SFS_BLOCK_SIZE);
		unsigned nl = bn_load(tl, e), nr = bn_load(tr, e + nl), tot = nl + nr;
		if (lvl > 0)
			e[nl].k = bn_key(pb->data, ri);
		bool merge = lvl == 0 ? bn_recs_used(e, tot) <= BN_CAP : tot <= BN_INT_MAX;
		rc = txn_add(t, L);
		if (rc == 0 && !merge)
			rc = txn_add(t, R);
		if (rc == 0)
			rc = txn_add(t, pb);
		if (rc < 0) {
			bc_put(sb);
			return rc;
		}
		if (merge) {
			if (lvl == 0)
				bn_write_leaf(L->data, e, tot);
			else
				bn_write_int(L->data, lvl, e, tot);
			parent_fix(pb->data, ri, NULL);
			freed[(*nfreed)++] = R->blkno;
			bt->fork->nnodes--;
		} else {
			unsigned m = lvl == 0 ? bn_leaf_split_point(e, tot, false) : tot / 2;
			if (lvl == 0) {
				bn_write_leaf(L->data, e, m);
				bn_write_leaf(R->data, e + m, tot - m);
			} else {
				bn_write_int(L->data, lvl, e, m);
				bn_write_int(R->data, lvl, e + m, tot - m);
			}
			parent_fix(pb->data, ri, &e[m].k);
		}
		bc_put(sb);
		if (!merge)
			return 0;
		j--;
	}
}

int btree_delete(struct btree *bt, struct txn *t, const struct btree_key *k, void *old, size_t cap,
		 size_t *len)
{
	struct bpath p;
	bool found;
	int rc = bt_path_descend(bt, k, &p, &found);
	if (rc < 0)
		return rc;
	if (!found) {
		bt_path_release(&p, 0);
		return -ENOENT;
	}
	unsigned leaf = p.n - 1, pos = p.idx[leaf];
	struct buf *lb = p.b[leaf];
	uint16_t vlen;
	const uint8_t *v = bn_val(lb->data, pos, &vlen);
	if (old && cap)
		memcpy(old, v, vlen < cap ? vlen : cap);
	if (len)
		*len = vlen;
	rc = txn_add(t, lb);
	if (rc < 0) {
		bt_path_release(&p, 0);
		return rc;
	}
	uint8_t tmp[SFS_BLOCK_SIZE];
	struct bn_rec r[BN_LEAF_MAX];
	memcpy(tmp, lb->data, SFS_BLOCK_SIZE);
	unsigned n = bn_load(tmp, r);
	memmove(r + pos, r + pos + 1, (n - pos - 1) * sizeof(r[0]));
	bn_write_leaf(lb->data, r, n - 1);
	bt->fork->nrecs--;

	uint64_t freed[BTREE_MAX_DEPTH + 1];
	unsigned nfreed = 0;
	rc = rebalance(bt, t, &p, freed, &nfreed);
	bt_path_release(&p, 0);
	for (unsigned i = 0; i < nfreed; i++) {
		int frc = bt_free_node(bt, t, freed[i]);
		if (frc < 0 && rc == 0)
			rc = frc;
	}
	if (rc < 0)
		log_error("btree", "inode %" PRIu64 ": delete failed halfway: %s", bt->ino,
			  strerror(-rc));
	return rc;
}

struct blklist {
	uint64_t *v;
	size_t n, cap;
};

static int blklist_add(struct blklist *l, uint64_t b)
{
	if (l->n == l->cap) {
		size_t nc = l->cap ? 2 * l->cap : 64;
		uint64_t *nv = realloc(l->v, nc * sizeof(*nv));
		if (!nv)
			return -ENOMEM;
		l->v = nv;
		l->cap = nc;
	}
	l->v[l->n++] = b;
	return 0;
}

/* Collect the blocks of the subtree at blk; leaves are listed, not read. */
static int collect(struct btree *bt, uint64_t blk, unsigned level, const struct bn_bound *b,
		   struct blklist *l)
{
	int rc = blklist_add(l, blk);
	if (rc < 0 || level == 0)
		return rc;
	struct buf *nb;
	rc = bt_read_node(bt, blk, level, b, &nb);
	if (rc < 0)
		return rc;
	unsigned n = bn_nrecs(nb->data);
	for (unsigned i = 0; i < n && rc == 0; i++) {
		struct bn_bound cb;
		bn_child_bound(nb->data, i, b, &cb);
		rc = collect(bt, bn_child(nb->data, i), level - 1, &cb, l);
	}
	bc_put(nb);
	return rc;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

int btree_destroy(struct btree *bt, struct txn *t)
{
	struct sfs_fork *f = bt->fork;
	if (f->root == 0 && f->depth == 0) {
		f->nrecs = 0;
		f->nnodes = 0;
		return 0;
	}
	if (f->root == 0 || f->depth == 0 || f->depth > BTREE_MAX_DEPTH) {
		log_error("btree", "inode %" PRIu64 ": fork depth %u root %" PRIu64 " invalid",
			  bt->ino, f->depth, f->root);
		return -EIO;
	}
	struct blklist l = {0};
	struct bn_bound b = {0};
	int rc = collect(bt, f->root, f->depth - 1u, &b, &l);
	if (rc < 0) {
		free(l.v);
		return rc;
	}
	qsort(l.v, l.n, sizeof(l.v[0]), cmp_u64);
	for (size_t i = 1; i < l.n; i++) {
		if (l.v[i] == l.v[i - 1]) {
			log_error("btree", "inode %" PRIu64 ": block %" PRIu64 " linked twice",
				  bt->ino, l.v[i]);
			free(l.v);
			return -EIO;
		}
	}
	for (size_t i = 0; i < l.n && rc == 0;) {
		size_t j = i + 1;
		while (j < l.n && l.v[j] == l.v[j - 1] + 1 && j - i < UINT32_MAX)
			j++;
		rc = alloc_free(bt->fs, t, l.v[i], (uint32_t)(j - i));
		for (size_t k = i; k < j; k++)
			bc_forget(bt->fs, l.v[k]);
		i = j;
	}
	free(l.v);
	if (rc < 0)
		return rc;
	f->root = 0;
	f->depth = 0;
	f->nrecs = 0;
	f->nnodes = 0;
	return 0;
}

/* The fork (tree root kept in the inode) and the read-only walk for fsck. */
#include "fs/btree_int.h"

#include "common/log.h"

#include <errno.h>
#include <inttypes.h>
#include <string.h>

void sfs_fork_encode(const struct sfs_fork *f, uint8_t out[SFS_FORK_SIZE])
{
	le64_put(out, f->root);
	le64_put(out + 8, f->nrecs);
	le64_put(out + 16, f->aux);
	le32_put(out + 24, f->nnodes);
	out[28] = f->depth;
	out[29] = f->flags;
	le16_put(out + 30, 0);
}

int sfs_fork_decode(const uint8_t in[SFS_FORK_SIZE], struct sfs_fork *f)
{
	struct sfs_fork x = {
	    .root = le64_get(in),
	    .nrecs = le64_get(in + 8),
	    .aux = le64_get(in + 16),
	    .nnodes = le32_get(in + 24),
	    .depth = in[28],
	    .flags = in[29],
	};
	const char *why = NULL;
	if (x.flags != 0 || le16_get(in + 30) != 0)
		why = "unknown flags";
	else if (x.depth > BTREE_MAX_DEPTH)
		why = "too deep";
	else if ((x.root == 0) != (x.depth == 0))
		why = "root and depth disagree";
	else if (x.root == 0 && (x.nrecs != 0 || x.nnodes != 0))
		why = "empty tree with records or nodes";
	else if (x.root != 0 && (x.nrecs == 0 || x.nnodes < x.depth))
		why = "tree without records or with too few nodes";
	if (why) {
		log_error("btree", "fork (root %" PRIu64 ", depth %u): %s", x.root, x.depth, why);
		return -EIO;
	}
	*f = x;
	return 0;
}

struct walk {
	struct btree bt;
	const struct btree_walk_ops *ops;
	void *arg;
	uint64_t nrecs, nnodes;
};

static int walk_node(struct walk *w, uint64_t blk, unsigned level, const struct bn_bound *b)
{
	struct buf *nb;
	int rc = bt_read_node(&w->bt, blk, level, b, &nb);
	if (rc < 0)
		return rc;
	const uint8_t *d = nb->data;
	unsigned n = bn_nrecs(d);
	w->nnodes++;
	if (w->ops && w->ops->node)
		rc = w->ops->node(w->arg, blk, level, n);
	for (unsigned i = 0; i < n && rc == 0; i++) {
		if (level == 0) {
			w->nrecs++;
			if (w->ops && w->ops->rec) {
				uint16_t vlen;
				const uint8_t *v = bn_val(d, i, &vlen);
				struct btree_key k = bn_key(d, i);
				rc = w->ops->rec(w->arg, &k, v, vlen);
			}
		} else {
			struct bn_bound cb;
			bn_child_bound(d, i, b, &cb);
			rc = walk_node(w, bn_child(d, i), level - 1, &cb);
		}
	}
	bc_put(nb);
	return rc;
}

int btree_walk(struct sfs *fs, const struct sfs_fork *fork, uint64_t ino,
	       const struct btree_walk_ops *ops, void *arg)
{
	uint8_t enc[SFS_FORK_SIZE];
	struct sfs_fork f;
	sfs_fork_encode(fork, enc);
	if (sfs_fork_decode(enc, &f) < 0) {
		log_error("btree", "inode %" PRIu64 ": bad fork", ino);
		return -EIO;
	}
	if (f.root == 0)
		return 0;
	struct walk w = {.ops = ops, .arg = arg};
	btree_open(&w.bt, fs, &f, ino);
	struct bn_bound b = {0};
	int rc = walk_node(&w, f.root, f.depth - 1u, &b);
	if (rc != 0)
		return rc;
	if (w.nrecs != f.nrecs || w.nnodes != f.nnodes) {
		log_error("btree",
			  "inode %" PRIu64 ": fork says %" PRIu64
			  " records in %u nodes, tree has %" PRIu64 " in %" PRIu64,
			  ino, f.nrecs, f.nnodes, w.nrecs, w.nnodes);
		return -EIO;
	}
	return 0;
}

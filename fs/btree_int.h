/* Private to fs/btree*.c: the node layout of fs/FORMAT-dir.md and the helpers
 * that read and rewrite one node image. Nothing here touches the engine. */
#ifndef SANFS_FS_BTREE_INT_H
#define SANFS_FS_BTREE_INT_H

#include "common/endian_le.h"
#include "fs/btree.h"
#include "fs/btree_eng.h"

#include <stdbool.h>
#include <stdint.h>

/* Node header after the 48-byte block header. */
#define BN_OFF_LEVEL  48 /* u16: 0 leaf */
#define BN_OFF_NRECS  50 /* u16: records (leaf) or children (interior) */
#define BN_OFF_DSTART 52 /* u16: leaf: start of the value area; interior: 0 */
#define BN_OFF_FLAGS  54 /* u16: 0 */
#define BN_OFF_RSV    56 /* u64: 0 */
#define BN_HDR	      64

#define BN_LEAF_SLOT 20 /* key hi u64, key lo u64, voff u16, vlen u16 */
#define BN_INT_SLOT  24 /* key hi u64, key lo u64, child u64 */
#define BN_CAP	     (SFS_BLOCK_SIZE - BN_HDR)
#define BN_INT_MAX   (BN_CAP / BN_INT_SLOT)	    /* 168 children */
#define BN_LEAF_MAX  (BN_CAP / BN_LEAF_SLOT)	    /* 201 empty values */
#define BN_LEAF_MIN  (BN_CAP / 4)		    /* underfull below (bytes) */
#define BN_INT_MIN   (BN_INT_MAX / 4)		    /* underfull below (children) */
#define BN_REC_MAX   (BN_LEAF_SLOT + BTREE_MAX_VAL) /* one record's bytes */

/* Key range a node's keys must lie in: lo <= k < hi; an unset end is open. */
struct bn_bound {
	bool has_lo, has_hi;
	struct btree_key lo, hi;
};

/* One record or interior entry while a node is rebuilt. */
struct bn_rec {
	struct btree_key k;
	const uint8_t *v; /* leaf: value bytes */
	uint16_t len;	  /* leaf: value length */
	uint64_t child;	  /* interior: child block */
};

static inline unsigned bn_level(const uint8_t *d)
{
	return le16_get(d + BN_OFF_LEVEL);
}

static inline unsigned bn_nrecs(const uint8_t *d)
{
	return le16_get(d + BN_OFF_NRECS);
}

static inline struct btree_key bn_key(const uint8_t *d, unsigned i)
{
	const uint8_t *s = d + BN_HDR + i * (bn_level(d) ? BN_INT_SLOT : BN_LEAF_SLOT);
	struct btree_key k = {le64_get(s), le64_get(s + 8)};
	return k;
}

static inline uint64_t bn_child(const uint8_t *d, unsigned i)
{
	return le64_get(d + BN_HDR + i * BN_INT_SLOT + 16);
}

static inline const uint8_t *bn_val(const uint8_t *d, unsigned i, uint16_t *len)
{
	const uint8_t *s = d + BN_HDR + i * BN_LEAF_SLOT;
	*len = le16_get(s + 18);
	return d + le16_get(s + 16);
}

/* Full check of a node image: see btree_node_check. b may be NULL. */
int bn_check(const uint8_t *d, uint64_t blkno, int level, const struct bn_bound *b);

/* Leaf: position of the first key >= k; *found when it equals k. */
unsigned bn_leaf_search(const uint8_t *d, const struct btree_key *k, bool *found);
/* Interior: index of the child whose range holds k. */
unsigned bn_int_search(const uint8_t *d, const struct btree_key *k);

/* Bytes a leaf's records take (slots + values). */
unsigned bn_leaf_used(const uint8_t *d);
size_t bn_recs_used(const struct bn_rec *r, unsigned n);

/* Load the records/entries of node image d into r (values point into d). */
unsigned bn_load(const uint8_t *d, struct bn_rec *r);

/* Rewrite the payload of d (everything after the block header) as a leaf
 * holding r[0..n) or an interior node of the given level. The sources must
 * not point into d (copy the node first). Callers guarantee it fits. */
void bn_write_leaf(uint8_t *d, const struct bn_rec *r, unsigned n);
void bn_write_int(uint8_t *d, unsigned level, const struct bn_rec *r, unsigned n);

/* Split point m of n leaf records (left r[0..m), right r[m..n)): both sides
 * nonempty and fitting, as even as possible; append puts only the last
 * record on the right when the rest fits (sequential inserts). */
unsigned bn_leaf_split_point(const struct bn_rec *r, unsigned n, bool append);

/* Child range of entry i of interior node d whose own range is b. */
void bn_child_bound(const uint8_t *d, unsigned i, const struct bn_bound *b, struct bn_bound *out);

/* Tree-level helpers shared by btree.c and btree_del.c. */

/* A root-to-leaf path: b[0] is the root, b[n-1] the deepest node held.
 * idx[j] is the child taken at interior level j, or the record position in
 * the leaf. bound[j] is the key range node j must cover. */
struct bpath {
	unsigned n;
	struct buf *b[BTREE_MAX_DEPTH];
	unsigned idx[BTREE_MAX_DEPTH];
	struct bn_bound bound[BTREE_MAX_DEPTH];
};

/* Drop the path's nodes from depth `from` on. */
void bt_path_release(struct bpath *p, unsigned from);
/* bc_read + bn_check of the node expected at level with range b. */
int bt_read_node(struct btree *bt, uint64_t blkno, unsigned level, const struct bn_bound *b,
		 struct buf **out);
/* Root to leaf towards k; -ENOENT for an empty tree. */
int bt_path_descend(struct btree *bt, const struct btree_key *k, struct bpath *p, bool *found);
/* Append the child idx[n-1] of the deepest node (or the root) to the path. */
int bt_path_push(struct btree *bt, struct bpath *p);
/* Allocate count blocks near goal (all or nothing). */
int bt_alloc_nodes(struct btree *bt, struct txn *t, uint64_t goal, unsigned count, uint64_t *out);
/* bc_new + txn_add of a node block. */
int bt_new_node(struct btree *bt, struct txn *t, uint64_t blk, struct buf **out);
/* alloc_free + bc_forget of one node; the caller holds no reference. */
int bt_free_node(struct btree *bt, struct txn *t, uint64_t blk);

#endif

/* btree: a generic on-disk B+tree hanging off an inode (fs/INTERNALS.md
 * "B+tree and directories"; layout in fs/FORMAT-dir.md).
 *
 * Nodes are 4 KiB blocks of type BTREE_NODE whose owner is the inode's lock
 * resource LCL_RES(LCL_T_INODE, ino): they are read under the caller's PR
 * lock on the inode and changed under EX (DESIGN §3). Keys are 128-bit
 * (hi, lo), compared hi first; values are 0..BTREE_MAX_VAL bytes. Records
 * live in leaves; interior nodes hold (separator key, child) pairs.
 *
 * The root is a struct sfs_fork that the inode code keeps in the inode block.
 * Every change function updates the in-core fork in place; the caller writes
 * the inode (inode_write) in the same transaction afterwards.
 *
 * Transactions: every node is added with txn_add before it changes; new nodes
 * come from alloc_blocks near the inode (or their neighbour), freed ones go
 * back with alloc_free + bc_forget. btree_max_blocks() bounds the blocks one
 * insert, update or delete adds to a transaction (for txn_begin). An insert
 * allocates every block it needs before it changes anything, so -ENOSPC
 * leaves the tree untouched. A failure of txn_add/bc_read/alloc_free once the
 * tree started changing returns -EIO with a log line; the transaction then
 * holds a half-done change and must not commit (the engine's rule for any
 * failed handle).
 *
 * Validation: every node read is checked (level, counts, offsets, key order,
 * keys inside the range the parent gives them); any inconsistency is -EIO and
 * a log line "btree: block N: why". A corrupt node never crashes the code.
 *
 * Threads: functions keep no state outside the arguments. Readers may run at
 * once under a shared lock; a change needs the tree to itself (EX).
 * Errors: 0 or negative errno. */
#ifndef SANFS_FS_BTREE_H
#define SANFS_FS_BTREE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct sfs;
struct txn;

#define BTREE_MAX_VAL	512 /* largest value */
#define BTREE_MAX_DEPTH 8   /* levels, root to leaf; deeper trees are refused (-ENOSPC) */

struct btree_key {
	uint64_t hi, lo;
};

static inline int btree_key_cmp(const struct btree_key *a, const struct btree_key *b)
{
	if (a->hi != b->hi)
		return a->hi < b->hi ? -1 : 1;
	if (a->lo != b->lo)
		return a->lo < b->lo ? -1 : 1;
	return 0;
}

/* Root of one tree, kept in the inode block (encoded: SFS_FORK_SIZE bytes).
 * Empty tree: root = 0, depth = 0, nrecs = 0, nnodes = 0. */
struct sfs_fork {
	uint64_t root;	 /* block number of the root node; 0: empty */
	uint64_t nrecs;	 /* records in the tree */
	uint64_t aux;	 /* the tree user's word: directories keep the parent inode here */
	uint32_t nnodes; /* blocks the tree occupies (for st_blocks) */
	uint8_t depth;	 /* levels: 0 empty, 1 the root is a leaf */
	uint8_t flags;	 /* none defined yet: must be 0 */
};

#define SFS_FORK_SIZE 32
void sfs_fork_encode(const struct sfs_fork *f, uint8_t out[SFS_FORK_SIZE]);
/* -EIO (with a log line) when the fields contradict each other. */
int sfs_fork_decode(const uint8_t in[SFS_FORK_SIZE], struct sfs_fork *f);

/* One tree to operate on. The fork is borrowed (the in-core inode's) and
 * updated in place by changes. ino names the owner resource and is the
 * allocation goal of the first node. */
struct btree {
	struct sfs *fs;
	struct sfs_fork *fork;
	uint64_t ino;
	bool reserved; /* new nodes may come from the allocator's reserve at once
			* (alloc_reserved; else alloc_meta): extent trees */
};

static inline void btree_open(struct btree *bt, struct sfs *fs, struct sfs_fork *fork, uint64_t ino)
{
	bt->fs = fs;
	bt->fork = fork;
	bt->ino = ino;
	bt->reserved = false;
}

/* The lock resource (block owner) of the nodes of inode ino's trees. */
uint64_t btree_owner(uint64_t ino);

/* Upper bound of blocks one insert, update or delete adds to a transaction,
 * the allocator's blocks included. */
unsigned btree_max_blocks(void);
/* The same for a tree of the given depth (fork.depth read under the lock
 * that the change will run under): much tighter for the usual 1..4 levels. */
unsigned btree_max_blocks_depth(unsigned depth);

/* Exact lookup. Copies the value into val (at most cap bytes; the full length
 * goes to *len, which may exceed cap). -ENOENT when absent. val may be NULL
 * with cap 0 to test for presence. */
int btree_lookup(struct btree *bt, const struct btree_key *k, void *val, size_t cap, size_t *len);

/* Smallest key >= k (ge) or largest key <= k (le): the found key goes to
 * *found, its value as in btree_lookup. -ENOENT when there is none. */
int btree_lookup_ge(struct btree *bt, const struct btree_key *k, struct btree_key *found, void *val,
		    size_t cap, size_t *len);
int btree_lookup_le(struct btree *bt, const struct btree_key *k, struct btree_key *found, void *val,
		    size_t cap, size_t *len);

/* Insert a new record: -EEXIST if the key is there, -EINVAL if len >
 * BTREE_MAX_VAL, -ENOSPC when no block can be allocated. */
int btree_insert(struct btree *bt, struct txn *t, const struct btree_key *k, const void *val,
		 size_t len);

/* Replace the value of an existing record (the length may change); -ENOENT. */
int btree_update(struct btree *bt, struct txn *t, const struct btree_key *k, const void *val,
		 size_t len);

/* Delete a record; its old value is copied out as in btree_lookup when old is
 * not NULL. -ENOENT. Underfull nodes are merged with or refilled from a
 * sibling; a root with one child is replaced by it; an empty tree frees its
 * last node. */
int btree_delete(struct btree *bt, struct txn *t, const struct btree_key *k, void *old, size_t cap,
		 size_t *len);

/* Calls fn for every record with key >= from, in key order. fn returns 0 to
 * go on; a positive value stops the walk (btree_iterate returns 0), a negative
 * one stops it and is returned. fn runs with tree nodes referenced and must
 * not change this tree. */
typedef int (*btree_iter_fn)(void *arg, const struct btree_key *k, const void *val, size_t len);
int btree_iterate(struct btree *bt, const struct btree_key *from, btree_iter_fn fn, void *arg);

/* Frees every node of the tree (one alloc_free per run of adjacent blocks)
 * and empties the fork (aux is kept). Only the allocator's blocks join the
 * transaction: about BTREE_ALLOC_CALL_BLOCKS per run of adjacent nodes. */
int btree_destroy(struct btree *bt, struct txn *t);

/* Read-only walk for fsck: visits every node (pre-order, node before its
 * children) and every record in key order, checks each node as a normal read
 * does plus the tree-wide facts (levels, key ranges, record and node counts
 * against the fork). Returns 0, -EIO at the first inconsistency (logged), or
 * the first nonzero value a callback returned. Either callback may be NULL. */
struct btree_walk_ops {
	int (*node)(void *arg, uint64_t blkno, unsigned level, unsigned nrecs);
	int (*rec)(void *arg, const struct btree_key *k, const void *val, size_t len);
};
int btree_walk(struct sfs *fs, const struct sfs_fork *fork, uint64_t ino,
	       const struct btree_walk_ops *ops, void *arg);

/* Node decoder (exposed for fsck and the fuzz target): checks one node image
 * (the payload after the block header) for internal consistency. level < 0
 * accepts any level. Returns 0 or -EIO with a log line naming blkno. */
int btree_node_check(const uint8_t *blk, uint64_t blkno, int level);

#endif

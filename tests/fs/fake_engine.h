/* An in-memory fake of the engine calls the B+tree and directory code use
 * (bc_*, txn_*, alloc_*; fs/INTERNALS.md), for the unit tests of that module
 * only. Single-threaded. The struct sfs it returns is a zeroed real one
 * (fs/sfs.h) whose user pointer holds the fake's state; only
 * sb.dir_hash_seed is set (fake_set_seed). It checks the rules the real engine relies on:
 *  - a block changes only after txn_add in an open transaction (when
 *    check_txn is on, every block keeps a copy of its committed image and a
 *    change found at bc_put without txn_add is a violation);
 *  - a transaction adds at most the blocks given to txn_begin (allocator
 *    calls count BTREE_ALLOC_CALL_BLOCKS each);
 *  - no reference is held to a block that is forgotten, none leaks;
 *  - bc_read checks type, owner and block number of the header. */
#ifndef SANFS_TESTS_FS_FAKE_ENGINE_H
#define SANFS_TESTS_FS_FAKE_ENGINE_H

#include "fs/btree_eng.h"

#include <check.h>

#include <stdbool.h>
#include <stdint.h>

struct sfs *fake_sfs_new(uint64_t nblocks, bool check_txn);
void fake_sfs_free(struct sfs *fs);

/* Rule violations seen so far (logged as they happen). */
unsigned long fake_violations(struct sfs *fs);
/* Blocks currently allocated, and buffers currently referenced. */
uint64_t fake_blocks_used(struct sfs *fs);
long fake_refs(struct sfs *fs);
/* Raw access to a block's bytes (corruption tests); NULL if never written. */
uint8_t *fake_block(struct sfs *fs, uint64_t blkno);
/* alloc_blocks fails with -ENOSPC after n more successful calls (-1: never). */
void fake_fail_alloc_after(struct sfs *fs, long n);
/* Most blocks any transaction added (for the bound tests). */
unsigned fake_max_txn_blocks(struct sfs *fs);
void fake_set_seed(struct sfs *fs, const uint8_t seed[16]);

/* Assertions for hot test loops: Check's ck_assert_* write a record per
 * call (to locate failures), which dominates a loop of millions. These only
 * call into Check when they fail. */
#define REQ(c)                                                                                     \
	do {                                                                                       \
		if (!(c))                                                                          \
			ck_abort_msg("%s:%d: failed: %s", __FILE__, __LINE__, #c);                 \
	} while (0)
#define REQ_CMP(a, op, b)                                                                          \
	do {                                                                                       \
		long long a_ = (long long)(a), b_ = (long long)(b);                                \
		if (!(a_ op b_))                                                                   \
			ck_abort_msg("%s:%d: failed: %s (%lld) %s %s (%lld)", __FILE__, __LINE__,  \
				     #a, a_, #op, #b, b_);                                         \
	} while (0)
#define EQ(a, b) REQ_CMP(a, ==, b)

#endif

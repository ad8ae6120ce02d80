/* lcl: the lock caching layer, the only lock interface fs/ uses (DESIGN §2,
 * §3, §5; the seed's LCL).
 *
 * A resource is a 64-bit id: the top 8 bits are its type (enum lcl_type), the
 * low 56 bits its number (inode number, allocation group, slot). Every
 * metadata block of the filesystem belongs to exactly one resource; a node
 * reads a block only while it holds PR (or EX) on the block's resource and
 * changes it only under EX.
 *
 * Scopes:
 *  - process scope (lcl_lock): also excludes other local threads asking for
 *    a conflicting mode; this is the per-inode / per-group lock inside the node.
 *  - node scope (lcl_lock_node): only ensures the cluster lock is held in at
 *    least that mode; local threads coordinate by other means.
 *
 * Callouts (lcl_set_callouts): before this node gives up EX (release to
 * another node or downconvert to PR) the type's flush callout runs — it must
 * commit and checkpoint every journal transaction touching the resource;
 * before it gives up PR, invalidate runs — it drops the resource's cached
 * blocks. Callouts run on a worker thread, never on the libuv loop thread, and
 * may take and release other locks.
 *
 * In local mode (one node, no cluster) the cluster lock is always granted, so
 * callouts never run; the same calls and the same rule hold.
 *
 * States of one resource's cluster lock on this node (cluster mode):
 *
 *   held  busy  wanted   meaning                         next
 *   NONE  no    -        not held                        a local user asks -> acquire
 *   NONE  yes   -        dlm_lock in flight              granted -> PR/EX
 *   PR    no    -        held shared (maybe cached)      EX asked -> convert up (busy)
 *   EX    no    -        held exclusive (maybe cached)   -
 *   PR/EX no    mode     another node wants mode: new    last local user gone and min hold
 *                        local users wait                over -> flush (EX), then
 *                                                        downconvert to PR if mode allows,
 *                                                        else invalidate + unlock (busy)
 *
 * Errors: 0 or negative errno. -EINVAL for an unknown type or mode; -EIO
 * when the node is fenced. */
#ifndef SANFS_LOCKS_LCL_H
#define SANFS_LOCKS_LCL_H

#include <stdint.h>

enum lcl_type {
	LCL_T_SUPER = 1, /* the superblock and filesystem-wide blocks; number 0 */
	LCL_T_AG = 2,	 /* an allocation group header and its bitmaps; number = AG index */
	LCL_T_INODE = 3, /* an inode and every block hanging off it; number = inode number */
	LCL_T_SLOT = 4,	 /* a node slot: journal, heartbeat, orphan list; number = slot */
	LCL_T_MAX = 5,
};

#define LCL_RES(type, num) (((uint64_t)(type) << 56) | ((uint64_t)(num) & ((1ull << 56) - 1)))
#define LCL_RES_TYPE(res)  ((unsigned)((res) >> 56))
#define LCL_RES_NUM(res)   ((res) & ((1ull << 56) - 1))

enum lcl_mode {
	LCL_PR = 1, /* shared: read blocks of the resource */
	LCL_EX = 2, /* exclusive: read and change them */
};

struct lcl;	   /* one per mounted filesystem */
struct lcl_handle; /* one granted lock of one local user */

struct lcl_callouts {
	/* Before giving up EX. Return 0 or -errno (the lock is then kept). */
	int (*flush)(void *arg, uint64_t res);
	/* Before giving up PR (and after flush, when giving up EX). */
	void (*invalidate)(void *arg, uint64_t res);
	void *arg;
};

/* Create a local-only LCL (local mode). Freed by lcl_destroy, which requires
 * every handle released. */
int lcl_create_local(struct lcl **out);

struct dlm_ls;
struct lcl_config {
	uint64_t fsid;	      /* names this filesystem's resources in the DLM */
	unsigned min_hold_us; /* a granted cluster lock is kept at least this long
				 before a callback gives it up (against ping-pong); 0: 10 ms */
	unsigned max_cached;  /* cluster locks kept after their last user (LRU); 0: 65536 */
};
/* Create an LCL over a DLM lockspace (cluster mode). The lockspace must
 * outlive the LCL. Cached cluster locks are kept after their last local user
 * and given up when another node asks (blocking callback) or the LRU bound
 * is passed: the type's flush callout runs before EX is given up, then
 * invalidate before the lock goes (a downconvert EX -> PR keeps the cache). */
int lcl_create_dlm(struct dlm_ls *ls, const struct lcl_config *cfg, struct lcl **out);
/* Releases every cached cluster lock (running callouts), then frees. */
void lcl_destroy(struct lcl *lcl);

/* Statistics for tests and `sanctl locks`. */
struct lcl_stats {
	uint64_t cluster_acquires, cluster_releases, downconverts, callbacks, cached;
};
void lcl_get_stats(struct lcl *lcl, struct lcl_stats *st);

/* One call per resource this node knows, for `sanctl locks`. */
struct lcl_res_info {
	uint64_t res;
	const char *held; /* cluster mode held: "none", "PR", "EX" */
	unsigned readers, writers, waiters, pins;
	int wanted; /* DLM mode another node asked for, 0 if none */
	int busy;   /* a DLM call or callout is running */
	int cached; /* kept with no local user (LRU) */
};
void lcl_dump(struct lcl *lcl, void (*fn)(void *arg, const struct lcl_res_info *ri), void *arg);

int lcl_set_callouts(struct lcl *lcl, enum lcl_type type, const struct lcl_callouts *c);

/* Process scope: blocks until granted. *out is released with lcl_unlock. */
int lcl_lock(struct lcl *lcl, uint64_t res, enum lcl_mode mode, struct lcl_handle **out);
/* Non-blocking: -EAGAIN when it would wait. */
int lcl_trylock(struct lcl *lcl, uint64_t res, enum lcl_mode mode, struct lcl_handle **out);
void lcl_unlock(struct lcl_handle *h);

/* Node scope: ensures the cluster lock is held in at least mode; no local
 * exclusion. Balanced by lcl_unlock_node. */
int lcl_lock_node(struct lcl *lcl, uint64_t res, enum lcl_mode mode);
void lcl_unlock_node(struct lcl *lcl, uint64_t res, enum lcl_mode mode);

#endif

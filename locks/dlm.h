/* dlm: the distributed lock manager of one node (DESIGN §5, issue 4).
 *
 * Symmetric: each resource is mastered by the live member its name hashes to
 * (dlm_master.h); the master keeps the resource's queues and applies the grant
 * rules of dlm_rsb.h; owners talk to masters with the messages of dlm_msg.h,
 * through a transport the caller provides (send) and feeds (dlm_ls_receive).
 *
 * Recovery on every membership change (dlm_ls_set_members, with a new epoch):
 *   1. granting stops on this node;
 *   2. masters are recomputed over the new member list;
 *   3. each master drops the locks of live nodes (they are re-declared) and
 *      keeps those of nodes that left; a resource whose master changed hands
 *      the departed nodes' locks to its new master;
 *   4. every node re-declares its granted locks (RECOVER_LOCK) to their
 *      masters, then tells every member it is done (RECOVER_DONE);
 *   5. once a node has every member's RECOVER_DONE, it resumes granting and
 *      re-sends its requests that were waiting.
 * Locks of a departed node stay held — blocking conflicting requests — until
 * dlm_ls_node_recovered(node) is called on every node (the filesystem calls
 * it after fencing the node and replaying its journals). A resource that the
 * departed node mastered grants nothing until then, since nobody knows what
 * that node held there (the seed's Fig. 7A steps 710 and 734).
 *
 * Threads: every call is thread-safe (one mutex per lockspace, held briefly).
 * dlm_lock/dlm_convert/dlm_unlock block the calling thread until the master
 * answers, so they must not be called on the transport's (libuv loop) thread;
 * dlm_ls_receive and dlm_ls_set_members never block. Blocking callbacks run on
 * the lockspace's own callback thread, never on the caller's or the loop's.
 *
 * Ownership: dlm_ls_create returns a lockspace freed by dlm_ls_destroy. */
#ifndef SANFS_LOCKS_DLM_H
#define SANFS_LOCKS_DLM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "locks/dlm_mode.h"
#include "locks/dlm_msg.h"
#include "locks/dlm_rsb.h"

struct dlm_ls;

struct dlm_ls_ops {
	/* Send one encoded message to node `to` (never this node). Called with
	 * the lockspace mutex held: must not block and must not call back into
	 * the lockspace. A lost message is repaired by the next recovery, which
	 * the membership layer starts when it declares the peer dead. */
	int (*send)(void *arg, uint32_t to, const uint8_t msg[DLM_MSG_SIZE]);
	void *arg;
};

/* A blocking callback: another node wants `mode` on the lock; the holder
 * should flush, then convert down or unlock. Runs on the callback thread. */
typedef void (*dlm_bast_fn)(void *arg, uint64_t lkid, enum dlm_mode mode);

int dlm_ls_create(uint32_t node_id, const struct dlm_ls_ops *ops, struct dlm_ls **out);
void dlm_ls_destroy(struct dlm_ls *ls);

/* Membership: epoch must grow with every change. -EINVAL when it does not or
 * when this node is not in members. */
int dlm_ls_set_members(struct dlm_ls *ls, uint64_t epoch, const uint32_t *members, size_t n);
/* The departed node's journals are replayed: drop its locks, resume the
 * resources it blocked. -ENOENT if the node is not awaiting recovery. */
int dlm_ls_node_recovered(struct dlm_ls *ls, uint32_t node);
/* One message from the transport. -EINVAL (logged, dropped) when malformed. */
int dlm_ls_receive(struct dlm_ls *ls, const void *buf, size_t len);
/* The same from a connection authenticated as node `peer`: also -EPERM
 * (dropped) when the message names another sender — a forgery that could,
 * for one, unlock another node's locks at their master. */
int dlm_ls_receive_from(struct dlm_ls *ls, uint32_t peer, const void *buf, size_t len);

/* Request a lock; blocks until granted. *granted gets the granted range
 * (wider than asked with DLM_LKF_EXPAND). -EAGAIN with DLM_LKF_NOQUEUE when it
 * cannot be granted at once; -ECANCELED when dlm_cancel stopped it; -EINVAL
 * for a bad mode, range or flags. *lkid is set (atomically) before the wait
 * starts, also when the request then fails. */
int dlm_lock(struct dlm_ls *ls, const struct dlm_resname *name, enum dlm_mode mode,
	     const struct dlm_range *range, uint32_t flags, dlm_bast_fn bast, void *bast_arg,
	     uint64_t *lkid, struct dlm_range *granted);
/* Convert a granted lock; blocks until done. 0, or DLM_DEMOTED (> 0) when the
 * lock was demoted to NL while it waited (a conversion deadlock, dlm_rsb.h
 * rule 7): it is granted now, but what the caller cached may be stale. On
 * -EAGAIN (DLM_LKF_NOQUEUE) the lock keeps its old mode. */
#define DLM_DEMOTED 1
int dlm_convert(struct dlm_ls *ls, uint64_t lkid, enum dlm_mode mode, const struct dlm_range *range,
		uint32_t flags, struct dlm_range *granted);
int dlm_unlock(struct dlm_ls *ls, uint64_t lkid);
/* Stop a dlm_lock or dlm_convert that waits (another thread calls this; it
 * never blocks, so the loop thread may). The waiting call then returns
 * -ECANCELED: a request is gone, a conversion keeps its granted mode and
 * range. When the master answered before it saw the cancel, the waiting call
 * returns that answer instead (0: granted, the caller owns the lock), and a
 * conversion that was demoted to NL (DLM_DEMOTED) cannot go back and waits
 * on. dlm_lock publishes the lock id through *lkid (with __atomic_store_n)
 * before it waits, for this. 0 when the cancel is under way or done, -ENOENT
 * when no such lock waits. */
int dlm_cancel(struct dlm_ls *ls, uint64_t lkid);

/* Cluster-wide POSIX (fcntl) record locks and flock locks (DESIGN §5,
 * locks/posix_lock.h for the semantics). The lock table of a file lives at
 * the master of resource (fs, ino, DLM_RES_POSIX); this node keeps a copy of
 * its own locks to re-declare them in recovery. Locks of a node that leaves
 * stay until dlm_ls_node_recovered, like its DLM locks. flock(2) maps to a
 * whole-file record lock with an owner id of its own.
 *
 * A lock owner is (this node, owner id); the pid is reported by F_GETLK.
 * Two threads of one owner blocked on the same file at once may be woken in
 * either order (documented limitation). */
#define DLM_RES_POSIX 16
#define DLM_PLF_GET   (1u << 9) /* message flag: an F_GETLK request or its answer */

struct dlm_plock {
	uint64_t fs, ino;
	uint64_t owner;
	uint32_t pid;
	uint32_t node;	     /* F_GETLK result only: the conflicting lock's node */
	int type;	     /* enum posix_lock_type: POSIX_LOCK_RD, _WR, _UN */
	uint64_t start, end; /* inclusive; end = POSIX_LOCK_EOF: to end of file */
};

/* F_SETLK (wait false) or F_SETLKW (wait true); type UN unlocks. 0, -EAGAIN
 * when it conflicts and wait is false, -EINTR when dlm_plock_cancel stopped
 * the wait, -EINVAL for bad arguments. */
int dlm_plock_set(struct dlm_ls *ls, const struct dlm_plock *pl, bool wait);
/* F_GETLK: 0 with *conflict filled (type POSIX_LOCK_UN when nothing conflicts). */
int dlm_plock_get(struct dlm_ls *ls, const struct dlm_plock *pl, struct dlm_plock *conflict);
/* Interrupt a waiting dlm_plock_set of that owner on that file. */
int dlm_plock_cancel(struct dlm_ls *ls, uint64_t fs, uint64_t ino, uint64_t owner);

/* What this node knows, for `sanctl locks`: one call per lock it owns
 * (role "owner") and per lock on a resource it masters (role "master"). */
struct dlm_lock_info {
	const char *role;
	struct dlm_resname name;
	uint32_t master, node;
	uint64_t lkid;
	enum dlm_mode grmode, rqmode;
	struct dlm_range range;
	const char *state; /* "granted", "converting", "waiting", "held-by-dead", ... */
};
void dlm_ls_dump(struct dlm_ls *ls, void (*fn)(void *arg, const struct dlm_lock_info *li),
		 void *arg);

/* Counters, for tests and status. */
struct dlm_ls_stats {
	uint64_t epoch;
	int recovering;
	size_t owned, mastered_resources, mastered_locks, dead_pending;
	uint64_t msgs_in, msgs_out, msgs_dropped;
};
void dlm_ls_get_stats(struct dlm_ls *ls, struct dlm_ls_stats *st);

#endif

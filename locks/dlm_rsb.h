/* The master's view of one lock resource (an "rsb", as in the Linux DLM): the
 * granted, converting and waiting queues of its locks, and the grant rules
 * (DESIGN §5). Pure data structure: no I/O, no threads; the caller (the DLM
 * master code) serialises calls per resource and delivers the callbacks.
 *
 * Rules, in the order they are applied after every change:
 *  1. Down-conversions are granted at once.
 *  2. The convert queue is served in FIFO order before any waiting request; it
 *     stops at the first conversion that cannot be granted.
 *  3. The wait queue is served in FIFO order (fairness): a new request is
 *     granted at once only when both queues are empty and it is compatible;
 *     otherwise it queues, and serving stops at the first that cannot be granted.
 *  4. Compatibility is the mode table of dlm_mode.h, applied only between locks
 *     whose byte ranges overlap.
 *  5. Grant expansion: a lock flagged DLM_LKF_EXPAND is granted the widest
 *     range containing what it asked that overlaps no incompatible lock,
 *     granted or queued (so a writer streaming through a file asks once).
 *  6. Blocking callbacks: for the first lock that cannot be granted, every
 *     granted lock that conflicts with it gets one blocking callback (bast),
 *     naming the mode wanted; it is sent again only after a new grant.
 *  7. Conversion deadlock: when every lock blocking the conversion at the head
 *     of the convert queue is itself waiting to convert (two PR holders both
 *     asking for EX), the head is demoted to NL (DLM_SBF_DEMOTED) and the
 *     queue is served past it; it is granted later like any conversion.
 *
 * Ownership: locks are allocated and freed by the caller; the rsb only links
 * them. A lock is on exactly one queue while it is attached. */
#ifndef SANFS_LOCKS_DLM_RSB_H
#define SANFS_LOCKS_DLM_RSB_H

#include <stdbool.h>
#include <stdint.h>

#include "locks/dlm_mode.h"

#define DLM_RANGE_MAX UINT64_MAX

struct dlm_range {
	uint64_t start, end; /* inclusive; the whole resource is [0, DLM_RANGE_MAX] */
};

bool dlm_range_valid(const struct dlm_range *r);
bool dlm_range_overlap(const struct dlm_range *a, const struct dlm_range *b);
/* a contains b */
bool dlm_range_contains(const struct dlm_range *a, const struct dlm_range *b);

enum dlm_lkf {
	DLM_LKF_NOQUEUE = 1 << 0, /* try-lock: fail with -EAGAIN instead of waiting */
	DLM_LKF_EXPAND = 1 << 1,  /* grant expansion (rule 5) */
};

/* Returned with a grant (lock flag, GRANT message flag): while converting, the
 * lock was demoted to NL to break a conversion deadlock (rule 7), so whatever
 * its holder cached under the old mode may be stale. */
#define DLM_SBF_DEMOTED (1u << 8)
/* REPLY message flag: the answer to a CANCEL (error -ECANCELED: cancelled;
 * 0: nothing was waiting any more). */
#define DLM_SBF_CANCEL (1u << 10)

enum dlm_queue { DLM_Q_NONE = 0, DLM_Q_GRANTED, DLM_Q_CONVERT, DLM_Q_WAIT };

struct dlm_lock {
	struct dlm_lock *prev, *next; /* queue links, owned by the rsb */
	uint64_t lkid;		      /* unique per owner node */
	uint32_t node;		      /* owner node id */
	uint32_t flags;		      /* enum dlm_lkf */
	enum dlm_queue queue;
	enum dlm_mode grmode;	  /* granted mode (valid when granted or converting) */
	enum dlm_mode rqmode;	  /* requested mode (waiting or converting) */
	struct dlm_range grrange; /* granted range */
	struct dlm_range rqrange; /* requested range */
	bool bast_pending;	  /* a blocking callback was sent for the current grant */
	bool demoted;		  /* rule 7 demoted it during this conversion */
	void *owner_data;	  /* for the caller */
};

struct dlm_rsb_ops {
	/* The lock was granted (grmode, grrange set). */
	void (*grant)(void *arg, struct dlm_lock *lk);
	/* A holder blocks `mode` wanted by another lock: flush and release or
	 * downconvert. */
	void (*bast)(void *arg, struct dlm_lock *lk, enum dlm_mode mode);
	void *arg;
};

struct dlm_queue_head {
	struct dlm_lock *head, *tail;
	unsigned count;
};

struct dlm_rsb {
	struct dlm_queue_head granted, convert, wait;
	struct dlm_rsb_ops ops;
};

void dlm_rsb_init(struct dlm_rsb *rsb, const struct dlm_rsb_ops *ops);
bool dlm_rsb_empty(const struct dlm_rsb *rsb);

/* A new lock request. 0 when granted at once or queued (grant callback comes
 * later), -EAGAIN with DLM_LKF_NOQUEUE when it cannot be granted at once (the
 * lock is then not attached), -EINVAL for a bad mode or range. */
int dlm_rsb_request(struct dlm_rsb *rsb, struct dlm_lock *lk, enum dlm_mode mode,
		    const struct dlm_range *range, uint32_t flags);
/* Convert a granted lock to another mode and/or range. Same returns; on
 * -EAGAIN the lock stays granted as it was. */
int dlm_rsb_convert(struct dlm_rsb *rsb, struct dlm_lock *lk, enum dlm_mode mode,
		    const struct dlm_range *range, uint32_t flags);
/* Remove a lock from whatever queue it is on (release or cancel). */
void dlm_rsb_remove(struct dlm_rsb *rsb, struct dlm_lock *lk);
/* Stop a wait: a waiting request is removed (the caller frees it), a
 * conversion goes back to its granted mode and range; either way the grant
 * rules run again, since it may have blocked others. -EBUSY when there is
 * nothing to cancel: the lock is granted, or its conversion was demoted to NL
 * (rule 7), so it no longer holds the mode it would go back to. */
int dlm_rsb_cancel(struct dlm_rsb *rsb, struct dlm_lock *lk);
/* Re-run the grant rules (after recovery, or after removing locks). */
void dlm_rsb_grant_pending(struct dlm_rsb *rsb);
/* Attach an already granted lock as it was (recovery: a survivor re-declares
 * what it holds to a new master). -EINVAL if it conflicts with what is there. */
int dlm_rsb_restore_granted(struct dlm_rsb *rsb, struct dlm_lock *lk);

#endif

/* Grant rules of one resource; see dlm_rsb.h for the rules by number. */
#include "locks/dlm_rsb.h"

#include <assert.h>
#include <errno.h>
#include <stddef.h>

bool dlm_range_valid(const struct dlm_range *r)
{
	return r && r->start <= r->end;
}

bool dlm_range_overlap(const struct dlm_range *a, const struct dlm_range *b)
{
	return a->start <= b->end && b->start <= a->end;
}

bool dlm_range_contains(const struct dlm_range *a, const struct dlm_range *b)
{
	return a->start <= b->start && b->end <= a->end;
}

static void q_append(struct dlm_queue_head *q, struct dlm_lock *lk, enum dlm_queue which)
{
	lk->next = NULL;
	lk->prev = q->tail;
	if (q->tail)
		q->tail->next = lk;
	else
		q->head = lk;
	q->tail = lk;
	q->count++;
	lk->queue = which;
}

static void q_unlink(struct dlm_queue_head *q, struct dlm_lock *lk)
{
	if (lk->prev)
		lk->prev->next = lk->next;
	else
		q->head = lk->next;
	if (lk->next)
		lk->next->prev = lk->prev;
	else
		q->tail = lk->prev;
	lk->prev = lk->next = NULL;
	q->count--;
	lk->queue = DLM_Q_NONE;
}

static struct dlm_queue_head *queue_of(struct dlm_rsb *rsb, enum dlm_queue q)
{
	switch (q) {
	case DLM_Q_GRANTED:
		return &rsb->granted;
	case DLM_Q_CONVERT:
		return &rsb->convert;
	case DLM_Q_WAIT:
		return &rsb->wait;
	default:
		return NULL;
	}
}

void dlm_rsb_init(struct dlm_rsb *rsb, const struct dlm_rsb_ops *ops)
{
	*rsb = (struct dlm_rsb){0};
	if (ops)
		rsb->ops = *ops;
}

bool dlm_rsb_empty(const struct dlm_rsb *rsb)
{
	return !rsb->granted.count && !rsb->convert.count && !rsb->wait.count;
}

/* Does mode/range conflict with a lock currently granted (other than self)?
 * Converting locks still hold their granted mode. */
static bool conflicts_granted(struct dlm_rsb *rsb, const struct dlm_lock *self, enum dlm_mode mode,
			      const struct dlm_range *range)
{
	const struct dlm_queue_head *qs[2] = {&rsb->granted, &rsb->convert};
	for (int i = 0; i < 2; i++)
		for (const struct dlm_lock *o = qs[i]->head; o; o = o->next) {
			if (o == self)
				continue;
			if (dlm_range_overlap(&o->grrange, range) &&
			    !dlm_mode_compat(o->grmode, mode))
				return true;
		}
	return false;
}

/* Rule 5: widen [range] as far as no incompatible lock (granted or queued,
 * other than self) overlaps. */
static struct dlm_range expand(struct dlm_rsb *rsb, const struct dlm_lock *self, enum dlm_mode mode,
			       struct dlm_range r)
{
	uint64_t lo = 0, hi = DLM_RANGE_MAX;
	const struct dlm_queue_head *qs[3] = {&rsb->granted, &rsb->convert, &rsb->wait};
	for (int i = 0; i < 3; i++)
		for (const struct dlm_lock *o = qs[i]->head; o; o = o->next) {
			if (o == self)
				continue;
			/* Granted or converting locks hold grmode over grrange;
			 * converting and waiting ones also want rqmode over rqrange. */
			for (int k = 0; k < 2; k++) {
				const struct dlm_range * or ;
				enum dlm_mode om;
				if (k == 0) {
					if (o->queue == DLM_Q_WAIT)
						continue;
					or = &o->grrange;
					om = o->grmode;
				} else {
					if (o->queue == DLM_Q_GRANTED)
						continue;
					or = &o->rqrange;
					om = o->rqmode;
				}
				if (dlm_mode_compat(om, mode))
					continue;
				/* or does not overlap r (we are grantable). */
				if (or->end < r.start && or->end + 1 > lo)
					lo = or->end + 1;
				if (or->start > r.end && or->start - 1 < hi)
					hi = or->start - 1;
			}
		}
	return (struct dlm_range){lo, hi};
}

static void do_grant(struct dlm_rsb *rsb, struct dlm_lock *lk)
{
	struct dlm_queue_head *from = queue_of(rsb, lk->queue);
	if (from)
		q_unlink(from, lk);
	struct dlm_range r = lk->rqrange;
	lk->grmode = lk->rqmode;
	lk->grrange = (lk->flags & DLM_LKF_EXPAND) ? expand(rsb, lk, lk->rqmode, r) : r;
	lk->bast_pending = false;
	q_append(&rsb->granted, lk, DLM_Q_GRANTED);
	if (rsb->ops.grant)
		rsb->ops.grant(rsb->ops.arg, lk);
	lk->demoted = false;
}

/* Rule 6 for the first lock that cannot be granted. */
static void send_basts(struct dlm_rsb *rsb, const struct dlm_lock *blocked)
{
	const struct dlm_queue_head *qs[2] = {&rsb->granted, &rsb->convert};
	for (int i = 0; i < 2; i++)
		for (struct dlm_lock *o = qs[i]->head; o; o = o->next) {
			if (o == blocked || o->bast_pending)
				continue;
			if (!dlm_range_overlap(&o->grrange, &blocked->rqrange) ||
			    dlm_mode_compat(o->grmode, blocked->rqmode))
				continue;
			o->bast_pending = true;
			if (rsb->ops.bast)
				rsb->ops.bast(rsb->ops.arg, o, blocked->rqmode);
		}
}

/* Rule 7: is every granted lock that blocks c itself converting? */
static bool conversion_deadlock(struct dlm_rsb *rsb, const struct dlm_lock *c)
{
	for (const struct dlm_lock *o = rsb->granted.head; o; o = o->next)
		if (dlm_range_overlap(&o->grrange, &c->rqrange) &&
		    !dlm_mode_compat(o->grmode, c->rqmode))
			return false;
	return true; /* only converting locks (which hold their grmode) block c */
}

void dlm_rsb_grant_pending(struct dlm_rsb *rsb)
{
restart:
	for (struct dlm_lock *c = rsb->convert.head; c; c = c->next) {
		if (!conflicts_granted(rsb, c, c->rqmode, &c->rqrange)) {
			do_grant(rsb, c);
			goto restart;
		}
		if (c->grmode != DLM_NL && conversion_deadlock(rsb, c)) {
			c->grmode = DLM_NL;
			c->demoted = true;
			goto restart;
		}
		/* A conversion from NL that only converting locks block is a
		 * conversion deadlock already at the bottom: nothing to demote,
		 * so serve past it like a demoted one (found by the cluster
		 * stress: NL->EX at the head, PR->EX behind it, both stuck). */
		if (c->grmode != DLM_NL || (!c->demoted && !conversion_deadlock(rsb, c))) {
			send_basts(rsb, c);
			return; /* FIFO: nothing behind a blocked conversion */
		}
		/* A demoted conversion blocks nobody: serve the queue past it. */
		send_basts(rsb, c);
	}
	if (rsb->convert.count)
		return; /* conversions go before new requests */
	for (;;) {
		struct dlm_lock *w = rsb->wait.head;
		if (!w)
			return;
		if (conflicts_granted(rsb, w, w->rqmode, &w->rqrange)) {
			send_basts(rsb, w);
			return;
		}
		do_grant(rsb, w);
	}
}

int dlm_rsb_request(struct dlm_rsb *rsb, struct dlm_lock *lk, enum dlm_mode mode,
		    const struct dlm_range *range, uint32_t flags)
{
	if (!dlm_mode_valid((int)mode) || !dlm_range_valid(range))
		return -EINVAL;
	assert(lk->queue == DLM_Q_NONE);
	lk->rqmode = mode;
	lk->rqrange = *range;
	lk->flags = flags;
	lk->bast_pending = false;
	bool now =
	    !rsb->convert.count && !rsb->wait.count && !conflicts_granted(rsb, lk, mode, range);
	if (!now && (flags & DLM_LKF_NOQUEUE)) {
		/* Tell the holders someone wanted it: they may give it up. */
		lk->queue = DLM_Q_NONE;
		return -EAGAIN;
	}
	q_append(&rsb->wait, lk, DLM_Q_WAIT);
	dlm_rsb_grant_pending(rsb);
	return 0;
}

int dlm_rsb_convert(struct dlm_rsb *rsb, struct dlm_lock *lk, enum dlm_mode mode,
		    const struct dlm_range *range, uint32_t flags)
{
	if (!dlm_mode_valid((int)mode) || !dlm_range_valid(range) || lk->queue != DLM_Q_GRANTED)
		return -EINVAL;
	bool down = dlm_mode_covers(lk->grmode, mode) && dlm_range_contains(&lk->grrange, range);
	lk->flags = flags;
	if (down) { /* Rule 1 */
		lk->grmode = mode;
		lk->grrange = *range;
		lk->rqmode = mode;
		lk->rqrange = *range;
		lk->bast_pending = false;
		if (rsb->ops.grant)
			rsb->ops.grant(rsb->ops.arg, lk);
		dlm_rsb_grant_pending(rsb);
		return 0;
	}
	bool now = !rsb->convert.count && !conflicts_granted(rsb, lk, mode, range);
	if (!now && (flags & DLM_LKF_NOQUEUE))
		return -EAGAIN;
	lk->rqmode = mode;
	lk->rqrange = *range;
	q_unlink(&rsb->granted, lk);
	q_append(&rsb->convert, lk, DLM_Q_CONVERT);
	dlm_rsb_grant_pending(rsb);
	return 0;
}

void dlm_rsb_remove(struct dlm_rsb *rsb, struct dlm_lock *lk)
{
	struct dlm_queue_head *q = queue_of(rsb, lk->queue);
	if (!q)
		return;
	q_unlink(q, lk);
	dlm_rsb_grant_pending(rsb);
}

int dlm_rsb_cancel(struct dlm_rsb *rsb, struct dlm_lock *lk)
{
	if (lk->queue == DLM_Q_WAIT) {
		q_unlink(&rsb->wait, lk);
	} else if (lk->queue == DLM_Q_CONVERT && !lk->demoted) {
		q_unlink(&rsb->convert, lk);
		lk->rqmode = lk->grmode;
		lk->rqrange = lk->grrange;
		q_append(&rsb->granted, lk, DLM_Q_GRANTED);
	} else {
		return -EBUSY;
	}
	dlm_rsb_grant_pending(rsb);
	return 0;
}

int dlm_rsb_restore_granted(struct dlm_rsb *rsb, struct dlm_lock *lk)
{
	if (!dlm_mode_valid((int)lk->grmode) || !dlm_range_valid(&lk->grrange) ||
	    lk->queue != DLM_Q_NONE)
		return -EINVAL;
	if (conflicts_granted(rsb, lk, lk->grmode, &lk->grrange))
		return -EINVAL;
	lk->rqmode = lk->grmode;
	lk->rqrange = lk->grrange;
	q_append(&rsb->granted, lk, DLM_Q_GRANTED);
	return 0;
}

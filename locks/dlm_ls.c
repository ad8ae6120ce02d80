/* The DLM lockspace: owner side (dlm_lock, dlm_convert, dlm_unlock and the
 * answers to them) and master side (the queues of the resources this node
 * masters). Membership changes are in dlm_recover.c. See dlm.h. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/log.h"
#include "locks/dlm_int.h"
#include "locks/dlm_master.h"

#define container_of(p, type, member) ((type *)((char *)(p)-offsetof(type, member)))

uint64_t dlm_resname_hash(const struct dlm_resname *n)
{
	uint8_t b[17];
	memcpy(b, &n->fs, 8);
	memcpy(b + 8, &n->id, 8);
	b[16] = n->type;
	return dlm_name_hash(b, sizeof(b));
}

bool dlm_resname_eq(const struct dlm_resname *a, const struct dlm_resname *b)
{
	return a->fs == b->fs && a->id == b->id && a->type == b->type;
}

uint32_t dlm_ls_master(const struct dlm_ls *ls, uint64_t hash)
{
	return dlm_master_of(hash, ls->members, ls->nmembers);
}

bool dlm_ls_is_member(const struct dlm_ls *ls, uint32_t node)
{
	for (size_t i = 0; i < ls->nmembers; i++)
		if (ls->members[i] == node)
			return true;
	return false;
}

/* A resource is blocked while a departed node that mastered it is not yet
 * recovered: nobody knows what that node held there. */
bool dlm_ls_blocked(const struct dlm_ls *ls, uint64_t hash)
{
	for (size_t i = 0; i < ls->ndead; i++)
		if (dlm_master_of(hash, ls->dead[i].members, ls->dead[i].n) == ls->dead[i].node)
			return true;
	return false;
}

void dlm_msgq_push(struct dlm_msgq *q, const struct dlm_msg *m)
{
	struct dlm_msgq_item *it = malloc(sizeof(*it));
	if (!it) {
		log_error("dlm", "out of memory queueing a %s message", dlm_msg_type_name(m->type));
		return;
	}
	it->m = *m;
	it->next = NULL;
	if (q->tail)
		q->tail->next = it;
	else
		q->head = it;
	q->tail = it;
}

bool dlm_msgq_pop(struct dlm_msgq *q, struct dlm_msg *m)
{
	struct dlm_msgq_item *it = q->head;
	if (!it)
		return false;
	q->head = it->next;
	if (!q->head)
		q->tail = NULL;
	*m = it->m;
	free(it);
	return true;
}

void dlm_msgq_clear(struct dlm_msgq *q)
{
	struct dlm_msg m;
	while (dlm_msgq_pop(q, &m))
		;
}

/* Handle every message of q again, in order (they may queue themselves anew). */
void dlm_ls_replay(struct dlm_ls *ls, struct dlm_msgq *q)
{
	struct dlm_msgq pending = *q;
	*q = (struct dlm_msgq){0};
	struct dlm_msg m;
	while (dlm_msgq_pop(&pending, &m))
		dlm_ls_handle(ls, &m);
}

void dlm_ls_post(struct dlm_ls *ls, uint32_t to, struct dlm_msg *m)
{
	m->from = ls->self;
	m->epoch = ls->epoch;
	if (to == ls->self) {
		dlm_msgq_push(&ls->selfq, m);
		return;
	}
	uint8_t buf[DLM_MSG_SIZE];
	dlm_msg_encode(m, buf);
	ls->stats.msgs_out++;
	int rc = ls->ops.send ? ls->ops.send(ls->ops.arg, to, buf) : -ENOTCONN;
	if (rc < 0)
		log_debug("dlm", "send %s to n%u: %s", dlm_msg_type_name(m->type), to,
			  strerror(-rc));
}

void dlm_ls_pump(struct dlm_ls *ls)
{
	struct dlm_msg m;
	while (dlm_msgq_pop(&ls->selfq, &m))
		dlm_ls_handle(ls, &m);
}

static void queue_bast(struct dlm_ls *ls, struct dlm_clk *c, enum dlm_mode mode)
{
	if (!c->bast)
		return;
	struct dlm_cb *cb = malloc(sizeof(*cb));
	if (!cb) {
		log_error("dlm", "out of memory queueing a blocking callback");
		return;
	}
	*cb = (struct dlm_cb){NULL, c->bast, c->bast_arg, c->lkid, mode};
	if (ls->cb_tail)
		ls->cb_tail->next = cb;
	else
		ls->cb_head = cb;
	ls->cb_tail = cb;
	pthread_cond_signal(&ls->cb_cond);
}

static void *cb_main(void *arg)
{
	struct dlm_ls *ls = arg;
	pthread_mutex_lock(&ls->mu);
	for (;;) {
		while (!ls->cb_head && !ls->stopping)
			pthread_cond_wait(&ls->cb_cond, &ls->mu);
		struct dlm_cb *cb = ls->cb_head;
		if (!cb)
			break; /* stopping and drained */
		ls->cb_head = cb->next;
		if (!ls->cb_head)
			ls->cb_tail = NULL;
		pthread_mutex_unlock(&ls->mu);
		cb->fn(cb->arg, cb->lkid, cb->mode);
		free(cb);
		pthread_mutex_lock(&ls->mu);
	}
	pthread_mutex_unlock(&ls->mu);
	return NULL;
}

/* ---- master side ---- */

static void mres_grant(void *arg, struct dlm_lock *lk)
{
	struct dlm_mres *r = arg;
	struct dlm_msg m = {.type = DLM_MSG_GRANT,
			    .lkid = lk->lkid,
			    .name = r->name,
			    .mode = lk->grmode,
			    .range = lk->grrange,
			    .flags = lk->demoted ? DLM_SBF_DEMOTED : 0};
	dlm_ls_post(r->ls, lk->node, &m);
}

static void mres_bast(void *arg, struct dlm_lock *lk, enum dlm_mode mode)
{
	struct dlm_mres *r = arg;
	struct dlm_mlk *ml = container_of(lk, struct dlm_mlk, lk);
	if (ml->dead)
		return; /* it cannot answer; recovery releases it */
	struct dlm_msg m = {.type = DLM_MSG_BAST,
			    .lkid = lk->lkid,
			    .name = r->name,
			    .mode = mode,
			    .range = lk->grrange};
	dlm_ls_post(r->ls, lk->node, &m);
}

struct dlm_mres *dlm_mres_get(struct dlm_ls *ls, const struct dlm_resname *name, uint64_t hash,
			      bool create)
{
	for (struct dlm_hnode *n = dlm_htab_first(&ls->mres, hash); n; n = dlm_htab_next_same(n)) {
		struct dlm_mres *r = container_of(n, struct dlm_mres, h);
		if (dlm_resname_eq(&r->name, name))
			return r;
	}
	if (!create)
		return NULL;
	struct dlm_mres *r = calloc(1, sizeof(*r));
	if (!r)
		return NULL;
	r->name = *name;
	r->ls = ls;
	struct dlm_rsb_ops ops = {mres_grant, mres_bast, r};
	dlm_rsb_init(&r->rsb, &ops);
	dlm_htab_insert(&ls->mres, &r->h, hash);
	return r;
}

void dlm_mres_put_if_empty(struct dlm_ls *ls, struct dlm_mres *r)
{
	if (!dlm_rsb_empty(&r->rsb))
		return;
	dlm_htab_remove(&ls->mres, &r->h);
	free(r);
}

void dlm_mlk_free(struct dlm_ls *ls, struct dlm_mlk *ml)
{
	dlm_htab_remove(&ls->mlks, &ml->h);
	free(ml);
}

static struct dlm_mlk *mlk_find(struct dlm_ls *ls, uint64_t lkid)
{
	struct dlm_hnode *n = dlm_htab_first(&ls->mlks, lkid);
	return n ? container_of(n, struct dlm_mlk, h) : NULL;
}

static void reply(struct dlm_ls *ls, const struct dlm_msg *req, int err)
{
	struct dlm_msg m = {.type = DLM_MSG_REPLY,
			    .lkid = req->lkid,
			    .name = req->name,
			    .mode = req->mode,
			    .range = req->range,
			    .error = err};
	dlm_ls_post(ls, req->from, &m);
}

static void master_request(struct dlm_ls *ls, const struct dlm_msg *m, uint64_t hash)
{
	if (mlk_find(ls, m->lkid)) {
		reply(ls, m, -EEXIST);
		return;
	}
	struct dlm_mres *r = dlm_mres_get(ls, &m->name, hash, true);
	struct dlm_mlk *ml = calloc(1, sizeof(*ml));
	if (!r || !ml) {
		free(ml);
		reply(ls, m, -ENOMEM);
		return;
	}
	ml->lk.lkid = m->lkid;
	ml->lk.node = m->from;
	ml->res = r;
	dlm_htab_insert(&ls->mlks, &ml->h, m->lkid);
	int rc = dlm_rsb_request(&r->rsb, &ml->lk, m->mode, &m->range, m->flags);
	if (rc < 0) {
		dlm_mlk_free(ls, ml);
		dlm_mres_put_if_empty(ls, r);
		reply(ls, m, rc);
	}
}

static void master_convert(struct dlm_ls *ls, const struct dlm_msg *m)
{
	struct dlm_mlk *ml = mlk_find(ls, m->lkid);
	if (!ml || ml->lk.node != m->from) {
		reply(ls, m, -ENOENT);
		return;
	}
	int rc = dlm_rsb_convert(&ml->res->rsb, &ml->lk, m->mode, &m->range, m->flags);
	if (rc < 0)
		reply(ls, m, rc);
}

static void reply_cancel(struct dlm_ls *ls, const struct dlm_msg *req, int err)
{
	struct dlm_msg m = {.type = DLM_MSG_REPLY,
			    .flags = DLM_SBF_CANCEL,
			    .lkid = req->lkid,
			    .name = req->name,
			    .mode = req->mode,
			    .range = req->range,
			    .error = err};
	dlm_ls_post(ls, req->from, &m);
}

/* A request or conversion that a dead master blocks waits as a message in
 * ls->blocked: take out the one of (node, lkid), if there. */
static bool unqueue_blocked(struct dlm_ls *ls, uint32_t node, uint64_t lkid)
{
	struct dlm_msgq keep = {0};
	struct dlm_msg b;
	bool found = false;
	while (dlm_msgq_pop(&ls->blocked, &b)) {
		if (!found && b.from == node && b.lkid == lkid &&
		    (b.type == DLM_MSG_REQUEST || b.type == DLM_MSG_CONVERT))
			found = true;
		else
			dlm_msgq_push(&keep, &b);
	}
	ls->blocked = keep;
	return found;
}

static void master_cancel(struct dlm_ls *ls, const struct dlm_msg *m)
{
	if (unqueue_blocked(ls, m->from, m->lkid)) {
		reply_cancel(ls, m, -ECANCELED);
		return;
	}
	struct dlm_mlk *ml = mlk_find(ls, m->lkid);
	if (!ml || ml->lk.node != m->from) {
		reply_cancel(ls, m, 0); /* answered already: nothing waits */
		return;
	}
	struct dlm_mres *r = ml->res;
	bool was_request = ml->lk.queue == DLM_Q_WAIT;
	if (dlm_rsb_cancel(&r->rsb, &ml->lk) < 0) {
		reply_cancel(ls, m, 0);
		return;
	}
	if (was_request) {
		dlm_mlk_free(ls, ml);
		dlm_mres_put_if_empty(ls, r);
	}
	reply_cancel(ls, m, -ECANCELED);
}

static void master_unlock(struct dlm_ls *ls, const struct dlm_msg *m)
{
	struct dlm_mlk *ml = mlk_find(ls, m->lkid);
	if (!ml || ml->lk.node != m->from) {
		reply(ls, m, 0); /* already gone: unlocking twice is harmless */
		return;
	}
	struct dlm_mres *r = ml->res;
	dlm_rsb_remove(&r->rsb, &ml->lk);
	dlm_mlk_free(ls, ml);
	dlm_mres_put_if_empty(ls, r);
	reply(ls, m, 0);
}

/* ---- owner side ---- */

static struct dlm_clk *clk_find(struct dlm_ls *ls, uint64_t lkid)
{
	struct dlm_hnode *n = dlm_htab_first(&ls->owned, lkid);
	return n ? container_of(n, struct dlm_clk, h) : NULL;
}

void dlm_clk_finish(struct dlm_ls *ls, struct dlm_clk *c, int result, bool unlink)
{
	c->done = true;
	c->result = result;
	if (unlink && !c->unlinked) {
		dlm_htab_remove(&ls->owned, &c->h);
		c->unlinked = true;
	}
	pthread_cond_broadcast(&ls->cond);
}

static void owner_grant(struct dlm_ls *ls, const struct dlm_msg *m)
{
	struct dlm_clk *c = clk_find(ls, m->lkid);
	if (c && (c->state == CLK_CANCEL_REQ || c->state == CLK_CANCEL_CONV)) {
		/* Granted before the master saw our CANCEL: its answer decides. */
		c->cgranted = true;
		c->cmode = m->mode;
		c->crange = m->range;
		c->cresult = (m->flags & DLM_SBF_DEMOTED) ? DLM_DEMOTED : 0;
		return;
	}
	if (!c || (c->state != CLK_REQ_WAIT && c->state != CLK_CONV_WAIT)) {
		log_warn("dlm", "unexpected GRANT of lock %#llx from n%u",
			 (unsigned long long)m->lkid, m->from);
		return;
	}
	c->state = CLK_GRANTED;
	c->grmode = m->mode;
	c->grrange = m->range;
	dlm_clk_finish(ls, c, (m->flags & DLM_SBF_DEMOTED) ? DLM_DEMOTED : 0, false);
}

/* The master's answer to our CANCEL. */
static void owner_cancel_reply(struct dlm_ls *ls, struct dlm_clk *c, const struct dlm_msg *m)
{
	bool req = c->state == CLK_CANCEL_REQ;
	if (m->error == -ECANCELED) {
		if (!req)
			dlm_clk_unconvert(c); /* back at its granted mode */
		dlm_clk_finish(ls, c, -ECANCELED, req);
	} else if (c->cgranted) { /* the grant won the race */
		c->state = CLK_GRANTED;
		c->grmode = c->cmode;
		c->grrange = c->crange;
		dlm_clk_finish(ls, c, c->cresult, false);
	} else if (c->cerr) { /* so did a failure */
		if (!req)
			c->state = CLK_GRANTED;
		dlm_clk_finish(ls, c, c->cerr, req);
	} else {
		/* Not cancellable (a conversion demoted to NL): wait on. */
		c->state = req ? CLK_REQ_WAIT : CLK_CONV_WAIT;
	}
}

static void owner_reply(struct dlm_ls *ls, const struct dlm_msg *m)
{
	struct dlm_clk *c = clk_find(ls, m->lkid);
	if (!c)
		return;
	if (c->state == CLK_CANCEL_REQ || c->state == CLK_CANCEL_CONV) {
		if (m->flags & DLM_SBF_CANCEL)
			owner_cancel_reply(ls, c, m);
		else
			c->cerr = m->error ? m->error : -EPROTO;
		return;
	}
	if (m->flags & DLM_SBF_CANCEL)
		return; /* a cancel that recovery already ended */
	switch (c->state) {
	case CLK_REQ_WAIT:
		dlm_clk_finish(ls, c, m->error ? m->error : -EPROTO, true);
		break;
	case CLK_CONV_WAIT:
		c->state = CLK_GRANTED;
		dlm_clk_finish(ls, c, m->error ? m->error : -EPROTO, false);
		break;
	case CLK_UNLOCK_WAIT:
		dlm_clk_finish(ls, c, 0, true);
		break;
	default:
		log_warn("dlm", "unexpected REPLY for lock %#llx from n%u",
			 (unsigned long long)m->lkid, m->from);
	}
}

static void owner_bast(struct dlm_ls *ls, const struct dlm_msg *m)
{
	struct dlm_clk *c = clk_find(ls, m->lkid);
	if (c && (c->state == CLK_GRANTED || c->state == CLK_CONV_WAIT))
		queue_bast(ls, c, m->mode);
}

/* ---- dispatch ---- */

void dlm_ls_handle(struct dlm_ls *ls, const struct dlm_msg *m)
{
	if (m->epoch < ls->epoch) {
		ls->stats.msgs_dropped++;
		return; /* stale: recovery has re-declared or will re-send */
	}
	if (m->epoch > ls->epoch) {
		dlm_msgq_push(&ls->future, m);
		return;
	}
	if (!dlm_ls_is_member(ls, m->from)) {
		ls->stats.msgs_dropped++;
		log_warn("dlm", "%s from n%u, not a member: dropped", dlm_msg_type_name(m->type),
			 m->from);
		return;
	}
	uint64_t hash = dlm_resname_hash(&m->name);
	bool plock = m->type == DLM_MSG_PLOCK || m->type == DLM_MSG_PLOCK_GET ||
		     m->type == DLM_MSG_PLOCK_CANCEL;
	switch (m->type) {
	case DLM_MSG_PLOCK:
	case DLM_MSG_PLOCK_GET:
	case DLM_MSG_PLOCK_CANCEL:
	case DLM_MSG_REQUEST:
	case DLM_MSG_CONVERT:
	case DLM_MSG_UNLOCK:
	case DLM_MSG_CANCEL:
		if (dlm_ls_master(ls, hash) != ls->self) {
			ls->stats.msgs_dropped++;
			log_warn("dlm", "%s from n%u for a resource n%u masters: dropped",
				 dlm_msg_type_name(m->type), m->from, dlm_ls_master(ls, hash));
			return;
		}
		if (ls->recovering) {
			dlm_msgq_push(&ls->later, m);
			return;
		}
		bool release = m->type == DLM_MSG_UNLOCK || m->type == DLM_MSG_PLOCK_CANCEL ||
			       m->type == DLM_MSG_CANCEL ||
			       (m->type == DLM_MSG_PLOCK && m->mode == DLM_NL);
		if (!release && dlm_ls_blocked(ls, hash)) {
			if (!(m->flags & DLM_LKF_NOQUEUE))
				dlm_msgq_push(&ls->blocked, m);
			else if (plock) /* a try-lock does not wait */
				dlm_plock_reply_err(ls, m, -EAGAIN);
			else
				reply(ls, m, -EAGAIN);
			return;
		}
		if (plock)
			dlm_plock_handle(ls, m, hash);
		else if (m->type == DLM_MSG_REQUEST)
			master_request(ls, m, hash);
		else if (m->type == DLM_MSG_CONVERT)
			master_convert(ls, m);
		else if (m->type == DLM_MSG_CANCEL)
			master_cancel(ls, m);
		else
			master_unlock(ls, m);
		return;
	case DLM_MSG_GRANT:
		owner_grant(ls, m);
		return;
	case DLM_MSG_REPLY:
		owner_reply(ls, m);
		return;
	case DLM_MSG_BAST:
		owner_bast(ls, m);
		return;
	case DLM_MSG_RECOVER_LOCK:
		dlm_recover_lock(ls, m);
		return;
	case DLM_MSG_RECOVER_DONE:
		dlm_recover_done_from(ls, m->from);
		return;
	case DLM_MSG_PLOCK_REPLY:
		dlm_plock_owner_reply(ls, m);
		return;
	case DLM_MSG_PLOCK_RECOVER:
		if (dlm_ls_master(ls, hash) == ls->self)
			dlm_plock_recover_lock(ls, m);
		else
			log_warn("dlm",
				 "PLOCK_RECOVER from n%u for a resource n%u masters: dropped",
				 m->from, dlm_ls_master(ls, hash));
		return;
	default:
		return;
	}
}

/* peer 0: the transport did not say who sent it. */
static int receive(struct dlm_ls *ls, uint32_t peer, const void *buf, size_t len)
{
	struct dlm_msg m;
	int rc = 0;
	if (dlm_msg_decode(buf, len, &m) < 0) {
		log_warn("dlm", "malformed message of %zu bytes: dropped", len);
		rc = -EINVAL;
	} else if (peer && m.from != peer) {
		log_warn("dlm", "%s from n%u claims to come from n%u: dropped",
			 dlm_msg_type_name(m.type), peer, m.from);
		rc = -EPERM;
	}
	if (rc < 0) {
		pthread_mutex_lock(&ls->mu);
		ls->stats.msgs_dropped++;
		pthread_mutex_unlock(&ls->mu);
		return rc;
	}
	pthread_mutex_lock(&ls->mu);
	if (m.from == ls->self) {
		ls->stats.msgs_dropped++;
		pthread_mutex_unlock(&ls->mu);
		log_warn("dlm", "message claiming to come from this node: dropped");
		return -EINVAL;
	}
	ls->stats.msgs_in++;
	dlm_ls_handle(ls, &m);
	dlm_ls_pump(ls);
	pthread_mutex_unlock(&ls->mu);
	return 0;
}

int dlm_ls_receive(struct dlm_ls *ls, const void *buf, size_t len)
{
	return receive(ls, 0, buf, len);
}

int dlm_ls_receive_from(struct dlm_ls *ls, uint32_t peer, const void *buf, size_t len)
{
	return peer ? receive(ls, peer, buf, len) : -EINVAL;
}

/* ---- public owner calls ---- */

static int wait_done(struct dlm_ls *ls, struct dlm_clk *c)
{
	while (!c->done)
		pthread_cond_wait(&ls->cond, &ls->mu);
	return c->result;
}

void dlm_clk_send(struct dlm_ls *ls, struct dlm_clk *c, enum dlm_msg_type type)
{
	struct dlm_msg m = {.type = type,
			    .lkid = c->lkid,
			    .name = c->name,
			    .mode = c->rqmode,
			    .range = c->rqrange,
			    .flags = c->flags};
	dlm_ls_post(ls, dlm_ls_master(ls, c->hash), &m);
}

int dlm_lock(struct dlm_ls *ls, const struct dlm_resname *name, enum dlm_mode mode,
	     const struct dlm_range *range, uint32_t flags, dlm_bast_fn bast, void *bast_arg,
	     uint64_t *lkid, struct dlm_range *granted)
{
	if (!ls || !name || !lkid || !dlm_mode_valid((int)mode) || !dlm_range_valid(range) ||
	    (flags & ~(uint32_t)(DLM_LKF_NOQUEUE | DLM_LKF_EXPAND)))
		return -EINVAL;
	struct dlm_clk *c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->name = *name;
	c->hash = dlm_resname_hash(name);
	c->rqmode = mode;
	c->rqrange = *range;
	c->flags = flags;
	c->bast = bast;
	c->bast_arg = bast_arg;
	pthread_mutex_lock(&ls->mu);
	c->lkid = ls->next_lkid++;
	/* Published before the wait, so another thread can dlm_cancel it. */
	__atomic_store_n(lkid, c->lkid, __ATOMIC_RELEASE);
	dlm_htab_insert(&ls->owned, &c->h, c->lkid);
	if (ls->recovering) {
		c->state = CLK_RESEND_REQ;
	} else {
		c->state = CLK_REQ_WAIT;
		dlm_clk_send(ls, c, DLM_MSG_REQUEST);
		dlm_ls_pump(ls);
	}
	int rc = wait_done(ls, c);
	if (rc == 0) {
		if (granted)
			*granted = c->grrange;
		c->done = false;
	}
	pthread_mutex_unlock(&ls->mu);
	if (rc < 0)
		free(c); /* unlinked by clk_finish */
	return rc;
}

int dlm_convert(struct dlm_ls *ls, uint64_t lkid, enum dlm_mode mode, const struct dlm_range *range,
		uint32_t flags, struct dlm_range *granted)
{
	if (!ls || !dlm_mode_valid((int)mode) || !dlm_range_valid(range) ||
	    (flags & ~(uint32_t)(DLM_LKF_NOQUEUE | DLM_LKF_EXPAND)))
		return -EINVAL;
	pthread_mutex_lock(&ls->mu);
	struct dlm_clk *c = clk_find(ls, lkid);
	if (!c || c->state != CLK_GRANTED) {
		pthread_mutex_unlock(&ls->mu);
		return c ? -EBUSY : -ENOENT;
	}
	c->rqmode = mode;
	c->rqrange = *range;
	c->flags = flags;
	c->done = false;
	if (ls->recovering) {
		c->state = CLK_RESEND_CONV;
	} else {
		c->state = CLK_CONV_WAIT;
		dlm_clk_send(ls, c, DLM_MSG_CONVERT);
		dlm_ls_pump(ls);
	}
	int rc = wait_done(ls, c);
	c->done = false;
	if (rc >= 0 && granted)
		*granted = c->grrange;
	pthread_mutex_unlock(&ls->mu);
	return rc;
}

int dlm_cancel(struct dlm_ls *ls, uint64_t lkid)
{
	if (!ls)
		return -EINVAL;
	pthread_mutex_lock(&ls->mu);
	struct dlm_clk *c = clk_find(ls, lkid);
	int rc = 0;
	switch (c ? c->state : CLK_GRANTED) {
	case CLK_REQ_WAIT:
	case CLK_CONV_WAIT:
		c->state = c->state == CLK_REQ_WAIT ? CLK_CANCEL_REQ : CLK_CANCEL_CONV;
		c->cgranted = false;
		c->cerr = 0;
		dlm_clk_send(ls, c, DLM_MSG_CANCEL);
		dlm_ls_pump(ls);
		break;
	case CLK_RESEND_REQ: /* recovery runs: nothing was sent */
		dlm_clk_finish(ls, c, -ECANCELED, true);
		break;
	case CLK_RESEND_CONV: /* re-declared at its granted mode already */
		dlm_clk_unconvert(c);
		dlm_clk_finish(ls, c, -ECANCELED, false);
		break;
	case CLK_CANCEL_REQ:
	case CLK_CANCEL_CONV:
		break; /* under way */
	default:
		rc = -ENOENT;
	}
	pthread_mutex_unlock(&ls->mu);
	return rc;
}

int dlm_unlock(struct dlm_ls *ls, uint64_t lkid)
{
	if (!ls)
		return -EINVAL;
	pthread_mutex_lock(&ls->mu);
	struct dlm_clk *c = clk_find(ls, lkid);
	if (!c || c->state != CLK_GRANTED) {
		pthread_mutex_unlock(&ls->mu);
		return c ? -EBUSY : -ENOENT;
	}
	c->done = false;
	if (ls->recovering) {
		c->state = CLK_RESEND_UNLOCK;
	} else {
		c->state = CLK_UNLOCK_WAIT;
		dlm_clk_send(ls, c, DLM_MSG_UNLOCK);
		dlm_ls_pump(ls);
	}
	int rc = wait_done(ls, c);
	pthread_mutex_unlock(&ls->mu);
	free(c);
	return rc;
}

/* ---- lifecycle, introspection ---- */

/* The tables themselves (their entries are freed by the caller); safe on a
 * lockspace whose tables were only partly set up (calloc'ed). */
static void ls_tables_free(struct dlm_ls *ls)
{
	dlm_htab_free(&ls->owned);
	dlm_htab_free(&ls->mres);
	dlm_htab_free(&ls->mlks);
	dlm_plock_free(ls);
}

int dlm_ls_create(uint32_t node_id, const struct dlm_ls_ops *ops, struct dlm_ls **out)
{
	if (!node_id || !ops || !out)
		return -EINVAL;
	struct dlm_ls *ls = calloc(1, sizeof(*ls));
	if (!ls)
		return -ENOMEM;
	ls->self = node_id;
	ls->ops = *ops;
	/* Lock ids: node id in the top 16 bits, then a start that differs per
	 * incarnation, so a restarted node never reuses an id a master may still
	 * hold for its previous incarnation. */
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	ls->next_lkid = ((uint64_t)(node_id & 0xffff) << 48) |
			((((uint64_t)ts.tv_sec << 20) ^ (uint64_t)ts.tv_nsec) & 0xffffffffffull)
			    << 8;
	if (dlm_htab_init(&ls->owned) || dlm_htab_init(&ls->mres) || dlm_htab_init(&ls->mlks) ||
	    dlm_plock_init(ls)) {
		ls_tables_free(ls);
		free(ls);
		return -ENOMEM;
	}
	pthread_mutex_init(&ls->mu, NULL);
	pthread_cond_init(&ls->cond, NULL);
	pthread_cond_init(&ls->cb_cond, NULL);
	if (pthread_create(&ls->cb_thread, NULL, cb_main, ls) != 0) {
		ls_tables_free(ls);
		free(ls);
		return -EAGAIN;
	}
	*out = ls;
	return 0;
}

void dlm_ls_destroy(struct dlm_ls *ls)
{
	if (!ls)
		return;
	pthread_mutex_lock(&ls->mu);
	ls->stopping = true;
	pthread_cond_signal(&ls->cb_cond);
	pthread_mutex_unlock(&ls->mu);
	pthread_join(ls->cb_thread, NULL);
	dlm_htab_foreach(&ls->owned, i, n, nx) free(container_of(n, struct dlm_clk, h));
	dlm_htab_foreach(&ls->mlks, i, n, nx) free(container_of(n, struct dlm_mlk, h));
	dlm_htab_foreach(&ls->mres, i, n, nx) free(container_of(n, struct dlm_mres, h));
	ls_tables_free(ls);
	dlm_msgq_clear(&ls->selfq);
	dlm_msgq_clear(&ls->later);
	dlm_msgq_clear(&ls->blocked);
	dlm_msgq_clear(&ls->future);
	for (size_t i = 0; i < ls->ndead; i++)
		free(ls->dead[i].members);
	free(ls->dead);
	free(ls->members);
	free(ls->done_from);
	pthread_mutex_destroy(&ls->mu);
	pthread_cond_destroy(&ls->cond);
	pthread_cond_destroy(&ls->cb_cond);
	free(ls);
}

static const char *clk_state_name(enum clk_state s)
{
	static const char *const n[] = {"waiting",
					"granted",
					"converting",
					"unlocking",
					"waiting-recovery",
					"converting-recovery",
					"unlocking-recovery",
					"cancelling",
					"cancelling-conversion"};
	return n[s];
}

static const char *queue_name(const struct dlm_mlk *ml)
{
	if (ml->dead)
		return "held-by-dead";
	switch (ml->lk.queue) {
	case DLM_Q_GRANTED:
		return "granted";
	case DLM_Q_CONVERT:
		return "converting";
	case DLM_Q_WAIT:
		return "waiting";
	default:
		return "?";
	}
}

void dlm_ls_dump(struct dlm_ls *ls, void (*fn)(void *arg, const struct dlm_lock_info *li),
		 void *arg)
{
	pthread_mutex_lock(&ls->mu);
	dlm_htab_foreach(&ls->owned, i, n, nx)
	{
		const struct dlm_clk *c = container_of(n, struct dlm_clk, h);
		struct dlm_lock_info li = {"owner",
					   c->name,
					   dlm_ls_master(ls, c->hash),
					   ls->self,
					   c->lkid,
					   c->grmode,
					   c->rqmode,
					   c->state == CLK_GRANTED ? c->grrange : c->rqrange,
					   clk_state_name(c->state)};
		fn(arg, &li);
	}
	dlm_htab_foreach(&ls->mlks, i, n, nx)
	{
		const struct dlm_mlk *ml = container_of(n, struct dlm_mlk, h);
		struct dlm_lock_info li = {
		    "master",	   ml->res->name,
		    ls->self,	   ml->lk.node,
		    ml->lk.lkid,   ml->lk.grmode,
		    ml->lk.rqmode, ml->lk.queue == DLM_Q_WAIT ? ml->lk.rqrange : ml->lk.grrange,
		    queue_name(ml)};
		fn(arg, &li);
	}
	pthread_mutex_unlock(&ls->mu);
}

void dlm_ls_get_stats(struct dlm_ls *ls, struct dlm_ls_stats *st)
{
	pthread_mutex_lock(&ls->mu);
	*st = ls->stats;
	st->epoch = ls->epoch;
	st->recovering = ls->recovering;
	st->owned = ls->owned.count;
	st->mastered_resources = ls->mres.count;
	st->mastered_locks = ls->mlks.count;
	st->dead_pending = ls->ndead;
	pthread_mutex_unlock(&ls->mu);
}

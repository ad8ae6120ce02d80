/* Proposals, barriers and Raft membership changes of struct cons, and their
 * blocking forms for worker threads (consensus.h).
 *
 * Worker requests: a worker fills a struct wreq, queues it under c->lock,
 * wakes the loop with uv_async_send and waits on the wreq's condition
 * variable. The loop thread runs it with the async ([loop]) API and signals
 * the result. A wreq is shared by two owners (worker, loop); whoever lets go
 * last frees it, so a worker that times out leaves safely. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/clock.h"
#include "common/log.h"
#include "consensus/cons_int.h"

#define SUB "consensus"

/* ---- propose ----------------------------------------------------------- */

struct prop {
	struct raft_apply req;
	struct cons *c;
	cons_propose_cb cb;
	void *data;
};

static void prop_done(struct raft_apply *req, int status, void *result)
{
	struct prop *p = req->data;
	int st = cons_raft_errno(status);
	if (p->cb)
		p->cb(p->data, st, st ? 0 : (int64_t)(intptr_t)result);
	free(p);
}

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

int cons_propose(struct cons *c, const struct cons_cmd *cmd, cons_propose_cb cb, void *data)
{
	struct cons_cmd stamped = *cmd;
	struct raft_buffer buf;
	struct prop *p;
	uint8_t *enc;
	size_t len;
	int rc, rv;

	if (c->closing || !c->started)
		return -ECANCELED;
	if (raft_state(&c->raft) != RAFT_LEADER)
		return -EREMOTE;
	/* The date of an update is the leader's clock, read here, never in
	 * apply (SEEDS Sun: "date of the update (the master's clock)"). */
	if (stamped.date_ms == 0)
		stamped.date_ms = now_ms();
	rc = cons_cmd_encode(&stamped, &enc, &len);
	if (rc)
		return rc;
	rc = cons_entry_wrap(enc, len, &buf);
	free(enc);
	if (rc)
		return rc;
	p = calloc(1, sizeof(*p));
	if (!p) {
		raft_free(buf.base);
		return -ENOMEM;
	}
	p->c = c;
	p->cb = cb;
	p->data = data;
	p->req.data = p;
	rv = raft_apply(&c->raft, &p->req, &buf, 1, prop_done);
	if (rv) {
		raft_free(buf.base);
		free(p);
		return cons_raft_errno(rv);
	}
	return 0;
}

/* ---- barrier ----------------------------------------------------------- */

struct bar {
	struct raft_barrier req;
	cons_barrier_cb cb;
	void *data;
};

static void bar_done(struct raft_barrier *req, int status)
{
	struct bar *b = req->data;
	if (b->cb)
		b->cb(b->data, cons_raft_errno(status));
	free(b);
}

int cons_barrier(struct cons *c, cons_barrier_cb cb, void *data)
{
	struct bar *b;
	int rv;

	if (c->closing || !c->started)
		return -ECANCELED;
	if (raft_state(&c->raft) != RAFT_LEADER)
		return -EREMOTE;
	b = calloc(1, sizeof(*b));
	if (!b)
		return -ENOMEM;
	b->cb = cb;
	b->data = data;
	b->req.data = b;
	rv = raft_barrier(&c->raft, &b->req, bar_done);
	if (rv) {
		free(b);
		return cons_raft_errno(rv);
	}
	return 0;
}

/* ---- membership changes ------------------------------------------------ */

enum chg_step { CHG_ADD, CHG_ASSIGN, CHG_RECORD, CHG_REMOVE, CHG_UNRECORD };

struct chg {
	struct raft_change req;
	struct cons *c;
	enum chg_step step;
	uint64_t id;
	char address[CONS_ADDR_MAX];
	cons_change_cb cb;
	void *data;
};

static void chg_finish(struct chg *g, int status)
{
	if (status)
		log_warn(SUB, "membership change of node %llu: %s", (unsigned long long)g->id,
			 strerror(-status));
	if (g->cb)
		g->cb(g->data, status);
	free(g);
}

static void chg_record_done(void *data, int status, int64_t result)
{
	struct chg *g = data;
	if (status == 0 && result < 0 && !(g->step == CHG_UNRECORD && result == -ENOENT))
		status = (int)result;
	chg_finish(g, status);
}

static void chg_next(struct raft_change *req, int status);

static void chg_record(struct chg *g)
{
	struct cons_cmd cmd;
	memset(&cmd, 0, sizeof(cmd));
	if (g->step == CHG_RECORD) {
		cmd.type = CONS_CMD_MEMBER_PUT;
		cmd.u.member.id = g->id;
		strcpy(cmd.u.member.address, g->address);
		cmd.u.member.state = CONS_MEMBER_JOINING;
	} else {
		cmd.type = CONS_CMD_MEMBER_DEL;
		cmd.u.id = g->id;
	}
	int rc = cons_propose(g->c, &cmd, chg_record_done, g);
	if (rc)
		chg_finish(g, rc);
}

static void chg_next(struct raft_change *req, int status)
{
	struct chg *g = req->data;
	int rv = 0;

	if (status) {
		chg_finish(g, cons_raft_errno(status));
		return;
	}
	if (g->c->closing) {
		chg_finish(g, -ECANCELED);
		return;
	}
	switch (g->step) {
	case CHG_ADD:
		g->step = CHG_ASSIGN;
		rv = raft_assign(&g->c->raft, &g->req, g->id, RAFT_VOTER, chg_next);
		break;
	case CHG_ASSIGN:
		if (g->address[0] == '\0') { /* promote only */
			chg_finish(g, 0);
			return;
		}
		g->step = CHG_RECORD;
		chg_record(g);
		return;
	case CHG_REMOVE:
		g->step = CHG_UNRECORD;
		chg_record(g);
		return;
	default:
		chg_finish(g, -EINVAL);
		return;
	}
	if (rv)
		chg_finish(g, cons_raft_errno(rv));
}

static int chg_start(struct cons *c, enum chg_step step, uint64_t id, const char *address,
		     cons_change_cb cb, void *data)
{
	struct chg *g;
	int rv;

	if (c->closing || !c->started)
		return -ECANCELED;
	if (raft_state(&c->raft) != RAFT_LEADER)
		return -EREMOTE;
	if (id == 0 || (address && strlen(address) >= CONS_ADDR_MAX))
		return -EINVAL;
	g = calloc(1, sizeof(*g));
	if (!g)
		return -ENOMEM;
	g->c = c;
	g->step = step;
	g->id = id;
	if (address)
		snprintf(g->address, sizeof(g->address), "%s", address);
	g->cb = cb;
	g->data = data;
	g->req.data = g;
	/* A retried add resumes where the last attempt stopped: an id already
	 * in the configuration at the same address is promoted (if it is not a
	 * voter yet) and recorded. */
	const struct raft_server *srv = NULL;
	for (unsigned i = 0; i < c->raft.configuration.n; i++)
		if (c->raft.configuration.servers[i].id == id)
			srv = &c->raft.configuration.servers[i];
	if (step == CHG_ADD && srv) {
		if (strcmp(srv->address, address) != 0) {
			free(g);
			return -EEXIST;
		}
		step = g->step = srv->role == RAFT_VOTER ? CHG_RECORD : CHG_ASSIGN;
		if (step == CHG_RECORD) {
			chg_record(g); /* reports through cb */
			return 0;
		}
	}
	switch (step) {
	case CHG_ADD:
		rv = raft_add(&c->raft, &g->req, id, address, chg_next);
		break;
	case CHG_ASSIGN:
		rv = raft_assign(&c->raft, &g->req, id, RAFT_VOTER, chg_next);
		break;
	default:
		rv = raft_remove(&c->raft, &g->req, id, chg_next);
	}
	if (rv) {
		free(g);
		return cons_raft_errno(rv);
	}
	return 0;
}

int cons_member_add(struct cons *c, uint64_t id, const char *address, cons_change_cb cb, void *data)
{
	if (!address || !address[0])
		return -EINVAL;
	return chg_start(c, CHG_ADD, id, address, cb, data);
}

int cons_member_promote(struct cons *c, uint64_t id, cons_change_cb cb, void *data)
{
	return chg_start(c, CHG_ASSIGN, id, NULL, cb, data);
}

int cons_member_remove(struct cons *c, uint64_t id, cons_change_cb cb, void *data)
{
	return chg_start(c, CHG_REMOVE, id, NULL, cb, data);
}

/* ---- hand-over ----------------------------------------------------------- */

struct handover {
	struct raft_transfer req;
	struct cons *c;
	void (*cb)(void *data, int status);
	void *data;
};

static void handover_done(struct raft_transfer *req)
{
	struct handover *h = req->data;
	struct cons *c = h->c;
	raft_id lid;
	const char *laddr;
	int status = 0;

	raft_leader(&c->raft, &lid, &laddr);
	if (c->closing)
		status = -ECANCELED;
	else if (lid == 0 || lid == c->id)
		status = -ETIMEDOUT;
	else
		log_info(SUB, "leadership handed over to member %llu", (unsigned long long)lid);
	if (h->cb)
		h->cb(h->data, status);
	free(h);
}

int cons_handover(struct cons *c, void (*cb)(void *data, int status), void *data)
{
	struct handover *h;
	int rv;

	if (c->closing || !c->started)
		return -ECANCELED;
	if (raft_state(&c->raft) != RAFT_LEADER)
		return -EREMOTE;
	h = calloc(1, sizeof(*h));
	if (!h)
		return -ENOMEM;
	h->c = c;
	h->cb = cb;
	h->data = data;
	h->req.data = h;
	rv = raft_transfer(&c->raft, &h->req, 0, handover_done);
	if (rv) {
		free(h);
		return rv == RAFT_NOTFOUND ? -ENOENT : cons_raft_errno(rv);
	}
	return 0;
}

/* ---- ADM takeover on election ----------------------------------------- */

static void takeover_done(void *data, int status, int64_t result)
{
	struct cons *c = data;
	if (status)
		log_warn(SUB, "ADM takeover not committed: %s", strerror(-status));
	else if (result < 0)
		log_warn(SUB, "ADM takeover refused: %s", strerror((int)-result));
	else
		log_info(SUB, "node %llu is ADM, SAN generation %lld", (unsigned long long)c->id,
			 (long long)result);
}

void cons_on_authoritative(struct cons *c)
{
	struct cons_cmd cmd;
	int rc;

	if (c->cfg.no_auto_takeover)
		return;
	/* DESIGN §4: "On election it commits an ADM-takeover entry that
	 * increments the SAN generation." */
	memset(&cmd, 0, sizeof(cmd));
	cmd.type = CONS_CMD_ADM_TAKEOVER;
	cmd.u.adm.id = c->id;
	cmd.u.adm.term = c->raft.current_term;
	snprintf(cmd.u.adm.address, sizeof(cmd.u.adm.address), "%s", c->address);
	rc = cons_propose(c, &cmd, takeover_done, c);
	if (rc)
		log_warn(SUB, "ADM takeover: %s", strerror(-rc));
}

/* ---- worker requests --------------------------------------------------- */

enum wkind { W_PROPOSE, W_BARRIER, W_ADD, W_REMOVE };

struct wreq {
	enum wkind kind;
	struct cons_cmd cmd;
	uint8_t *blob; /* copy of cmd.u.blob.data */
	uint64_t id;
	char address[CONS_ADDR_MAX];
	pthread_mutex_t *lock; /* c->lock */
	pthread_cond_t cond;
	bool done;
	int refs; /* 2 while both worker and loop hold it */
	int status;
	int64_t result;
	struct cons *c;
	struct wreq *next;
};

static void wreq_put(struct wreq *w)
{
	/* called with *w->lock held; returns with it held */
	if (--w->refs == 0) {
		pthread_cond_destroy(&w->cond);
		free(w->blob);
		free(w);
	}
}

static void wreq_complete(struct wreq *w, int status, int64_t result)
{
	pthread_mutex_t *lock = w->lock;
	pthread_mutex_lock(lock);
	w->status = status;
	w->result = result;
	w->done = true;
	pthread_cond_signal(&w->cond);
	wreq_put(w);
	pthread_mutex_unlock(lock);
}

static void w_propose_cb(void *data, int status, int64_t result)
{
	wreq_complete(data, status, result);
}

static void w_barrier_cb(void *data, int status)
{
	wreq_complete(data, status, 0);
}

static void w_change_cb(void *data, int status)
{
	wreq_complete(data, status, 0);
}

static void wreq_run(struct cons *c, struct wreq *w)
{
	int rc;
	switch (w->kind) {
	case W_PROPOSE:
		rc = cons_propose(c, &w->cmd, w_propose_cb, w);
		break;
	case W_BARRIER:
		rc = cons_barrier(c, w_barrier_cb, w);
		break;
	case W_ADD:
		rc = cons_member_add(c, w->id, w->address, w_change_cb, w);
		break;
	default:
		rc = cons_member_remove(c, w->id, w_change_cb, w);
	}
	if (rc)
		wreq_complete(w, rc, 0);
}

void cons_run_wreqs(struct cons *c)
{
	for (;;) {
		pthread_mutex_lock(&c->lock);
		struct wreq *w = c->wq_head;
		if (w) {
			c->wq_head = w->next;
			if (!c->wq_head)
				c->wq_tail = NULL;
		}
		pthread_mutex_unlock(&c->lock);
		if (!w)
			return;
		if (c->closing)
			wreq_complete(w, -ECANCELED, 0);
		else
			wreq_run(c, w);
	}
}

void cons_cancel_wreqs(struct cons *c)
{
	pthread_mutex_lock(&c->lock);
	struct wreq *w = c->wq_head;
	c->wq_head = c->wq_tail = NULL;
	while (w) {
		struct wreq *next = w->next;
		w->status = -ECANCELED;
		w->done = true;
		pthread_cond_signal(&w->cond);
		wreq_put(w);
		w = next;
	}
	pthread_mutex_unlock(&c->lock);
}

static int wreq_call(struct cons *c, struct wreq *w, unsigned timeout_ms, int64_t *result)
{
	struct timespec ts;
	int rc = 0;

	if (cons_on_loop(c)) {
		free(w->blob);
		free(w);
		return -EDEADLK;
	}
	w->c = c;
	w->lock = &c->lock;
	w->refs = 2;
	cond_init_monotonic(&w->cond);
	clock_gettime(CLOCK_MONOTONIC, &ts);
	timeout_ms = timeout_ms ? timeout_ms : 10000;
	ts.tv_sec += timeout_ms / 1000;
	ts.tv_nsec += (long)(timeout_ms % 1000) * 1000000;
	if (ts.tv_nsec >= 1000000000) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000;
	}
	pthread_mutex_lock(&c->lock);
	if (c->closing) {
		pthread_mutex_unlock(&c->lock);
		pthread_cond_destroy(&w->cond);
		free(w->blob);
		free(w);
		return -ECANCELED;
	}
	if (c->wq_tail)
		c->wq_tail->next = w;
	else
		c->wq_head = w;
	c->wq_tail = w;
	uv_async_send(&c->async);
	while (!w->done && rc == 0)
		rc = pthread_cond_timedwait(&w->cond, &c->lock, &ts);
	if (w->done) {
		rc = w->status;
		if (result)
			*result = w->result;
	} else {
		rc = -ETIMEDOUT;
	}
	wreq_put(w);
	pthread_mutex_unlock(&c->lock);
	return rc;
}

int cons_propose_wait(struct cons *c, const struct cons_cmd *cmd, unsigned timeout_ms,
		      int64_t *result)
{
	struct wreq *w = calloc(1, sizeof(*w));
	if (result)
		*result = 0;
	if (!w)
		return -ENOMEM;
	w->kind = W_PROPOSE;
	w->cmd = *cmd;
	if ((cmd->type == CONS_CMD_CCD_RESTORE || cmd->type == CONS_CMD_CCD_BATCH) &&
	    cmd->u.blob.len) {
		if (cmd->u.blob.len > CONS_CCD_BLOB_MAX) {
			free(w);
			return -EINVAL;
		}
		w->blob = malloc(cmd->u.blob.len);
		if (!w->blob) {
			free(w);
			return -ENOMEM;
		}
		memcpy(w->blob, cmd->u.blob.data, cmd->u.blob.len);
		w->cmd.u.blob.data = w->blob;
	}
	return wreq_call(c, w, timeout_ms, result);
}

int cons_barrier_wait(struct cons *c, unsigned timeout_ms)
{
	struct wreq *w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	w->kind = W_BARRIER;
	return wreq_call(c, w, timeout_ms, NULL);
}

int cons_member_add_wait(struct cons *c, uint64_t id, const char *address, unsigned timeout_ms)
{
	struct wreq *w;
	if (!address || strlen(address) >= CONS_ADDR_MAX)
		return -EINVAL;
	w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	w->kind = W_ADD;
	w->id = id;
	strcpy(w->address, address);
	return wreq_call(c, w, timeout_ms, NULL);
}

int cons_member_remove_wait(struct cons *c, uint64_t id, unsigned timeout_ms)
{
	struct wreq *w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	w->kind = W_REMOVE;
	w->id = id;
	return wreq_call(c, w, timeout_ms, NULL);
}

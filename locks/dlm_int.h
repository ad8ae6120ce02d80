/* Private state of a DLM lockspace, shared by dlm_ls.c (owner and master
 * sides) and dlm_recover.c (membership changes). Everything here is protected
 * by dlm_ls.mu unless said otherwise. */
#ifndef SANFS_LOCKS_DLM_INT_H
#define SANFS_LOCKS_DLM_INT_H

#include <pthread.h>
#include <stdbool.h>

#include "locks/dlm.h"
#include "locks/dlm_htab.h"

/* Owner-side lock states.
 *
 *   state          meaning                                  leaves on
 *   REQ_WAIT       REQUEST sent, no answer yet              GRANT, REPLY(err)
 *   GRANTED        held in grmode over grrange              dlm_convert, dlm_unlock
 *   CONV_WAIT      CONVERT sent, still holds grmode         GRANT, REPLY(err)
 *   UNLOCK_WAIT    UNLOCK sent                              REPLY(0)
 *   RESEND_REQ     recovery running: REQUEST goes out after  recovery done
 *   RESEND_CONV    recovery running: CONVERT goes out after  recovery done
 *   RESEND_UNLOCK  recovery running: UNLOCK goes out after   recovery done
 *   CANCEL_REQ     REQ_WAIT, then CANCEL sent               REPLY(CANCEL)
 *   CANCEL_CONV    CONV_WAIT, then CANCEL sent              REPLY(CANCEL)
 *
 * While a cancel is out, the answer to the request or conversion itself
 * (GRANT or REPLY(err)) may still come, sent before the master saw the
 * CANCEL; it is recorded (cgranted, cerr) and decides the outcome when the
 * master's REPLY(CANCEL) says nothing was waiting any more.
 *
 * At a membership change, GRANTED, CONV_WAIT, RESEND_CONV and CANCEL_CONV
 * locks are re-declared at their granted mode; REQ_WAIT becomes RESEND_REQ;
 * UNLOCK_WAIT, RESEND_UNLOCK and CANCEL_REQ locks are not re-declared, so
 * they are released (a cancel then ends with -ECANCELED at once). */
enum clk_state {
	CLK_REQ_WAIT,
	CLK_GRANTED,
	CLK_CONV_WAIT,
	CLK_UNLOCK_WAIT,
	CLK_RESEND_REQ,
	CLK_RESEND_CONV,
	CLK_RESEND_UNLOCK,
	CLK_CANCEL_REQ,
	CLK_CANCEL_CONV
};

struct dlm_clk {
	struct dlm_hnode h; /* key: lkid */
	uint64_t lkid;
	struct dlm_resname name;
	uint64_t hash;
	enum clk_state state;
	enum dlm_mode grmode, rqmode;
	struct dlm_range grrange, rqrange;
	uint32_t flags;
	dlm_bast_fn bast;
	void *bast_arg;
	bool done; /* the current operation finished; result in `result` */
	int result;
	bool unlinked; /* no longer in the owner table: the waiter frees it */
	/* CANCEL_*: what the master answered before it saw the CANCEL. */
	bool cgranted;
	int cresult, cerr;
	enum dlm_mode cmode;
	struct dlm_range crange;
};

/* A resource this node masters. */
struct dlm_mres {
	struct dlm_hnode h; /* key: name hash */
	struct dlm_resname name;
	struct dlm_rsb rsb;
	struct dlm_ls *ls;
};

/* The master's copy of one lock. */
struct dlm_mlk {
	struct dlm_hnode h; /* key: lkid */
	struct dlm_lock lk; /* lk.node = owner, lk.lkid */
	struct dlm_mres *res;
	bool dead; /* the owner left the cluster; kept until dlm_ls_node_recovered */
};

/* A node that left and whose locks are held until it is recovered. */
struct dlm_dead {
	uint32_t node;
	uint32_t *members; /* the member list when it left: who mastered what */
	size_t n;
};

struct dlm_msgq_item {
	struct dlm_msgq_item *next;
	struct dlm_msg m;
};

struct dlm_msgq {
	struct dlm_msgq_item *head, *tail;
};

struct dlm_cb {
	struct dlm_cb *next;
	dlm_bast_fn fn;
	void *arg;
	uint64_t lkid;
	enum dlm_mode mode;
};

struct dlm_ls {
	pthread_mutex_t mu;
	pthread_cond_t cond; /* waiters of owner operations */
	uint32_t self;
	struct dlm_ls_ops ops;
	uint64_t next_lkid;

	uint64_t epoch;
	uint32_t *members;
	size_t nmembers;
	bool recovering;
	uint32_t *done_from; /* members whose RECOVER_DONE arrived this epoch */
	size_t ndone;
	struct dlm_dead *dead;
	size_t ndead;

	struct dlm_htab owned;	 /* struct dlm_clk by lkid */
	struct dlm_htab mres;	 /* struct dlm_mres by name hash */
	struct dlm_htab mlks;	 /* struct dlm_mlk by lkid */
	struct dlm_msgq selfq;	 /* messages to this node, handled by pump() */
	struct dlm_msgq later;	 /* owner requests that arrived while recovering */
	struct dlm_msgq blocked; /* requests on resources a dead master blocks */
	struct dlm_msgq future;	 /* messages of an epoch not applied here yet */

	/* Callback thread (DESIGN §5: callouts never on the loop thread). */
	pthread_t cb_thread;
	pthread_cond_t cb_cond;
	struct dlm_cb *cb_head, *cb_tail;
	bool stopping;

	/* POSIX record locks (dlm_plock.c). */
	struct dlm_htab plres;	/* struct dlm_plres (master) by name hash */
	struct dlm_htab plown;	/* struct dlm_plown (this node's own) by name hash */
	struct dlm_plop *plops; /* this node's requests awaiting a reply */

	struct dlm_ls_stats stats;
};

/* dlm_ls.c */
uint64_t dlm_resname_hash(const struct dlm_resname *n);
bool dlm_resname_eq(const struct dlm_resname *a, const struct dlm_resname *b);
uint32_t dlm_ls_master(const struct dlm_ls *ls, uint64_t hash);
bool dlm_ls_is_member(const struct dlm_ls *ls, uint32_t node);
void dlm_ls_post(struct dlm_ls *ls, uint32_t to, struct dlm_msg *m);
void dlm_ls_pump(struct dlm_ls *ls);
void dlm_ls_handle(struct dlm_ls *ls, const struct dlm_msg *m);
struct dlm_mres *dlm_mres_get(struct dlm_ls *ls, const struct dlm_resname *name, uint64_t hash,
			      bool create);
void dlm_mres_put_if_empty(struct dlm_ls *ls, struct dlm_mres *r);
void dlm_mlk_free(struct dlm_ls *ls, struct dlm_mlk *ml);
void dlm_msgq_push(struct dlm_msgq *q, const struct dlm_msg *m);
bool dlm_msgq_pop(struct dlm_msgq *q, struct dlm_msg *m);
void dlm_msgq_clear(struct dlm_msgq *q);
void dlm_ls_replay(struct dlm_ls *ls, struct dlm_msgq *q);
bool dlm_ls_blocked(const struct dlm_ls *ls, uint64_t hash);

void dlm_clk_finish(struct dlm_ls *ls, struct dlm_clk *c, int result, bool unlink);
/* A cancelled conversion: granted as before, asking for nothing else. */
static inline void dlm_clk_unconvert(struct dlm_clk *c)
{
	c->state = CLK_GRANTED;
	c->rqmode = c->grmode;
	c->rqrange = c->grrange;
}
void dlm_clk_send(struct dlm_ls *ls, struct dlm_clk *c, enum dlm_msg_type type);

/* dlm_plock.c */
struct dlm_plop;
int dlm_plock_init(struct dlm_ls *ls);
void dlm_plock_free(struct dlm_ls *ls);
void dlm_plock_handle(struct dlm_ls *ls, const struct dlm_msg *m, uint64_t hash);
void dlm_plock_reply_err(struct dlm_ls *ls, const struct dlm_msg *req, int err);
void dlm_plock_owner_reply(struct dlm_ls *ls, const struct dlm_msg *m);
void dlm_plock_recover_lock(struct dlm_ls *ls, const struct dlm_msg *m);
void dlm_plock_recover_start(struct dlm_ls *ls);
void dlm_plock_recover_finish(struct dlm_ls *ls);
void dlm_plock_node_recovered(struct dlm_ls *ls, uint32_t node);
bool dlm_dead_pending(const struct dlm_ls *ls, uint32_t node);

/* dlm_recover.c */
void dlm_recover_done_from(struct dlm_ls *ls, uint32_t node);
void dlm_recover_lock(struct dlm_ls *ls, const struct dlm_msg *m);

#endif

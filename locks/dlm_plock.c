/* Cluster-wide POSIX record locks over the DLM's messages and recovery (see
 * dlm.h). The master of a file's POSIX resource keeps its lock table and a
 * FIFO of blocked requests, retried after every change; owners keep a copy of
 * their own locks for recovery. All under the lockspace mutex. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "locks/dlm_int.h"
#include "locks/posix_lock.h"

#define container_of(p, type, member) ((type *)((char *)(p)-offsetof(type, member)))

/* A blocked request at the master. */
struct dlm_pwait {
	struct dlm_pwait *next;
	struct dlm_msg m; /* the PLOCK request as received */
};

struct dlm_plres {
	struct dlm_hnode h;
	struct dlm_resname name;
	struct posix_lock_table tbl;
	struct dlm_pwait *waiters;
};

struct dlm_plown {
	struct dlm_hnode h;
	struct dlm_resname name;
	struct posix_lock_table tbl;
};

/* An owner-side request awaiting its reply. */
struct dlm_plop {
	struct dlm_plop *next;
	struct dlm_resname name;
	uint64_t hash;
	struct dlm_plock pl;
	uint32_t flags; /* NOQUEUE (no wait), DLM_PLF_GET */
	bool resend;	/* recovery running: send when it is done */
	bool done;
	int result;
	struct dlm_msg reply;
};

static struct dlm_resname pl_name(uint64_t fs, uint64_t ino)
{
	return (struct dlm_resname){.fs = fs, .id = ino, .type = DLM_RES_POSIX};
}

static enum dlm_mode type_to_mode(int type)
{
	return type == POSIX_LOCK_WR ? DLM_EX : type == POSIX_LOCK_RD ? DLM_PR : DLM_NL;
}

static int mode_to_type(enum dlm_mode m)
{
	return m == DLM_EX ? POSIX_LOCK_WR : m == DLM_PR ? POSIX_LOCK_RD : POSIX_LOCK_UN;
}

static struct posix_lock msg_lock(const struct dlm_msg *m, uint32_t node)
{
	return (struct posix_lock){.who = {node, m->lkid},
				   .type = (enum posix_lock_type)mode_to_type(m->mode),
				   .start = m->range.start,
				   .end = m->range.end,
				   .pid = m->pid};
}

int dlm_plock_init(struct dlm_ls *ls)
{
	if (dlm_htab_init(&ls->plres) < 0)
		return -ENOMEM;
	if (dlm_htab_init(&ls->plown) < 0) {
		dlm_htab_free(&ls->plres);
		return -ENOMEM;
	}
	return 0;
}

static void plres_free(struct dlm_ls *ls, struct dlm_plres *r)
{
	dlm_htab_remove(&ls->plres, &r->h);
	while (r->waiters) {
		struct dlm_pwait *w = r->waiters;
		r->waiters = w->next;
		free(w);
	}
	posix_lock_table_free(&r->tbl);
	free(r);
}

void dlm_plock_free(struct dlm_ls *ls)
{
	dlm_htab_foreach(&ls->plres, i, n, nx) plres_free(ls, container_of(n, struct dlm_plres, h));
	dlm_htab_foreach(&ls->plown, i, n, nx)
	{
		struct dlm_plown *o = container_of(n, struct dlm_plown, h);
		posix_lock_table_free(&o->tbl);
		free(o);
	}
	while (ls->plops) {
		struct dlm_plop *op = ls->plops;
		ls->plops = op->next;
		free(op);
	}
	dlm_htab_free(&ls->plres);
	dlm_htab_free(&ls->plown);
}

static struct dlm_plres *plres_get(struct dlm_ls *ls, const struct dlm_resname *name, uint64_t hash,
				   bool create)
{
	for (struct dlm_hnode *n = dlm_htab_first(&ls->plres, hash); n; n = dlm_htab_next_same(n)) {
		struct dlm_plres *r = container_of(n, struct dlm_plres, h);
		if (dlm_resname_eq(&r->name, name))
			return r;
	}
	if (!create)
		return NULL;
	struct dlm_plres *r = calloc(1, sizeof(*r));
	if (!r)
		return NULL;
	r->name = *name;
	posix_lock_table_init(&r->tbl);
	dlm_htab_insert(&ls->plres, &r->h, hash);
	return r;
}

static struct dlm_plown *plown_get(struct dlm_ls *ls, const struct dlm_resname *name, uint64_t hash,
				   bool create)
{
	for (struct dlm_hnode *n = dlm_htab_first(&ls->plown, hash); n; n = dlm_htab_next_same(n)) {
		struct dlm_plown *o = container_of(n, struct dlm_plown, h);
		if (dlm_resname_eq(&o->name, name))
			return o;
	}
	if (!create)
		return NULL;
	struct dlm_plown *o = calloc(1, sizeof(*o));
	if (!o)
		return NULL;
	o->name = *name;
	posix_lock_table_init(&o->tbl);
	dlm_htab_insert(&ls->plown, &o->h, hash);
	return o;
}

/* ---- master side ---- */

static void pl_reply(struct dlm_ls *ls, const struct dlm_msg *req, int err,
		     const struct posix_lock *conflict)
{
	struct dlm_msg m = {.type = DLM_MSG_PLOCK_REPLY,
			    .lkid = req->lkid,
			    .name = req->name,
			    .mode = req->mode,
			    .range = req->range,
			    .flags = req->flags & (DLM_LKF_NOQUEUE | DLM_PLF_GET),
			    .error = err};
	if (conflict) {
		m.mode = type_to_mode(conflict->type);
		m.range = (struct dlm_range){conflict->start, conflict->end};
		m.pid = conflict->pid;
		m.owner = conflict->who.node;
	} else if (req->flags & DLM_PLF_GET) {
		m.mode = DLM_NL; /* nothing conflicts */
	}
	dlm_ls_post(ls, req->from, &m);
}

void dlm_plock_reply_err(struct dlm_ls *ls, const struct dlm_msg *req, int err)
{
	pl_reply(ls, req, err, NULL);
}

/* Retry the blocked requests in order after a change. */
static void retry_waiters(struct dlm_ls *ls, struct dlm_plres *r)
{
	struct dlm_pwait **pp = &r->waiters;
	while (*pp) {
		struct dlm_pwait *w = *pp;
		struct posix_lock want = msg_lock(&w->m, w->m.from);
		if (posix_lock_set(&r->tbl, &want) == 0) {
			*pp = w->next;
			pl_reply(ls, &w->m, 0, NULL);
			free(w);
			continue;
		}
		pp = &w->next;
	}
}

static void plres_put_if_empty(struct dlm_ls *ls, struct dlm_plres *r)
{
	if (!r->tbl.count && !r->waiters)
		plres_free(ls, r);
}

void dlm_plock_handle(struct dlm_ls *ls, const struct dlm_msg *m, uint64_t hash)
{
	struct dlm_plres *r = plres_get(ls, &m->name, hash, m->type == DLM_MSG_PLOCK);
	if (m->type == DLM_MSG_PLOCK_CANCEL) {
		if (!r)
			return;
		for (struct dlm_pwait **pp = &r->waiters; *pp; pp = &(*pp)->next) {
			struct dlm_pwait *w = *pp;
			if (w->m.from == m->from && w->m.lkid == m->lkid) {
				*pp = w->next;
				pl_reply(ls, &w->m, -EINTR, NULL);
				free(w);
				break;
			}
		}
		plres_put_if_empty(ls, r);
		return;
	}
	if (m->type == DLM_MSG_PLOCK_GET) {
		struct posix_lock want = msg_lock(m, m->from), conflict;
		if (want.type == POSIX_LOCK_UN) {
			pl_reply(ls, m, -EINVAL, NULL);
			return;
		}
		bool found = r && posix_lock_test(&r->tbl, &want, &conflict) == 1;
		pl_reply(ls, m, 0, found ? &conflict : NULL);
		return;
	}
	if (!r) {
		pl_reply(ls, m, -ENOMEM, NULL);
		return;
	}
	struct posix_lock want = msg_lock(m, m->from);
	int rc = posix_lock_set(&r->tbl, &want);
	if (rc == -EAGAIN && !(m->flags & DLM_LKF_NOQUEUE)) {
		struct dlm_pwait *w = calloc(1, sizeof(*w));
		if (!w) {
			pl_reply(ls, m, -ENOMEM, NULL);
			return;
		}
		w->m = *m;
		struct dlm_pwait **pp = &r->waiters;
		while (*pp)
			pp = &(*pp)->next;
		*pp = w;
		return;
	}
	pl_reply(ls, m, rc, NULL);
	if (rc == 0)
		retry_waiters(ls, r); /* an unlock or a downgrade may let others in */
	plres_put_if_empty(ls, r);
}

void dlm_plock_recover_lock(struct dlm_ls *ls, const struct dlm_msg *m)
{
	uint64_t hash = dlm_resname_hash(&m->name);
	struct dlm_plres *r = plres_get(ls, &m->name, hash, true);
	if (!r) {
		log_error("dlm", "out of memory in POSIX lock recovery");
		return;
	}
	struct posix_lock l = msg_lock(m, m->owner);
	if (l.type == POSIX_LOCK_UN || posix_lock_set(&r->tbl, &l) < 0)
		log_error("dlm", "recovery: POSIX lock of n%u on %llu conflicts: dropped", m->owner,
			  (unsigned long long)m->name.id);
}

/* ---- recovery ---- */

static void send_own_locks(struct dlm_ls *ls)
{
	dlm_htab_foreach(&ls->plown, i, n, nx)
	{
		struct dlm_plown *o = container_of(n, struct dlm_plown, h);
		uint32_t master = dlm_ls_master(ls, n->key);
		for (size_t k = 0; k < o->tbl.count; k++) {
			const struct posix_lock *l = &o->tbl.locks[k];
			struct dlm_msg m = {.type = DLM_MSG_PLOCK_RECOVER,
					    .lkid = l->who.owner,
					    .name = o->name,
					    .mode = type_to_mode(l->type),
					    .range = {l->start, l->end},
					    .pid = l->pid,
					    .owner = ls->self};
			dlm_ls_post(ls, master, &m);
		}
	}
}

void dlm_plock_recover_start(struct dlm_ls *ls)
{
	/* Masters keep the departed nodes' locks only (handing them over when
	 * the resource moved); live nodes re-declare theirs, waiters re-send. */
	dlm_htab_foreach(&ls->plres, i, n, nx)
	{
		struct dlm_plres *r = container_of(n, struct dlm_plres, h);
		uint32_t master = dlm_ls_master(ls, n->key);
		while (r->waiters) {
			struct dlm_pwait *w = r->waiters;
			r->waiters = w->next;
			free(w);
		}
		size_t keep = 0;
		for (size_t k = 0; k < r->tbl.count; k++) {
			const struct posix_lock *l = &r->tbl.locks[k];
			if (!dlm_dead_pending(ls, l->who.node))
				continue;
			if (master == ls->self) {
				r->tbl.locks[keep++] = *l;
				continue;
			}
			struct dlm_msg m = {.type = DLM_MSG_PLOCK_RECOVER,
					    .lkid = l->who.owner,
					    .name = r->name,
					    .mode = type_to_mode(l->type),
					    .range = {l->start, l->end},
					    .pid = l->pid,
					    .owner = l->who.node};
			dlm_ls_post(ls, master, &m);
		}
		r->tbl.count = keep;
		plres_put_if_empty(ls, r);
	}
	send_own_locks(ls);
	for (struct dlm_plop *op = ls->plops; op; op = op->next)
		op->resend = true;
}

static void plop_send(struct dlm_ls *ls, struct dlm_plop *op)
{
	struct dlm_msg m = {.type = (op->flags & DLM_PLF_GET) ? DLM_MSG_PLOCK_GET : DLM_MSG_PLOCK,
			    .lkid = op->pl.owner,
			    .name = op->name,
			    .mode = type_to_mode(op->pl.type),
			    .range = {op->pl.start, op->pl.end},
			    .pid = op->pl.pid,
			    .flags = op->flags};
	op->resend = false;
	dlm_ls_post(ls, dlm_ls_master(ls, op->hash), &m);
}

void dlm_plock_recover_finish(struct dlm_ls *ls)
{
	for (struct dlm_plop *op = ls->plops; op; op = op->next)
		if (op->resend)
			plop_send(ls, op);
}

void dlm_plock_node_recovered(struct dlm_ls *ls, uint32_t node)
{
	dlm_htab_foreach(&ls->plres, i, n, nx)
	{
		struct dlm_plres *r = container_of(n, struct dlm_plres, h);
		if (posix_lock_drop_node(&r->tbl, node))
			retry_waiters(ls, r);
		plres_put_if_empty(ls, r);
	}
}

/* ---- owner side ---- */

void dlm_plock_owner_reply(struct dlm_ls *ls, const struct dlm_msg *m)
{
	uint32_t kind = m->flags & (DLM_LKF_NOQUEUE | DLM_PLF_GET);
	for (struct dlm_plop **pp = &ls->plops; *pp; pp = &(*pp)->next) {
		struct dlm_plop *op = *pp;
		if (op->done || op->resend || op->pl.owner != m->lkid || op->flags != kind ||
		    !dlm_resname_eq(&op->name, &m->name))
			continue;
		*pp = op->next;
		op->done = true;
		op->result = m->error;
		op->reply = *m;
		if (m->error == 0 && !(kind & DLM_PLF_GET)) {
			struct dlm_plown *o = plown_get(ls, &op->name, op->hash, true);
			struct posix_lock l = {.who = {ls->self, op->pl.owner},
					       .type = (enum posix_lock_type)op->pl.type,
					       .start = op->pl.start,
					       .end = op->pl.end,
					       .pid = op->pl.pid};
			/* Our own copy never conflicts (one owner node). */
			if (!o || posix_lock_set(&o->tbl, &l) < 0)
				log_error("dlm", "cannot record own POSIX lock on %llu",
					  (unsigned long long)op->name.id);
		}
		pthread_cond_broadcast(&ls->cond);
		return;
	}
	log_debug("dlm", "PLOCK_REPLY for no request of owner %#llx: dropped",
		  (unsigned long long)m->lkid);
}

static bool plock_valid(const struct dlm_plock *pl)
{
	return pl && pl->start <= pl->end &&
	       (pl->type == POSIX_LOCK_RD || pl->type == POSIX_LOCK_WR ||
		pl->type == POSIX_LOCK_UN);
}

static int plock_call(struct dlm_ls *ls, const struct dlm_plock *pl, uint32_t flags,
		      struct dlm_msg *reply)
{
	struct dlm_plop *op = calloc(1, sizeof(*op));
	if (!op)
		return -ENOMEM;
	op->name = pl_name(pl->fs, pl->ino);
	op->hash = dlm_resname_hash(&op->name);
	op->pl = *pl;
	op->flags = flags;
	pthread_mutex_lock(&ls->mu);
	op->next = ls->plops;
	ls->plops = op;
	if (ls->recovering)
		op->resend = true;
	else
		plop_send(ls, op);
	dlm_ls_pump(ls);
	while (!op->done)
		pthread_cond_wait(&ls->cond, &ls->mu);
	int rc = op->result;
	if (reply)
		*reply = op->reply;
	pthread_mutex_unlock(&ls->mu);
	free(op);
	return rc;
}

int dlm_plock_set(struct dlm_ls *ls, const struct dlm_plock *pl, bool wait)
{
	if (!ls || !plock_valid(pl))
		return -EINVAL;
	return plock_call(ls, pl, wait ? 0 : DLM_LKF_NOQUEUE, NULL);
}

int dlm_plock_get(struct dlm_ls *ls, const struct dlm_plock *pl, struct dlm_plock *conflict)
{
	if (!ls || !conflict || !plock_valid(pl) || pl->type == POSIX_LOCK_UN)
		return -EINVAL;
	struct dlm_msg r;
	int rc = plock_call(ls, pl, DLM_PLF_GET, &r);
	if (rc < 0)
		return rc;
	*conflict = (struct dlm_plock){.fs = pl->fs,
				       .ino = pl->ino,
				       .owner = 0,
				       .pid = r.pid,
				       .node = r.owner,
				       .type = mode_to_type(r.mode),
				       .start = r.range.start,
				       .end = r.range.end};
	return 0;
}

int dlm_plock_cancel(struct dlm_ls *ls, uint64_t fs, uint64_t ino, uint64_t owner)
{
	if (!ls)
		return -EINVAL;
	struct dlm_resname name = pl_name(fs, ino);
	uint64_t hash = dlm_resname_hash(&name);
	pthread_mutex_lock(&ls->mu);
	int rc = -ENOENT;
	for (struct dlm_plop *op = ls->plops; op; op = op->next) {
		if (op->done || op->pl.owner != owner || op->flags != 0 ||
		    !dlm_resname_eq(&op->name, &name))
			continue;
		rc = 0;
		if (op->resend) { /* never sent: finish it here */
			struct dlm_plop **pp = &ls->plops;
			while (*pp != op)
				pp = &(*pp)->next;
			*pp = op->next;
			op->done = true;
			op->result = -EINTR;
			pthread_cond_broadcast(&ls->cond);
		} else {
			struct dlm_msg m = {
			    .type = DLM_MSG_PLOCK_CANCEL, .lkid = owner, .name = name};
			dlm_ls_post(ls, dlm_ls_master(ls, hash), &m);
			dlm_ls_pump(ls);
		}
		break;
	}
	pthread_mutex_unlock(&ls->mu);
	return rc;
}

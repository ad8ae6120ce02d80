/* DLM recovery on membership changes; the steps are numbered in dlm.h. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "locks/dlm_int.h"
#include "locks/dlm_master.h"

#define container_of(p, type, member) ((type *)((char *)(p)-offsetof(type, member)))

static bool in_list(const uint32_t *list, size_t n, uint32_t node)
{
	for (size_t i = 0; i < n; i++)
		if (list[i] == node)
			return true;
	return false;
}

bool dlm_dead_pending(const struct dlm_ls *ls, uint32_t node)
{
	for (size_t i = 0; i < ls->ndead; i++)
		if (ls->dead[i].node == node)
			return true;
	return false;
}

static int add_dead(struct dlm_ls *ls, uint32_t node)
{
	if (dlm_dead_pending(ls, node))
		return 0; /* left again before it was recovered: the first record stands */
	struct dlm_dead *d = realloc(ls->dead, (ls->ndead + 1) * sizeof(*d));
	if (!d)
		return -ENOMEM;
	ls->dead = d;
	uint32_t *mem = malloc(ls->nmembers * sizeof(*mem));
	if (!mem)
		return -ENOMEM;
	memcpy(mem, ls->members, ls->nmembers * sizeof(*mem));
	ls->dead[ls->ndead++] = (struct dlm_dead){node, mem, ls->nmembers};
	return 0;
}

/* Step 3 for one resource this node mastered. */
static void rebuild_mastered(struct dlm_ls *ls, struct dlm_mres *r, uint64_t hash)
{
	uint32_t new_master = dlm_ls_master(ls, hash);
	struct dlm_lock *qs[3] = {r->rsb.granted.head, r->rsb.convert.head, r->rsb.wait.head};
	struct dlm_mlk **keep = NULL;
	size_t nkeep = 0, cap = 0;
	for (int q = 0; q < 3; q++) {
		for (struct dlm_lock *lk = qs[q]; lk;) {
			struct dlm_lock *next = lk->next;
			struct dlm_mlk *ml = container_of(lk, struct dlm_mlk, lk);
			bool held = lk->queue == DLM_Q_GRANTED || lk->queue == DLM_Q_CONVERT;
			if (ml->dead && held) {
				if (nkeep == cap) {
					cap = cap ? cap * 2 : 8;
					struct dlm_mlk **k = realloc(keep, cap * sizeof(*k));
					if (!k) {
						log_error("dlm", "out of memory in recovery");
						break;
					}
					keep = k;
				}
				keep[nkeep++] = ml;
			} else {
				dlm_mlk_free(ls, ml);
			}
			lk = next;
		}
	}
	struct dlm_rsb_ops ops = r->rsb.ops;
	dlm_rsb_init(&r->rsb, &ops);
	for (size_t i = 0; i < nkeep; i++) {
		struct dlm_mlk *ml = keep[i];
		ml->lk.prev = ml->lk.next = NULL;
		ml->lk.queue = DLM_Q_NONE;
		if (new_master == ls->self) {
			if (dlm_rsb_restore_granted(&r->rsb, &ml->lk) < 0)
				log_error("dlm", "recovery: lock %#llx of n%u conflicts: dropped",
					  (unsigned long long)ml->lk.lkid, ml->lk.node);
			else
				continue;
		} else {
			/* Hand the departed node's lock to the new master. */
			struct dlm_msg m = {.type = DLM_MSG_RECOVER_LOCK,
					    .lkid = ml->lk.lkid,
					    .name = r->name,
					    .mode = ml->lk.grmode,
					    .range = ml->lk.grrange,
					    .owner = ml->lk.node};
			dlm_ls_post(ls, new_master, &m);
		}
		dlm_mlk_free(ls, ml);
	}
	free(keep);
	dlm_mres_put_if_empty(ls, r);
}

int dlm_ls_set_members(struct dlm_ls *ls, uint64_t epoch, const uint32_t *members, size_t n)
{
	if (!ls || !members || !n)
		return -EINVAL;
	uint32_t *mem = malloc(n * sizeof(*mem));
	uint32_t *done = calloc(n, sizeof(*done));
	if (!mem || !done) {
		free(mem);
		free(done);
		return -ENOMEM;
	}
	memcpy(mem, members, n * sizeof(*mem));
	pthread_mutex_lock(&ls->mu);
	if (epoch <= ls->epoch || !in_list(members, n, ls->self)) {
		pthread_mutex_unlock(&ls->mu);
		free(mem);
		free(done);
		return -EINVAL;
	}
	/* Who left: their locks stay until recovered (mark them). */
	for (size_t i = 0; i < ls->nmembers; i++) {
		uint32_t node = ls->members[i];
		if (in_list(members, n, node))
			continue;
		if (add_dead(ls, node) < 0)
			log_error("dlm", "out of memory recording departed n%u", node);
		dlm_htab_foreach(&ls->mlks, b, hn, nx)
		{
			struct dlm_mlk *ml = container_of(hn, struct dlm_mlk, h);
			if (ml->lk.node == node)
				ml->dead = true;
		}
	}
	/* Step 1 and 2: stop granting, new masters. */
	free(ls->members);
	ls->members = mem;
	ls->nmembers = n;
	free(ls->done_from);
	ls->done_from = done;
	ls->ndone = 0;
	ls->epoch = epoch;
	ls->recovering = true;
	dlm_msgq_clear(&ls->later); /* older epoch: their senders re-send */
	dlm_msgq_clear(&ls->selfq);
	/* Step 3: masters keep only the departed nodes' locks. */
	dlm_htab_foreach(&ls->mres, b, hn, nx)
	{
		struct dlm_mres *r = container_of(hn, struct dlm_mres, h);
		rebuild_mastered(ls, r, hn->key);
	}
	/* Blocked requests were from the older epoch too. */
	dlm_msgq_clear(&ls->blocked);
	/* The same for POSIX record locks, which also re-declares ours. */
	dlm_plock_recover_start(ls);
	/* Step 4: re-declare what this node holds. */
	dlm_htab_foreach(&ls->owned, b, hn, nx)
	{
		struct dlm_clk *c = container_of(hn, struct dlm_clk, h);
		switch (c->state) {
		case CLK_GRANTED:
		case CLK_CONV_WAIT:
		case CLK_RESEND_CONV:
		case CLK_CANCEL_CONV: {
			struct dlm_msg m = {.type = DLM_MSG_RECOVER_LOCK,
					    .lkid = c->lkid,
					    .name = c->name,
					    .mode = c->grmode,
					    .range = c->grrange,
					    .owner = ls->self};
			dlm_ls_post(ls, dlm_ls_master(ls, c->hash), &m);
			if (c->state == CLK_CONV_WAIT)
				c->state = CLK_RESEND_CONV;
			if (c->state == CLK_CANCEL_CONV) { /* re-declared as it was */
				dlm_clk_unconvert(c);
				dlm_clk_finish(ls, c, -ECANCELED, false);
			}
			break;
		}
		case CLK_REQ_WAIT:
			c->state = CLK_RESEND_REQ;
			break;
		case CLK_UNLOCK_WAIT:
		case CLK_RESEND_UNLOCK:
			dlm_clk_finish(ls, c, 0, true);
			break;
		case CLK_RESEND_REQ:
			break;
		case CLK_CANCEL_REQ: /* not re-declared: gone at the master */
			dlm_clk_finish(ls, c, -ECANCELED, true);
			break;
		}
	}
	for (size_t i = 0; i < n; i++) {
		struct dlm_msg m = {.type = DLM_MSG_RECOVER_DONE};
		dlm_ls_post(ls, members[i], &m);
	}
	log_info("dlm", "epoch %llu: recovery started with %zu members", (unsigned long long)epoch,
		 n);
	/* Messages of this epoch that came early. */
	dlm_ls_replay(ls, &ls->future);
	dlm_ls_pump(ls);
	pthread_mutex_unlock(&ls->mu);
	return 0;
}

void dlm_recover_lock(struct dlm_ls *ls, const struct dlm_msg *m)
{
	uint64_t hash = dlm_resname_hash(&m->name);
	if (dlm_ls_master(ls, hash) != ls->self) {
		log_warn("dlm", "RECOVER_LOCK from n%u for a resource n%u masters: dropped",
			 m->from, dlm_ls_master(ls, hash));
		return;
	}
	struct dlm_mres *r = dlm_mres_get(ls, &m->name, hash, true);
	struct dlm_mlk *ml = calloc(1, sizeof(*ml));
	if (!r || !ml) {
		free(ml);
		log_error("dlm", "out of memory in recovery");
		return;
	}
	ml->lk.lkid = m->lkid;
	ml->lk.node = m->owner;
	ml->lk.grmode = m->mode;
	ml->lk.grrange = m->range;
	ml->res = r;
	ml->dead = !dlm_ls_is_member(ls, m->owner);
	if (dlm_rsb_restore_granted(&r->rsb, &ml->lk) < 0) {
		log_error("dlm", "recovery: lock %#llx of n%u conflicts with what is held: dropped",
			  (unsigned long long)m->lkid, m->owner);
		free(ml);
		dlm_mres_put_if_empty(ls, r);
		return;
	}
	dlm_htab_insert(&ls->mlks, &ml->h, m->lkid);
}

static void finish_recovery(struct dlm_ls *ls)
{
	ls->recovering = false;
	log_info("dlm", "epoch %llu: recovery done", (unsigned long long)ls->epoch);
	/* Step 5: grant again, then what waited. */
	dlm_htab_foreach(&ls->mres, b, hn, nx)
	{
		struct dlm_mres *r = container_of(hn, struct dlm_mres, h);
		if (!dlm_ls_blocked(ls, hn->key))
			dlm_rsb_grant_pending(&r->rsb);
	}
	dlm_ls_replay(ls, &ls->later);
	dlm_plock_recover_finish(ls);
	dlm_htab_foreach(&ls->owned, b, hn, nx)
	{
		struct dlm_clk *c = container_of(hn, struct dlm_clk, h);
		if (c->state == CLK_RESEND_REQ) {
			c->state = CLK_REQ_WAIT;
			dlm_clk_send(ls, c, DLM_MSG_REQUEST);
		} else if (c->state == CLK_RESEND_CONV) {
			c->state = CLK_CONV_WAIT;
			dlm_clk_send(ls, c, DLM_MSG_CONVERT);
		} else if (c->state == CLK_RESEND_UNLOCK) {
			c->state = CLK_UNLOCK_WAIT;
			dlm_clk_send(ls, c, DLM_MSG_UNLOCK);
		}
	}
}

void dlm_recover_done_from(struct dlm_ls *ls, uint32_t node)
{
	if (!ls->recovering || in_list(ls->done_from, ls->ndone, node))
		return;
	ls->done_from[ls->ndone++] = node;
	if (ls->ndone == ls->nmembers)
		finish_recovery(ls);
}

int dlm_ls_node_recovered(struct dlm_ls *ls, uint32_t node)
{
	if (!ls)
		return -EINVAL;
	pthread_mutex_lock(&ls->mu);
	size_t i = 0;
	while (i < ls->ndead && ls->dead[i].node != node)
		i++;
	if (i == ls->ndead) {
		pthread_mutex_unlock(&ls->mu);
		return -ENOENT;
	}
	free(ls->dead[i].members);
	ls->dead[i] = ls->dead[--ls->ndead];
	dlm_htab_foreach(&ls->mlks, b, hn, nx)
	{
		struct dlm_mlk *ml = container_of(hn, struct dlm_mlk, h);
		if (ml->dead && ml->lk.node == node) {
			struct dlm_mres *r = ml->res;
			dlm_rsb_remove(&r->rsb, &ml->lk);
			dlm_mlk_free(ls, ml);
			/* A resource may now be empty; freed below. */
		}
	}
	dlm_plock_node_recovered(ls, node);
	if (!ls->recovering) {
		dlm_htab_foreach(&ls->mres, b, hn, nx)
		{
			struct dlm_mres *r = container_of(hn, struct dlm_mres, h);
			if (!dlm_ls_blocked(ls, hn->key))
				dlm_rsb_grant_pending(&r->rsb);
			dlm_mres_put_if_empty(ls, r);
		}
		dlm_ls_replay(ls, &ls->blocked);
	}
	dlm_ls_pump(ls);
	pthread_mutex_unlock(&ls->mu);
	log_info("dlm", "n%u recovered: its locks are released", node);
	return 0;
}

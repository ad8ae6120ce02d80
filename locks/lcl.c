/* The lock caching layer (see lcl.h for the state table). One code path for
 * both modes: each resource is a FIFO reader/writer lock for local threads
 * (tickets), on top of a cluster lock that local mode holds forever and
 * cluster mode takes from the DLM, caches, and gives up on callbacks.
 *
 * Locking: each entry is protected by its hash bucket's mutex; DLM calls and
 * callouts run with no LCL mutex held (the entry is marked busy instead).
 * Lock order: bucket mutex, then lcl->mu (lkid map, LRU, revoke queue). */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/clock.h"
#include "common/log.h"
#include "locks/dlm.h"
#include "locks/dlm_htab.h"
#include "locks/lcl.h"

#define LCL_BUCKETS		      1024
#define container_of(p, type, member) ((type *)((char *)(p)-offsetof(type, member)))

enum cl_mode { CL_NONE = 0, CL_PR = LCL_PR, CL_EX = LCL_EX };

struct lcl_res {
	struct lcl_res *next; /* bucket chain */
	uint64_t id;
	unsigned users;	  /* holders, waiters, node pins, revokes in progress */
	unsigned readers; /* granted process-scope PR holders */
	bool writer;	  /* a process-scope EX holder */
	unsigned pins[3]; /* node-scope holders by mode */
	uint64_t next_ticket, serving;
	pthread_cond_t cond;

	enum cl_mode held;
	bool busy;		  /* a DLM call or callout for this entry is running */
	int wanted;		  /* a DLM mode another node wants; 0 when none */
	uint64_t lkid;		  /* DLM lock id while held (cluster mode) */
	struct dlm_hnode lk_node; /* in lcl->by_lkid while held */
	uint64_t granted_ns;
	struct lcl_res *lru_prev, *lru_next; /* while cached (users == 0, held) */
	bool on_lru;
};

struct lcl_bucket {
	pthread_mutex_t mu;
	struct lcl_res *head;
};

struct revoke {
	struct revoke *next;
	uint64_t lkid;
	int mode;	 /* DLM mode wanted elsewhere (DLM_EX: give it up); 0: re-check */
	uint64_t due_ns; /* not before (minimum hold time); 0: now */
};

struct lcl {
	struct lcl_bucket buckets[LCL_BUCKETS];
	struct lcl_callouts callouts[LCL_T_MAX];
	struct dlm_ls *ls; /* NULL in local mode */
	struct lcl_config cfg;

	pthread_mutex_t mu;
	struct dlm_htab by_lkid;
	struct lcl_res *lru_head, *lru_tail;
	size_t ncached;
	struct revoke *rq_head, *rq_tail;
	/* Callbacks that arrived before the lock id was known here: the DLM may
	 * call back as soon as it grants, before dlm_lock has returned to us. */
	struct revoke *early;
	pthread_cond_t rq_cond;
	bool stopping;
	pthread_t revoker;
	struct lcl_stats stats;
};

struct lcl_handle {
	struct lcl *lcl;
	struct lcl_res *res;
	enum lcl_mode mode;
};

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static bool res_valid(uint64_t res)
{
	unsigned t = LCL_RES_TYPE(res);
	return t >= LCL_T_SUPER && t < LCL_T_MAX;
}

static bool mode_valid(enum lcl_mode m)
{
	return m == LCL_PR || m == LCL_EX;
}

static struct lcl_bucket *bucket_of(struct lcl *lcl, uint64_t id)
{
	uint64_t h = id * 0x9E3779B97F4A7C15ull;
	return &lcl->buckets[(h >> 32) % LCL_BUCKETS];
}

static struct dlm_resname resname(const struct lcl *lcl, uint64_t id)
{
	return (struct dlm_resname){
	    .fs = lcl->cfg.fsid, .id = LCL_RES_NUM(id), .type = (uint8_t)LCL_RES_TYPE(id)};
}

/* ---- entries, LRU ---- */

static struct lcl_res *res_find(struct lcl_bucket *b, uint64_t id)
{
	struct lcl_res *r = b->head;
	while (r && r->id != id)
		r = r->next;
	return r;
}

static struct lcl_res *res_get(struct lcl *lcl, struct lcl_bucket *b, uint64_t id)
{
	struct lcl_res *r = res_find(b, id);
	if (r)
		return r;
	r = calloc(1, sizeof(*r));
	if (!r)
		return NULL;
	r->id = id;
	r->held = lcl->ls ? CL_NONE : CL_EX; /* local mode: always this node's */
	pthread_cond_init(&r->cond, NULL);
	r->next = b->head;
	b->head = r;
	return r;
}

static void lru_remove(struct lcl *lcl, struct lcl_res *r)
{
	if (!r->on_lru)
		return;
	if (r->lru_prev)
		r->lru_prev->lru_next = r->lru_next;
	else
		lcl->lru_head = r->lru_next;
	if (r->lru_next)
		r->lru_next->lru_prev = r->lru_prev;
	else
		lcl->lru_tail = r->lru_prev;
	r->lru_prev = r->lru_next = NULL;
	r->on_lru = false;
	lcl->ncached--;
}

/* Queue work for the revoke thread (lcl->mu held). */
static void revoke_push_at(struct lcl *lcl, uint64_t lkid, int mode, uint64_t due_ns)
{
	struct revoke *rv = malloc(sizeof(*rv));
	if (!rv) {
		log_error("lcl", "out of memory queueing a lock release");
		return;
	}
	*rv = (struct revoke){NULL, lkid, mode, due_ns};
	if (lcl->rq_tail)
		lcl->rq_tail->next = rv;
	else
		lcl->rq_head = rv;
	lcl->rq_tail = rv;
	pthread_cond_signal(&lcl->rq_cond);
}

static void revoke_push(struct lcl *lcl, uint64_t lkid, int mode)
{
	revoke_push_at(lcl, lkid, mode, 0);
}

static bool res_in_use(const struct lcl_res *r)
{
	return r->busy || r->readers || r->writer || r->pins[LCL_PR] || r->pins[LCL_EX];
}

/* Called (bucket mutex held) whenever r may have become idle: if another node
 * waits for it, hand it to the revoke thread. Never waits itself, so no
 * thread ever blocks on a busy entry while holding up other releases. */
static void maybe_revoke(struct lcl *lcl, struct lcl_res *r)
{
	if (!lcl->ls || !r->wanted || r->held == CL_NONE || res_in_use(r))
		return;
	pthread_mutex_lock(&lcl->mu);
	revoke_push(lcl, r->lkid, 0);
	pthread_mutex_unlock(&lcl->mu);
}

/* A user is done with r (bucket mutex held): free it, cache it, or wake. */
static void res_release_user(struct lcl *lcl, struct lcl_bucket *b, struct lcl_res *r)
{
	maybe_revoke(lcl, r);
	if (--r->users > 0) {
		pthread_cond_broadcast(&r->cond);
		return;
	}
	if (lcl->ls && r->held != CL_NONE) {
		/* Keep the cluster lock cached (LRU). */
		pthread_mutex_lock(&lcl->mu);
		r->lru_prev = lcl->lru_tail;
		r->lru_next = NULL;
		if (lcl->lru_tail)
			lcl->lru_tail->lru_next = r;
		else
			lcl->lru_head = r;
		lcl->lru_tail = r;
		r->on_lru = true;
		lcl->ncached++;
		while (lcl->ncached > lcl->cfg.max_cached && lcl->lru_head) {
			struct lcl_res *old = lcl->lru_head;
			lru_remove(lcl, old);
			revoke_push(lcl, old->lkid, DLM_EX);
		}
		pthread_mutex_unlock(&lcl->mu);
		return;
	}
	struct lcl_res **pp = &b->head;
	while (*pp != r)
		pp = &(*pp)->next;
	*pp = r->next;
	pthread_cond_destroy(&r->cond);
	free(r);
}

static void res_add_user(struct lcl *lcl, struct lcl_res *r)
{
	if (r->users++ == 0 && r->on_lru) {
		pthread_mutex_lock(&lcl->mu);
		lru_remove(lcl, r);
		pthread_mutex_unlock(&lcl->mu);
	}
}

/* ---- cluster lock ---- */

static void on_bast(void *arg, uint64_t lkid, enum dlm_mode mode)
{
	struct lcl *lcl = arg;
	pthread_mutex_lock(&lcl->mu);
	lcl->stats.callbacks++;
	revoke_push(lcl, lkid, (int)mode);
	pthread_mutex_unlock(&lcl->mu);
}

/* Requeue a callback for lkid that came before we knew the id, and forget
 * ones so old that their lock is long gone (lcl->mu held). */
static void take_early(struct lcl *lcl, uint64_t lkid)
{
	uint64_t old = now_ns() - 30000000000ull;
	struct revoke **pp = &lcl->early;
	while (*pp) {
		struct revoke *rv = *pp;
		if (rv->lkid == lkid || rv->due_ns < old) {
			*pp = rv->next;
			if (rv->lkid == lkid)
				revoke_push(lcl, lkid, rv->mode);
			free(rv);
			continue;
		}
		pp = &rv->next;
	}
}

/* Make the cluster lock of r at least `want` (bucket mutex held on entry and
 * exit; dropped around the DLM call). */
static int cluster_acquire(struct lcl *lcl, struct lcl_bucket *b, struct lcl_res *r,
			   enum cl_mode want, bool try)
{
	r->busy = true;
	enum cl_mode had = r->held;
	uint64_t lkid = r->lkid;
	pthread_mutex_unlock(&b->mu);
	struct dlm_resname name = resname(lcl, r->id);
	struct dlm_range whole = {0, DLM_RANGE_MAX};
	enum dlm_mode dm = want == CL_EX ? DLM_EX : DLM_PR;
	uint32_t flags = try ? DLM_LKF_NOQUEUE : 0;
	int rc;
	if (had == CL_NONE)
		rc = dlm_lock(lcl->ls, &name, dm, &whole, flags, on_bast, lcl, &lkid, NULL);
	else
		rc = dlm_convert(lcl->ls, lkid, dm, &whole, flags, NULL);
	if (rc == DLM_DEMOTED) {
		/* We held nothing for a while: drop what we cached. */
		const struct lcl_callouts *co = &lcl->callouts[LCL_RES_TYPE(r->id)];
		if (co->invalidate)
			co->invalidate(co->arg, r->id);
		rc = 0;
	}
	pthread_mutex_lock(&b->mu);
	r->busy = false;
	if (rc == 0) {
		if (had == CL_NONE) {
			r->lkid = lkid;
			pthread_mutex_lock(&lcl->mu);
			dlm_htab_insert(&lcl->by_lkid, &r->lk_node, lkid);
			lcl->stats.cluster_acquires++;
			take_early(lcl, lkid);
			pthread_mutex_unlock(&lcl->mu);
		}
		r->held = want;
		r->granted_ns = now_ns();
	}
	pthread_cond_broadcast(&r->cond);
	/* A callback may have come while we waited: if our own user cannot
	 * take the lock now (see local_ok), the lock is idle and must go. */
	maybe_revoke(lcl, r);
	return rc;
}

/* May the holder of `ticket` take the lock locally now? Not while another
 * node waits for it — except within the minimum hold time after our grant,
 * so that the local user who asked for it gets its work done (DESIGN §5:
 * a short minimum hold time after a grant stops ping-pong). */
static bool local_ok(const struct lcl *lcl, const struct lcl_res *r, uint64_t ticket,
		     enum lcl_mode mode)
{
	if (ticket != r->serving || r->busy)
		return false;
	if (r->wanted && now_ns() >= r->granted_ns + (uint64_t)lcl->cfg.min_hold_us * 1000ull)
		return false;
	return mode == LCL_EX ? !r->writer && r->readers == 0 : !r->writer;
}

static int do_lock(struct lcl *lcl, uint64_t id, enum lcl_mode mode, bool try,
		   struct lcl_handle **out)
{
	if (!lcl || !out || !res_valid(id) || !mode_valid(mode))
		return -EINVAL;
	struct lcl_handle *h = malloc(sizeof(*h));
	if (!h)
		return -ENOMEM;
	struct lcl_bucket *b = bucket_of(lcl, id);
	pthread_mutex_lock(&b->mu);
	struct lcl_res *r = res_get(lcl, b, id);
	if (!r) {
		pthread_mutex_unlock(&b->mu);
		free(h);
		return -ENOMEM;
	}
	res_add_user(lcl, r);
	if (try && !local_ok(lcl, r, r->next_ticket, mode)) {
		/* Someone is ahead or it conflicts: never take a ticket we would
		 * abandon (later tickets would wait for it forever). */
		res_release_user(lcl, b, r);
		pthread_mutex_unlock(&b->mu);
		free(h);
		return -EAGAIN;
	}
	uint64_t ticket = r->next_ticket++;
	int rc = 0;
	for (;;) {
		if (!local_ok(lcl, r, ticket, mode)) {
			pthread_cond_wait(&r->cond, &b->mu);
			continue;
		}
		if ((int)r->held >= (int)mode)
			break;
		rc = cluster_acquire(lcl, b, r, (enum cl_mode)mode, try);
		if (rc < 0)
			break;
	}
	if (rc < 0) {
		/* Our ticket is being served (local_ok held): pass it on. */
		r->serving++;
		res_release_user(lcl, b, r);
		pthread_mutex_unlock(&b->mu);
		free(h);
		return rc;
	}
	if (mode == LCL_EX)
		r->writer = true;
	else
		r->readers++;
	r->serving++;
	pthread_cond_broadcast(&r->cond);
	pthread_mutex_unlock(&b->mu);
	*h = (struct lcl_handle){lcl, r, mode};
	*out = h;
	return 0;
}

int lcl_lock(struct lcl *lcl, uint64_t res, enum lcl_mode mode, struct lcl_handle **out)
{
	return do_lock(lcl, res, mode, false, out);
}

int lcl_trylock(struct lcl *lcl, uint64_t res, enum lcl_mode mode, struct lcl_handle **out)
{
	return do_lock(lcl, res, mode, true, out);
}

void lcl_unlock(struct lcl_handle *h)
{
	if (!h)
		return;
	struct lcl_res *r = h->res;
	struct lcl_bucket *b = bucket_of(h->lcl, r->id);
	pthread_mutex_lock(&b->mu);
	if (h->mode == LCL_EX)
		r->writer = false;
	else
		r->readers--;
	res_release_user(h->lcl, b, r);
	pthread_mutex_unlock(&b->mu);
	free(h);
}

int lcl_lock_node(struct lcl *lcl, uint64_t id, enum lcl_mode mode)
{
	if (!lcl || !res_valid(id) || !mode_valid(mode))
		return -EINVAL;
	struct lcl_bucket *b = bucket_of(lcl, id);
	pthread_mutex_lock(&b->mu);
	struct lcl_res *r = res_get(lcl, b, id);
	if (!r) {
		pthread_mutex_unlock(&b->mu);
		return -ENOMEM;
	}
	res_add_user(lcl, r);
	int rc = 0;
	for (;;) {
		if (r->busy || r->wanted) {
			pthread_cond_wait(&r->cond, &b->mu);
			continue;
		}
		if ((int)r->held >= (int)mode)
			break;
		rc = cluster_acquire(lcl, b, r, (enum cl_mode)mode, false);
		if (rc < 0)
			break;
	}
	if (rc < 0)
		res_release_user(lcl, b, r);
	else
		r->pins[mode]++;
	pthread_mutex_unlock(&b->mu);
	return rc;
}

void lcl_unlock_node(struct lcl *lcl, uint64_t id, enum lcl_mode mode)
{
	if (!lcl || !res_valid(id) || !mode_valid(mode))
		return;
	struct lcl_bucket *b = bucket_of(lcl, id);
	pthread_mutex_lock(&b->mu);
	struct lcl_res *r = res_find(b, id);
	if (r && r->pins[mode] > 0) {
		r->pins[mode]--;
		res_release_user(lcl, b, r);
	} else {
		log_error("lcl", "node-scope unlock of %#llx not held", (unsigned long long)id);
	}
	pthread_mutex_unlock(&b->mu);
}

/* ---- giving locks up (the revoke thread) ---- */

static struct lcl_res *find_by_lkid(struct lcl *lcl, uint64_t lkid)
{
	struct dlm_hnode *n = dlm_htab_first(&lcl->by_lkid, lkid);
	return n ? container_of(n, struct lcl_res, lk_node) : NULL;
}

/* A blocking callback or a re-check for the lock lkid: record what the
 * other node wants, and give the lock up (flush, then downconvert or
 * invalidate + unlock) once it is idle and held for the minimum time.
 * Returns without waiting when it is not yet: the last local user, the end
 * of a DLM call and the hold timer each queue a re-check. */
static void revoke_one(struct lcl *lcl, uint64_t lkid, int wanted)
{
	pthread_mutex_lock(&lcl->mu);
	struct lcl_res *found = find_by_lkid(lcl, lkid);
	uint64_t id = found ? found->id : 0;
	if (!found && wanted) {
		/* Not registered yet (or already released): keep it for take_early. */
		struct revoke *rv = malloc(sizeof(*rv));
		if (rv) {
			*rv = (struct revoke){lcl->early, lkid, wanted, now_ns()};
			lcl->early = rv;
		}
	}
	pthread_mutex_unlock(&lcl->mu);
	if (!found)
		return;
	struct lcl_bucket *b = bucket_of(lcl, id);
	pthread_mutex_lock(&b->mu);
	struct lcl_res *r = res_find(b, id);
	if (!r || r->held == CL_NONE || r->lkid != lkid) {
		pthread_mutex_unlock(&b->mu);
		return;
	}
	if (wanted && (!r->wanted || !dlm_mode_compat(DLM_PR, (enum dlm_mode)wanted)))
		r->wanted = wanted;
	if (!r->wanted || res_in_use(r)) {
		pthread_mutex_unlock(&b->mu);
		return;
	}
	uint64_t until = r->granted_ns + (uint64_t)lcl->cfg.min_hold_us * 1000ull;
	if (now_ns() < until) {
		pthread_mutex_lock(&lcl->mu);
		revoke_push_at(lcl, lkid, 0, until);
		pthread_mutex_unlock(&lcl->mu);
		pthread_mutex_unlock(&b->mu);
		return;
	}
	res_add_user(lcl, r);
	enum cl_mode held = r->held;
	bool downconvert = held == CL_EX && dlm_mode_compat(DLM_PR, (enum dlm_mode)r->wanted);
	r->wanted = 0; /* a callback arriving while busy sets it again */
	r->busy = true;
	pthread_mutex_unlock(&b->mu);

	const struct lcl_callouts *co = &lcl->callouts[LCL_RES_TYPE(id)];
	int rc = 0;
	if (held == CL_EX && co->flush)
		rc = co->flush(co->arg, id);
	if (rc == 0 && !downconvert && co->invalidate)
		co->invalidate(co->arg, id);
	struct dlm_range whole = {0, DLM_RANGE_MAX};
	if (rc == 0)
		rc = downconvert ? dlm_convert(lcl->ls, lkid, DLM_PR, &whole, 0, NULL)
				 : dlm_unlock(lcl->ls, lkid);

	pthread_mutex_lock(&b->mu);
	r->busy = false;
	if (rc >= 0) {
		pthread_mutex_lock(&lcl->mu);
		if (downconvert) {
			r->held = CL_PR;
			lcl->stats.downconverts++;
		} else {
			r->held = CL_NONE;
			r->wanted = 0;
			dlm_htab_remove(&lcl->by_lkid, &r->lk_node);
			r->lkid = 0;
			lcl->stats.cluster_releases++;
		}
		pthread_mutex_unlock(&lcl->mu);
	} else {
		log_error("lcl", "giving up lock %#llx failed: %s; kept, retried",
			  (unsigned long long)id, strerror(-rc));
		r->wanted = r->wanted ? r->wanted : DLM_EX;
		pthread_mutex_lock(&lcl->mu);
		revoke_push_at(lcl, lkid, 0, now_ns() + 100000000ull);
		pthread_mutex_unlock(&lcl->mu);
	}
	pthread_cond_broadcast(&r->cond);
	res_release_user(lcl, b, r);
	pthread_mutex_unlock(&b->mu);
}

/* The first queued item that is due (lcl->mu held); sets *wait_ns to the
 * time until the earliest one otherwise. */
static struct revoke *revoke_pop_due(struct lcl *lcl, uint64_t *wait_ns)
{
	uint64_t now = now_ns(), earliest = UINT64_MAX;
	struct revoke *prev = NULL;
	for (struct revoke *rv = lcl->rq_head; rv; prev = rv, rv = rv->next) {
		if (rv->due_ns <= now || lcl->stopping) {
			if (prev)
				prev->next = rv->next;
			else
				lcl->rq_head = rv->next;
			if (lcl->rq_tail == rv)
				lcl->rq_tail = prev;
			return rv;
		}
		if (rv->due_ns < earliest)
			earliest = rv->due_ns;
	}
	*wait_ns = earliest == UINT64_MAX ? 0 : earliest - now;
	return NULL;
}

static void *revoker_main(void *arg)
{
	struct lcl *lcl = arg;
	pthread_mutex_lock(&lcl->mu);
	for (;;) {
		uint64_t wait_ns = 0;
		struct revoke *rv = revoke_pop_due(lcl, &wait_ns);
		if (!rv) {
			if (lcl->stopping && !lcl->rq_head)
				break;
			if (wait_ns) {
				struct timespec ts;
				clock_gettime(CLOCK_MONOTONIC, &ts);
				uint64_t ns = (uint64_t)ts.tv_nsec + wait_ns;
				ts.tv_sec += (time_t)(ns / 1000000000ull);
				ts.tv_nsec = (long)(ns % 1000000000ull);
				pthread_cond_timedwait(&lcl->rq_cond, &lcl->mu, &ts);
			} else {
				pthread_cond_wait(&lcl->rq_cond, &lcl->mu);
			}
			continue;
		}
		pthread_mutex_unlock(&lcl->mu);
		revoke_one(lcl, rv->lkid, rv->mode);
		free(rv);
		pthread_mutex_lock(&lcl->mu);
	}
	pthread_mutex_unlock(&lcl->mu);
	return NULL;
}

/* ---- lifecycle ---- */

static int lcl_alloc(struct dlm_ls *ls, const struct lcl_config *cfg, struct lcl **out)
{
	struct lcl *lcl = calloc(1, sizeof(*lcl));
	if (!lcl)
		return -ENOMEM;
	if (cfg)
		lcl->cfg = *cfg;
	if (!lcl->cfg.min_hold_us)
		lcl->cfg.min_hold_us = 10000;
	if (!lcl->cfg.max_cached)
		lcl->cfg.max_cached = 65536;
	lcl->ls = ls;
	for (unsigned i = 0; i < LCL_BUCKETS; i++)
		pthread_mutex_init(&lcl->buckets[i].mu, NULL);
	pthread_mutex_init(&lcl->mu, NULL);
	cond_init_monotonic(&lcl->rq_cond);
	if (dlm_htab_init(&lcl->by_lkid) < 0) {
		free(lcl);
		return -ENOMEM;
	}
	if (ls && pthread_create(&lcl->revoker, NULL, revoker_main, lcl) != 0) {
		dlm_htab_free(&lcl->by_lkid);
		free(lcl);
		return -EAGAIN;
	}
	*out = lcl;
	return 0;
}

int lcl_create_local(struct lcl **out)
{
	if (!out)
		return -EINVAL;
	return lcl_alloc(NULL, NULL, out);
}

int lcl_create_dlm(struct dlm_ls *ls, const struct lcl_config *cfg, struct lcl **out)
{
	if (!ls || !out)
		return -EINVAL;
	return lcl_alloc(ls, cfg, out);
}

void lcl_destroy(struct lcl *lcl)
{
	if (!lcl)
		return;
	if (lcl->ls) {
		/* Give every cached cluster lock up, with its callouts. */
		pthread_mutex_lock(&lcl->mu);
		while (lcl->lru_head) {
			struct lcl_res *r = lcl->lru_head;
			lru_remove(lcl, r);
			revoke_push(lcl, r->lkid, DLM_EX);
		}
		lcl->stopping = true;
		pthread_cond_signal(&lcl->rq_cond);
		pthread_mutex_unlock(&lcl->mu);
		pthread_join(lcl->revoker, NULL);
	}
	for (unsigned i = 0; i < LCL_BUCKETS; i++) {
		struct lcl_res *r = lcl->buckets[i].head;
		while (r) {
			struct lcl_res *next = r->next;
			if (r->users)
				log_error("lcl", "destroy with resource %#llx still in use",
					  (unsigned long long)r->id);
			pthread_cond_destroy(&r->cond);
			free(r);
			r = next;
		}
		pthread_mutex_destroy(&lcl->buckets[i].mu);
	}
	while (lcl->early) {
		struct revoke *rv = lcl->early;
		lcl->early = rv->next;
		free(rv);
	}
	dlm_htab_free(&lcl->by_lkid);
	pthread_mutex_destroy(&lcl->mu);
	pthread_cond_destroy(&lcl->rq_cond);
	free(lcl);
}

int lcl_set_callouts(struct lcl *lcl, enum lcl_type type, const struct lcl_callouts *c)
{
	if (!lcl || type < LCL_T_SUPER || type >= LCL_T_MAX || !c)
		return -EINVAL;
	pthread_mutex_lock(&lcl->mu);
	lcl->callouts[type] = *c;
	pthread_mutex_unlock(&lcl->mu);
	return 0;
}

void lcl_get_stats(struct lcl *lcl, struct lcl_stats *st)
{
	pthread_mutex_lock(&lcl->mu);
	*st = lcl->stats;
	st->cached = lcl->ncached;
	pthread_mutex_unlock(&lcl->mu);
}

void lcl_dump(struct lcl *lcl, void (*fn)(void *arg, const struct lcl_res_info *ri), void *arg)
{
	static const char *const held[] = {"none", "PR", "EX"};
	for (unsigned i = 0; i < LCL_BUCKETS; i++) {
		struct lcl_bucket *b = &lcl->buckets[i];
		pthread_mutex_lock(&b->mu);
		for (struct lcl_res *r = b->head; r; r = r->next) {
			unsigned holders = r->readers + (r->writer ? 1 : 0);
			unsigned pins = r->pins[LCL_PR] + r->pins[LCL_EX];
			struct lcl_res_info ri = {
			    .res = r->id,
			    .held = held[r->held],
			    .readers = r->readers,
			    .writers = r->writer ? 1 : 0,
			    .waiters = r->users > holders + pins ? r->users - holders - pins : 0,
			    .pins = pins,
			    .wanted = r->wanted,
			    .busy = r->busy,
			    .cached = r->on_lru,
			};
			fn(arg, &ri);
		}
		pthread_mutex_unlock(&b->mu);
	}
}

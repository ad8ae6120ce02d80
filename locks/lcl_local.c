/* The lock caching layer in local mode (one node, no cluster): the cluster
 * lock is always granted, so a resource is only a process-scope reader/writer
 * lock. Writers are not starved: once a writer waits, new readers queue behind
 * it (FIFO by ticket), as the DLM will grant in order (DESIGN §5).
 *
 * Resources live in a hash table of fixed size with per-bucket mutexes; an
 * entry is created on first use and freed when its last user unlocks, so the
 * table holds only resources in use. */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>

#include "common/log.h"
#include "locks/lcl.h"

#define LCL_BUCKETS 1024

struct lcl_res {
	struct lcl_res *next; /* bucket chain */
	uint64_t id;
	unsigned users;		       /* holders + waiters; the entry is freed at 0 */
	unsigned readers;	       /* granted PR holders */
	bool writer;		       /* an EX holder */
	uint64_t next_ticket, serving; /* FIFO order of waiters */
	pthread_cond_t cond;
};

struct lcl_bucket {
	pthread_mutex_t mu;
	struct lcl_res *head;
};

struct lcl {
	struct lcl_bucket buckets[LCL_BUCKETS];
	struct lcl_callouts callouts[LCL_T_MAX];
	pthread_mutex_t node_mu;
	uint64_t node_locks; /* node-scope locks held, for lcl_destroy's check */
};

struct lcl_handle {
	struct lcl *lcl;
	struct lcl_res *res;
	enum lcl_mode mode;
};

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

int lcl_create_local(struct lcl **out)
{
	struct lcl *lcl = calloc(1, sizeof(*lcl));
	if (!lcl)
		return -ENOMEM;
	for (unsigned i = 0; i < LCL_BUCKETS; i++)
		pthread_mutex_init(&lcl->buckets[i].mu, NULL);
	pthread_mutex_init(&lcl->node_mu, NULL);
	*out = lcl;
	return 0;
}

void lcl_destroy(struct lcl *lcl)
{
	if (!lcl)
		return;
	for (unsigned i = 0; i < LCL_BUCKETS; i++) {
		if (lcl->buckets[i].head)
			log_error("lcl", "destroy with resource %#llx still in use",
				  (unsigned long long)lcl->buckets[i].head->id);
		pthread_mutex_destroy(&lcl->buckets[i].mu);
	}
	pthread_mutex_destroy(&lcl->node_mu);
	free(lcl);
}

int lcl_set_callouts(struct lcl *lcl, enum lcl_type type, const struct lcl_callouts *c)
{
	if (type < LCL_T_SUPER || type >= LCL_T_MAX || !c)
		return -EINVAL;
	lcl->callouts[type] = *c;
	return 0;
}

/* Called with the bucket mutex held: may the ticket holder take mode now? */
static bool grantable(const struct lcl_res *r, uint64_t ticket, enum lcl_mode mode)
{
	if (ticket != r->serving)
		return false;
	if (mode == LCL_EX)
		return !r->writer && r->readers == 0;
	return !r->writer;
}

static int do_lock(struct lcl *lcl, uint64_t id, enum lcl_mode mode, bool wait,
		   struct lcl_handle **out)
{
	if (!lcl || !out || !res_valid(id) || !mode_valid(mode))
		return -EINVAL;
	struct lcl_handle *h = malloc(sizeof(*h));
	if (!h)
		return -ENOMEM;
	struct lcl_bucket *b = bucket_of(lcl, id);
	pthread_mutex_lock(&b->mu);
	struct lcl_res *r = b->head;
	while (r && r->id != id)
		r = r->next;
	if (!r) {
		r = calloc(1, sizeof(*r));
		if (!r) {
			pthread_mutex_unlock(&b->mu);
			free(h);
			return -ENOMEM;
		}
		r->id = id;
		pthread_cond_init(&r->cond, NULL);
		r->next = b->head;
		b->head = r;
	}
	uint64_t ticket = r->next_ticket;
	if (!wait && !grantable(r, ticket, mode)) {
		if (r->users == 0) { /* we created it just now: unlink again */
			struct lcl_res **pp = &b->head;
			while (*pp != r)
				pp = &(*pp)->next;
			*pp = r->next;
			pthread_cond_destroy(&r->cond);
			free(r);
		}
		pthread_mutex_unlock(&b->mu);
		free(h);
		return -EAGAIN;
	}
	r->next_ticket++;
	r->users++;
	while (!grantable(r, ticket, mode))
		pthread_cond_wait(&r->cond, &b->mu);
	if (mode == LCL_EX)
		r->writer = true;
	else
		r->readers++;
	r->serving++;
	/* The next in line may be a reader that can share with us. */
	pthread_cond_broadcast(&r->cond);
	pthread_mutex_unlock(&b->mu);
	h->lcl = lcl;
	h->res = r;
	h->mode = mode;
	*out = h;
	return 0;
}

int lcl_lock(struct lcl *lcl, uint64_t res, enum lcl_mode mode, struct lcl_handle **out)
{
	return do_lock(lcl, res, mode, true, out);
}

int lcl_trylock(struct lcl *lcl, uint64_t res, enum lcl_mode mode, struct lcl_handle **out)
{
	return do_lock(lcl, res, mode, false, out);
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
	if (--r->users == 0) {
		struct lcl_res **pp = &b->head;
		while (*pp != r)
			pp = &(*pp)->next;
		*pp = r->next;
		pthread_cond_destroy(&r->cond);
		free(r);
	} else {
		pthread_cond_broadcast(&r->cond);
	}
	pthread_mutex_unlock(&b->mu);
	free(h);
}

int lcl_lock_node(struct lcl *lcl, uint64_t res, enum lcl_mode mode)
{
	if (!lcl || !res_valid(res) || !mode_valid(mode))
		return -EINVAL;
	/* Local mode: the cluster lock of every resource is this node's. */
	pthread_mutex_lock(&lcl->node_mu);
	lcl->node_locks++;
	pthread_mutex_unlock(&lcl->node_mu);
	return 0;
}

void lcl_unlock_node(struct lcl *lcl, uint64_t res, enum lcl_mode mode)
{
	(void)res;
	(void)mode;
	pthread_mutex_lock(&lcl->node_mu);
	lcl->node_locks--;
	pthread_mutex_unlock(&lcl->node_mu);
}

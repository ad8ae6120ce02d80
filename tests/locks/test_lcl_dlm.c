/* The lock caching layer over the DLM, several simulated nodes joined by the
 * in-process fake network: cached locks, blocking callbacks turned into the
 * flush/invalidate callouts (flush before EX is given up, invalidate before
 * PR goes, EX -> PR downconvert keeping the cache), the minimum hold time,
 * the LRU bound, callouts that take other locks, and a stress run checking
 * that process- and cluster-scope exclusion hold together. */
#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "fake_net.h"
#include "locks/lcl.h"

#define X LCL_RES(LCL_T_INODE, 1000)
#define Y LCL_RES(LCL_T_INODE, 2000)

static atomic_long seq;

struct node_events {
	struct lcl *lcl;
	atomic_int flushes, invalidates;
	atomic_long last_flush_seq;
	bool take_other; /* the flush callout takes Y on this node */
};

static int ev_flush(void *arg, uint64_t res)
{
	struct node_events *e = arg;
	(void)res;
	atomic_fetch_add(&e->flushes, 1);
	atomic_store(&e->last_flush_seq, atomic_fetch_add(&seq, 1));
	if (e->take_other && res == X) {
		struct lcl_handle *h;
		ck_assert_int_eq(lcl_lock(e->lcl, Y, LCL_EX, &h), 0);
		lcl_unlock(h);
	}
	return 0;
}

static void ev_invalidate(void *arg, uint64_t res)
{
	struct node_events *e = arg;
	(void)res;
	atomic_fetch_add(&e->invalidates, 1);
}

struct cluster {
	struct net net;
	int nodes;
	struct lcl *lcl[MAXN + 1];
	struct node_events ev[MAXN + 1];
};

static void cluster_start(struct cluster *c, int nodes, unsigned min_hold_us, unsigned max_cached)
{
	c->nodes = nodes;
	net_start(&c->net, nodes);
	net_wait_recovered(&c->net, nodes);
	for (int i = 1; i <= nodes; i++) {
		struct lcl_config cfg = {
		    .fsid = 7, .min_hold_us = min_hold_us, .max_cached = max_cached};
		ck_assert_int_eq(lcl_create_dlm(c->net.ls[i], &cfg, &c->lcl[i]), 0);
		c->ev[i] = (struct node_events){.lcl = c->lcl[i]};
		struct lcl_callouts co = {ev_flush, ev_invalidate, &c->ev[i]};
		ck_assert_int_eq(lcl_set_callouts(c->lcl[i], LCL_T_INODE, &co), 0);
	}
}

static void cluster_stop(struct cluster *c)
{
	for (int i = 1; i <= c->nodes; i++)
		lcl_destroy(c->lcl[i]);
	net_stop(&c->net, c->nodes);
}

START_TEST(cache_downconvert_invalidate)
{
	struct cluster c;
	cluster_start(&c, 2, 1000, 0);
	struct lcl_handle *h;
	struct lcl_stats st;
	/* Node 1 takes EX and lets go: cached, a second lock is local only. */
	ck_assert_int_eq(lcl_lock(c.lcl[1], X, LCL_EX, &h), 0);
	lcl_unlock(h);
	ck_assert_int_eq(lcl_lock(c.lcl[1], X, LCL_EX, &h), 0);
	lcl_unlock(h);
	lcl_get_stats(c.lcl[1], &st);
	ck_assert_uint_eq(st.cluster_acquires, 1);
	ck_assert_uint_eq(st.cached, 1);
	/* Node 2 wants PR: node 1 flushes and downconverts (cache kept). */
	ck_assert_int_eq(lcl_lock(c.lcl[2], X, LCL_PR, &h), 0);
	ck_assert_int_eq(atomic_load(&c.ev[1].flushes), 1);
	ck_assert_int_eq(atomic_load(&c.ev[1].invalidates), 0);
	lcl_unlock(h);
	for (int tries = 0; tries < 500 && (lcl_get_stats(c.lcl[1], &st), !st.downconverts);
	     tries++)
		usleep(1000); /* node 1 learns of its downconvert after node 2's grant */
	ck_assert_uint_eq(st.downconverts, 1);
	/* Node 1 reads under its cached PR: no cluster traffic. */
	ck_assert_int_eq(lcl_lock(c.lcl[1], X, LCL_PR, &h), 0);
	lcl_unlock(h);
	lcl_get_stats(c.lcl[1], &st);
	ck_assert_uint_eq(st.cluster_acquires, 1);
	/* Node 2 wants EX: node 1 invalidates (no flush: it held PR), releases. */
	ck_assert_int_eq(lcl_lock(c.lcl[2], X, LCL_EX, &h), 0);
	ck_assert_int_eq(atomic_load(&c.ev[1].flushes), 1);
	ck_assert_int_eq(atomic_load(&c.ev[1].invalidates), 1);
	lcl_unlock(h);
	for (int tries = 0; tries < 500 && (lcl_get_stats(c.lcl[1], &st), !st.cluster_releases);
	     tries++)
		usleep(1000);
	ck_assert_uint_eq(st.cluster_releases, 1);
	/* And back: node 2 flushes and invalidates before node 1 gets EX. */
	ck_assert_int_eq(lcl_lock(c.lcl[1], X, LCL_EX, &h), 0);
	ck_assert_int_eq(atomic_load(&c.ev[2].flushes), 1);
	ck_assert_int_eq(atomic_load(&c.ev[2].invalidates), 1);
	lcl_unlock(h);
	cluster_stop(&c);
}
END_TEST

struct waiter {
	struct lcl *lcl;
	uint64_t res;
	enum lcl_mode mode;
	atomic_long granted_seq;
	atomic_int done;
	struct timespec granted_at;
};

static void *waiter_main(void *arg)
{
	struct waiter *w = arg;
	struct lcl_handle *h;
	ck_assert_int_eq(lcl_lock(w->lcl, w->res, w->mode, &h), 0);
	clock_gettime(CLOCK_MONOTONIC, &w->granted_at);
	atomic_store(&w->granted_seq, atomic_fetch_add(&seq, 1));
	atomic_store(&w->done, 1);
	lcl_unlock(h);
	return NULL;
}

START_TEST(local_holder_and_min_hold)
{
	struct cluster c;
	cluster_start(&c, 2, 300000, 0); /* 300 ms minimum hold */
	struct lcl_handle *h;
	struct timespec t0;
	ck_assert_int_eq(lcl_lock(c.lcl[1], X, LCL_EX, &h), 0);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	struct waiter w = {.lcl = c.lcl[2], .res = X, .mode = LCL_EX};
	pthread_t t;
	pthread_create(&t, NULL, waiter_main, &w);
	usleep(100000);
	ck_assert_int_eq(atomic_load(&w.done), 0); /* a local holder keeps it */
	lcl_unlock(h);
	pthread_join(t, NULL);
	/* Flushed before the other node got it. */
	ck_assert_int_eq(atomic_load(&c.ev[1].flushes), 1);
	ck_assert_int_lt(atomic_load(&c.ev[1].last_flush_seq), atomic_load(&w.granted_seq));
	/* Not before the minimum hold time after node 1's grant. */
	long ms = (w.granted_at.tv_sec - t0.tv_sec) * 1000 +
		  (w.granted_at.tv_nsec - t0.tv_nsec) / 1000000;
	ck_assert_int_ge(ms, 290);
	cluster_stop(&c);
}
END_TEST

START_TEST(lru_bound_and_nested_callout)
{
	struct cluster c;
	cluster_start(&c, 2, 1000, 4);
	struct lcl_handle *h;
	for (uint64_t i = 0; i < 10; i++) {
		ck_assert_int_eq(lcl_lock(c.lcl[1], LCL_RES(LCL_T_INODE, 50 + i), LCL_EX, &h), 0);
		lcl_unlock(h);
	}
	struct lcl_stats st;
	for (int tries = 0; tries < 200; tries++) {
		lcl_get_stats(c.lcl[1], &st);
		if (st.cluster_releases >= 6)
			break;
		usleep(10000);
	}
	ck_assert_uint_le(st.cached, 4);
	ck_assert_uint_ge(st.cluster_releases, 6);
	ck_assert_int_ge(atomic_load(&c.ev[1].flushes), 6);
	/* A flush callout that itself takes another lock does not deadlock. */
	c.ev[1].take_other = true;
	ck_assert_int_eq(lcl_lock(c.lcl[1], X, LCL_EX, &h), 0);
	lcl_unlock(h);
	ck_assert_int_eq(lcl_lock(c.lcl[2], X, LCL_EX, &h), 0);
	lcl_unlock(h);
	/* Node 2 can take Y afterwards (node 1 holds it cached: callback). */
	ck_assert_int_eq(lcl_lock(c.lcl[2], Y, LCL_EX, &h), 0);
	lcl_unlock(h);
	cluster_stop(&c);
}
END_TEST

struct stress {
	struct cluster *c;
	atomic_int holders[4][2]; /* per resource: PR holders, EX holders (cluster-wide) */
	atomic_int violations, grants;
};

struct sworker {
	struct stress *s;
	int node;
	unsigned seed;
};

static void *sworker_main(void *arg)
{
	struct sworker *w = arg;
	struct stress *s = w->s;
	for (int i = 0; i < 300; i++) {
		int r = rand_r(&w->seed) % 4;
		enum lcl_mode m = rand_r(&w->seed) % 3 ? LCL_PR : LCL_EX;
		struct lcl_handle *h;
		int rc = rand_r(&w->seed) % 5 == 0
			     ? lcl_trylock(s->c->lcl[w->node], LCL_RES(LCL_T_INODE, r), m, &h)
			     : lcl_lock(s->c->lcl[w->node], LCL_RES(LCL_T_INODE, r), m, &h);
		if (rc == -EAGAIN)
			continue;
		ck_assert_int_eq(rc, 0);
		int ex = m == LCL_EX;
		atomic_fetch_add(&s->holders[r][ex], 1);
		if (atomic_load(&s->holders[r][1]) > 1 ||
		    (atomic_load(&s->holders[r][1]) && atomic_load(&s->holders[r][0])))
			atomic_fetch_add(&s->violations, 1);
		atomic_fetch_add(&s->grants, 1);
		if (rand_r(&w->seed) % 4 == 0)
			usleep((useconds_t)(rand_r(&w->seed) % 200));
		atomic_fetch_sub(&s->holders[r][ex], 1);
		lcl_unlock(h);
	}
	return NULL;
}

START_TEST(stress_exclusion)
{
	struct cluster c;
	cluster_start(&c, 3, 200, 0);
	struct stress s = {.c = &c};
	unsigned seed = (unsigned)time(NULL);
	printf("lcl cluster stress seed %u\n", seed);
	enum { T = 3 };
	pthread_t th[3 * T];
	struct sworker w[3 * T];
	for (int i = 0; i < 3 * T; i++) {
		w[i] = (struct sworker){&s, 1 + i / T, seed + (unsigned)i * 104729};
		pthread_create(&th[i], NULL, sworker_main, &w[i]);
	}
	for (int i = 0; i < 3 * T; i++)
		pthread_join(th[i], NULL);
	ck_assert_int_eq(atomic_load(&s.violations), 0);
	ck_assert_int_gt(atomic_load(&s.grants), 1000);
	cluster_stop(&c);
}
END_TEST

int main(void)
{
	log_setup("test_lcl_dlm", 0, LOG_ERROR);
	Suite *s = suite_create("lcl_dlm");
	TCase *tc = tcase_create("cluster");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, cache_downconvert_invalidate);
	tcase_add_test(tc, local_holder_and_min_hold);
	tcase_add_test(tc, lru_bound_and_nested_callout);
	tcase_add_test(tc, stress_exclusion);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

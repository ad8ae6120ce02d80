/* Lockspaces of several nodes in one process, joined by an in-process
 * network (an allowed fake: it stands in for the node transport only). Tests
 * the master/owner protocol, blocking callbacks, a multi-threaded stress with
 * a checker that no two conflicting grants ever overlap, and recovery: a dead
 * node's locks stay held until it is recovered, the resources it mastered
 * grant nothing new until then, and no survivor loses a granted lock; and
 * dlm_cancel of waiting requests and conversions. */
#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "locks/dlm.h"
#include "locks/dlm_master.h"
#include "fake_net.h"

static const struct dlm_range WHOLE = {0, DLM_RANGE_MAX};

struct bast_rec {
	struct dlm_ls *ls;
	atomic_int count;
	atomic_int mode;
	bool release;
};

static void on_bast(void *arg, uint64_t lkid, enum dlm_mode mode)
{
	struct bast_rec *b = arg;
	atomic_fetch_add(&b->count, 1);
	atomic_store(&b->mode, (int)mode);
	if (b->release)
		ck_assert_int_eq(dlm_unlock(b->ls, lkid), 0);
}

struct req_arg {
	struct dlm_ls *ls;
	struct dlm_resname name;
	enum dlm_mode mode;
	uint64_t lkid;
	int rc;
	atomic_int done;
};

static void *req_thread(void *arg)
{
	struct req_arg *r = arg;
	r->rc = dlm_lock(r->ls, &r->name, r->mode, &WHOLE, 0, NULL, NULL, &r->lkid, NULL);
	atomic_store(&r->done, 1);
	return NULL;
}

START_TEST(bast_then_grant)
{
	struct net n;
	net_start(&n, 3);
	net_wait_recovered(&n, 3);
	for (uint32_t master = 1; master <= 3; master++) {
		struct dlm_resname r = net_res(net_res_mastered_by(master, 3, master * 1000));
		struct bast_rec b = {.ls = n.ls[1], .release = true};
		uint64_t lk1;
		struct dlm_range got;
		ck_assert_int_eq(dlm_lock(n.ls[1], &r, DLM_EX, &(struct dlm_range){0, 9},
					  DLM_LKF_EXPAND, on_bast, &b, &lk1, &got),
				 0);
		ck_assert_uint_eq(got.start, 0); /* expanded */
		ck_assert_uint_eq(got.end, DLM_RANGE_MAX);
		/* Try-lock from another node fails at once. */
		uint64_t lk2;
		ck_assert_int_eq(
		    dlm_lock(n.ls[2], &r, DLM_PR, &WHOLE, DLM_LKF_NOQUEUE, NULL, NULL, &lk2, NULL),
		    -EAGAIN);
		/* A blocking request: node 1 is called back and releases. */
		ck_assert_int_eq(dlm_lock(n.ls[2], &r, DLM_PR, &WHOLE, 0, NULL, NULL, &lk2, NULL),
				 0);
		ck_assert_int_ge(atomic_load(&b.count), 1);
		ck_assert_int_eq(atomic_load(&b.mode), DLM_PR);
		/* Up-convert and down-convert. */
		ck_assert_int_eq(dlm_convert(n.ls[2], lk2, DLM_EX, &WHOLE, 0, NULL), 0);
		ck_assert_int_eq(dlm_convert(n.ls[2], lk2, DLM_CR, &WHOLE, 0, NULL), 0);
		ck_assert_int_eq(dlm_unlock(n.ls[2], lk2), 0);
		ck_assert_int_eq(dlm_unlock(n.ls[2], lk2), -ENOENT);
	}
	/* Bad arguments. */
	uint64_t lk;
	struct dlm_resname r = net_res(1);
	ck_assert_int_eq(dlm_lock(n.ls[1], &r, (enum dlm_mode)8, &WHOLE, 0, NULL, NULL, &lk, NULL),
			 -EINVAL);
	ck_assert_int_eq(
	    dlm_lock(n.ls[1], &r, DLM_PR, &(struct dlm_range){5, 1}, 0, NULL, NULL, &lk, NULL),
	    -EINVAL);
	ck_assert_int_eq(dlm_lock(n.ls[1], &r, DLM_PR, &WHOLE, 0x80, NULL, NULL, &lk, NULL),
			 -EINVAL);
	net_stop(&n, 3);
}
END_TEST

START_TEST(garbage_is_dropped)
{
	struct net n;
	net_start(&n, 2);
	net_wait_recovered(&n, 2);
	uint8_t junk[DLM_MSG_SIZE];
	unsigned seed = (unsigned)time(NULL);
	for (int i = 0; i < 1000; i++) {
		for (size_t k = 0; k < sizeof(junk); k++)
			junk[k] = (uint8_t)rand_r(&seed);
		ck_assert_int_eq(dlm_ls_receive(n.ls[1], junk, sizeof(junk)), -EINVAL);
		ck_assert_int_eq(dlm_ls_receive(n.ls[1], junk, (size_t)(rand_r(&seed) % 200)),
				 -EINVAL);
	}
	/* A well-formed message from a non-member is dropped too. */
	struct dlm_msg m = {.type = DLM_MSG_REQUEST,
			    .from = 9,
			    .epoch = 1,
			    .lkid = 5,
			    .name = net_res(1),
			    .mode = DLM_EX,
			    .range = WHOLE};
	uint8_t buf[DLM_MSG_SIZE];
	dlm_msg_encode(&m, buf);
	ck_assert_int_eq(dlm_ls_receive(n.ls[1], buf, sizeof(buf)), 0);
	/* One flipped bit of a valid message is caught by the CRC. */
	buf[30] ^= 1;
	ck_assert_int_eq(dlm_ls_receive(n.ls[1], buf, sizeof(buf)), -EINVAL);
	/* Still serving. */
	uint64_t lk;
	struct dlm_resname r = net_res(77);
	ck_assert_int_eq(dlm_lock(n.ls[2], &r, DLM_EX, &WHOLE, 0, NULL, NULL, &lk, NULL), 0);
	ck_assert_int_eq(dlm_unlock(n.ls[2], lk), 0);
	net_stop(&n, 2);
}
END_TEST

/* ---- stress with a conflict checker ---- */

struct held {
	bool on;
	uint32_t node;
	uint64_t res;
	enum dlm_mode mode;
	struct dlm_range range;
};

struct stress {
	struct net *net;
	int nodes;
	pthread_mutex_t mu;
	struct held held[64];
	atomic_int violations, grants;
	unsigned seed;
};

struct worker {
	struct stress *s;
	uint32_t node;
	unsigned seed;
};

static void *stress_worker(void *arg)
{
	struct worker *w = arg;
	struct stress *s = w->s;
	for (int i = 0; i < 400; i++) {
		uint64_t id = (uint64_t)(rand_r(&w->seed) % 6);
		enum dlm_mode mode = (enum dlm_mode)(1 + rand_r(&w->seed) % 5);
		uint64_t st = (uint64_t)(rand_r(&w->seed) % 100);
		struct dlm_range rg = {st, st + (uint64_t)(rand_r(&w->seed) % 50)};
		uint32_t flags = (rand_r(&w->seed) % 4 == 0 ? DLM_LKF_NOQUEUE : 0) |
				 (rand_r(&w->seed) % 2 ? DLM_LKF_EXPAND : 0);
		struct dlm_resname r = net_res(id);
		uint64_t lk;
		struct dlm_range got;
		int rc = dlm_lock(s->net->ls[w->node], &r, mode, &rg, flags, NULL, NULL, &lk, &got);
		if (rc == -EAGAIN)
			continue;
		ck_assert_int_eq(rc, 0);
		ck_assert(dlm_range_contains(&got, &rg));
		int slot = -1;
		pthread_mutex_lock(&s->mu);
		for (int k = 0; k < 64; k++) {
			struct held *h = &s->held[k];
			if (!h->on) {
				if (slot < 0)
					slot = k;
				continue;
			}
			if (h->res == id && dlm_range_overlap(&h->range, &got) &&
			    !dlm_mode_compat(h->mode, mode))
				atomic_fetch_add(&s->violations, 1);
		}
		ck_assert_int_ge(slot, 0);
		s->held[slot] = (struct held){true, w->node, id, mode, got};
		pthread_mutex_unlock(&s->mu);
		atomic_fetch_add(&s->grants, 1);
		if (rand_r(&w->seed) % 3 == 0)
			usleep((useconds_t)(rand_r(&w->seed) % 300));
		pthread_mutex_lock(&s->mu);
		s->held[slot].on = false;
		pthread_mutex_unlock(&s->mu);
		ck_assert_int_eq(dlm_unlock(s->net->ls[w->node], lk), 0);
	}
	return NULL;
}

START_TEST(stress_no_conflicting_grants)
{
	struct net n;
	struct stress s = {.net = &n, .nodes = 4};
	s.seed = (unsigned)time(NULL);
	printf("dlm stress seed %u\n", s.seed);
	pthread_mutex_init(&s.mu, NULL);
	net_start(&n, 4);
	net_wait_recovered(&n, 4);
	enum { T = 3 };
	pthread_t th[4 * T];
	struct worker w[4 * T];
	for (int i = 0; i < 4 * T; i++) {
		w[i] = (struct worker){&s, (uint32_t)(1 + i / T), s.seed + (unsigned)i * 7919};
		pthread_create(&th[i], NULL, stress_worker, &w[i]);
	}
	for (int i = 0; i < 4 * T; i++)
		pthread_join(th[i], NULL);
	ck_assert_int_eq(atomic_load(&s.violations), 0);
	ck_assert_int_gt(atomic_load(&s.grants), 1000);
	for (int i = 1; i <= 4; i++) {
		struct dlm_ls_stats st;
		dlm_ls_get_stats(n.ls[i], &st);
		ck_assert_uint_eq(st.owned, 0);
		ck_assert_uint_eq(st.mastered_locks, 0);
	}
	net_stop(&n, 4);
}
END_TEST

/* ---- recovery ---- */

START_TEST(recovery_keeps_and_blocks)
{
	struct net n;
	net_start(&n, 3);
	net_wait_recovered(&n, 3);
	/* Ra: mastered by node 1, held EX by node 3 (which dies).
	 * Rb: mastered by node 3 (dies), held PR by node 1 (survives).
	 * Rc: mastered by node 2, held EX by node 1 (survives). */
	struct dlm_resname ra = net_res(net_res_mastered_by(1, 3, 100)),
			   rb = net_res(net_res_mastered_by(3, 3, 200)),
			   rc = net_res(net_res_mastered_by(2, 3, 300));
	uint64_t l3a, l1b, l1c;
	ck_assert_int_eq(dlm_lock(n.ls[3], &ra, DLM_EX, &WHOLE, 0, NULL, NULL, &l3a, NULL), 0);
	ck_assert_int_eq(dlm_lock(n.ls[1], &rb, DLM_PR, &WHOLE, 0, NULL, NULL, &l1b, NULL), 0);
	ck_assert_int_eq(dlm_lock(n.ls[1], &rc, DLM_EX, &WHOLE, 0, NULL, NULL, &l1c, NULL), 0);

	net_kill(&n, 3, 3, 2);

	/* Survivor's locks are intact: node 2 cannot take Rc, node 1 keeps it. */
	uint64_t lk;
	ck_assert_int_eq(
	    dlm_lock(n.ls[2], &rc, DLM_PR, &WHOLE, DLM_LKF_NOQUEUE, NULL, NULL, &lk, NULL),
	    -EAGAIN);
	/* The dead node's EX on Ra still blocks; Rb (its master died) grants
	 * nothing new, not even a compatible PR. */
	struct req_arg qa = {.ls = n.ls[2], .name = ra, .mode = DLM_PR};
	struct req_arg qb = {.ls = n.ls[2], .name = rb, .mode = DLM_PR};
	pthread_t ta, tb;
	pthread_create(&ta, NULL, req_thread, &qa);
	pthread_create(&tb, NULL, req_thread, &qb);
	usleep(200000);
	ck_assert_int_eq(atomic_load(&qa.done), 0);
	ck_assert_int_eq(atomic_load(&qb.done), 0);
	struct dlm_ls_stats st;
	dlm_ls_get_stats(n.ls[1], &st);
	ck_assert_uint_eq(st.dead_pending, 1);
	/* Recovery of node 3 declared on every survivor. */
	ck_assert_int_eq(dlm_ls_node_recovered(n.ls[1], 3), 0);
	ck_assert_int_eq(dlm_ls_node_recovered(n.ls[2], 3), 0);
	ck_assert_int_eq(dlm_ls_node_recovered(n.ls[2], 3), -ENOENT);
	pthread_join(ta, NULL);
	pthread_join(tb, NULL);
	ck_assert_int_eq(qa.rc, 0);
	ck_assert_int_eq(qb.rc, 0);
	/* Node 1's PR on Rb survived its master's death: an EX from node 2
	 * still conflicts with it. */
	ck_assert_int_eq(
	    dlm_lock(n.ls[2], &rb, DLM_EX, &WHOLE, DLM_LKF_NOQUEUE, NULL, NULL, &lk, NULL),
	    -EAGAIN);
	ck_assert_int_eq(dlm_unlock(n.ls[1], l1b), 0);
	ck_assert_int_eq(dlm_unlock(n.ls[1], l1c), 0);
	ck_assert_int_eq(dlm_unlock(n.ls[2], qa.lkid), 0);
	ck_assert_int_eq(dlm_unlock(n.ls[2], qb.lkid), 0);
	net_stop(&n, 3);
}
END_TEST

/* Many resources held across nodes; the node mastering a third of them dies;
 * every survivor lock is still there afterwards (checked by conflicts). */
START_TEST(recovery_master_death_many_locks)
{
	struct net n;
	net_start(&n, 3);
	net_wait_recovered(&n, 3);
	enum { R = 300 };
	uint64_t lks[R];
	for (int i = 0; i < R; i++) {
		struct dlm_resname r = net_res(10000 + (uint64_t)i);
		ck_assert_int_eq(
		    dlm_lock(n.ls[1 + i % 2], &r, DLM_EX, &WHOLE, 0, NULL, NULL, &lks[i], NULL), 0);
	}
	net_kill(&n, 3, 3, 2);
	for (int i = 0; i < R; i++) {
		struct dlm_resname r = net_res(10000 + (uint64_t)i);
		uint64_t lk;
		/* The other survivor cannot take it: the holder's EX survived. */
		ck_assert_int_eq(dlm_lock(n.ls[2 - i % 2], &r, DLM_PR, &WHOLE, DLM_LKF_NOQUEUE,
					  NULL, NULL, &lk, NULL),
				 -EAGAIN);
	}
	for (int i = 0; i < R; i++)
		ck_assert_int_eq(dlm_unlock(n.ls[1 + i % 2], lks[i]), 0);
	/* Resources mastered by the dead node stay blocked until it is recovered. */
	ck_assert_int_eq(dlm_ls_node_recovered(n.ls[1], 3), 0);
	ck_assert_int_eq(dlm_ls_node_recovered(n.ls[2], 3), 0);
	for (int i = 0; i < R; i++) {
		struct dlm_resname r = net_res(10000 + (uint64_t)i);
		uint64_t lk;
		ck_assert_int_eq(dlm_lock(n.ls[2 - i % 2], &r, DLM_EX, &WHOLE, DLM_LKF_NOQUEUE,
					  NULL, NULL, &lk, NULL),
				 0);
		ck_assert_int_eq(dlm_unlock(n.ls[2 - i % 2], lk), 0);
	}
	net_stop(&n, 3);
}
END_TEST

/* ---- dlm_cancel ---- */

struct state_count {
	const char *state;
	int n;
};

static void count_state(void *arg, const struct dlm_lock_info *li)
{
	struct state_count *sc = arg;
	if (!strcmp(li->role, "master") && !strcmp(li->state, sc->state))
		sc->n++;
}

/* Wait until node `master` has `want` locks in `state` (fails after 2 s). */
static void wait_master_state(struct dlm_ls *master, const char *state, int want)
{
	for (int t = 0; t < 2000; t++) {
		struct state_count sc = {state, 0};
		dlm_ls_dump(master, count_state, &sc);
		if (sc.n == want)
			return;
		usleep(1000);
	}
	ck_abort_msg("master never had %d lock(s) %s", want, state);
}

static uint64_t published_lkid(struct req_arg *r)
{
	uint64_t id = 0;
	for (int t = 0; t < 2000 && !(id = __atomic_load_n(&r->lkid, __ATOMIC_ACQUIRE)); t++)
		usleep(1000);
	ck_assert_uint_ne(id, 0);
	return id;
}

struct conv_arg {
	struct dlm_ls *ls;
	uint64_t lkid;
	enum dlm_mode mode;
	int rc;
};

static void *conv_thread(void *arg)
{
	struct conv_arg *c = arg;
	c->rc = dlm_convert(c->ls, c->lkid, c->mode, &WHOLE, 0, NULL);
	return NULL;
}

/* A waiting request is cancelled: the waiter gets -ECANCELED, the master
 * forgets it, and it is never granted later. Master on each node in turn
 * (the requester's own node included). */
START_TEST(cancel_waiting_request)
{
	struct net n;
	net_start(&n, 3);
	net_wait_recovered(&n, 3);
	for (uint32_t master = 1; master <= 3; master++) {
		struct dlm_resname r = net_res(net_res_mastered_by(master, 3, 7000 + master * 100));
		uint64_t held, lk;
		ck_assert_int_eq(dlm_lock(n.ls[1], &r, DLM_EX, &WHOLE, 0, NULL, NULL, &held, NULL),
				 0);
		struct req_arg ra = {.ls = n.ls[2], .name = r, .mode = DLM_EX};
		pthread_t t;
		pthread_create(&t, NULL, req_thread, &ra);
		uint64_t id = published_lkid(&ra);
		wait_master_state(n.ls[master], "waiting", 1);
		ck_assert_int_eq(dlm_cancel(n.ls[2], id), 0);
		pthread_join(t, NULL);
		ck_assert_int_eq(ra.rc, -ECANCELED);
		wait_master_state(n.ls[master], "waiting", 0);
		struct dlm_ls_stats st;
		dlm_ls_get_stats(n.ls[2], &st);
		ck_assert_uint_eq(st.owned, 0);
		ck_assert_int_eq(dlm_cancel(n.ls[2], id), -ENOENT);   /* gone */
		ck_assert_int_eq(dlm_cancel(n.ls[1], held), -ENOENT); /* granted: nothing waits */
		/* Once node 1 lets go, nobody holds it: node 2 got nothing. */
		ck_assert_int_eq(dlm_unlock(n.ls[1], held), 0);
		ck_assert_int_eq(
		    dlm_lock(n.ls[3], &r, DLM_EX, &WHOLE, DLM_LKF_NOQUEUE, NULL, NULL, &lk, NULL),
		    0);
		ck_assert_int_eq(dlm_unlock(n.ls[3], lk), 0);
	}
	net_stop(&n, 3);
}
END_TEST

struct owner_view {
	uint64_t lkid;
	int found;
	struct dlm_lock_info li;
};

static void owner_of(void *arg, const struct dlm_lock_info *li)
{
	struct owner_view *ov = arg;
	if (!strcmp(li->role, "owner") && li->lkid == ov->lkid) {
		ov->found++;
		ov->li = *li;
	}
}

/* A waiting conversion is cancelled: the lock keeps its granted mode, and a
 * request queued behind the conversion (FIFO) is served once it is gone. */
START_TEST(cancel_conversion)
{
	struct net n;
	net_start(&n, 3);
	net_wait_recovered(&n, 3);
	for (uint32_t master = 1; master <= 3; master++) {
		struct dlm_resname r = net_res(net_res_mastered_by(master, 3, 8000 + master * 100));
		uint64_t a, b, lk;
		ck_assert_int_eq(dlm_lock(n.ls[1], &r, DLM_PR, &WHOLE, 0, NULL, NULL, &a, NULL), 0);
		ck_assert_int_eq(dlm_lock(n.ls[2], &r, DLM_PR, &WHOLE, 0, NULL, NULL, &b, NULL), 0);
		struct conv_arg ca = {n.ls[2], b, DLM_EX, 1};
		pthread_t tc, tr;
		pthread_create(&tc, NULL, conv_thread, &ca);
		wait_master_state(n.ls[master], "converting", 1);
		struct req_arg ra = {.ls = n.ls[3], .name = r, .mode = DLM_PR};
		pthread_create(&tr, NULL, req_thread, &ra);
		wait_master_state(n.ls[master], "waiting", 1); /* behind the conversion */
		ck_assert_int_eq(dlm_cancel(n.ls[2], b), 0);
		pthread_join(tc, NULL);
		ck_assert_int_eq(ca.rc, -ECANCELED);
		struct owner_view ov = {.lkid = b};
		dlm_ls_dump(n.ls[2], owner_of, &ov);
		ck_assert_int_eq(ov.found, 1);
		ck_assert_str_eq(ov.li.state, "granted");
		ck_assert_int_eq(ov.li.grmode, DLM_PR);
		ck_assert_int_eq(ov.li.rqmode, DLM_PR);
		pthread_join(tr, NULL); /* granted now */
		ck_assert_int_eq(ra.rc, 0);
		/* Node 2 still holds PR: EX elsewhere is refused, PR is not. */
		ck_assert_int_eq(
		    dlm_lock(n.ls[3], &r, DLM_EX, &WHOLE, DLM_LKF_NOQUEUE, NULL, NULL, &lk, NULL),
		    -EAGAIN);
		ck_assert_int_eq(dlm_unlock(n.ls[1], a), 0);
		ck_assert_int_eq(dlm_unlock(n.ls[3], ra.lkid), 0);
		ck_assert_int_eq(
		    dlm_lock(n.ls[3], &r, DLM_EX, &WHOLE, DLM_LKF_NOQUEUE, NULL, NULL, &lk, NULL),
		    -EAGAIN);
		/* ...and can convert and unlock as usual. */
		ck_assert_int_eq(dlm_convert(n.ls[2], b, DLM_EX, &WHOLE, 0, NULL), 0);
		ck_assert_int_eq(dlm_unlock(n.ls[2], b), 0);
		ck_assert_int_eq(
		    dlm_lock(n.ls[3], &r, DLM_EX, &WHOLE, DLM_LKF_NOQUEUE, NULL, NULL, &lk, NULL),
		    0);
		ck_assert_int_eq(dlm_unlock(n.ls[3], lk), 0);
	}
	net_stop(&n, 3);
}
END_TEST

struct unlock_arg {
	struct dlm_ls *ls;
	uint64_t lkid;
	int rc;
};

static void *unlock_thread(void *arg)
{
	struct unlock_arg *u = arg;
	u->rc = dlm_unlock(u->ls, u->lkid);
	return NULL;
}

/* Cancel racing the grant: the holder unlocks and the waiter cancels at
 * once. Either the cancel wins (-ECANCELED) or the grant does (0, and the
 * waiter owns the lock); never both, never a lock left behind. */
START_TEST(cancel_races_grant)
{
	struct net n;
	net_start(&n, 3);
	net_wait_recovered(&n, 3);
	int won[2] = {0, 0};
	for (int i = 0; i < 300; i++) {
		uint32_t master = 1 + (uint32_t)i % 3;
		struct dlm_resname r =
		    net_res(net_res_mastered_by(master, 3, 20000 + (uint64_t)i * 10));
		uint64_t held, lk;
		ck_assert_int_eq(dlm_lock(n.ls[1], &r, DLM_EX, &WHOLE, 0, NULL, NULL, &held, NULL),
				 0);
		struct req_arg ra = {.ls = n.ls[2], .name = r, .mode = DLM_EX};
		pthread_t t;
		pthread_create(&t, NULL, req_thread, &ra);
		uint64_t id = published_lkid(&ra);
		wait_master_state(n.ls[master], "waiting", 1);
		struct unlock_arg ua = {n.ls[1], held, 1};
		pthread_t tu;
		pthread_create(&tu, NULL, unlock_thread, &ua);
		for (volatile int spin = 0; spin < (i % 10) * 2000; spin++)
			;
		int crc = dlm_cancel(n.ls[2], id);
		pthread_join(tu, NULL);
		ck_assert_int_eq(ua.rc, 0);
		pthread_join(t, NULL);
		if (ra.rc == 0) {
			won[0]++;
			ck_assert_int_eq(dlm_lock(n.ls[3], &r, DLM_PR, &WHOLE, DLM_LKF_NOQUEUE,
						  NULL, NULL, &lk, NULL),
					 -EAGAIN);
			ck_assert_int_eq(dlm_unlock(n.ls[2], id), 0);
			ck_assert(crc == 0 || crc == -ENOENT); /* late, or lost the race */
		} else {
			won[1]++;
			ck_assert_int_eq(ra.rc, -ECANCELED);
			ck_assert_int_eq(crc, 0);
		}
		ck_assert_int_eq(
		    dlm_lock(n.ls[3], &r, DLM_EX, &WHOLE, DLM_LKF_NOQUEUE, NULL, NULL, &lk, NULL),
		    0);
		ck_assert_int_eq(dlm_unlock(n.ls[3], lk), 0);
		struct dlm_ls_stats st;
		dlm_ls_get_stats(n.ls[2], &st);
		ck_assert_uint_eq(st.owned, 0);
	}
	ck_assert_int_eq(won[0] + won[1], 300);
	net_stop(&n, 3);
}
END_TEST

/* A request waiting on a resource whose dead master is not yet recovered
 * (queued at the new master as a blocked message) is cancelled too. */
START_TEST(cancel_blocked_by_dead_master)
{
	struct net n;
	net_start(&n, 3);
	net_wait_recovered(&n, 3);
	struct dlm_resname r = net_res(net_res_mastered_by(3, 3, 30000));
	net_kill(&n, 3, 3, 2);
	struct req_arg ra = {.ls = n.ls[1], .name = r, .mode = DLM_PR};
	pthread_t t;
	pthread_create(&t, NULL, req_thread, &ra);
	uint64_t id = published_lkid(&ra);
	usleep(20000); /* the request reaches the new master and is held there */
	ck_assert_int_eq(ra.done, 0);
	ck_assert_int_eq(dlm_cancel(n.ls[1], id), 0);
	pthread_join(t, NULL);
	ck_assert_int_eq(ra.rc, -ECANCELED);
	/* Once node 3 is recovered, the cancelled request is not granted. */
	ck_assert_int_eq(dlm_ls_node_recovered(n.ls[1], 3), 0);
	ck_assert_int_eq(dlm_ls_node_recovered(n.ls[2], 3), 0);
	uint64_t lk;
	ck_assert_int_eq(
	    dlm_lock(n.ls[2], &r, DLM_EX, &WHOLE, DLM_LKF_NOQUEUE, NULL, NULL, &lk, NULL), 0);
	ck_assert_int_eq(dlm_unlock(n.ls[2], lk), 0);
	struct dlm_ls_stats st;
	dlm_ls_get_stats(n.ls[1], &st);
	ck_assert_uint_eq(st.owned, 0);
	net_stop(&n, 3);
}
END_TEST

int main(void)
{
	log_setup("test_dlm", 0, LOG_ERROR);
	Suite *s = suite_create("dlm");
	TCase *tc = tcase_create("lockspace");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, bast_then_grant);
	tcase_add_test(tc, garbage_is_dropped);
	tcase_add_test(tc, stress_no_conflicting_grants);
	tcase_add_test(tc, recovery_keeps_and_blocks);
	tcase_add_test(tc, recovery_master_death_many_locks);
	tcase_add_test(tc, cancel_waiting_request);
	tcase_add_test(tc, cancel_conversion);
	tcase_add_test(tc, cancel_races_grant);
	tcase_add_test(tc, cancel_blocked_by_dead_master);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

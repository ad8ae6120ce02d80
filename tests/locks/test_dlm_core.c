/* Unit tests of the DLM's pure parts: the mode table, the grant rules of one
 * resource (queues, FIFO, conversions, range locks, grant expansion, blocking
 * callbacks) and the POSIX record-lock table (split, merge, partial unlock),
 * the last two also against brute-force models with random operations. */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "locks/dlm_mode.h"
#include "locks/dlm_rsb.h"
#include "locks/posix_lock.h"

static const struct dlm_range WHOLE = {0, DLM_RANGE_MAX};

START_TEST(mode_table)
{
	/* Spot checks against the standard table, and its symmetry. */
	ck_assert(dlm_mode_compat(DLM_PR, DLM_PR));
	ck_assert(!dlm_mode_compat(DLM_PR, DLM_CW));
	ck_assert(dlm_mode_compat(DLM_CW, DLM_CW));
	ck_assert(dlm_mode_compat(DLM_PW, DLM_CR));
	ck_assert(!dlm_mode_compat(DLM_PW, DLM_PR));
	ck_assert(!dlm_mode_compat(DLM_EX, DLM_CR));
	for (int a = 0; a < DLM_MODES; a++) {
		ck_assert(dlm_mode_compat(DLM_NL, a));
		for (int b = 0; b < DLM_MODES; b++)
			ck_assert_int_eq(dlm_mode_compat(a, b), dlm_mode_compat(b, a));
	}
	ck_assert_int_eq(dlm_mode_sup(DLM_CW, DLM_PR), DLM_PW);
	ck_assert_int_eq(dlm_mode_sup(DLM_CR, DLM_PR), DLM_PR);
	ck_assert_int_eq(dlm_mode_sup(DLM_NL, DLM_NL), DLM_NL);
	ck_assert(dlm_mode_covers(DLM_EX, DLM_PW));
	ck_assert(!dlm_mode_covers(DLM_PR, DLM_CW));
	/* A mode that covers another is compatible with no more than it. */
	for (int h = 0; h < DLM_MODES; h++)
		for (int w = 0; w < DLM_MODES; w++)
			if (dlm_mode_covers(h, w))
				for (int o = 0; o < DLM_MODES; o++)
					if (dlm_mode_compat(h, o))
						ck_assert(dlm_mode_compat(w, o));
	enum dlm_mode m;
	ck_assert_int_eq(dlm_mode_parse("pw", &m), 0);
	ck_assert_int_eq(m, DLM_PW);
	ck_assert_int_eq(dlm_mode_parse("XX", &m), -EINVAL);
	ck_assert(!dlm_mode_valid(6));
	ck_assert(!dlm_mode_valid(-1));
}
END_TEST

struct events {
	int grants;
	struct dlm_lock *last_grant;
	int basts;
	struct dlm_lock *last_bast;
	enum dlm_mode bast_mode;
};

static void ev_grant(void *arg, struct dlm_lock *lk)
{
	struct events *e = arg;
	e->grants++;
	e->last_grant = lk;
}

static void ev_bast(void *arg, struct dlm_lock *lk, enum dlm_mode mode)
{
	struct events *e = arg;
	e->basts++;
	e->last_bast = lk;
	e->bast_mode = mode;
}

START_TEST(rsb_queues_and_basts)
{
	struct events ev = {0};
	struct dlm_rsb_ops ops = {ev_grant, ev_bast, &ev};
	struct dlm_rsb rsb;
	dlm_rsb_init(&rsb, &ops);
	struct dlm_lock a = {.lkid = 1, .node = 1}, b = {.lkid = 2, .node = 2},
			c = {.lkid = 3, .node = 3};
	ck_assert_int_eq(dlm_rsb_request(&rsb, &a, DLM_PR, &WHOLE, 0), 0);
	ck_assert_int_eq(a.queue, DLM_Q_GRANTED);
	ck_assert_int_eq(ev.grants, 1);
	/* EX waits and the PR holder gets one blocking callback. */
	ck_assert_int_eq(dlm_rsb_request(&rsb, &b, DLM_EX, &WHOLE, 0), 0);
	ck_assert_int_eq(b.queue, DLM_Q_WAIT);
	ck_assert_int_eq(ev.basts, 1);
	ck_assert_ptr_eq(ev.last_bast, &a);
	ck_assert_int_eq(ev.bast_mode, DLM_EX);
	/* FIFO: a compatible PR behind the waiting EX waits too. */
	ck_assert_int_eq(dlm_rsb_request(&rsb, &c, DLM_PR, &WHOLE, 0), 0);
	ck_assert_int_eq(c.queue, DLM_Q_WAIT);
	ck_assert_int_eq(ev.basts, 1); /* not sent twice */
	/* Try-lock fails without queueing. */
	struct dlm_lock d = {.lkid = 4, .node = 4};
	ck_assert_int_eq(dlm_rsb_request(&rsb, &d, DLM_CR, &WHOLE, DLM_LKF_NOQUEUE), -EAGAIN);
	ck_assert_int_eq(d.queue, DLM_Q_NONE);
	/* Release PR: EX granted; c still waits and b's holder is called back. */
	dlm_rsb_remove(&rsb, &a);
	ck_assert_int_eq(b.queue, DLM_Q_GRANTED);
	ck_assert_int_eq(c.queue, DLM_Q_WAIT);
	ck_assert_ptr_eq(ev.last_bast, &b);
	ck_assert_int_eq(ev.bast_mode, DLM_PR);
	/* Downconvert EX -> PR: granted at once, and c shares it. */
	ck_assert_int_eq(dlm_rsb_convert(&rsb, &b, DLM_PR, &WHOLE, 0), 0);
	ck_assert_int_eq(b.grmode, DLM_PR);
	ck_assert_int_eq(c.queue, DLM_Q_GRANTED);
	/* Upconvert b PR -> EX waits on the convert queue, ahead of new waiters. */
	ck_assert_int_eq(dlm_rsb_convert(&rsb, &b, DLM_EX, &WHOLE, 0), 0);
	ck_assert_int_eq(b.queue, DLM_Q_CONVERT);
	ck_assert_int_eq(b.grmode, DLM_PR); /* still holds PR meanwhile */
	struct dlm_lock e = {.lkid = 5, .node = 5};
	ck_assert_int_eq(dlm_rsb_request(&rsb, &e, DLM_CR, &WHOLE, 0), 0);
	ck_assert_int_eq(e.queue, DLM_Q_WAIT);
	dlm_rsb_remove(&rsb, &c);
	ck_assert_int_eq(b.queue, DLM_Q_GRANTED);
	ck_assert_int_eq(b.grmode, DLM_EX);
	ck_assert_int_eq(e.queue, DLM_Q_WAIT);
	dlm_rsb_remove(&rsb, &b);
	ck_assert_int_eq(e.queue, DLM_Q_GRANTED);
	dlm_rsb_remove(&rsb, &e);
	ck_assert(dlm_rsb_empty(&rsb));
	/* Bad arguments. */
	struct dlm_range inv = {10, 5};
	ck_assert_int_eq(dlm_rsb_request(&rsb, &a, DLM_PR, &inv, 0), -EINVAL);
	ck_assert_int_eq(dlm_rsb_request(&rsb, &a, (enum dlm_mode)9, &WHOLE, 0), -EINVAL);
	ck_assert_int_eq(dlm_rsb_convert(&rsb, &a, DLM_PR, &WHOLE, 0), -EINVAL);
}
END_TEST

/* Rule 7 when the head of the convert queue already holds NL: a lock granted
 * NL converts to EX behind a PR holder that then converts to EX too. The
 * PR -> EX conversion conflicts with nothing granted, so it must not wait
 * behind the NL -> EX one that waits for it (the cluster stress hung here). */
START_TEST(rsb_convert_from_nl_deadlock)
{
	struct events ev = {0};
	struct dlm_rsb_ops ops = {ev_grant, ev_bast, &ev};
	struct dlm_rsb rsb;
	dlm_rsb_init(&rsb, &ops);
	struct dlm_lock a = {.lkid = 1, .node = 1}, b = {.lkid = 2, .node = 2};
	ck_assert_int_eq(dlm_rsb_request(&rsb, &a, DLM_NL, &WHOLE, 0), 0);
	ck_assert_int_eq(dlm_rsb_request(&rsb, &b, DLM_PR, &WHOLE, 0), 0);
	ck_assert_int_eq(dlm_rsb_convert(&rsb, &a, DLM_EX, &WHOLE, 0), 0);
	ck_assert_int_eq(a.queue, DLM_Q_CONVERT);
	ck_assert_int_eq(dlm_rsb_convert(&rsb, &b, DLM_EX, &WHOLE, 0), 0);
	ck_assert_int_eq(b.queue, DLM_Q_GRANTED);
	ck_assert_int_eq(b.grmode, DLM_EX);
	ck_assert_int_eq(a.queue, DLM_Q_CONVERT);
	dlm_rsb_remove(&rsb, &b);
	ck_assert_int_eq(a.queue, DLM_Q_GRANTED);
	ck_assert_int_eq(a.grmode, DLM_EX);
	dlm_rsb_remove(&rsb, &a);
	ck_assert(dlm_rsb_empty(&rsb));
}
END_TEST

/* dlm_rsb_cancel: a waiting request leaves, a conversion goes back to its
 * granted mode and what queued behind it is served; a granted lock or a
 * conversion demoted to NL (rule 7) has nothing to cancel. */
START_TEST(rsb_cancel)
{
	struct events ev = {0};
	struct dlm_rsb_ops ops = {ev_grant, ev_bast, &ev};
	struct dlm_rsb rsb;
	dlm_rsb_init(&rsb, &ops);
	struct dlm_lock a = {.lkid = 1}, b = {.lkid = 2}, c = {.lkid = 3}, d = {.lkid = 4};
	ck_assert_int_eq(dlm_rsb_request(&rsb, &a, DLM_PR, &WHOLE, 0), 0);
	ck_assert_int_eq(dlm_rsb_request(&rsb, &b, DLM_PR, &WHOLE, 0), 0);
	ck_assert_int_eq(dlm_rsb_convert(&rsb, &b, DLM_EX, &WHOLE, 0), 0);
	ck_assert_int_eq(b.queue, DLM_Q_CONVERT);
	ck_assert_int_eq(dlm_rsb_request(&rsb, &c, DLM_PR, &WHOLE, 0), 0);
	ck_assert_int_eq(c.queue, DLM_Q_WAIT); /* FIFO: behind the conversion */
	ck_assert_int_eq(dlm_rsb_request(&rsb, &d, DLM_EX, &WHOLE, 0), 0);
	ck_assert_int_eq(d.queue, DLM_Q_WAIT);
	ck_assert_int_eq(dlm_rsb_cancel(&rsb, &d), 0);
	ck_assert_int_eq(d.queue, DLM_Q_NONE);
	int grants = ev.grants;
	ck_assert_int_eq(dlm_rsb_cancel(&rsb, &b), 0);
	ck_assert_int_eq(b.queue, DLM_Q_GRANTED);
	ck_assert_int_eq(b.grmode, DLM_PR);
	ck_assert_int_eq(c.queue, DLM_Q_GRANTED); /* served once b stopped waiting */
	ck_assert_int_eq(ev.grants, grants + 1);
	ck_assert_ptr_eq(ev.last_grant, &c);
	ck_assert_int_eq(dlm_rsb_cancel(&rsb, &b), -EBUSY); /* granted */
	dlm_rsb_remove(&rsb, &c);
	/* Rule 7: a and b both convert PR->EX; a (head) is demoted to NL and b
	 * granted; a no longer holds PR, so its conversion cannot be cancelled. */
	ck_assert_int_eq(dlm_rsb_convert(&rsb, &a, DLM_EX, &WHOLE, 0), 0);
	ck_assert_int_eq(dlm_rsb_convert(&rsb, &b, DLM_EX, &WHOLE, 0), 0);
	ck_assert_int_eq(b.queue, DLM_Q_GRANTED);
	ck_assert(a.demoted);
	ck_assert_int_eq(dlm_rsb_cancel(&rsb, &a), -EBUSY);
	ck_assert_int_eq(a.queue, DLM_Q_CONVERT);
	dlm_rsb_remove(&rsb, &b);
	ck_assert_int_eq(a.queue, DLM_Q_GRANTED);
	ck_assert_int_eq(a.grmode, DLM_EX);
	dlm_rsb_remove(&rsb, &a);
	ck_assert(dlm_rsb_empty(&rsb));
}
END_TEST

START_TEST(rsb_ranges_and_expansion)
{
	struct events ev = {0};
	struct dlm_rsb_ops ops = {ev_grant, ev_bast, &ev};
	struct dlm_rsb rsb;
	dlm_rsb_init(&rsb, &ops);
	struct dlm_lock a = {.lkid = 1}, b = {.lkid = 2}, c = {.lkid = 3};
	struct dlm_range r1 = {100, 199}, r2 = {300, 399}, r3 = {150, 350};
	ck_assert_int_eq(dlm_rsb_request(&rsb, &a, DLM_EX, &r1, 0), 0);
	ck_assert_int_eq(dlm_rsb_request(&rsb, &b, DLM_EX, &r2, 0), 0);
	ck_assert_int_eq(b.queue, DLM_Q_GRANTED); /* disjoint ranges do not conflict */
	ck_assert_int_eq(dlm_rsb_request(&rsb, &c, DLM_PR, &r3, DLM_LKF_EXPAND), 0);
	ck_assert_int_eq(c.queue, DLM_Q_WAIT);
	ck_assert_int_eq(ev.basts, 2); /* both holders overlap the PR */
	dlm_rsb_remove(&rsb, &a);
	ck_assert_int_eq(c.queue, DLM_Q_WAIT);
	dlm_rsb_remove(&rsb, &b);
	ck_assert_int_eq(c.queue, DLM_Q_GRANTED);
	/* Nothing else there: expanded to the whole resource. */
	ck_assert_uint_eq(c.grrange.start, 0);
	ck_assert_uint_eq(c.grrange.end, DLM_RANGE_MAX);
	dlm_rsb_remove(&rsb, &c);
	/* Expansion stops at an incompatible holder on each side. */
	struct dlm_range left = {0, 9}, right = {1000, 2000}, mid = {500, 500};
	ck_assert_int_eq(dlm_rsb_request(&rsb, &a, DLM_EX, &left, 0), 0);
	ck_assert_int_eq(dlm_rsb_request(&rsb, &b, DLM_PR, &right, 0), 0);
	ck_assert_int_eq(dlm_rsb_request(&rsb, &c, DLM_EX, &mid, DLM_LKF_EXPAND), 0);
	ck_assert_int_eq(c.queue, DLM_Q_GRANTED);
	ck_assert_uint_eq(c.grrange.start, 10);
	ck_assert_uint_eq(c.grrange.end, 999);
	/* A compatible neighbour does not limit a PR's expansion. */
	dlm_rsb_remove(&rsb, &c);
	ck_assert_int_eq(dlm_rsb_request(&rsb, &c, DLM_PR, &mid, DLM_LKF_EXPAND), 0);
	ck_assert_uint_eq(c.grrange.start, 10);
	ck_assert_uint_eq(c.grrange.end, DLM_RANGE_MAX);
	/* Recovery: re-declaring a conflicting granted lock is refused. */
	struct dlm_lock d = {.lkid = 4, .grmode = DLM_EX, .grrange = {5, 6}};
	ck_assert_int_eq(dlm_rsb_restore_granted(&rsb, &d), -EINVAL);
	d.grrange = (struct dlm_range){11, 12};
	d.grmode = DLM_CR;
	ck_assert_int_eq(dlm_rsb_restore_granted(&rsb, &d), 0);
}
END_TEST

/* Random requests, conversions and releases; after every step no two granted
 * locks conflict on overlapping ranges, and whatever waits at the head of a
 * queue really conflicts with a granted lock (no lost wake-up). */
START_TEST(rsb_random_invariants)
{
	unsigned seed = (unsigned)time(NULL);
	printf("rsb random seed %u\n", seed);
	struct dlm_rsb rsb;
	dlm_rsb_init(&rsb, NULL);
	enum { N = 24 };
	struct dlm_lock lk[N];
	memset(lk, 0, sizeof(lk));
	for (int step = 0; step < 20000; step++) {
		struct dlm_lock *l = &lk[rand_r(&seed) % N];
		enum dlm_mode m = (enum dlm_mode)(rand_r(&seed) % DLM_MODES);
		uint64_t s = (uint64_t)(rand_r(&seed) % 64), len = (uint64_t)(rand_r(&seed) % 16);
		struct dlm_range r = {s, s + len};
		uint32_t fl = (rand_r(&seed) % 2 ? DLM_LKF_EXPAND : 0) |
			      (rand_r(&seed) % 5 == 0 ? DLM_LKF_NOQUEUE : 0);
		if (l->queue == DLM_Q_NONE)
			dlm_rsb_request(&rsb, l, m, &r, fl);
		else if (l->queue == DLM_Q_GRANTED && rand_r(&seed) % 2)
			dlm_rsb_convert(&rsb, l, m, &r, fl);
		else
			dlm_rsb_remove(&rsb, l);
		for (int i = 0; i < N; i++) {
			if (lk[i].queue != DLM_Q_GRANTED && lk[i].queue != DLM_Q_CONVERT)
				continue;
			for (int j = i + 1; j < N; j++) {
				if (lk[j].queue != DLM_Q_GRANTED && lk[j].queue != DLM_Q_CONVERT)
					continue;
				if (dlm_range_overlap(&lk[i].grrange, &lk[j].grrange))
					ck_assert_msg(dlm_mode_compat(lk[i].grmode, lk[j].grmode),
						      "seed %u step %d: %d and %d conflict", seed,
						      step, i, j);
			}
		}
		struct dlm_lock *head = rsb.convert.head ? rsb.convert.head : rsb.wait.head;
		if (head) {
			bool blocked = false;
			for (int i = 0; i < N; i++) {
				if (&lk[i] == head ||
				    (lk[i].queue != DLM_Q_GRANTED && lk[i].queue != DLM_Q_CONVERT))
					continue;
				if (dlm_range_overlap(&lk[i].grrange, &head->rqrange) &&
				    !dlm_mode_compat(lk[i].grmode, head->rqmode))
					blocked = true;
			}
			ck_assert_msg(blocked, "seed %u step %d: head waits for nothing", seed,
				      step);
		}
	}
}
END_TEST

static struct posix_lock pl(uint32_t node, uint64_t owner, enum posix_lock_type t, uint64_t s,
			    uint64_t e)
{
	return (struct posix_lock){.who = {node, owner}, .type = t, .start = s, .end = e};
}

START_TEST(posix_split_merge)
{
	struct posix_lock_table t;
	posix_lock_table_init(&t);
	struct posix_lock w = pl(1, 1, POSIX_LOCK_WR, 0, 99);
	ck_assert_int_eq(posix_lock_set(&t, &w), 0);
	/* Unlock the middle: split in two. */
	w = pl(1, 1, POSIX_LOCK_UN, 40, 59);
	ck_assert_int_eq(posix_lock_set(&t, &w), 0);
	ck_assert_uint_eq(t.count, 2);
	ck_assert_uint_eq(t.locks[0].end, 39);
	ck_assert_uint_eq(t.locks[1].start, 60);
	/* Another owner may lock the hole, not the held parts. */
	struct posix_lock o = pl(2, 7, POSIX_LOCK_RD, 40, 59), c;
	ck_assert_int_eq(posix_lock_test(&t, &o, &c), 0);
	o.end = 60;
	ck_assert_int_eq(posix_lock_test(&t, &o, &c), 1);
	ck_assert_uint_eq(c.start, 60);
	ck_assert_int_eq(c.type, POSIX_LOCK_WR);
	ck_assert_int_eq(posix_lock_set(&t, &o), -EAGAIN);
	/* Re-lock the hole by the owner: merges back into one lock. */
	w = pl(1, 1, POSIX_LOCK_WR, 40, 59);
	ck_assert_int_eq(posix_lock_set(&t, &w), 0);
	ck_assert_uint_eq(t.count, 1);
	ck_assert_uint_eq(t.locks[0].start, 0);
	ck_assert_uint_eq(t.locks[0].end, 99);
	/* Downgrade a piece to read: three pieces, readers of others share it. */
	w = pl(1, 1, POSIX_LOCK_RD, 10, 19);
	ck_assert_int_eq(posix_lock_set(&t, &w), 0);
	ck_assert_uint_eq(t.count, 3);
	o = pl(2, 7, POSIX_LOCK_RD, 10, 19);
	ck_assert_int_eq(posix_lock_set(&t, &o), 0);
	/* Lock to EOF, then drop by owner and by node. */
	w = pl(1, 2, POSIX_LOCK_RD, 1000, POSIX_LOCK_EOF);
	ck_assert_int_eq(posix_lock_set(&t, &w), 0);
	struct posix_owner one = {1, 1};
	ck_assert_uint_eq(posix_lock_drop_owner(&t, &one), 3);
	ck_assert_uint_eq(posix_lock_drop_node(&t, 1), 1);
	ck_assert_uint_eq(t.count, 1);
	ck_assert_uint_eq(posix_lock_drop_node(&t, 2), 1);
	/* Bad arguments. */
	w = pl(1, 1, POSIX_LOCK_WR, 10, 5);
	ck_assert_int_eq(posix_lock_set(&t, &w), -EINVAL);
	w = pl(1, 1, (enum posix_lock_type)7, 1, 5);
	ck_assert_int_eq(posix_lock_set(&t, &w), -EINVAL);
	ck_assert_int_eq(posix_lock_test(&t, &w, NULL), -EINVAL);
	posix_lock_table_free(&t);
}
END_TEST

/* Model: for each byte 0..127 and each of 3 owners, the lock type held. */
START_TEST(posix_random_model)
{
	unsigned seed = (unsigned)time(NULL) ^ 0x5a5a;
	printf("posix random seed %u\n", seed);
	enum { B = 128, O = 3 };
	int model[O][B]; /* -1 none, 0 RD, 1 WR */
	memset(model, 0xff, sizeof(model));
	struct posix_lock_table t;
	posix_lock_table_init(&t);
	for (int step = 0; step < 6000; step++) {
		int ow = rand_r(&seed) % O;
		enum posix_lock_type ty = (enum posix_lock_type)(rand_r(&seed) % 3);
		uint64_t s = (uint64_t)(rand_r(&seed) % B);
		uint64_t e = s + (uint64_t)(rand_r(&seed) % 20);
		if (e >= B)
			e = B - 1;
		struct posix_lock w = pl(1, (uint64_t)ow, ty, s, e);
		bool conflict = false;
		for (uint64_t x = s; x <= e && ty != POSIX_LOCK_UN; x++)
			for (int o = 0; o < O; o++)
				if (o != ow && model[o][x] >= 0 &&
				    (model[o][x] == 1 || ty == POSIX_LOCK_WR))
					conflict = true;
		int rc = posix_lock_set(&t, &w);
		ck_assert_int_eq(rc, conflict ? -EAGAIN : 0);
		if (!conflict)
			for (uint64_t x = s; x <= e; x++)
				model[ow][x] = ty == POSIX_LOCK_UN ? -1 : (int)ty;
		/* Compare, and check normal form: sorted, no overlap or mergeable
		 * neighbours within an owner. */
		int got[O][B];
		memset(got, 0xff, sizeof(got));
		for (size_t i = 0; i < t.count; i++) {
			const struct posix_lock *l = &t.locks[i];
			if (i)
				ck_assert_uint_le(t.locks[i - 1].start, l->start);
			for (uint64_t x = l->start; x <= l->end; x++) {
				ck_assert_int_eq(got[l->who.owner][x], -1);
				got[l->who.owner][x] = (int)l->type;
			}
			for (size_t j = 0; j < t.count; j++) {
				const struct posix_lock *m = &t.locks[j];
				if (j != i && m->who.owner == l->who.owner && m->type == l->type)
					ck_assert(m->start != l->end + 1);
			}
		}
		ck_assert_msg(!memcmp(got, model, sizeof(got)), "seed %u step %d differs", seed,
			      step);
	}
	posix_lock_table_free(&t);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("dlm_core");
	TCase *tc = tcase_create("core");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, mode_table);
	tcase_add_test(tc, rsb_queues_and_basts);
	tcase_add_test(tc, rsb_convert_from_nl_deadlock);
	tcase_add_test(tc, rsb_cancel);
	tcase_add_test(tc, rsb_ranges_and_expansion);
	tcase_add_test(tc, rsb_random_invariants);
	tcase_add_test(tc, posix_split_merge);
	tcase_add_test(tc, posix_random_model);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

/* Cluster-wide POSIX record locks over the in-process fake network: conflicts
 * across nodes, F_GETLK, blocking waits woken by a partial unlock, cancel
 * (interrupted waits), the death of a holder (its locks stay until it is
 * recovered) and of the master (survivors' locks are re-declared), and a
 * random sequence compared with one local lock table as the model. */
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
#include "fake_net.h"
#include "locks/dlm.h"
#include "locks/dlm_master.h"
#include "locks/posix_lock.h"

#define FS 9

static struct dlm_plock pl(uint64_t ino, uint64_t owner, int type, uint64_t s, uint64_t e)
{
	return (struct dlm_plock){.fs = FS,
				  .ino = ino,
				  .owner = owner,
				  .pid = (uint32_t)owner,
				  .type = type,
				  .start = s,
				  .end = e};
}

/* An inode whose POSIX resource is mastered by `want` among nodes 1..n. */
static uint64_t ino_mastered_by(uint32_t want, int nodes, uint64_t from)
{
	uint32_t members[MAXN];
	for (int i = 0; i < nodes; i++)
		members[i] = (uint32_t)(i + 1);
	for (uint64_t ino = from;; ino++) {
		uint8_t b[17];
		uint64_t fs = FS;
		memcpy(b, &fs, 8);
		memcpy(b + 8, &ino, 8);
		b[16] = DLM_RES_POSIX;
		if (dlm_master_of(dlm_name_hash(b, 17), members, (size_t)nodes) == want)
			return ino;
	}
}

struct waiter {
	struct dlm_ls *ls;
	struct dlm_plock pl;
	int rc;
	atomic_int done;
};

static void *waiter_main(void *arg)
{
	struct waiter *w = arg;
	w->rc = dlm_plock_set(w->ls, &w->pl, true);
	atomic_store(&w->done, 1);
	return NULL;
}

static void wait_done(struct waiter *w)
{
	for (int i = 0; i < 2000 && !atomic_load(&w->done); i++)
		usleep(1000);
	ck_assert_int_eq(atomic_load(&w->done), 1);
}

START_TEST(conflicts_getlk_and_wakeup)
{
	struct net n;
	net_start(&n, 3);
	net_wait_recovered(&n, 3);
	for (uint32_t master = 1; master <= 3; master++) {
		uint64_t ino = ino_mastered_by(master, 3, master * 100);
		struct dlm_plock a = pl(ino, 11, POSIX_LOCK_WR, 0, 99);
		ck_assert_int_eq(dlm_plock_set(n.ls[1], &a, false), 0);
		struct dlm_plock b = pl(ino, 22, POSIX_LOCK_RD, 50, 60), c;
		ck_assert_int_eq(dlm_plock_set(n.ls[2], &b, false), -EAGAIN);
		ck_assert_int_eq(dlm_plock_get(n.ls[2], &b, &c), 0);
		ck_assert_int_eq(c.type, POSIX_LOCK_WR);
		ck_assert_uint_eq(c.start, 0);
		ck_assert_uint_eq(c.end, 99);
		ck_assert_uint_eq(c.node, 1);
		ck_assert_uint_eq(c.pid, 11);
		/* Outside the held range: nothing conflicts. */
		struct dlm_plock d = pl(ino, 22, POSIX_LOCK_WR, 100, 200);
		ck_assert_int_eq(dlm_plock_get(n.ls[2], &d, &c), 0);
		ck_assert_int_eq(c.type, POSIX_LOCK_UN);
		/* A blocking wait, woken by a partial unlock of the middle. */
		struct waiter w = {.ls = n.ls[2], .pl = b};
		pthread_t t;
		pthread_create(&t, NULL, waiter_main, &w);
		usleep(50000);
		ck_assert_int_eq(atomic_load(&w.done), 0);
		struct dlm_plock un = pl(ino, 11, POSIX_LOCK_UN, 40, 70);
		ck_assert_int_eq(dlm_plock_set(n.ls[1], &un, false), 0);
		wait_done(&w);
		pthread_join(t, NULL);
		ck_assert_int_eq(w.rc, 0);
		/* Node 1 still holds [0,39] and [71,99]. */
		struct dlm_plock e = pl(ino, 33, POSIX_LOCK_RD, 39, 39);
		ck_assert_int_eq(dlm_plock_set(n.ls[3], &e, false), -EAGAIN);
		e = pl(ino, 33, POSIX_LOCK_RD, 45, 45);
		ck_assert_int_eq(dlm_plock_set(n.ls[3], &e, false), 0); /* shares the RD */
		/* Cancel an interrupted wait. */
		struct waiter w2 = {.ls = n.ls[3], .pl = pl(ino, 44, POSIX_LOCK_WR, 0, 10)};
		pthread_create(&t, NULL, waiter_main, &w2);
		usleep(50000);
		for (int i = 0; i < 100 && dlm_plock_cancel(n.ls[3], FS, ino, 44) == -ENOENT; i++)
			usleep(1000);
		wait_done(&w2);
		pthread_join(t, NULL);
		ck_assert_int_eq(w2.rc, -EINTR);
		/* Owners drop everything (close). */
		struct dlm_plock all = pl(ino, 11, POSIX_LOCK_UN, 0, POSIX_LOCK_EOF);
		ck_assert_int_eq(dlm_plock_set(n.ls[1], &all, false), 0);
		all.owner = 22;
		ck_assert_int_eq(dlm_plock_set(n.ls[2], &all, false), 0);
		all.owner = 33;
		ck_assert_int_eq(dlm_plock_set(n.ls[3], &all, false), 0);
		struct dlm_plock f = pl(ino, 55, POSIX_LOCK_WR, 0, POSIX_LOCK_EOF);
		ck_assert_int_eq(dlm_plock_set(n.ls[2], &f, false), 0);
		f.type = POSIX_LOCK_UN;
		ck_assert_int_eq(dlm_plock_set(n.ls[2], &f, false), 0);
	}
	struct dlm_plock bad = pl(1, 1, 7, 0, 1);
	ck_assert_int_eq(dlm_plock_set(n.ls[1], &bad, false), -EINVAL);
	bad = pl(1, 1, POSIX_LOCK_RD, 9, 1);
	ck_assert_int_eq(dlm_plock_set(n.ls[1], &bad, false), -EINVAL);
	net_stop(&n, 3);
}
END_TEST

START_TEST(holder_and_master_death)
{
	struct net n;
	net_start(&n, 3);
	net_wait_recovered(&n, 3);
	/* f1 mastered by node 2: held by node 3 (dies). f2 mastered by node 3
	 * (dies): held by node 1 (survives). */
	uint64_t f1 = ino_mastered_by(2, 3, 1000), f2 = ino_mastered_by(3, 3, 2000);
	struct dlm_plock h1 = pl(f1, 1, POSIX_LOCK_WR, 0, POSIX_LOCK_EOF);
	struct dlm_plock h2 = pl(f2, 2, POSIX_LOCK_WR, 0, 9);
	ck_assert_int_eq(dlm_plock_set(n.ls[3], &h1, false), 0);
	ck_assert_int_eq(dlm_plock_set(n.ls[1], &h2, false), 0);
	net_kill(&n, 3, 3, 2);
	/* The dead node's lock on f1 holds until it is recovered. */
	struct waiter w = {.ls = n.ls[2], .pl = pl(f1, 7, POSIX_LOCK_RD, 5, 5)};
	pthread_t t;
	pthread_create(&t, NULL, waiter_main, &w);
	usleep(100000);
	ck_assert_int_eq(atomic_load(&w.done), 0);
	/* f2's master died: nothing new there until recovery, try-locks fail. */
	struct dlm_plock x = pl(f2, 8, POSIX_LOCK_RD, 20, 30);
	ck_assert_int_eq(dlm_plock_set(n.ls[2], &x, false), -EAGAIN);
	ck_assert_int_eq(dlm_ls_node_recovered(n.ls[1], 3), 0);
	ck_assert_int_eq(dlm_ls_node_recovered(n.ls[2], 3), 0);
	wait_done(&w);
	pthread_join(t, NULL);
	ck_assert_int_eq(w.rc, 0);
	/* Node 1's lock on f2 was re-declared to f2's new master. */
	struct dlm_plock y = pl(f2, 8, POSIX_LOCK_RD, 5, 5);
	ck_assert_int_eq(dlm_plock_set(n.ls[2], &y, false), -EAGAIN);
	ck_assert_int_eq(dlm_plock_set(n.ls[2], &x, false), 0); /* outside it */
	net_stop(&n, 3);
}
END_TEST

START_TEST(random_against_model)
{
	unsigned seed = (unsigned)time(NULL);
	printf("plock random seed %u\n", seed);
	struct net n;
	net_start(&n, 3);
	net_wait_recovered(&n, 3);
	struct posix_lock_table model;
	posix_lock_table_init(&model);
	for (int step = 0; step < 1500; step++) {
		uint32_t node = 1 + (uint32_t)(rand_r(&seed) % 3);
		uint64_t owner = node * 10 + (uint64_t)(rand_r(&seed) % 2);
		int type = rand_r(&seed) % 3;
		uint64_t s = (uint64_t)(rand_r(&seed) % 100),
			 e = s + (uint64_t)(rand_r(&seed) % 30);
		struct dlm_plock p = pl(77, owner, type, s, e);
		struct posix_lock m = {.who = {node, owner},
				       .type = (enum posix_lock_type)type,
				       .start = s,
				       .end = e,
				       .pid = (uint32_t)owner};
		int want = posix_lock_set(&model, &m);
		int got = dlm_plock_set(n.ls[node], &p, false);
		ck_assert_msg(got == want, "seed %u step %d: got %d want %d", seed, step, got,
			      want);
		if (type != POSIX_LOCK_UN) {
			struct dlm_plock c;
			struct posix_lock mc;
			uint32_t other = 1 + node % 3;
			struct dlm_plock q = pl(77, other * 10 + 5, type, s, e);
			struct posix_lock mq = {.who = {other, other * 10 + 5},
						.type = (enum posix_lock_type)type,
						.start = s,
						.end = e};
			ck_assert_int_eq(dlm_plock_get(n.ls[other], &q, &c), 0);
			int mt = posix_lock_test(&model, &mq, &mc);
			ck_assert_int_eq(c.type != POSIX_LOCK_UN, mt == 1);
		}
	}
	posix_lock_table_free(&model);
	net_stop(&n, 3);
}
END_TEST

int main(void)
{
	log_setup("test_plock", 0, LOG_ERROR);
	Suite *s = suite_create("plock");
	TCase *tc = tcase_create("cluster");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, conflicts_getlk_and_wakeup);
	tcase_add_test(tc, holder_and_master_death);
	tcase_add_test(tc, random_against_model);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

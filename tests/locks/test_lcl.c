/* Unit tests of the local lock caching layer: the mode table (PR shares, EX
 * excludes), try-lock, argument checks, FIFO fairness, and a multi-threaded
 * stress run whose invariant (never a writer together with anyone else) is
 * checked on every grant. */
#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "locks/lcl.h"

#define INO(n) LCL_RES(LCL_T_INODE, n)

START_TEST(shared_and_exclusive)
{
	struct lcl *l;
	struct lcl_handle *a, *b, *c;
	ck_assert_int_eq(lcl_create_local(&l), 0);
	ck_assert_int_eq(lcl_lock(l, INO(7), LCL_PR, &a), 0);
	ck_assert_int_eq(lcl_trylock(l, INO(7), LCL_PR, &b), 0);
	ck_assert_int_eq(lcl_trylock(l, INO(7), LCL_EX, &c), -EAGAIN);
	/* Another resource is independent. */
	ck_assert_int_eq(lcl_trylock(l, INO(8), LCL_EX, &c), 0);
	lcl_unlock(c);
	lcl_unlock(a);
	ck_assert_int_eq(lcl_trylock(l, INO(7), LCL_EX, &c), -EAGAIN);
	lcl_unlock(b);
	ck_assert_int_eq(lcl_trylock(l, INO(7), LCL_EX, &c), 0);
	ck_assert_int_eq(lcl_trylock(l, INO(7), LCL_PR, &a), -EAGAIN);
	ck_assert_int_eq(lcl_trylock(l, INO(7), LCL_EX, &a), -EAGAIN);
	lcl_unlock(c);
	lcl_destroy(l);
}
END_TEST

START_TEST(bad_arguments)
{
	struct lcl *l;
	struct lcl_handle *h;
	ck_assert_int_eq(lcl_create_local(&l), 0);
	ck_assert_int_eq(lcl_lock(l, LCL_RES(0, 1), LCL_PR, &h), -EINVAL);
	ck_assert_int_eq(lcl_lock(l, LCL_RES(LCL_T_MAX, 1), LCL_PR, &h), -EINVAL);
	ck_assert_int_eq(lcl_lock(l, INO(1), (enum lcl_mode)7, &h), -EINVAL);
	ck_assert_int_eq(lcl_lock_node(l, INO(1), (enum lcl_mode)0), -EINVAL);
	struct lcl_callouts co = {0};
	ck_assert_int_eq(lcl_set_callouts(l, (enum lcl_type)9, &co), -EINVAL);
	ck_assert_int_eq(lcl_set_callouts(l, LCL_T_INODE, &co), 0);
	ck_assert_int_eq(lcl_lock_node(l, INO(1), LCL_EX), 0);
	lcl_unlock_node(l, INO(1), LCL_EX);
	ck_assert_uint_eq(LCL_RES_TYPE(INO(5)), LCL_T_INODE);
	ck_assert_uint_eq(LCL_RES_NUM(INO(5)), 5);
	lcl_destroy(l);
}
END_TEST

/* A reader arriving after a waiting writer must not overtake it. */
struct fair_ctx {
	struct lcl *l;
	atomic_int order;
	int writer_at, reader_at;
};

static void *fair_writer(void *arg)
{
	struct fair_ctx *c = arg;
	struct lcl_handle *h;
	ck_assert_int_eq(lcl_lock(c->l, INO(1), LCL_EX, &h), 0);
	c->writer_at = atomic_fetch_add(&c->order, 1);
	lcl_unlock(h);
	return NULL;
}

static void *fair_reader(void *arg)
{
	struct fair_ctx *c = arg;
	struct lcl_handle *h;
	ck_assert_int_eq(lcl_lock(c->l, INO(1), LCL_PR, &h), 0);
	c->reader_at = atomic_fetch_add(&c->order, 1);
	lcl_unlock(h);
	return NULL;
}

START_TEST(fifo_no_writer_starvation)
{
	struct fair_ctx c = {0};
	struct lcl_handle *first;
	pthread_t w, r;
	ck_assert_int_eq(lcl_create_local(&c.l), 0);
	ck_assert_int_eq(lcl_lock(c.l, INO(1), LCL_PR, &first), 0);
	pthread_create(&w, NULL, fair_writer, &c);
	usleep(50000); /* let the writer queue */
	pthread_create(&r, NULL, fair_reader, &c);
	usleep(50000);
	lcl_unlock(first);
	pthread_join(w, NULL);
	pthread_join(r, NULL);
	ck_assert_int_lt(c.writer_at, c.reader_at);
	lcl_destroy(c.l);
}
END_TEST

struct stress_ctx {
	struct lcl *l;
	atomic_int readers[8];
	atomic_int writers[8];
	atomic_int violations;
	unsigned seed;
};

static void *stress_thread(void *arg)
{
	struct stress_ctx *c = arg;
	unsigned seed = __atomic_fetch_add(&c->seed, 7919, __ATOMIC_RELAXED);
	for (int i = 0; i < 20000; i++) {
		unsigned r = (unsigned)rand_r(&seed) % 8;
		enum lcl_mode m = rand_r(&seed) % 3 == 0 ? LCL_EX : LCL_PR;
		struct lcl_handle *h;
		int rc = (rand_r(&seed) % 4 == 0) ? lcl_trylock(c->l, INO(r), m, &h)
						  : lcl_lock(c->l, INO(r), m, &h);
		if (rc == -EAGAIN)
			continue;
		ck_assert_int_eq(rc, 0);
		if (m == LCL_EX) {
			if (atomic_fetch_add(&c->writers[r], 1) != 0 || atomic_load(&c->readers[r]))
				atomic_fetch_add(&c->violations, 1);
			atomic_fetch_sub(&c->writers[r], 1);
		} else {
			atomic_fetch_add(&c->readers[r], 1);
			if (atomic_load(&c->writers[r]))
				atomic_fetch_add(&c->violations, 1);
			atomic_fetch_sub(&c->readers[r], 1);
		}
		lcl_unlock(h);
	}
	return NULL;
}

START_TEST(stress_invariant)
{
	struct stress_ctx c = {0};
	c.seed = (unsigned)time(NULL);
	printf("lcl stress seed %u\n", c.seed);
	ck_assert_int_eq(lcl_create_local(&c.l), 0);
	pthread_t t[6];
	for (int i = 0; i < 6; i++)
		pthread_create(&t[i], NULL, stress_thread, &c);
	for (int i = 0; i < 6; i++)
		pthread_join(t[i], NULL);
	ck_assert_int_eq(atomic_load(&c.violations), 0);
	lcl_destroy(c.l);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("lcl");
	TCase *tc = tcase_create("local");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, shared_and_exclusive);
	tcase_add_test(tc, bad_arguments);
	tcase_add_test(tc, fifo_no_writer_starvation);
	tcase_add_test(tc, stress_invariant);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

/* Unit tests of the aligned buffer pool: alignment, distinct buffers,
 * exhaustion, blocking get woken by put, many threads at once. */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

#include "blockdev/bdev.h"
#include "tb_util.h"

START_TEST(pool_create_errors)
{
	struct bdev_pool *p = (struct bdev_pool *)1;
	ck_assert_int_eq(bdev_pool_create(0, 4, &p), -EINVAL);
	ck_assert_ptr_null(p);
	ck_assert_int_eq(bdev_pool_create(1000, 4, &p), -EINVAL);
	ck_assert_int_eq(bdev_pool_create(4096, 0, &p), -EINVAL);
	ck_assert_int_eq(bdev_pool_create(SIZE_MAX - 4095, 2, &p), -ENOMEM);
}
END_TEST

START_TEST(pool_buffers_distinct_and_aligned)
{
	struct bdev_pool *p;
	ck_assert_int_eq(bdev_pool_create(8192, 5, &p), 0);
	ck_assert_uint_eq(bdev_pool_buf_size(p), 8192);
	ck_assert_uint_eq(bdev_pool_count(p), 5);
	uint8_t *b[5];
	for (int i = 0; i < 5; i++) {
		b[i] = bdev_pool_tryget(p);
		ck_assert_ptr_nonnull(b[i]);
		ck_assert_uint_eq((uintptr_t)b[i] % 4096, 0);
		static const uint8_t zero[8192];
		ck_assert(memcmp(b[i], zero, 8192) == 0);
		memset(b[i], i + 1, 8192); /* no overlap: checked below */
		ck_assert_uint_eq(bdev_pool_available(p), 4 - i);
	}
	for (int i = 0; i < 5; i++) {
		ck_assert_uint_eq(b[i][0], i + 1);
		ck_assert_uint_eq(b[i][8191], i + 1);
	}
	ck_assert_ptr_null(bdev_pool_tryget(p));
	bdev_pool_put(p, b[2]);
	ck_assert_uint_eq(bdev_pool_available(p), 1);
	ck_assert_ptr_eq(bdev_pool_tryget(p), b[2]);
	for (int i = 0; i < 5; i++)
		bdev_pool_put(p, b[i]);
	bdev_pool_put(p, NULL);
	ck_assert_uint_eq(bdev_pool_available(p), 5);
	bdev_pool_destroy(p);
}
END_TEST

/* Direct I/O works on pool buffers. */
START_TEST(pool_buffers_do_direct_io)
{
	char img[64];
	tb_image(img, 1 << 20);
	struct bdev *dev;
	ck_assert_int_eq(bdev_open(img, 0, &dev), 0);
	struct bdev_pool *p;
	ck_assert_int_eq(bdev_pool_create(65536, 2, &p), 0);
	uint8_t *w = bdev_pool_get(p), *r = bdev_pool_get(p);
	tb_fill(w, 65536, 3);
	ck_assert_int_eq(bdev_write(dev, 65536, w, 65536), 0);
	ck_assert_int_eq(bdev_read(dev, 65536, r, 65536), 0);
	ck_assert_mem_eq(r, w, 65536);
	bdev_pool_put(p, w);
	bdev_pool_put(p, r);
	bdev_pool_destroy(p);
	bdev_close(dev);
	unlink(img);
}
END_TEST

struct waiter {
	struct bdev_pool *p;
	atomic_int got;
	void *buf;
};

static void *waiter_run(void *arg)
{
	struct waiter *w = arg;
	w->buf = bdev_pool_get(w->p);
	atomic_store(&w->got, 1);
	return NULL;
}

START_TEST(pool_get_blocks_until_put)
{
	struct bdev_pool *p;
	ck_assert_int_eq(bdev_pool_create(4096, 1, &p), 0);
	void *only = bdev_pool_get(p);
	struct waiter w = {.p = p};
	pthread_t th;
	ck_assert_int_eq(pthread_create(&th, NULL, waiter_run, &w), 0);
	struct timespec ts = {0, 100 * 1000 * 1000};
	nanosleep(&ts, NULL);
	ck_assert_int_eq(atomic_load(&w.got), 0); /* still waiting */
	bdev_pool_put(p, only);
	pthread_join(th, NULL);
	ck_assert_int_eq(atomic_load(&w.got), 1);
	ck_assert_ptr_eq(w.buf, only);
	bdev_pool_put(p, w.buf);
	bdev_pool_destroy(p);
}
END_TEST

struct churn {
	struct bdev_pool *p;
	unsigned id;
	int bad;
};

static void *churn_run(void *arg)
{
	struct churn *c = arg;
	for (unsigned i = 0; i < 5000; i++) {
		uint32_t *b = bdev_pool_get(c->p);
		/* While we hold it nobody else may write it. */
		b[0] = c->id;
		b[1023] = i;
		sched_yield();
		if (b[0] != c->id || b[1023] != i)
			c->bad = 1;
		bdev_pool_put(c->p, b);
	}
	return NULL;
}

START_TEST(pool_threads)
{
	struct bdev_pool *p;
	ck_assert_int_eq(bdev_pool_create(4096, 3, &p), 0);
	pthread_t th[8];
	struct churn c[8];
	for (unsigned i = 0; i < 8; i++) {
		c[i] = (struct churn){.p = p, .id = i + 1};
		ck_assert_int_eq(pthread_create(&th[i], NULL, churn_run, &c[i]), 0);
	}
	for (unsigned i = 0; i < 8; i++) {
		pthread_join(th[i], NULL);
		ck_assert_int_eq(c[i].bad, 0);
	}
	ck_assert_uint_eq(bdev_pool_available(p), 3);
	bdev_pool_destroy(p);
}
END_TEST

Suite *pool_suite(void)
{
	Suite *s = suite_create("pool");
	TCase *tc = tcase_create("pool");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, pool_create_errors);
	tcase_add_test(tc, pool_buffers_distinct_and_aligned);
	tcase_add_test(tc, pool_buffers_do_direct_io);
	tcase_add_test(tc, pool_get_blocks_until_put);
	tcase_add_test(tc, pool_threads);
	suite_add_tcase(s, tc);
	return s;
}

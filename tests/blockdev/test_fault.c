/* Unit tests of the test-only fault injection: EIO on a range, EIO after N
 * writes, torn multi-sector writes, latency, SANFS_BDEV_FAULTS parsing and
 * its effect at bdev_open. Each checks the device contents too. */
#include <errno.h>
#include <pthread.h>
#include <time.h>

#include "blockdev/bdev.h"
#include "tb_util.h"

static char img[64];
static struct bdev *dev;
static uint8_t *buf, *rd;

static void setup(void)
{
	unsetenv("SANFS_BDEV_FAULTS");
	tb_image(img, 1 << 20);
	ck_assert_int_eq(bdev_open(img, 0, &dev), 0);
	buf = bdev_alloc(65536);
	rd = bdev_alloc(65536);
}

static void teardown(void)
{
	bdev_close(dev);
	bdev_free(buf);
	bdev_free(rd);
	unlink(img);
}

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

START_TEST(eio_range_read_write)
{
	struct bdev_fault f = {.kind = BDEV_FAULT_EIO, .off = 8192, .len = 4096};
	ck_assert_int_eq(bdev_fault_add(dev, &f), 0);
	ck_assert_int_eq(bdev_read(dev, 8192, rd, 4096), -EIO);
	ck_assert_int_eq(bdev_read(dev, 0, rd, 12288), -EIO); /* overlaps the end */
	ck_assert_int_eq(bdev_read(dev, 4096, rd, 4096), 0);  /* just before */
	ck_assert_int_eq(bdev_read(dev, 12288, rd, 4096), 0); /* just after */
	memset(buf, 0x77, 16384);
	ck_assert_int_eq(bdev_write(dev, 4096, buf, 16384), -EIO);
	uint8_t peek[16384];
	tb_peek(img, 4096, peek, sizeof(peek));
	for (size_t i = 0; i < sizeof(peek); i++) /* nothing of the request was written */
		ck_assert_uint_eq(peek[i], 0);
	ck_assert_uint_eq(bdev_fault_hits(dev), 3);
	bdev_fault_clear(dev);
	ck_assert_int_eq(bdev_write(dev, 4096, buf, 16384), 0);
	ck_assert_int_eq(bdev_read(dev, 8192, rd, 4096), 0);
	ck_assert_uint_eq(rd[0], 0x77);
}
END_TEST

START_TEST(eio_range_write_only)
{
	struct bdev_fault f = {
	    .kind = BDEV_FAULT_EIO, .ops = BDEV_FAULT_WRITE, .off = 0, .len = 512};
	ck_assert_int_eq(bdev_fault_add(dev, &f), 0);
	ck_assert_int_eq(bdev_read(dev, 0, rd, 4096), 0);
	ck_assert_int_eq(bdev_write(dev, 0, buf, 4096), -EIO);
	ck_assert_int_eq(bdev_write(dev, 4096, buf, 4096), 0);
	/* Invalid rules are refused. */
	struct bdev_fault bad = {.kind = BDEV_FAULT_EIO, .off = 0, .len = 0};
	ck_assert_int_eq(bdev_fault_add(dev, &bad), -EINVAL);
	bad = (struct bdev_fault){.kind = 99};
	ck_assert_int_eq(bdev_fault_add(dev, &bad), -EINVAL);
}
END_TEST

START_TEST(eio_after_n_writes)
{
	struct bdev_fault f = {.kind = BDEV_FAULT_EIO_AFTER, .n = 3};
	ck_assert_int_eq(bdev_fault_add(dev, &f), 0);
	for (int i = 0; i < 3; i++) {
		ck_assert_int_eq(bdev_flush(dev), 0);
		memset(buf, i + 1, 4096);
		ck_assert_int_eq(bdev_write(dev, (uint64_t)i * 4096, buf, 4096), 0);
	}
	/* The device is dead once the 3 writes are used up. */
	memset(buf, 9, 4096);
	ck_assert_int_eq(bdev_write(dev, 3 * 4096, buf, 4096), -EIO);
	ck_assert_int_eq(bdev_write(dev, 0, buf, 4096), -EIO);
	ck_assert_int_eq(bdev_flush(dev), -EIO);
	/* Reads still work (ops default: writes only) and see the 3 writes. */
	ck_assert_int_eq(bdev_read(dev, 0, rd, 4 * 4096), 0);
	ck_assert_uint_eq(rd[0], 1);
	ck_assert_uint_eq(rd[4096], 2);
	ck_assert_uint_eq(rd[8192], 3);
	ck_assert_uint_eq(rd[12288], 0);
	bdev_fault_clear(dev);
	ck_assert_int_eq(bdev_write(dev, 3 * 4096, buf, 4096), 0);
	/* With reads included, a dead device fails reads too. */
	f = (struct bdev_fault){
	    .kind = BDEV_FAULT_EIO_AFTER, .ops = BDEV_FAULT_READ | BDEV_FAULT_WRITE, .n = 0};
	ck_assert_int_eq(bdev_fault_add(dev, &f), 0);
	ck_assert_int_eq(bdev_read(dev, 0, rd, 4096), -EIO);
}
END_TEST

START_TEST(torn_write)
{
	unsigned a = bdev_align(dev);
	memset(buf, 0xaa, 8 * a);
	ck_assert_int_eq(bdev_write(dev, 0, buf, 8 * a), 0);
	struct bdev_fault f = {.kind = BDEV_FAULT_TORN, .n = 3};
	ck_assert_int_eq(bdev_fault_add(dev, &f), 0);
	/* A single-sector write is atomic: not torn, does not use up the rule. */
	memset(buf, 0xbb, a);
	ck_assert_int_eq(bdev_write(dev, 16 * a, buf, a), 0);
	memset(buf, 0xcc, 8 * a);
	ck_assert_int_eq(bdev_write(dev, 0, buf, 8 * a), -EIO);
	ck_assert_int_eq(bdev_read(dev, 0, rd, 8 * a), 0);
	for (unsigned i = 0; i < 8 * a; i++)
		ck_assert_uint_eq(rd[i], i < 3 * a ? 0xcc : 0xaa);
	ck_assert_uint_eq(bdev_fault_hits(dev), 1);
	/* One shot: the retry goes through whole. */
	ck_assert_int_eq(bdev_write(dev, 0, buf, 8 * a), 0);
	ck_assert_int_eq(bdev_read(dev, 0, rd, 8 * a), 0);
	ck_assert_mem_eq(rd, buf, 8 * a);
	/* n beyond the request: all but the last sector land. */
	f.n = 100;
	ck_assert_int_eq(bdev_fault_add(dev, &f), 0);
	memset(buf, 0xdd, 4 * a);
	ck_assert_int_eq(bdev_write(dev, 0, buf, 4 * a), -EIO);
	ck_assert_int_eq(bdev_read(dev, 0, rd, 4 * a), 0);
	ck_assert_uint_eq(rd[3 * a - 1], 0xdd);
	ck_assert_uint_eq(rd[3 * a], 0xcc);
	/* n = 0: nothing lands. */
	f.n = 0;
	ck_assert_int_eq(bdev_fault_add(dev, &f), 0);
	memset(buf, 0xee, 2 * a);
	ck_assert_int_eq(bdev_write(dev, 0, buf, 2 * a), -EIO);
	ck_assert_int_eq(bdev_read(dev, 0, rd, a), 0);
	ck_assert_uint_eq(rd[0], 0xdd);
}
END_TEST

START_TEST(delay)
{
	struct bdev_fault f = {.kind = BDEV_FAULT_DELAY, .ops = BDEV_FAULT_WRITE, .us = 30000};
	ck_assert_int_eq(bdev_fault_add(dev, &f), 0);
	double t0 = now_ms();
	ck_assert_int_eq(bdev_write(dev, 0, buf, 4096), 0);
	double t1 = now_ms();
	ck_assert_int_eq(bdev_read(dev, 0, rd, 4096), 0);
	double t2 = now_ms();
	ck_assert_msg(t1 - t0 >= 29.0, "write took %.1f ms, expected >= 30", t1 - t0);
	ck_assert_msg(t2 - t1 < 25.0, "read took %.1f ms, expected no delay", t2 - t1);
}
END_TEST

START_TEST(gate_before_faults)
{
	struct bdev_fault f = {.kind = BDEV_FAULT_EIO, .off = 0, .len = 4096};
	ck_assert_int_eq(bdev_fault_add(dev, &f), 0);
	bdev_gate_close(dev, ESHUTDOWN);
	ck_assert_int_eq(bdev_read(dev, 0, rd, 4096), -ESHUTDOWN);
	ck_assert_uint_eq(bdev_fault_hits(dev), 0);
	bdev_gate_open(dev);
	ck_assert_int_eq(bdev_read(dev, 0, rd, 4096), -EIO);
}
END_TEST

struct slow_write {
	struct bdev *dev;
	uint8_t *buf;
	int rc;
};

static void *slow_write_run(void *arg)
{
	struct slow_write *w = arg;
	w->rc = bdev_write(w->dev, 0, w->buf, 4096);
	return NULL;
}

/* close + drain: a write already past the gate finishes, drain waits for
 * it, and nothing starts afterwards (the fencing guarantee of bdev.h). */
START_TEST(gate_drain_waits_for_inflight)
{
	ck_assert_int_eq(bdev_gate_drain(dev, 0), 0);
	struct bdev_fault f = {.kind = BDEV_FAULT_DELAY, .ops = BDEV_FAULT_WRITE, .us = 400000};
	ck_assert_int_eq(bdev_fault_add(dev, &f), 0);
	memset(buf, 0x3c, 4096);
	struct slow_write w = {.dev = dev, .buf = buf, .rc = 1};
	pthread_t th;
	ck_assert_int_eq(pthread_create(&th, NULL, slow_write_run, &w), 0);
	struct timespec ts = {0, 100 * 1000 * 1000};
	nanosleep(&ts, NULL); /* the writer is now sleeping past the gate */
	bdev_gate_close(dev, 0);
	ck_assert_int_eq(bdev_gate_drain(dev, 10), -ETIMEDOUT);
	double t0 = now_ms();
	ck_assert_int_eq(bdev_gate_drain(dev, 5000), 0);
	ck_assert_msg(now_ms() - t0 > 100, "drain returned before the write finished");
	pthread_join(th, NULL);
	ck_assert_int_eq(w.rc, 0);
	uint8_t peek[4096];
	tb_peek(img, 0, peek, sizeof(peek));
	ck_assert_uint_eq(peek[0], 0x3c);
	ck_assert_int_eq(bdev_write(dev, 0, buf, 4096), -EIO);
	ck_assert_int_eq(bdev_gate_drain(dev, 0), 0);
}
END_TEST

START_TEST(parse_spec)
{
	struct bdev_fault r[8];
	ck_assert_int_eq(bdev_fault_parse("eio,off=1M,len=64K,ops=w;torn,n=3;delay,us=500;"
					  "eio_after,n=10,ops=rw",
					  "/dev/loop5", r, 8),
			 4);
	ck_assert_int_eq(r[0].kind, BDEV_FAULT_EIO);
	ck_assert_uint_eq(r[0].off, 1 << 20);
	ck_assert_uint_eq(r[0].len, 64 << 10);
	ck_assert_uint_eq(r[0].ops, BDEV_FAULT_WRITE);
	ck_assert_int_eq(r[1].kind, BDEV_FAULT_TORN);
	ck_assert_uint_eq(r[1].n, 3);
	ck_assert_int_eq(r[2].kind, BDEV_FAULT_DELAY);
	ck_assert_uint_eq(r[2].us, 500);
	ck_assert_uint_eq(r[2].ops, 0); /* default, filled in by bdev_fault_add */
	ck_assert_int_eq(r[3].kind, BDEV_FAULT_EIO_AFTER);
	ck_assert_uint_eq(r[3].ops, BDEV_FAULT_READ | BDEV_FAULT_WRITE);
	/* dev= filters */
	ck_assert_int_eq(
	    bdev_fault_parse("torn,n=1,dev=loop5;torn,n=2,dev=loop7", "/dev/loop7", r, 8), 1);
	ck_assert_uint_eq(r[0].n, 2);
	ck_assert_int_eq(bdev_fault_parse("torn,n=1,dev=loop5", "/dev/sda", r, 8), 0);
	ck_assert_int_eq(bdev_fault_parse("", "/x", r, 8), 0);
	ck_assert_int_eq(bdev_fault_parse("torn,n=1;torn,n=2", "/x", r, 1), -E2BIG);
	static const char *const bad[] = {
	    "boom",
	    "eio",
	    "eio,off=0",
	    "eio,off=0,len=0",
	    "eio,off=1X,len=4K",
	    "eio,off=-1,len=4K",
	    "eio,off=0,len=4K,ops=x",
	    "eio,off=0,len=4K,n=3",
	    "eio,off=18446744073709551615,len=4K",
	    "eio,off=99999999999999G,len=1",
	    "eio_after",
	    "eio_after,n=2,ops=r",
	    "torn",
	    "torn,n=1,ops=w",
	    "torn,n=1K",
	    "delay",
	    "delay,us=99999999999",
	    "torn,n=1;eio",
	    "torn,n",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(bdev_fault_parse(bad[i], "/x", r, 8) == -EINVAL, "accepted '%s'",
			      bad[i]);
}
END_TEST

START_TEST(env_at_open)
{
	struct bdev *d2;
	setenv("SANFS_BDEV_FAULTS", "eio,off=0,len=4K,ops=r", 1);
	ck_assert_int_eq(bdev_open(img, 0, &d2), 0);
	ck_assert_int_eq(bdev_read(d2, 0, rd, 4096), -EIO);
	ck_assert_int_eq(bdev_read(d2, 4096, rd, 4096), 0);
	bdev_close(d2);
	/* A rule for another device leaves this one alone. */
	setenv("SANFS_BDEV_FAULTS", "eio,off=0,len=4K,dev=/dev/nonesuch", 1);
	ck_assert_int_eq(bdev_open(img, 0, &d2), 0);
	ck_assert_int_eq(bdev_read(d2, 0, rd, 4096), 0);
	bdev_close(d2);
	/* A matching dev= applies; the torn write lands its first sector. */
	setenv("SANFS_BDEV_FAULTS", "torn,n=1,dev=sanfs-tb-", 1);
	ck_assert_int_eq(bdev_open(img, 0, &d2), 0);
	memset(buf, 0x42, 8192);
	ck_assert_int_eq(bdev_write(d2, 0, buf, 8192), -EIO);
	ck_assert_int_eq(bdev_read(d2, 0, rd, 8192), 0);
	ck_assert_uint_eq(rd[0], 0x42);
	ck_assert_uint_eq(rd[8191], 0);
	bdev_close(d2);
	/* A malformed value fails the open. */
	setenv("SANFS_BDEV_FAULTS", "eio,off=oops", 1);
	ck_assert_int_eq(bdev_open(img, 0, &d2), -EINVAL);
	unsetenv("SANFS_BDEV_FAULTS");
}
END_TEST

Suite *fault_suite(void)
{
	Suite *s = suite_create("fault");
	TCase *tc = tcase_create("fault");
	tcase_set_timeout(tc, 60);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, eio_range_read_write);
	tcase_add_test(tc, eio_range_write_only);
	tcase_add_test(tc, eio_after_n_writes);
	tcase_add_test(tc, torn_write);
	tcase_add_test(tc, delay);
	tcase_add_test(tc, gate_before_faults);
	tcase_add_test(tc, gate_drain_waits_for_inflight);
	tcase_add_test(tc, parse_spec);
	tcase_add_test(tc, env_at_open);
	suite_add_tcase(s, tc);
	return s;
}

/* Unit tests of blockdev/bdev.c: open, sizes, whole-range I/O, argument
 * checks, the I/O gate and the lease, flush, aligned allocation, concurrent I/O. */
#include <errno.h>
#include <pthread.h>
#include <sys/stat.h>

#include "blockdev/bdev.h"
#include "tb_util.h"

#define MiB (1024u * 1024u)

START_TEST(open_image_size_align)
{
	char img[64];
	tb_image(img, 8 * MiB + 100); /* a tail that is not a whole sector is cut off */
	struct bdev *dev;
	ck_assert_int_eq(bdev_open(img, 0, &dev), 0);
	ck_assert_str_eq(bdev_path(dev), img);
	ck_assert_uint_ge(bdev_align(dev), 512);
	ck_assert_uint_eq(bdev_align(dev) & (bdev_align(dev) - 1), 0);
	ck_assert_uint_eq(bdev_size(dev), (8 * MiB + 100) & ~(uint64_t)(bdev_align(dev) - 1));
	bdev_close(dev);
	unlink(img);
}
END_TEST

START_TEST(open_errors)
{
	struct bdev *dev = (struct bdev *)1;
	ck_assert_int_eq(bdev_open("/var/tmp/sanfs-no-such-image", 0, &dev), -ENOENT);
	ck_assert_ptr_null(dev);
	ck_assert_int_eq(bdev_open("/var/tmp", BDEV_RDONLY, &dev), -ENOTBLK);
	ck_assert_int_eq(bdev_open("", 0, &dev), -EINVAL);
}
END_TEST

START_TEST(write_read_roundtrip)
{
	char img[64];
	tb_image(img, 16 * MiB);
	struct bdev *dev;
	ck_assert_int_eq(bdev_open(img, 0, &dev), 0);
	size_t len = 3 * MiB + 4096;
	uint8_t *w = bdev_alloc(len), *r = bdev_alloc(len);
	tb_fill(w, len, 7);
	ck_assert_int_eq(bdev_write(dev, 5 * MiB, w, len), 0);
	ck_assert_int_eq(bdev_flush(dev), 0);
	ck_assert_int_eq(bdev_read(dev, 5 * MiB, r, len), 0);
	ck_assert_mem_eq(r, w, len);
	/* The bytes are in the image itself, not in some private cache. */
	uint8_t *p = malloc(len);
	tb_peek(img, 5 * MiB, p, len);
	ck_assert_mem_eq(p, w, len);
	/* A write from outside is seen by the next read (no page cache in between). */
	memset(p, 0x5a, 4096);
	tb_poke(img, 5 * MiB, p, 4096);
	ck_assert_int_eq(bdev_read(dev, 5 * MiB, r, 4096), 0);
	ck_assert_mem_eq(r, p, 4096);
	/* Last sector of the device. */
	uint64_t last = bdev_size(dev) - bdev_align(dev);
	ck_assert_int_eq(bdev_write(dev, last, w, bdev_align(dev)), 0);
	ck_assert_int_eq(bdev_read(dev, last, r, bdev_align(dev)), 0);
	ck_assert_mem_eq(r, w, bdev_align(dev));
	/* Zero length is a no-op. */
	ck_assert_int_eq(bdev_read(dev, 0, r, 0), 0);
	free(p);
	bdev_free(w);
	bdev_free(r);
	bdev_close(dev);
	unlink(img);
}
END_TEST

START_TEST(argument_checks)
{
	char img[64];
	tb_image(img, 1 * MiB);
	struct bdev *dev;
	ck_assert_int_eq(bdev_open(img, 0, &dev), 0);
	uint8_t *b = bdev_alloc(8192);
	unsigned a = bdev_align(dev);
	ck_assert_int_eq(bdev_read(dev, 1, b, a), -EINVAL);
	ck_assert_int_eq(bdev_read(dev, 0, b, a + 1), -EINVAL);
	ck_assert_int_eq(bdev_read(dev, 0, b + 1, a), -EINVAL);
	ck_assert_int_eq(bdev_write(dev, a / 2, b, a), -EINVAL);
	ck_assert_int_eq(bdev_read(dev, bdev_size(dev), b, a), -ERANGE);
	ck_assert_int_eq(bdev_write(dev, bdev_size(dev) - a, b, 2 * a), -ERANGE);
	ck_assert_int_eq(bdev_read(dev, UINT64_MAX - a + 1, b, a), -ERANGE);
	bdev_free(b);
	bdev_close(dev);
	unlink(img);
}
END_TEST

START_TEST(readonly_refuses_writes)
{
	char img[64];
	tb_image(img, 1 * MiB);
	struct bdev *dev;
	ck_assert_int_eq(bdev_open(img, BDEV_RDONLY, &dev), 0);
	uint8_t *b = bdev_alloc(4096);
	ck_assert_int_eq(bdev_read(dev, 0, b, 4096), 0);
	ck_assert_int_eq(bdev_write(dev, 0, b, 4096), -EROFS);
	bdev_free(b);
	bdev_close(dev);
	unlink(img);
}
END_TEST

/* Shadow mode: writes land in memory (a read-only device takes them), reads
 * of any range see them over the device's data, the image never changes. */
START_TEST(shadow_keeps_writes_in_memory)
{
	char img[64];
	tb_image(img, 16 * MiB);
	uint8_t *b = bdev_alloc(3 * 4096), *r = bdev_alloc(3 * 4096);
	memset(b, 0x11, 3 * 4096);
	tb_poke(img, 0, b, 3 * 4096); /* the device: 0x11 in blocks 0-2 */
	struct bdev *dev;
	ck_assert_int_eq(bdev_open(img, BDEV_RDONLY, &dev), 0);
	ck_assert_int_eq(bdev_shadow_start(dev), 0);
	memset(b, 0x22, 4096);
	ck_assert_int_eq(bdev_write(dev, 4096, b, 4096), 0); /* block 1 */
	memset(b, 0x33, 4096);
	ck_assert_int_eq(bdev_write(dev, 3 * MiB, b, 4096), 0);
	memset(b, 0x44, 4096);
	ck_assert_int_eq(bdev_write(dev, 4096, b, 4096), 0); /* block 1 again */
	ck_assert_int_eq(bdev_shadow_blocks(dev), 2);
	ck_assert_int_eq(bdev_flush(dev), 0);
	/* A read across blocks 0-2 and one starting inside block 1. */
	ck_assert_int_eq(bdev_read(dev, 0, r, 3 * 4096), 0);
	for (size_t i = 0; i < 3 * 4096; i++)
		ck_assert_int_eq(r[i], i / 4096 == 1 ? 0x44 : 0x11);
	ck_assert_int_eq(bdev_read(dev, 4096 + 512, r, 4096), 0);
	for (size_t i = 0; i < 4096; i++)
		ck_assert_int_eq(r[i], i < 4096 - 512 ? 0x44 : 0x11);
	ck_assert_int_eq(bdev_read(dev, 3 * MiB, r, 4096), 0);
	ck_assert_int_eq(r[0], 0x33);
	ck_assert_int_eq(r[4095], 0x33);
	/* A read the shadow covers whole does not reach the device: an
	 * unreadable block that the journal holds reads from the shadow. */
	struct bdev_fault bad = {
	    .kind = BDEV_FAULT_EIO, .ops = BDEV_FAULT_READ, .off = 0, .len = 3 * 4096};
	ck_assert_int_eq(bdev_fault_add(dev, &bad), 0);
	ck_assert_int_eq(bdev_read(dev, 4096, r, 4096), 0);
	ck_assert_int_eq(r[0], 0x44);
	ck_assert_int_eq(bdev_read(dev, 4096 + 512, r, 2048), 0);
	ck_assert_int_eq(bdev_read(dev, 0, r, 2 * 4096), -EIO);
	bdev_fault_clear(dev);
	/* Only whole 4 KiB blocks. */
	ck_assert_int_eq(bdev_write(dev, 512, b, 512), -EINVAL);
	/* Many blocks (past the table's growth point): each keeps its own. */
	for (uint64_t k = 0; k < 3000; k++) {
		memset(b, (int)(k % 251), 4096);
		ck_assert_int_eq(bdev_write(dev, 4 * MiB + k * 4096, b, 4096), 0);
	}
	ck_assert_int_eq(bdev_shadow_blocks(dev), 3002);
	for (uint64_t k = 0; k < 3000; k++) {
		ck_assert_int_eq(bdev_read(dev, 4 * MiB + k * 4096, r, 4096), 0);
		ck_assert_int_eq(r[100], (int)(k % 251));
	}
	bdev_close(dev);
	/* The image is as it was. */
	tb_peek(img, 0, r, 3 * 4096);
	for (size_t i = 0; i < 3 * 4096; i++)
		ck_assert_int_eq(r[i], 0x11);
	tb_peek(img, 3 * MiB, r, 4096);
	ck_assert_int_eq(r[0], 0);
	bdev_free(b);
	bdev_free(r);
	unlink(img);
}
END_TEST

START_TEST(gate_fences_all_io)
{
	char img[64];
	tb_image(img, 1 * MiB);
	struct bdev *dev;
	ck_assert_int_eq(bdev_open(img, 0, &dev), 0);
	uint8_t *b = bdev_alloc(4096), *r = bdev_alloc(4096);
	memset(b, 0x11, 4096);
	ck_assert_int_eq(bdev_write(dev, 0, b, 4096), 0);
	ck_assert(bdev_gate_is_open(dev));

	bdev_gate_close(dev, 0);
	ck_assert(!bdev_gate_is_open(dev));
	memset(b, 0x22, 4096);
	ck_assert_int_eq(bdev_write(dev, 0, b, 4096), -EIO);
	ck_assert_int_eq(bdev_read(dev, 0, r, 4096), -EIO);
	ck_assert_int_eq(bdev_flush(dev), -EIO);
	/* The gate is checked before the arguments: nothing of a request passes. */
	ck_assert_int_eq(bdev_read(dev, 1, r, 4096), -EIO);
	uint8_t peek[4096];
	tb_peek(img, 0, peek, 4096);
	ck_assert_uint_eq(peek[0], 0x11);
	ck_assert_uint_eq(peek[4095], 0x11);

	bdev_gate_close(dev, ESHUTDOWN);
	ck_assert_int_eq(bdev_write(dev, 0, b, 4096), -ESHUTDOWN);

	bdev_gate_open(dev);
	ck_assert(bdev_gate_is_open(dev));
	ck_assert_int_eq(bdev_write(dev, 0, b, 4096), 0);
	ck_assert_int_eq(bdev_read(dev, 0, r, 4096), 0);
	ck_assert_mem_eq(r, b, 4096);
	bdev_free(b);
	bdev_free(r);
	bdev_close(dev);
	unlink(img);
}
END_TEST

START_TEST(alloc_aligned_zeroed)
{
	for (size_t len = 0; len < 70000; len += 4099) {
		uint8_t *p = bdev_alloc(len);
		ck_assert_ptr_nonnull(p);
		ck_assert_uint_eq((uintptr_t)p % BDEV_BUF_ALIGN, 0);
		static const uint8_t zero[70000];
		ck_assert(memcmp(p, zero, len) == 0);
		memset(p, 0xff, len);
		bdev_free(p);
	}
	bdev_free(NULL);
	ck_assert_ptr_null(bdev_alloc(SIZE_MAX - 10));
}
END_TEST

struct worker {
	struct bdev *dev;
	unsigned id;
	int rc;
};

static void *worker_run(void *arg)
{
	struct worker *w = arg;
	uint8_t *b = bdev_alloc(65536), *r = bdev_alloc(65536);
	w->rc = 0;
	for (unsigned round = 0; round < 20 && !w->rc; round++) {
		uint64_t off = (uint64_t)(w->id * 20 + round) * 65536;
		tb_fill(b, 65536, w->id * 1000 + round);
		if (bdev_write(w->dev, off, b, 65536) || bdev_read(w->dev, off, r, 65536) ||
		    memcmp(b, r, 65536))
			w->rc = -1;
	}
	bdev_free(b);
	bdev_free(r);
	return NULL;
}

START_TEST(concurrent_io)
{
	char img[64];
	tb_image(img, 8 * 20 * 65536);
	struct bdev *dev;
	ck_assert_int_eq(bdev_open(img, 0, &dev), 0);
	pthread_t th[8];
	struct worker w[8];
	for (unsigned i = 0; i < 8; i++) {
		w[i] = (struct worker){.dev = dev, .id = i};
		ck_assert_int_eq(pthread_create(&th[i], NULL, worker_run, &w[i]), 0);
	}
	for (unsigned i = 0; i < 8; i++) {
		pthread_join(th[i], NULL);
		ck_assert_int_eq(w[i].rc, 0);
	}
	bdev_close(dev);
	unlink(img);
}
END_TEST

/* The lease: I/O that starts after its end waits for a renewal (or the gate,
 * or the wait bound); the holder's heartbeat I/O passes. */
struct lease_job {
	struct bdev *dev;
	unsigned delay_ms;
	int what; /* 0: renew, 1: close the gate */
};

static void *lease_later(void *arg)
{
	struct lease_job *j = arg;
	struct timespec ts = {0, (long)j->delay_ms * 1000000L};
	nanosleep(&ts, NULL);
	if (j->what == 0)
		bdev_lease_renew(j->dev, bdev_now_ns() + 60000000000ull, 5000);
	else
		bdev_gate_close(j->dev, 0);
	return NULL;
}

static uint64_t ms_since(uint64_t t0)
{
	return (bdev_now_ns() - t0) / 1000000ull;
}

START_TEST(lease_holds_io_until_renewed)
{
	char img[64];
	tb_image(img, 1 * MiB);
	struct bdev *dev;
	ck_assert_int_eq(bdev_open(img, 0, &dev), 0);
	uint8_t *b = bdev_alloc(4096);
	struct bdev_hb hb = {
	    .state = BDEV_HB_LIVE, .mode = BDEV_HB_LOCAL, .incarnation = 1, .sequence = 1};
	/* No lease yet, then a lease in force: I/O at once. */
	ck_assert_int_eq(bdev_write(dev, 0, b, 4096), 0);
	bdev_lease_renew(dev, bdev_now_ns() + 60000000000ull, 5000);
	ck_assert_int_eq(bdev_read(dev, 0, b, 4096), 0);

	/* Expired: a read waits for the renewal 300 ms later. */
	bdev_lease_renew(dev, bdev_now_ns() - 1, 5000);
	ck_assert_int_eq(bdev_hb_write(dev, 8192, &hb, BDEV_HB_PAST_LEASE | BDEV_HB_FLUSH), 0);
	ck_assert_int_eq(bdev_hb_read(dev, 8192, &hb, BDEV_HB_PAST_LEASE), 0);
	pthread_t t;
	struct lease_job j = {dev, 300, 0};
	ck_assert_int_eq(pthread_create(&t, NULL, lease_later, &j), 0);
	uint64_t t0 = bdev_now_ns();
	ck_assert_int_eq(bdev_read(dev, 0, b, 4096), 0);
	ck_assert_uint_ge(ms_since(t0), 250);
	pthread_join(t, NULL);

	/* Expired, nobody renews: EIO after the wait bound, for every kind. */
	bdev_lease_renew(dev, bdev_now_ns() - 1, 200);
	t0 = bdev_now_ns();
	ck_assert_int_eq(bdev_write(dev, 0, b, 4096), -EIO);
	ck_assert_uint_ge(ms_since(t0), 190);
	ck_assert_int_eq(bdev_flush(dev), -EIO);
	ck_assert_int_eq(bdev_hb_read(dev, 8192, &hb, 0), -EIO);
	ck_assert_int_eq(bdev_hb_read(dev, 8192, &hb, BDEV_HB_PAST_LEASE), 0);

	/* Expired, then the gate closes: the waiting write fails at once. */
	bdev_lease_renew(dev, bdev_now_ns() - 1, 20000);
	j = (struct lease_job){dev, 200, 1};
	ck_assert_int_eq(pthread_create(&t, NULL, lease_later, &j), 0);
	t0 = bdev_now_ns();
	ck_assert_int_eq(bdev_write(dev, 0, b, 4096), -EIO);
	ck_assert_uint_lt(ms_since(t0), 5000);
	pthread_join(t, NULL);
	/* A closed gate stops the holder's own heartbeat I/O too. */
	ck_assert_int_eq(bdev_hb_read(dev, 8192, &hb, BDEV_HB_PAST_LEASE), -EIO);

	/* Dropping the lease: I/O without one again. */
	bdev_gate_open(dev);
	bdev_lease_renew(dev, 0, 0);
	ck_assert_int_eq(bdev_write(dev, 0, b, 4096), 0);
	bdev_free(b);
	bdev_close(dev);
	unlink(img);
}
END_TEST

Suite *bdev_suite(void)
{
	Suite *s = suite_create("bdev");
	TCase *tc = tcase_create("io");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, open_image_size_align);
	tcase_add_test(tc, open_errors);
	tcase_add_test(tc, write_read_roundtrip);
	tcase_add_test(tc, argument_checks);
	tcase_add_test(tc, readonly_refuses_writes);
	tcase_add_test(tc, shadow_keeps_writes_in_memory);
	tcase_add_test(tc, gate_fences_all_io);
	tcase_add_test(tc, lease_holds_io_until_renewed);
	tcase_add_test(tc, alloc_aligned_zeroed);
	tcase_add_test(tc, concurrent_io);
	suite_add_tcase(s, tc);
	return s;
}

/* Unit tests of the test-only fault injection: EIO on a range, EIO after N
 * writes, torn multi-sector writes, latency, the volatile write cache and
 * the power cut, SANFS_BDEV_FAULTS parsing and its effect at bdev_open.
 * Each checks the device contents too. */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
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

/* ---- BDEV_FAULT_VOLATILE and the power cut ---- */

static void arm_volatile(struct bdev *d, uint64_t seed, uint64_t cap)
{
	struct bdev_fault f = {.kind = BDEV_FAULT_VOLATILE, .seed = seed, .cap = cap};
	ck_assert_int_eq(bdev_fault_add(d, &f), 0);
}

/* Power back on: the rules go, the gate opens, reads see the device. */
static void power_on(struct bdev *d)
{
	bdev_fault_clear(d);
	bdev_gate_open(d);
}

static void fill_block(uint8_t *b, unsigned blk, unsigned v)
{
	for (unsigned i = 0; i < 4096; i++)
		b[i] = (uint8_t)(blk * 31 + v * 7 + 1 + (i & 7));
}

START_TEST(volatile_flush_is_permanent)
{
	arm_volatile(dev, 0, 0);
	for (unsigned k = 0; k < 32; k++) {
		fill_block(buf, k, 1);
		ck_assert_int_eq(bdev_write(dev, (uint64_t)k * 4096, buf, 4096), 0);
	}
	struct bdev_volatile_stats st;
	ck_assert_int_eq(bdev_fault_volatile_stats(dev, &st), 0);
	ck_assert_uint_eq(st.unflushed_writes, 32);
	ck_assert_uint_eq(st.unflushed_bytes, 32 * 4096);
	ck_assert_int_eq(bdev_flush(dev), 0);
	ck_assert_int_eq(bdev_fault_volatile_stats(dev, &st), 0);
	ck_assert_uint_eq(st.unflushed_writes, 0);
	ck_assert_uint_eq(st.flushes, 1);
	/* Nothing is unflushed: the cut reverts nothing, whatever the seed. */
	ck_assert_int_eq(bdev_fault_powerloss(dev, 12345), 0);
	ck_assert_int_eq(bdev_fault_powerloss(dev, 1), -EALREADY);
	/* The power is off: every request fails, nothing reaches the device. */
	ck_assert_int_eq(bdev_read(dev, 0, rd, 4096), -EIO);
	ck_assert_int_eq(bdev_write(dev, 0, buf, 4096), -EIO);
	ck_assert_int_eq(bdev_flush(dev), -EIO);
	ck_assert(!bdev_gate_is_open(dev));
	/* Past the gate too (the FENCED notice path). */
	bdev_gate_open(dev);
	ck_assert_int_eq(bdev_read(dev, 0, rd, 4096), -EIO);
	ck_assert_int_eq(bdev_write(dev, 0, buf, 4096), -EIO);
	ck_assert_int_eq(bdev_flush(dev), -EIO);
	ck_assert_int_eq(bdev_fault_volatile_stats(dev, &st), 0);
	ck_assert(st.cut);
	ck_assert_uint_eq(bdev_fault_hits(dev), 3); /* the requests past the gate */
	power_on(dev);
	for (unsigned k = 0; k < 32; k++) {
		fill_block(buf, k, 1);
		ck_assert_int_eq(bdev_read(dev, (uint64_t)k * 4096, rd, 4096), 0);
		ck_assert_mem_eq(rd, buf, 4096);
	}
	/* Without a VOLATILE rule there is nothing to cut. */
	ck_assert_int_eq(bdev_fault_powerloss(dev, 1), -EINVAL);
	ck_assert_int_eq(bdev_fault_volatile_stats(dev, &st), -EINVAL);
}
END_TEST

/* Blocks 0..63 hold version 1 (flushed); then a flush-less second life
 * writes version 2 to each, block 64 eight times, and one 16-block write.
 * After the cut each block is in a state some prefix of its writes leaves. */
static void unflushed_life(struct bdev *d)
{
	for (unsigned k = 0; k < 64; k++) {
		fill_block(buf, k, 1);
		ck_assert_int_eq(bdev_write(d, (uint64_t)k * 4096, buf, 4096), 0);
	}
	ck_assert_int_eq(bdev_flush(d), 0);
	for (unsigned k = 0; k < 64; k++) {
		fill_block(buf, k, 2);
		ck_assert_int_eq(bdev_write(d, (uint64_t)k * 4096, buf, 4096), 0);
	}
	for (unsigned v = 1; v <= 8; v++) {
		fill_block(buf, 64, v);
		ck_assert_int_eq(bdev_write(d, 64 * 4096, buf, 4096), 0);
	}
	for (unsigned k = 0; k < 16; k++)
		fill_block(buf + k * 4096, 100 + k, 5);
	ck_assert_int_eq(bdev_write(d, 100 * 4096, buf, 16 * 4096), 0);
}

/* Which version a block holds: 0 for zeros, -1 for anything else. */
static int version_in(const uint8_t *b, unsigned blk)
{
	static uint8_t want[4096];
	bool zero = true;
	for (unsigned i = 0; i < 4096 && zero; i++)
		zero = b[i] == 0;
	if (zero)
		return 0;
	for (unsigned v = 1; v <= 8; v++) {
		fill_block(want, blk, v);
		if (!memcmp(b, want, 4096))
			return (int)v;
	}
	return -1;
}

START_TEST(volatile_unflushed_may_be_lost)
{
	unsigned lost_whole = 0, kept_whole = 0, torn = 0, partial_history = 0;
	for (uint64_t seed = 1; seed <= 12; seed++) {
		memset(buf, 0, 4096);
		for (unsigned k = 0; k < 128; k++) /* start from zeros every time */
			ck_assert_int_eq(bdev_write(dev, (uint64_t)k * 4096, buf, 4096), 0);
		arm_volatile(dev, 0, 0);
		unflushed_life(dev);
		int n = bdev_fault_powerloss(dev, seed);
		ck_assert_int_ge(n, 0);
		power_on(dev);
		int reverted = 0;
		ck_assert_int_eq(bdev_read(dev, 0, rd, 65536), 0);
		for (unsigned k = 0; k < 16; k++) {
			int v = version_in(rd + k * 4096, k);
			ck_assert_msg(v == 1 || v == 2, "seed %llu block %u: version %d",
				      (unsigned long long)seed, k, v);
			reverted += v == 1;
		}
		for (unsigned k = 16; k < 64; k++) {
			ck_assert_int_eq(bdev_read(dev, (uint64_t)k * 4096, rd, 4096), 0);
			int v = version_in(rd, k);
			ck_assert_msg(v == 1 || v == 2, "seed %llu block %u: version %d",
				      (unsigned long long)seed, k, v);
			reverted += v == 1;
		}
		/* Block 64 was written 8 times since the flush: any prefix. */
		ck_assert_int_eq(bdev_read(dev, 64 * 4096, rd, 4096), 0);
		int v64 = version_in(rd, 64);
		ck_assert_msg(v64 >= 0 && v64 <= 8, "block 64: version %d", v64);
		partial_history += v64 > 0 && v64 < 8;
		reverted += v64 < 8; /* at least one of its writes undone */
		unsigned newer = 0;
		ck_assert_int_eq(bdev_read(dev, 100 * 4096, rd, 16 * 4096), 0);
		for (unsigned k = 0; k < 16; k++) {
			int v = version_in(rd + k * 4096, 100 + k);
			ck_assert_msg(v == 0 || v == 5, "block %u: version %d", 100 + k, v);
			newer += v == 5;
		}
		reverted += 16 - newer;
		if (newer == 0)
			lost_whole++;
		else if (newer == 16)
			kept_whole++;
		else
			torn++;
		/* The count returned is the blocks undone; block 64 may have
		 * several of its writes undone. */
		ck_assert_int_ge(n, reverted);
		ck_assert_int_gt(reverted, 0);
		ck_assert_int_lt(reverted, 64 + 1 + 16);
	}
	/* Across 12 seeds every outcome shows up (each has p >= 1/4 per seed). */
	ck_assert_uint_gt(lost_whole, 0);
	ck_assert_uint_gt(kept_whole, 0);
	ck_assert_uint_gt(torn, 0);
	ck_assert_uint_gt(partial_history, 0);
}
END_TEST

static void image_digest(const char *path, uint8_t *out, size_t len)
{
	tb_peek(path, 0, out, len);
}

START_TEST(volatile_seed_determinism)
{
	static uint8_t a[1 << 20], b[1 << 20], c[1 << 20];
	uint8_t *out[3] = {a, b, c};
	uint64_t seeds[3] = {77, 77, 78};
	for (int i = 0; i < 3; i++) {
		memset(buf, 0, 4096);
		for (unsigned k = 0; k < 256; k++)
			ck_assert_int_eq(bdev_write(dev, (uint64_t)k * 4096, buf, 4096), 0);
		ck_assert_int_eq(bdev_flush(dev), 0);
		arm_volatile(dev, 5, 0);
		unflushed_life(dev);
		ck_assert_int_ge(bdev_fault_powerloss(dev, seeds[i]), 0);
		power_on(dev);
		image_digest(img, out[i], sizeof(a));
	}
	ck_assert_msg(!memcmp(a, b, sizeof(a)), "same seed, different results");
	ck_assert_msg(memcmp(a, c, sizeof(a)), "seeds 77 and 78 gave the same loss");
}
END_TEST

START_TEST(volatile_cap)
{
	arm_volatile(dev, 0, 16384);
	struct bdev_fault again = {.kind = BDEV_FAULT_VOLATILE};
	ck_assert_int_eq(bdev_fault_add(dev, &again), -EEXIST);
	memset(buf, 0x11, 65536);
	for (unsigned k = 0; k < 4; k++)
		ck_assert_int_eq(bdev_write(dev, (uint64_t)k * 4096, buf, 4096), 0);
	struct bdev_volatile_stats st;
	ck_assert_int_eq(bdev_fault_volatile_stats(dev, &st), 0);
	ck_assert_uint_eq(st.unflushed_bytes, 16384);
	ck_assert_uint_eq(st.cap_flushes, 0);
	/* The fifth would pass the cap: the log is written back first. */
	ck_assert_int_eq(bdev_write(dev, 4 * 4096, buf, 4096), 0);
	ck_assert_int_eq(bdev_fault_volatile_stats(dev, &st), 0);
	ck_assert_uint_eq(st.unflushed_writes, 1);
	ck_assert_uint_eq(st.cap_flushes, 1);
	/* Larger than the cap alone: written through, nothing logged. */
	ck_assert_int_eq(bdev_write(dev, 8 * 4096, buf, 65536), 0);
	ck_assert_int_eq(bdev_fault_volatile_stats(dev, &st), 0);
	ck_assert_uint_eq(st.unflushed_writes, 0);
	ck_assert_uint_eq(st.cap_flushes, 2);
	ck_assert_int_eq(bdev_fault_powerloss(dev, 3), 0);
	power_on(dev);
	ck_assert_int_eq(bdev_read(dev, 0, rd, 5 * 4096), 0);
	ck_assert_mem_eq(rd, buf, 5 * 4096);
	ck_assert_int_eq(bdev_read(dev, 8 * 4096, rd, 65536), 0);
	ck_assert_mem_eq(rd, buf, 65536);
}
END_TEST

/* A write smaller than 4 KiB is undone with its whole 4 KiB block. */
START_TEST(volatile_subblock_write)
{
	unsigned a = bdev_align(dev);
	if (a >= 4096)
		return; /* every write is whole blocks on this device */
	memset(buf, 0x21, 4096);
	ck_assert_int_eq(bdev_write(dev, 0, buf, 4096), 0);
	arm_volatile(dev, 0, 0);
	memset(buf, 0x22, a);
	ck_assert_int_eq(bdev_write(dev, a, buf, a), 0);
	struct bdev_volatile_stats st;
	ck_assert_int_eq(bdev_fault_volatile_stats(dev, &st), 0);
	ck_assert_uint_eq(st.unflushed_bytes, 4096);
	/* Find a seed that reverts the single write (mode 3..5 of 8). */
	for (uint64_t seed = 0;; seed++) {
		ck_assert_uint_lt(seed, 64);
		int n = bdev_fault_powerloss(dev, seed);
		ck_assert_int_ge(n, 0);
		power_on(dev);
		ck_assert_int_eq(bdev_read(dev, 0, rd, 4096), 0);
		if (n == 0) { /* kept: redo the test */
			ck_assert_uint_eq(rd[a], 0x22);
			ck_assert_uint_eq(rd[0], 0x21);
			memset(rd, 0x21, 4096);
			ck_assert_int_eq(bdev_write(dev, 0, rd, 4096), 0);
			arm_volatile(dev, 0, 0);
			ck_assert_int_eq(bdev_write(dev, a, buf, a), 0);
			continue;
		}
		for (unsigned i = 0; i < 4096; i++)
			ck_assert_uint_eq(rd[i], 0x21);
		break;
	}
}
END_TEST

/* Writers and flushers on several threads while the power goes: every
 * write a later flush acknowledged (the flush began after the write
 * returned and returned 0) is on the device afterwards. */
#define VT_THREADS 4
#define VT_BLOCKS  48

struct vt_writer {
	struct bdev *dev;
	unsigned id;
	uint8_t *buf;
	unsigned acked[VT_BLOCKS];   /* write (sequence number) made durable by a flush */
	unsigned written[VT_BLOCKS]; /* newest write tried (sequence number) */
	atomic_uint ops;
};

static void *vt_run(void *arg)
{
	struct vt_writer *w = arg;
	unsigned pending[VT_BLOCKS] = {0};
	unsigned seed = w->id * 7919u + 1;
	for (unsigned v = 1;; v++) {
		unsigned k = (unsigned)rand_r(&seed) % VT_BLOCKS;
		unsigned blk = w->id * VT_BLOCKS + k;
		fill_block(w->buf, blk, v % 8 + 1); /* the version: sequence mod 8, plus 1 */
		w->written[k] = v;
		if (bdev_write(w->dev, (uint64_t)blk * 4096, w->buf, 4096))
			break;
		pending[k] = v;
		w->ops++;
		if (rand_r(&seed) % 4 == 0) {
			if (bdev_flush(w->dev))
				break;
			memcpy(w->acked, pending, sizeof(pending));
		}
	}
	return NULL;
}

START_TEST(volatile_threads_cut)
{
	for (uint64_t seed = 1; seed <= 5; seed++) {
		memset(buf, 0, 4096);
		for (unsigned k = 0; k < VT_THREADS * VT_BLOCKS; k++)
			ck_assert_int_eq(bdev_write(dev, (uint64_t)k * 4096, buf, 4096), 0);
		ck_assert_int_eq(bdev_flush(dev), 0);
		arm_volatile(dev, seed, 0);
		struct vt_writer w[VT_THREADS];
		pthread_t th[VT_THREADS];
		for (unsigned i = 0; i < VT_THREADS; i++) {
			w[i] = (struct vt_writer){.dev = dev, .id = i, .buf = bdev_alloc(4096)};
			ck_assert_int_eq(pthread_create(&th[i], NULL, vt_run, &w[i]), 0);
		}
		/* Cut once every thread wrote a while (and a little later). */
		for (int spin = 0; spin < 50000; spin++) {
			unsigned least = UINT32_MAX;
			for (unsigned i = 0; i < VT_THREADS; i++)
				if (atomic_load(&w[i].ops) < least)
					least = atomic_load(&w[i].ops);
			if (least >= 20 + seed * 10)
				break;
			struct timespec ts = {0, 100 * 1000};
			nanosleep(&ts, NULL);
		}
		ck_assert_int_ge(bdev_fault_powerloss(dev, seed * 1000), 0);
		for (unsigned i = 0; i < VT_THREADS; i++)
			pthread_join(th[i], NULL);
		power_on(dev);
		for (unsigned i = 0; i < VT_THREADS; i++) {
			ck_assert_uint_ge(atomic_load(&w[i].ops), 20);
			for (unsigned k = 0; k < VT_BLOCKS; k++) {
				unsigned blk = i * VT_BLOCKS + k;
				ck_assert_int_eq(bdev_read(dev, (uint64_t)blk * 4096, rd, 4096), 0);
				int v = version_in(rd, blk);
				ck_assert_msg(v >= 0, "seed %llu block %u: garbage",
					      (unsigned long long)seed, blk);
				/* Versions cycle 1..8, so only "flushed and not
				 * rewritten since" can be told exactly. */
				if (w[i].acked[k] && w[i].acked[k] == w[i].written[k])
					ck_assert_msg(v == (int)(w[i].acked[k] % 8 + 1),
						      "seed %llu block %u: flushed version %u "
						      "lost (reads %d)",
						      (unsigned long long)seed, blk,
						      w[i].acked[k] % 8 + 1, v);
			}
			bdev_free(w[i].buf);
		}
	}
}
END_TEST

START_TEST(volatile_parse_and_env)
{
	struct bdev_fault r[4];
	ck_assert_int_eq(bdev_fault_parse("volatile", "/x", r, 4), 1);
	ck_assert_int_eq(r[0].kind, BDEV_FAULT_VOLATILE);
	ck_assert_uint_eq(r[0].seed, 0);
	ck_assert_uint_eq(r[0].cap, 0);
	ck_assert_int_eq(bdev_fault_parse("volatile,seed=42,cap=1M;delay,us=5", "/x", r, 4), 2);
	ck_assert_uint_eq(r[0].seed, 42);
	ck_assert_uint_eq(r[0].cap, 1 << 20);
	ck_assert_int_eq(bdev_fault_parse("volatile,dev=loop9", "/dev/loop1", r, 4), 0);
	static const char *const bad[] = {
	    "volatile,n=1",	"volatile,ops=w",   "volatile,seed=x",
	    "volatile,seed=1K", "volatile,cap=1Q",  "volatile,off=0,len=4K",
	    "volatile,seed",	"volatile,seed=-1", "volatil",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(bdev_fault_parse(bad[i], "/x", r, 4) == -EINVAL, "accepted '%s'",
			      bad[i]);
	/* From the environment at open. */
	struct bdev *d2;
	setenv("SANFS_BDEV_FAULTS", "volatile,seed=9,cap=8K,dev=sanfs-tb-", 1);
	ck_assert_int_eq(bdev_open(img, 0, &d2), 0);
	unsetenv("SANFS_BDEV_FAULTS");
	struct bdev_volatile_stats st;
	ck_assert_int_eq(bdev_fault_volatile_stats(d2, &st), 0);
	memset(buf, 0x5a, 12288);
	ck_assert_int_eq(bdev_write(d2, 0, buf, 4096), 0);
	ck_assert_int_eq(bdev_write(d2, 4096, buf, 4096), 0);
	ck_assert_int_eq(bdev_write(d2, 8192, buf, 4096), 0); /* over the 8K cap */
	ck_assert_int_eq(bdev_fault_volatile_stats(d2, &st), 0);
	ck_assert_uint_eq(st.unflushed_writes, 1);
	ck_assert_uint_eq(st.cap_flushes, 1);
	ck_assert_uint_eq(st.writes, 3);
	ck_assert_int_ge(bdev_fault_powerloss(d2, 1), 0);
	bdev_close(d2); /* closing after the cut leaves the device as cut */
	uint8_t peek[8192];
	tb_peek(img, 0, peek, sizeof(peek));
	ck_assert_uint_eq(peek[0], 0x5a);
	ck_assert_uint_eq(peek[8191], 0x5a);
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
	tcase_add_test(tc, volatile_flush_is_permanent);
	tcase_add_test(tc, volatile_unflushed_may_be_lost);
	tcase_add_test(tc, volatile_seed_determinism);
	tcase_add_test(tc, volatile_cap);
	tcase_add_test(tc, volatile_subblock_write);
	tcase_add_test(tc, volatile_threads_cut);
	tcase_add_test(tc, volatile_parse_and_env);
	suite_add_tcase(s, tc);
	return s;
}

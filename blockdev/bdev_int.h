/* blockdev/ private: the layout of struct bdev, shared by the files of this
 * folder only. Other folders see struct bdev as opaque (bdev.h). */
#ifndef SANFS_BLOCKDEV_BDEV_INT_H
#define SANFS_BLOCKDEV_BDEV_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "blockdev/bdev.h"

/* Private open flag: failures are logged at debug level only (bdev_find). */
#define BDEV_QUIET (1u << 16)

struct bdev {
	int fd;
	unsigned flags;	     /* enum bdev_open_flags */
	unsigned align;	     /* required I/O alignment, bytes, power of two >= 512 */
	uint64_t size;	     /* bytes, a multiple of align */
	bool is_blockdev;    /* S_ISBLK */
	atomic_int gate_err; /* 0: gate open; else the positive errno every I/O fails with */
	atomic_int inflight; /* requests past the gate and not yet finished */
	/* The lease (bdev_lease_renew): its end in bdev_now_ns time, 0 = no
	 * lease; lease_mu/lease_cv (CLOCK_MONOTONIC) for the requests waiting
	 * for a renewal, woken by a renewal and by bdev_gate_close. */
	_Atomic uint64_t lease_end;
	unsigned lease_wait_ms;
	int lease_logged; /* this expiry logged: 1 the wait, 2 the failure */
	pthread_mutex_t lease_mu;
	pthread_cond_t lease_cv;
	/* Test-only fault injection (bdev_fault.c); faults_armed lets the hot
	 * path skip the mutex when no fault was ever added. */
	atomic_bool faults_armed;
	pthread_mutex_t fault_lock;
	struct bdev_fault *faults; /* nfaults rules, in the order added */
	size_t nfaults;
	uint64_t fault_hits; /* I/Os failed, torn or delayed by a rule */
	/* BDEV_FAULT_VOLATILE (bdev_volatile.c): allocated by the first
	 * VOLATILE rule under fault_lock, freed only by bdev_close, so a
	 * request may use it after dropping fault_lock. */
	struct bdev_volatile *vol;
	/* bdev_shadow_start (bdev_shadow.c): writes kept in memory; NULL: off. */
	struct bdev_shadow *shadow;
	char path[4096];
};

/* The lease holder's own I/O (bdev_hb_read/write with BDEV_HB_PAST_LEASE):
 * through the gate, but not held up by an expired lease. */
#define BDEV_IO_PAST_LEASE 1u
/* bdev_shadow.c: a write into the shadow (whole 4 KiB blocks), the shadowed
 * blocks copied over a read of [off, off+len) (true when they cover all of
 * it: the device need not be read), and the shadow freed. */
struct bdev_shadow;
int bdev_shadow_write(struct bdev *dev, uint64_t off, const void *buf, size_t len);
bool bdev_shadow_patch(struct bdev *dev, uint64_t off, void *buf, size_t len);
void bdev_shadow_free(struct bdev *dev);

int bdev_read_io(struct bdev *dev, uint64_t off, void *buf, size_t len, unsigned ioflags);
int bdev_write_io(struct bdev *dev, uint64_t off, const void *buf, size_t len, unsigned ioflags);
int bdev_flush_io(struct bdev *dev, unsigned ioflags);

/* Write and flush without passing the gate (faults still apply): only for
 * the FENCED notice of bdev_hb_write (BDEV_HB_PAST_GATE). */
int bdev_write_past_gate(struct bdev *dev, uint64_t off, const void *buf, size_t len);

#endif

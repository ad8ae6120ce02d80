/* blockdev/ private: the fault-injection hooks bdev.c calls (bdev_fault.c)
 * and the raw I/O loops they use for torn writes. */
#ifndef SANFS_BLOCKDEV_BDEV_FAULT_INT_H
#define SANFS_BLOCKDEV_BDEV_FAULT_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct bdev;

/* Parse SANFS_BDEV_FAULTS (if set) and arm the rules matching dev's path.
 * -EINVAL (with a log line) on a malformed value. */
int bdev_fault_env_load(struct bdev *dev);

/* 0: go ahead with the I/O; negative errno: fail it. before_write may have
 * written a torn prefix itself before returning -EIO, and returns 1 when it
 * did the whole write itself (VOLATILE: logged in the undo log). */
int bdev_fault_before_read(struct bdev *dev, uint64_t off, size_t len);
int bdev_fault_before_write(struct bdev *dev, uint64_t off, const void *buf, size_t len);
int bdev_fault_before_flush(struct bdev *dev);

/* BDEV_FAULT_VOLATILE (bdev_volatile.c). arm runs under dev->fault_lock
 * (-EEXIST when armed already); disarm and free under it or at close.
 * bdev_vol_write: 0 when the cache is not armed (the caller writes), 1 when
 * it wrote and logged the write, or a negative errno (-EIO after the cut).
 * bdev_vol_flush: 1 when the armed cache did the flush (the caller skips
 * the host's fdatasync), 0 when not armed, or -EIO after the cut.
 * bdev_fault_before_flush passes that 1 on. */
struct bdev_volatile;
struct bdev_fault;
int bdev_vol_arm(struct bdev *dev, const struct bdev_fault *f);
void bdev_vol_disarm(struct bdev *dev);
void bdev_vol_free(struct bdev *dev);
bool bdev_vol_is_cut(struct bdev_volatile *v);
int bdev_vol_write(struct bdev *dev, struct bdev_volatile *v, uint64_t off, const void *buf,
		   size_t len);
int bdev_vol_flush(struct bdev_volatile *v);

int bdev_pread_raw(struct bdev *dev, uint64_t off, void *buf, size_t len);
int bdev_pwrite_raw(struct bdev *dev, uint64_t off, const void *buf, size_t len);

#endif

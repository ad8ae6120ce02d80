/* blockdev/ private: the fault-injection hooks bdev.c calls (bdev_fault.c)
 * and the raw I/O loops they use for torn writes. */
#ifndef SANFS_BLOCKDEV_BDEV_FAULT_INT_H
#define SANFS_BLOCKDEV_BDEV_FAULT_INT_H

#include <stddef.h>
#include <stdint.h>

struct bdev;

/* Parse SANFS_BDEV_FAULTS (if set) and arm the rules matching dev's path.
 * -EINVAL (with a log line) on a malformed value. */
int bdev_fault_env_load(struct bdev *dev);

/* 0: go ahead with the I/O; negative errno: fail it. before_write may have
 * written a torn prefix itself before returning -EIO. */
int bdev_fault_before_read(struct bdev *dev, uint64_t off, size_t len);
int bdev_fault_before_write(struct bdev *dev, uint64_t off, const void *buf, size_t len);
int bdev_fault_before_flush(struct bdev *dev);

int bdev_pread_raw(struct bdev *dev, uint64_t off, void *buf, size_t len);
int bdev_pwrite_raw(struct bdev *dev, uint64_t off, const void *buf, size_t len);

#endif

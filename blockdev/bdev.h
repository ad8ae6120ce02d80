/* blockdev: raw shared-device I/O (DESIGN §2, §3).
 *
 * A struct bdev is one open block device or image file. All I/O goes through
 * O_DIRECT (two nodes on one host must not share the page cache, exactly as
 * two hosts on a SAN do not), so every offset, length and buffer address must
 * be a multiple of bdev_align(dev) (the logical sector size, at least 512;
 * buffers from bdev_alloc are 4096-aligned, which always suffices).
 *
 * Every I/O passes the I/O gate. A closed gate fails every read, write and
 * flush with the gate's error (EIO by default) without touching the device:
 * this is how a node fences itself (the seed's "pseudo storage driver").
 *
 * Errors: every function returns 0 or a negative errno. Thread-safe: any number
 * of threads may issue I/O on one bdev at once.
 *
 * Ownership: bdev_open returns a bdev the caller frees with bdev_close. */
#ifndef SANFS_BLOCKDEV_BDEV_H
#define SANFS_BLOCKDEV_BDEV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct bdev;

enum bdev_open_flags {
	BDEV_RDONLY = 1 << 0,
	/* Open without O_DIRECT: only for tools on filesystems that refuse it
	 * (tmpfs); never for a mounted filesystem. */
	BDEV_BUFFERED = 1 << 1,
};

int bdev_open(const char *path, unsigned flags, struct bdev **out);
void bdev_close(struct bdev *dev);

const char *bdev_path(const struct bdev *dev);
uint64_t bdev_size(const struct bdev *dev);  /* bytes */
unsigned bdev_align(const struct bdev *dev); /* required alignment, bytes */

/* Whole-range I/O: returns 0 only when all len bytes were transferred. */
int bdev_read(struct bdev *dev, uint64_t off, void *buf, size_t len);
int bdev_write(struct bdev *dev, uint64_t off, const void *buf, size_t len);
/* Make every completed write durable, device write cache included. */
int bdev_flush(struct bdev *dev);

/* 4096-aligned zeroed memory for I/O (len rounded up to a multiple of 4096;
 * NULL when out of memory); free with bdev_free. */
#define BDEV_BUF_ALIGN 4096
void *bdev_alloc(size_t len);
void bdev_free(void *p);

/* The I/O gate. */
void bdev_gate_close(struct bdev *dev, int err); /* err: positive errno, 0 = EIO */
void bdev_gate_open(struct bdev *dev);
bool bdev_gate_is_open(const struct bdev *dev);

#endif

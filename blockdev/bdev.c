/* blockdev: open, whole-range I/O, flush and the I/O gate (bdev.h).
 *
 * Every request is checked against the gate first, so a fenced node never
 * reaches the device (DESIGN §6: "it fences itself in the blockdev gate").
 * Then the test-only fault hooks run (bdev_fault.c), then pread/pwrite loops
 * that retry on EINTR and continue after short transfers. */
#include "blockdev/bdev_int.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "blockdev/bdev_fault_int.h"
#include "common/clock.h"
#include "common/log.h"

#define SUB "bdev"

/* bdev_find opens every candidate device quietly: a scan meets devices
 * without media or permission, which are no error of the caller. */
#define open_err(flags, ...) log_msg(((flags)&BDEV_QUIET) ? LOG_DEBUG : LOG_ERROR, SUB, __VA_ARGS__)

static unsigned file_dio_align(int fd)
{
#ifdef STATX_DIOALIGN
	struct statx stx;
	if (statx(fd, "", AT_EMPTY_PATH, STATX_DIOALIGN, &stx) == 0 &&
	    (stx.stx_mask & STATX_DIOALIGN) && stx.stx_dio_offset_align > 0) {
		unsigned a = stx.stx_dio_offset_align;
		if (stx.stx_dio_mem_align > a)
			a = stx.stx_dio_mem_align;
		return a;
	}
#else
	(void)fd;
#endif
	return 512;
}

int bdev_open(const char *path, unsigned flags, struct bdev **out)
{
	*out = NULL;
	if (!path || !*path)
		return -EINVAL;
	if (strlen(path) >= sizeof(((struct bdev *)0)->path)) {
		open_err(flags, "%.64s...: path too long", path);
		return -ENAMETOOLONG;
	}
	struct stat pst;
	if (stat(path, &pst) == 0 && !S_ISBLK(pst.st_mode) && !S_ISREG(pst.st_mode)) {
		open_err(flags, "%s: not a block device or regular file", path);
		return -ENOTBLK;
	}
	int oflags = O_CLOEXEC | ((flags & BDEV_RDONLY) ? O_RDONLY : O_RDWR);
	if (!(flags & BDEV_BUFFERED))
		oflags |= O_DIRECT;
	int fd = open(path, oflags);
	if (fd < 0) {
		int err = errno;
		if (err == EINVAL && !(flags & BDEV_BUFFERED))
			open_err(flags, "%s: O_DIRECT refused (tmpfs or overlayfs?): %s", path,
				 strerror(err));
		else
			open_err(flags, "%s: open: %s", path, strerror(err));
		return -err;
	}
	struct stat st;
	if (fstat(fd, &st) < 0) {
		int err = errno;
		open_err(flags, "%s: fstat: %s", path, strerror(err));
		close(fd);
		return -err;
	}
	uint64_t size;
	unsigned align;
	bool isblk = S_ISBLK(st.st_mode);
	if (isblk) {
		int ssz = 0;
		if (ioctl(fd, BLKGETSIZE64, &size) < 0 || ioctl(fd, BLKSSZGET, &ssz) < 0) {
			int err = errno;
			open_err(flags, "%s: size/sector ioctl: %s", path, strerror(err));
			close(fd);
			return -err;
		}
		align = ssz > 0 ? (unsigned)ssz : 512;
	} else if (S_ISREG(st.st_mode)) {
		size = (uint64_t)st.st_size;
		align = file_dio_align(fd);
	} else {
		open_err(flags, "%s: not a block device or regular file", path);
		close(fd);
		return -ENOTBLK;
	}
	if (align < 512)
		align = 512;
	if (align & (align - 1) || align > 4096) {
		open_err(flags, "%s: unsupported I/O alignment %u", path, align);
		close(fd);
		return -EINVAL;
	}
	struct bdev *dev = calloc(1, sizeof(*dev));
	if (!dev) {
		close(fd);
		return -ENOMEM;
	}
	dev->fd = fd;
	dev->flags = flags;
	dev->align = align;
	dev->size = size & ~(uint64_t)(align - 1);
	dev->is_blockdev = isblk;
	atomic_init(&dev->gate_err, 0);
	atomic_init(&dev->inflight, 0);
	atomic_init(&dev->lease_end, 0);
	pthread_mutex_init(&dev->lease_mu, NULL);
	cond_init_monotonic(&dev->lease_cv);
	atomic_init(&dev->faults_armed, false);
	pthread_mutex_init(&dev->fault_lock, NULL);
	strcpy(dev->path, path);
	int rc = bdev_fault_env_load(dev);
	if (rc < 0) {
		bdev_close(dev);
		return rc;
	}
	log_debug(SUB, "%s: opened, %llu bytes, align %u%s", path, (unsigned long long)dev->size,
		  align, (flags & BDEV_BUFFERED) ? ", buffered" : "");
	*out = dev;
	return 0;
}

void bdev_close(struct bdev *dev)
{
	if (!dev)
		return;
	bdev_fault_clear(dev);
	bdev_vol_free(dev);
	bdev_shadow_free(dev);
	pthread_mutex_destroy(&dev->fault_lock);
	pthread_mutex_destroy(&dev->lease_mu);
	pthread_cond_destroy(&dev->lease_cv);
	close(dev->fd);
	free(dev);
}

const char *bdev_path(const struct bdev *dev)
{
	return dev->path;
}

uint64_t bdev_size(const struct bdev *dev)
{
	return dev->size;
}

unsigned bdev_align(const struct bdev *dev)
{
	return dev->align;
}

uint64_t bdev_now_ns(void)
{
	return clock_ns(CLOCK_BOOTTIME);
}

static bool lease_valid(struct bdev *dev)
{
	uint64_t end = atomic_load(&dev->lease_end);
	return end == 0 || bdev_now_ns() < end;
}

/* An expired lease: wait for its renewal, the gate to close (its error) or
 * lease_wait_ms (-EIO: the holder cannot renew it). */
static int lease_wait(struct bdev *dev)
{
	pthread_mutex_lock(&dev->lease_mu);
	uint64_t deadline = clock_ns(CLOCK_MONOTONIC) + dev->lease_wait_ms * 1000000ull;
	int rc = 0;
	for (;;) {
		int gate = atomic_load(&dev->gate_err);
		if (gate) {
			rc = -gate;
			break;
		}
		if (lease_valid(dev))
			break;
		if (dev->lease_logged == 0) {
			log_warn(SUB, "%s: lease expired: I/O waits for its renewal", dev->path);
			dev->lease_logged = 1;
		}
		uint64_t now = clock_ns(CLOCK_MONOTONIC);
		if (now >= deadline) {
			if (dev->lease_logged < 2)
				log_error(SUB, "%s: lease not renewed for %u ms: I/O fails",
					  dev->path, dev->lease_wait_ms);
			dev->lease_logged = 2;
			rc = -EIO;
			break;
		}
		struct timespec ts = clock_ts(deadline);
		pthread_cond_timedwait(&dev->lease_cv, &dev->lease_mu, &ts);
	}
	pthread_mutex_unlock(&dev->lease_mu);
	return rc;
}

/* Enter the gate: wait out an expired lease (unless past_lease), count the
 * request as in flight, then look at the gate. The last two are
 * sequentially consistent, so bdev_gate_drain either sees this request
 * counted or this request sees the gate closed. */
static int gate_enter(struct bdev *dev, unsigned ioflags)
{
	if (!(ioflags & BDEV_IO_PAST_LEASE) && !lease_valid(dev)) {
		int rc = lease_wait(dev);
		if (rc)
			return rc;
	}
	atomic_fetch_add(&dev->inflight, 1);
	int gate = atomic_load(&dev->gate_err);
	if (gate) {
		atomic_fetch_sub(&dev->inflight, 1);
		return -gate;
	}
	return 0;
}

static void gate_exit(struct bdev *dev)
{
	atomic_fetch_sub(&dev->inflight, 1);
}

/* The checks every request passes after the gate: bounds, alignment. */
static int io_check(struct bdev *dev, const char *op, uint64_t off, const void *buf, size_t len)
{
	uint64_t mask = dev->align - 1;
	if ((off & mask) || (len & mask) || ((uintptr_t)buf & mask)) {
		log_error(SUB, "%s: %s of %zu bytes at %llu: not aligned to %u", dev->path, op, len,
			  (unsigned long long)off, dev->align);
		return -EINVAL;
	}
	if (off > dev->size || len > dev->size - off) {
		log_error(SUB, "%s: %s of %zu bytes at %llu: beyond the end (%llu)", dev->path, op,
			  len, (unsigned long long)off, (unsigned long long)dev->size);
		return -ERANGE;
	}
	return 0;
}

int bdev_pread_raw(struct bdev *dev, uint64_t off, void *buf, size_t len)
{
	size_t done = 0;
	while (done < len) {
		ssize_t n = pread(dev->fd, (char *)buf + done, len - done, (off_t)(off + done));
		if (n < 0) {
			if (errno == EINTR)
				continue;
			int err = errno;
			log_error(SUB, "%s: read of %zu bytes at %llu: %s", dev->path, len - done,
				  (unsigned long long)(off + done), strerror(err));
			return -err;
		}
		if (n == 0) {
			log_error(SUB, "%s: read at %llu: unexpected end of device", dev->path,
				  (unsigned long long)(off + done));
			return -EIO;
		}
		done += (size_t)n;
	}
	return 0;
}

int bdev_pwrite_raw(struct bdev *dev, uint64_t off, const void *buf, size_t len)
{
	size_t done = 0;
	while (done < len) {
		ssize_t n =
		    pwrite(dev->fd, (const char *)buf + done, len - done, (off_t)(off + done));
		if (n < 0) {
			if (errno == EINTR)
				continue;
			int err = errno;
			log_error(SUB, "%s: write of %zu bytes at %llu: %s", dev->path, len - done,
				  (unsigned long long)(off + done), strerror(err));
			return -err;
		}
		if (n == 0) {
			log_error(SUB, "%s: write at %llu: no progress", dev->path,
				  (unsigned long long)(off + done));
			return -EIO;
		}
		done += (size_t)n;
	}
	return 0;
}

static int do_read(struct bdev *dev, uint64_t off, void *buf, size_t len)
{
	int rc = io_check(dev, "read", off, buf, len);
	if (rc < 0 || len == 0)
		return rc;
	if (dev->shadow && bdev_shadow_patch(dev, off, buf, len))
		return 0; /* all of it shadowed: the device is not read */
	if (atomic_load_explicit(&dev->faults_armed, memory_order_acquire)) {
		rc = bdev_fault_before_read(dev, off, len);
		if (rc < 0)
			return rc;
	}
	rc = bdev_pread_raw(dev, off, buf, len);
	if (rc == 0 && dev->shadow)
		bdev_shadow_patch(dev, off, buf, len);
	return rc;
}

static int do_write(struct bdev *dev, uint64_t off, const void *buf, size_t len)
{
	int rc = io_check(dev, "write", off, buf, len);
	if (rc < 0 || len == 0)
		return rc;
	if (dev->shadow)
		return bdev_shadow_write(dev, off, buf, len);
	if (atomic_load_explicit(&dev->faults_armed, memory_order_acquire)) {
		/* May write a torn prefix itself and return -EIO, or do the
		 * whole write (volatile cache) and return 1. */
		rc = bdev_fault_before_write(dev, off, buf, len);
		if (rc)
			return rc < 0 ? rc : 0;
	}
	return bdev_pwrite_raw(dev, off, buf, len);
}

static int do_flush(struct bdev *dev)
{
	if (dev->shadow)
		return 0; /* nothing of ours is on the device */
	if (atomic_load_explicit(&dev->faults_armed, memory_order_acquire)) {
		/* 1: the simulated volatile cache did the flush. */
		int rc = bdev_fault_before_flush(dev);
		if (rc)
			return rc < 0 ? rc : 0;
	}
	/* fdatasync on a block device issues a cache flush (REQ_PREFLUSH); on an
	 * image file it flushes the file's data and the host device's cache. */
	while (fdatasync(dev->fd) < 0) {
		if (errno == EINTR)
			continue;
		int err = errno;
		log_error(SUB, "%s: flush: %s", dev->path, strerror(err));
		return -err;
	}
	return 0;
}

int bdev_read_io(struct bdev *dev, uint64_t off, void *buf, size_t len, unsigned ioflags)
{
	int rc = gate_enter(dev, ioflags);
	if (rc < 0)
		return rc;
	rc = do_read(dev, off, buf, len);
	gate_exit(dev);
	return rc;
}

int bdev_write_io(struct bdev *dev, uint64_t off, const void *buf, size_t len, unsigned ioflags)
{
	if ((dev->flags & BDEV_RDONLY) && !dev->shadow)
		return -EROFS;
	int rc = gate_enter(dev, ioflags);
	if (rc < 0)
		return rc;
	rc = do_write(dev, off, buf, len);
	gate_exit(dev);
	return rc;
}

int bdev_flush_io(struct bdev *dev, unsigned ioflags)
{
	int rc = gate_enter(dev, ioflags);
	if (rc < 0)
		return rc;
	rc = do_flush(dev);
	gate_exit(dev);
	return rc;
}

int bdev_read(struct bdev *dev, uint64_t off, void *buf, size_t len)
{
	return bdev_read_io(dev, off, buf, len, 0);
}

int bdev_write(struct bdev *dev, uint64_t off, const void *buf, size_t len)
{
	return bdev_write_io(dev, off, buf, len, 0);
}

int bdev_flush(struct bdev *dev)
{
	return bdev_flush_io(dev, 0);
}

int bdev_write_past_gate(struct bdev *dev, uint64_t off, const void *buf, size_t len)
{
	if (dev->flags & BDEV_RDONLY)
		return -EROFS;
	int rc = do_write(dev, off, buf, len);
	if (rc == 0)
		rc = do_flush(dev);
	return rc;
}

void *bdev_alloc(size_t len)
{
	if (len == 0)
		len = BDEV_BUF_ALIGN;
	size_t rounded = (len + BDEV_BUF_ALIGN - 1) & ~(size_t)(BDEV_BUF_ALIGN - 1);
	if (rounded < len)
		return NULL;
	void *p = NULL;
	if (posix_memalign(&p, BDEV_BUF_ALIGN, rounded) != 0)
		return NULL;
	memset(p, 0, rounded);
	return p;
}

void bdev_free(void *p)
{
	free(p);
}

void bdev_gate_close(struct bdev *dev, int err)
{
	if (err <= 0)
		err = EIO;
	if (atomic_exchange(&dev->gate_err, err) == 0)
		log_warn(SUB, "%s: I/O gate closed (%s)", dev->path, strerror(err));
	pthread_mutex_lock(&dev->lease_mu); /* requests waiting for the lease fail now */
	pthread_cond_broadcast(&dev->lease_cv);
	pthread_mutex_unlock(&dev->lease_mu);
}

void bdev_lease_renew(struct bdev *dev, uint64_t end_ns, unsigned wait_ms)
{
	pthread_mutex_lock(&dev->lease_mu);
	atomic_store(&dev->lease_end, end_ns);
	dev->lease_wait_ms = wait_ms;
	if (end_ns == 0 || bdev_now_ns() < end_ns)
		dev->lease_logged = 0;
	pthread_cond_broadcast(&dev->lease_cv);
	pthread_mutex_unlock(&dev->lease_mu);
}

void bdev_gate_open(struct bdev *dev)
{
	if (atomic_exchange(&dev->gate_err, 0) != 0)
		log_info(SUB, "%s: I/O gate opened", dev->path);
}

int bdev_gate_drain(struct bdev *dev, unsigned timeout_ms)
{
	struct timespec start, now;
	clock_gettime(CLOCK_MONOTONIC, &start);
	for (;;) {
		if (atomic_load(&dev->inflight) == 0)
			return 0;
		clock_gettime(CLOCK_MONOTONIC, &now);
		int64_t ms = (int64_t)(now.tv_sec - start.tv_sec) * 1000 +
			     (now.tv_nsec - start.tv_nsec) / 1000000;
		if (ms >= (int64_t)timeout_ms) {
			log_warn(SUB, "%s: %d I/O(s) still in flight after %u ms", dev->path,
				 atomic_load(&dev->inflight), timeout_ms);
			return -ETIMEDOUT;
		}
		struct timespec ts = {0, 200 * 1000};
		nanosleep(&ts, NULL);
	}
}

bool bdev_gate_is_open(const struct bdev *dev)
{
	return atomic_load(&((struct bdev *)dev)->gate_err) == 0;
}

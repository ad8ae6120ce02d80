/* blockdev: the simulated volatile write cache of BDEV_FAULT_VOLATILE and
 * the power cut (bdev.h "Power loss").
 *
 * The device file always holds the newest data (that is what the cache
 * would serve); the undo log holds, per unflushed write, the content its
 * 4 KiB blocks had before it. A power cut undoes a chosen subset of those
 * writes, newest first, which leaves every block as it was after some prefix
 * of its writes since the last flush.
 *
 * Locking: vol->mu serialises logged writes, flushes and the cut, and is
 * held across their device I/O so the prior content read before a write is
 * exactly what that write overwrote. Order: dev->fault_lock before vol->mu
 * (bdev_vol_arm runs under fault_lock); nothing here takes fault_lock. */
#include "blockdev/bdev_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "blockdev/bdev_fault_int.h"
#include "common/log.h"

#define SUB "bdev"
#define VB  4096u /* revert granularity */

struct vol_entry {
	uint64_t off; /* 4 KiB aligned */
	uint64_t len; /* whole 4 KiB blocks, except at a device end that is not */
	uint8_t *prior;
};

struct bdev_volatile {
	pthread_mutex_t mu;
	bool armed;
	atomic_bool cut;
	uint64_t seed, cap;
	struct vol_entry *log;
	size_t nlog, cap_log;
	uint64_t bytes; /* sum of the entries' len */
	struct bdev_volatile_stats st;
};

static void log_forget(struct bdev_volatile *v)
{
	for (size_t i = 0; i < v->nlog; i++)
		free(v->log[i].prior);
	v->nlog = 0;
	v->bytes = 0;
}

int bdev_vol_arm(struct bdev *dev, const struct bdev_fault *f)
{
	if (!dev->vol) {
		struct bdev_volatile *v = calloc(1, sizeof(*v));
		if (!v)
			return -ENOMEM;
		pthread_mutex_init(&v->mu, NULL);
		atomic_init(&v->cut, false);
		dev->vol = v;
	}
	struct bdev_volatile *v = dev->vol;
	pthread_mutex_lock(&v->mu);
	int rc = 0;
	if (v->armed) {
		rc = -EEXIST;
	} else {
		log_forget(v);
		v->armed = true;
		atomic_store(&v->cut, false);
		v->seed = f->seed;
		v->cap = f->cap ? f->cap : BDEV_VOLATILE_CAP;
		memset(&v->st, 0, sizeof(v->st));
	}
	pthread_mutex_unlock(&v->mu);
	return rc;
}

void bdev_vol_disarm(struct bdev *dev)
{
	struct bdev_volatile *v = dev->vol;
	if (!v)
		return;
	pthread_mutex_lock(&v->mu);
	log_forget(v);
	v->armed = false;
	atomic_store(&v->cut, false);
	pthread_mutex_unlock(&v->mu);
}

void bdev_vol_free(struct bdev *dev)
{
	struct bdev_volatile *v = dev->vol;
	if (!v)
		return;
	log_forget(v);
	free(v->log);
	pthread_mutex_destroy(&v->mu);
	free(v);
	dev->vol = NULL;
}

bool bdev_vol_is_cut(struct bdev_volatile *v)
{
	return atomic_load(&v->cut);
}

int bdev_vol_write(struct bdev *dev, struct bdev_volatile *v, uint64_t off, const void *buf,
		   size_t len)
{
	pthread_mutex_lock(&v->mu);
	if (!v->armed) {
		pthread_mutex_unlock(&v->mu);
		return 0;
	}
	if (atomic_load(&v->cut)) {
		pthread_mutex_unlock(&v->mu);
		return -EIO;
	}
	uint64_t b0 = off & ~(uint64_t)(VB - 1);
	uint64_t e = (off + len + VB - 1) & ~(uint64_t)(VB - 1);
	if (e > dev->size)
		e = dev->size; /* a multiple of the sector size, which len is too */
	uint64_t plen = e - b0;
	bool logged = plen <= v->cap;
	if (!logged || v->bytes + plen > v->cap) {
		/* The cache writes itself back: the loss only gets smaller. */
		log_forget(v);
		v->st.cap_flushes++;
	}
	uint8_t *prior = NULL;
	int rc = 0;
	if (logged && v->nlog == v->cap_log) {
		size_t n = v->cap_log ? 2 * v->cap_log : 64;
		struct vol_entry *nl = realloc(v->log, n * sizeof(*nl));
		if (!nl)
			rc = -ENOMEM;
		else
			v->log = nl, v->cap_log = n;
	}
	if (!rc && logged) {
		prior = bdev_alloc(plen);
		rc = prior ? bdev_pread_raw(dev, b0, prior, plen) : -ENOMEM;
	}
	if (!rc) {
		rc = bdev_pwrite_raw(dev, off, buf, len);
		/* A failed write may have changed part of the range: keep the
		 * entry so the cut may still undo it. */
		if (logged) {
			v->log[v->nlog++] = (struct vol_entry){b0, plen, prior};
			v->bytes += plen;
			v->st.writes++;
			prior = NULL;
		}
	}
	bdev_free(prior);
	pthread_mutex_unlock(&v->mu);
	return rc < 0 ? rc : 1;
}

int bdev_vol_flush(struct bdev_volatile *v)
{
	pthread_mutex_lock(&v->mu);
	int rc = 0;
	if (v->armed && atomic_load(&v->cut)) {
		rc = -EIO;
	} else if (v->armed) {
		/* The file or device under us is the disk of the simulation:
		 * forgetting the log is the flush (every write in it completed
		 * before this flush began, vol->mu). The host's own fdatasync
		 * is skipped: the host does not lose power here, and the time
		 * it takes would only shrink the window the cut can hit. */
		if (v->nlog)
			v->st.flushes++;
		log_forget(v);
		rc = 1;
	}
	pthread_mutex_unlock(&v->mu);
	return rc;
}

/* splitmix64: a small, well-mixed generator whose sequence depends on the
 * seed alone (determinism across platforms and libc versions). */
static uint64_t next_rand(uint64_t *s)
{
	uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	return z ^ (z >> 31);
}

int bdev_fault_powerloss(struct bdev *dev, uint64_t seed)
{
	pthread_mutex_lock(&dev->fault_lock);
	struct bdev_volatile *v = dev->vol;
	pthread_mutex_unlock(&dev->fault_lock);
	if (!v)
		return -EINVAL;
	pthread_mutex_lock(&v->mu);
	if (!v->armed) {
		pthread_mutex_unlock(&v->mu);
		return -EINVAL;
	}
	if (atomic_load(&v->cut)) {
		pthread_mutex_unlock(&v->mu);
		return -EALREADY;
	}
	/* No request gets through from here on: new ones stop at the gate,
	 * those past it at the cut flag (checked under vol->mu for writes and
	 * flushes, so none is half-way while the log is undone). */
	bdev_gate_close(dev, EIO);
	atomic_store(&v->cut, true);
	uint64_t rs = seed ^ v->seed;
	uint64_t reverted = 0, kept = 0;
	int rc = 0;
	for (size_t i = v->nlog; i-- > 0 && !rc;) {
		const struct vol_entry *e = &v->log[i];
		uint64_t mode = next_rand(&rs) % 8; /* 0-2 keep, 3-5 revert, 6-7 tear */
		for (uint64_t o = 0; o < e->len && !rc; o += VB) {
			bool undo = mode >= 3 && (mode < 6 || (next_rand(&rs) & 1));
			uint64_t n = e->len - o < VB ? e->len - o : VB;
			if (!undo) {
				kept++;
				continue;
			}
			rc = bdev_pwrite_raw(dev, e->off + o, e->prior + o, n);
			reverted++;
		}
	}
	v->st.reverted_blocks = reverted;
	v->st.kept_blocks = kept;
	size_t nlog = v->nlog;
	log_forget(v);
	pthread_mutex_unlock(&v->mu);
	if (rc < 0) {
		log_error(SUB, "%s: power cut: undoing a write failed: %s", dev->path,
			  strerror(-rc));
		return rc;
	}
	log_warn(SUB,
		 "%s: power cut (seed %llu): %zu unflushed write(s), %llu block(s) reverted, "
		 "%llu kept",
		 dev->path, (unsigned long long)seed, nlog, (unsigned long long)reverted,
		 (unsigned long long)kept);
	return reverted > INT32_MAX ? INT32_MAX : (int)reverted;
}

int bdev_fault_volatile_stats(struct bdev *dev, struct bdev_volatile_stats *st)
{
	pthread_mutex_lock(&dev->fault_lock);
	struct bdev_volatile *v = dev->vol;
	pthread_mutex_unlock(&dev->fault_lock);
	if (!v)
		return -EINVAL;
	pthread_mutex_lock(&v->mu);
	int rc = v->armed ? 0 : -EINVAL;
	if (!rc) {
		*st = v->st;
		st->unflushed_writes = v->nlog;
		st->unflushed_bytes = v->bytes;
		st->cut = atomic_load(&v->cut);
	}
	pthread_mutex_unlock(&v->mu);
	return rc;
}

/* blockdev: test-only fault injection (bdev.h "Test-only fault injection").
 *
 * The rules of a bdev live in an array under dev->fault_lock. The hooks
 * decide under the lock and do the slow parts (sleeping, the torn prefix
 * write) after dropping it. */
#include "blockdev/bdev_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "blockdev/bdev_fault_int.h"
#include "common/log.h"

#define SUB	   "bdev"
#define FAULTS_MAX 64

static unsigned default_ops(enum bdev_fault_kind kind)
{
	return kind == BDEV_FAULT_EIO_AFTER ? BDEV_FAULT_WRITE : BDEV_FAULT_READ | BDEV_FAULT_WRITE;
}

int bdev_fault_add(struct bdev *dev, const struct bdev_fault *f)
{
	if (f->kind < BDEV_FAULT_EIO || f->kind > BDEV_FAULT_VOLATILE)
		return -EINVAL;
	if (f->ops & ~(unsigned)(BDEV_FAULT_READ | BDEV_FAULT_WRITE))
		return -EINVAL;
	if (f->kind == BDEV_FAULT_EIO && (f->len == 0 || f->off + f->len < f->off))
		return -EINVAL;
	pthread_mutex_lock(&dev->fault_lock);
	if (dev->nfaults >= FAULTS_MAX) {
		pthread_mutex_unlock(&dev->fault_lock);
		return -ENOSPC;
	}
	struct bdev_fault *nf = realloc(dev->faults, (dev->nfaults + 1) * sizeof(*nf));
	if (!nf) {
		pthread_mutex_unlock(&dev->fault_lock);
		return -ENOMEM;
	}
	dev->faults = nf;
	if (f->kind == BDEV_FAULT_VOLATILE) {
		int rc = bdev_vol_arm(dev, f);
		if (rc < 0) {
			pthread_mutex_unlock(&dev->fault_lock);
			return rc;
		}
	}
	struct bdev_fault *r = &nf[dev->nfaults++];
	*r = *f;
	if (!r->ops)
		r->ops = default_ops(r->kind);
	atomic_store_explicit(&dev->faults_armed, true, memory_order_release);
	pthread_mutex_unlock(&dev->fault_lock);
	log_warn(SUB, "%s: fault armed: kind %d ops %u off %llu len %llu n %llu us %llu", dev->path,
		 f->kind, r->ops, (unsigned long long)f->off, (unsigned long long)f->len,
		 (unsigned long long)f->n, (unsigned long long)f->us);
	return 0;
}

void bdev_fault_clear(struct bdev *dev)
{
	pthread_mutex_lock(&dev->fault_lock);
	atomic_store_explicit(&dev->faults_armed, false, memory_order_release);
	free(dev->faults);
	dev->faults = NULL;
	dev->nfaults = 0;
	bdev_vol_disarm(dev);
	pthread_mutex_unlock(&dev->fault_lock);
}

uint64_t bdev_fault_hits(struct bdev *dev)
{
	pthread_mutex_lock(&dev->fault_lock);
	uint64_t n = dev->fault_hits;
	pthread_mutex_unlock(&dev->fault_lock);
	return n;
}

static void sleep_us(uint64_t us)
{
	struct timespec ts = {(time_t)(us / 1000000), (long)(us % 1000000) * 1000};
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static bool overlaps(const struct bdev_fault *f, uint64_t off, size_t len)
{
	return off < f->off + f->len && f->off < off + len;
}

/* The delay all matching DELAY rules add to an op; caller holds the lock. */
static uint64_t delay_for(struct bdev *dev, unsigned op)
{
	uint64_t us = 0;
	for (size_t i = 0; i < dev->nfaults; i++)
		if (dev->faults[i].kind == BDEV_FAULT_DELAY && (dev->faults[i].ops & op))
			us += dev->faults[i].us;
	if (us)
		dev->fault_hits++;
	return us;
}

/* A dead device (EIO_AFTER exhausted) for op; caller holds the lock. */
static bool dead_for(struct bdev *dev, unsigned op)
{
	for (size_t i = 0; i < dev->nfaults; i++) {
		const struct bdev_fault *f = &dev->faults[i];
		if (f->kind == BDEV_FAULT_EIO_AFTER && f->n == 0 && (f->ops & op))
			return true;
	}
	return false;
}

int bdev_fault_before_read(struct bdev *dev, uint64_t off, size_t len)
{
	int rc = 0;
	pthread_mutex_lock(&dev->fault_lock);
	uint64_t us = delay_for(dev, BDEV_FAULT_READ);
	for (size_t i = 0; i < dev->nfaults && !rc; i++) {
		const struct bdev_fault *f = &dev->faults[i];
		if (f->kind == BDEV_FAULT_EIO && (f->ops & BDEV_FAULT_READ) &&
		    overlaps(f, off, len))
			rc = -EIO;
	}
	if (!rc && dead_for(dev, BDEV_FAULT_READ))
		rc = -EIO;
	if (!rc && dev->vol && bdev_vol_is_cut(dev->vol))
		rc = -EIO; /* the power is off */
	if (rc)
		dev->fault_hits++;
	pthread_mutex_unlock(&dev->fault_lock);
	if (us)
		sleep_us(us);
	if (rc)
		log_debug(SUB, "%s: injected EIO on read of %zu at %llu", dev->path, len,
			  (unsigned long long)off);
	return rc;
}

int bdev_fault_before_write(struct bdev *dev, uint64_t off, const void *buf, size_t len)
{
	int rc = 0;
	size_t torn = 0;
	bool tear = false;
	pthread_mutex_lock(&dev->fault_lock);
	uint64_t us = delay_for(dev, BDEV_FAULT_WRITE);
	for (size_t i = 0; i < dev->nfaults && !rc; i++) {
		const struct bdev_fault *f = &dev->faults[i];
		if (f->kind == BDEV_FAULT_EIO && (f->ops & BDEV_FAULT_WRITE) &&
		    overlaps(f, off, len))
			rc = -EIO;
	}
	if (!rc && dead_for(dev, BDEV_FAULT_WRITE))
		rc = -EIO;
	if (!rc) {
		/* This write goes ahead (perhaps torn): it uses up one allowed write. */
		for (size_t i = 0; i < dev->nfaults; i++)
			if (dev->faults[i].kind == BDEV_FAULT_EIO_AFTER && dev->faults[i].n > 0)
				dev->faults[i].n--;
		size_t sectors = len / dev->align;
		for (size_t i = 0; i < dev->nfaults && sectors > 1; i++) {
			if (dev->faults[i].kind != BDEV_FAULT_TORN)
				continue;
			uint64_t k = dev->faults[i].n;
			if (k > sectors - 1)
				k = sectors - 1;
			torn = (size_t)k * dev->align;
			tear = true;
			memmove(&dev->faults[i], &dev->faults[i + 1],
				(dev->nfaults - i - 1) * sizeof(dev->faults[0]));
			dev->nfaults--;
			break;
		}
	}
	if (rc || tear)
		dev->fault_hits++;
	struct bdev_volatile *vol = dev->vol;
	pthread_mutex_unlock(&dev->fault_lock);
	if (us)
		sleep_us(us);
	if (rc) {
		log_debug(SUB, "%s: injected EIO on write of %zu at %llu", dev->path, len,
			  (unsigned long long)off);
		return rc;
	}
	if (tear) {
		log_debug(SUB, "%s: injected torn write: %zu of %zu bytes at %llu", dev->path, torn,
			  len, (unsigned long long)off);
		if (torn) {
			/* Through the volatile cache when there is one, so the
			 * prefix can be lost at a power cut like any write. */
			rc = vol ? bdev_vol_write(dev, vol, off, buf, torn) : 0;
			if (rc == 0)
				rc = bdev_pwrite_raw(dev, off, buf, torn);
			if (rc < 0)
				return rc;
		}
		return -EIO;
	}
	if (vol) {
		rc = bdev_vol_write(dev, vol, off, buf, len);
		if (rc == -EIO && bdev_vol_is_cut(vol)) {
			pthread_mutex_lock(&dev->fault_lock);
			dev->fault_hits++;
			pthread_mutex_unlock(&dev->fault_lock);
			log_debug(SUB, "%s: write of %zu at %llu after the power cut", dev->path,
				  len, (unsigned long long)off);
		}
		return rc;
	}
	return 0;
}

int bdev_fault_before_flush(struct bdev *dev)
{
	pthread_mutex_lock(&dev->fault_lock);
	uint64_t us = delay_for(dev, BDEV_FAULT_WRITE);
	int rc = dead_for(dev, BDEV_FAULT_WRITE) ? -EIO : 0;
	if (rc)
		dev->fault_hits++;
	struct bdev_volatile *vol = dev->vol;
	pthread_mutex_unlock(&dev->fault_lock);
	if (us)
		sleep_us(us);
	if (!rc && vol) {
		rc = bdev_vol_flush(vol);
		if (rc < 0) { /* the power is off */
			pthread_mutex_lock(&dev->fault_lock);
			dev->fault_hits++;
			pthread_mutex_unlock(&dev->fault_lock);
		}
	}
	return rc;
}

/* ---- SANFS_BDEV_FAULTS ---- */

static int parse_u64(const char *s, bool suffix, uint64_t *out)
{
	if (*s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	char *end;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno)
		return -EINVAL;
	unsigned shift = 0;
	if (suffix && *end) {
		switch (*end) {
		case 'K':
		case 'k':
			shift = 10;
			break;
		case 'M':
		case 'm':
			shift = 20;
			break;
		case 'G':
		case 'g':
			shift = 30;
			break;
		default:
			return -EINVAL;
		}
		end++;
	}
	if (*end || (shift && v > (UINT64_MAX >> shift)))
		return -EINVAL;
	*out = (uint64_t)v << shift;
	return 0;
}

static int parse_ops(const char *s, unsigned *ops)
{
	if (!strcmp(s, "r"))
		*ops = BDEV_FAULT_READ;
	else if (!strcmp(s, "w"))
		*ops = BDEV_FAULT_WRITE;
	else if (!strcmp(s, "rw") || !strcmp(s, "wr"))
		*ops = BDEV_FAULT_READ | BDEV_FAULT_WRITE;
	else
		return -EINVAL;
	return 0;
}

/* Parse one rule (modified in place). 1: stored in *f; 0: skipped (dev=
 * does not match); -EINVAL. */
static int parse_rule(char *rule, const char *path, struct bdev_fault *f)
{
	memset(f, 0, sizeof(*f));
	char *save = NULL;
	char *kind = strtok_r(rule, ",", &save);
	if (!kind)
		return -EINVAL;
	if (!strcmp(kind, "eio"))
		f->kind = BDEV_FAULT_EIO;
	else if (!strcmp(kind, "eio_after"))
		f->kind = BDEV_FAULT_EIO_AFTER;
	else if (!strcmp(kind, "torn"))
		f->kind = BDEV_FAULT_TORN;
	else if (!strcmp(kind, "delay"))
		f->kind = BDEV_FAULT_DELAY;
	else if (!strcmp(kind, "volatile"))
		f->kind = BDEV_FAULT_VOLATILE;
	else
		return -EINVAL;
	bool have_off = false, have_len = false, have_n = false, have_us = false, match = true;
	for (char *kv; (kv = strtok_r(NULL, ",", &save));) {
		char *eq = strchr(kv, '=');
		if (!eq)
			return -EINVAL;
		*eq = 0;
		const char *k = kv, *v = eq + 1;
		int rc = 0;
		if (!strcmp(k, "off") && f->kind == BDEV_FAULT_EIO)
			rc = parse_u64(v, true, &f->off), have_off = true;
		else if (!strcmp(k, "len") && f->kind == BDEV_FAULT_EIO)
			rc = parse_u64(v, true, &f->len), have_len = true;
		else if (!strcmp(k, "n") &&
			 (f->kind == BDEV_FAULT_EIO_AFTER || f->kind == BDEV_FAULT_TORN))
			rc = parse_u64(v, false, &f->n), have_n = true;
		else if (!strcmp(k, "us") && f->kind == BDEV_FAULT_DELAY)
			rc = parse_u64(v, false, &f->us), have_us = true;
		else if (!strcmp(k, "seed") && f->kind == BDEV_FAULT_VOLATILE)
			rc = parse_u64(v, false, &f->seed);
		else if (!strcmp(k, "cap") && f->kind == BDEV_FAULT_VOLATILE)
			rc = parse_u64(v, true, &f->cap);
		else if (!strcmp(k, "ops") && f->kind != BDEV_FAULT_TORN &&
			 f->kind != BDEV_FAULT_VOLATILE)
			rc = parse_ops(v, &f->ops);
		else if (!strcmp(k, "dev"))
			match = path && strstr(path, v);
		else
			rc = -EINVAL;
		if (rc)
			return rc;
	}
	switch (f->kind) {
	case BDEV_FAULT_EIO:
		if (!have_off || !have_len || f->len == 0 || f->off + f->len < f->off)
			return -EINVAL;
		break;
	case BDEV_FAULT_EIO_AFTER:
		if (!have_n || (f->ops && !(f->ops & BDEV_FAULT_WRITE)))
			return -EINVAL;
		break;
	case BDEV_FAULT_TORN:
		if (!have_n)
			return -EINVAL;
		break;
	case BDEV_FAULT_DELAY:
		if (!have_us || f->us > 60u * 1000000u)
			return -EINVAL;
		break;
	case BDEV_FAULT_VOLATILE:
		break;
	}
	return match ? 1 : 0;
}

int bdev_fault_parse(const char *spec, const char *path, struct bdev_fault *out, size_t max)
{
	char *copy = strdup(spec);
	if (!copy)
		return -ENOMEM;
	int n = 0, rc = 0;
	char *save = NULL;
	for (char *rule = strtok_r(copy, ";", &save); rule; rule = strtok_r(NULL, ";", &save)) {
		char shown[128];
		snprintf(shown, sizeof(shown), "%s", rule);
		struct bdev_fault f;
		int r = parse_rule(rule, path, &f);
		if (r < 0) {
			log_error(SUB, "SANFS_BDEV_FAULTS: bad rule '%s'", shown);
			rc = -EINVAL;
			break;
		}
		if (r == 0)
			continue;
		if ((size_t)n >= max) {
			rc = -E2BIG;
			break;
		}
		out[n++] = f;
	}
	free(copy);
	return rc < 0 ? rc : n;
}

int bdev_fault_env_load(struct bdev *dev)
{
	const char *spec = getenv("SANFS_BDEV_FAULTS");
	if (!spec || !*spec)
		return 0;
	struct bdev_fault rules[FAULTS_MAX];
	int n = bdev_fault_parse(spec, dev->path, rules, FAULTS_MAX);
	if (n < 0)
		return n;
	for (int i = 0; i < n; i++) {
		int rc = bdev_fault_add(dev, &rules[i]);
		if (rc < 0)
			return rc;
	}
	if (n)
		log_warn(SUB, "%s: %d fault rule(s) from SANFS_BDEV_FAULTS", dev->path, n);
	return 0;
}

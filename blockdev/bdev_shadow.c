/* bdev_shadow: writes kept in memory instead of on the device (bdev.h,
 * bdev_shadow_start). For a read-only fsck of a filesystem whose journal was
 * not replayed: the replay writes here, and the checks read the filesystem
 * as the next mount will see it without anything reaching the device.
 *
 * Whole SHADOW_BLOCK blocks in a hash table; a read goes to the device and
 * then has the shadowed blocks it overlaps copied over it. One mutex: fsck is
 * single-threaded, and nothing on a hot path ever has a shadow. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "blockdev/bdev_int.h"
#include "common/log.h"

#define SUB	     "bdev"
#define SHADOW_BLOCK 4096u

struct sh_ent {
	uint64_t blk;
	struct sh_ent *next;
	uint8_t data[SHADOW_BLOCK];
};

struct bdev_shadow {
	pthread_mutex_t mu;
	size_t nbuckets; /* a power of two */
	size_t count;
	struct sh_ent **tab;
};

static size_t bucket(const struct bdev_shadow *s, uint64_t blk)
{
	return (size_t)((blk * 0x9E3779B97F4A7C15ull) >> 20) & (s->nbuckets - 1);
}

static struct sh_ent *find(const struct bdev_shadow *s, uint64_t blk)
{
	for (struct sh_ent *e = s->tab[bucket(s, blk)]; e; e = e->next)
		if (e->blk == blk)
			return e;
	return NULL;
}

/* Doubles the table once it holds twice as many blocks as buckets. */
static void grow(struct bdev_shadow *s)
{
	if (s->count < 2 * s->nbuckets)
		return;
	size_t n = s->nbuckets * 2;
	struct sh_ent **t = calloc(n, sizeof(*t));
	if (!t)
		return; /* longer chains, still correct */
	struct sh_ent **old = s->tab;
	size_t oldn = s->nbuckets;
	s->tab = t;
	s->nbuckets = n;
	for (size_t i = 0; i < oldn; i++)
		while (old[i]) {
			struct sh_ent *e = old[i];
			old[i] = e->next;
			e->next = t[bucket(s, e->blk)];
			t[bucket(s, e->blk)] = e;
		}
	free(old);
}

int bdev_shadow_start(struct bdev *dev)
{
	if (dev->shadow)
		return 0;
	if (dev->align > SHADOW_BLOCK) {
		log_error(SUB, "%s: no shadow on a device with %u-byte blocks", dev->path,
			  dev->align);
		return -EINVAL;
	}
	struct bdev_shadow *s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->nbuckets = 1024;
	s->tab = calloc(s->nbuckets, sizeof(*s->tab));
	if (!s->tab) {
		free(s);
		return -ENOMEM;
	}
	pthread_mutex_init(&s->mu, NULL);
	dev->shadow = s;
	log_debug(SUB, "%s: writes kept in memory from now on", dev->path);
	return 0;
}

uint64_t bdev_shadow_blocks(const struct bdev *dev)
{
	return dev->shadow ? dev->shadow->count : 0;
}

int bdev_shadow_write(struct bdev *dev, uint64_t off, const void *buf, size_t len)
{
	struct bdev_shadow *s = dev->shadow;
	if (off % SHADOW_BLOCK || len % SHADOW_BLOCK) {
		log_error(SUB, "%s: shadow write of %zu bytes at %llu: not whole %u-byte blocks",
			  dev->path, len, (unsigned long long)off, SHADOW_BLOCK);
		return -EINVAL;
	}
	int rc = 0;
	pthread_mutex_lock(&s->mu);
	for (size_t done = 0; done < len; done += SHADOW_BLOCK) {
		uint64_t blk = (off + done) / SHADOW_BLOCK;
		struct sh_ent *e = find(s, blk);
		if (!e) {
			e = malloc(sizeof(*e));
			if (!e) {
				rc = -ENOMEM;
				break;
			}
			e->blk = blk;
			e->next = s->tab[bucket(s, blk)];
			s->tab[bucket(s, blk)] = e;
			s->count++;
			grow(s);
		}
		memcpy(e->data, (const uint8_t *)buf + done, SHADOW_BLOCK);
	}
	pthread_mutex_unlock(&s->mu);
	return rc;
}

bool bdev_shadow_patch(struct bdev *dev, uint64_t off, void *buf, size_t len)
{
	struct bdev_shadow *s = dev->shadow;
	bool all = true;
	pthread_mutex_lock(&s->mu);
	for (uint64_t blk = off / SHADOW_BLOCK; blk * SHADOW_BLOCK < off + len; blk++) {
		const struct sh_ent *e = find(s, blk);
		if (!e) {
			all = false;
			continue;
		}
		uint64_t from = blk * SHADOW_BLOCK > off ? blk * SHADOW_BLOCK : off;
		uint64_t to =
		    (blk + 1) * SHADOW_BLOCK < off + len ? (blk + 1) * SHADOW_BLOCK : off + len;
		memcpy((uint8_t *)buf + (from - off), e->data + (from - blk * SHADOW_BLOCK),
		       to - from);
	}
	pthread_mutex_unlock(&s->mu);
	return all;
}

void bdev_shadow_free(struct bdev *dev)
{
	struct bdev_shadow *s = dev->shadow;
	if (!s)
		return;
	for (size_t i = 0; i < s->nbuckets; i++)
		while (s->tab[i]) {
			struct sh_ent *e = s->tab[i];
			s->tab[i] = e->next;
			free(e);
		}
	free(s->tab);
	pthread_mutex_destroy(&s->mu);
	free(s);
	dev->shadow = NULL;
}

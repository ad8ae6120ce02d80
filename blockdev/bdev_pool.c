/* blockdev: a pool of fixed-size aligned I/O buffers (bdev.h).
 *
 * One slab of count * buf_size bytes, 4096-aligned, carved into buffers; a
 * stack of free indexes under one mutex, and a condition variable for
 * bdev_pool_get to wait on. A buffer's index is its offset in the slab, so
 * bdev_pool_put can check the pointer in O(1). */
#include "blockdev/bdev.h"

#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct bdev_pool {
	pthread_mutex_t lock;
	pthread_cond_t freed;
	size_t buf_size;
	unsigned count;
	unsigned nfree;
	unsigned *free_stack; /* indexes of the free buffers, nfree of them */
	uint8_t *in_use;      /* per buffer: 1 while handed out (catches double puts) */
	uint8_t *slab;
};

int bdev_pool_create(size_t buf_size, unsigned count, struct bdev_pool **out)
{
	*out = NULL;
	if (buf_size == 0 || buf_size % BDEV_BUF_ALIGN || count == 0)
		return -EINVAL;
	if (buf_size > SIZE_MAX / count)
		return -ENOMEM;
	struct bdev_pool *p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->free_stack = calloc(count, sizeof(*p->free_stack));
	p->in_use = calloc(count, 1);
	p->slab = bdev_alloc(buf_size * count);
	if (!p->free_stack || !p->in_use || !p->slab) {
		bdev_free(p->slab);
		free(p->in_use);
		free(p->free_stack);
		free(p);
		return -ENOMEM;
	}
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->freed, NULL);
	p->buf_size = buf_size;
	p->count = count;
	/* Hand out low addresses first: the stack pops from the end. */
	for (unsigned i = 0; i < count; i++)
		p->free_stack[i] = count - 1 - i;
	p->nfree = count;
	*out = p;
	return 0;
}

void bdev_pool_destroy(struct bdev_pool *p)
{
	if (!p)
		return;
	/* Freeing a pool with buffers still out would leave dangling pointers. */
	assert(p->nfree == p->count);
	pthread_cond_destroy(&p->freed);
	pthread_mutex_destroy(&p->lock);
	bdev_free(p->slab);
	free(p->in_use);
	free(p->free_stack);
	free(p);
}

static void *pool_pop(struct bdev_pool *p)
{
	unsigned idx = p->free_stack[--p->nfree];
	assert(!p->in_use[idx]);
	p->in_use[idx] = 1;
	return p->slab + (size_t)idx * p->buf_size;
}

void *bdev_pool_get(struct bdev_pool *p)
{
	pthread_mutex_lock(&p->lock);
	while (p->nfree == 0)
		pthread_cond_wait(&p->freed, &p->lock);
	void *buf = pool_pop(p);
	pthread_mutex_unlock(&p->lock);
	return buf;
}

void *bdev_pool_tryget(struct bdev_pool *p)
{
	void *buf = NULL;
	pthread_mutex_lock(&p->lock);
	if (p->nfree > 0)
		buf = pool_pop(p);
	pthread_mutex_unlock(&p->lock);
	return buf;
}

void bdev_pool_put(struct bdev_pool *p, void *buf)
{
	if (!buf)
		return;
	uintptr_t off = (uintptr_t)buf - (uintptr_t)p->slab;
	/* A pointer that is not one of ours is a bug of the caller. */
	assert((uintptr_t)buf >= (uintptr_t)p->slab && off % p->buf_size == 0 &&
	       off / p->buf_size < p->count);
	unsigned idx = (unsigned)(off / p->buf_size);
	pthread_mutex_lock(&p->lock);
	assert(p->in_use[idx]);
	p->in_use[idx] = 0;
	p->free_stack[p->nfree++] = idx;
	pthread_cond_signal(&p->freed);
	pthread_mutex_unlock(&p->lock);
}

size_t bdev_pool_buf_size(const struct bdev_pool *p)
{
	return p->buf_size;
}

unsigned bdev_pool_count(const struct bdev_pool *p)
{
	return p->count;
}

unsigned bdev_pool_available(struct bdev_pool *p)
{
	pthread_mutex_lock(&p->lock);
	unsigned n = p->nfree;
	pthread_mutex_unlock(&p->lock);
	return n;
}

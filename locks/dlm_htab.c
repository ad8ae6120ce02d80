#include "locks/dlm_htab.h"

#include <errno.h>
#include <stdlib.h>

static size_t slot(const struct dlm_htab *t, uint64_t key)
{
	return (size_t)((key * 0x9E3779B97F4A7C15ull) >> 20) & (t->nbuckets - 1);
}

int dlm_htab_init(struct dlm_htab *t)
{
	t->nbuckets = 64;
	t->count = 0;
	t->buckets = calloc(t->nbuckets, sizeof(*t->buckets));
	return t->buckets ? 0 : -ENOMEM;
}

void dlm_htab_free(struct dlm_htab *t)
{
	free(t->buckets);
	t->buckets = NULL;
	t->nbuckets = t->count = 0;
}

static void grow(struct dlm_htab *t)
{
	size_t nb = t->nbuckets * 2;
	struct dlm_hnode **b = calloc(nb, sizeof(*b));
	if (!b)
		return; /* keep the longer chains; still correct */
	struct dlm_htab nt = {b, nb, t->count};
	for (size_t i = 0; i < t->nbuckets; i++) {
		struct dlm_hnode *n = t->buckets[i];
		while (n) {
			struct dlm_hnode *next = n->next;
			size_t s = slot(&nt, n->key);
			n->next = b[s];
			b[s] = n;
			n = next;
		}
	}
	free(t->buckets);
	*t = nt;
}

void dlm_htab_insert(struct dlm_htab *t, struct dlm_hnode *n, uint64_t key)
{
	if (t->count >= t->nbuckets)
		grow(t);
	n->key = key;
	size_t s = slot(t, key);
	n->next = t->buckets[s];
	t->buckets[s] = n;
	t->count++;
}

void dlm_htab_remove(struct dlm_htab *t, struct dlm_hnode *n)
{
	struct dlm_hnode **pp = &t->buckets[slot(t, n->key)];
	while (*pp && *pp != n)
		pp = &(*pp)->next;
	if (*pp) {
		*pp = n->next;
		t->count--;
	}
}

struct dlm_hnode *dlm_htab_first(const struct dlm_htab *t, uint64_t key)
{
	struct dlm_hnode *n = t->buckets[slot(t, key)];
	while (n && n->key != key)
		n = n->next;
	return n;
}

struct dlm_hnode *dlm_htab_next_same(const struct dlm_hnode *n)
{
	uint64_t key = n->key;
	for (n = n->next; n && n->key != key; n = n->next)
		;
	return (struct dlm_hnode *)n;
}

/* A small intrusive chained hash table keyed by u64, private to locks/.
 * Entries embed a struct dlm_hnode; several entries may share a key (the
 * caller walks dlm_htab_next_same to tell them apart). Grows by doubling. */
#ifndef SANFS_LOCKS_DLM_HTAB_H
#define SANFS_LOCKS_DLM_HTAB_H

#include <stddef.h>
#include <stdint.h>

struct dlm_hnode {
	struct dlm_hnode *next;
	uint64_t key;
};

struct dlm_htab {
	struct dlm_hnode **buckets;
	size_t nbuckets, count;
};

int dlm_htab_init(struct dlm_htab *t);
void dlm_htab_free(struct dlm_htab *t); /* frees the buckets, not the entries */
void dlm_htab_insert(struct dlm_htab *t, struct dlm_hnode *n, uint64_t key);
void dlm_htab_remove(struct dlm_htab *t, struct dlm_hnode *n);
struct dlm_hnode *dlm_htab_first(const struct dlm_htab *t, uint64_t key);
struct dlm_hnode *dlm_htab_next_same(const struct dlm_hnode *n);
/* Every entry, in no order; safe against removal of the current entry when
 * the caller fetched `next` first. */
#define dlm_htab_foreach(t, i, n, nx)                                                              \
	for (size_t i = 0; i < (t)->nbuckets; i++)                                                 \
		for (struct dlm_hnode *n = (t)->buckets[i], *nx = n ? n->next : NULL; n;           \
		     n = nx, nx = n ? n->next : NULL)

#endif

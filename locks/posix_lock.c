#include "locks/posix_lock.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

void posix_lock_table_init(struct posix_lock_table *t)
{
	*t = (struct posix_lock_table){0};
}

void posix_lock_table_free(struct posix_lock_table *t)
{
	free(t->locks);
	*t = (struct posix_lock_table){0};
}

static bool same_owner(const struct posix_owner *a, const struct posix_owner *b)
{
	return a->node == b->node && a->owner == b->owner;
}

static bool overlap(uint64_t s1, uint64_t e1, uint64_t s2, uint64_t e2)
{
	return s1 <= e2 && s2 <= e1;
}

static bool valid(const struct posix_lock *w, bool allow_un)
{
	if (!w || w->start > w->end)
		return false;
	return w->type == POSIX_LOCK_RD || w->type == POSIX_LOCK_WR ||
	       (allow_un && w->type == POSIX_LOCK_UN);
}

int posix_lock_test(const struct posix_lock_table *t, const struct posix_lock *want,
		    struct posix_lock *conflict)
{
	if (!valid(want, false))
		return -EINVAL;
	for (size_t i = 0; i < t->count; i++) {
		const struct posix_lock *l = &t->locks[i];
		if (same_owner(&l->who, &want->who))
			continue;
		if (!overlap(l->start, l->end, want->start, want->end))
			continue;
		if (l->type == POSIX_LOCK_WR || want->type == POSIX_LOCK_WR) {
			if (conflict)
				*conflict = *l;
			return 1;
		}
	}
	return 0;
}

static int reserve(struct posix_lock_table *t, size_t n)
{
	if (t->count + n <= t->cap)
		return 0;
	size_t cap = t->cap ? t->cap * 2 : 8;
	while (cap < t->count + n)
		cap *= 2;
	struct posix_lock *p = realloc(t->locks, cap * sizeof(*p));
	if (!p)
		return -ENOMEM;
	t->locks = p;
	t->cap = cap;
	return 0;
}

static int cmp_start(const void *a, const void *b)
{
	const struct posix_lock *x = a, *y = b;
	if (x->start != y->start)
		return x->start < y->start ? -1 : 1;
	return 0;
}

int posix_lock_set(struct posix_lock_table *t, const struct posix_lock *want)
{
	if (!valid(want, true))
		return -EINVAL;
	if (want->type != POSIX_LOCK_UN && posix_lock_test(t, want, NULL) == 1)
		return -EAGAIN;
	/* Worst case: one of our locks is split in two, plus the new one. */
	if (reserve(t, 2) < 0)
		return -ENOMEM;
	uint64_t s = want->start, e = want->end;
	size_t n = t->count;
	for (size_t i = 0; i < n; i++) {
		struct posix_lock *l = &t->locks[i];
		if (!same_owner(&l->who, &want->who) || !overlap(l->start, l->end, s, e))
			continue;
		if (l->start < s && l->end > e) { /* split around the new range */
			struct posix_lock tail = *l;
			tail.start = e + 1;
			l->end = s - 1;
			t->locks[t->count++] = tail;
		} else if (l->start < s) {
			l->end = s - 1;
		} else if (l->end > e) {
			l->start = e + 1;
		} else {
			l->end = 0;
			l->start = 1; /* mark removed: start > end */
		}
	}
	/* Compact removed entries. */
	size_t w = 0;
	for (size_t i = 0; i < t->count; i++)
		if (t->locks[i].start <= t->locks[i].end)
			t->locks[w++] = t->locks[i];
	t->count = w;
	if (want->type != POSIX_LOCK_UN) {
		struct posix_lock nl = *want;
		/* Merge with adjacent locks of the same owner and type. */
		w = 0;
		for (size_t i = 0; i < t->count; i++) {
			struct posix_lock *l = &t->locks[i];
			bool adj = same_owner(&l->who, &nl.who) && l->type == nl.type &&
				   ((l->end != POSIX_LOCK_EOF && l->end + 1 == nl.start) ||
				    (nl.end != POSIX_LOCK_EOF && nl.end + 1 == l->start));
			if (adj) {
				if (l->start < nl.start)
					nl.start = l->start;
				if (l->end > nl.end)
					nl.end = l->end;
				continue;
			}
			t->locks[w++] = *l;
		}
		t->count = w;
		t->locks[t->count++] = nl;
	}
	qsort(t->locks, t->count, sizeof(*t->locks), cmp_start);
	return 0;
}

static size_t drop_if(struct posix_lock_table *t, const struct posix_owner *who, uint32_t node,
		      bool whole_node)
{
	size_t w = 0, dropped = 0;
	for (size_t i = 0; i < t->count; i++) {
		const struct posix_lock *l = &t->locks[i];
		bool drop = whole_node ? l->who.node == node : same_owner(&l->who, who);
		if (drop)
			dropped++;
		else
			t->locks[w++] = *l;
	}
	t->count = w;
	return dropped;
}

size_t posix_lock_drop_owner(struct posix_lock_table *t, const struct posix_owner *who)
{
	return drop_if(t, who, 0, false);
}

size_t posix_lock_drop_node(struct posix_lock_table *t, uint32_t node)
{
	return drop_if(t, NULL, node, true);
}

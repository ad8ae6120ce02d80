/* POSIX (fcntl) byte-range locks of one file, as the cluster-wide lock table
 * keeps them (DESIGN §5). Pure data structure; the caller serialises access.
 *
 * A lock belongs to an owner = (node id, lock owner id from FUSE). Semantics
 * are those of fcntl(2) record locks:
 *  - a read lock conflicts with a write lock of another owner, a write lock
 *    with any lock of another owner, where the ranges overlap;
 *  - locks of one owner never conflict with each other: a new lock replaces
 *    the owner's locks on its range (splitting them), and adjacent or
 *    overlapping locks of the same owner and type merge into one;
 *  - unlocking a range trims, splits or removes the owner's locks there;
 *  - ranges are inclusive [start, end]; end = POSIX_LOCK_EOF means to the end
 *    of the file however it grows.
 * flock(2) locks use the same table with the whole range and an owner id
 * from the open file. */
#ifndef SANFS_LOCKS_POSIX_LOCK_H
#define SANFS_LOCKS_POSIX_LOCK_H

#include <stddef.h>
#include <stdint.h>

#define POSIX_LOCK_EOF UINT64_MAX

enum posix_lock_type {
	POSIX_LOCK_RD = 0,
	POSIX_LOCK_WR = 1,
	POSIX_LOCK_UN = 2,
};

struct posix_owner {
	uint32_t node;
	uint64_t owner;
};

struct posix_lock {
	struct posix_owner who;
	enum posix_lock_type type; /* RD or WR */
	uint64_t start, end;
	uint32_t pid; /* for F_GETLK */
};

struct posix_lock_table {
	struct posix_lock *locks; /* sorted by (start) */
	size_t count, cap;
};

void posix_lock_table_init(struct posix_lock_table *t);
void posix_lock_table_free(struct posix_lock_table *t);

/* F_GETLK: 1 and *conflict filled when a lock of another owner conflicts with
 * the one described, 0 when none does, -EINVAL for bad arguments. */
int posix_lock_test(const struct posix_lock_table *t, const struct posix_lock *want,
		    struct posix_lock *conflict);
/* F_SETLK: apply want (type UN unlocks). -EAGAIN when another owner's lock
 * conflicts (nothing changed), -EINVAL for bad arguments, -ENOMEM. */
int posix_lock_set(struct posix_lock_table *t, const struct posix_lock *want);
/* Drop every lock of one owner (close), or of every owner of a node (death).
 * Returns how many locks were dropped. */
size_t posix_lock_drop_owner(struct posix_lock_table *t, const struct posix_owner *who);
size_t posix_lock_drop_node(struct posix_lock_table *t, uint32_t node);

#endif

/* orphan: the slot's orphan list (orphan.h). Each orphan block holds a
 * count and that many inode numbers, packed; adding fills the first block
 * with room, deleting moves the block's last entry into the hole. When
 * every block is full, further orphans are kept in memory only (over[]):
 * nothing fails, but those are reclaimed after a crash by fsck alone. */
#include "fs/orphan.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>

#include "common/endian_le.h"
#include "common/log.h"
#include "fs/bcache.h"
#include "fs/jnl.h"
#include "fs/sfs.h"

struct sfs_orphan {
	pthread_mutex_t mu;
	uint64_t *over; /* listed in memory only: the blocks were full */
	size_t nover, capover;
	bool warned;
};

static ssize_t over_find(struct sfs_orphan *o, uint64_t ino)
{
	for (size_t i = 0; i < o->nover; i++)
		if (o->over[i] == ino)
			return (ssize_t)i;
	return -1;
}

/* The blocks are full: remember ino in memory (o->mu held). */
static int over_add(struct sfs *fs, struct sfs_orphan *o, uint64_t ino)
{
	if (o->nover == o->capover) {
		size_t cap = o->capover ? 2 * o->capover : 256;
		uint64_t *v = realloc(o->over, cap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		o->over = v;
		o->capover = cap;
	}
	o->over[o->nover++] = ino;
	if (!o->warned) {
		o->warned = true;
		log_warn("fs",
			 "orphan list of slot %u is full (%u inodes): further files unlinked "
			 "while open are freed at their last close as usual, but after a crash "
			 "only `sanctl fsck --repair` finds and frees them",
			 fs->slot, fs->sb.orphan_blocks * (unsigned)SFS_ORPHAN_PER_BLOCK);
	}
	return 0;
}

static uint64_t orphan_blkno(struct sfs *fs, unsigned i)
{
	return sfs_slot_base(&fs->sb, fs->slot) + SFS_SLOT_ORPHAN + i;
}

static int orphan_read(struct sfs *fs, unsigned i, struct buf **b, uint32_t *count)
{
	int rc = bc_read(fs, orphan_blkno(fs, i), SFS_BT_ORPHAN, sfs_owner_slot(fs->slot), b);
	if (rc)
		return rc;
	*count = le32_get((*b)->data + SFS_ORPHAN_OFF_COUNT);
	if (*count > SFS_ORPHAN_PER_BLOCK) {
		log_error("fs", "block %" PRIu64 ": orphan count %u out of range",
			  orphan_blkno(fs, i), *count);
		bc_put(*b);
		return -EIO;
	}
	return 0;
}

static uint64_t entry(struct buf *b, uint32_t k)
{
	return le64_get(b->data + SFS_ORPHAN_OFF_INOS + 8 * k);
}

/* Find ino: block index and slot, or -ENOENT. Takes fs->orphan->mu held. */
static int find(struct sfs *fs, uint64_t ino, unsigned *blk, uint32_t *slot)
{
	for (unsigned i = 0; i < fs->sb.orphan_blocks; i++) {
		struct buf *b;
		uint32_t n;
		int rc = orphan_read(fs, i, &b, &n);
		if (rc)
			return rc;
		for (uint32_t k = 0; k < n; k++)
			if (entry(b, k) == ino) {
				*blk = i;
				*slot = k;
				bc_put(b);
				return 0;
			}
		bc_put(b);
	}
	return -ENOENT;
}

int orphan_add(struct sfs *fs, struct txn *t, uint64_t ino)
{
	struct sfs_orphan *o = fs->orphan;
	if (fs->readonly)
		return -EROFS;
	pthread_mutex_lock(&o->mu);
	unsigned bi;
	uint32_t si;
	int rc = find(fs, ino, &bi, &si);
	if (rc == 0 || (rc == -ENOENT && over_find(o, ino) >= 0)) {
		rc = -EEXIST;
		goto out;
	}
	if (rc != -ENOENT)
		goto out;
	rc = -ENOSPC;
	for (unsigned i = 0; i < fs->sb.orphan_blocks; i++) {
		struct buf *b;
		uint32_t n;
		int r = orphan_read(fs, i, &b, &n);
		if (r) {
			rc = r;
			break;
		}
		if (n < SFS_ORPHAN_PER_BLOCK) {
			rc = txn_add(t, b);
			if (!rc) {
				le64_put(b->data + SFS_ORPHAN_OFF_INOS + 8 * n, ino);
				le32_put(b->data + SFS_ORPHAN_OFF_COUNT, n + 1);
			}
			bc_put(b);
			break;
		}
		bc_put(b);
	}
	if (rc == -ENOSPC)
		rc = over_add(fs, o, ino);
out:
	pthread_mutex_unlock(&o->mu);
	return rc;
}

int orphan_del(struct sfs *fs, struct txn *t, uint64_t ino)
{
	struct sfs_orphan *o = fs->orphan;
	if (fs->readonly)
		return -EROFS;
	pthread_mutex_lock(&o->mu);
	unsigned bi;
	uint32_t si;
	int rc = find(fs, ino, &bi, &si);
	if (!rc) {
		struct buf *b;
		uint32_t n;
		rc = orphan_read(fs, bi, &b, &n);
		if (!rc) {
			rc = txn_add(t, b);
			if (!rc) {
				le64_put(b->data + SFS_ORPHAN_OFF_INOS + 8 * si, entry(b, n - 1));
				le64_put(b->data + SFS_ORPHAN_OFF_INOS + 8 * (n - 1), 0);
				le32_put(b->data + SFS_ORPHAN_OFF_COUNT, n - 1);
			}
			bc_put(b);
		}
	} else if (rc == -ENOENT) {
		ssize_t k = over_find(o, ino);
		if (k >= 0) {
			o->over[k] = o->over[--o->nover];
			rc = 0;
		}
	}
	pthread_mutex_unlock(&o->mu);
	return rc;
}

int orphan_list(struct sfs *fs, uint64_t *inos, unsigned max)
{
	struct sfs_orphan *o = fs->orphan;
	unsigned got = 0;
	pthread_mutex_lock(&o->mu);
	int rc = 0;
	for (unsigned i = 0; i < fs->sb.orphan_blocks && !rc; i++) {
		struct buf *b;
		uint32_t n;
		rc = orphan_read(fs, i, &b, &n);
		if (rc)
			break;
		for (uint32_t k = 0; k < n && got < max; k++)
			inos[got++] = entry(b, k);
		bc_put(b);
	}
	pthread_mutex_unlock(&o->mu);
	return rc ? rc : (int)got;
}

int orphan_process(struct sfs *fs)
{
	unsigned max = fs->sb.orphan_blocks * SFS_ORPHAN_PER_BLOCK;
	uint64_t *inos = malloc(max * sizeof(*inos));
	if (!inos)
		return -ENOMEM;
	int n = orphan_list(fs, inos, max), failed = 0;
	if (n < 0) {
		free(inos);
		return n;
	}
	if (n)
		log_info("fs", "slot %u: reclaiming %d orphan inode(s)", fs->slot, n);
	for (int i = 0; i < n; i++) {
		int rc = fs->ops.reclaim ? fs->ops.reclaim(fs, inos[i]) : -EINVAL;
		if (rc) {
			log_warn("fs", "orphan inode %" PRIu64 ": reclaim failed: %d; kept listed",
				 inos[i], rc);
			failed++;
		}
	}
	free(inos);
	return failed;
}

int orphan_setup(struct sfs *fs)
{
	struct sfs_orphan *o = calloc(1, sizeof(*o));
	if (!o)
		return -ENOMEM;
	pthread_mutex_init(&o->mu, NULL);
	fs->orphan = o;
	return 0;
}

void orphan_teardown(struct sfs *fs)
{
	if (fs->orphan) {
		pthread_mutex_destroy(&fs->orphan->mu);
		free(fs->orphan->over);
		free(fs->orphan);
		fs->orphan = NULL;
	}
}

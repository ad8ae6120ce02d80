/* Private to fsck.c and fsck_inode.c: the state of one fsck run. */
#ifndef SANFS_FS_FSCK_INT_H
#define SANFS_FS_FSCK_INT_H

#include <stdbool.h>
#include <stdint.h>

#include "fs/format.h"
#include "fs/fsck.h"

struct bdev;

struct fsck {
	const struct fsck_opts *o;
	struct fsck_result *r;
	const char *path;
	struct bdev *dev;
	bool rw;
	struct sfs_super sb;
	uint8_t *blk;	    /* 4096-byte aligned scratch */
	uint8_t *refs;	    /* one bit per block: referenced by something */
	uint8_t *dup;	    /* one bit per block: referenced twice (reported once) */
	bool refs_complete; /* every reference was found (phase 5 may judge leaks) */
	uint64_t *inodes;   /* inode numbers from the inode bitmaps */
	uint64_t ninodes, capinodes;
	uint64_t *orphans; /* entries of every slot's orphan list */
	uint64_t norphans, caporphans;
	bool journal_dirty; /* a journal was left unreplayed */
};

void fsck_say(struct fsck *ck, enum fsck_kind kind, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Mark blkno..blkno+n-1 referenced by what (for the message of a double
 * reference or of a block outside the filesystem). Returns 0, or -1 when the
 * range is invalid (reported). */
int fsck_ref(struct fsck *ck, uint64_t blkno, uint64_t n, const char *what, uint64_t owner);
bool fsck_is_inode(struct fsck *ck, uint64_t ino);

/* Phase 4 (fsck_inode.c): check every inode in ck->inodes and mark what it
 * references; set ck->refs_complete when the walk is complete. */
int fsck_inodes(struct fsck *ck);

#endif

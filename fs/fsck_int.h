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
	bool journal_dirty;  /* a journal was left unreplayed */
	bool mute;	     /* first inode walk of a repair: messages dropped */
	unsigned bm_pending; /* AG block bitmaps unreadable, for phase 5 to rebuild */
};

void fsck_say(struct fsck *ck, enum fsck_kind kind, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Mark blkno..blkno+n-1 referenced by what (for the message of a double
 * reference or of a block outside the filesystem). Returns 0, or -1 when the
 * range is invalid (reported). */
int fsck_ref(struct fsck *ck, uint64_t blkno, uint64_t n, const char *what, uint64_t owner);
bool fsck_is_inode(struct fsck *ck, uint64_t ino);

/* Repair helpers of fsck.c for phase 4 (ck->rw only; nothing mounted):
 * fsck_mark_referenced marks every block referenced so far in use in the
 * block bitmaps (before the engine allocates for a repair, so it cannot hand
 * out a block some inode still uses), reporting each AG it changes.
 * fsck_drop_inode clears the inode and block bits of a corrupt inode block and
 * fixes its AG's counts (what hung off it is then unreferenced: phase 5 frees
 * it). fsck_recheck_orphans drops orphan entries naming inodes gone since. */
void fsck_mark_referenced(struct fsck *ck);
int fsck_drop_inode(struct fsck *ck, uint64_t ino);
void fsck_recheck_orphans(struct fsck *ck);

/* What the first inode walk of a repair found that only the engine can
 * repair (fsck_repair.c). */
enum fsck_dent_fix {
	FSCK_DENT_INVALID = 0, /* names no valid inode: removed */
	FSCK_DENT_BADREC,      /* does not decode: removed by its key */
	FSCK_DENT_RETYPE,      /* type differs from the inode's: set to dtype */
	FSCK_DENT_EXTRA,       /* a second name of a directory: removed */
	FSCK_DENT_CYCLE,       /* names a directory in a cycle cut from the root: removed */
};
struct fsck_dent {
	uint64_t dir, ino;
	uint64_t key_hi, key_lo; /* FSCK_DENT_BADREC */
	uint8_t fix, dtype;
	char name[256];
};
/* A file's extent run on filesystem metadata: unmapped from the file. */
struct fsck_unmap {
	uint64_t ino, lblk, pblk, n;
	char what[96]; /* the metadata, for the message */
};
struct fsck_fixes {
	uint64_t *drop; /* corrupt inode blocks to clear */
	uint64_t ndrop, capdrop;
	struct fsck_dent *dents; /* entries naming no valid inode, to remove */
	uint64_t ndents, capdents;
	uint64_t *lost; /* valid inodes named by no directory, to reconnect */
	uint64_t nlost, caplost;
	uint64_t *unlinked; /* link count 0, named by nothing, on no orphan list: to free */
	uint64_t nunlinked, capunlinked;
	uint64_t *reset; /* directories whose tree is corrupt, to empty */
	uint64_t nreset, capreset;
	uint64_t *xdrop; /* inodes whose xattr block number is invalid */
	uint64_t nxdrop, capxdrop;
	struct fsck_unmap *unmap; /* extent runs on filesystem metadata */
	uint64_t nunmap, capunmap;
	bool root_bad; /* the root inode block is corrupt: made anew */
};
int fsck_fixes_push(uint64_t **v, uint64_t *n, uint64_t *cap, uint64_t x);
int fsck_fixes_dent(struct fsck_fixes *fx, enum fsck_dent_fix fix, uint64_t dir, uint64_t ino,
		    const char *name);
int fsck_fixes_unmap(struct fsck_fixes *fx, uint64_t ino, uint64_t lblk, uint64_t pblk, uint64_t n,
		     const char *what);
int fsck_fixes_bad_rec(struct fsck_fixes *fx, uint64_t dir, uint64_t key_hi, uint64_t key_lo);
/* Make the repairs of fx, reporting each (FIXED) or why not (INFO): entries
 * removed, corrupt inodes dropped from the bitmaps, corrupt directory trees
 * emptied, a corrupt root made anew, lost inodes named /lost+found/#INO,
 * unlinked inodes freed (fs/INTERNALS.md "fsck and lost+found"). Updates
 * ck->inodes. 0, or -ENOMEM. */
int fsck_repair_names(struct fsck *ck, struct fsck_fixes *fx);

/* Blocks the walk found referenced twice (ck->dup, after a complete walk with
 * nothing left for fsck_repair_names): every inode is scanned again for the
 * claims of those blocks; per block a metadata structure keeps it, or else
 * the first claim in inode order; every other claim, file data, lets go of
 * it: copied to new blocks when the keeper is file data, unmapped (a hole)
 * when it is metadata (fs/INTERNALS.md "fsck and lost+found"). Each change
 * is one FIXED line, through the engine; no space for a copy, or a block two
 * metadata structures hold, is INFO and the problem stays. 0, or -ENOMEM. */
int fsck_repair_dups(struct fsck *ck);

/* Helpers of the engine repairs (fsck_repair.c), shared with fsck_dup.c. */
struct txn;
struct lcl;
struct sfs;
struct sfs_inode;
/* The engine mounted read-write for repairs: local mode, slot 0, the inode
 * part's ops without orphan reclaim (fsck reports orphans, it does not
 * finish them). what names the repairs in the INFO line of a failure. 0, or
 * -1 when it could not be mounted (reported). */
int fsck_repair_mount(struct fsck *ck, const char *what, struct lcl **lcl, struct sfs **fs);
void fsck_repair_unmount(struct fsck *ck, const char *what, struct lcl *lcl, struct sfs *fs);
/* Finish a handle: commit it, or abort it when r (which stops the journal:
 * the caller makes no further change then). */
int fsck_txn_finish(struct txn *t, int r);
/* Unmap file blocks [lblk, lblk+n) of ip, one extent's run, without freeing
 * the device blocks (metadata holds them): a hole that reads zeros. */
int fsck_unmap_run(struct sfs *fs, struct sfs_inode *ip, uint64_t lblk, uint64_t n);

/* Phase 4 (fsck_inode.c): check every inode in ck->inodes and mark what it
 * references; set ck->refs_complete when the walk is complete. */
int fsck_inodes(struct fsck *ck);

/* The inode fields a repair rewrites in place. */
enum fsck_ifield {
	FSCK_IF_NLINK,	   /* link count = v */
	FSCK_IF_BLOCKS,	   /* st_blocks = v */
	FSCK_IF_PARENT,	   /* a directory's '..' = v */
	FSCK_IF_XATTR,	   /* overflow xattr block = v (0: none) */
	FSCK_IF_EMPTY_DIR, /* a directory's tree made empty ('..' kept) */
	FSCK_IF_UNORPHAN,  /* the orphan flag cleared */
};
/* Read inode ino's block, change field f, reseal and write it back in place
 * (ck->blk is the buffer). 0, -EIO when the block is not that inode, -ENOTDIR
 * for FSCK_IF_EMPTY_DIR on a non-directory, or the I/O error. */
int fsck_inode_set(struct fsck *ck, uint64_t ino, enum fsck_ifield f, uint64_t v);

/* The directory entry type (DT_*) an inode of this mode is named with;
 * DT_UNKNOWN for a mode of no valid type. */
uint8_t fsck_dtype_of(uint32_t mode);

#endif

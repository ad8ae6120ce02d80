/* mkfs: write a new, empty sanfs filesystem (fs/FORMAT.md).
 *
 * mkfs_geometry computes the layout for a device size and options without
 * touching anything; mkfs_format writes it: block 0 zeroed (the blockdev
 * label goes there afterwards), every slot's heartbeat, journal header,
 * allocation window and orphan blocks, every AG's header and bitmaps, the
 * root inode's bits, and last the superblock and its backup (so a device
 * where mkfs was interrupted never looks like a filesystem). Then, if given,
 * root_init writes the root directory through a mounted filesystem.
 *
 * Errors: -EINVAL (with *why) for options that cannot work, -ENOSPC for a
 * device too small, I/O errors. */
#ifndef SANFS_FS_MKFS_H
#define SANFS_FS_MKFS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fs/format.h"

struct sfs;

struct mkfs_opts {
	const char *label;	/* NULL: empty */
	unsigned slots;		/* 0: SFS_DEFAULT_SLOTS */
	uint64_t journal_bytes; /* per slot; 0: chosen from the size */
	uint32_t ag_blocks;	/* 0: chosen from the size */
	uint64_t size_bytes;	/* 0: the whole device */
	bool buffered;		/* open without O_DIRECT (tmpfs) */
	const uint8_t *uuid;	/* NULL: random */
	/* Progress: called after each AG with (done, total). */
	void (*progress)(void *arg, uint64_t done, uint64_t total);
	void *progress_arg;
	/* Creates the root directory in the mounted new filesystem (the inode
	 * part's job); NULL: the root inode block is left unwritten. */
	int (*root_init)(struct sfs *fs, uint64_t root_ino, void *arg);
	void *root_arg;
};

#define MKFS_MIN_JOURNAL_BYTES (1ull << 20)
#define MKFS_MAX_JOURNAL_BYTES (1ull << 30)

/* 1 (with a reason in what) when dev holds a sanfs filesystem one of whose
 * slots is mounted right now (heartbeat LIVE and advancing within ~1.5 s),
 * 0 when not, -errno on a read error. */
struct bdev;
int mkfs_live_check(struct bdev *dev, char *what, size_t len);
/* The root_init that creates the root directory (mode 0755, owner root)
 * through the inode and directory parts; NULL while they are not linked. */
extern int (*const mkfs_root_default)(struct sfs *fs, uint64_t root_ino, void *arg);

int mkfs_geometry(uint64_t dev_bytes, const struct mkfs_opts *o, struct sfs_super *sb,
		  const char **why);
int mkfs_format(const char *path, const struct mkfs_opts *o, struct sfs_super *out,
		const char **why);

#endif

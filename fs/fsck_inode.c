/* fsck phase 4: every inode block named by the inode bitmaps is decoded with
 * the inode part's decoder (fs/inode_format.h); every block hanging off it
 * (extents, extent and directory tree nodes, xattr and symlink blocks) is
 * checked through the parts' walkers (extent_walk, btree_walk) and marked
 * referenced, so phase 5 can compare the bitmaps with what is used. Unlinked
 * inodes must be on an orphan list. The walkers read through a read-only
 * struct sfs (bc_read checks every header). */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "blockdev/bdev.h"
#include "fs/bcache.h"
#include "fs/btree.h"
#include "fs/extent.h"
#include "fs/fsck_int.h"
#include "fs/inode.h"
#include "fs/inode_format.h"
#include "fs/sfs.h"

struct iwalk {
	struct fsck *ck;
	uint64_t ino;
	uint64_t blocks;
	int bad;
};

static int on_extent(void *arg, const struct sfs_extent *e)
{
	struct iwalk *w = arg;
	if (fsck_ref(w->ck, e->pblk, e->len, "extent", w->ino))
		w->bad = 1;
	w->blocks += e->len;
	return 0;
}

static int on_ext_node(void *arg, uint64_t blkno, unsigned level)
{
	struct iwalk *w = arg;
	(void)level;
	if (fsck_ref(w->ck, blkno, 1, "extent tree node", w->ino))
		w->bad = 1;
	w->blocks++;
	return 0;
}

static int on_dir_node(void *arg, uint64_t blkno, unsigned level, unsigned nrecs)
{
	struct iwalk *w = arg;
	(void)level;
	(void)nrecs;
	if (fsck_ref(w->ck, blkno, 1, "directory tree node", w->ino))
		w->bad = 1;
	w->blocks++;
	return 0;
}

static bool on_orphan_list(struct fsck *ck, uint64_t ino)
{
	for (uint64_t k = 0; k + 1 < ck->norphans; k += 2)
		if (ck->orphans[k] == ino)
			return true;
	return false;
}

/* A block hanging off the inode by number (xattr, symlink tail). */
static void side_block(struct fsck *ck, struct sfs *fs, uint64_t ino, uint64_t blk, uint16_t type,
		       const char *what, struct iwalk *w)
{
	if (!blk)
		return;
	if (fsck_ref(ck, blk, 1, what, ino)) {
		w->bad = 1;
		return;
	}
	struct buf *b;
	if (bc_read(fs, blk, type, sfs_owner_inode(ino), &b)) {
		fsck_say(ck, FSCK_ERROR, "inode %" PRIu64 ": %s %" PRIu64 " unreadable or corrupt",
			 ino, what, blk);
		w->bad = 1;
		return;
	}
	bc_put(b);
	w->blocks++;
}

int fsck_inodes(struct fsck *ck)
{
	struct sfs_mount_opts mo = {.readonly = true, .buffered = ck->o->buffered};
	struct sfs *fs = NULL;
	bool complete = true;
	if (sfs_open(ck->path, &mo, NULL, &fs)) {
		fsck_say(ck, FSCK_ERROR, "cannot open the filesystem to walk inodes: %s",
			 sfs_last_error());
		fs = NULL;
		complete = false;
	}
	uint8_t *blk = ck->blk;
	for (uint64_t i = 0; i < ck->ninodes; i++) {
		uint64_t ino = ck->inodes[i];
		if (ck->o->progress && (i & 1023) == 0)
			ck->o->progress(ck->o->progress_arg, 4, i, ck->ninodes);
		fsck_ref(ck, ino, 1, "inode block", ino);
		if (bdev_read(ck->dev, ino * SFS_BLOCK_SIZE, blk, SFS_BLOCK_SIZE)) {
			fsck_say(ck, FSCK_ERROR, "inode %" PRIu64 ": read error", ino);
			complete = false;
			continue;
		}
		struct sfs_inode ip;
		memset(&ip, 0, sizeof(ip));
		if (inode_block_decode(blk, ck->sb.uuid, ino, &ip)) {
			const char *why = NULL;
			sfs_blk_verify(blk, ck->sb.uuid, SFS_BT_INODE, ino, sfs_owner_inode(ino),
				       &why);
			fsck_say(ck, FSCK_ERROR, "inode %" PRIu64 ": %s", ino,
				 why ? why : "inode fields inconsistent");
			complete = false;
			continue;
		}
		if (ip.nlink == 0 && !on_orphan_list(ck, ino))
			fsck_say(ck, FSCK_ERROR,
				 "inode %" PRIu64 ": unlinked (nlink 0) but on no orphan list",
				 ino);
		if (ino == ck->sb.root_ino && !S_ISDIR(ip.mode))
			fsck_say(ck, FSCK_ERROR, "root inode %" PRIu64 " is not a directory", ino);
		struct iwalk w = {.ck = ck, .ino = ino};
		if (fs) {
			int rc;
			if (S_ISDIR(ip.mode)) {
				struct btree_walk_ops bo = {.node = on_dir_node, .rec = NULL};
				rc = btree_walk(fs, &ip.fork, ino, &bo, &w);
			} else {
				struct extent_walk_ops eo = {.extent = on_extent,
							     .node = on_ext_node};
				rc = extent_walk(fs, &ip, &eo, &w);
			}
			if (rc) {
				fsck_say(ck, FSCK_ERROR, "inode %" PRIu64 ": %s tree corrupt (%d)",
					 ino, S_ISDIR(ip.mode) ? "directory" : "extent", rc);
				w.bad = 1;
			}
			side_block(ck, fs, ino, ip.xattr_blk, SFS_BT_XATTR, "xattr block", &w);
			side_block(ck, fs, ino, ip.symlink_blk, SFS_BT_SYMLINK, "symlink block",
				   &w);
			bc_drop_res(fs, sfs_owner_inode(ino));
		}
		if (w.bad)
			complete = false;
		inode_decoded_release(&ip);
	}
	if (fs)
		sfs_close(fs);
	ck->refs_complete = complete && fs != NULL;
	return 0;
}

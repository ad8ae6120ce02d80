/* fsck phase 4: every inode block named by the inode bitmaps. Checks the
 * block header and marks the block referenced. The walk of what hangs off
 * an inode (extents, trees, xattr and symlink blocks, directory entries and
 * link counts) needs the inode and directory decoders; until they are linked
 * into fs/ the walk is incomplete and phase 5 does not judge leaks. */
#include <inttypes.h>

#include "blockdev/bdev.h"
#include "fs/fsck_int.h"

int fsck_inodes(struct fsck *ck)
{
	for (uint64_t i = 0; i < ck->ninodes; i++) {
		uint64_t ino = ck->inodes[i];
		const char *why;
		if (ck->o->progress && (i & 1023) == 0)
			ck->o->progress(ck->o->progress_arg, 4, i, ck->ninodes);
		if (bdev_read(ck->dev, ino * SFS_BLOCK_SIZE, ck->blk, SFS_BLOCK_SIZE)) {
			fsck_say(ck, FSCK_ERROR, "inode %" PRIu64 ": read error", ino);
			continue;
		}
		if (sfs_blk_verify(ck->blk, ck->sb.uuid, SFS_BT_INODE, ino, sfs_owner_inode(ino),
				   &why)) {
			fsck_say(ck, FSCK_ERROR, "inode %" PRIu64 ": %s", ino, why);
			continue;
		}
		fsck_ref(ck, ino, 1, "inode block", ino);
	}
	ck->refs_complete = false;
	return 0;
}

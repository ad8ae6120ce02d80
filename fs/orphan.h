/* orphan: the orphan list of this node's slot (fs/INTERNALS.md).
 *
 * Inodes unlinked while still open, or being truncated, are listed in the
 * slot's orphan blocks (SFS_SLOT_ORPHAN.., sb.orphan_blocks of them, 504
 * inode numbers each) so that a crash cannot leak them: at mount the engine
 * calls fs->ops.reclaim(fs, ino) for each listed inode (sfs.h).
 *
 * The blocks belong to LCL_RES(LCL_T_SLOT, slot), which this node holds EX
 * while mounted; a mutex orders local callers. orphan_add joins one orphan
 * block to t (ORPHAN_MAX_BLOCKS).
 *
 * When every orphan block is full, orphan_add keeps the inode in memory only
 * (logged once): the inode is freed at its last close as any other, but a
 * crash before that leaves it to fsck --repair, which frees it (an inode of
 * link count 0 that nothing names).
 * Failing instead would fail an unlink half-way through its handle.
 *
 * Errors: -EEXIST / -ENOENT for an inode that is / is not listed, -ENOMEM,
 * -EIO. */
#ifndef SANFS_FS_ORPHAN_H
#define SANFS_FS_ORPHAN_H

#include <stdint.h>

struct sfs;
struct txn;

#define ORPHAN_MAX_BLOCKS 1u

int orphan_add(struct sfs *fs, struct txn *t, uint64_t ino);
int orphan_del(struct sfs *fs, struct txn *t, uint64_t ino);
/* Copy at most max listed inode numbers into inos; returns the count or -errno. */
int orphan_list(struct sfs *fs, uint64_t *inos, unsigned max);
/* Call fs->ops.reclaim for every listed inode; returns how many failed. */
int orphan_process(struct sfs *fs);

/* engine internal */
int orphan_setup(struct sfs *fs);
void orphan_teardown(struct sfs *fs);

#endif

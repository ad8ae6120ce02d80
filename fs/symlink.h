/* symlink: symbolic link targets (DESIGN §3 "Inline small symlinks").
 *
 * A target of up to INODE_DATA_SIZE (1024) bytes lives in the inode block;
 * a longer one (up to SYMLINK_MAX, 4095 bytes) keeps its first 1024 bytes
 * there and the rest in one symlink block (type SYMLINK, owner the inode's
 * resource). The size of a symlink inode is the target's length.
 *
 * Locking: EX on the inode for symlink_set, PR for symlink_read.
 * Errors: 0 or negative errno. */
#ifndef SANFS_FS_SYMLINK_H
#define SANFS_FS_SYMLINK_H

#include <stddef.h>

struct sfs;
struct txn;
struct sfs_inode;

/* Store target (len bytes, no NUL inside) in a new symlink inode ip (from
 * inode_create with S_IFLNK) and write the inode, both in t. -ENAMETOOLONG
 * above SYMLINK_MAX, -EINVAL for an empty target, a NUL byte or an inode that
 * is not a fresh symlink. symlink_max_blocks() bounds what it adds to t. */
int symlink_set(struct sfs *fs, struct txn *t, struct sfs_inode *ip, const char *target,
		size_t len);
unsigned symlink_max_blocks(void);

/* Copy the target into buf: at most size bytes, NUL-terminated when room is
 * left; *len gets the full length. -EINVAL when ip is not a symlink. */
int symlink_read(struct sfs *fs, struct sfs_inode *ip, char *buf, size_t size, size_t *len);

#endif

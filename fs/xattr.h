/* xattr: extended attributes (DESIGN §3 "Inline small symlinks and xattrs;
 * POSIX ACLs through xattrs"; layout in FORMAT-inode.md).
 *
 * Namespaces: "user.", "trusted.", "security." (any non-empty suffix) and the
 * two POSIX ACLs "system.posix_acl_access" and "system.posix_acl_default",
 * stored as opaque values (the FUSE part parses and enforces them). Any other
 * name: -EOPNOTSUPP. Entries live in the inode block's inline area and spill
 * to a run of up to XATTR_RUN_MAX adjacent xattr blocks (type XATTR, owner the
 * inode's resource), enough for a thousand small attributes and a value of
 * XATTR_SIZE_MAX together. A run that must grow moves to a new, longer run
 * in the same transaction; only the blocks whose bytes change are written.
 *
 * Errors (as getxattr(2) and friends): -ENODATA absent, -ERANGE buffer too
 * small or name longer than XATTR_NAME_MAX (255), -E2BIG value longer than
 * XATTR_SIZE_MAX (65536), -ENOSPC no room left for it in the inode or its
 * run (or no run of free blocks long enough, or its name would make the
 * list of names longer than listxattr(2) can return: XATTR_LIST_MAX), -EEXIST / -ENODATA for
 * XATTR_CREATE / XATTR_REPLACE, -EINVAL empty name or unknown flags.
 *
 * Locking: the caller holds the inode's LCL lock, PR for get/list, EX for
 * set/remove (which run their own transaction, update ctime and note the tid
 * in the inode for inode_fsync). */
#ifndef SANFS_FS_XATTR_H
#define SANFS_FS_XATTR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct sfs;
struct sfs_inode;

/* size 0: only *len (the value's length) is returned. */
int xattr_get(struct sfs *fs, struct sfs_inode *ip, const char *name, void *buf, size_t size,
	      size_t *len);
/* flags: 0, XATTR_CREATE or XATTR_REPLACE (<sys/xattr.h>). */
int xattr_set(struct sfs *fs, struct sfs_inode *ip, const char *name, const void *value,
	      size_t size, int flags);
/* Names, each NUL-terminated, one after the other; size 0: only *len. */
int xattr_list(struct sfs *fs, struct sfs_inode *ip, char *buf, size_t size, size_t *len);
int xattr_remove(struct sfs *fs, struct sfs_inode *ip, const char *name);

/* The run of n blocks at blk of inode ino, read and checked (each block's
 * header, all blocks but the last full, the entries tile; full: no name
 * twice, which a reader need not pay for): *out gets a malloc'd copy of its
 * entries (capacity max(cap, n blocks' payloads)), *len their bytes. For
 * fsck too. -EIO (logged) when anything is wrong, -ENOMEM. */
int xattr_run_read(struct sfs *fs, uint64_t ino, uint64_t blk, unsigned n, size_t cap, bool full,
		   uint8_t **out, size_t *len);

/* Namespace of a full name: 1 user, 2 trusted, 3 security, 4 ACL access,
 * 5 ACL default; suffix and slen get the stored part of the name. -EOPNOTSUPP for
 * another namespace, -EINVAL empty suffix, -ERANGE too long. */
int xattr_parse_name(const char *name, unsigned *ns, const char **suffix, size_t *slen);

#endif

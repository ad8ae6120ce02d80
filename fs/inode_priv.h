/* Helpers shared by the inode part's files (inode, extent, file, xattr,
 * symlink); not for other parts of fs/. */
#ifndef SANFS_FS_INODE_PRIV_H
#define SANFS_FS_INODE_PRIV_H

#include <stdint.h>

#include "fs/jnl.h"

/* End a handle: a handle whose changes are consistent ends (r == 0, or an
 * error met before anything changed, consistent: pass clean = true); one that
 * failed half-way aborts (jnl.h: the journal stops, the device keeps its last
 * committed state). Returns r, or txn_end's error. */
static inline int inode_txn_close(struct txn *t, int r, int clean, uint64_t *tid)
{
	if (r && !clean) {
		txn_abort(t);
		return r;
	}
	int r2 = txn_end(t, tid);
	return r ? r : r2;
}

struct sfs;
/* Pooled FILE_IO_CHUNK-byte aligned I/O buffers of the file code (kept in the
 * inode cache); NULL when all are in use. Contents are garbage. */
void *inode_iobuf_get(struct sfs *fs);
void inode_iobuf_put(struct sfs *fs, void *buf);

/* The tail copy of a file (file.c, inode.h): inode_tail_hold gives ip's
 * buffer, allocating one while fewer than INODE_TAILS_MAX exist in the
 * process (NULL: none to be had). */
#define INODE_TAILS_MAX 4096 /* 16 MiB of 4 KiB blocks */
struct sfs_inode;
uint8_t *inode_tail_hold(struct sfs_inode *ip);

#endif

/* Symlink targets: inline, then one symlink block (symlink.h). */
#include "fs/symlink.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/endian_le.h"
#include "fs/alloc.h"
#include "fs/bcache.h"
#include "fs/format.h"
#include "fs/inode.h"
#include "fs/jnl.h"
#include "fs/sfs.h"

unsigned symlink_max_blocks(void)
{
	return 1 + ALLOC_MAX_BLOCKS + inode_write_max_blocks();
}

int symlink_set(struct sfs *fs, struct txn *t, struct sfs_inode *ip, const char *target, size_t len)
{
	if (len > SYMLINK_MAX)
		return -ENAMETOOLONG;
	if (!S_ISLNK(ip->mode) || ip->symlen || len == 0 || memchr(target, 0, len))
		return -EINVAL;
	size_t n = len < INODE_DATA_SIZE ? len : INODE_DATA_SIZE;
	char *sym = malloc(n + 1);
	if (!sym)
		return -ENOMEM;
	memcpy(sym, target, n);
	sym[n] = 0;
	if (len > INODE_DATA_SIZE) {
		uint64_t blk;
		uint32_t got;
		struct buf *b;
		int r = alloc_meta(fs, t, ip->ino + 1, 1, 1, &blk, &got);
		if (r) {
			free(sym);
			return r;
		}
		r = bc_new(fs, blk, SFS_BT_SYMLINK, inode_res(ip->ino), &b);
		if (r == 0) {
			r = txn_add(t, b);
			if (r == 0)
				symlink_block_encode(b->data, target + n, len - n);
			bc_put(b);
		}
		if (r) {
			alloc_free(fs, t, blk, 1);
			free(sym);
			return r;
		}
		ip->symlink_blk = blk;
		ip->blocks += 8;
	}
	free(ip->sym);
	ip->sym = sym;
	ip->symlen = (uint32_t)len;
	ip->size = len;
	return inode_write(fs, t, ip);
}

int symlink_read(struct sfs *fs, struct sfs_inode *ip, char *buf, size_t size, size_t *len)
{
	if (!S_ISLNK(ip->mode) || !ip->symlen)
		return -EINVAL;
	size_t n = ip->symlen < INODE_DATA_SIZE ? ip->symlen : INODE_DATA_SIZE;
	memcpy(buf, ip->sym, n < size ? n : size);
	if (ip->symlen > n && size > n) {
		struct buf *b;
		int r = bc_read(fs, ip->symlink_blk, SFS_BT_SYMLINK, inode_res(ip->ino), &b);
		if (r)
			return r;
		r = symlink_block_decode(b->data, ip->symlink_blk, ip->symlen - n);
		if (r == 0) {
			size_t m = ip->symlen - n;
			memcpy(buf + n, b->data + SYMLINK_BLK_DATA_OFF,
			       m < size - n ? m : size - n);
		}
		bc_put(b);
		if (r)
			return r;
	}
	if (ip->symlen < size)
		buf[ip->symlen] = 0;
	*len = ip->symlen;
	return 0;
}

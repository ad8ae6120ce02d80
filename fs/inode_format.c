/* Encode/decode of the inode, xattr and symlink blocks (fs/FORMAT-inode.md). */
#include "fs/inode_format.h"

#include <assert.h>
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/endian_le.h"
#include "common/log.h"
#include "fs/format.h"
#include "fs/inode.h"
#include "fs/inode_priv.h"
#include "locks/lcl.h"

#define SUB "inode"

/* Core field offsets (FORMAT-inode.md). */
enum {
	O_MODE = 48,
	O_UID = 52,
	O_GID = 56,
	O_NLINK = 60,
	O_SIZE = 64,
	O_BLOCKS = 72,
	O_ATIME = 80, /* s64 sec, u32 nsec: 12 bytes each */
	O_MTIME = 92,
	O_CTIME = 104,
	O_BTIME = 116,
	O_RDEV = 128,
	O_FLAGS = 132,
	O_GEN = 136,
	O_FORK = 144,
	O_LFLAGS = 176,
	O_NIEXT = 178,
	O_SYMLEN = 180,
	O_IXLEN = 182,
	O_XBLK = 184,
	O_SBLK = 192,
	O_XNBLK = 200,
	O_RSVD = 202, /* reserved, zero, up to INODE_DATA_OFF */
};

void sfs_extent_encode(const struct sfs_extent *e, uint8_t out[SFS_EXTENT_SIZE])
{
	le64_put(out, e->lblk);
	le64_put(out + 8, e->pblk);
	le32_put(out + 16, e->len);
	le32_put(out + 20, e->flags);
}

int sfs_extent_decode(const uint8_t in[SFS_EXTENT_SIZE], uint64_t blkno, struct sfs_extent *e)
{
	e->lblk = le64_get(in);
	e->pblk = le64_get(in + 8);
	e->len = le32_get(in + 16);
	e->flags = le32_get(in + 20);
	if (e->len == 0 || e->len > SFS_EXT_MAX_LEN || (e->flags & ~SFS_EXT_KNOWN) ||
	    e->pblk == 0 || e->pblk + e->len < e->pblk || e->lblk >= SFS_MAX_LBLK ||
	    e->len > SFS_MAX_LBLK - e->lblk) {
		log_error(SUB, "block %llu: bad extent (lblk %llu pblk %llu len %u flags %#x)",
			  (unsigned long long)blkno, (unsigned long long)e->lblk,
			  (unsigned long long)e->pblk, e->len, e->flags);
		return -EIO;
	}
	return 0;
}

static void put_ts(uint8_t *p, const struct timespec *ts)
{
	le64_put(p, (uint64_t)ts->tv_sec);
	le32_put(p + 8, (uint32_t)ts->tv_nsec);
}

static int get_ts(const uint8_t *p, struct timespec *ts)
{
	ts->tv_sec = (time_t)(int64_t)le64_get(p);
	uint32_t ns = le32_get(p + 8);
	ts->tv_nsec = ns;
	return ns < 1000000000u ? 0 : -1;
}

void inode_encode(const struct sfs_inode *ip, uint8_t *blk)
{
	memset(blk + SFS_BLK_HDR_SIZE, 0, SFS_BLOCK_SIZE - SFS_BLK_HDR_SIZE);
	le32_put(blk + O_MODE, ip->mode);
	le32_put(blk + O_UID, ip->uid);
	le32_put(blk + O_GID, ip->gid);
	le32_put(blk + O_NLINK, ip->nlink);
	le64_put(blk + O_SIZE, ip->size);
	le64_put(blk + O_BLOCKS, ip->blocks);
	put_ts(blk + O_ATIME, &ip->atime);
	put_ts(blk + O_MTIME, &ip->mtime);
	put_ts(blk + O_CTIME, &ip->ctime);
	put_ts(blk + O_BTIME, &ip->btime);
	le32_put(blk + O_RDEV, ip->rdev);
	le32_put(blk + O_FLAGS, ip->flags);
	le64_put(blk + O_GEN, ip->generation);
	sfs_fork_encode(&ip->fork, blk + O_FORK);
	le16_put(blk + O_LFLAGS, ip->lflags);
	le16_put(blk + O_NIEXT, ip->niext);
	le16_put(blk + O_SYMLEN, (uint16_t)ip->symlen);
	le16_put(blk + O_IXLEN, ip->ixattr_len);
	le64_put(blk + O_XBLK, ip->xattr_blk);
	le64_put(blk + O_SBLK, ip->symlink_blk);
	le16_put(blk + O_XNBLK, ip->xattr_nblk);
	assert(ip->niext <= INODE_INLINE_EXT);
	for (unsigned i = 0; i < ip->niext; i++)
		sfs_extent_encode(&ip->iext[i], blk + INODE_DATA_OFF + i * SFS_EXTENT_SIZE);
	if (ip->symlen) {
		size_t n = ip->symlen < INODE_DATA_SIZE ? ip->symlen : INODE_DATA_SIZE;
		memcpy(blk + INODE_DATA_OFF, ip->sym, n);
	}
	assert(ip->ixattr_len <= INODE_XATTR_SIZE);
	if (ip->ixattr_len)
		memcpy(blk + INODE_XATTR_OFF, ip->ixattr, ip->ixattr_len);
}

static bool mode_valid(uint32_t mode)
{
	if (mode & ~(uint32_t)(S_IFMT | 07777))
		return false;
	switch (mode & S_IFMT) {
	case S_IFREG:
	case S_IFDIR:
	case S_IFLNK:
	case S_IFCHR:
	case S_IFBLK:
	case S_IFIFO:
	case S_IFSOCK:
		return true;
	default:
		return false;
	}
}

#define BAD(...)                                                                                   \
	do {                                                                                       \
		log_error(SUB, __VA_ARGS__);                                                       \
		goto bad;                                                                          \
	} while (0)

int inode_decode(const uint8_t *blk, uint64_t ino, struct sfs_inode *ip)
{
	unsigned long long b = (unsigned long long)ino;
	memset(ip, 0, offsetof(struct sfs_inode, refs));
	ip->ino = ino;
	ip->mode = le32_get(blk + O_MODE);
	ip->uid = le32_get(blk + O_UID);
	ip->gid = le32_get(blk + O_GID);
	ip->nlink = le32_get(blk + O_NLINK);
	ip->size = le64_get(blk + O_SIZE);
	ip->blocks = le64_get(blk + O_BLOCKS);
	ip->rdev = le32_get(blk + O_RDEV);
	ip->flags = le32_get(blk + O_FLAGS);
	ip->generation = le64_get(blk + O_GEN);
	ip->lflags = le16_get(blk + O_LFLAGS);
	ip->niext = le16_get(blk + O_NIEXT);
	ip->symlen = le16_get(blk + O_SYMLEN);
	ip->ixattr_len = le16_get(blk + O_IXLEN);
	ip->xattr_blk = le64_get(blk + O_XBLK);
	ip->symlink_blk = le64_get(blk + O_SBLK);
	ip->xattr_nblk = le16_get(blk + O_XNBLK);

	if (!mode_valid(ip->mode))
		BAD("block %llu: bad mode %#o", b, ip->mode);
	if (get_ts(blk + O_ATIME, &ip->atime) || get_ts(blk + O_MTIME, &ip->mtime) ||
	    get_ts(blk + O_CTIME, &ip->ctime) || get_ts(blk + O_BTIME, &ip->btime))
		BAD("block %llu: timestamp nanoseconds out of range", b);
	if (ip->flags & ~INODE_FLAGS_KNOWN)
		BAD("block %llu: unknown inode flags %#x", b, ip->flags);
	if (ip->lflags & ~INODE_LF_KNOWN)
		BAD("block %llu: unknown layout flags %#x", b, ip->lflags);
	for (unsigned i = O_RSVD; i < INODE_DATA_OFF; i++)
		if (blk[i])
			BAD("block %llu: reserved byte %u not zero", b, i);
	if (sfs_fork_decode(blk + O_FORK, &ip->fork))
		BAD("block %llu: bad fork", b);

	bool reg = S_ISREG(ip->mode), dir = S_ISDIR(ip->mode), lnk = S_ISLNK(ip->mode);
	if (reg && ip->size > SFS_MAX_FILE_SIZE)
		BAD("block %llu: size %llu too large", b, (unsigned long long)ip->size);
	if (ip->blocks % 8)
		BAD("block %llu: st_blocks %llu not a whole number of blocks", b,
		    (unsigned long long)ip->blocks);
	if (!reg && !dir && ip->fork.root)
		BAD("block %llu: non-file, non-directory inode has a tree", b);
	if ((ip->lflags & INODE_LF_EXT_TREE) && (!reg || ip->niext))
		BAD("block %llu: extent tree flag on a %s", b,
		    reg ? "file with inline extents" : "non-file");
	if (reg && !(ip->lflags & INODE_LF_EXT_TREE) && ip->fork.root)
		BAD("block %llu: file has a tree but no tree flag", b);
	if (ip->niext > INODE_INLINE_EXT || (ip->niext && !reg))
		BAD("block %llu: bad inline extent count %u", b, ip->niext);
	if (ip->niext) {
		ip->iext = calloc(INODE_INLINE_EXT, sizeof(*ip->iext));
		if (!ip->iext)
			goto nomem;
		for (unsigned i = 0; i < ip->niext; i++) {
			struct sfs_extent *e = &ip->iext[i];
			if (sfs_extent_decode(blk + INODE_DATA_OFF + i * SFS_EXTENT_SIZE, ino, e))
				goto bad;
			if (i && e->lblk < ip->iext[i - 1].lblk + ip->iext[i - 1].len)
				BAD("block %llu: inline extents overlap or out of order", b);
		}
	}
	if (lnk) {
		if (ip->symlen == 0 || ip->symlen > SYMLINK_MAX || ip->size != ip->symlen)
			BAD("block %llu: bad symlink length %u (size %llu)", b, ip->symlen,
			    (unsigned long long)ip->size);
		if ((ip->symlen > INODE_DATA_SIZE) != (ip->symlink_blk != 0))
			BAD("block %llu: symlink block %llu does not match length %u", b,
			    (unsigned long long)ip->symlink_blk, ip->symlen);
		size_t n = ip->symlen < INODE_DATA_SIZE ? ip->symlen : INODE_DATA_SIZE;
		if (memchr(blk + INODE_DATA_OFF, 0, n))
			BAD("block %llu: NUL byte in symlink target", b);
		ip->sym = malloc(n + 1);
		if (!ip->sym)
			goto nomem;
		memcpy(ip->sym, blk + INODE_DATA_OFF, n);
		ip->sym[n] = 0;
	} else if (ip->symlen || ip->symlink_blk) {
		BAD("block %llu: symlink fields on a non-symlink", b);
	}
	if ((ip->xattr_blk == 0) != (ip->xattr_nblk == 0) || ip->xattr_nblk > XATTR_RUN_MAX)
		BAD("block %llu: xattr run %llu of %u blocks", b, (unsigned long long)ip->xattr_blk,
		    ip->xattr_nblk);
	if (ip->ixattr_len > INODE_XATTR_SIZE)
		BAD("block %llu: inline xattr length %u too large", b, ip->ixattr_len);
	if (ip->ixattr_len) {
		int r = xattr_area_check(blk + INODE_XATTR_OFF, ip->ixattr_len, ino);
		if (r == -ENOMEM)
			goto nomem;
		if (r)
			goto bad;
		ip->ixattr = malloc(INODE_XATTR_SIZE);
		if (!ip->ixattr)
			goto nomem;
		memcpy(ip->ixattr, blk + INODE_XATTR_OFF, ip->ixattr_len);
	}
	return 0;
nomem:
	inode_decoded_release(ip);
	return -ENOMEM;
bad:
	inode_decoded_release(ip);
	return -EIO;
}

void inode_decoded_release(struct sfs_inode *ip)
{
	inode_tail_drop(ip);
	free(ip->iext);
	free(ip->sym);
	free(ip->ixattr);
	ip->iext = NULL;
	ip->sym = NULL;
	ip->ixattr = NULL;
}

int inode_block_decode(const uint8_t *blk, const uint8_t uuid[16], uint64_t ino,
		       struct sfs_inode *ip)
{
	int r = sfs_blk_check(blk, uuid, SFS_BT_INODE, ino, LCL_RES(LCL_T_INODE, ino));
	if (r)
		return r;
	return inode_decode(blk, ino, ip);
}

size_t xattr_ent_len(const uint8_t *e)
{
	return XATTR_ENT_HDR + e[1] + xattr_ent_vlen(e);
}

static int ent_cmp(const uint8_t *a, const uint8_t *b)
{
	if (a[0] != b[0])
		return a[0] < b[0] ? -1 : 1;
	if (a[1] != b[1])
		return a[1] < b[1] ? -1 : 1;
	return memcmp(a + XATTR_ENT_HDR, b + XATTR_ENT_HDR, a[1]);
}

static int ent_ptr_cmp(const void *a, const void *b)
{
	return ent_cmp(*(const uint8_t *const *)a, *(const uint8_t *const *)b);
}

/* Duplicates among the n entries of a checked area: by pairs when there are
 * few (the inline area's usual one to three), else sorted (a run holds up to
 * thousands). -EIO (logged), -ENOMEM, 0. */
static int no_duplicates(const uint8_t *area, size_t len, size_t n, uint64_t blkno)
{
	const uint8_t *few[16], **v = n <= 16 ? few : malloc(n * sizeof(*v));
	if (!v)
		return -ENOMEM;
	size_t k = 0;
	for (size_t off = 0; off < len; off += xattr_ent_len(area + off))
		v[k++] = area + off;
	int dup = 0;
	if (n <= 16) {
		for (size_t i = 0; i < n && !dup; i++)
			for (size_t j = 0; j < i && !dup; j++)
				dup = ent_cmp(v[i], v[j]) == 0;
	} else {
		qsort(v, n, sizeof(*v), ent_ptr_cmp);
		for (size_t i = 1; i < n && !dup; i++)
			dup = ent_cmp(v[i - 1], v[i]) == 0;
	}
	if (v != few)
		free(v);
	if (dup) {
		log_error(SUB, "block %llu: duplicate xattr entry", (unsigned long long)blkno);
		return -EIO;
	}
	return 0;
}

int xattr_area_tiles(const uint8_t *area, size_t len, uint64_t blkno, size_t *count)
{
	unsigned long long b = (unsigned long long)blkno;
	size_t off = 0, n = 0;
	while (off < len) {
		if (len - off < XATTR_ENT_HDR) {
			log_error(SUB, "block %llu: truncated xattr entry at %zu", b, off);
			return -EIO;
		}
		unsigned ns = area[off], nlen = area[off + 1];
		size_t vlen = xattr_ent_vlen(area + off);
		if (ns < 1 || ns > 5 || (ns <= 3 && nlen == 0) || (ns > 3 && nlen != 0)) {
			log_error(SUB, "block %llu: bad xattr namespace %u / name length %u", b, ns,
				  nlen);
			return -EIO;
		}
		if (vlen > XATTR_VALUE_MAX || XATTR_ENT_HDR + nlen + vlen > len - off) {
			log_error(SUB, "block %llu: xattr entry at %zu runs past its area", b, off);
			return -EIO;
		}
		if (memchr(area + off + XATTR_ENT_HDR, 0, nlen)) {
			log_error(SUB, "block %llu: NUL byte in xattr name", b);
			return -EIO;
		}
		off += XATTR_ENT_HDR + nlen + vlen;
		n++;
	}
	*count = n;
	return 0;
}

int xattr_area_check(const uint8_t *area, size_t len, uint64_t blkno)
{
	size_t n;
	int r = xattr_area_tiles(area, len, blkno, &n);
	return r == 0 && n > 1 ? no_duplicates(area, len, n, blkno) : r;
}

int xattr_block_decode(const uint8_t *blk, uint64_t blkno, unsigned index, size_t *used)
{
	unsigned long long b = (unsigned long long)blkno;
	unsigned idx = le16_get(blk + XATTR_BLK_INDEX_OFF);
	size_t u = le32_get(blk + XATTR_BLK_USED_OFF);
	for (unsigned i = XATTR_BLK_INDEX_OFF + 2; i < XATTR_BLK_USED_OFF; i++)
		if (blk[i]) {
			log_error(SUB, "block %llu: reserved byte %u not zero", b, i);
			return -EIO;
		}
	for (unsigned i = XATTR_BLK_USED_OFF + 4; i < XATTR_BLK_ENTRIES_OFF; i++)
		if (blk[i]) {
			log_error(SUB, "block %llu: reserved byte %u not zero", b, i);
			return -EIO;
		}
	if (idx != index) {
		log_error(SUB, "block %llu: xattr block %u of its run, expected %u", b, idx, index);
		return -EIO;
	}
	if (u == 0 || u > XATTR_BLK_SIZE) {
		log_error(SUB, "block %llu: xattr block length %zu out of range", b, u);
		return -EIO;
	}
	*used = u;
	return 0;
}

void xattr_block_encode(uint8_t *blk, unsigned index, size_t used)
{
	assert(used > 0 && used <= XATTR_BLK_SIZE && index < XATTR_RUN_MAX);
	memset(blk + XATTR_BLK_INDEX_OFF, 0, XATTR_BLK_ENTRIES_OFF - XATTR_BLK_INDEX_OFF);
	le16_put(blk + XATTR_BLK_INDEX_OFF, (uint16_t)index);
	le32_put(blk + XATTR_BLK_USED_OFF, (uint32_t)used);
	memset(blk + XATTR_BLK_ENTRIES_OFF + used, 0, XATTR_BLK_SIZE - used);
}

int symlink_block_decode(const uint8_t *blk, uint64_t blkno, size_t expect_len)
{
	size_t n = le16_get(blk + SYMLINK_BLK_LEN_OFF);
	if (n != expect_len || n > SFS_BLOCK_SIZE - SYMLINK_BLK_DATA_OFF ||
	    memchr(blk + SYMLINK_BLK_DATA_OFF, 0, n)) {
		log_error(SUB, "block %llu: bad symlink block (length %zu, expected %zu)",
			  (unsigned long long)blkno, n, expect_len);
		return -EIO;
	}
	return 0;
}

void symlink_block_encode(uint8_t *blk, const char *tail, size_t len)
{
	assert(len <= SFS_BLOCK_SIZE - SYMLINK_BLK_DATA_OFF);
	memset(blk + SFS_BLK_HDR_SIZE, 0, SFS_BLOCK_SIZE - SFS_BLK_HDR_SIZE);
	le16_put(blk + SYMLINK_BLK_LEN_OFF, (uint16_t)len);
	memcpy(blk + SYMLINK_BLK_DATA_OFF, tail, len);
}

/* fuse_ops_file: file data — open, create, read, write, flush, release,
 * fsync, fallocate, lseek (SEEK_DATA/SEEK_HOLE), copy_file_range. Reads
 * take the inode's PR lock, anything that changes data or size EX. */
#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "blockdev/bdev.h"
#include "common/log.h"
#include "fs/file.h"
#include "fs/fuse_mount.h"
#include "fs/fuse_ops.h"
#include "fs/xattr.h"
#include "fs/sfs.h"

/* The kernel's __FMODE_EXEC: FUSE passes it in the open flags of execve's
 * open, which needs execute permission only (a program mode 0111 runs). */
#define OPEN_FOR_EXEC 0x20

static int open_perm(struct sfs_fuse *f, struct sfs_inode *ip, const struct fcred *c, int flags)
{
	int acc = flags & O_ACCMODE;
	int mask = acc == O_RDONLY ? PERM_R : acc == O_WRONLY ? PERM_W : PERM_R | PERM_W;
	if (acc == O_RDONLY && (flags & OPEN_FOR_EXEC))
		mask = PERM_X;
	if (S_ISDIR(ip->mode) && acc != O_RDONLY)
		return -EISDIR;
	if (flags & O_TRUNC)
		mask |= PERM_W;
	if ((mask & PERM_W) && f->readonly)
		return -EROFS;
	return fops_may(f, ip, c, mask);
}

void fops_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct sfs_fuse *f = fops_ctx(req);
	struct fcred c;
	fops_cred(req, &c);
	/* FUSE_CAP_ATOMIC_O_TRUNC: the truncation of O_TRUNC happens here,
	 * under the same EX lock as the permission check. O_RDONLY|O_TRUNC is
	 * undefined in POSIX; Linux (ext4) truncates when the caller may
	 * write, and so does sanfs. */
	bool trunc = fi->flags & O_TRUNC;
	struct lockset ls;
	struct sfs_inode *ip;
	int r = fops_lock_one(f, fops_ino(f, ino), trunc ? LCL_EX : LCL_PR, &ls, &ip);
	if (r) {
		fuse_reply_err(req, -r);
		return;
	}
	r = open_perm(f, ip, &c, fi->flags);
	if (!r && trunc && S_ISREG(ip->mode))
		r = fops_truncate(f, ip, 0);
	if (!r && trunc && S_ISREG(ip->mode))
		r = fops_kill_priv(f, ip, req);
	/* The page cache stays valid until a lock loss invalidates it
	 * explicitly (DESIGN §9), but reads the kernel serves from it never
	 * reach sanfs and cannot move the atime: when a read is to move it
	 * (relatime: the first after a change; strictatime: every one), an
	 * open for reading starts without the cache, so that its reads come
	 * here. */
	bool keep = (fi->flags & O_ACCMODE) == O_WRONLY || !fops_atime_due(f, ip);
	fops_unlock_one(f, &ls, ip);
	if (r) {
		fuse_reply_err(req, -r);
		return;
	}
	fi->fh = 0;
	fi->keep_cache = keep;
	fi->noflush = 1;
	fuse_reply_open(req, fi);
}

void fops_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
		 struct fuse_file_info *fi)
{
	struct sfs_fuse *f = fops_ctx(req);
	struct fuse_entry_param e;
	bool tmpfile = fmnt_req_tmpfile();
	int r =
	    fops_make(req, parent, tmpfile ? NULL : name, S_IFREG | (mode & 07777), 0, NULL, &e);
	if (r) {
		fuse_reply_err(req, -r);
		return;
	}
	fi->fh = 0;
	fi->keep_cache = 1;
	fi->noflush = 1;
	if (fuse_reply_create(req, &e, fi))
		fops_unref(f, fops_ino(f, e.ino), 1);
}

/* Each FUSE worker thread keeps one aligned read buffer of the largest read
 * the kernel sends: no allocation, page faults or bounce copy per read
 * (file_read reads whole blocks straight into it). Freed when the thread
 * ends. */
static pthread_key_t rbuf_key;
static bool rbuf_ok;
static pthread_once_t rbuf_once = PTHREAD_ONCE_INIT;

static void rbuf_init(void)
{
	if (pthread_key_create(&rbuf_key, bdev_free) != 0)
		log_warn("fuse", "no per-thread read buffers: a buffer per read");
	else
		rbuf_ok = true;
}

/* A buffer of at least size bytes; *own: the caller must bdev_free it. */
static void *rbuf_get(size_t size, bool *own)
{
	pthread_once(&rbuf_once, rbuf_init);
	*own = true;
	if (!rbuf_ok || size > FMNT_MAX_WRITE)
		return bdev_alloc(size ? size : 1);
	void *b = pthread_getspecific(rbuf_key);
	if (!b) {
		b = bdev_alloc(FMNT_MAX_WRITE);
		if (!b || pthread_setspecific(rbuf_key, b) != 0)
			return b;
	}
	*own = false;
	return b;
}

void fops_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi)
{
	(void)fi;
	struct sfs_fuse *f = fops_ctx(req);
	bool own;
	char *buf = rbuf_get(size, &own);
	if (!buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	struct lockset ls;
	struct sfs_inode *ip;
	int r = fops_lock_one(f, fops_ino(f, ino), LCL_PR, &ls, &ip);
	size_t done = 0;
	bool atime = false;
	if (!r) {
		r = S_ISDIR(ip->mode) ? -EISDIR
				      : file_read(f->fs, ip, buf, size, (uint64_t)off, &done);
		atime = !r && fops_atime_due(f, ip);
		fops_unlock_one(f, &ls, ip);
	}
	/* Before the reply, so that a stat after the read sees it. */
	if (atime)
		fops_atime_update(f, fops_ino(f, ino));
	if (r)
		fuse_reply_err(req, -r);
	else
		fuse_reply_buf(req, buf, done);
	if (own)
		bdev_free(buf);
}

int fops_write_mode(struct sfs_fuse *f, struct sfs_inode *ip, uint32_t mode)
{
	struct txn *t;
	int r = txn_begin(f->fs, inode_write_max_blocks(), &t);
	if (r)
		return r;
	ip->mode = mode;
	fops_touch(ip, false, true);
	return fops_txn_finish(t, inode_write(f->fs, t, ip));
}

/* Whether a data or size change by this request clears set-id bits: the
 * kernel's word under FUSE_HANDLE_KILLPRIV_V2 (its caller lacks
 * CAP_FSETID), else anyone but root. */
bool fops_req_kills_suidgid(const struct fcred *c)
{
	bool known;
	bool kill = fmnt_req_kill_suidgid(&known);
	return known ? kill : !perm_is_root(&c->c);
}

/* The file capability a data change removes, for anyone (the kernel's
 * file_remove_privs; it asks itself only until an inode is known to have
 * none, which another node's setcap would not reset). */
static bool has_file_cap(struct sfs_fuse *f, struct sfs_inode *ip)
{
	size_t len;
	return (ip->ixattr_len || ip->xattr_blk) &&
	       xattr_get(f->fs, ip, "security.capability", NULL, 0, &len) == 0;
}

/* A data change (write, O_TRUNC, fallocate, copy_file_range) clears the
 * set-id bits as the kernel's file_remove_privs does, which leaves them
 * to sanfs under FUSE_HANDLE_KILLPRIV_V2 (fuse_mount.c), and removes a
 * file capability. Caller holds EX. */
int fops_kill_priv(struct sfs_fuse *f, struct sfs_inode *ip, fuse_req_t req)
{
	int r = 0;
	bool changed = false;
	if (ip->mode & (S_ISUID | S_ISGID)) {
		struct fcred c;
		fops_cred(req, &c);
		uint32_t mode = fops_req_kills_suidgid(&c)
				    ? perm_mode_kill_suidgid(ip->mode, ip->gid, &c.c)
				    : ip->mode;
		if (mode != ip->mode) {
			r = fops_write_mode(f, ip, mode);
			changed = true;
		}
	}
	if (!r && has_file_cap(f, ip)) {
		r = xattr_remove(f->fs, ip, "security.capability");
		changed = true;
	}
	/* The kernel learns of the new mode and ctime: drop its cached
	 * attributes only (no page-cache work from inside a write). Nothing
	 * changed, nothing to say: this runs after every write. */
	if (!r && changed)
		fmnt_inval_attr(f->mnt, fops_fuse_ino(f, ip->ino));
	return r;
}

/* Data changed (write, fallocate, copy_file_range): the kernel's
 * file_modified leaves the set-id bits to sanfs. */
static void modified(struct sfs_fuse *f, struct sfs_inode *ip, fuse_req_t req)
{
	int e = fops_kill_priv(f, ip, req);
	if (e)
		log_warn("fuse", "inode %llu: clearing set-id bits: %s",
			 (unsigned long long)ip->ino, strerror(-e));
}

void fops_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off,
		struct fuse_file_info *fi)
{
	(void)fi;
	struct sfs_fuse *f = fops_ctx(req);
	if (f->readonly) {
		fuse_reply_err(req, EROFS);
		return;
	}
	struct lockset ls;
	struct sfs_inode *ip;
	int r = fops_lock_one(f, fops_ino(f, ino), LCL_EX, &ls, &ip);
	size_t done = 0;
	if (!r) {
		if ((uint64_t)off + size > SFS_MAX_FILE_SIZE)
			r = (uint64_t)off >= SFS_MAX_FILE_SIZE ? -EFBIG : 0;
		if (!r) {
			size_t n = size;
			if ((uint64_t)off + n > SFS_MAX_FILE_SIZE)
				n = (size_t)(SFS_MAX_FILE_SIZE - (uint64_t)off);
			r = file_write(f->fs, ip, buf, n, (uint64_t)off, &done);
			if (done)
				r = 0; /* a short write reports what was written */
			if (done)
				modified(f, ip, req);
		}
		fops_unlock_one(f, &ls, ip);
	}
	if (r)
		fuse_reply_err(req, -r);
	else
		fuse_reply_write(req, done);
}

void fops_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	/* Data reaches sanfs's cache and the device inside write; there is no
	 * per-open state to flush (close(2) is not a durability point), and
	 * POSIX locks are the kernel's own (no setlk/getlk here). So every open
	 * says noflush and the kernel does not ask; this answers kernels that
	 * do not know the flag. What noflush changes: dirty pages of a shared
	 * mapping are no longer written at close(2) but at munmap, msync,
	 * fsync or writeback, and their write errors reach fsync and msync,
	 * not close (as on ext4). */
	(void)ino;
	(void)fi;
	fuse_reply_err(req, 0);
}

void fops_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	/* The tail copy lives while the file is open for writing: the copies
	 * of files written once and closed (an untar) would otherwise fill
	 * the daemon's quota of them. Another writer still open takes a new
	 * copy at its next small write. */
	struct sfs_fuse *f = fops_ctx(req);
	uint64_t i = fops_ino(f, ino);
	if ((fi->flags & O_ACCMODE) != O_RDONLY && inode_tail_peek(f->fs, i)) {
		struct lockset ls;
		struct sfs_inode *ip;
		if (fops_lock_one(f, i, LCL_EX, &ls, &ip) == 0) {
			inode_tail_drop(ip);
			fops_unlock_one(f, &ls, ip);
		}
	}
	fuse_reply_err(req, 0);
}

/* DESIGN §3/§9: wait only for the transaction that holds the file's
 * changes, and flush the device cache so data written in place is durable. */
void fops_fsync(fuse_req_t req, fuse_ino_t fino, int datasync, struct fuse_file_info *fi)
{
	(void)datasync;
	(void)fi;
	fuse_reply_err(req, -fops_fsync_ino(fops_ctx(req), fino));
}

int fops_fsync_ino(struct sfs_fuse *f, fuse_ino_t fino)
{
	struct lockset ls;
	struct sfs_inode *ip;
	int r = fops_lock_one(f, fops_ino(f, fino), LCL_PR, &ls, &ip);
	if (r)
		return r;
	r = inode_fsync(f->fs, ip);
	fops_unlock_one(f, &ls, ip);
	return r;
}

int fops_truncate(struct sfs_fuse *f, struct sfs_inode *ip, uint64_t size)
{
	return file_truncate(f->fs, ip, size);
}

void fops_fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t offset, off_t length,
		    struct fuse_file_info *fi)
{
	(void)fi;
	struct sfs_fuse *f = fops_ctx(req);
	int r = 0;
	if (offset < 0 || length <= 0)
		r = -EINVAL;
	else if (mode & ~(FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE | FALLOC_FL_ZERO_RANGE))
		r = -EOPNOTSUPP;
	else if ((mode & FALLOC_FL_PUNCH_HOLE) && !(mode & FALLOC_FL_KEEP_SIZE))
		r = -EOPNOTSUPP;
	else if ((mode & FALLOC_FL_PUNCH_HOLE) && (mode & FALLOC_FL_ZERO_RANGE))
		r = -EOPNOTSUPP;
	else if ((uint64_t)offset + (uint64_t)length > SFS_MAX_FILE_SIZE)
		r = -EFBIG;
	else if (f->readonly)
		r = -EROFS;
	if (r) {
		fuse_reply_err(req, -r);
		return;
	}
	struct lockset ls;
	struct sfs_inode *ip;
	r = fops_lock_one(f, fops_ino(f, ino), LCL_EX, &ls, &ip);
	if (!r) {
		if (S_ISDIR(ip->mode))
			r = -EISDIR;
		else if (!S_ISREG(ip->mode))
			r = -ENODEV;
		else {
			r = file_fallocate(f->fs, ip, mode, (uint64_t)offset, (uint64_t)length);
			if (!r)
				modified(f, ip, req);
		}
		fops_unlock_one(f, &ls, ip);
	}
	fuse_reply_err(req, -r);
}

void fops_lseek(fuse_req_t req, fuse_ino_t ino, off_t off, int whence, struct fuse_file_info *fi)
{
	(void)fi;
	struct sfs_fuse *f = fops_ctx(req);
	if (whence != SEEK_DATA && whence != SEEK_HOLE) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	if (off < 0) {
		fuse_reply_err(req, ENXIO);
		return;
	}
	struct lockset ls;
	struct sfs_inode *ip;
	int r = fops_lock_one(f, fops_ino(f, ino), LCL_PR, &ls, &ip);
	uint64_t out = 0;
	if (!r) {
		if ((uint64_t)off >= ip->size)
			r = -ENXIO;
		else
			r = file_seek_data_hole(f->fs, ip, (uint64_t)off, whence, &out);
		fops_unlock_one(f, &ls, ip);
	}
	if (r)
		fuse_reply_err(req, -r);
	else
		fuse_reply_lseek(req, (off_t)out);
}

/* copy_file_range under PR on the source and EX on the destination (one
 * lock set, ascending order); file_copy_range keeps holes as holes. */
void fops_copy_file_range(fuse_req_t req, fuse_ino_t ino_in, off_t off_in,
			  struct fuse_file_info *fi_in, fuse_ino_t ino_out, off_t off_out,
			  struct fuse_file_info *fi_out, size_t len, int flags)
{
	(void)fi_in;
	(void)fi_out;
	struct sfs_fuse *f = fops_ctx(req);
	if (flags) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	if (f->readonly) {
		fuse_reply_err(req, EROFS);
		return;
	}
	uint64_t in = fops_ino(f, ino_in), out = fops_ino(f, ino_out);
	if (in == out && off_in < off_out + (off_t)len && off_out < off_in + (off_t)len) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	struct lockset ls;
	ls_init(&ls);
	ls_add(&ls, in, LCL_PR);
	ls_add(&ls, out, LCL_EX);
	int r = ls_lock(f, &ls);
	struct sfs_inode *ipi = NULL, *ipo = NULL;
	if (!r)
		r = fops_iget(f, in, &ipi);
	if (!r)
		r = fops_iget(f, out, &ipo);
	if (!r && (S_ISDIR(ipi->mode) || S_ISDIR(ipo->mode)))
		r = -EISDIR;
	if (!r && (!S_ISREG(ipi->mode) || !S_ISREG(ipo->mode)))
		r = -EINVAL;
	size_t total = 0;
	if (!r)
		r = file_copy_range(f->fs, ipi, (uint64_t)off_in, ipo, (uint64_t)off_out, len,
				    &total);
	if (total) {
		r = 0;
		modified(f, ipo, req);
	}
	ls_unlock(&ls);
	if (ipi)
		inode_put(f->fs, ipi);
	if (ipo)
		inode_put(f->fs, ipo);
	if (r)
		fuse_reply_err(req, -r);
	else
		fuse_reply_write(req, total);
}

/* fuse_ops_dir: namespace operations — lookup, mknod/mkdir/symlink (and the
 * creating half of create), unlink, rmdir, link, readlink, readdir(plus). */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "fs/alloc.h"
#include "fs/bcache.h"
#include "fs/dir.h"
#include "fs/fuse_ops.h"
#include "fs/sfs.h"
#include "fs/symlink.h"

/* Lock the directory dino in dmode, look name up, and lock the child found in
 * cmode, all in ascending inode order (retrying when the child sorts below a
 * lock already held and cannot be had at once). On success *dirp holds a
 * reference (put after ls_unlock) and *cino is the child (0: no such name,
 * only the directory is then locked). */
static int lock_dir_child(struct sfs_fuse *f, struct lockset *ls, uint64_t dino,
			  enum lcl_mode dmode, const char *name, enum lcl_mode cmode,
			  struct sfs_inode **dirp, uint64_t *cino)
{
	uint64_t guess = 0;
	size_t len = strlen(name);
	for (;;) {
		ls_init(ls);
		ls_add(ls, dino, dmode);
		if (guess)
			ls_add(ls, guess, cmode);
		int r = ls_lock(f, ls);
		if (r)
			return r;
		struct sfs_inode *dir;
		r = fops_iget(f, dino, &dir);
		if (r) {
			ls_unlock(ls);
			return r;
		}
		if (!S_ISDIR(dir->mode)) {
			r = -ENOTDIR;
			goto fail;
		}
		uint64_t ino = 0;
		uint8_t dt;
		r = dir_lookup(f->fs, dir, name, len, &ino, &dt);
		if (r == -ENOENT) {
			*dirp = dir;
			*cino = 0;
			return 0;
		}
		if (r)
			goto fail;
		r = ls_lock_more(f, ls, ino, cmode);
		if (r == 0) {
			*dirp = dir;
			*cino = ino;
			return 0;
		}
		if (r != -EAGAIN)
			goto fail;
		guess = ino;
		ls_unlock(ls);
		inode_put(f->fs, dir);
		continue;
	fail:
		ls_unlock(ls);
		inode_put(f->fs, dir);
		return r;
	}
}

static int check_name(const char *name)
{
	size_t n = strlen(name);
	if (n == 0)
		return -ENOENT;
	if (n > NAME_MAX)
		return -ENAMETOOLONG;
	return 0;
}

/* The kernel's open_by_handle_at (NFS export, FUSE_CAP_EXPORT_SUPPORT)
 * looks up "." in the inode a file handle names when it does not hold that
 * inode any more: the inode itself, of any type, while the number is an
 * allocated inode with links (the kernel then compares the generation);
 * else ESTALE. The allocation is checked under the inode's lock, so that
 * the number cannot be freed and reused between check and read. */
static void lookup_self(fuse_req_t req, struct sfs_fuse *f, uint64_t ino)
{
	struct lockset ls;
	ls_init(&ls);
	ls_add(&ls, ino, LCL_PR);
	int r = ls_lock(f, &ls);
	if (r) {
		fuse_reply_err(req, -r);
		return;
	}
	struct sfs_inode *ip = NULL;
	r = alloc_is_inode(f->fs, ino);
	r = r < 0 ? r : r == 0 ? -ESTALE : fops_iget(f, ino, &ip);
	if (!r && ip->nlink == 0)
		r = -ESTALE;
	struct fuse_entry_param e;
	if (!r)
		fops_entry(f, ino, ".", ip, &e);
	ls_unlock(&ls);
	if (ip)
		inode_put(f->fs, ip);
	if (r)
		fuse_reply_err(req, r == -ENOENT ? ESTALE : -r);
	else if (fuse_reply_entry(req, &e))
		fops_unref(f, ino, 1);
}

void fops_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct sfs_fuse *f = fops_ctx(req);
	struct fcred c;
	fops_cred(req, &c);
	int r = check_name(name);
	if (r) {
		fuse_reply_err(req, -r);
		return;
	}
	if (!strcmp(name, ".")) {
		lookup_self(req, f, fops_ino(f, parent));
		return;
	}
	struct lockset ls;
	struct sfs_inode *dir, *ip = NULL;
	uint64_t ino;
	r = lock_dir_child(f, &ls, fops_ino(f, parent), LCL_PR, name, LCL_PR, &dir, &ino);
	if (r) {
		fuse_reply_err(req, -r);
		return;
	}
	r = fops_may(f, dir, &c, PERM_X);
	if (!r && !ino)
		r = -ENOENT;
	if (!r)
		r = fops_iget(f, ino, &ip);
	struct fuse_entry_param e;
	if (!r)
		fops_entry(f, dir->ino, name, ip, &e);
	ls_unlock(&ls);
	inode_put(f->fs, dir);
	if (ip)
		inode_put(f->fs, ip);
	if (r) {
		fuse_reply_err(req, -r);
		return;
	}
	if (fuse_reply_entry(req, &e))
		fops_unref(f, fops_ino(f, e.ino), 1);
}

static uint8_t mode_dtype(uint32_t mode)
{
	return (uint8_t)((mode & S_IFMT) >> 12); /* DT_* values */
}

int fops_make(fuse_req_t req, fuse_ino_t parent, const char *name, uint32_t mode, uint32_t rdev,
	      const char *target, struct fuse_entry_param *e)
{
	struct sfs_fuse *f = fops_ctx(req);
	struct fcred c;
	fops_cred(req, &c);
	bool tmpfile = !name;
	int r = tmpfile ? 0 : check_name(name);
	if (r)
		return r;
	if (f->readonly)
		return -EROFS;
	size_t tlen = target ? strlen(target) : 0;
	if (target && (tlen == 0 || tlen > SYMLINK_MAX))
		return tlen ? -ENAMETOOLONG : -ENOENT;
	struct lockset ls;
	struct sfs_inode *dir, *ip = NULL;
	uint64_t ino = 0;
	/* An O_TMPFILE file leaves its directory as it is: PR suffices. */
	r = tmpfile ? fops_lock_one(f, fops_ino(f, parent), LCL_PR, &ls, &dir)
		    : lock_dir_child(f, &ls, fops_ino(f, parent), LCL_EX, name, LCL_PR, &dir, &ino);
	if (r)
		return r;
	if (tmpfile && !S_ISDIR(dir->mode)) /* lock_dir_child checked the rest */
		r = -ENOTDIR;
	if (!r)
		r = fops_may(f, dir, &c, PERM_W | PERM_X);
	if (!r && ino)
		r = -EEXIST;
	if (!r && S_ISDIR(mode) && dir->nlink >= SFS_LINK_MAX)
		r = -EMLINK;
	if (!r && dir->nlink == 0)
		r = -ENOENT; /* the directory was removed */
	struct facl_inherit acl;
	acl.acc_len = acl.def_len = 0;
	if (!r && !target)
		r = fops_acl_inherit(f, dir, &c, &mode, &acl);
	if (target)
		mode = S_IFLNK | 0777;
	uint32_t gid = c.c.gid;
	if (!r && (dir->mode & S_ISGID)) {
		gid = dir->gid; /* BSD group semantics under a setgid directory */
		if (S_ISDIR(mode))
			mode |= S_ISGID;
	}
	struct txn *t = NULL;
	for (int attempt = 0; !r; attempt++) {
		r = txn_begin(f->fs,
			      2 * inode_write_max_blocks() + dir_max_blocks_per_op() +
				  symlink_max_blocks() + 8,
			      &t);
		if (r)
			break;
		r = inode_create(f->fs, t, dir, mode, c.c.uid, gid, rdev, &ip);
		if (r != -ENOSPC || attempt > 0)
			break;
		/* Nothing changed yet (the allocator found no block): blocks
		 * freed by transactions not yet committed become free when
		 * they commit, so commit everything and try once more. */
		txn_abort(t);
		t = NULL;
		r = jnl_sync(f->fs);
	}
	if (!t)
		goto out;
	if (r)
		goto end;
	if (S_ISDIR(mode)) {
		r = dir_init(f->fs, t, ip, dir->ino);
		if (r)
			goto end;
		dir->nlink++;
	} else if (target) {
		r = symlink_set(f->fs, t, ip, target, tlen);
		if (r)
			goto end;
	}
	if (tmpfile) {
		ip->nlink = 0; /* inode_write puts it on the orphan list */
		ip->linkable = true;
		r = inode_write(f->fs, t, ip);
		goto end;
	}
	r = dir_add(f->fs, t, dir, name, strlen(name), ip->ino, mode_dtype(mode));
	if (r)
		goto end;
	fops_touch(dir, true, true);
	r = inode_write(f->fs, t, dir);
	if (!r)
		r = inode_write(f->fs, t, ip);
end:;
	r = fops_txn_finish(t, r);
	if (!r) {
		/* The new name exists now; an inherited ACL that cannot be
		 * stored leaves the (already masked) mode alone. */
		int e2 = fops_acl_apply(f, ip, &acl);
		if (e2)
			log_error("fuse", "inode %llu: inherited ACL not stored: %s",
				  (unsigned long long)ip->ino, strerror(-e2));
		fops_entry(f, dir->ino, name, ip, e);
	}
out:
	ls_unlock(&ls);
	inode_put(f->fs, dir);
	if (ip)
		inode_put(f->fs, ip);
	return r;
}

static void reply_make(fuse_req_t req, int r, struct fuse_entry_param *e)
{
	struct sfs_fuse *f = fops_ctx(req);
	if (r) {
		fuse_reply_err(req, -r);
		return;
	}
	if (fuse_reply_entry(req, e))
		fops_unref(f, fops_ino(f, e->ino), 1);
}

void fops_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode, dev_t rdev)
{
	struct fuse_entry_param e;
	int r;
	switch (mode & S_IFMT) {
	case S_IFREG:
	case S_IFIFO:
	case S_IFSOCK:
		rdev = 0;
		/* fall through */
	case S_IFCHR:
	case S_IFBLK:
		r = fops_make(req, parent, name, mode, (uint32_t)rdev, NULL, &e);
		break;
	case 0:
		r = fops_make(req, parent, name, mode | S_IFREG, 0, NULL, &e);
		break;
	default:
		r = -EINVAL;
	}
	reply_make(req, r, &e);
}

void fops_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
{
	struct fuse_entry_param e;
	int r = fops_make(req, parent, name, S_IFDIR | (mode & 07777), 0, NULL, &e);
	reply_make(req, r, &e);
}

void fops_symlink(fuse_req_t req, const char *link, fuse_ino_t parent, const char *name)
{
	struct fuse_entry_param e;
	int r = fops_make(req, parent, name, S_IFLNK | 0777, 0, link, &e);
	reply_make(req, r, &e);
}

void fops_readlink(fuse_req_t req, fuse_ino_t fino)
{
	struct sfs_fuse *f = fops_ctx(req);
	struct lockset ls;
	struct sfs_inode *ip;
	char buf[SYMLINK_MAX + 1];
	size_t len = 0;
	int r = fops_lock_one(f, fops_ino(f, fino), LCL_PR, &ls, &ip);
	if (r) {
		fuse_reply_err(req, -r);
		return;
	}
	r = S_ISLNK(ip->mode) ? symlink_read(f->fs, ip, buf, sizeof(buf), &len) : -EINVAL;
	bool atime = !r && fops_atime_due(f, ip);
	fops_unlock_one(f, &ls, ip);
	if (r) {
		fuse_reply_err(req, -r);
		return;
	}
	buf[len < sizeof(buf) ? len : sizeof(buf) - 1] = 0;
	if (atime)
		fops_atime_update(f, fops_ino(f, fino));
	fuse_reply_readlink(req, buf);
}

/* unlink and rmdir. */
static int do_remove(fuse_req_t req, fuse_ino_t parent, const char *name, bool isdir)
{
	struct sfs_fuse *f = fops_ctx(req);
	struct fcred c;
	fops_cred(req, &c);
	int r = check_name(name);
	if (r)
		return r;
	if (isdir && !strcmp(name, "."))
		return -EINVAL;
	if (isdir && !strcmp(name, ".."))
		return -ENOTEMPTY;
	struct lockset ls;
	struct sfs_inode *dir, *ip = NULL;
	uint64_t ino;
	r = lock_dir_child(f, &ls, fops_ino(f, parent), LCL_EX, name, LCL_EX, &dir, &ino);
	if (r)
		return r;
	r = fops_may(f, dir, &c, PERM_X);
	if (!r && !ino)
		r = -ENOENT;
	if (!r)
		r = fops_iget(f, ino, &ip);
	if (!r)
		r = fops_may_delete(f, dir, ip, &c);
	if (!r && f->readonly)
		r = -EROFS;
	if (!r && isdir && !S_ISDIR(ip->mode))
		r = -ENOTDIR;
	if (!r && !isdir && S_ISDIR(ip->mode))
		r = -EISDIR;
	if (!r && isdir && ip->ino == f->root_ino)
		r = -EBUSY;
	if (!r && isdir) {
		int e = dir_is_empty(f->fs, ip);
		r = e < 0 ? e : (e ? 0 : -ENOTEMPTY);
	}
	struct txn *t = NULL;
	if (!r)
		r = txn_begin(f->fs, 2 * inode_write_max_blocks() + dir_max_blocks_per_op() + 4,
			      &t);
	if (r)
		goto out;
	uint64_t removed;
	r = dir_remove(f->fs, t, dir, name, strlen(name), &removed);
	if (r)
		goto end;
	if (isdir) {
		r = dir_destroy(f->fs, t, ip);
		if (r)
			goto end;
		ip->nlink = 0;
		if (dir->nlink > 2)
			dir->nlink--;
	} else if (ip->nlink > 0) {
		ip->nlink--;
	}
	fops_touch(ip, false, true);
	fops_touch(dir, true, true);
	r = inode_write(f->fs, t, dir);
	if (!r)
		r = inode_write(f->fs, t, ip); /* nlink 0: onto the orphan list */
end:;
	r = fops_txn_finish(t, r);
out:
	ls_unlock(&ls);
	inode_put(f->fs, dir);
	if (ip)
		inode_put(f->fs, ip); /* the last put of an unreferenced one frees it */
	return r;
}

void fops_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	fuse_reply_err(req, -do_remove(req, parent, name, false));
}

void fops_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	fuse_reply_err(req, -do_remove(req, parent, name, true));
}

void fops_link(fuse_req_t req, fuse_ino_t fino, fuse_ino_t newparent, const char *newname)
{
	struct sfs_fuse *f = fops_ctx(req);
	struct fcred c;
	fops_cred(req, &c);
	int r = check_name(newname);
	if (r) {
		fuse_reply_err(req, -r);
		return;
	}
	uint64_t ino = fops_ino(f, fino), dino = fops_ino(f, newparent);
	struct lockset ls;
	ls_init(&ls);
	ls_add(&ls, ino, LCL_EX);
	ls_add(&ls, dino, LCL_EX);
	r = ls_lock(f, &ls);
	if (r) {
		fuse_reply_err(req, -r);
		return;
	}
	struct sfs_inode *dir = NULL, *ip = NULL;
	r = fops_iget(f, dino, &dir);
	if (!r)
		r = fops_iget(f, ino, &ip);
	if (!r && !S_ISDIR(dir->mode))
		r = -ENOTDIR;
	if (!r)
		r = fops_may(f, dir, &c, PERM_W | PERM_X);
	if (!r && f->readonly)
		r = -EROFS;
	if (!r && S_ISDIR(ip->mode))
		r = -EPERM;
	/* Only an O_TMPFILE file comes back from link count 0 (the kernel
	 * also refuses one opened with O_EXCL). */
	if (!r && ip->nlink == 0 && !ip->linkable)
		r = -ENOENT;
	if (!r && ip->nlink >= SFS_LINK_MAX)
		r = -EMLINK;
	if (!r && dir->nlink == 0)
		r = -ENOENT;
	if (!r) {
		uint64_t other;
		uint8_t dt;
		int e = dir_lookup(f->fs, dir, newname, strlen(newname), &other, &dt);
		r = e == 0 ? -EEXIST : (e == -ENOENT ? 0 : e);
	}
	struct txn *t = NULL;
	for (int attempt = 0; !r; attempt++) {
		r = txn_begin(f->fs, 2 * inode_write_max_blocks() + dir_max_blocks_per_op(), &t);
		if (r)
			break;
		r = dir_add(f->fs, t, dir, newname, strlen(newname), ip->ino, mode_dtype(ip->mode));
		if (r != -ENOSPC || attempt > 0 || txn_touched(t))
			break;
		/* Nothing changed: blocks freed by transactions not yet
		 * committed become free when they commit (as in create). */
		txn_abort(t);
		t = NULL;
		r = jnl_sync(f->fs);
	}
	struct fuse_entry_param e;
	if (t) {
		if (!r && ip->nlink == 0)
			r = inode_link_tmpfile(f->fs, t, ip);
		else if (!r)
			ip->nlink++;
		if (!r) {
			fops_touch(ip, false, true);
			fops_touch(dir, true, true);
			r = inode_write(f->fs, t, ip);
		}
		if (!r)
			r = inode_write(f->fs, t, dir);
		r = fops_txn_finish(t, r);
		if (!r) {
			fops_entry(f, dir->ino, newname, ip, &e);
		}
	}
	ls_unlock(&ls);
	if (dir)
		inode_put(f->fs, dir);
	if (ip)
		inode_put(f->fs, ip);
	reply_make(req, r, &e);
}

/* ---- directory reading ---- */

void fops_opendir(fuse_req_t req, fuse_ino_t fino, struct fuse_file_info *fi)
{
	struct sfs_fuse *f = fops_ctx(req);
	struct fcred c;
	fops_cred(req, &c);
	struct lockset ls;
	struct sfs_inode *ip;
	int r = fops_lock_one(f, fops_ino(f, fino), LCL_PR, &ls, &ip);
	if (r) {
		fuse_reply_err(req, -r);
		return;
	}
	r = S_ISDIR(ip->mode) ? fops_may(f, ip, &c, PERM_R) : -ENOTDIR;
	fops_unlock_one(f, &ls, ip);
	if (r) {
		fuse_reply_err(req, -r);
		return;
	}
	fi->fh = 0;
	fi->cache_readdir = 0;
	fuse_reply_open(req, fi);
}

struct dent {
	uint64_t ino;
	uint64_t next;
	uint8_t dtype;
	uint8_t len;
	char name[NAME_MAX + 1];
};

struct dcollect {
	struct dent *v;
	size_t n, cap, bytes, limit;
};

static int collect_fn(void *arg, const char *name, size_t len, uint64_t ino, uint8_t dtype,
		      uint64_t next_cookie)
{
	struct dcollect *d = arg;
	if (len > NAME_MAX)
		return 0; /* cannot be: the directory code refuses such names */
	/* Enough for the reply buffer: a dirent is at most 24 + name bytes
	 * (direntplus adds ~130 bytes). */
	if (d->n == d->cap || d->bytes >= d->limit)
		return 1;
	struct dent *e = &d->v[d->n++];
	e->ino = ino;
	e->next = next_cookie;
	e->dtype = dtype;
	e->len = (uint8_t)len;
	memcpy(e->name, name, len);
	e->name[len] = 0;
	d->bytes += 24 + ((len + 7) & ~(size_t)7) + (d->limit > 0 ? 0 : 0);
	return 0;
}

/* Read-ahead of a listing's inodes. Entries come in hash order, so the
 * inodes of one reply lie far apart; those of the next READDIR_AHEAD entries
 * lie close enough to be read in large requests. A window is read when most
 * inodes of a reply are not cached: the replies after it find theirs. */
#define READDIR_AHEAD 4096

struct inos {
	uint64_t *v;
	size_t n;
};

static int collect_ino_fn(void *arg, const char *name, size_t len, uint64_t ino, uint8_t dtype,
			  uint64_t next_cookie)
{
	(void)name, (void)len, (void)dtype, (void)next_cookie;
	struct inos *w = arg;
	w->v[w->n++] = ino;
	return w->n == READDIR_AHEAD;
}

/* Under the directory's PR lock: the inode numbers of the window from off
 * into *w (w->v malloc'ed; w->n 0 when no read-ahead is due). */
static void readdir_ahead(struct sfs_fuse *f, struct sfs_inode *dir, uint64_t off,
			  const struct dcollect *d, struct inos *w)
{
	size_t named = 0, missing = 0;
	for (size_t i = 0; i < d->n; i++)
		if (d->v[i].ino != dir->ino && d->v[i].ino != dir->fork.aux) {
			named++;
			missing +=
			    !inode_cached(f->fs, d->v[i].ino) && !bc_cached(f->fs, d->v[i].ino);
		}
	if (named < 2 || missing * 2 < named)
		return;
	w->v = malloc(READDIR_AHEAD * sizeof(*w->v));
	if (w->v && dir_iterate(f->fs, dir, off, collect_ino_fn, w) < 0)
		w->n = 0;
	if (!w->n) {
		free(w->v);
		w->v = NULL;
	}
}

static void do_readdir(fuse_req_t req, fuse_ino_t fino, size_t size, off_t off, bool plus)
{
	struct sfs_fuse *f = fops_ctx(req);
	uint64_t ino = fops_ino(f, fino);
	struct dcollect d = {0};
	size_t per = plus ? 160 : 32;
	d.cap = size / per + 2;
	d.limit = size * 2;
	d.v = malloc(d.cap * sizeof(*d.v));
	if (!d.v) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	struct inos ahead = {0};
	struct lockset ls;
	struct sfs_inode *dir;
	bool atime = false;
	int r = fops_lock_one(f, ino, LCL_PR, &ls, &dir);
	if (!r) {
		if (!S_ISDIR(dir->mode))
			r = -ENOTDIR;
		else if (dir->nlink > 0)
			r = dir_iterate(f->fs, dir, (uint64_t)off, collect_fn, &d);
		if (r > 0)
			r = 0;
		if (!r && plus)
			readdir_ahead(f, dir, (uint64_t)off, &d, &ahead);
		/* A listing reads the directory once, from its start. */
		atime = !r && off == 0 && fops_atime_due(f, dir);
		fops_unlock_one(f, &ls, dir);
	}
	if (ahead.n)
		fops_prefetch_inodes(f, ahead.v, ahead.n);
	free(ahead.v);
	char *buf = r ? NULL : malloc(size);
	if (!r && !buf)
		r = -ENOMEM;
	if (r) {
		free(d.v);
		fuse_reply_err(req, -r);
		return;
	}
	size_t pos = 0;
	for (size_t i = 0; i < d.n; i++) {
		struct dent *e = &d.v[i];
		bool dots = !strcmp(e->name, ".") || !strcmp(e->name, "..");
		if (!plus) {
			struct stat st = {.st_ino = e->ino, .st_mode = (mode_t)e->dtype << 12};
			size_t need = fuse_add_direntry(req, buf + pos, size - pos, e->name, &st,
							(off_t)e->next);
			if (need > size - pos)
				break;
			pos += need;
			continue;
		}
		struct fuse_entry_param ep;
		memset(&ep, 0, sizeof(ep));
		bool counted = false;
		if (!dots) {
			/* Attributes under the child's own PR lock, taken alone. */
			struct lockset cl;
			struct sfs_inode *ip;
			if (fops_lock_one(f, e->ino, LCL_PR, &cl, &ip) == 0) {
				fops_entry(f, ino, e->name, ip, &ep);
				counted = true;
				fops_unlock_one(f, &cl, ip);
			}
		}
		if (!counted) {
			/* nodeid 0: the kernel takes no reference (and "." / ".."
			 * are never linked). */
			ep.ino = 0;
			ep.attr.st_ino = e->ino;
			ep.attr.st_mode = (mode_t)e->dtype << 12;
		}
		size_t need = fuse_add_direntry_plus(req, buf + pos, size - pos, e->name, &ep,
						     (off_t)e->next);
		if (need > size - pos) {
			if (counted)
				fops_unref(f, e->ino, 1);
			break;
		}
		pos += need;
	}
	free(d.v);
	if (atime)
		fops_atime_update(f, ino);
	fuse_reply_buf(req, buf, pos);
	free(buf);
}

void fops_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi)
{
	(void)fi;
	do_readdir(req, ino, size, off, false);
}

void fops_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		      struct fuse_file_info *fi)
{
	(void)fi;
	do_readdir(req, ino, size, off, true);
}

void fops_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)ino;
	(void)fi;
	fuse_reply_err(req, 0);
}

void fops_fsyncdir(fuse_req_t req, fuse_ino_t fino, int datasync, struct fuse_file_info *fi)
{
	(void)datasync;
	(void)fi;
	fuse_reply_err(req, -fops_fsync_ino(fops_ctx(req), fino));
}

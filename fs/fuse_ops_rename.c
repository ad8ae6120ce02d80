/* fuse_ops_rename: rename(2) and renameat2 with RENAME_NOREPLACE,
 * RENAME_EXCHANGE and RENAME_WHITEOUT, POSIX errors and link counts.
 *
 * RENAME_WHITEOUT (overlayfs on an upper directory here): the old name is
 * left naming a new whiteout, a character device 0:0 of mode 0 owned by the
 * caller, in the rename's own transaction (the kernel checks CAP_MKNOD). The
 * whiteout is created first, so no room for it changes nothing.
 *
 * Locks: both directories and both named inodes EX, in ascending order
 * (lock_all retries when a name turns out to sort below a lock held).
 * Moving a directory to another parent also holds f->rename_mu, so the
 * ancestry walk that refuses moving a directory into its own subtree (EINVAL)
 * cannot race with another such move (the kernel's s_vfs_rename_mutex; in a
 * cluster the same role falls to a cluster-wide rename lock). */
#include <errno.h>
#include <limits.h>
#include <string.h>

#include "common/log.h"
#include "fs/dir.h"
#include "fs/fuse_ops.h"
#include "fs/sfs.h"

#ifndef RENAME_NOREPLACE
#define RENAME_NOREPLACE (1 << 0)
#endif
#ifndef RENAME_EXCHANGE
#define RENAME_EXCHANGE (1 << 1)
#endif
#ifndef RENAME_WHITEOUT
#define RENAME_WHITEOUT (1 << 2)
#endif

/* A directory's parent lives in its tree's aux word (fs/btree.h); the
 * inode_write of the renamed directory stores it. */
static uint64_t dir_parent(const struct sfs_inode *dir)
{
	return dir->fork.aux;
}

static int dir_set_parent(struct sfs *fs, struct txn *t, struct sfs_inode *dir, uint64_t parent)
{
	(void)fs;
	(void)t;
	dir->fork.aux = parent;
	return 0;
}

struct rn {
	uint64_t odir, ndir;	   /* directories */
	struct sfs_inode *od, *nd; /* their inodes (nd == od for one directory) */
	uint64_t src, dst;	   /* named inodes (dst 0: no target) */
	uint8_t stype, dtype;
	struct sfs_inode *s, *d;
	struct lockset ls;
};

static void rn_release(struct sfs_fuse *f, struct rn *x)
{
	ls_unlock(&x->ls);
	struct sfs_inode *v[4] = {x->od, x->nd != x->od ? x->nd : NULL, x->s, x->d};
	for (int i = 0; i < 4; i++)
		if (v[i])
			inode_put(f->fs, v[i]);
	x->od = x->nd = x->s = x->d = NULL;
}

/* Lock everything and look both names up. */
static int rn_lock(struct sfs_fuse *f, struct rn *x, const char *name, const char *newname)
{
	uint64_t gs = 0, gd = 0;
	for (;;) {
		ls_init(&x->ls);
		ls_add(&x->ls, x->odir, LCL_EX);
		ls_add(&x->ls, x->ndir, LCL_EX);
		if (gs)
			ls_add(&x->ls, gs, LCL_EX);
		if (gd)
			ls_add(&x->ls, gd, LCL_EX);
		int r = ls_lock(f, &x->ls);
		if (r)
			return r;
		r = fops_iget(f, x->odir, &x->od);
		if (!r) {
			if (x->ndir == x->odir)
				x->nd = x->od;
			else
				r = fops_iget(f, x->ndir, &x->nd);
		}
		if (!r && (!S_ISDIR(x->od->mode) || !S_ISDIR(x->nd->mode)))
			r = -ENOTDIR;
		if (!r)
			r = dir_lookup(f->fs, x->od, name, strlen(name), &x->src, &x->stype);
		if (!r) {
			int e =
			    dir_lookup(f->fs, x->nd, newname, strlen(newname), &x->dst, &x->dtype);
			if (e == -ENOENT)
				x->dst = 0;
			else
				r = e;
		}
		if (r) {
			rn_release(f, x);
			return r;
		}
		int e1 = ls_lock_more(f, &x->ls, x->src, LCL_EX);
		int e2 = (e1 == 0 && x->dst) ? ls_lock_more(f, &x->ls, x->dst, LCL_EX) : 0;
		if (e1 == 0 && e2 == 0)
			return 0;
		rn_release(f, x);
		if ((e1 && e1 != -EAGAIN) || (e2 && e2 != -EAGAIN))
			return e1 ? e1 : e2;
		gs = x->src;
		gd = x->dst;
	}
}

/* Is anc an ancestor of (or equal to) ino? Walks ".." under short PR locks;
 * the caller holds f->rename_mu so no directory changes parent meanwhile. */
static int is_ancestor(struct sfs_fuse *f, uint64_t anc, uint64_t ino)
{
	for (int depth = 0; depth < 4096; depth++) {
		if (ino == anc)
			return 1;
		if (ino == f->root_ino)
			return 0;
		struct lockset ls;
		ls_init(&ls);
		ls_add(&ls, ino, LCL_PR);
		int r = ls_lock(f, &ls);
		if (r)
			return r;
		struct sfs_inode *ip;
		r = fops_iget(f, ino, &ip);
		uint64_t parent = 0;
		if (!r)
			parent = dir_parent(ip);
		ls_unlock(&ls);
		if (!r)
			inode_put(f->fs, ip);
		if (r)
			return r;
		if (parent == ino || parent == 0)
			return 0;
		ino = parent;
	}
	log_error("fuse", "directory %llu: parent chain too deep", (unsigned long long)ino);
	return -EIO;
}

/* Look name up in dir under a short PR lock on dir alone: *ino (0: none). */
static int prelookup(struct sfs_fuse *f, uint64_t dino, const char *name, uint64_t *ino,
		     uint8_t *dtype)
{
	struct lockset ls;
	ls_init(&ls);
	ls_add(&ls, dino, LCL_PR);
	int r = ls_lock(f, &ls);
	if (r)
		return r;
	struct sfs_inode *dir = NULL;
	r = fops_iget(f, dino, &dir);
	if (!r) {
		r = S_ISDIR(dir->mode) ? dir_lookup(f->fs, dir, name, strlen(name), ino, dtype)
				       : -ENOTDIR;
		if (r == -ENOENT) {
			*ino = 0;
			r = 0;
		}
	}
	ls_unlock(&ls);
	if (dir)
		inode_put(f->fs, dir);
	return r;
}

/* Before any lock of the rename is held: refuse moving a directory into its
 * own subtree (EINVAL). Fills the names' inodes as seen now. */
static int subtree_check(struct sfs_fuse *f, struct rn *x, const char *name, const char *newname,
			 unsigned flags, uint64_t *src, uint64_t *dst)
{
	uint8_t st = 0, dt = 0;
	int r = prelookup(f, x->odir, name, src, &st);
	if (!r)
		r = prelookup(f, x->ndir, newname, dst, &dt);
	if (r)
		return r;
	if (*src && st == (S_IFDIR >> 12)) {
		int a = is_ancestor(f, *src, x->ndir);
		if (a)
			return a < 0 ? a : -EINVAL;
	}
	if ((flags & RENAME_EXCHANGE) && *dst && dt == (S_IFDIR >> 12)) {
		int a = is_ancestor(f, *dst, x->odir);
		if (a)
			return a < 0 ? a : -EINVAL;
	}
	return 0;
}

static int rn_checks(struct sfs_fuse *f, struct rn *x, const struct fcred *c, unsigned flags)
{
	int r = fops_may_delete(f, x->od, x->s, c);
	if (r)
		return r;
	if (x->dst)
		r = fops_may_delete(f, x->nd, x->d, c);
	else
		r = fops_may(f, x->nd, c, PERM_W | PERM_X);
	if (r)
		return r;
	bool sdir = S_ISDIR(x->s->mode), ddir = x->d && S_ISDIR(x->d->mode);
	if (x->odir != x->ndir) {
		/* A directory changing parent rewrites its "..": write permission
		 * on it is needed (Linux). */
		if (sdir && (r = fops_may(f, x->s, c, PERM_W)))
			return r;
		if ((flags & RENAME_EXCHANGE) && ddir && (r = fops_may(f, x->d, c, PERM_W)))
			return r;
	}
	if (x->nd->nlink == 0 || x->od->nlink == 0)
		return -ENOENT;
	if (flags & RENAME_EXCHANGE) {
		if (!x->dst)
			return -ENOENT;
		return 0;
	}
	if (x->dst && (flags & RENAME_NOREPLACE))
		return -EEXIST;
	if (!x->dst)
		return (sdir && x->odir != x->ndir && x->nd->nlink >= SFS_LINK_MAX) ? -EMLINK : 0;
	if (sdir && !ddir)
		return -ENOTDIR;
	if (!sdir && ddir)
		return -EISDIR;
	if (ddir) {
		int e = dir_is_empty(f->fs, x->d);
		if (e < 0)
			return e;
		if (!e)
			return -ENOTEMPTY;
	}
	return 0;
}

static int rn_apply(struct sfs_fuse *f, struct rn *x, const struct fcred *c, const char *name,
		    const char *newname, unsigned flags)
{
	bool sdir = S_ISDIR(x->s->mode), ddir = x->d && S_ISDIR(x->d->mode);
	bool moved = x->odir != x->ndir;
	struct txn *t;
	int r =
	    txn_begin(f->fs, 5 * inode_write_max_blocks() + 3 * dir_max_blocks_per_op() + 8, &t);
	if (r)
		return r;
	size_t nl = strlen(name), nnl = strlen(newname);
	struct sfs_inode *wh = NULL;
	if (flags & RENAME_WHITEOUT) {
		uint32_t gid = (x->od->mode & S_ISGID) ? x->od->gid : c->c.gid;
		r = inode_create(f->fs, t, x->od, S_IFCHR, c->c.uid, gid, 0, &wh);
		if (!r)
			r = inode_write(f->fs, t, wh);
	}
	if (r) {
		/* no whiteout: nothing else changes */
	} else if (flags & RENAME_EXCHANGE) {
		r = dir_set(f->fs, t, x->od, name, nl, x->dst, x->dtype);
		if (!r)
			r = dir_set(f->fs, t, x->nd, newname, nnl, x->src, x->stype);
		if (!r && moved && sdir != ddir) {
			/* One directory crosses each way. */
			if (sdir) {
				x->od->nlink--;
				x->nd->nlink++;
			} else {
				x->nd->nlink--;
				x->od->nlink++;
			}
		}
		if (!r && moved && sdir)
			r = dir_set_parent(f->fs, t, x->s, x->ndir);
		if (!r && moved && ddir)
			r = dir_set_parent(f->fs, t, x->d, x->odir);
	} else {
		if (x->dst)
			r = dir_set(f->fs, t, x->nd, newname, nnl, x->src, x->stype);
		else
			r = dir_add(f->fs, t, x->nd, newname, nnl, x->src, x->stype);
		if (!r && wh) {
			r = dir_set(f->fs, t, x->od, name, nl, wh->ino, S_IFCHR >> 12);
		} else if (!r) {
			uint64_t gone;
			r = dir_remove(f->fs, t, x->od, name, nl, &gone);
		}
		if (!r && x->d) {
			if (ddir) {
				r = dir_destroy(f->fs, t, x->d);
				x->d->nlink = 0;
				x->nd->nlink--; /* the replaced directory's ".." */
			} else if (x->d->nlink > 0) {
				x->d->nlink--;
			}
		}
		if (!r && sdir && moved) {
			x->od->nlink--;
			x->nd->nlink++;
			r = dir_set_parent(f->fs, t, x->s, x->ndir);
		}
	}
	if (!r) { /* a failed rename leaves the times alone */
		struct timespec now;
		inode_now(&now);
		x->od->mtime = x->od->ctime = now;
		x->nd->mtime = x->nd->ctime = now;
		x->s->ctime = now;
		if (x->d)
			x->d->ctime = now;
	}
	if (!r)
		r = inode_write(f->fs, t, x->od);
	if (!r && moved)
		r = inode_write(f->fs, t, x->nd);
	if (!r)
		r = inode_write(f->fs, t, x->s);
	if (!r && x->d)
		r = inode_write(f->fs, t, x->d);
	r = fops_txn_finish(t, r);
	if (wh)
		inode_put(f->fs, wh);
	return r;
}

void fops_rename(fuse_req_t req, fuse_ino_t parent, const char *name, fuse_ino_t newparent,
		 const char *newname, unsigned int flags)
{
	struct sfs_fuse *f = fops_ctx(req);
	struct fcred c;
	fops_cred(req, &c);
	int r = 0;
	if (flags & ~(unsigned)(RENAME_NOREPLACE | RENAME_EXCHANGE | RENAME_WHITEOUT))
		r = -EINVAL;
	else if ((flags & RENAME_EXCHANGE) && (flags & (RENAME_NOREPLACE | RENAME_WHITEOUT)))
		r = -EINVAL;
	else if (strlen(name) > NAME_MAX || strlen(newname) > NAME_MAX)
		r = -ENAMETOOLONG;
	else if (!strcmp(name, ".") || !strcmp(name, "..") || !strcmp(newname, ".") ||
		 !strcmp(newname, ".."))
		r = -EBUSY;
	else if (f->readonly)
		r = -EROFS;
	if (r) {
		fuse_reply_err(req, -r);
		return;
	}
	struct rn x = {.odir = fops_ino(f, parent), .ndir = fops_ino(f, newparent)};
	bool cross = x.odir != x.ndir;
	if (cross)
		pthread_mutex_lock(&f->rename_mu);
	for (int tries = 0;; tries++) {
		uint64_t psrc = 0, pdst = 0;
		if (cross) {
			r = subtree_check(f, &x, name, newname, flags, &psrc, &pdst);
			if (r)
				goto out;
		}
		r = rn_lock(f, &x, name, newname);
		if (r)
			goto out;
		/* The names still lead where the subtree check looked. */
		if (!cross || (x.src == psrc && x.dst == pdst) || tries > 100)
			break;
		rn_release(f, &x);
	}
	r = fops_may(f, x.od, &c, PERM_X);
	if (!r)
		r = fops_may(f, x.nd, &c, PERM_X);
	if (!r)
		r = fops_iget(f, x.src, &x.s);
	if (!r && x.dst)
		r = fops_iget(f, x.dst, &x.d);
	if (r)
		goto rel;
	if (x.src == x.dst) {
		/* Two names of one inode: POSIX says do nothing. */
		r = 0;
		goto rel;
	}
	r = rn_checks(f, &x, &c, flags);
	if (r)
		goto rel;
	r = rn_apply(f, &x, &c, name, newname, flags);
	/* ENOSPC there changed nothing (else the journal aborted and the sync
	 * fails): blocks freed by transactions not yet committed become free
	 * when they commit (as in create). */
	if (r == -ENOSPC && jnl_sync(f->fs) == 0)
		r = rn_apply(f, &x, &c, name, newname, flags);
rel:
	rn_release(f, &x);
out:
	if (cross)
		pthread_mutex_unlock(&f->rename_mu);
	fuse_reply_err(req, -r);
}

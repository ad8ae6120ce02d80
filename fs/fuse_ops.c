/* fuse_ops: the sanfs FUSE low-level operations — context, inode table,
 * locking, credentials, attributes (see fuse_ops.h and fuse_mount.h). */
#include "fs/fuse_ops.h"

#include <assert.h>
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "common/log.h"
#include "fs/bcache.h"
#include "fs/sfs.h"
#include "fs/xattr.h"

/* ---- ids, credentials ---- */

uint64_t fops_ino(struct sfs_fuse *f, fuse_ino_t ino)
{
	return ino == FUSE_ROOT_ID ? f->root_ino : (uint64_t)ino;
}

fuse_ino_t fops_fuse_ino(struct sfs_fuse *f, uint64_t ino)
{
	return ino == f->root_ino ? FUSE_ROOT_ID : (fuse_ino_t)ino;
}

void fops_cred(fuse_req_t req, struct fcred *c)
{
	const struct fuse_ctx *x = fuse_req_ctx(req);
	c->c.uid = x->uid;
	c->c.gid = x->gid;
	c->c.umask = x->umask;
	c->c.ngroups = 0;
	c->c.groups = c->groups;
	if (x->uid != 0) {
		int n = fuse_req_getgroups(req, FOPS_MAX_GROUPS, c->groups);
		if (n > 0)
			c->c.ngroups = n > FOPS_MAX_GROUPS ? FOPS_MAX_GROUPS : (unsigned)n;
	}
}

/* ---- lock sets ---- */

void ls_init(struct lockset *ls)
{
	ls->n = 0;
}

void ls_add(struct lockset *ls, uint64_t ino, enum lcl_mode mode)
{
	for (unsigned i = 0; i < ls->n; i++) {
		if (ls->ino[i] == ino) {
			if (mode > ls->mode[i])
				ls->mode[i] = mode;
			return;
		}
	}
	assert(ls->n < 4);
	unsigned i = ls->n++;
	/* Keep ascending order: DESIGN lock order, inodes by number. */
	while (i > 0 && ls->ino[i - 1] > ino) {
		ls->ino[i] = ls->ino[i - 1];
		ls->mode[i] = ls->mode[i - 1];
		i--;
	}
	ls->ino[i] = ino;
	ls->mode[i] = mode;
	for (unsigned k = 0; k < ls->n; k++)
		ls->h[k] = NULL;
}

int ls_lock(struct sfs_fuse *f, struct lockset *ls)
{
	for (unsigned i = 0; i < ls->n; i++) {
		int r = lcl_lock(f->lcl, inode_res(ls->ino[i]), ls->mode[i], &ls->h[i]);
		if (r) {
			log_error("fuse", "lock of inode %llu failed: %s",
				  (unsigned long long)ls->ino[i], strerror(-r));
			while (i-- > 0) {
				lcl_unlock(ls->h[i]);
				ls->h[i] = NULL;
			}
			return r;
		}
	}
	return 0;
}

int ls_lock_more(struct sfs_fuse *f, struct lockset *ls, uint64_t ino, enum lcl_mode mode)
{
	for (unsigned i = 0; i < ls->n; i++)
		if (ls->ino[i] == ino)
			return ls->mode[i] >= mode ? 0 : -EAGAIN;
	assert(ls->n < 4);
	struct lcl_handle *h;
	bool in_order = ls->n == 0 || ls->ino[ls->n - 1] < ino;
	int r = in_order ? lcl_lock(f->lcl, inode_res(ino), mode, &h)
			 : lcl_trylock(f->lcl, inode_res(ino), mode, &h);
	if (r)
		return r;
	/* Insert keeping the order (handles move along). */
	unsigned i = ls->n++;
	while (i > 0 && ls->ino[i - 1] > ino) {
		ls->ino[i] = ls->ino[i - 1];
		ls->mode[i] = ls->mode[i - 1];
		ls->h[i] = ls->h[i - 1];
		i--;
	}
	ls->ino[i] = ino;
	ls->mode[i] = mode;
	ls->h[i] = h;
	return 0;
}

void ls_unlock(struct lockset *ls)
{
	for (unsigned i = ls->n; i-- > 0;) {
		if (ls->h[i])
			lcl_unlock(ls->h[i]);
		ls->h[i] = NULL;
	}
}

int fops_iget(struct sfs_fuse *f, uint64_t ino, struct sfs_inode **out)
{
	struct sfs_inode *ip;
	int r = inode_get(f->fs, ino, &ip);
	if (r)
		return r;
	r = inode_revalidate(f->fs, ip);
	if (r) {
		inode_put(f->fs, ip);
		return r;
	}
	*out = ip;
	return 0;
}

int fops_lock_one(struct sfs_fuse *f, uint64_t ino, enum lcl_mode mode, struct lockset *ls,
		  struct sfs_inode **ip)
{
	ls_init(ls);
	ls_add(ls, ino, mode);
	int r = ls_lock(f, ls);
	if (r)
		return r;
	r = fops_iget(f, ino, ip);
	if (r)
		ls_unlock(ls);
	return r;
}

void fops_unlock_one(struct sfs_fuse *f, struct lockset *ls, struct sfs_inode *ip)
{
	/* The lock goes first: inode_put is only called with no inode lock
	 * held (fuse_ops.h). */
	ls_unlock(ls);
	inode_put(f->fs, ip);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

#define PREFETCH_BATCH 64

void fops_prefetch_inodes(struct sfs_fuse *f, uint64_t *ino, size_t n)
{
	struct sfs *fs = f->fs;
	qsort(ino, n, sizeof(*ino), cmp_u64);
	size_t i = 0;
	while (i < n) {
		uint64_t blk[PREFETCH_BATCH], res[PREFETCH_BATCH];
		struct lcl_handle *h[PREFETCH_BATCH];
		size_t m = 0;
		for (; i < n && m < PREFETCH_BATCH; i++) {
			if ((m && ino[i] == blk[m - 1]) || ino[i] < fs->sb.ag_start ||
			    ino[i] >= fs->sb.blocks || inode_cached(fs, ino[i]) ||
			    bc_cached(fs, ino[i]))
				continue;
			res[m] = inode_res(ino[i]);
			if (lcl_lock(f->lcl, res[m], LCL_PR, &h[m]))
				break;
			blk[m++] = ino[i];
		}
		bool stopped = i < n && m < PREFETCH_BATCH;
		if (m > 1)
			bc_prefetch(fs, blk, res, m, SFS_BT_INODE);
		while (m > 0)
			lcl_unlock(h[--m]);
		if (stopped)
			break;
	}
}

/* ---- node table ---- */

static struct fnode **node_slot(struct sfs_fuse *f, uint64_t ino)
{
	struct fnode **pp = &f->nodes[(ino * 0x9E3779B97F4A7C15ull) >> 52];
	while (*pp && (*pp)->ino != ino)
		pp = &(*pp)->next;
	return pp;
}

/* Remember that the kernel caches name in parent for n (a dentry), so that
 * losing parent's lock can invalidate it. A few names per inode suffice:
 * more hard links than that are only invalidated through their inode. */
static void node_add_name(struct fnode *n, uint64_t parent, const char *name)
{
	size_t len = strlen(name);
	unsigned count = 0;
	for (struct fname *x = n->names; x; x = x->next, count++)
		if (x->parent == parent && x->len == len && !memcmp(x->name, name, len))
			return;
	if (count >= FOPS_MAX_NAMES)
		return;
	struct fname *x = malloc(sizeof(*x) + len + 1);
	if (!x)
		return;
	x->parent = parent;
	x->len = (uint16_t)len;
	memcpy(x->name, name, len + 1);
	x->next = n->names;
	n->names = x;
}

static void node_free(struct fnode *n)
{
	while (n->names) {
		struct fname *x = n->names;
		n->names = x->next;
		free(x);
	}
	free(n);
}

void fops_entry(struct sfs_fuse *f, uint64_t parent, const char *name, struct sfs_inode *ip,
		struct fuse_entry_param *e)
{
	memset(e, 0, sizeof(*e));
	pthread_mutex_lock(&f->nodes_lock);
	struct fnode **pp = node_slot(f, ip->ino);
	if (!*pp) {
		struct fnode *n = calloc(1, sizeof(*n));
		if (n) {
			n->ino = ip->ino;
			n->ip = ip;
			inode_ref(f->fs, ip);
			*pp = n;
		}
	}
	if (*pp) {
		(*pp)->nlookup++;
		if (name && strcmp(name, ".") && strcmp(name, ".."))
			node_add_name(*pp, parent, name);
	}
	pthread_mutex_unlock(&f->nodes_lock);
	e->ino = fops_fuse_ino(f, ip->ino);
	e->generation = ip->generation;
	inode_stat(ip, &e->attr);
	e->attr_timeout = FMNT_ATTR_TIMEOUT;
	e->entry_timeout = FMNT_ENTRY_TIMEOUT;
}

void fops_unref(struct sfs_fuse *f, uint64_t ino, uint64_t n)
{
	struct sfs_inode *put = NULL;
	pthread_mutex_lock(&f->nodes_lock);
	struct fnode **pp = node_slot(f, ino);
	struct fnode *nd = *pp;
	if (nd) {
		nd->nlookup = nd->nlookup > n ? nd->nlookup - n : 0;
		if (nd->nlookup == 0) {
			*pp = nd->next;
			put = nd->ip;
			node_free(nd);
		}
	}
	pthread_mutex_unlock(&f->nodes_lock);
	/* No inode lock is held here: the last put of an unlinked inode frees it. */
	if (put)
		inode_put(f->fs, put);
}

/* ---- permissions ---- */

int fops_perm_obj(struct sfs_fuse *f, struct sfs_inode *ip, struct fperm *p)
{
	p->heap = NULL;
	p->o = (struct perm_obj){.mode = ip->mode, .uid = ip->uid, .gid = ip->gid};
	if (!f->acl)
		return 0;
	size_t len = 0;
	int n = xattr_get(f->fs, ip, PERM_XATTR_ACL_ACCESS, p->buf, sizeof(p->buf), &len);
	if (!n)
		n = (int)len;
	if (n == -ERANGE) {
		n = xattr_get(f->fs, ip, PERM_XATTR_ACL_ACCESS, NULL, 0, &len);
		if (!n && len > 0) {
			p->heap = malloc(len);
			if (!p->heap)
				return -ENOMEM;
			n = xattr_get(f->fs, ip, PERM_XATTR_ACL_ACCESS, p->heap, len, &len);
		}
		if (!n)
			n = (int)len;
		if (n < 0)
			return n == -ENODATA ? 0 : n;
		p->o.acl = p->heap;
		p->o.acl_len = (size_t)n;
		return 0;
	}
	if (n == -ENODATA)
		return 0;
	if (n < 0)
		return n;
	p->o.acl = p->buf;
	p->o.acl_len = (size_t)n;
	return 0;
}

void fops_perm_done(struct fperm *p)
{
	free(p->heap);
	p->heap = NULL;
}

int fops_may(struct sfs_fuse *f, struct sfs_inode *ip, const struct fcred *c, int mask)
{
	if (perm_is_root(&c->c) && !(mask & PERM_X))
		return 0;
	struct fperm p;
	int r = fops_perm_obj(f, ip, &p);
	if (!r)
		r = perm_check(&p.o, &c->c, mask);
	fops_perm_done(&p);
	if (r == -EINVAL) {
		log_error("fuse", "inode %llu: malformed access ACL", (unsigned long long)ip->ino);
		r = -EIO;
	}
	return r;
}

int fops_may_delete(struct sfs_fuse *f, struct sfs_inode *dir, struct sfs_inode *victim,
		    const struct fcred *c)
{
	int r = fops_may(f, dir, c, PERM_W | PERM_X);
	if (r)
		return r;
	struct perm_obj o = {.mode = dir->mode, .uid = dir->uid, .gid = dir->gid};
	/* perm_may_delete repeats the mode check without the ACL: only the
	 * sticky rule matters here, so hand it a directory that grants. */
	o.mode |= 0777;
	return perm_may_delete(&o, victim->uid, &c->c);
}

int fops_txn_finish(struct txn *t, int r)
{
	if (r) {
		txn_abort(t);
		return r;
	}
	return txn_end(t, NULL);
}

/* ---- attributes ---- */

void fops_reply_attr(fuse_req_t req, struct sfs_fuse *f, struct sfs_inode *ip)
{
	struct stat st;
	inode_stat(ip, &st);
	(void)f;
	fuse_reply_attr(req, &st, FMNT_ATTR_TIMEOUT);
}

void fops_touch(struct sfs_inode *ip, bool mtime, bool ctime)
{
	struct timespec now;
	inode_now(&now);
	if (mtime)
		ip->mtime = now;
	if (ctime)
		ip->ctime = now;
}

/* ---- Access times -------------------------------------------------------- */

#define RELATIME_MAX_AGE_S (24 * 3600)

static bool ts_le(const struct timespec *a, const struct timespec *b)
{
	return a->tv_sec < b->tv_sec || (a->tv_sec == b->tv_sec && a->tv_nsec <= b->tv_nsec);
}

bool fops_atime_due(const struct sfs_fuse *f, const struct sfs_inode *ip)
{
	if (f->readonly || f->atime == SFS_NOATIME || (f->nodiratime && S_ISDIR(ip->mode)))
		return false;
	if (f->atime == SFS_STRICTATIME)
		return true;
	if (ts_le(&ip->atime, &ip->mtime) || ts_le(&ip->atime, &ip->ctime))
		return true;
	/* Every read gets here once atime is current: read the clock last. */
	struct timespec now;
	inode_now(&now);
	return now.tv_sec - ip->atime.tv_sec >= RELATIME_MAX_AGE_S;
}

void fops_atime_update(struct sfs_fuse *f, uint64_t ino)
{
	struct lockset ls;
	struct sfs_inode *ip;
	int r = fops_lock_one(f, ino, LCL_EX, &ls, &ip);
	if (r)
		return; /* gone since the read: nothing to record */
	/* A removed directory is not written for its atime (an open file
	 * unlinked is: it still holds data). */
	bool dead_dir = S_ISDIR(ip->mode) && ip->nlink == 0;
	if (!dead_dir && fops_atime_due(f, ip)) {
		struct txn *t;
		r = txn_begin(f->fs, inode_write_max_blocks(), &t);
		if (!r) {
			inode_now(&ip->atime);
			r = fops_txn_finish(t, inode_write(f->fs, t, ip));
		}
	}
	fops_unlock_one(f, &ls, ip);
	if (r && r != -EROFS)
		log_warn("fuse", "inode %llu: atime not updated: %s", (unsigned long long)ino,
			 strerror(-r));
}

static void op_init(void *userdata, struct fuse_conn_info *conn)
{
	struct sfs_fuse *f = userdata;
	fmnt_conn_setup(conn, f->acl);
}

static void op_destroy(void *userdata)
{
	struct sfs_fuse *f = userdata;
	int r = jnl_sync(f->fs);
	if (r)
		log_error("fuse", "final journal sync failed: %s", strerror(-r));
}

static void op_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	struct sfs_fuse *f = fops_ctx(req);
	fops_unref(f, fops_ino(f, ino), nlookup);
	fuse_reply_none(req);
}

static void op_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *forgets)
{
	struct sfs_fuse *f = fops_ctx(req);
	for (size_t i = 0; i < count; i++)
		fops_unref(f, fops_ino(f, forgets[i].ino), forgets[i].nlookup);
	fuse_reply_none(req);
}

static void op_getattr(fuse_req_t req, fuse_ino_t fino, struct fuse_file_info *fi)
{
	(void)fi;
	struct sfs_fuse *f = fops_ctx(req);
	struct lockset ls;
	struct sfs_inode *ip;
	int r = fops_lock_one(f, fops_ino(f, fino), LCL_PR, &ls, &ip);
	if (r) {
		fuse_reply_err(req, -r);
		return;
	}
	struct stat st;
	inode_stat(ip, &st);
	fops_unlock_one(f, &ls, ip);
	fuse_reply_attr(req, &st, FMNT_ATTR_TIMEOUT);
}

/* setattr: POSIX rules for who may change what (perm.h), then one
 * transaction for the inode (truncate runs its own first). */
static int do_setattr(struct sfs_fuse *f, fuse_req_t req, struct sfs_inode *ip,
		      const struct stat *attr, int to_set, struct fuse_file_info *fi)
{
	struct fcred c;
	fops_cred(req, &c);
	struct perm_obj o = {.mode = ip->mode, .uid = ip->uid, .gid = ip->gid};
	int r;
	if (f->readonly)
		return -EROFS;
	uint32_t mode = ip->mode;
	uint32_t uid = (to_set & FUSE_SET_ATTR_UID) ? attr->st_uid : UINT32_MAX;
	uint32_t gid = (to_set & FUSE_SET_ATTR_GID) ? attr->st_gid : UINT32_MAX;
	if (to_set & FUSE_SET_ATTR_MODE) {
		mode = (ip->mode & S_IFMT) | (attr->st_mode & 07777);
		/* A kernel without FUSE_HANDLE_KILLPRIV_V2 clears set-id bits
		 * after a write or truncate by sending a mode change as the
		 * writer (its chmod by a non-owner never gets here: it checked
		 * ownership itself). */
		bool kill_priv = (mode & ~(uint32_t)(S_ISUID | S_ISGID)) ==
				     (ip->mode & ~(uint32_t)(S_ISUID | S_ISGID)) &&
				 (mode & (S_ISUID | S_ISGID)) != (ip->mode & (S_ISUID | S_ISGID)) &&
				 !(mode & ~ip->mode);
		if (!kill_priv) {
			r = perm_chmod(&o, &c.c, &mode);
			if (r)
				return r;
		}
	}
	if (to_set & (FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID)) {
		r = perm_chown(&o, &c.c, uid, gid);
		if (r)
			return r;
	}
	if (to_set & FUSE_SET_ATTR_SIZE) {
		if (S_ISDIR(ip->mode))
			return -EISDIR;
		if (!S_ISREG(ip->mode))
			return -EINVAL;
		if (!fi) {
			r = fops_may(f, ip, &c, PERM_W);
			if (r)
				return r;
		}
		if ((uint64_t)attr->st_size > SFS_MAX_FILE_SIZE)
			return -EFBIG;
	}
	int times = to_set & (FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_MTIME | FUSE_SET_ATTR_ATIME_NOW |
			      FUSE_SET_ATTR_MTIME_NOW);
	if (times) {
		bool explicit_times =
		    ((to_set & FUSE_SET_ATTR_ATIME) && !(to_set & FUSE_SET_ATTR_ATIME_NOW)) ||
		    ((to_set & FUSE_SET_ATTR_MTIME) && !(to_set & FUSE_SET_ATTR_MTIME_NOW));
		if (!perm_is_root(&c.c) && c.c.uid != ip->uid) {
			if (explicit_times)
				return -EPERM;
			if (fops_may(f, ip, &c, PERM_W))
				return -EACCES;
		}
	}

	if (to_set & FUSE_SET_ATTR_SIZE) {
		r = fops_truncate(f, ip, (uint64_t)attr->st_size);
		if (r)
			return r;
		if (!(to_set & FUSE_SET_ATTR_MODE) && fops_req_kills_suidgid(&c))
			ip->mode = perm_mode_kill_suidgid(ip->mode, ip->gid, &c.c);
	}
	if ((to_set & FUSE_SET_ATTR_MODE) && f->acl) {
		r = fops_acl_chmod(f, ip, mode);
		if (r)
			return r;
	}
	struct txn *t;
	r = txn_begin(f->fs, inode_write_max_blocks(), &t);
	if (r)
		return r;
	struct timespec now;
	inode_now(&now);
	if (to_set & FUSE_SET_ATTR_MODE)
		ip->mode = mode;
	if (to_set & (FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID)) {
		if (uid != UINT32_MAX)
			ip->uid = uid;
		if (gid != UINT32_MAX)
			ip->gid = gid;
		/* Linux clears set-id bits of a non-directory on every chown,
		 * to the same owner and by root too (unless the same request
		 * sets the mode); under FUSE_HANDLE_KILLPRIV_V2 the kernel
		 * leaves that to sanfs. */
		if (!(to_set & FUSE_SET_ATTR_MODE))
			ip->mode = perm_mode_after_chown(ip->mode);
	}
	if (to_set & FUSE_SET_ATTR_SIZE)
		ip->mtime = now;
	if (to_set & FUSE_SET_ATTR_ATIME_NOW)
		ip->atime = now;
	else if (to_set & FUSE_SET_ATTR_ATIME)
		ip->atime = attr->st_atim;
	if (to_set & FUSE_SET_ATTR_MTIME_NOW)
		ip->mtime = now;
	else if (to_set & FUSE_SET_ATTR_MTIME)
		ip->mtime = attr->st_mtim;
	ip->ctime = now;
#ifdef FUSE_SET_ATTR_CTIME
	if (to_set & FUSE_SET_ATTR_CTIME)
		ip->ctime = attr->st_ctim;
#endif
	r = inode_write(f->fs, t, ip);
	return fops_txn_finish(t, r);
}

static void op_setattr(fuse_req_t req, fuse_ino_t fino, struct stat *attr, int to_set,
		       struct fuse_file_info *fi)
{
	struct sfs_fuse *f = fops_ctx(req);
	struct lockset ls;
	struct sfs_inode *ip;
	int r = fops_lock_one(f, fops_ino(f, fino), LCL_EX, &ls, &ip);
	if (r) {
		fuse_reply_err(req, -r);
		return;
	}
	r = do_setattr(f, req, ip, attr, to_set, fi);
	struct stat st;
	inode_stat(ip, &st);
	fops_unlock_one(f, &ls, ip);
	if (r)
		fuse_reply_err(req, -r);
	else
		fuse_reply_attr(req, &st, FMNT_ATTR_TIMEOUT);
}

static void op_statfs(fuse_req_t req, fuse_ino_t ino)
{
	(void)ino;
	struct sfs_fuse *f = fops_ctx(req);
	struct statvfs st;
	int r = sfs_statfs(f->fs, &st);
	if (r)
		fuse_reply_err(req, -r);
	else
		fuse_reply_statfs(req, &st);
}

static void op_access(fuse_req_t req, fuse_ino_t fino, int mask)
{
	struct sfs_fuse *f = fops_ctx(req);
	struct fcred c;
	fops_cred(req, &c);
	struct lockset ls;
	struct sfs_inode *ip;
	int r = fops_lock_one(f, fops_ino(f, fino), LCL_PR, &ls, &ip);
	if (!r) {
		int m = (mask & R_OK ? PERM_R : 0) | (mask & W_OK ? PERM_W : 0) |
			(mask & X_OK ? PERM_X : 0);
		if ((mask & W_OK) && f->readonly)
			r = -EROFS;
		else if (m)
			r = fops_may(f, ip, &c, m);
		fops_unlock_one(f, &ls, ip);
	}
	fuse_reply_err(req, -r);
}

static const struct fuse_lowlevel_ops sfs_fuse_ops = {
    .init = op_init,
    .destroy = op_destroy,
    .lookup = fops_lookup,
    .forget = op_forget,
    .forget_multi = op_forget_multi,
    .getattr = op_getattr,
    .setattr = op_setattr,
    .readlink = fops_readlink,
    .mknod = fops_mknod,
    .mkdir = fops_mkdir,
    .unlink = fops_unlink,
    .rmdir = fops_rmdir,
    .symlink = fops_symlink,
    .rename = fops_rename,
    .link = fops_link,
    .open = fops_open,
    .read = fops_read,
    .write = fops_write,
    .flush = fops_flush,
    .release = fops_release,
    .fsync = fops_fsync,
    .opendir = fops_opendir,
    .readdir = fops_readdir,
    .readdirplus = fops_readdirplus,
    .releasedir = fops_releasedir,
    .fsyncdir = fops_fsyncdir,
    .statfs = op_statfs,
    .setxattr = fops_setxattr,
    .getxattr = fops_getxattr,
    .listxattr = fops_listxattr,
    .removexattr = fops_removexattr,
    .access = op_access,
    .create = fops_create,
    .fallocate = fops_fallocate,
    .lseek = fops_lseek,
    .copy_file_range = fops_copy_file_range,
};

/* ---- the mount ---- */

static void *notifier_main(void *arg);

int sfs_fuse_start(struct sfs *fs, struct lcl *lcl, const char *mountpoint,
		   const struct fmnt_opts *o, const struct sfs_fuse_opts *so, struct sfs_fuse **out)
{
	struct sfs_fuse *f = calloc(1, sizeof(*f));
	if (!f)
		return -ENOMEM;
	f->fs = fs;
	f->lcl = lcl;
	f->acl = so->acl;
	f->atime = so->atime;
	f->nodiratime = so->nodiratime;
	f->readonly = o->readonly;
	f->root_ino = sfs_root_ino(fs);
	pthread_mutex_init(&f->nodes_lock, NULL);
	pthread_mutex_init(&f->rename_mu, NULL);
	/* The root is known to the kernel from the start and never forgotten:
	 * its node entry carries fsync's transaction id like any other. */
	struct lockset ls;
	ls_init(&ls);
	ls_add(&ls, f->root_ino, LCL_PR);
	int r = ls_lock(f, &ls);
	struct sfs_inode *root = NULL;
	if (!r) {
		r = fops_iget(f, f->root_ino, &root);
		ls_unlock(&ls);
	}
	if (r) {
		log_error("fuse", "cannot read the root inode %llu: %s",
			  (unsigned long long)f->root_ino, strerror(-r));
		goto fail;
	}
	if (!S_ISDIR(root->mode)) {
		log_error("fuse", "root inode %llu is not a directory",
			  (unsigned long long)f->root_ino);
		inode_put(fs, root);
		r = -EIO;
		goto fail;
	}
	struct fuse_entry_param e;
	fops_entry(f, 0, NULL, root, &e);
	inode_put(fs, root);
	r = fmnt_create(mountpoint, o, &sfs_fuse_ops, f, &f->mnt);
	if (r) {
		fops_unref(f, f->root_ino, UINT64_MAX);
		goto fail;
	}
	pthread_mutex_init(&f->q_mu, NULL);
	pthread_cond_init(&f->q_cv, NULL);
	r = pthread_create(&f->notifier, NULL, notifier_main, f);
	if (r) {
		log_warn("fuse",
			 "no invalidation thread (%s): lock losses will not "
			 "reach the kernel caches",
			 strerror(r));
	} else {
		f->notifier_running = true;
	}
	fs->user = f;
	*out = f;
	return 0;
fail:
	pthread_mutex_destroy(&f->rename_mu);
	pthread_mutex_destroy(&f->nodes_lock);
	free(f);
	return r;
}

int sfs_fuse_serve(struct sfs_fuse *f)
{
	return fmnt_loop(f->mnt);
}

int sfs_fuse_set_readonly(struct sfs_fuse *f, bool ro)
{
	if (!ro && f->fs->readonly)
		return -EROFS;
	/* From here no handle begins (txn_begin: EROFS); the first pass
	 * commits and writes home those that did, the second one a handle
	 * that began just before the flag and joined after the first pass
	 * took its transaction. */
	atomic_store(&f->fs->frozen, ro);
	if (atomic_exchange(&f->readonly, ro) == ro || !ro)
		return 0;
	int r = jnl_checkpoint_all(f->fs);
	return r ? r : jnl_checkpoint_all(f->fs);
}

void sfs_fuse_stop(struct sfs_fuse *f)
{
	fmnt_exit(f->mnt);
}

void sfs_fuse_free(struct sfs_fuse *f)
{
	if (!f)
		return;
	f->fs->user = NULL;
	if (f->notifier_running) {
		pthread_mutex_lock(&f->q_mu);
		f->notifier_stop = true;
		f->q_len = 0; /* the kernel is about to forget everything */
		pthread_cond_signal(&f->q_cv);
		pthread_mutex_unlock(&f->q_mu);
		pthread_join(f->notifier, NULL);
	}
	pthread_mutex_destroy(&f->q_mu);
	pthread_cond_destroy(&f->q_cv);
	free(f->q);
	fmnt_destroy(f->mnt);
	/* The kernel is gone: drop the references it held. */
	for (unsigned b = 0; b < FOPS_NODE_BUCKETS; b++) {
		while (f->nodes[b]) {
			struct fnode *n = f->nodes[b];
			f->nodes[b] = n->next;
			inode_put(f->fs, n->ip);
			node_free(n);
		}
	}
	pthread_mutex_destroy(&f->nodes_lock);
	pthread_mutex_destroy(&f->rename_mu);
	free(f);
}

void sfs_fuse_inval_res(void *arg, uint64_t res)
{
	struct sfs_fuse *f = arg;
	if (LCL_RES_TYPE(res) != LCL_T_INODE)
		return;
	uint64_t ino = LCL_RES_NUM(res);
	pthread_mutex_lock(&f->q_mu);
	bool queued = false;
	for (size_t i = 0; i < f->q_len && !queued; i++)
		queued = f->q[i] == ino;
	if (!queued) {
		if (f->q_len == f->q_cap) {
			size_t cap = f->q_cap ? 2 * f->q_cap : 64;
			uint64_t *q = realloc(f->q, cap * sizeof(*q));
			if (q) {
				f->q = q;
				f->q_cap = cap;
			}
		}
		if (f->q_len < f->q_cap)
			f->q[f->q_len++] = ino;
		else
			log_error("fuse", "out of memory queueing the invalidation of inode %llu",
				  (unsigned long long)ino);
	}
	pthread_cond_signal(&f->q_cv);
	pthread_mutex_unlock(&f->q_mu);
}

struct inval_name {
	uint64_t parent;
	char name[256];
};

/* Drop the kernel's attributes and data of ino and every dentry it caches
 * in ino (when ino is a directory). */
static void inval_one(struct sfs_fuse *f, uint64_t ino)
{
	int r = fmnt_inval_inode(f->mnt, fops_fuse_ino(f, ino));
	if (r)
		log_warn("fuse", "invalidating the kernel cache of inode %llu: %s",
			 (unsigned long long)ino, strerror(-r));
	size_t n = 0, cap = 0;
	struct inval_name *v = NULL;
	pthread_mutex_lock(&f->nodes_lock);
	for (unsigned b = 0; b < FOPS_NODE_BUCKETS; b++) {
		for (struct fnode *nd = f->nodes[b]; nd; nd = nd->next) {
			for (struct fname *x = nd->names; x; x = x->next) {
				if (x->parent != ino)
					continue;
				if (n == cap) {
					size_t nc = cap ? 2 * cap : 16;
					struct inval_name *nv = realloc(v, nc * sizeof(*nv));
					if (!nv)
						continue;
					v = nv;
					cap = nc;
				}
				v[n].parent = x->parent;
				memcpy(v[n].name, x->name, (size_t)x->len + 1);
				n++;
			}
		}
	}
	pthread_mutex_unlock(&f->nodes_lock);
	for (size_t i = 0; i < n; i++) {
		r = fmnt_inval_entry(f->mnt, fops_fuse_ino(f, v[i].parent), v[i].name,
				     strlen(v[i].name));
		if (r)
			log_warn("fuse", "invalidating entry %s of inode %llu: %s", v[i].name,
				 (unsigned long long)v[i].parent, strerror(-r));
	}
	free(v);
}

static void *notifier_main(void *arg)
{
	struct sfs_fuse *f = arg;
	pthread_mutex_lock(&f->q_mu);
	for (;;) {
		while (!f->q_len && !f->notifier_stop)
			pthread_cond_wait(&f->q_cv, &f->q_mu);
		if (!f->q_len && f->notifier_stop)
			break;
		uint64_t ino = f->q[--f->q_len];
		pthread_mutex_unlock(&f->q_mu);
		inval_one(f, ino);
		pthread_mutex_lock(&f->q_mu);
	}
	pthread_mutex_unlock(&f->q_mu);
	return NULL;
}

/* ---- hooks of the other fs/ parts for sfs_open ---- */

static void hook_invalidate(struct sfs *fs, uint64_t res)
{
	if (LCL_RES_TYPE(res) == LCL_T_INODE)
		inode_invalidate(fs, LCL_RES_NUM(res));
	if (fs->user)
		sfs_fuse_inval_res(fs->user, res);
}

void sfs_fuse_fs_ops(struct sfs_ops *ops)
{
	memset(ops, 0, sizeof(*ops));
	inode_sfs_ops(ops);
	ops->invalidate = hook_invalidate;
}

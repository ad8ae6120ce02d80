/* fuse_ops_xattr: extended attributes (user., trusted., security.) and POSIX
 * ACLs (system.posix_acl_access / _default) with the Linux rules:
 *   trusted.*  root only (others: EPERM to change, invisible to read/list)
 *   user.*     regular files and directories only; read/write permission;
 *              on a sticky directory only its owner may change them
 *   security.* write permission to change
 *   ACLs       anyone may read; only the owner (or root) may set; the access
 *              ACL is kept in step with the mode bits; a default ACL only on
 *              directories; new inodes inherit (perm_acl_create_masq). */
#include <errno.h>
#include <linux/limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/xattr.h>

#include "common/log.h"
#include "fs/fuse_ops.h"
#include "fs/sfs.h"
#include "fs/xattr.h"

enum xns { NS_USER, NS_TRUSTED, NS_SECURITY, NS_ACL_ACCESS, NS_ACL_DEFAULT, NS_BAD, NS_EMPTY };

static enum xns name_ns(const char *name)
{
	/* A known prefix with nothing after it is an invalid name. */
	if (!strcmp(name, "user.") || !strcmp(name, "trusted.") || !strcmp(name, "security."))
		return NS_EMPTY;
	if (!strncmp(name, "user.", 5) && name[5])
		return NS_USER;
	if (!strncmp(name, "trusted.", 8) && name[8])
		return NS_TRUSTED;
	if (!strncmp(name, "security.", 9) && name[9])
		return NS_SECURITY;
	if (!strcmp(name, PERM_XATTR_ACL_ACCESS))
		return NS_ACL_ACCESS;
	if (!strcmp(name, PERM_XATTR_ACL_DEFAULT))
		return NS_ACL_DEFAULT;
	return NS_BAD;
}

/* The error for a name no namespace takes: -EOPNOTSUPP for an unknown
 * prefix, -EINVAL for a bare known one; 0 for a good name. */
static int ns_err(enum xns ns)
{
	return ns == NS_BAD ? -EOPNOTSUPP : ns == NS_EMPTY ? -EINVAL : 0;
}

/* Read attribute name of ip into buf (size bytes): its length, or -errno
 * (-ENODATA absent, -ERANGE too small). size 0: the length only. */
static int xget(struct sfs_fuse *f, struct sfs_inode *ip, const char *name, void *buf, size_t size)
{
	size_t len = 0;
	int r = xattr_get(f->fs, ip, name, buf, size, &len);
	return r ? r : (int)len;
}

/* Who may read (write == false) or change attribute name of ip. */
static int xattr_perm(struct sfs_fuse *f, struct sfs_inode *ip, const struct fcred *c, enum xns ns,
		      bool write)
{
	bool root = perm_is_root(&c->c);
	switch (ns) {
	case NS_TRUSTED:
		return root ? 0 : (write ? -EPERM : -ENODATA);
	case NS_USER:
		if (!S_ISREG(ip->mode) && !S_ISDIR(ip->mode))
			return write ? -EPERM : -ENODATA;
		if (write && S_ISDIR(ip->mode) && (ip->mode & S_ISVTX) && !root &&
		    c->c.uid != ip->uid)
			return -EPERM;
		return fops_may(f, ip, c, write ? PERM_W : PERM_R);
	case NS_SECURITY:
		return write ? fops_may(f, ip, c, PERM_W) : 0;
	case NS_ACL_ACCESS:
	case NS_ACL_DEFAULT:
		if (!f->acl)
			return -EOPNOTSUPP;
		if (write && !root && c->c.uid != ip->uid)
			return -EPERM;
		return 0;
	default:
		return -EOPNOTSUPP;
	}
}

/* Set an ACL xattr: validate, keep the mode in step (an access ACL that
 * says no more than the mode is not stored), refuse a default ACL on a
 * non-directory. */
static int set_acl(struct sfs_fuse *f, struct sfs_inode *ip, const struct fcred *c, enum xns ns,
		   const char *value, size_t size, int flags)
{
	const char *name = ns == NS_ACL_ACCESS ? PERM_XATTR_ACL_ACCESS : PERM_XATTR_ACL_DEFAULT;
	int n = perm_acl_valid(value, size);
	if (n < 0)
		return -EINVAL;
	if (ns == NS_ACL_DEFAULT) {
		if (!S_ISDIR(ip->mode))
			return -EACCES;
		if (n == 0) {
			int r = xattr_remove(f->fs, ip, name);
			return r == -ENODATA ? 0 : r;
		}
		return xattr_set(f->fs, ip, name, value, size, flags);
	}
	if (n == 0)
		return -EINVAL;
	uint32_t perm;
	int equiv = perm_acl_equiv_mode(value, size, &perm);
	if (equiv < 0)
		return equiv;
	uint32_t mode = (ip->mode & ~0777u) | perm;
	if (!perm_is_root(&c->c) && !perm_in_group(&c->c, ip->gid))
		mode &= ~(uint32_t)S_ISGID;
	int r;
	if (equiv) {
		r = xattr_remove(f->fs, ip, name);
		if (r == -ENODATA)
			r = (flags & XATTR_REPLACE) ? -ENODATA : 0;
	} else {
		r = xattr_set(f->fs, ip, name, value, size, flags);
	}
	if (r || mode == ip->mode)
		return r;
	/* The mode follows the ACL (its own handle: xattr_set runs one). */
	return fops_write_mode(f, ip, mode);
}

void fops_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name, const char *value, size_t size,
		   int flags)
{
	struct sfs_fuse *f = fops_ctx(req);
	struct fcred c;
	fops_cred(req, &c);
	enum xns ns = name_ns(name);
	int r = ns_err(ns);
	if (!r) {
		if (strlen(name) > XATTR_NAME_MAX)
			r = -ERANGE;
		else if (size > XATTR_SIZE_MAX)
			r = -E2BIG;
		else if (flags & ~(XATTR_CREATE | XATTR_REPLACE))
			r = -EINVAL;
		else if (f->readonly)
			r = -EROFS;
	}
	if (r) {
		fuse_reply_err(req, -r);
		return;
	}
	struct lockset ls;
	struct sfs_inode *ip;
	r = fops_lock_one(f, fops_ino(f, ino), LCL_EX, &ls, &ip);
	if (r) {
		fuse_reply_err(req, -r);
		return;
	}
	r = xattr_perm(f, ip, &c, ns, true);
	if (!r) {
		if (ns == NS_ACL_ACCESS || ns == NS_ACL_DEFAULT)
			r = set_acl(f, ip, &c, ns, value, size, flags);
		else
			r = xattr_set(f->fs, ip, name, value, size, flags);
	}
	fops_unlock_one(f, &ls, ip);
	fuse_reply_err(req, -r);
}

void fops_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size)
{
	struct sfs_fuse *f = fops_ctx(req);
	struct fcred c;
	fops_cred(req, &c);
	enum xns ns = name_ns(name);
	if (ns_err(ns)) {
		fuse_reply_err(req, -ns_err(ns));
		return;
	}
	if (strlen(name) > XATTR_NAME_MAX) {
		fuse_reply_err(req, ERANGE);
		return;
	}
	char *buf = size ? malloc(size) : NULL;
	if (size && !buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	struct lockset ls;
	struct sfs_inode *ip;
	int r = fops_lock_one(f, fops_ino(f, ino), LCL_PR, &ls, &ip);
	if (!r) {
		r = xattr_perm(f, ip, &c, ns, false);
		if (!r)
			r = xget(f, ip, name, buf, size);
		fops_unlock_one(f, &ls, ip);
	}
	if (r < 0)
		fuse_reply_err(req, -r);
	else if (size == 0)
		fuse_reply_xattr(req, (size_t)r);
	else
		fuse_reply_buf(req, buf, (size_t)r);
	free(buf);
}

void fops_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	struct sfs_fuse *f = fops_ctx(req);
	struct fcred c;
	fops_cred(req, &c);
	struct lockset ls;
	struct sfs_inode *ip;
	int r = fops_lock_one(f, fops_ino(f, ino), LCL_PR, &ls, &ip);
	if (r) {
		fuse_reply_err(req, -r);
		return;
	}
	char *all = NULL;
	size_t len = 0;
	int n = xattr_list(f->fs, ip, NULL, 0, &len);
	if (!n && len > 0) {
		all = malloc(len);
		n = all ? xattr_list(f->fs, ip, all, len, &len) : -ENOMEM;
	}
	if (!n)
		n = (int)len;
	fops_unlock_one(f, &ls, ip);
	if (n < 0) {
		free(all);
		fuse_reply_err(req, -n);
		return;
	}
	/* Hide what the caller may not see (trusted.* for non-root). */
	size_t out = 0;
	for (int i = 0; i < n;) {
		size_t l = strnlen(all + i, (size_t)(n - i));
		bool show = perm_is_root(&c.c) || name_ns(all + i) != NS_TRUSTED;
		if (show) {
			memmove(all + out, all + i, l + 1 <= (size_t)(n - i) ? l + 1 : l);
			out += l + 1;
		}
		i += (int)l + 1;
	}
	if (size == 0)
		fuse_reply_xattr(req, out);
	else if (out > size)
		fuse_reply_err(req, ERANGE);
	else
		fuse_reply_buf(req, all, out);
	free(all);
}

void fops_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name)
{
	struct sfs_fuse *f = fops_ctx(req);
	struct fcred c;
	fops_cred(req, &c);
	enum xns ns = name_ns(name);
	if (ns_err(ns)) {
		fuse_reply_err(req, -ns_err(ns));
		return;
	}
	if (f->readonly) {
		fuse_reply_err(req, EROFS);
		return;
	}
	struct lockset ls;
	struct sfs_inode *ip;
	int r = fops_lock_one(f, fops_ino(f, ino), LCL_EX, &ls, &ip);
	if (r) {
		fuse_reply_err(req, -r);
		return;
	}
	r = xattr_perm(f, ip, &c, ns, true);
	if (!r)
		r = xattr_remove(f->fs, ip, name);
	fops_unlock_one(f, &ls, ip);
	fuse_reply_err(req, -r);
}

/* ---- ACLs of new inodes and chmod ---- */

int fops_acl_inherit(struct sfs_fuse *f, struct sfs_inode *dir, const struct fcred *c,
		     uint32_t *mode, struct facl_inherit *out)
{
	out->acc_len = out->def_len = 0;
	int n = -ENODATA;
	if (f->acl)
		n = xget(f, dir, PERM_XATTR_ACL_DEFAULT, out->def, sizeof(out->def));
	if (n == -ENODATA || n == 4) {
		*mode &= ~(c->c.umask & 0777u);
		return 0;
	}
	if (n == -ERANGE) {
		log_warn("fuse", "inode %llu: default ACL too large to inherit",
			 (unsigned long long)dir->ino);
		return -E2BIG;
	}
	if (n < 0)
		return n;
	if (perm_acl_valid(out->def, (size_t)n) <= 0) {
		log_error("fuse", "inode %llu: malformed default ACL",
			  (unsigned long long)dir->ino);
		return -EIO;
	}
	memcpy(out->acc, out->def, (size_t)n);
	int keep = perm_acl_create_masq(out->acc, (size_t)n, mode);
	if (keep < 0)
		return -EIO;
	out->acc_len = keep ? (size_t)n : 0;
	out->def_len = S_ISDIR(*mode) ? (size_t)n : 0;
	return 0;
}

int fops_acl_apply(struct sfs_fuse *f, struct sfs_inode *ip, const struct facl_inherit *in)
{
	int r = 0;
	if (in->acc_len)
		r = xattr_set(f->fs, ip, PERM_XATTR_ACL_ACCESS, in->acc, in->acc_len, 0);
	if (!r && in->def_len)
		r = xattr_set(f->fs, ip, PERM_XATTR_ACL_DEFAULT, in->def, in->def_len, 0);
	return r;
}

int fops_acl_chmod(struct sfs_fuse *f, struct sfs_inode *ip, uint32_t mode)
{
	uint8_t small[4 + 8 * 32];
	uint8_t *buf = small;
	int n = xget(f, ip, PERM_XATTR_ACL_ACCESS, small, sizeof(small));
	if (n == -ENODATA)
		return 0;
	if (n == -ERANGE) {
		n = xget(f, ip, PERM_XATTR_ACL_ACCESS, NULL, 0);
		if (n < 0)
			return n;
		buf = malloc((size_t)n);
		if (!buf)
			return -ENOMEM;
		n = xget(f, ip, PERM_XATTR_ACL_ACCESS, buf, (size_t)n);
	}
	int r = n;
	if (n >= 0) {
		r = perm_acl_chmod(buf, (size_t)n, mode);
		if (r)
			r = -EIO;
		else
			r = xattr_set(f->fs, ip, PERM_XATTR_ACL_ACCESS, buf, (size_t)n,
				      XATTR_REPLACE);
	}
	if (buf != small)
		free(buf);
	return r;
}

/* fuse_ops: private shared declarations of the FUSE operation files
 * (fuse_ops.c: context, inode table, locking, attributes; fuse_ops_dir.c:
 * namespace operations; fuse_ops_file.c: file data; fuse_ops_xattr.c:
 * xattrs and ACLs). Not a public header: fs/fuse_mount.h is.
 *
 * Inode numbers: FUSE's root id 1 is the superblock's root inode; every
 * other FUSE id is the sanfs inode number (INTERNALS "Inode numbers").
 *
 * References: every inode the kernel knows (nlookup > 0, counted by the
 * replies that create a lookup reference and by forget) holds one in-core
 * inode reference in the node table, so an inode unlinked while open or
 * cached stays readable until the kernel forgets it; the inode part then
 * frees it at the last inode_put (and the orphan list covers a crash).
 *
 * Locking (DESIGN §3, §9): each operation takes the process-scope LCL locks
 * of the inodes it reads (PR) or changes (EX), several in ascending inode
 * number (struct lockset), and changes them inside one transaction handle.
 * inode_put is only called with no inode lock held. */
#ifndef SANFS_FS_FUSE_OPS_H
#define SANFS_FS_FUSE_OPS_H

#include "fs/fuse_mount.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>

#include "fs/inode.h"
#include "fs/jnl.h"
#include "fs/sfs.h"
#include "fs/perm.h"
#include "locks/lcl.h"

#define FOPS_NODE_BUCKETS 4096
#define FOPS_MAX_GROUPS	  256
#ifndef SFS_LINK_MAX
#define SFS_LINK_MAX 65000 /* hard links per inode, as ext4 */
#endif

struct fname {
	struct fname *next;
	uint64_t parent; /* sanfs inode number of the directory */
	uint16_t len;
	char name[];
};

#define FOPS_MAX_NAMES 4

struct fnode {
	uint64_t ino;	      /* sanfs inode number */
	uint64_t nlookup;     /* kernel references */
	struct sfs_inode *ip; /* one inode reference while nlookup > 0 */
	struct fname *names;  /* dentries the kernel may cache for it */
	struct fnode *next;
};

struct sfs_fuse {
	struct sfs *fs;
	struct lcl *lcl;
	struct fmnt *mnt;
	uint64_t root_ino;
	bool acl;	       /* enforce POSIX ACLs */
	_Atomic bool readonly; /* mounted ro, or remounted ro (sfs_fuse_set_readonly) */
	enum sfs_atime atime;
	bool nodiratime;
	pthread_mutex_t rename_mu; /* cross-directory renames (fuse_ops_rename.c) */
	pthread_mutex_t nodes_lock;
	struct fnode *nodes[FOPS_NODE_BUCKETS];

	/* Kernel-cache invalidations after a lock loss are sent by their own
	 * thread: the lock layer's callout only queues them, so it never
	 * waits for the kernel, which may itself be waiting for a FUSE
	 * request that waits for that lock. */
	pthread_t notifier;
	bool notifier_running;
	bool notifier_stop;
	pthread_mutex_t q_mu;
	pthread_cond_t q_cv;
	uint64_t *q;
	size_t q_len, q_cap;
};

/* Who asks, with storage for the supplementary groups. */
struct fcred {
	struct perm_cred c;
	gid_t groups[FOPS_MAX_GROUPS];
};

/* Locks of one operation, taken together in ascending inode order. */
struct lockset {
	unsigned n;
	uint64_t ino[4];
	enum lcl_mode mode[4];
	struct lcl_handle *h[4];
};

static inline struct sfs_fuse *fops_ctx(fuse_req_t req)
{
	return fuse_req_userdata(req);
}

uint64_t fops_ino(struct sfs_fuse *f, fuse_ino_t ino);	    /* FUSE id -> sanfs inode */
fuse_ino_t fops_fuse_ino(struct sfs_fuse *f, uint64_t ino); /* sanfs inode -> FUSE id */

void fops_cred(fuse_req_t req, struct fcred *c);

void ls_init(struct lockset *ls);
void ls_add(struct lockset *ls, uint64_t ino, enum lcl_mode mode);
int ls_lock(struct sfs_fuse *f, struct lockset *ls);
/* Take one more lock after ls_lock without waiting out of order: -EAGAIN
 * when the caller must drop everything and retry with the full set. */
int ls_lock_more(struct sfs_fuse *f, struct lockset *ls, uint64_t ino, enum lcl_mode mode);
void ls_unlock(struct lockset *ls);

/* inode_get + inode_revalidate; caller holds the inode's lock. */
int fops_iget(struct sfs_fuse *f, uint64_t ino, struct sfs_inode **out);
/* The preamble of an operation on one inode: lock sanfs inode ino alone in
 * mode (ls is the caller's) and get it (fops_iget). On success the caller
 * ends with fops_unlock_one; on error nothing is held. */
int fops_lock_one(struct sfs_fuse *f, uint64_t ino, enum lcl_mode mode, struct lockset *ls,
		  struct sfs_inode **ip);
/* Read ahead the inode blocks of ino[0..n) that are not cached (each under
 * its own PR lock, taken in ascending order while no other lock is held),
 * in as few device reads as their nearness allows: a listing then does not
 * read its inodes one by one. Sorts ino[]; best effort. */
void fops_prefetch_inodes(struct sfs_fuse *f, uint64_t *ino, size_t n);
/* Undo fops_lock_one: ls_unlock, then inode_put. */
void fops_unlock_one(struct sfs_fuse *f, struct lockset *ls, struct sfs_inode *ip);
/* Whether reading ip now changes its atime (the mount's atime option);
 * caller holds at least PR. fops_atime_update then takes EX on ino, checks
 * again and writes the new atime in its own transaction (errors logged:
 * the read that caused it has succeeded). */
bool fops_atime_due(const struct sfs_fuse *f, const struct sfs_inode *ip);
void fops_atime_update(struct sfs_fuse *f, uint64_t ino);

/* The perm view of an inode (its access ACL read when ACLs are on: acl_buf
 * holds it, PERM_ACL_HDR + 8 * 32 bytes suffice for the common case; larger
 * ACLs are read into a heap buffer freed by fops_perm_done). */
struct fperm {
	struct perm_obj o;
	uint8_t buf[4 + 8 * 32];
	void *heap;
};
int fops_perm_obj(struct sfs_fuse *f, struct sfs_inode *ip, struct fperm *p);
void fops_perm_done(struct fperm *p);
/* perm_check on an inode. 0, -EACCES, -EIO. */
int fops_may(struct sfs_fuse *f, struct sfs_inode *ip, const struct fcred *c, int mask);
/* Does a data or size change by this request clear set-id bits (the
 * kernel's CAP_FSETID answer, else: not root)? */
bool fops_req_kills_suidgid(const struct fcred *c);
/* ip->mode = mode, ctime now, in a transaction of its own (caller: EX). */
int fops_write_mode(struct sfs_fuse *f, struct sfs_inode *ip, uint32_t mode);
int fops_may_delete(struct sfs_fuse *f, struct sfs_inode *dir, struct sfs_inode *victim,
		    const struct fcred *c);

/* Count one kernel reference to ip (taking an inode reference the first
 * time), remember the dentry (parent, name) (0/NULL: none), and fill e. Call fops_unref when the
 * reply fails. */
void fops_entry(struct sfs_fuse *f, uint64_t parent, const char *name, struct sfs_inode *ip,
		struct fuse_entry_param *e);
void fops_unref(struct sfs_fuse *f, uint64_t ino, uint64_t n);

/* End a handle: txn_end when r == 0 (inode_write noted its transaction in
 * each inode for inode_fsync), else txn_abort (the journal aborts if the
 * handle changed anything). */
int fops_txn_finish(struct txn *t, int r);

/* Reply helpers. */
void fops_reply_attr(fuse_req_t req, struct sfs_fuse *f, struct sfs_inode *ip);
void fops_touch(struct sfs_inode *ip, bool mtime, bool ctime);

/* ACL inheritance at create: with a default ACL on dir, *mode is masked by
 * it and the new inode's ACLs go into acc/def (lengths set, 0 = none); without
 * one the umask applies. Reads the parent's xattr. 0 or -errno. */
struct facl_inherit {
	uint8_t acc[4 + 8 * 64];
	size_t acc_len;
	uint8_t def[4 + 8 * 64];
	size_t def_len;
};
int fops_acl_inherit(struct sfs_fuse *f, struct sfs_inode *dir, const struct fcred *c,
		     uint32_t *mode, struct facl_inherit *out);
/* Store the inherited ACLs on the new inode (xattr_set runs its own
 * handles, after the one that created the inode). */
int fops_acl_apply(struct sfs_fuse *f, struct sfs_inode *ip, const struct facl_inherit *in);
/* chmod with an access ACL: keep the ACL's entries in step with the mode. */
int fops_acl_chmod(struct sfs_fuse *f, struct sfs_inode *ip, uint32_t mode);

/* The operations, by file. */
void fops_lookup(fuse_req_t req, fuse_ino_t parent, const char *name);
void fops_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode, dev_t rdev);
void fops_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode);
void fops_unlink(fuse_req_t req, fuse_ino_t parent, const char *name);
void fops_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name);
void fops_symlink(fuse_req_t req, const char *link, fuse_ino_t parent, const char *name);
void fops_readlink(fuse_req_t req, fuse_ino_t ino);
void fops_rename(fuse_req_t req, fuse_ino_t parent, const char *name, fuse_ino_t newparent,
		 const char *newname, unsigned int flags);
void fops_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char *newname);
void fops_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void fops_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		  struct fuse_file_info *fi);
void fops_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		      struct fuse_file_info *fi);
void fops_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void fops_fsyncdir(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi);
/* Creating a node of any type in parent (mknod, mkdir, symlink, create).
 * name NULL: an O_TMPFILE file, named nowhere: link count 0 and on the
 * orphan list until fops_link names it, or freed at its last close. */
int fops_make(fuse_req_t req, fuse_ino_t parent, const char *name, uint32_t mode, uint32_t rdev,
	      const char *symlink, struct fuse_entry_param *e);

void fops_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void fops_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
		 struct fuse_file_info *fi);
void fops_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi);
void fops_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off,
		struct fuse_file_info *fi);
void fops_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void fops_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void fops_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi);
void fops_fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t offset, off_t length,
		    struct fuse_file_info *fi);
void fops_lseek(fuse_req_t req, fuse_ino_t ino, off_t off, int whence, struct fuse_file_info *fi);
void fops_copy_file_range(fuse_req_t req, fuse_ino_t ino_in, off_t off_in,
			  struct fuse_file_info *fi_in, fuse_ino_t ino_out, off_t off_out,
			  struct fuse_file_info *fi_out, size_t len, int flags);
/* handle_killpriv: clear set-id bits after a write/truncate by non-root. */
int fops_kill_priv(struct sfs_fuse *f, struct sfs_inode *ip, fuse_req_t req);
/* fsync/fsyncdir: inode_fsync under the inode's PR lock. */
int fops_fsync_ino(struct sfs_fuse *f, fuse_ino_t fino);
/* Truncate under the caller's EX lock (setattr size). */
int fops_truncate(struct sfs_fuse *f, struct sfs_inode *ip, uint64_t size);

void fops_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name, const char *value, size_t size,
		   int flags);
void fops_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size);
void fops_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size);
void fops_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name);

#endif

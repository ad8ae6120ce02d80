/* fuse_mount: one FUSE mount session of sanfs (DESIGN §2 "one fuse_session
 * and its worker threads per mount", §9 "where speed comes from").
 *
 * Low-level API, multi-threaded loop with clone_fd (one /dev/fuse fd per
 * worker), 1 MiB max_write, readdirplus, long attribute and entry timeouts and
 * no writeback_cache. The kernel's caches stay valid until sanfs invalidates
 * them explicitly: when the lock layer gives up a cluster lock on an inode,
 * its invalidate callout calls fmnt_inval_inode (and fmnt_inval_entry for
 * names it knows), which is safe from any thread except a FUSE worker that
 * holds the inode's lock while the kernel waits for it (the notification is
 * sent with the lock already released, see fuse_ops.c).
 *
 * This module knows nothing about the filesystem: it takes the operation
 * table and its userdata (fs/fuse_ops.c provides them).
 *
 * Lifecycle: fmnt_create (mounts) -> fmnt_loop (serves until unmounted, a
 * signal, or fmnt_exit) -> fmnt_destroy (unmounts if still mounted, frees).
 * Errors: 0 or negative errno; fmnt_create logs the reason. */
#ifndef SANFS_FS_FUSE_MOUNT_H
#define SANFS_FS_FUSE_MOUNT_H

#ifndef FUSE_USE_VERSION
#define FUSE_USE_VERSION 314
#endif

#include <fuse_lowlevel.h>
#include <stdbool.h>
#include <stdint.h>

/* Cache timeouts handed to the kernel (seconds). Long: sanfs invalidates
 * explicitly when a cluster lock is lost (DESIGN §9). */
#define FMNT_ATTR_TIMEOUT  86400.0
#define FMNT_ENTRY_TIMEOUT 86400.0
#define FMNT_MAX_WRITE	   (1u << 20)

struct fmnt_opts {
	const char *fsname;  /* source shown in /proc/mounts (the device); borrowed */
	const char *subtype; /* "sanfs" -> type fuse.sanfs */
	bool allow_other;    /* other users may use the mount (default in sanfsd) */
	bool readonly;
	bool nosuid, nodev, noexec;
	bool debug;	      /* libfuse request tracing to stderr */
	unsigned max_threads; /* 0: libfuse default */
	bool signals;	      /* SIGTERM/SIGINT/SIGHUP end the loop (one mount per process) */
};

struct fmnt;

/* Mount mountpoint with the operations ops (copied) and userdata (borrowed,
 * passed to every operation). */
int fmnt_create(const char *mountpoint, const struct fmnt_opts *o,
		const struct fuse_lowlevel_ops *ops, void *userdata, struct fmnt **out);

/* Serve requests until the filesystem is unmounted (umount, fusermount3 -u),
 * fmnt_exit, or a handled signal. Returns 0, or -errno when the loop failed.
 * Runs on the calling thread plus worker threads. */
int fmnt_loop(struct fmnt *m);

/* Whether a new mount is served, and its read-ahead window. From a
 * background thread: waits for the kernel to finish the FUSE handshake (a
 * stat of mountpoint returns). A handshake that was refused, a connection
 * that is gone or a mount no longer in the mount table (the session loop ends
 * by itself then) is a mount that failed: done(arg, -errno). Else, when kb is not 0 and
 * mountpoint's st_dev still is devno ("MAJ:MIN" from mountinfo), sets
 * /sys/class/bdi/DEVNO/read_ahead_kb to kb (the kernel reads ahead at most 128 KiB on a FUSE mount
 * unless told otherwise, one request at a time; a larger window keeps several 1 MiB reads in
 * flight, cold sequential reads 2-3x faster here; the handshake would reset it; failures are
 * logged, not fatal) and calls done(arg, 0): a file opened before the window is set keeps 128 KiB,
 * so whoever reports the mount as ready waits for this. When the thread cannot start, done(arg, 0)
 * runs before the return. */
void fmnt_check_ready(const char *mountpoint, const char *devno, unsigned kb,
		      void (*done)(void *, int), void *arg);

/* Test-only fault: with SANFS_FAULT_FUSE_INIT set in the environment, the
 * FUSE handshake of every mount fails (libfuse refuses its own INIT reply),
 * as a kernel that does not speak our protocol would make it. */
#define FMNT_FAULT_INIT_ENV "SANFS_FAULT_FUSE_INIT"

/* Make fmnt_loop return (any thread). */
void fmnt_exit(struct fmnt *m);

/* Unmount (when still mounted) and free. Call after fmnt_loop returned. */
void fmnt_destroy(struct fmnt *m);

/* The session, for replies that need it. */
struct fuse_session *fmnt_session(struct fmnt *m);

/* Set the connection parameters of DESIGN §9 in an init callback: max_write,
 * readdirplus, no writeback cache, no async direct I/O, parallel dirops,
 * POSIX ACLs, async reads;
 * O_TRUNC is done by open (atomic_o_trunc). */
void fmnt_conn_setup(struct fuse_conn_info *conn, bool posix_acl);

/* Lock-loss hooks (DESIGN §3: before a node gives up PR it drops its caches,
 * the kernel's included). ino is the FUSE inode number. -ENOENT (the kernel
 * does not know it) counts as success. 0 or -errno. */
/* FUSE_HANDLE_KILLPRIV_V2 (fuse_mount.c): for the request this thread
 * handles, whether the kernel says its caller lacks CAP_FSETID, so that
 * data changes clear set-id bits (*known false: the kernel did not take the
 * flag, or the request does not say, e.g. FALLOCATE or COPY_FILE_RANGE). */
bool fmnt_req_kill_suidgid(bool *known);
/* Whether the request this thread handles is an O_TMPFILE open, which
 * reaches fops_create (libfuse 3.14 has no tmpfile operation). */
bool fmnt_req_tmpfile(void);

int fmnt_inval_inode(struct fmnt *m, uint64_t ino);
int fmnt_inval_entry(struct fmnt *m, uint64_t parent, const char *name, size_t len);
/* Only the cached attributes of ino (safe from inside a request on it). */
int fmnt_inval_attr(struct fmnt *m, uint64_t ino);

/* ---- The sanfs filesystem served over FUSE (fs/fuse_ops*.c) ----
 *
 * sfs_fuse_start mounts an opened filesystem at mountpoint; sfs_fuse_serve
 * serves it until unmounted (or a signal when o->signals); sfs_fuse_free
 * unmounts if needed and frees (the caller then sfs_close()s the
 * filesystem). The LCL invalidate callout of LCL_T_INODE resources should call
 * sfs_fuse_inval_res, which drops the kernel's caches of that inode. */
struct sfs;
struct lcl;
struct sfs_fuse;

/* When a read changes the atime (mount options relatime, strictatime,
 * noatime; fs/INTERNALS.md "Access times"). */
enum sfs_atime {
	SFS_RELATIME = 0, /* default, as Linux: once after each change, and daily */
	SFS_STRICTATIME,  /* every read */
	SFS_NOATIME,	  /* never */
};

struct sfs_fuse_opts {
	bool acl; /* enforce POSIX ACLs (system.posix_acl_* xattrs) */
	enum sfs_atime atime;
	bool nodiratime; /* a directory's listing leaves its atime */
};

int sfs_fuse_start(struct sfs *fs, struct lcl *lcl, const char *mountpoint,
		   const struct fmnt_opts *o, const struct sfs_fuse_opts *so,
		   struct sfs_fuse **out);
int sfs_fuse_serve(struct sfs_fuse *f);
void sfs_fuse_stop(struct sfs_fuse *f);
void sfs_fuse_free(struct sfs_fuse *f);
void sfs_fuse_inval_res(void *sfs_fuse, uint64_t res);
/* A remount changed the mount's read-only flag: from ro on, nothing more is
 * written (no atime, every change EROFS as the kernel already answers), and
 * the journal is committed and checkpointed, so that the device holds the
 * whole filesystem. rw again only for a filesystem opened read-write. */
int sfs_fuse_set_readonly(struct sfs_fuse *f, bool ro);
/* The hooks sfs_open needs from the inode and FUSE parts (struct sfs_ops of
 * fs/sfs.h): inode cache setup/teardown, orphan reclaim, and invalidation
 * of the in-core inode and the kernel's caches when a lock is lost. */
struct sfs_ops;
void sfs_fuse_fs_ops(struct sfs_ops *ops);

#endif

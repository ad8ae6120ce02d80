/* fuse_mount: the FUSE session of one sanfs mount (see fuse_mount.h). */
#include "fs/fuse_mount.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <linux/fuse.h>
#include <stdatomic.h>
#include <stddef.h>
#include <sys/uio.h>
#include <unistd.h>

#include "common/log.h"
#include "common/mountinfo.h"

struct fmnt {
	struct fuse_session *se;
	bool mounted;
	bool signals;
	unsigned max_threads;
};

/* ---- FUSE_HANDLE_KILLPRIV_V2 ----
 *
 * Without it every write(2) costs a second round trip: the kernel asks for
 * security.capability first (file_remove_privs) and removes set-id bits by
 * a setattr of its own. With it the superblock is SB_NOSEC: an inode found
 * without set-id bits or capability is marked so and later writes skip the
 * question until a security.* xattr is set again, and the filesystem
 * removes set-id bits on write, truncate and chown itself (sanfs does:
 * fops_kill_priv, fops_setattr). libfuse 3.14 cannot ask for the flag, so
 * the session's I/O goes through the two functions below: an INIT request
 * read from a /dev/fuse descriptor that offers the flag is noted, and its
 * reply written to that descriptor gets it. */
#define INIT_SLOTS 16
static struct {
	pthread_mutex_t mu;
	struct {
		int fd;
		uint64_t unique;
	} pend[INIT_SLOTS];
	unsigned n; /* also read without mu: nonzero while an INIT is unanswered */
} init_io = {.mu = PTHREAD_MUTEX_INITIALIZER};

static _Atomic bool killpriv_v2; /* some INIT reply of this process got it */

/* Of the request this thread reads and then handles (libfuse does both in
 * one worker): whether it carries the kernel's answer about the set-id
 * bits, and the answer. */
static __thread bool req_kill_known, req_kill;

/* Whether the request this thread handles came as FUSE_TMPFILE: libfuse
 * 3.14 does not know the opcode, so it reaches sanfs as the CREATE it
 * resembles (same arguments, same reply). */
static __thread bool req_tmpfile;

bool fmnt_req_tmpfile(void)
{
	return req_tmpfile;
}

static void note_tmpfile(struct fuse_in_header *h, size_t n)
{
	req_tmpfile = false;
	if (h->opcode != FUSE_TMPFILE)
		return;
	/* fuse_create_in, then the name of the nameless dentry ("/"). */
	const char *name = (const char *)(h + 1) + sizeof(struct fuse_create_in);
	const char *end = (const char *)h + n;
	if (name >= end || !memchr(name, 0, (size_t)(end - name)))
		return; /* not as expected: libfuse answers ENOSYS (EOPNOTSUPP) */
	h->opcode = FUSE_CREATE;
	req_tmpfile = true;
}

bool fmnt_req_kill_suidgid(bool *known)
{
	*known = req_kill_known && atomic_load(&killpriv_v2);
	return req_kill;
}

/* Under KILLPRIV_V2 the kernel marks a WRITE, an OPEN with O_TRUNC and a
 * SETATTR of the size or owner by a caller without CAP_FSETID; libfuse
 * 3.14 drops the first two marks before sanfs sees the request. */
static void note_kill(const struct fuse_in_header *h, size_t n)
{
	const void *arg = h + 1;
	size_t alen = n - sizeof(*h);
	req_kill_known = true;
	if (h->opcode == FUSE_WRITE && alen >= sizeof(struct fuse_write_in))
		req_kill =
		    ((const struct fuse_write_in *)arg)->write_flags & FUSE_WRITE_KILL_SUIDGID;
	else if (h->opcode == FUSE_OPEN && alen >= sizeof(struct fuse_open_in))
		req_kill = ((const struct fuse_open_in *)arg)->open_flags & FUSE_OPEN_KILL_SUIDGID;
	else if (h->opcode == FUSE_SETATTR && alen >= sizeof(struct fuse_setattr_in))
		req_kill = ((const struct fuse_setattr_in *)arg)->valid & FATTR_KILL_SUIDGID;
	else
		req_kill_known = req_kill = false;
}

static ssize_t io_read(int fd, void *buf, size_t len, void *userdata)
{
	(void)userdata;
	ssize_t n = read(fd, buf, len);
	struct fuse_in_header *h = buf;
	if (n >= (ssize_t)sizeof(*h)) {
		note_kill(h, (size_t)n);
		note_tmpfile(h, (size_t)n);
	}
	if (n < (ssize_t)(sizeof(*h) + offsetof(struct fuse_init_in, flags) + 4) ||
	    h->opcode != FUSE_INIT)
		return n;
	const struct fuse_init_in *in = (const void *)(h + 1);
	if (!(in->flags & FUSE_HANDLE_KILLPRIV_V2))
		return n;
	pthread_mutex_lock(&init_io.mu);
	if (init_io.n < INIT_SLOTS) {
		init_io.pend[init_io.n].fd = fd;
		init_io.pend[init_io.n].unique = h->unique;
		__atomic_store_n(&init_io.n, init_io.n + 1, __ATOMIC_RELEASE);
	}
	pthread_mutex_unlock(&init_io.mu);
	return n;
}

/* Is this the reply to a noted INIT? It is forgotten either way. */
static bool init_reply(int fd, uint64_t unique)
{
	if (!__atomic_load_n(&init_io.n, __ATOMIC_ACQUIRE))
		return false;
	bool found = false;
	pthread_mutex_lock(&init_io.mu);
	for (unsigned i = 0; i < init_io.n && !found; i++) {
		if (init_io.pend[i].fd == fd && init_io.pend[i].unique == unique) {
			init_io.pend[i] = init_io.pend[init_io.n - 1];
			__atomic_store_n(&init_io.n, init_io.n - 1, __ATOMIC_RELEASE);
			found = true;
		}
	}
	pthread_mutex_unlock(&init_io.mu);
	return found;
}

static ssize_t io_writev(int fd, struct iovec *iov, int count, void *userdata)
{
	(void)userdata;
	struct fuse_init_out out;
	const struct fuse_out_header *h = iov[0].iov_base;
	if (count >= 1 && iov[0].iov_len >= sizeof(*h) && init_reply(fd, h->unique) && count == 2 &&
	    h->error == 0 && iov[1].iov_len >= offsetof(struct fuse_init_out, flags) + 4 &&
	    iov[1].iov_len <= sizeof(out)) {
		memcpy(&out, iov[1].iov_base, iov[1].iov_len);
		out.flags |= FUSE_HANDLE_KILLPRIV_V2;
		iov[1].iov_base = &out;
		atomic_store(&killpriv_v2, true);
		log_info("fuse", "writes skip the capability question (FUSE_HANDLE_KILLPRIV_V2)");
	}
	return writev(fd, iov, count);
}

static int add_opt(char **opts, const char *o)
{
	return fuse_opt_add_opt(opts, o) ? -ENOMEM : 0;
}

int fmnt_create(const char *mountpoint, const struct fmnt_opts *o,
		const struct fuse_lowlevel_ops *ops, void *userdata, struct fmnt **out)
{
	struct fmnt *m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	struct fuse_args args = FUSE_ARGS_INIT(0, NULL);
	char *opts = NULL;
	int r = -ENOMEM;
	if (fuse_opt_add_arg(&args, "sanfsd"))
		goto fail;
	if (o->debug && fuse_opt_add_arg(&args, "-d"))
		goto fail;
	if (o->fsname) {
		/* fsname=VALUE with commas and backslashes escaped. */
		size_t n = strlen(o->fsname);
		char *v = malloc(2 * n + 8);
		if (!v)
			goto fail;
		char *p = v + sprintf(v, "fsname=");
		for (size_t i = 0; i < n; i++) {
			if (o->fsname[i] == ',' || o->fsname[i] == '\\')
				*p++ = '\\';
			*p++ = o->fsname[i];
		}
		*p = 0;
		int e = fuse_opt_add_opt(&opts, v);
		free(v);
		if (e)
			goto fail;
	}
	char sub[64];
	snprintf(sub, sizeof(sub), "subtype=%s", o->subtype ? o->subtype : "sanfs");
	if (add_opt(&opts, sub))
		goto fail;
	if (o->allow_other && add_opt(&opts, "allow_other"))
		goto fail;
	if (o->readonly && add_opt(&opts, "ro"))
		goto fail;
	/* Without default_permissions the kernel asks the filesystem only in
	 * lookup, open of a regular file and access(): a path through a cached
	 * dentry skips the search check of its directories and a FIFO or device
	 * opens without any check. With ACLs on the kernel turns it on by
	 * itself (FUSE_POSIX_ACL); noacl must not lose it. */
	if (add_opt(&opts, "default_permissions"))
		goto fail;
	/* libfuse mounts nosuid,nodev unless told otherwise; a local mount by
	 * root serves device files and set-id programs like any filesystem. */
	if (add_opt(&opts, o->nosuid ? "nosuid" : "suid"))
		goto fail;
	if (add_opt(&opts, o->nodev ? "nodev" : "dev"))
		goto fail;
	if (o->noexec && add_opt(&opts, "noexec"))
		goto fail;
	if (fuse_opt_add_arg(&args, "-o") || fuse_opt_add_arg(&args, opts))
		goto fail;

	m->se = fuse_session_new(&args, ops, sizeof(*ops), userdata);
	if (!m->se) {
		log_error("fuse", "cannot create the FUSE session for %s", mountpoint);
		r = -EINVAL;
		goto fail;
	}
	if (o->signals && fuse_set_signal_handlers(m->se) != 0) {
		log_error("fuse", "cannot install signal handlers");
		r = -EINVAL;
		goto fail_se;
	}
	m->signals = o->signals;
	if (fuse_session_mount(m->se, mountpoint) != 0) {
		log_error("fuse", "cannot mount %s", mountpoint);
		r = -EIO;
		goto fail_sig;
	}
	m->mounted = true;
	static const struct fuse_custom_io io = {.read = io_read, .writev = io_writev};
	if (fuse_session_custom_io(m->se, &io, fuse_session_fd(m->se)) != 0)
		log_warn("fuse", "%s: every write will cost two FUSE round trips", mountpoint);
	m->max_threads = o->max_threads;
	free(opts);
	fuse_opt_free_args(&args);
	*out = m;
	return 0;
fail_sig:
	if (m->signals)
		fuse_remove_signal_handlers(m->se);
fail_se:
	fuse_session_destroy(m->se);
fail:
	free(opts);
	fuse_opt_free_args(&args);
	free(m);
	return r;
}

struct ready_job {
	char *mountpoint;
	char devno[32];
	unsigned kb;
	void (*done)(void *, int);
	void *arg;
};

static void set_readahead(const struct ready_job *j)
{
	char path[96];
	snprintf(path, sizeof(path), "/sys/class/bdi/%s/read_ahead_kb", j->devno);
	FILE *f = fopen(path, "w");
	int bad = !f;
	if (f) {
		bad = fprintf(f, "%u\n", j->kb) < 0;
		bad |= fclose(f) != 0; /* the write to sysfs happens here */
	}
	if (bad)
		log_warn("fuse", "read-ahead of %s not set (%s): %s", j->mountpoint, path,
			 strerror(errno));
	else
		log_info("fuse", "read-ahead of %s: %u KiB", j->mountpoint, j->kb);
}

/* Whether a mount with device number devno ("MAJ:MIN") is in this
 * process's mount table (-errno when the table cannot be read). */
static int devno_mounted(const char *devno)
{
	FILE *f = fopen("/proc/self/mountinfo", "r");
	if (!f)
		return -errno;
	char line[8192];
	struct mountinfo_line m;
	int found = 0;
	while (!found && fgets(line, sizeof(line), f))
		found = mountinfo_parse(line, &m) && !strcmp(m.devno, devno);
	fclose(f);
	return found;
}

static void *ready_main(void *arg)
{
	struct ready_job *j = arg;
	struct stat st;
	char dev[32];
	int err = 0;
	if (stat(j->mountpoint, &st) != 0) {
		/* A refused handshake or a connection gone: the loop ends. */
		if (errno == ECONNREFUSED || errno == ENOTCONN || errno == ECONNABORTED)
			err = -errno;
		log_warn("fuse", "%s is mounted but does not answer: %s%s", j->mountpoint,
			 strerror(errno), err ? "" : " (read-ahead not set)");
		goto out;
	}
	snprintf(dev, sizeof(dev), "%u:%u", major(st.st_dev), minor(st.st_dev));
	if (strcmp(dev, j->devno) != 0) {
		/* Unmounted already (the loop failed and left), or hidden under
		 * another mount made meanwhile. */
		if (devno_mounted(j->devno) == 0)
			err = -ENOTCONN;
		log_warn("fuse", "%s is device %s, not this mount (%s): %s", j->mountpoint, dev,
			 j->devno, err ? "unmounted already" : "read-ahead not set");
		goto out;
	}
	if (j->kb)
		set_readahead(j);
out:
	j->done(j->arg, err);
	free(j->mountpoint);
	free(j);
	return NULL;
}

void fmnt_check_ready(const char *mountpoint, const char *devno, unsigned kb,
		      void (*done)(void *, int), void *arg)
{
	struct ready_job *j = calloc(1, sizeof(*j));
	if (!j || !(j->mountpoint = strdup(mountpoint)) || strlen(devno) >= sizeof(j->devno)) {
		log_warn("fuse", "%s: mount not checked: %s", mountpoint,
			 j && j->mountpoint ? "bad device number" : strerror(ENOMEM));
		goto fail;
	}
	strcpy(j->devno, devno);
	j->kb = kb;
	j->done = done;
	j->arg = arg;
	pthread_attr_t at;
	pthread_t t;
	pthread_attr_init(&at);
	pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
	int r = pthread_create(&t, &at, ready_main, j);
	pthread_attr_destroy(&at);
	if (r == 0)
		return;
	log_warn("fuse", "%s: mount not checked: %s", mountpoint, strerror(r));
fail:
	if (j)
		free(j->mountpoint);
	free(j);
	done(arg, 0);
}

int fmnt_loop(struct fmnt *m)
{
	struct fuse_loop_config *cfg = fuse_loop_cfg_create();
	if (!cfg)
		return -ENOMEM;
	fuse_loop_cfg_set_clone_fd(cfg, 1);
	if (m->max_threads)
		fuse_loop_cfg_set_max_threads(cfg, m->max_threads);
	int r = fuse_session_loop_mt(m->se, cfg);
	fuse_loop_cfg_destroy(cfg);
	if (r < 0) {
		log_error("fuse", "session loop failed: %s", strerror(-r));
		return r;
	}
	if (r > 0)
		log_info("fuse", "signal %d: unmounting", r);
	return 0;
}

void fmnt_exit(struct fmnt *m)
{
	fuse_session_exit(m->se);
}

void fmnt_destroy(struct fmnt *m)
{
	if (!m)
		return;
	if (m->signals)
		fuse_remove_signal_handlers(m->se);
	if (m->mounted)
		fuse_session_unmount(m->se);
	fuse_session_destroy(m->se);
	free(m);
}

struct fuse_session *fmnt_session(struct fmnt *m)
{
	return m->se;
}

void fmnt_conn_setup(struct fuse_conn_info *conn, bool posix_acl)
{
	conn->max_write = FMNT_MAX_WRITE;
	conn->max_readahead = FMNT_MAX_WRITE;
	unsigned want = FUSE_CAP_ASYNC_READ | FUSE_CAP_READDIRPLUS | FUSE_CAP_READDIRPLUS_AUTO |
			FUSE_CAP_PARALLEL_DIROPS | FUSE_CAP_EXPLICIT_INVAL_DATA |
			FUSE_CAP_ATOMIC_O_TRUNC | FUSE_CAP_EXPORT_SUPPORT;
	if (posix_acl)
		want |= FUSE_CAP_POSIX_ACL | FUSE_CAP_DONT_MASK;
	conn->want |= want & conn->capable;
	/* DESIGN §9: no writeback cache, the kernel would then ignore sizes
	 * changed by other nodes; no automatic data invalidation on mtime
	 * changes either, sanfs invalidates explicitly. */
	conn->want &= ~(unsigned)(FUSE_CAP_WRITEBACK_CACHE | FUSE_CAP_AUTO_INVAL_DATA);
	/* No asynchronous direct I/O: the kernel then completes an io_submit
	 * direct write before it returns and drops the pages of its range
	 * after it, as for any synchronous direct write. With it, it never
	 * drops them, and a buffered read that raced the write keeps the old
	 * bytes in the page cache (xfstests generic/451). The daemon cannot
	 * drop them itself: a notification waits for page locks that readers
	 * hold while their READs wait for a daemon thread or a background
	 * slot that direct writes in the daemon hold, a deadlock even kill -9
	 * does not end (found in review). */
	conn->want &= ~(unsigned)FUSE_CAP_ASYNC_DIO;
	/* A max_read other than the mount's makes libfuse refuse the INIT. */
	if (getenv(FMNT_FAULT_INIT_ENV))
		conn->max_read = 4096;
}

int fmnt_inval_inode(struct fmnt *m, uint64_t ino)
{
	int r = fuse_lowlevel_notify_inval_inode(m->se, (fuse_ino_t)ino, 0, 0);
	return r == -ENOENT ? 0 : r;
}

int fmnt_inval_attr(struct fmnt *m, uint64_t ino)
{
	int r = fuse_lowlevel_notify_inval_inode(m->se, (fuse_ino_t)ino, -1, 0);
	return r == -ENOENT ? 0 : r;
}

int fmnt_inval_entry(struct fmnt *m, uint64_t parent, const char *name, size_t len)
{
	int r = fuse_lowlevel_notify_inval_entry(m->se, (fuse_ino_t)parent, name, len);
	return r == -ENOENT ? 0 : r;
}

/* Local mode of sanfsd: one device, one mount, no cluster (see local.h). */
#include "node/local.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/mountinfo.h"
#include "fs/fuse_mount.h"
#include "fs/sfs.h"
#include "locks/lcl.h"

struct local_args {
	const char *device;
	const char *mountpoint;
	const char *log_file;
	bool foreground;
	bool verbose;
	bool readonly;
	bool allow_other;
	bool acl;
	bool debug;
	bool nosuid, nodev, noexec;
	enum sfs_atime atime;
	bool nodiratime;
	unsigned threads;
	unsigned readahead_kb; /* 0: the kernel's default */
};

static const char *prefix(void)
{
	const char *p = getenv("SANFSD_ERROR_PREFIX");
	return p && *p ? p : "sanfsd";
}

/* Where failures go: the pipe to the waiting parent, or stderr. */
static int report_fd = -1;

/* The mount being checked (one per process): what a failure line names. */
static struct {
	pthread_mutex_t mu;
	pthread_cond_t cv; /* the report made (CLOCK_MONOTONIC, set up in serve) */
	int fd;		   /* the pipe to the waiting parent, or -1: reported */
	const char *device, *mountpoint, *log_file;
} ready = {.mu = PTHREAD_MUTEX_INITIALIZER, .fd = -1};

/* Tells the waiting parent, if any, whether the mount is served: "OK", or
 * the line of failure (the FUSE loop then ends by itself and the daemon
 * exits). Runs once, on whichever thread finishes the mount last. */
static void report_ready(void *arg, int err)
{
	(void)arg;
	pthread_mutex_lock(&ready.mu);
	if (ready.fd < 0) {
		pthread_mutex_unlock(&ready.mu);
		return;
	}
	char line[PATH_MAX * 3 + 128] = "OK\n";
	if (err)
		snprintf(line, sizeof(line),
			 "%s: cannot mount %s on %s: the FUSE mount does not answer (%s); see "
			 "%s\n",
			 prefix(), ready.device, ready.mountpoint, strerror(-err),
			 ready.log_file ? ready.log_file : "the log");
	ssize_t w = write(ready.fd, line, strlen(line));
	(void)w;
	close(ready.fd);
	ready.fd = -1;
	pthread_cond_broadcast(&ready.cv);
	pthread_mutex_unlock(&ready.mu);
}

/* A loop that ended before the check reported (a refused handshake) waits a
 * little for it, so that the parent gets the reason, not just an exit. */
static void report_wait(void)
{
	struct timespec end = clock_ts(clock_ns(CLOCK_MONOTONIC) + 5000000000ull);
	pthread_mutex_lock(&ready.mu);
	while (ready.fd >= 0 && pthread_cond_timedwait(&ready.cv, &ready.mu, &end) == 0)
		;
	pthread_mutex_unlock(&ready.mu);
}

static void fail_line(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void fail_line(const char *fmt, ...)
{
	char line[1024];
	int n = snprintf(line, sizeof(line), "%s: ", prefix());
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
	va_end(ap);
	size_t len = strlen(line);
	if (len + 1 < sizeof(line))
		line[len++] = '\n';
	int fd = report_fd >= 0 ? report_fd : STDERR_FILENO;
	ssize_t w = write(fd, line, len);
	(void)w;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: sanfsd --local DEVICE MOUNTPOINT [-o OPTS] [--foreground] [--verbose] "
		"[--log FILE]\n"
		"  mounts a sanfs device on this host alone (no cluster), then runs in the "
		"background\n"
		"  options: ro, rw, allow_other (default), noallow_other, acl (default), noacl,\n"
		"           relatime (default), strictatime, noatime, nodiratime,\n"
		"           readahead=KB (default 4096), debug, threads=N, nosuid, nodev,\n"
		"           noexec\n");
}

/* Options mount(8) and fstab hand to every helper; they change nothing here. */
static const char *const ignored_opts[] = {
    "local", "rw",	 "suid",     "dev",	   "exec", "atime", "defaults",
    "auto",  "noauto",	 "_netdev",  "nofail",	   "user", "users", "nouser",
    "async", "diratime", "lazytime", "nolazytime", NULL,
};

/* NAME=N with lo <= N <= hi (o + skip is N), into *out. */
static int number_opt(const char *o, size_t skip, unsigned long lo, unsigned long hi,
		      const char *unit, unsigned *out)
{
	char *end;
	unsigned long n = strtoul(o + skip, &end, 10);
	if (!o[skip] || *end || n < lo || n > hi) {
		fail_line("bad option '%s' (%.*s%lu..%lu%s)", o, (int)skip, o, lo, hi, unit);
		return -EINVAL;
	}
	*out = (unsigned)n;
	return 0;
}

static int parse_one_opt(struct local_args *a, const char *o)
{
	for (const char *const *p = ignored_opts; *p; p++)
		if (!strcmp(o, *p))
			return 0;
	if (!strcmp(o, "ro"))
		a->readonly = true;
	else if (!strcmp(o, "allow_other"))
		a->allow_other = true;
	else if (!strcmp(o, "noallow_other"))
		a->allow_other = false;
	else if (!strcmp(o, "acl"))
		a->acl = true;
	else if (!strcmp(o, "noacl"))
		a->acl = false;
	else if (!strcmp(o, "relatime"))
		a->atime = SFS_RELATIME;
	else if (!strcmp(o, "strictatime"))
		a->atime = SFS_STRICTATIME;
	else if (!strcmp(o, "noatime"))
		a->atime = SFS_NOATIME;
	else if (!strcmp(o, "nodiratime"))
		a->nodiratime = true;
	else if (!strcmp(o, "debug"))
		a->debug = true;
	else if (!strcmp(o, "nosuid"))
		a->nosuid = true;
	else if (!strcmp(o, "nodev"))
		a->nodev = true;
	else if (!strcmp(o, "noexec"))
		a->noexec = true;
	else if (!strncmp(o, "threads=", 8))
		return number_opt(o, 8, 1, 1024, "", &a->threads);
	else if (!strncmp(o, "readahead=", 10))
		return number_opt(o, 10, 0, 65536, ", KiB", &a->readahead_kb);
	else if (!strcmp(o, "sync")) {
		fail_line("option 'sync' is not supported (use fsync or O_SYNC)");
		return -EINVAL;
	} else {
		fail_line("unknown mount option '%s'", o);
		return -EINVAL;
	}
	return 0;
}

static int parse_opts(struct local_args *a, const char *list)
{
	char *copy = strdup(list);
	if (!copy)
		return -ENOMEM;
	int r = 0;
	for (char *save = NULL, *o = strtok_r(copy, ",", &save); o && !r;
	     o = strtok_r(NULL, ",", &save))
		r = parse_one_opt(a, o);
	free(copy);
	return r;
}

/* 0, or 2 (usage) after printing the line. */
static int parse_args(struct local_args *a, int argc, char **argv)
{
	*a = (struct local_args){.allow_other = true, .acl = true, .readahead_kb = 4096};
	const char *pos[2];
	int npos = 0;
	for (int i = 1; i < argc; i++) {
		const char *s = argv[i];
		if (!strcmp(s, "--local"))
			continue;
		if (!strcmp(s, "--foreground") || !strcmp(s, "-f"))
			a->foreground = true;
		else if (!strcmp(s, "--verbose") || !strcmp(s, "-v"))
			a->verbose = true;
		else if (!strcmp(s, "--help") || !strcmp(s, "-h")) {
			usage(stdout);
			exit(0);
		} else if ((!strcmp(s, "-o") || !strcmp(s, "--log")) && i + 1 < argc) {
			if (s[1] == 'o') {
				if (parse_opts(a, argv[++i]))
					return 2;
			} else {
				a->log_file = argv[++i];
			}
		} else if (!strncmp(s, "-o", 2) && s[2]) {
			if (parse_opts(a, s + 2))
				return 2;
		} else if (s[0] == '-' && s[1]) {
			fail_line("unknown option '%s' (see sanfsd --help)", s);
			return 2;
		} else if (npos < 2) {
			pos[npos++] = s;
		} else {
			fail_line("unexpected argument '%s' (see sanfsd --help)", s);
			return 2;
		}
	}
	if (npos != 2) {
		fail_line("need DEVICE and MOUNTPOINT (see sanfsd --help)");
		return 2;
	}
	a->device = pos[0];
	a->mountpoint = pos[1];
	return 0;
}

/* Read /proc/self/mountinfo: is source mounted as fuse.sanfs? Fills where. */
static bool mounted_as_sanfs(const char *source, char *where, size_t wlen)
{
	FILE *f = fopen("/proc/self/mountinfo", "r");
	if (!f)
		return false;
	char line[8192];
	struct mountinfo_line m;
	bool found = false;
	while (!found && fgets(line, sizeof(line), f))
		if (mountinfo_parse(line, &m) && !strcmp(m.fstype, "fuse.sanfs") &&
		    !strcmp(m.src, source)) {
			snprintf(where, wlen, "%s", m.mp);
			found = true;
		}
	fclose(f);
	return found;
}

/* The checks that need no device I/O. 0 or 1 after the one-line reason. */
static int check_paths(struct local_args *a, char *dev_real, char *mp_real)
{
	struct stat st;
	if (!realpath(a->device, dev_real)) {
		fail_line("%s: %s", a->device, strerror(errno));
		return 1;
	}
	if (stat(dev_real, &st) != 0 || !(S_ISBLK(st.st_mode) || S_ISREG(st.st_mode))) {
		fail_line("%s: not a block device or image file", a->device);
		return 1;
	}
	if (!realpath(a->mountpoint, mp_real)) {
		fail_line("mount point %s: %s", a->mountpoint, strerror(errno));
		return 1;
	}
	if (stat(mp_real, &st) != 0 || !S_ISDIR(st.st_mode)) {
		fail_line("mount point %s: not a directory", a->mountpoint);
		return 1;
	}
	DIR *d = opendir(mp_real);
	if (!d) {
		fail_line("mount point %s: %s", a->mountpoint, strerror(errno));
		return 1;
	}
	struct dirent *de;
	bool empty = true;
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			empty = false;
	closedir(d);
	if (!empty) {
		fail_line("mount point %s is not empty", a->mountpoint);
		return 1;
	}
	char where[4096];
	if (mounted_as_sanfs(dev_real, where, sizeof(where))) {
		fail_line("%s is already mounted on %s", a->device, where);
		return 1;
	}
	/* A block device some other kernel user holds (a kernel filesystem, a
	 * device-mapper target) refuses an exclusive open. */
	struct stat ds;
	if (stat(dev_real, &ds) == 0 && S_ISBLK(ds.st_mode)) {
		int fd = open(dev_real, O_RDONLY | O_EXCL | O_CLOEXEC);
		if (fd < 0 && errno == EBUSY) {
			fail_line("%s is in use (mounted or held by another program)", a->device);
			return 1;
		}
		if (fd >= 0)
			close(fd);
	}
	return 0;
}

/* The pid file is named after the mount's device number, read from
 * mountinfo: a stat of the mount point would ask the daemon itself, which is
 * not serving yet. */
/* The pid file's path, and devno ("MAJ:MIN" of the mount, 64 bytes). */
static int pidfile_path(const char *mp_real, char *out, size_t len, char *devno_out)
{
	FILE *f = fopen("/proc/self/mountinfo", "r");
	if (!f)
		return -errno;
	char line[8192];
	struct mountinfo_line m;
	int r = -ENOENT;
	while (fgets(line, sizeof(line), f)) {
		if (mountinfo_parse(line, &m) && !strcmp(m.mp, mp_real) &&
		    !strcmp(m.fstype, "fuse.sanfs")) {
			snprintf(out, len, "%s/fuse-%s.pid", SANFS_RUN_DIR, m.devno);
			memcpy(devno_out, m.devno, sizeof(m.devno));
			r = 0; /* the last (topmost) mount wins */
		}
	}
	fclose(f);
	return r;
}

static void pidfile_write(const char *path)
{
	mkdir(SANFS_RUN_DIR, 0755);
	FILE *f = fopen(path, "w");
	if (!f) {
		log_warn("local", "cannot write %s: %s", path, strerror(errno));
		return;
	}
	fprintf(f, "%ld\n", (long)getpid());
	fclose(f);
}

/* Remove path if it still names this process: the FUSE device number in
 * its name may already belong to a newer mount whose daemon wrote it. */
static void pidfile_remove(const char *path)
{
	FILE *f = fopen(path, "r");
	long v = 0;
	if (!f)
		return;
	bool ours = fscanf(f, "%ld", &v) == 1 && v == (long)getpid();
	fclose(f);
	if (ours)
		unlink(path);
}

/* ---- one daemon per device on this host ----
 *
 * A daemon holds an flock on SANFS_RUN_DIR/dev-ID.lock (ID: the block
 * device's number, or an image file's device and inode) for its life. One
 * that still holds it while the device is mounted nowhere is finishing an
 * unmount (umount(8) and fusermount3 -u return before the daemon has freed
 * the inodes the kernel let go, checkpointed the journal and marked the
 * device clean; sanctl umount waits for it). A new mount then waits for it,
 * instead of watching a heartbeat that still advances and refusing. */
#define DEV_LOCK_WAIT_S 60

static int dev_lock(const char *dev_real, const char *device)
{
	struct stat st;
	if (stat(dev_real, &st) != 0) {
		fail_line("%s: %s", device, strerror(errno));
		return -1;
	}
	char path[PATH_MAX];
	if (S_ISBLK(st.st_mode))
		snprintf(path, sizeof(path), "%s/dev-%u:%u.lock", SANFS_RUN_DIR, major(st.st_rdev),
			 minor(st.st_rdev));
	else
		snprintf(path, sizeof(path), "%s/dev-%u:%u-%llu.lock", SANFS_RUN_DIR,
			 major(st.st_dev), minor(st.st_dev), (unsigned long long)st.st_ino);
	mkdir(SANFS_RUN_DIR, 0755);
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0) {
		/* Not fatal: the heartbeat still keeps two mounts apart. */
		log_warn("local", "cannot open %s: %s", path, strerror(errno));
		return -2;
	}
	char where[4096];
	for (int i = 0; flock(fd, LOCK_EX | LOCK_NB) != 0; i++) {
		if (errno != EWOULDBLOCK && errno != EINTR) {
			log_warn("local", "cannot lock %s: %s", path, strerror(errno));
			return fd;
		}
		char pid[32] = "";
		ssize_t n = pread(fd, pid, sizeof(pid) - 1, 0);
		pid[n > 0 ? n : 0] = 0;
		pid[strcspn(pid, "\n")] = 0;
		if (mounted_as_sanfs(dev_real, where, sizeof(where))) {
			fail_line("%s is already mounted on %s", device, where);
			close(fd);
			return -1;
		}
		if (i == 0)
			log_info("local",
				 "%s: waiting for the daemon of its last mount (pid %s) to "
				 "finish unmounting",
				 dev_real, pid[0] ? pid : "?");
		if (i == DEV_LOCK_WAIT_S * 10) {
			fail_line("%s: the daemon of its last mount (pid %s) has not finished "
				  "unmounting after %d s",
				  device, pid[0] ? pid : "?", DEV_LOCK_WAIT_S);
			close(fd);
			return -1;
		}
		usleep(100000);
	}
	char pid[32];
	int len = snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
	if (ftruncate(fd, 0) != 0 || pwrite(fd, pid, (size_t)len, 0) != len)
		log_warn("local", "cannot write %s: %s", path, strerror(errno));
	return fd;
}

/* ---- remount ----
 *
 * `mount -o remount,ro` changes the flags of the FUSE mount in the kernel
 * alone; sanctl (or the mount helper) then sends SIGUSR1 and this thread
 * reads the mount's flags back from mountinfo (never through the mount,
 * which would ask this daemon). SIGUSR1 is blocked in every thread but by
 * sigwait here. */
static struct {
	struct sfs_fuse *f;
	char devno[64];
	pthread_t thr;
	bool started;
	_Atomic bool stop;
} remount = {0};

static void remount_check(void)
{
	FILE *fp = fopen("/proc/self/mountinfo", "r");
	if (!fp) {
		log_warn("local", "remount: cannot read mountinfo: %s", strerror(errno));
		return;
	}
	char line[8192];
	struct mountinfo_line m;
	int ro = -1;
	while (fgets(line, sizeof(line), fp))
		if (mountinfo_parse(line, &m) && !strcmp(m.devno, remount.devno))
			ro = m.super_ro;
	fclose(fp);
	if (ro < 0)
		return; /* unmounted meanwhile */
	int r = sfs_fuse_set_readonly(remount.f, ro);
	const char *why = r == -EROFS ? "it was mounted read-only (no journal): unmount it and "
					"mount it again"
				      : strerror(-r);
	if (r)
		log_error("local", "remount %s: %s", ro ? "read-only" : "read-write", why);
	else
		log_info("local", "remounted %s",
			 ro ? "read-only (journal checkpointed)" : "read-write");
	/* sanctl waits for this answer: "ro", "rw" or the error. */
	char path[PATH_MAX], tmp[PATH_MAX + 8];
	snprintf(path, sizeof(path), "%s/fuse-%s.remount", SANFS_RUN_DIR, remount.devno);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	FILE *out = fopen(tmp, "w");
	if (!out)
		return;
	fprintf(out, "%s\n", r ? why : ro ? "ro" : "rw");
	if (fclose(out) == 0)
		rename(tmp, path);
}

static void *remount_main(void *arg)
{
	(void)arg;
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	for (;;) {
		int sig;
		if (sigwait(&set, &sig) != 0 || atomic_load(&remount.stop))
			break;
		remount_check();
	}
	return NULL;
}

static void remount_start(struct sfs_fuse *f, const char *devno)
{
	remount.f = f;
	snprintf(remount.devno, sizeof(remount.devno), "%s", devno);
	int r = pthread_create(&remount.thr, NULL, remount_main, NULL);
	if (r)
		log_warn("local", "no remount thread (%s): remount ro keeps writing atime",
			 strerror(r));
	remount.started = r == 0;
}

static void remount_stop(void)
{
	if (!remount.started)
		return;
	atomic_store(&remount.stop, true);
	pthread_kill(remount.thr, SIGUSR1);
	pthread_join(remount.thr, NULL);
	remount.started = false;
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/fuse-%s.remount", SANFS_RUN_DIR, remount.devno);
	unlink(path);
}

/* The daemon proper, after any fork. report_fd carries the first line. */
static int serve(struct local_args *a, const char *dev_real, const char *mp_real)
{
	struct lcl *lcl = NULL;
	struct sfs *fs = NULL;
	struct sfs_fuse *f = NULL;
	/* Before any thread starts: only remount_main takes SIGUSR1. */
	sigset_t usr1;
	sigemptyset(&usr1);
	sigaddset(&usr1, SIGUSR1);
	pthread_sigmask(SIG_BLOCK, &usr1, NULL);
	int lock_fd = dev_lock(dev_real, a->device);
	if (lock_fd == -1)
		return 1;
	int r = lcl_create_local(&lcl);
	if (r) {
		fail_line("cannot create the lock layer: %s", strerror(-r));
		return 1;
	}
	struct sfs_ops ops;
	sfs_fuse_fs_ops(&ops);
	struct sfs_mount_opts mo = {
	    .readonly = a->readonly, .local = true, .slot = 0, .own_device = true, .ops = &ops};
	r = sfs_open(dev_real, &mo, lcl, &fs);
	if (r) {
		const char *why = sfs_last_error();
		if (!why || !*why || !strcmp(why, "no error"))
			why = strerror(-r);
		/* The engine's reasons name the device already. */
		if (!strncmp(why, dev_real, strlen(dev_real)) ||
		    !strncmp(why, a->device, strlen(a->device)))
			fail_line("%s", why);
		else
			fail_line("%s: %s", a->device, why);
		lcl_destroy(lcl);
		return 1;
	}
	struct fmnt_opts fo = {
	    .fsname = dev_real,
	    .subtype = "sanfs",
	    .allow_other = a->allow_other,
	    .readonly = a->readonly,
	    .nosuid = a->nosuid,
	    .nodev = a->nodev,
	    .noexec = a->noexec,
	    .debug = a->debug,
	    .max_threads = a->threads,
	    .signals = true,
	};
	struct sfs_fuse_opts so = {.acl = a->acl, .atime = a->atime, .nodiratime = a->nodiratime};
	r = sfs_fuse_start(fs, lcl, mp_real, &fo, &so, &f);
	if (r) {
		fail_line("cannot mount %s on %s: %s", a->device, a->mountpoint, strerror(-r));
		sfs_close(fs);
		lcl_destroy(lcl);
		return 1;
	}
	char pidfile[PATH_MAX + 64] = "";
	char devno[64];
	/* From here failures go to the log; the pipe carries the mount check's
	 * verdict. Mounted means served, with its read-ahead window. */
	cond_init_monotonic(&ready.cv);
	ready.fd = report_fd;
	ready.device = a->device;
	ready.mountpoint = a->mountpoint;
	ready.log_file = a->log_file;
	report_fd = -1;
	log_info("local", "%s mounted on %s (pid %ld)", dev_real, mp_real, (long)getpid());
	if (pidfile_path(mp_real, pidfile, sizeof(pidfile), devno) == 0) {
		pidfile_write(pidfile);
		remount_start(f, devno);
		fmnt_check_ready(mp_real, devno, a->readahead_kb, report_ready, NULL);
	} else {
		log_warn("local", "%s not found in mountinfo: no pid file", mp_real);
		report_ready(NULL, 0);
	}

	/* Daemonized: leave the terminal alone. */
	if (!a->foreground) {
		int null = open("/dev/null", O_RDWR);
		if (null >= 0) {
			dup2(null, STDIN_FILENO);
			dup2(null, STDOUT_FILENO);
			dup2(null, STDERR_FILENO);
			if (null > STDERR_FILENO)
				close(null);
		}
		/* What bypasses the logger (a failed assertion, a sanitizer
		 * report, libfuse's own messages) lands in the log too. */
		int lfd = a->log_file ? open(a->log_file, O_WRONLY | O_APPEND | O_CLOEXEC) : -1;
		if (lfd >= 0) {
			dup2(lfd, STDERR_FILENO);
			close(lfd);
		}
	}

	int rc = 0;
	r = sfs_fuse_serve(f);
	if (r)
		rc = 1;
	report_wait();
	remount_stop();
	sfs_fuse_free(f);
	r = sfs_close(fs);
	if (r) {
		log_error("local",
			  "closing %s failed: %s; the journal will replay at the next "
			  "mount",
			  dev_real, strerror(-r));
		rc = 1;
	} else {
		if (pidfile[0])
			pidfile_remove(pidfile);
		log_info("local", "%s unmounted cleanly", dev_real);
	}
	lcl_destroy(lcl);
	return rc;
}

int sanfsd_local_main(int argc, char **argv)
{
	struct local_args a;
	int r = parse_args(&a, argc, argv);
	if (r)
		return r;
	/* The log file is the only record a background daemon leaves: mounts,
	 * replays and unmounts (INFO) belong in it. */
	log_setup("sanfsd", 0, a.verbose ? LOG_DEBUG : LOG_INFO);
	/* In the background the log goes to a file (stderr is the caller's
	 * terminal, and its one line of failure must stay one line). */
	char deflog[PATH_MAX];
	if (!a.log_file && !a.foreground) {
		const char *base = strrchr(a.device, '/');
		base = base ? base + 1 : a.device;
		mkdir(SANFS_LOG_DIR, 0755);
		snprintf(deflog, sizeof(deflog), "%s/local-%s.log", SANFS_LOG_DIR,
			 *base ? base : "device");
		a.log_file = deflog;
	}
	if (a.log_file && log_open_file(a.log_file) != 0) {
		if (a.log_file != deflog) {
			fail_line("cannot open log file %s: %s", a.log_file, strerror(errno));
			return 1;
		}
		log_open_file("/dev/null");
	}
	log_install_crash_handler();
	char dev_real[PATH_MAX], mp_real[PATH_MAX];
	if (check_paths(&a, dev_real, mp_real))
		return 1;
	if (a.foreground)
		return serve(&a, dev_real, mp_real);

	/* Detach only once mounted: the child does the work and reports the first
	 * line through the pipe; the parent waits for it. */
	int p[2];
	if (pipe2(p, O_CLOEXEC) != 0) {
		fail_line("pipe: %s", strerror(errno));
		return 1;
	}
	fflush(NULL);
	pid_t pid = fork();
	if (pid < 0) {
		fail_line("fork: %s", strerror(errno));
		return 1;
	}
	if (pid == 0) {
		close(p[0]);
		report_fd = p[1];
		setsid();
		if (chdir("/") != 0)
			log_warn("local", "chdir /: %s", strerror(errno));
		signal(SIGPIPE, SIG_IGN);
		_exit(serve(&a, dev_real, mp_real));
	}
	close(p[1]);
	char buf[1100];
	size_t got = 0;
	for (;;) {
		ssize_t n = read(p[0], buf + got, sizeof(buf) - 1 - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
		if (memchr(buf, '\n', got) || got >= sizeof(buf) - 1)
			break;
	}
	close(p[0]);
	buf[got] = 0;
	if (!strncmp(buf, "OK\n", 3))
		return 0;
	int status = 0;
	waitpid(pid, &status, 0);
	if (got)
		fputs(buf, stderr);
	else
		fprintf(stderr, "%s: the daemon exited before mounting (status %d)\n", prefix(),
			WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
	return 1;
}

/* sanctl mount / umount (DESIGN §8).
 *
 *   sanctl mount --local DEVICE MOUNTPOINT [-o OPTS]
 *       runs `sanfsd --local ...`, which returns once mounted (or with the
 *       one-line reason it could not mount).
 *   sanctl mount [DEVICE] MOUNTPOINT -o remount[,ro|rw,...]
 *       new flags for a mounted filesystem; its daemon answers once done.
 *   sanctl umount MOUNTPOINT
 *       unmounts a sanfs mount and waits until its local daemon has
 *       checkpointed the journal, marked the device clean and exited.
 *
 * Cluster mounts (without --local) go through the node daemon's admin socket
 * and are handled there. */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli/commands.h"
#include "common/mountinfo.h"

int cmd_mount(const struct sanctl_globals *g, int argc, char **argv);
int cmd_umount(const struct sanctl_globals *g, int argc, char **argv);

#define RUN_DIR "/run/sanfs" /* node/local.h SANFS_RUN_DIR */

/* Find the program name: $ENVVAR, next to this executable, in the build
 * tree's sibling folder, or in PATH. Fills out (PATH_MAX). */
static void find_prog(const char *name, const char *envvar, const char *build_dir, char *out)
{
	const char *e = getenv(envvar);
	if (e && *e) {
		snprintf(out, PATH_MAX, "%s", e);
		return;
	}
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n > 0) {
		self[n] = 0;
		char *slash = strrchr(self, '/');
		if (slash) {
			*slash = 0;
			char sib[64];
			snprintf(sib, sizeof(sib), "../%s", build_dir);
			const char *dirs[] = {".", sib, "../sbin", "../bin"};
			for (unsigned i = 0; i < 4; i++) {
				char cand[2 * PATH_MAX];
				snprintf(cand, sizeof(cand), "%s/%s/%s", self, dirs[i], name);
				if (strlen(cand) < PATH_MAX && access(cand, X_OK) == 0) {
					memcpy(out, cand, strlen(cand) + 1);
					return;
				}
			}
		}
	}
	snprintf(out, PATH_MAX, "%s", name);
}

static int run_wait(char *const argv[])
{
	fflush(NULL);
	pid_t pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		execvp(argv[0], argv);
		fprintf(stderr, "sanctl: cannot run %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	int st;
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return -errno;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static void mount_usage(FILE *f)
{
	fprintf(f, "usage: sanctl mount --local DEVICE MOUNTPOINT [-o OPTS]\n"
		   "       sanctl [--state DIR] mount LABEL|DEVICE MOUNTPOINT [-o OPTS]\n"
		   "  --local   mount on this host alone, no cluster (sanfsd --local)\n"
		   "       sanctl mount [DEVICE] MOUNTPOINT -o remount[,ro|rw,nosuid,...]\n"
		   "  -o OPTS   ro, rw, noallow_other, noacl, relatime (default), strictatime,\n"
		   "            noatime, nodiratime, readahead=KB, debug, threads=N, nosuid,\n"
		   "            nodev, noexec; remount changes ro/rw, [no]suid, [no]dev and\n"
		   "            [no]exec of a mounted filesystem\n");
}

static bool is_sanfs_mount(const char *path, char *devno, size_t dlen, unsigned long *flags);
static pid_t pidfile_read(const char *path);
static bool is_sanfsd(pid_t pid);
static int wait_answer(const char *answer, bool ro, const char *mp, pid_t pid);

/* A mount's own options (mountinfo's sixth field) as MS_* bits. */
static unsigned long opts_flags(const char *opts)
{
	static const struct {
		const char *name;
		unsigned long flag;
	} known[] = {{"ro", MS_RDONLY},		{"nosuid", MS_NOSUID},
		     {"nodev", MS_NODEV},	{"noexec", MS_NOEXEC},
		     {"noatime", MS_NOATIME},	{"nodiratime", MS_NODIRATIME},
		     {"relatime", MS_RELATIME}, {"nosymfollow", MS_NOSYMFOLLOW}};
	char copy[512];
	snprintf(copy, sizeof(copy), "%s", opts);
	unsigned long flags = 0;
	for (char *save = NULL, *o = strtok_r(copy, ",", &save); o; o = strtok_r(NULL, ",", &save))
		for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
			if (!strcmp(o, known[i].name))
				flags |= known[i].flag;
	return flags;
}

/* mount -o remount[,ro|rw][,nosuid|suid][,nodev|dev][,noexec|exec]: new
 * flags for the sanfs mount at mp, set in the kernel; the local daemon is
 * told (SIGUSR1) and answers once it stopped writing and checkpointed its
 * journal (ro) or writes again (rw). Other options (atime rules, acl,
 * read-ahead, threads) are the daemon's and stay as mounted. */
static int remount(const char *mp, const char *opts)
{
	char real[PATH_MAX], devno[64];
	if (!realpath(mp, real)) {
		fprintf(stderr, "sanctl mount: %s: %s\n", mp, strerror(errno));
		return 1;
	}
	unsigned long cur;
	if (!is_sanfs_mount(real, devno, sizeof(devno), &cur)) {
		fprintf(stderr, "sanctl mount: %s is not a sanfs mount point\n", mp);
		return 1;
	}
	unsigned long flags = cur;
	char copy[4096];
	snprintf(copy, sizeof(copy), "%s", opts);
	for (char *save = NULL, *o = strtok_r(copy, ",", &save); o;
	     o = strtok_r(NULL, ",", &save)) {
		static const struct {
			const char *name;
			unsigned long set, clear;
		} change[] = {
		    {"ro", MS_RDONLY, 0},     {"rw", 0, MS_RDONLY},   {"nosuid", MS_NOSUID, 0},
		    {"suid", 0, MS_NOSUID},   {"nodev", MS_NODEV, 0}, {"dev", 0, MS_NODEV},
		    {"noexec", MS_NOEXEC, 0}, {"exec", 0, MS_NOEXEC},
		};
		for (size_t i = 0; i < sizeof(change) / sizeof(change[0]); i++) {
			if (!strcmp(o, change[i].name)) {
				flags |= change[i].set;
				flags &= ~change[i].clear;
			}
		}
	}
	bool ro = flags & MS_RDONLY;
	char pidfile[PATH_MAX], answer[PATH_MAX];
	snprintf(pidfile, sizeof(pidfile), "%s/fuse-%s.pid", RUN_DIR, devno);
	snprintf(answer, sizeof(answer), "%s/fuse-%s.remount", RUN_DIR, devno);
	pid_t pid = pidfile_read(pidfile);
	unlink(answer);
	if (mount("", real, NULL, MS_REMOUNT | flags, NULL) != 0) {
		fprintf(stderr, "sanctl mount: cannot remount %s: %s\n", mp,
			errno == EBUSY ? "busy (a file is open for writing)" : strerror(errno));
		return 1;
	}
	if (pid <= 0 || !is_sanfsd(pid) || kill(pid, SIGUSR1) != 0)
		return 0; /* not a local daemon of ours */
	int rc = wait_answer(answer, ro, mp, pid);
	if (rc && mount("", real, NULL, MS_REMOUNT | cur, NULL) != 0)
		fprintf(stderr, "sanctl mount: %s keeps the new flags: %s\n", mp, strerror(errno));
	return rc;
}

/* The daemon's answer to a remount (its remount thread, node/local.c). */
static int wait_answer(const char *answer, bool ro, const char *mp, pid_t pid)
{
	for (int i = 0; i < 600; i++) {
		FILE *f = fopen(answer, "r");
		if (f) {
			char got[256] = "";
			if (!fgets(got, sizeof(got), f))
				got[0] = 0;
			fclose(f);
			got[strcspn(got, "\n")] = 0;
			if (!strcmp(got, ro ? "ro" : "rw"))
				return 0;
			fprintf(stderr, "sanctl mount: cannot remount %s: %s\n", mp, got);
			return 1;
		}
		struct timespec ts = {0, 100 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
	fprintf(stderr, "sanctl mount: remount of %s: no answer from daemon %ld in 60 s\n", mp,
		(long)pid);
	return 1;
}

/* Is pid (from a pid file, which may be stale) a sanfsd? */
static bool is_sanfsd(pid_t pid)
{
	char path[64], comm[32] = "";
	snprintf(path, sizeof(path), "/proc/%ld/comm", (long)pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return false;
	bool ok = fgets(comm, sizeof(comm), f) && !strcmp(comm, "sanfsd\n");
	fclose(f);
	return ok;
}

/* Does the option list name remount? */
static bool wants_remount(const char *opts)
{
	char copy[4096];
	snprintf(copy, sizeof(copy), "%s", opts ? opts : "");
	for (char *save = NULL, *o = strtok_r(copy, ",", &save); o; o = strtok_r(NULL, ",", &save))
		if (!strcmp(o, "remount"))
			return true;
	return false;
}

int cmd_mount(const struct sanctl_globals *g, int argc, char **argv)
{
	(void)g;
	bool local = false;
	const char *opts = NULL, *pos[2];
	int npos = 0;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--local")) {
			local = true;
		} else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			mount_usage(stdout);
			return 0;
		} else if (!strcmp(argv[i], "-o") && i + 1 < argc) {
			opts = argv[++i];
		} else if (argv[i][0] == '-' && argv[i][1]) {
			fprintf(stderr,
				"sanctl mount: unknown option '%s' (see sanctl mount --help)\n",
				argv[i]);
			return 2;
		} else if (npos < 2) {
			pos[npos++] = argv[i];
		} else {
			fprintf(stderr, "sanctl mount: unexpected argument '%s'\n", argv[i]);
			return 2;
		}
	}
	if (wants_remount(opts) && npos >= 1)
		return remount(pos[npos - 1], opts);
	if (npos != 2) {
		fprintf(stderr,
			"sanctl mount: need DEVICE and MOUNTPOINT (see sanctl mount --help)\n");
		return 2;
	}
	if (!local) {
		fprintf(stderr, "sanctl mount: mounting one filesystem from several nodes is not "
				"available yet; use --local for a single-host mount\n");
		return 1;
	}
	char sanfsd[PATH_MAX];
	find_prog("sanfsd", "SANFSD", "node", sanfsd);
	char *av[10];
	int n = 0;
	av[n++] = sanfsd;
	av[n++] = "--local";
	av[n++] = (char *)pos[0];
	av[n++] = (char *)pos[1];
	if (opts) {
		av[n++] = "-o";
		av[n++] = (char *)opts;
	}
	if (g->verbose)
		av[n++] = "--verbose";
	av[n] = NULL;
	setenv("SANFSD_ERROR_PREFIX", "sanctl mount", 1);
	int r = run_wait(av);
	if (r < 0) {
		fprintf(stderr, "sanctl mount: cannot run %s: %s\n", sanfsd, strerror(-r));
		return 1;
	}
	return r == 0 ? 0 : (r == 2 ? 2 : 1);
}

/* Is path a fuse.sanfs mount point (exactly)? Fills its "maj:min" (the
 * topmost mount) without a stat, which would ask a possibly hung daemon. */
static bool is_sanfs_mount(const char *path, char *devno, size_t dlen, unsigned long *flags)
{
	FILE *f = fopen("/proc/self/mountinfo", "r");
	if (!f)
		return false;
	char line[8192];
	struct mountinfo_line m;
	bool found = false;
	while (fgets(line, sizeof(line), f)) {
		if (mountinfo_parse(line, &m) && !strcmp(m.mp, path) &&
		    !strcmp(m.fstype, "fuse.sanfs")) {
			found = true;
			snprintf(devno, dlen, "%s", m.devno);
			if (flags)
				*flags = opts_flags(m.opts);
		}
	}
	fclose(f);
	return found;
}

/* real = realpath(dirname(path)) + "/" + basename(path). */
static bool resolve_parent(const char *path, char *real)
{
	char copy[PATH_MAX];
	snprintf(copy, sizeof(copy), "%s", path);
	size_t n = strlen(copy);
	while (n > 1 && copy[n - 1] == '/')
		copy[--n] = 0;
	char *slash = strrchr(copy, '/');
	const char *base = slash ? slash + 1 : copy;
	char dir[PATH_MAX];
	if (!slash)
		snprintf(dir, sizeof(dir), ".");
	else if (slash == copy)
		snprintf(dir, sizeof(dir), "/");
	else {
		*slash = 0;
		snprintf(dir, sizeof(dir), "%s", copy);
	}
	char rd[PATH_MAX];
	if (!realpath(dir, rd) || strlen(rd) + strlen(base) + 2 > PATH_MAX) {
		errno = ENOTCONN;
		return false;
	}
	size_t l = strlen(rd);
	memcpy(real, rd, l);
	if (strcmp(rd, "/"))
		real[l++] = '/';
	memcpy(real + l, base, strlen(base) + 1);
	return true;
}

/* The pid a local daemon wrote to path, 0 if none. */
static pid_t pidfile_read(const char *path)
{
	FILE *f = fopen(path, "r");
	long v = 0;
	if (f) {
		if (fscanf(f, "%ld", &v) != 1 || v < 0)
			v = 0;
		fclose(f);
	}
	return (pid_t)v;
}

static bool pid_alive(pid_t pid)
{
	return kill(pid, 0) == 0 || errno == EPERM;
}

int cmd_umount(const struct sanctl_globals *g, int argc, char **argv)
{
	(void)g;
	const char *mp = NULL;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			printf("usage: sanctl umount MOUNTPOINT\n"
			       "  unmounts a sanfs filesystem and waits until its journal is "
			       "checkpointed and the device marked clean\n");
			return 0;
		} else if (argv[i][0] == '-') {
			fprintf(stderr, "sanctl umount: unknown option '%s'\n", argv[i]);
			return 2;
		} else if (!mp) {
			mp = argv[i];
		} else {
			fprintf(stderr, "sanctl umount: unexpected argument '%s'\n", argv[i]);
			return 2;
		}
	}
	if (!mp) {
		fprintf(stderr, "sanctl umount: need MOUNTPOINT\n");
		return 2;
	}
	char real[PATH_MAX];
	if (!realpath(mp, real)) {
		/* A mount whose daemon died answers ENOTCONN: resolve its parent. */
		if (errno != ENOTCONN || !resolve_parent(mp, real)) {
			fprintf(stderr, "sanctl umount: %s: %s\n", mp, strerror(errno));
			return 1;
		}
	}
	char devno[64];
	if (!is_sanfs_mount(real, devno, sizeof(devno), NULL)) {
		fprintf(stderr, "sanctl umount: %s is not a sanfs mount point\n", mp);
		return 1;
	}
	char pidfile[PATH_MAX];
	snprintf(pidfile, sizeof(pidfile), "%s/fuse-%s.pid", RUN_DIR, devno);
	pid_t pid = pidfile_read(pidfile);
	if (geteuid() == 0) {
		/* A process that has just closed its last file there or is
		 * exiting may hold the mount a moment longer: busy only when it
		 * still is after a second. */
		int r, tries = 0;
		while ((r = umount2(real, 0)) != 0 && errno == EBUSY && ++tries < 20) {
			struct timespec ts = {0, 50 * 1000 * 1000};
			nanosleep(&ts, NULL);
		}
		if (r != 0) {
			fprintf(stderr, "sanctl umount: %s: %s\n", mp,
				errno == EBUSY ? "busy (files are open or a process uses it)"
					       : strerror(errno));
			return 1;
		}
	} else {
		char *av[] = {"fusermount3", "-u", real, NULL};
		if (run_wait(av) != 0) {
			fprintf(stderr, "sanctl umount: fusermount3 -u %s failed\n", mp);
			return 1;
		}
	}
	if (pid <= 0)
		return 0; /* not a local daemon of ours: the node daemon cleans up */
	/* Wait for the daemon to checkpoint, mark the device clean and exit. */
	for (int i = 0; i < 1200 && pid_alive(pid); i++) {
		struct timespec ts = {0, 100 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
	if (pid_alive(pid)) {
		fprintf(stderr, "sanctl umount: %s unmounted but daemon %ld is still running\n", mp,
			(long)pid);
		return 1;
	}
	/* The daemon removes its pid file once the device is clean. The FUSE
	 * device number (the file's name) is reused by the next FUSE mount on
	 * the host at once, so a file that now names another daemon is that
	 * mount's, not a sign of ours. */
	if (pidfile_read(pidfile) == pid) {
		unlink(pidfile);
		fprintf(stderr,
			"sanctl umount: the daemon of %s exited without closing the device "
			"cleanly; the journal replays at the next mount\n",
			mp);
		return 1;
	}
	return 0;
}

/* Permission checks as a non-root user (issue 2: EACCES and EPERM with
 * permission checks on): mode bits on open/create/search, the sticky bit,
 * chmod/chown/utimes/xattrs of files not owned, setuid clearing on write, and
 * POSIX ACLs enforced (named user entries, the mask, default ACLs). The root
 * part of each case prepares files, then t_as_user() runs the checks as uid
 * 65534 (nobody) or 65533. Usage: posix_perm DIR [CASE...]. */
#include "tcheck.h"

#include <acl/libacl.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/capability.h>
#include <sys/acl.h>
#include <sys/syscall.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#define NOBODY T_NOBODY
#define OTHER  T_UID2

static void set_acl(const char *path, acl_type_t type, const char *text)
{
	acl_t a = acl_from_text(text);
	T_ASSERT(a != NULL, "acl_from_text %s", text);
	if (acl_set_file(path, type, a) < 0)
		t_fail(__FILE__, __LINE__, "acl_set_file %s %s: %s", path, text, strerror(errno));
	acl_free(a);
}

/* The case directory is 0755 root: let the users in. */
static void open_case_dir(void)
{
	T_OK(chmod(".", 0777));
}

static void as_nobody_mode(void *arg)
{
	(void)arg;
	/* Mode bits on open. */
	T_ERR(open("secret", O_RDONLY), EACCES);
	T_ERR(open("readonly", O_WRONLY), EACCES);
	T_ERR(open("readonly", O_RDWR), EACCES);
	T_ERR(open("readonly", O_WRONLY | O_TRUNC), EACCES);
	T_ERR(open("readonly", O_RDONLY | O_TRUNC), EACCES);
	int fd = T_OK(open("readonly", O_RDONLY));
	T_OK(close(fd));
	T_ERR(truncate("readonly", 0), EACCES);
	T_ERR(access("readonly", W_OK), EACCES);
	T_OK(access("readonly", R_OK));
	T_ERR(access("secret", R_OK), EACCES);
	/* Creating, removing and renaming in a directory not writable. */
	T_ERR(open("closed/new", O_WRONLY | O_CREAT, 0644), EACCES);
	T_ERR(mkdir("closed/newdir", 0755), EACCES);
	T_ERR(symlink("x", "closed/newlink"), EACCES);
	T_ERR(mknod("closed/fifo", S_IFIFO | 0644, 0), EACCES);
	T_ERR(unlink("closed/file"), EACCES);
	T_ERR(rename("closed/file", "moved"), EACCES);
	T_ERR(link("mine", "closed/hard"), EACCES); /* own file: protected_hardlinks allows */
	T_ERR(rmdir("closed/sub"), EACCES);
	/* ...but a file in it that is writable can be written. */
	fd = T_OK(open("closed/file", O_WRONLY));
	T_OK(close(fd));
	/* Search permission. */
	struct stat st;
	T_ERR(stat("nosearch/file", &st), EACCES);
	T_ERR(open("nosearch/file", O_RDONLY), EACCES);
	T_ERR(open("noread", O_RDONLY | O_DIRECTORY), EACCES);
	T_OK(stat("noread/file", &st)); /* x without r: lookup works */
	/* A FIFO is opened by the kernel, not the filesystem: its mode bits
	 * still apply. */
	T_ERR(open("fifo", O_RDONLY | O_NONBLOCK), EACCES);
	T_ERR(open("fifo", O_RDWR), EACCES);
	/* Ownership changes. */
	T_ERR(chmod("readonly", 0777), EPERM);
	T_ERR(chown("readonly", NOBODY, NOBODY), EPERM);
	T_ERR(chown("mine", 0, (gid_t)-1), EPERM);
	T_ERR(chown("mine", (uid_t)-1, 0), EPERM); /* not a member of group 0 */
	T_OK(chown("mine", NOBODY, NOBODY));	   /* no-op chown to oneself */
	T_OK(chmod("mine", 0600));
	/* Explicit times need ownership; "now" needs write permission. */
	struct timespec ts[2] = {{1000, 0}, {2000, 0}};
	T_ERR(utimensat(AT_FDCWD, "writable", ts, 0), EPERM);
	T_OK(utimensat(AT_FDCWD, "writable", NULL, 0));
	T_ERR(utimensat(AT_FDCWD, "readonly", NULL, 0), EACCES);
	T_OK(utimensat(AT_FDCWD, "mine", ts, 0));
	/* Extended attributes: user. needs write permission, trusted. needs
	 * CAP_SYS_ADMIN (hidden otherwise). */
	T_ERR(setxattr("readonly", "user.x", "x", 1, 0), EACCES);
	T_OK(setxattr("writable", "user.x", "x", 1, 0));
	T_ERR(setxattr("mine", "trusted.x", "x", 1, 0), EPERM);
	char buf[64];
	T_ERR(getxattr("readonly", "trusted.hidden", buf, sizeof(buf)), ENODATA);
	T_ERR(getxattr("secret", "user.u", buf, sizeof(buf)), EACCES);
	/* ACL changes on a file not owned. */
	T_ERR(setxattr("readonly", "system.posix_acl_access", "", 0, 0), EPERM);
}

static void t_mode_bits(void)
{
	open_case_dir();
	t_write_file("secret", "s", 1, 0600);
	T_OK(setxattr("secret", "user.u", "u", 1, 0));
	t_write_file("readonly", "r", 1, 0644);
	T_OK(setxattr("readonly", "trusted.hidden", "h", 1, 0));
	t_write_file("writable", "w", 1, 0666);
	T_OK(chmod("writable", 0666));
	t_write_file("mine", "m", 1, 0644);
	T_OK(chown("mine", NOBODY, NOBODY));
	T_OK(mkdir("closed", 0755));
	t_write_file("closed/file", "c", 1, 0666);
	T_OK(chmod("closed/file", 0666));
	T_OK(mkdir("closed/sub", 0));
	T_OK(chmod("closed/sub", 0777));
	T_OK(mkdir("nosearch", 0766));
	t_write_file("nosearch/file", "n", 1, 0666);
	T_OK(mkdir("noread", 0711));
	t_write_file("noread/file", "n", 1, 0666);
	T_OK(mknod("fifo", S_IFIFO | 0600, 0));
	/* Looked up by root just before: nobody's search of nosearch must be
	 * refused although the kernel has the entry cached. */
	struct stat st;
	T_OK(stat("nosearch/file", &st));
	t_as_user(NOBODY, NOBODY, as_nobody_mode, NULL);
	/* Nothing changed. */
	T_EQ(t_lstat("readonly").st_mode & 07777, 0644);
	T_EQ(t_lstat("readonly").st_size, 1);
	T_EQ(t_lstat("readonly").st_uid, 0);
	T_EQ(t_lstat("writable").st_mtim.tv_sec > 2000, 1);
	T_EQ(t_lstat("closed/file").st_nlink, 1);
	T_EQ(t_lstat("mine").st_mode & 07777, 0600);
}

static void as_nobody_sticky(void *arg)
{
	(void)arg;
	T_ERR(unlink("sticky/others"), EPERM);
	T_ERR(rename("sticky/others", "sticky/renamed"), EPERM);
	T_ERR(rmdir("sticky/othersdir"), EPERM);
	T_OK(unlink("sticky/own"));
	/* Without the sticky bit the same is allowed. */
	T_OK(unlink("open/others"));
}

static void t_sticky(void)
{
	open_case_dir();
	T_OK(mkdir("sticky", 0));
	T_OK(chmod("sticky", 01777));
	T_OK(mkdir("open", 0));
	T_OK(chmod("open", 0777));
	t_write_file("sticky/others", "o", 1, 0666);
	T_OK(chmod("sticky/others", 0666));
	T_OK(chown("sticky/others", OTHER, OTHER));
	T_OK(mkdir("sticky/othersdir", 0777));
	T_OK(chown("sticky/othersdir", OTHER, OTHER));
	t_write_file("sticky/own", "o", 1, 0644);
	T_OK(chown("sticky/own", NOBODY, NOBODY));
	t_write_file("open/others", "o", 1, 0644);
	T_OK(chown("open/others", OTHER, OTHER));
	t_as_user(NOBODY, NOBODY, as_nobody_sticky, NULL);
	struct stat st;
	T_OK(lstat("sticky/others", &st));
	T_ERR(lstat("sticky/own", &st), ENOENT);
}

static void as_nobody_write_suid(void *arg)
{
	(void)arg;
	int fd = T_OK(open("suid", O_WRONLY));
	T_EQ(write(fd, "x", 1), 1);
	T_OK(close(fd));
	/* setgid cleared on chmod of one's own file whose group one is not in. */
	T_OK(chmod("ownfile", 02755));
	T_EQ(t_lstat("ownfile").st_mode & 07777, 0755);
	/* New files take the user's ids; in a setgid dir they take its group. */
	int f = T_OK(open("new", O_WRONLY | O_CREAT, 0644));
	T_OK(close(f));
	T_EQ(t_lstat("new").st_uid, NOBODY);
	T_EQ(t_lstat("new").st_gid, NOBODY);
	f = T_OK(open("sgid/new", O_WRONLY | O_CREAT, 0644));
	T_OK(close(f));
	T_EQ(t_lstat("sgid/new").st_gid, 4242);
	T_OK(mkdir("sgid/newdir", 0755));
	T_EQ(t_lstat("sgid/newdir").st_gid, 4242);
	T_ASSERT(t_lstat("sgid/newdir").st_mode & S_ISGID, "setgid inherited by subdirectory");
}

static void t_suid_sgid(void)
{
	open_case_dir();
	t_write_file("suid", "s", 1, 0666);
	T_OK(chmod("suid", 0666));
	T_OK(chmod("suid", 04777));
	t_write_file("ownfile", "o", 1, 0644);
	T_OK(chown("ownfile", NOBODY, 0));
	T_OK(mkdir("sgid", 0777));
	T_OK(chown("sgid", 0, 4242));
	T_OK(chmod("sgid", 02777));
	t_as_user(NOBODY, NOBODY, as_nobody_write_suid, NULL);
	T_EQ(t_lstat("suid").st_mode & 07777, 0777);
}

/* A capability set as security.capability (VFS_CAP_REVISION_2, effective,
 * permitted CAP_NET_RAW). */
static void set_cap(const char *path)
{
	static const uint32_t cap[5] = {0x02000001, 1u << 13, 0, 0, 0};
	T_OK(setxattr(path, "security.capability", cap, sizeof(cap), 0));
}

static bool has_cap(const char *path)
{
	char b[64];
	ssize_t n = getxattr(path, "security.capability", b, sizeof(b));
	T_ASSERT(n > 0 || errno == ENODATA, "getxattr security.capability: %s", strerror(errno));
	return n > 0;
}

static void write_one(const char *path)
{
	int fd = T_OK(open(path, O_WRONLY | O_APPEND));
	T_EQ(write(fd, "x", 1), 1);
	T_OK(close(fd));
}

static void as_nobody_write(void *arg)
{
	write_one(arg);
}

static void as_nobody_fallocate(void *arg)
{
	int fd = T_OK(open(arg, O_WRONLY));
	T_OK(fallocate(fd, 0, 0, 8192));
	T_OK(close(fd));
}

static void as_nobody_copy(void *arg)
{
	int in = T_OK(open("sgid", O_RDONLY));
	int out = T_OK(open(arg, O_WRONLY));
	T_EQ(copy_file_range(in, NULL, out, NULL, 1, 0), 1);
	T_OK(close(in));
	T_OK(close(out));
}

/* Root without CAP_FSETID (a container's root, a service with its
 * capabilities bounded): its write clears set-id bits as anyone's. */
static void write_without_fsetid(const char *path)
{
	pid_t pid = fork();
	T_ASSERT(pid >= 0, "fork");
	if (pid == 0) {
		struct __user_cap_header_struct h = {.version = _LINUX_CAPABILITY_VERSION_3};
		struct __user_cap_data_struct d[2];
		if (syscall(SYS_capget, &h, d) != 0)
			_exit(2);
		d[0].effective &= ~(1u << CAP_FSETID);
		d[0].permitted &= ~(1u << CAP_FSETID);
		if (syscall(SYS_capset, &h, d) != 0)
			_exit(3);
		int fd = open(path, O_WRONLY | O_APPEND);
		_exit(fd >= 0 && write(fd, "r", 1) == 1 && close(fd) == 0 ? 0 : 4);
	}
	int st;
	T_EQ(waitpid(pid, &st, 0), pid);
	T_ASSERT(WIFEXITED(st) && WEXITSTATUS(st) == 0, "write without CAP_FSETID (status %#x)",
		 st);
}

/* chmod path to mode, run fn on it as nobody, expect mode want after. */
static void kill_case(const char *path, mode_t mode, void (*fn)(void *), mode_t want)
{
	T_OK(chmod(path, mode));
	t_as_user(NOBODY, NOBODY, fn, (void *)path);
	T_EQ(t_lstat(path).st_mode & 07777, want);
}

/* A write removes a file capability, every time one was set since (also
 * once the kernel stopped asking for it on each write: sanfs mounts with
 * FUSE_HANDLE_KILLPRIV_V2); set-id bits go on a write by anyone but root,
 * setgid only with group execute (as Linux's file_remove_privs). */
static void t_write_kills_priv(void)
{
	open_case_dir();
	t_write_file("cap", "c", 1, 0755);
	set_cap("cap");
	T_ASSERT(has_cap("cap"), "capability set");
	write_one("cap");
	T_ASSERT(!has_cap("cap"), "a write removes the capability");
	write_one("cap");
	set_cap("cap");
	write_one("cap");
	T_ASSERT(!has_cap("cap"), "a write removes a capability set again");
	/* Root keeps set-id bits; another writer does not. */
	t_write_file("sid", "s", 1, 0666);
	T_OK(chmod("sid", 06777));
	write_one("sid");
	T_EQ(t_lstat("sid").st_mode & 07777, 06777);
	t_as_user(NOBODY, NOBODY, as_nobody_write, "sid");
	T_EQ(t_lstat("sid").st_mode & 07777, 0777);
	/* setgid without group execute: kept for a writer in the file's
	 * group, cleared for one outside it (Linux 6.2+, as ext4). */
	t_write_file("sgid", "g", 1, 0666);
	T_OK(chown("sgid", 0, NOBODY));
	kill_case("sgid", 02666, as_nobody_write, 02666);
	T_OK(chown("sgid", 0, 0));
	kill_case("sgid", 02666, as_nobody_write, 0666);
	kill_case("sgid", 02666, as_nobody_fallocate, 0666);
	T_OK(chmod("sid", 06777));
	write_without_fsetid("sid");
	T_EQ(t_lstat("sid").st_mode & 07777, 0777);
	/* Again after writes that found nothing to remove. */
	kill_case("sid", 04777, as_nobody_write, 0777);
	/* fallocate and copy_file_range change data as a write does. */
	kill_case("sid", 06777, as_nobody_fallocate, 0777);
	kill_case("sid", 06777, as_nobody_copy, 0777);
	/* Truncation and chown remove the capability too. */
	set_cap("cap");
	T_OK(truncate("cap", 1));
	T_ASSERT(!has_cap("cap"), "truncate removes the capability");
	set_cap("cap");
	T_OK(chown("cap", NOBODY, NOBODY));
	T_ASSERT(!has_cap("cap"), "chown removes the capability");
	/* chown clears set-id bits even by root to the same owner (as ext4);
	 * setgid only with group execute. */
	T_OK(chmod("cap", 06755));
	T_OK(chown("cap", NOBODY, NOBODY));
	T_EQ(t_lstat("cap").st_mode & 07777, 0755);
	T_OK(chmod("cap", 06745));
	T_OK(chown("cap", NOBODY, NOBODY));
	T_EQ(t_lstat("cap").st_mode & 07777, 02745);
}

static void as_nobody_exec(void *arg)
{
	(void)arg;
	pid_t pid = fork();
	T_ASSERT(pid >= 0, "fork");
	if (pid == 0) {
		execl("./prog", "prog", (char *)NULL);
		_exit(errno == EACCES ? 13 : 127);
	}
	int st;
	T_EQ(waitpid(pid, &st, 0), pid);
	T_ASSERT(WIFEXITED(st) && WEXITSTATUS(st) == 0, "a program mode 0111 ran (status %#x)", st);
	/* Read permission is still what reading needs. */
	T_ERR(open("prog", O_RDONLY), EACCES);
}

/* execve needs execute permission only: a binary mode 0111 runs for anyone
 * (the kernel reads it, the user cannot). */
static void t_exec_only(void)
{
	open_case_dir();
	int in = T_OK(open("/bin/true", O_RDONLY));
	int out = T_OK(open("prog", O_WRONLY | O_CREAT | O_TRUNC, 0755));
	char b[65536];
	ssize_t n;
	while ((n = read(in, b, sizeof(b))) > 0)
		T_EQ(write(out, b, (size_t)n), n);
	T_OK(close(in));
	T_OK(close(out));
	T_OK(chmod("prog", 0111));
	t_as_user(NOBODY, NOBODY, as_nobody_exec, NULL);
}

static void as_nobody_acl(void *arg)
{
	(void)arg;
	/* u:65534:rw- grants what the mode (0600 root) denies. */
	int fd = T_OK(open("granted", O_RDWR));
	T_EQ(write(fd, "w", 1), 1);
	T_OK(close(fd));
	T_OK(access("granted", R_OK | W_OK));
	/* The mask (r--) limits the named entry (rw-). */
	fd = T_OK(open("masked", O_RDONLY));
	T_OK(close(fd));
	T_ERR(open("masked", O_WRONLY), EACCES);
	/* A named entry denying access wins over "other" allowing it. */
	T_ERR(open("denied", O_RDONLY), EACCES);
	/* Directory ACL lets nobody create in a 0755 root directory. */
	fd = T_OK(open("aclwdir/new", O_WRONLY | O_CREAT, 0644));
	T_OK(close(fd));
	/* Inherited default ACL grants write on a file root created. */
	fd = T_OK(open("inherit/rootfile", O_WRONLY));
	T_OK(close(fd));
	/* Named group entry. */
	fd = T_OK(open("bygroup", O_RDONLY));
	T_OK(close(fd));
}

static void as_other_acl(void *arg)
{
	(void)arg;
	T_ERR(open("granted", O_RDONLY), EACCES);
	T_ERR(open("masked", O_RDONLY), EACCES);
	T_OK(close(T_OK(open("denied", O_RDONLY))));
	T_ERR(open("aclwdir/new2", O_WRONLY | O_CREAT, 0644), EACCES);
	T_ERR(open("inherit/rootfile", O_WRONLY), EACCES);
	T_ERR(open("bygroup", O_RDONLY), EACCES);
}

static void t_acl_enforced(void)
{
	open_case_dir();
	t_write_file("granted", "g", 1, 0600);
	set_acl("granted", ACL_TYPE_ACCESS, "u::rw-,u:65534:rw-,g::---,m::rw-,o::---");
	t_write_file("masked", "m", 1, 0600);
	set_acl("masked", ACL_TYPE_ACCESS, "u::rw-,u:65534:rw-,g::---,m::r--,o::---");
	t_write_file("denied", "d", 1, 0644);
	set_acl("denied", ACL_TYPE_ACCESS, "u::rw-,u:65534:---,g::r--,m::r--,o::r--");
	t_write_file("bygroup", "b", 1, 0600);
	set_acl("bygroup", ACL_TYPE_ACCESS, "u::rw-,g::---,g:65534:r--,m::r--,o::---");
	T_OK(mkdir("aclwdir", 0755));
	set_acl("aclwdir", ACL_TYPE_ACCESS, "u::rwx,u:65534:rwx,g::r-x,m::rwx,o::r-x");
	T_OK(mkdir("inherit", 0755));
	set_acl("inherit", ACL_TYPE_DEFAULT, "u::rwx,u:65534:rw-,g::r-x,m::rwx,o::r-x");
	t_write_file("inherit/rootfile", "r", 1, 0666);
	T_EQ(t_lstat("inherit/rootfile").st_mode & 0777, 0664); /* group bits = mask rw- */
	t_as_user(NOBODY, NOBODY, as_nobody_acl, NULL);
	t_as_user(OTHER, OTHER, as_other_acl, NULL);
}

static void as_nobody_lost(void *arg)
{
	(void)arg;
	T_ERR(open("granted", O_RDONLY), EACCES);
}

static void t_acl_mask_chmod(void)
{
	open_case_dir();
	t_write_file("granted", "g", 1, 0600);
	set_acl("granted", ACL_TYPE_ACCESS, "u::rw-,u:65534:rw-,g::---,m::rw-,o::---");
	T_OK(chmod("granted", 0600)); /* mask becomes --- */
	t_as_user(NOBODY, NOBODY, as_nobody_lost, NULL);
}

static const struct t_case cases[] = {
    {"mode_bits", t_mode_bits, 0},	     {"sticky", t_sticky, 0},
    {"suid_sgid", t_suid_sgid, 0},	     {"write_kills_priv", t_write_kills_priv, 0},
    {"exec_only", t_exec_only, 0},	     {"acl_enforced", t_acl_enforced, 0},
    {"acl_mask_chmod", t_acl_mask_chmod, 0}, {NULL, NULL, 0},
};

int main(int argc, char **argv)
{
	if (geteuid() != 0) {
		fprintf(stderr, "posix_perm: SKIP: needs root to switch users\n");
		return 77;
	}
	return t_main(argc, argv, cases);
}

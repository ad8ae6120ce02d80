/* POSIX namespace operations on a mounted directory (issue 2 point 4):
 * create/open, mkdir/rmdir, unlink, link and link counts, symlink/readlink and
 * loops, mknod of every type, rename with its flags and error cases, long
 * names, unlink while open. Usage: posix_ns DIR [CASE...] (see tcheck.h). */
#include "tcheck.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <unistd.h>

static void touch(const char *p)
{
	int fd = T_OK(open(p, O_WRONLY | O_CREAT | O_EXCL, 0644));
	T_OK(close(fd));
}

static void t_create_open(void)
{
	int fd = T_OK(open("f", O_RDWR | O_CREAT | O_EXCL, 0640));
	struct stat st;
	T_OK(fstat(fd, &st));
	T_ASSERT(S_ISREG(st.st_mode), "regular file");
	T_EQ(st.st_mode & 07777, 0640);
	T_EQ(st.st_uid, geteuid());
	T_EQ(st.st_gid, getegid());
	T_EQ(st.st_nlink, 1);
	T_EQ(st.st_size, 0);
	T_EQ(write(fd, "hello", 5), 5);
	T_OK(close(fd));
	T_ERR(open("f", O_RDWR | O_CREAT | O_EXCL, 0644), EEXIST);
	/* O_CREAT without O_EXCL opens the existing file, mode ignored. */
	fd = T_OK(open("f", O_RDWR | O_CREAT, 0600));
	T_OK(fstat(fd, &st));
	T_EQ(st.st_mode & 07777, 0640);
	T_EQ(st.st_size, 5);
	T_OK(close(fd));
	/* umask applies to the create mode. */
	mode_t old = umask(027);
	fd = T_OK(open("g", O_WRONLY | O_CREAT, 0777));
	umask(old);
	T_OK(fstat(fd, &st));
	T_EQ(st.st_mode & 07777, 0750);
	T_OK(close(fd));
	/* O_TRUNC empties. */
	fd = T_OK(open("f", O_WRONLY | O_TRUNC));
	T_OK(fstat(fd, &st));
	T_EQ(st.st_size, 0);
	T_OK(close(fd));
	/* ...also with O_RDONLY (undefined in POSIX; Linux truncates). */
	t_write_file("f", "hello", 5, 0640);
	fd = T_OK(open("f", O_RDONLY | O_TRUNC));
	T_OK(fstat(fd, &st));
	T_EQ(st.st_size, 0);
	T_OK(close(fd));
	T_EQ(t_lstat("f").st_size, 0);
	T_ERR(open("missing", O_RDONLY), ENOENT);
	T_ERR(open("nodir/x", O_RDWR | O_CREAT, 0644), ENOENT);
	T_ERR(open("f/x", O_RDWR | O_CREAT, 0644), ENOTDIR);
	T_ERR(open("f/x", O_RDONLY), ENOTDIR);
	T_ERR(open("f", O_RDONLY | O_DIRECTORY), ENOTDIR);
	T_OK(mkdir("d", 0755));
	T_ERR(open("d", O_WRONLY), EISDIR);
	T_ERR(open("d", O_RDWR), EISDIR);
	T_ERR(open("d", O_RDONLY | O_CREAT, 0644), EISDIR);
	fd = T_OK(open("d", O_RDONLY | O_DIRECTORY));
	T_OK(close(fd));
	T_ERR(open("", O_RDONLY), ENOENT);
	/* Bad flag combination: O_TMPFILE needs a writable mode. */
	T_ERR(open("d", O_TMPFILE | O_RDONLY, 0600), EINVAL);
}

static void t_mkdir_rmdir(void)
{
	struct stat st;
	T_OK(mkdir("d", 0750));
	st = t_lstat("d");
	T_ASSERT(S_ISDIR(st.st_mode), "directory");
	T_EQ(st.st_mode & 07777, 0750);
	T_EQ(st.st_nlink, 2);
	T_ERR(mkdir("d", 0755), EEXIST);
	touch("f");
	T_ERR(mkdir("f", 0755), EEXIST);
	T_ERR(mkdir("f/x", 0755), ENOTDIR);
	T_ERR(mkdir("nodir/x", 0755), ENOENT);
	/* nlink of a directory: 2 + number of subdirectories. */
	struct stat parent0 = t_lstat(".");
	T_OK(mkdir("d/a", 0755));
	T_OK(mkdir("d/b", 0755));
	touch("d/file");
	T_EQ(t_lstat("d").st_nlink, 4);
	T_EQ(t_lstat(".").st_nlink, parent0.st_nlink);
	T_OK(mkdir("e", 0755));
	T_EQ(t_lstat(".").st_nlink, parent0.st_nlink + 1);
	T_OK(rmdir("e"));
	T_EQ(t_lstat(".").st_nlink, parent0.st_nlink);
	/* .. points at the parent. */
	T_EQ(t_lstat("d/a/..").st_ino, t_lstat("d").st_ino);
	T_EQ(t_lstat("d/.").st_ino, t_lstat("d").st_ino);
	T_ERR(rmdir("d"), ENOTEMPTY);
	T_ERR(rmdir("f"), ENOTDIR);
	T_ERR(rmdir("missing"), ENOENT);
	T_ERR(rmdir("d/."), EINVAL);
	T_ERR(rmdir("d/a/.."), ENOTEMPTY);
	T_ERR(unlink("d"), EISDIR);
	T_OK(rmdir("d/a"));
	T_EQ(t_lstat("d").st_nlink, 3);
	T_OK(rmdir("d/b"));
	T_ERR(rmdir("d"), ENOTEMPTY); /* a file keeps it non-empty */
	T_OK(unlink("d/file"));
	T_EQ(t_lstat("d").st_nlink, 2);
	T_OK(rmdir("d"));
	T_ERR(lstat("d", &st), ENOENT);
	/* Directory times change on create and remove. */
	T_OK(mkdir("t", 0755));
	struct timespec old[2] = {{1000000000, 0}, {1000000000, 0}};
	T_OK(utimensat(AT_FDCWD, "t", old, 0));
	touch("t/x");
	st = t_lstat("t");
	T_ASSERT(st.st_mtim.tv_sec > 1000000000, "dir mtime updated by create");
	T_OK(utimensat(AT_FDCWD, "t", old, 0));
	T_OK(unlink("t/x"));
	st = t_lstat("t");
	T_ASSERT(st.st_mtim.tv_sec > 1000000000, "dir mtime updated by unlink");
}

static void t_unlink(void)
{
	touch("f");
	T_OK(unlink("f"));
	struct stat st;
	T_ERR(lstat("f", &st), ENOENT);
	T_ERR(unlink("f"), ENOENT);
	touch("g");
	T_ERR(unlink("g/x"), ENOTDIR);
	T_ERR(unlink("nodir/x"), ENOENT);
	/* Name can be reused at once. */
	touch("f");
	T_OK(unlink("f"));
}

static void t_names(void)
{
	char n255[256], n256[257], path[600];
	memset(n255, 'a', 255);
	n255[255] = 0;
	memset(n256, 'b', 256);
	n256[256] = 0;
	touch(n255);
	T_ASSERT(S_ISREG(t_lstat(n255).st_mode), "255-byte name works");
	T_ERR(open(n256, O_RDWR | O_CREAT, 0644), ENAMETOOLONG);
	T_ERR(mkdir(n256, 0755), ENAMETOOLONG);
	T_ERR(symlink("x", n256), ENAMETOOLONG);
	T_ERR(link(n255, n256), ENAMETOOLONG);
	T_ERR(rename(n255, n256), ENAMETOOLONG);
	T_ERR(mknod(n256, S_IFIFO | 0644, 0), ENAMETOOLONG);
	struct stat st;
	T_ERR(lstat(n256, &st), ENAMETOOLONG);
	T_ERR(unlink(n256), ENAMETOOLONG);
	snprintf(path, sizeof(path), "%s/x", n256);
	T_ERR(lstat(path, &st), ENAMETOOLONG);
	/* Names with every byte but '/' and NUL. */
	char odd[256];
	int k = 0;
	for (int c = 1; c < 256 && k < 200; c++)
		if (c != '/' && c != '.')
			odd[k++] = (char)c;
	odd[k] = 0;
	touch(odd);
	T_ASSERT(S_ISREG(t_lstat(odd).st_mode), "name with odd bytes");
	T_OK(unlink(odd));
	T_ERR(mkdir(n255, 0755), EEXIST);
	T_OK(unlink(n255));
	T_OK(mkdir(n255, 0755));
	T_OK(rmdir(n255));
	/* "..." and names starting with dots are ordinary. */
	touch("...");
	touch(".hidden");
	T_OK(unlink("..."));
	T_OK(unlink(".hidden"));
}

static void t_link(void)
{
	T_OK(mkdir("d", 0755));
	t_write_file("f", "data", 4, 0644);
	struct stat before = t_lstat("f");
	T_OK(link("f", "d/g"));
	struct stat a = t_lstat("f"), b = t_lstat("d/g");
	T_EQ(a.st_ino, b.st_ino);
	T_EQ(a.st_nlink, 2);
	T_EQ(b.st_nlink, 2);
	T_ASSERT(a.st_ctim.tv_sec > before.st_ctim.tv_sec ||
		     (a.st_ctim.tv_sec == before.st_ctim.tv_sec &&
		      a.st_ctim.tv_nsec >= before.st_ctim.tv_nsec),
		 "ctime not older after link");
	/* Shared content. */
	int fd = T_OK(open("d/g", O_WRONLY | O_APPEND));
	T_EQ(write(fd, "more", 4), 4);
	T_OK(close(fd));
	char buf[16];
	T_EQ(t_read_file("f", buf, sizeof(buf)), 8);
	T_MEMEQ(buf, "datamore", 8);
	T_OK(link("f", "h"));
	T_EQ(t_lstat("f").st_nlink, 3);
	T_ERR(link("f", "h"), EEXIST);
	T_ERR(link("f", "d"), EEXIST);
	T_ERR(link("missing", "x"), ENOENT);
	T_ERR(link("f", "nodir/x"), ENOENT);
	T_ERR(link("d", "dlink"), EPERM);
	T_OK(unlink("f"));
	T_EQ(t_lstat("h").st_nlink, 2);
	T_OK(unlink("d/g"));
	T_EQ(t_lstat("h").st_nlink, 1);
	T_EQ(t_read_file("h", buf, sizeof(buf)), 8);
	/* Many links. */
	char name[32];
	for (int i = 0; i < 100; i++) {
		snprintf(name, sizeof(name), "l%d", i);
		T_OK(link("h", name));
	}
	T_EQ(t_lstat("h").st_nlink, 101);
	for (int i = 0; i < 100; i++) {
		snprintf(name, sizeof(name), "l%d", i);
		T_OK(unlink(name));
	}
	T_EQ(t_lstat("h").st_nlink, 1);
	/* Links to symlinks link the symlink itself. */
	T_OK(symlink("h", "s"));
	T_OK(link("s", "s2"));
	T_ASSERT(S_ISLNK(t_lstat("s2").st_mode), "link of a symlink is a symlink");
	T_EQ(t_lstat("s").st_nlink, 2);
}

static void t_symlink(void)
{
	char buf[PATH_MAX];
	t_write_file("target", "abc", 3, 0644);
	T_OK(symlink("target", "s"));
	struct stat st = t_lstat("s");
	T_ASSERT(S_ISLNK(st.st_mode), "is a symlink");
	T_EQ(st.st_size, 6);
	T_EQ(readlink("s", buf, sizeof(buf)), 6);
	T_MEMEQ(buf, "target", 6);
	/* Truncated readlink. */
	T_EQ(readlink("s", buf, 3), 3);
	T_MEMEQ(buf, "tar", 3);
	struct stat t;
	T_OK(stat("s", &t));
	T_EQ(t.st_ino, t_lstat("target").st_ino);
	T_EQ(t_read_file("s", buf, sizeof(buf)), 3);
	T_ERR(symlink("x", "s"), EEXIST);
	T_ERR(symlink("x", "target"), EEXIST);
	T_ERR(readlink("target", buf, sizeof(buf)), EINVAL);
	T_ERR(readlink("missing", buf, sizeof(buf)), ENOENT);
	/* Dangling. */
	T_OK(symlink("nowhere", "dang"));
	T_ERR(stat("dang", &t), ENOENT);
	T_OK(lstat("dang", &t));
	/* Creating through a dangling symlink creates the target. */
	int fd = T_OK(open("dang", O_WRONLY | O_CREAT, 0644));
	T_OK(close(fd));
	T_OK(stat("nowhere", &t));
	/* Long targets: 1000 and 4095 bytes. */
	static char longt[4096];
	for (int len = 1000; len <= 4095; len += 3095) {
		memset(longt, 'x', sizeof(longt));
		for (int i = 0; i < len; i += 10)
			longt[i] = '/';
		longt[len] = 0;
		char name[16];
		snprintf(name, sizeof(name), "long%d", len);
		T_OK(symlink(longt, name));
		T_EQ(t_lstat(name).st_size, len);
		memset(buf, 0, sizeof(buf));
		T_EQ(readlink(name, buf, sizeof(buf)), len);
		T_MEMEQ(buf, longt, (size_t)len);
	}
	memset(longt, 'y', 4095);
	longt[4095] = 0;
	char over[4097];
	memset(over, 'z', 4096);
	over[4096] = 0;
	T_ERR(symlink(over, "toolong"), ENAMETOOLONG);
	T_ERR(symlink("", "empty"), ENOENT);
	/* Symlink to a directory, and relative resolution. */
	T_OK(mkdir("d", 0755));
	T_OK(symlink("../target", "d/up"));
	T_EQ(t_read_file("d/up", buf, sizeof(buf)), 3);
	T_OK(symlink("d", "sd"));
	T_EQ(t_read_file("sd/up", buf, sizeof(buf)), 3);
	T_ERR(rmdir("sd"), ENOTDIR);
	T_OK(unlink("sd"));
	T_OK(lstat("d", &t));
}

static void t_loops(void)
{
	struct stat st;
	T_OK(symlink("b", "a"));
	T_OK(symlink("a", "b"));
	T_OK(symlink("self", "self"));
	T_ERR(stat("a", &st), ELOOP);
	T_ERR(stat("self", &st), ELOOP);
	T_ERR(open("a", O_RDONLY), ELOOP);
	T_ERR(open("a", O_WRONLY | O_CREAT, 0644), ELOOP);
	T_ERR(stat("a/x", &st), ELOOP);
	T_OK(lstat("a", &st));
	/* A chain longer than 40 links. */
	char from[16], to[16];
	t_write_file("end", "e", 1, 0644);
	for (int i = 0; i < 45; i++) {
		snprintf(to, sizeof(to), i ? "c%d" : "end", i - 1);
		snprintf(from, sizeof(from), "c%d", i);
		T_OK(symlink(to, from));
	}
	T_OK(stat("c30", &st));
	T_ERR(stat("c44", &st), ELOOP);
	/* O_NOFOLLOW on a symlink. */
	t_write_file("f", "x", 1, 0644);
	T_OK(symlink("f", "sf"));
	T_ERR(open("sf", O_RDONLY | O_NOFOLLOW), ELOOP);
	T_ERR(open("sf", O_WRONLY | O_CREAT | O_NOFOLLOW, 0644), ELOOP);
	int fd = T_OK(open("f", O_RDONLY | O_NOFOLLOW));
	T_OK(close(fd));
	fd = T_OK(open("sf", O_PATH | O_NOFOLLOW));
	T_OK(fstatat(fd, "", &st, AT_EMPTY_PATH));
	T_ASSERT(S_ISLNK(st.st_mode), "O_PATH|O_NOFOLLOW opens the link");
	T_OK(close(fd));
	T_ERR(open("sf", O_RDONLY | O_CREAT | O_EXCL, 0644), EEXIST);
}

static void t_mknod(void)
{
	struct stat st;
	T_OK(mknod("fifo", S_IFIFO | 0640, 0));
	st = t_lstat("fifo");
	T_ASSERT(S_ISFIFO(st.st_mode), "fifo");
	T_EQ(st.st_mode & 07777, 0640);
	T_ERR(mknod("fifo", S_IFIFO | 0640, 0), EEXIST);
	T_ERR(mkfifo("fifo", 0644), EEXIST);
	/* The fifo works as a pipe. */
	int r = T_OK(open("fifo", O_RDONLY | O_NONBLOCK));
	int w = T_OK(open("fifo", O_WRONLY | O_NONBLOCK));
	T_EQ(write(w, "pipe", 4), 4);
	char buf[8];
	T_EQ(read(r, buf, sizeof(buf)), 4);
	T_MEMEQ(buf, "pipe", 4);
	close(r);
	close(w);
	T_EQ(t_lstat("fifo").st_size, 0);

	T_OK(mknod("sock", S_IFSOCK | 0600, 0));
	T_ASSERT(S_ISSOCK(t_lstat("sock").st_mode), "socket");
	T_OK(mknod("chr", S_IFCHR | 0600, makedev(1, 3)));
	st = t_lstat("chr");
	T_ASSERT(S_ISCHR(st.st_mode), "char device");
	T_EQ(major(st.st_rdev), 1);
	T_EQ(minor(st.st_rdev), 3);
	T_OK(mknod("blk", S_IFBLK | 0600, makedev(7, 1000)));
	st = t_lstat("blk");
	T_ASSERT(S_ISBLK(st.st_mode), "block device");
	T_EQ(major(st.st_rdev), 7);
	T_EQ(minor(st.st_rdev), 1000);
	T_OK(mknod("reg", S_IFREG | 0600, 0));
	st = t_lstat("reg");
	T_ASSERT(S_ISREG(st.st_mode), "regular");
	T_EQ(st.st_size, 0);
	T_ERR(mknod("dir", S_IFDIR | 0755, 0), EPERM);
	/* A character device node opens the device (/dev/null: 1,3), unless
	 * the filesystem is mounted nodev (then EACCES). */
	struct statvfs sv;
	T_OK(statvfs(".", &sv));
	if (sv.f_flag & ST_NODEV) {
		t_note("mounted nodev: opening the device node must fail with EACCES");
		T_ERR(open("chr", O_WRONLY), EACCES);
	} else {
		int fd = T_OK(open("chr", O_WRONLY));
		T_EQ(write(fd, "x", 1), 1);
		T_OK(close(fd));
	}
	/* A unix socket bound in the filesystem. */
	int s = T_OK(socket(AF_UNIX, SOCK_STREAM, 0));
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	snprintf(sa.sun_path, sizeof(sa.sun_path), "bound");
	T_OK(bind(s, (struct sockaddr *)&sa, sizeof(sa)));
	T_OK(listen(s, 1));
	T_ASSERT(S_ISSOCK(t_lstat("bound").st_mode), "bound socket");
	int c = T_OK(socket(AF_UNIX, SOCK_STREAM, 0));
	T_OK(connect(c, (struct sockaddr *)&sa, sizeof(sa)));
	close(c);
	close(s);
	/* Device nodes survive rename and link. */
	T_OK(rename("blk", "blk2"));
	T_EQ(t_lstat("blk2").st_rdev, makedev(7, 1000));
	T_OK(link("chr", "chr2"));
	T_EQ(t_lstat("chr").st_nlink, 2);
}

static void t_rename(void)
{
	struct stat st, a, b;
	t_write_file("f", "one", 3, 0644);
	a = t_lstat("f");
	T_OK(rename("f", "g"));
	T_ERR(lstat("f", &st), ENOENT);
	T_EQ(t_lstat("g").st_ino, a.st_ino);
	/* Over an existing file: the target inode loses its name. */
	t_write_file("h", "two", 3, 0644);
	T_OK(link("h", "h2"));
	T_OK(rename("g", "h"));
	T_EQ(t_lstat("h").st_ino, a.st_ino);
	T_EQ(t_lstat("h2").st_nlink, 1);
	char buf[8];
	T_EQ(t_read_file("h", buf, sizeof(buf)), 3);
	T_MEMEQ(buf, "one", 3);
	/* Rename between hard links of one inode: no-op, both stay. */
	T_OK(link("h", "h3"));
	T_OK(rename("h", "h3"));
	T_OK(lstat("h", &st));
	T_OK(lstat("h3", &st));
	T_EQ(st.st_nlink, 2);
	T_OK(rename("h3", "h3"));
	/* Directories. */
	T_OK(mkdir("d1", 0755));
	T_OK(mkdir("d2", 0755));
	T_OK(mkdir("d1/sub", 0755));
	T_OK(mkdir("empty", 0755));
	T_OK(mkdir("full", 0755));
	t_write_file("full/x", "", 0, 0644);
	struct stat d1 = t_lstat("d1"), d2 = t_lstat("d2");
	T_OK(rename("d1/sub", "d2/sub"));
	T_EQ(t_lstat("d1").st_nlink, d1.st_nlink - 1);
	T_EQ(t_lstat("d2").st_nlink, d2.st_nlink + 1);
	T_EQ(t_lstat("d2/sub/..").st_ino, d2.st_ino);
	T_OK(rename("d2/sub", "empty"));
	T_EQ(t_lstat("empty/..").st_ino, t_lstat(".").st_ino);
	T_OK(mkdir("d2/sub", 0755));
	T_ERR(rename("empty", "full"), ENOTEMPTY);
	T_ERR(rename("empty", "h"), ENOTDIR);
	T_ERR(rename("h", "empty"), EISDIR);
	T_ERR(rename("d2", "d2/sub/inside"), EINVAL);
	T_ERR(rename("d2", "d2/sub"), EINVAL);
	T_ERR(rename("missing", "x"), ENOENT);
	T_ERR(rename("h", "nodir/x"), ENOENT);
	T_ERR(rename("h/x", "y"), ENOTDIR);
	T_ERR(rename(".", "x"), EBUSY);
	T_ERR(rename("d2/sub/..", "x"), EBUSY);
	/* A renamed dir keeps its contents. */
	t_write_file("d2/sub/file", "in", 2, 0644);
	T_OK(rename("d2", "d3"));
	T_EQ(t_read_file("d3/sub/file", buf, sizeof(buf)), 2);
	/* Rename over an empty dir drops it. */
	T_OK(mkdir("e2", 0755));
	b = t_lstat("e2");
	T_OK(rename("d3", "e2"));
	T_ASSERT(t_lstat("e2").st_ino != b.st_ino, "target replaced");
	T_EQ(t_read_file("e2/sub/file", buf, sizeof(buf)), 2);
	/* ctime of the moved inode changes; symlinks move as links. */
	T_OK(symlink("h", "sl"));
	T_OK(rename("sl", "e2/sl"));
	T_EQ(readlink("e2/sl", buf, sizeof(buf)), 1);
}

static void t_rename_flags(void)
{
	struct stat st;
	t_write_file("a", "A", 1, 0644);
	t_write_file("b", "B", 1, 0644);
	ino_t ia = t_lstat("a").st_ino, ib = t_lstat("b").st_ino;
	T_ERR(renameat2(AT_FDCWD, "a", AT_FDCWD, "b", RENAME_NOREPLACE), EEXIST);
	T_EQ(t_lstat("a").st_ino, ia);
	T_OK(renameat2(AT_FDCWD, "a", AT_FDCWD, "c", RENAME_NOREPLACE));
	T_ERR(lstat("a", &st), ENOENT);
	T_EQ(t_lstat("c").st_ino, ia);
	/* Exchange two files. */
	T_OK(renameat2(AT_FDCWD, "c", AT_FDCWD, "b", RENAME_EXCHANGE));
	T_EQ(t_lstat("b").st_ino, ia);
	T_EQ(t_lstat("c").st_ino, ib);
	char buf[4];
	T_EQ(t_read_file("b", buf, sizeof(buf)), 1);
	T_EQ(buf[0], 'A');
	T_ERR(renameat2(AT_FDCWD, "b", AT_FDCWD, "missing", RENAME_EXCHANGE), ENOENT);
	T_ERR(renameat2(AT_FDCWD, "missing", AT_FDCWD, "b", RENAME_EXCHANGE), ENOENT);
	T_ERR(renameat2(AT_FDCWD, "b", AT_FDCWD, "c", RENAME_EXCHANGE | RENAME_NOREPLACE), EINVAL);
	T_ERR(renameat2(AT_FDCWD, "b", AT_FDCWD, "c", 0x80000), EINVAL);
	/* Exchange a file and a directory in different parents: link counts
	 * of the parents follow the directory, '..' is updated. */
	T_OK(mkdir("p1", 0755));
	T_OK(mkdir("p2", 0755));
	T_OK(mkdir("p1/dir", 0755));
	t_write_file("p1/dir/in", "i", 1, 0644);
	t_write_file("p2/file", "f", 1, 0644);
	nlink_t n1 = t_lstat("p1").st_nlink, n2 = t_lstat("p2").st_nlink;
	T_OK(renameat2(AT_FDCWD, "p1/dir", AT_FDCWD, "p2/file", RENAME_EXCHANGE));
	T_ASSERT(S_ISDIR(t_lstat("p2/file").st_mode), "dir moved");
	T_ASSERT(S_ISREG(t_lstat("p1/dir").st_mode), "file moved");
	T_EQ(t_lstat("p1").st_nlink, n1 - 1);
	T_EQ(t_lstat("p2").st_nlink, n2 + 1);
	T_EQ(t_lstat("p2/file/..").st_ino, t_lstat("p2").st_ino);
	T_OK(lstat("p2/file/in", &st));
	/* Exchange a directory with its own subdirectory: EINVAL. */
	T_OK(mkdir("p2/file/sub", 0755));
	T_ERR(renameat2(AT_FDCWD, "p2/file", AT_FDCWD, "p2/file/sub", RENAME_EXCHANGE), EINVAL);
	/* Exchange two directories. */
	T_OK(renameat2(AT_FDCWD, "p1", AT_FDCWD, "p2", RENAME_EXCHANGE));
	T_OK(lstat("p1/file/in", &st));
}

#ifndef RENAME_WHITEOUT
#define RENAME_WHITEOUT (1 << 2)
#endif

/* RENAME_WHITEOUT (what overlayfs asks of its upper directory): the old
 * name is left naming a whiteout, a character device 0:0 of mode 0; with a
 * target, a directory, or across directories alike; not with EXCHANGE.
 * Needs CAP_MKNOD (the kernel checks it). */
static void t_rename_whiteout(void)
{
	if (geteuid() != 0)
		t_skip("RENAME_WHITEOUT needs CAP_MKNOD");
	struct stat st;
	t_write_file("a", "A", 1, 0644);
	ino_t ia = t_lstat("a").st_ino;
	T_OK(renameat2(AT_FDCWD, "a", AT_FDCWD, "b", RENAME_WHITEOUT));
	T_EQ(t_lstat("b").st_ino, ia);
	st = t_lstat("a");
	T_ASSERT(S_ISCHR(st.st_mode) && (st.st_mode & 07777) == 0 && st.st_rdev == makedev(0, 0),
		 "a whiteout: mode %o rdev %lx", st.st_mode, (unsigned long)st.st_rdev);
	T_EQ(st.st_nlink, 1);
	T_ASSERT(st.st_ino != ia, "a new inode");
	char buf[4];
	T_EQ(t_read_file("b", buf, sizeof(buf)), 1);
	/* Over an existing target, and a directory into another directory. */
	t_write_file("c", "C", 1, 0644);
	T_OK(renameat2(AT_FDCWD, "b", AT_FDCWD, "c", RENAME_WHITEOUT));
	T_EQ(t_lstat("c").st_ino, ia);
	T_ASSERT(S_ISCHR(t_lstat("b").st_mode), "b whiteout");
	T_OK(mkdir("d1", 0755));
	T_OK(mkdir("d2", 0755));
	T_OK(mkdir("d1/sub", 0755));
	nlink_t n1 = t_lstat("d1").st_nlink, n2 = t_lstat("d2").st_nlink;
	T_OK(renameat2(AT_FDCWD, "d1/sub", AT_FDCWD, "d2/sub", RENAME_WHITEOUT));
	T_ASSERT(S_ISCHR(t_lstat("d1/sub").st_mode), "d1/sub whiteout");
	T_EQ(t_lstat("d1").st_nlink, n1 - 1);
	T_EQ(t_lstat("d2").st_nlink, n2 + 1);
	T_EQ(t_lstat("d2/sub/..").st_ino, t_lstat("d2").st_ino);
	/* The whiteout is an ordinary name: listed, removable. */
	DIR *d = opendir("d1");
	T_ASSERT(d != NULL, "opendir");
	int seen = 0;
	for (struct dirent *e; (e = readdir(d));)
		if (!strcmp(e->d_name, "sub"))
			seen += e->d_type == DT_CHR || e->d_type == DT_UNKNOWN;
	closedir(d);
	T_EQ(seen, 1);
	T_OK(unlink("d1/sub"));
	T_OK(rmdir("d1"));
	/* The flag rules. */
	t_write_file("e", "E", 1, 0644);
	T_ERR(renameat2(AT_FDCWD, "e", AT_FDCWD, "c", RENAME_WHITEOUT | RENAME_NOREPLACE), EEXIST);
	T_ERR(renameat2(AT_FDCWD, "e", AT_FDCWD, "c", RENAME_WHITEOUT | RENAME_EXCHANGE), EINVAL);
	T_ERR(renameat2(AT_FDCWD, "missing", AT_FDCWD, "f", RENAME_WHITEOUT), ENOENT);
	T_OK(renameat2(AT_FDCWD, "e", AT_FDCWD, "f", RENAME_WHITEOUT | RENAME_NOREPLACE));
	T_ASSERT(S_ISCHR(t_lstat("e").st_mode), "e whiteout");
}

static void t_unlink_open(void)
{
	char buf[64];
	int fd = T_OK(open("f", O_RDWR | O_CREAT, 0644));
	T_EQ(write(fd, "before", 6), 6);
	int fd2 = T_OK(open("f", O_RDONLY));
	T_OK(unlink("f"));
	struct stat st;
	T_ERR(lstat("f", &st), ENOENT);
	T_OK(fstat(fd, &st));
	T_EQ(st.st_nlink, 0);
	T_EQ(st.st_size, 6);
	/* Still readable and writable, through both descriptors. */
	T_EQ(pwrite(fd, "after", 5, 6), 5);
	T_OK(fsync(fd));
	T_EQ(pread(fd2, buf, sizeof(buf), 0), 11);
	T_MEMEQ(buf, "beforeafter", 11);
	/* Grow it by 2 MiB while unlinked. */
	static char big[2 << 20];
	t_fill(big, sizeof(big), 7);
	T_EQ(pwrite(fd, big, sizeof(big), 4096), (ssize_t)sizeof(big));
	static char back[2 << 20];
	T_EQ(pread(fd2, back, sizeof(back), 4096), (ssize_t)sizeof(back));
	T_MEMEQ(back, big, sizeof(big));
	T_OK(ftruncate(fd, 100));
	T_OK(fstat(fd2, &st));
	T_EQ(st.st_size, 100);
	/* A new file of the same name is another file. */
	t_write_file("f", "new", 3, 0644);
	T_EQ(pread(fd2, buf, 6, 0), 6);
	T_MEMEQ(buf, "before", 6);
	T_OK(close(fd));
	T_EQ(pread(fd2, buf, 6, 0), 6);
	T_OK(close(fd2));
	T_EQ(t_read_file("f", buf, sizeof(buf)), 3);
	/* Same with rename over an open file. */
	t_write_file("g", "gg", 2, 0644);
	fd = T_OK(open("g", O_RDONLY));
	T_OK(rename("f", "g"));
	T_EQ(pread(fd, buf, sizeof(buf), 0), 2);
	T_MEMEQ(buf, "gg", 2);
	T_OK(close(fd));
	/* An open unlinked directory. */
	T_OK(mkdir("d", 0755));
	int dfd = T_OK(open("d", O_RDONLY | O_DIRECTORY));
	T_OK(rmdir("d"));
	T_OK(fstat(dfd, &st));
	T_EQ(st.st_nlink, 0);
	T_ERR(openat(dfd, "x", O_WRONLY | O_CREAT, 0644), ENOENT);
	T_OK(close(dfd));
}

/* Inodes leave the kernel's caches (FUSE forget) and come back by lookup;
 * an open unlinked file survives its forget-less eviction pressure. */
static void t_forget(void)
{
	enum { N = 2000 };
	char name[32], buf[16];
	for (int i = 0; i < N; i++) {
		snprintf(name, sizeof(name), "f%d", i);
		t_write_file(name, name, strlen(name), 0644);
	}
	T_OK(mkdir("d", 0755));
	T_OK(link("f7", "d/hard"));
	int fd = T_OK(open("f0", O_RDWR));
	T_OK(unlink("f0"));
	ino_t ino7 = t_lstat("f7").st_ino;
	/* Drop dentries and inodes: the kernel sends FORGET for all unused ones. */
	sync();
	int dc = open("/proc/sys/vm/drop_caches", O_WRONLY);
	if (dc < 0)
		t_skip("cannot open /proc/sys/vm/drop_caches: %s", strerror(errno));
	T_EQ(write(dc, "2", 1), 1);
	close(dc);
	for (int i = 1; i < N; i++) {
		snprintf(name, sizeof(name), "f%d", i);
		T_EQ(t_read_file(name, buf, sizeof(buf)), strlen(name));
		T_MEMEQ(buf, name, strlen(name));
	}
	T_EQ(t_lstat("f7").st_ino, ino7);
	T_EQ(t_lstat("d/hard").st_ino, ino7);
	T_EQ(t_lstat("f7").st_nlink, 2);
	T_EQ(pread(fd, buf, 2, 0), 2);
	T_MEMEQ(buf, "f0", 2);
	T_EQ(pwrite(fd, "xyz", 3, 100), 3);
	struct stat st;
	T_OK(fstat(fd, &st));
	T_EQ(st.st_nlink, 0);
	T_EQ(st.st_size, 103);
	T_OK(close(fd));
	T_ERR(lstat("f0", &st), ENOENT);
}

/* Thousands of files unlinked while open (more than sanfs's on-disk orphan
 * list holds): every unlink succeeds, each file stays readable through its
 * descriptor, and the space comes back at the last close. */
static void t_many_unlinked_open(void)
{
	enum { N = 2600 };
	struct rlimit rl = {N + 64, N + 64};
	if (setrlimit(RLIMIT_NOFILE, &rl))
		t_skip("cannot raise RLIMIT_NOFILE to %d: %s", N + 64, strerror(errno));
	static int fds[N];
	char name[32];
	struct statvfs a, b;
	T_OK(statvfs(".", &a));
	for (int i = 0; i < N; i++) {
		snprintf(name, sizeof(name), "u%d", i);
		fds[i] = T_OK(open(name, O_RDWR | O_CREAT, 0644));
		T_EQ(pwrite(fds[i], name, strlen(name), 8192), (ssize_t)strlen(name));
	}
	for (int i = 0; i < N; i++) {
		snprintf(name, sizeof(name), "u%d", i);
		T_OK(unlink(name));
	}
	for (int i = 0; i < N; i += 97) {
		char got[32];
		snprintf(name, sizeof(name), "u%d", i);
		T_EQ(pread(fds[i], got, sizeof(got), 8192), (ssize_t)strlen(name));
		T_MEMEQ(got, name, strlen(name));
	}
	/* The filesystem still takes changes. */
	t_write_file("after", "ok", 2, 0644);
	for (int i = 0; i < N; i++)
		T_OK(close(fds[i]));
	T_OK(unlink("after"));
	/* Space may come back asynchronously: give it a few seconds. */
	for (int k = 0; k < 50; k++) {
		sync();
		T_OK(statvfs(".", &b));
		if (b.f_ffree >= a.f_ffree)
			break;
		usleep(100000);
	}
	T_ASSERT(b.f_ffree >= a.f_ffree || a.f_files == 0, "free inodes back: %llu < %llu",
		 (unsigned long long)b.f_ffree, (unsigned long long)a.f_ffree);
}

static int count_entries(void)
{
	DIR *d = opendir(".");
	T_ASSERT(d != NULL, "opendir: %s", strerror(errno));
	int n = 0;
	while (readdir(d))
		n++;
	closedir(d);
	return n;
}

/* open(O_TMPFILE): a file named nowhere (link count 0, listed nowhere),
 * readable and writable, named later by linkat (through /proc/self/fd),
 * never with O_EXCL; one closed without a name gives its space back. */
static void t_tmpfile(void)
{
	struct statvfs a, b;
	T_OK(statvfs(".", &a));
	int before = count_entries();
	mode_t old = umask(022);
	int fd = open(".", O_TMPFILE | O_RDWR, 0666);
	umask(old);
	T_ASSERT(fd >= 0, "open(O_TMPFILE): %s", strerror(errno));
	struct stat st;
	T_OK(fstat(fd, &st));
	T_ASSERT(S_ISREG(st.st_mode), "regular file");
	T_EQ(st.st_mode & 07777, 0644);
	T_EQ(st.st_nlink, 0);
	T_EQ(st.st_uid, geteuid());
	T_EQ(count_entries(), before);
	static char data[1 << 20], back[1 << 20];
	t_fill(data, sizeof(data), 11);
	T_EQ(pwrite(fd, data, sizeof(data), 0), (ssize_t)sizeof(data));
	T_OK(fsync(fd));
	T_EQ(pread(fd, back, sizeof(back), 0), (ssize_t)sizeof(back));
	T_MEMEQ(back, data, sizeof(data));
	char proc[64];
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	T_OK(linkat(AT_FDCWD, proc, AT_FDCWD, "named", AT_SYMLINK_FOLLOW));
	T_ERR(linkat(AT_FDCWD, proc, AT_FDCWD, "named", AT_SYMLINK_FOLLOW), EEXIST);
	struct stat nst = t_lstat("named");
	T_EQ(nst.st_ino, st.st_ino);
	T_EQ(nst.st_nlink, 1);
	T_EQ(nst.st_size, (off_t)sizeof(data));
	/* A second name like any file's. */
	T_OK(linkat(AT_FDCWD, proc, AT_FDCWD, "named2", AT_SYMLINK_FOLLOW));
	T_EQ(t_lstat("named").st_nlink, 2);
	T_OK(unlink("named2"));
	T_OK(close(fd));
	memset(back, 0, sizeof(back));
	T_EQ(t_read_file("named", back, sizeof(back)), sizeof(back));
	T_MEMEQ(back, data, sizeof(data));
	T_EQ(count_entries(), before + 1);
	T_OK(unlink("named"));

	/* O_EXCL: never gets a name. */
	fd = T_OK(open(".", O_TMPFILE | O_WRONLY | O_EXCL, 0600));
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	T_ERR(linkat(AT_FDCWD, proc, AT_FDCWD, "excl", AT_SYMLINK_FOLLOW), ENOENT);
	T_OK(close(fd));
	/* O_TMPFILE needs a directory; and a file unlinked while open is
	 * not brought back by a link either. */
	t_write_file("plain", "p", 1, 0644);
	T_ERR(open("plain", O_TMPFILE | O_RDWR, 0600), ENOTDIR);
	fd = T_OK(open("plain", O_RDWR));
	T_OK(unlink("plain"));
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	T_ERR(linkat(AT_FDCWD, proc, AT_FDCWD, "back", AT_SYMLINK_FOLLOW), ENOENT);
	T_OK(close(fd));

	/* Under a setgid directory it takes the directory's group (as root:
	 * any group will do). */
	if (geteuid() == 0) {
		T_OK(mkdir("sg", 0777));
		T_OK(chown("sg", 0, 4321));
		T_OK(chmod("sg", 02777));
		fd = T_OK(open("sg", O_TMPFILE | O_RDWR, 0600));
		T_OK(fstat(fd, &st));
		T_EQ(st.st_gid, 4321);
		snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
		T_OK(linkat(AT_FDCWD, proc, AT_FDCWD, "sg/f", AT_SYMLINK_FOLLOW));
		T_OK(close(fd));
		T_EQ(t_lstat("sg/f").st_gid, 4321);
		T_OK(unlink("sg/f"));
		T_OK(rmdir("sg"));
	}
	/* Unnamed ones, closed: their inodes and blocks come back. */
	for (int i = 0; i < 20; i++) {
		fd = T_OK(open(".", O_TMPFILE | O_RDWR, 0600));
		T_EQ(pwrite(fd, data, sizeof(data), 0), (ssize_t)sizeof(data));
		T_OK(close(fd));
	}
	for (int k = 0; k < 50; k++) {
		sync();
		T_OK(statvfs(".", &b));
		if (b.f_ffree >= a.f_ffree && b.f_bfree + 16 >= a.f_bfree)
			break;
		usleep(100000);
	}
	T_ASSERT(b.f_ffree >= a.f_ffree, "free inodes back: %llu < %llu",
		 (unsigned long long)b.f_ffree, (unsigned long long)a.f_ffree);
	T_ASSERT(b.f_bfree + 16 >= a.f_bfree, "free blocks back: %llu < %llu",
		 (unsigned long long)b.f_bfree, (unsigned long long)a.f_bfree);
	T_EQ(count_entries(), before);
}

/* Forget every unused inode and dentry (the kernel then asks sanfs). */
static void drop_caches(void)
{
	sync();
	int fd = T_OK(open("/proc/sys/vm/drop_caches", O_WRONLY));
	T_EQ(write(fd, "2", 1), 1);
	T_OK(close(fd));
}

struct handle {
	struct file_handle fh;
	unsigned char space[MAX_HANDLE_SZ];
};

static void get_handle(const char *path, struct handle *h)
{
	int mnt;
	h->fh.handle_bytes = MAX_HANDLE_SZ;
	T_OK(name_to_handle_at(AT_FDCWD, path, &h->fh, &mnt, 0));
}

/* File handles (name_to_handle_at / open_by_handle_at, what an NFS server
 * exporting the filesystem uses) stay valid after the kernel forgot the
 * inode, for files and directories; a removed file's handle is stale. */
static void t_file_handles(void)
{
	t_write_file("h", "handle", 6, 0644);
	T_OK(mkdir("hd", 0755));
	t_write_file("hd/gone", "x", 1, 0644);
	struct handle hf, hd, hg;
	get_handle("h", &hf);
	get_handle("hd", &hd);
	get_handle("hd/gone", &hg);
	T_OK(unlink("hd/gone"));
	int root = T_OK(open(".", O_RDONLY | O_DIRECTORY));
	drop_caches();
	int fd = open_by_handle_at(root, &hf.fh, O_RDONLY);
	T_ASSERT(fd >= 0, "open_by_handle_at of a file: %s", strerror(errno));
	char b[8] = "";
	T_EQ(read(fd, b, sizeof(b)), 6);
	T_ASSERT(!memcmp(b, "handle", 6), "data through the handle");
	T_OK(close(fd));
	drop_caches();
	fd = open_by_handle_at(root, &hd.fh, O_RDONLY | O_DIRECTORY);
	T_ASSERT(fd >= 0, "open_by_handle_at of a directory: %s", strerror(errno));
	struct stat st;
	T_OK(fstat(fd, &st));
	T_ASSERT(S_ISDIR(st.st_mode) && st.st_ino == t_lstat("hd").st_ino, "the directory");
	T_OK(close(fd));
	T_ERR(open_by_handle_at(root, &hg.fh, O_RDONLY), ESTALE);
	T_OK(close(root));
}

static const struct t_case cases[] = {
    {"create_open", t_create_open, 0},
    {"file_handles", t_file_handles, 0},
    {"mkdir_rmdir", t_mkdir_rmdir, 0},
    {"unlink", t_unlink, 0},
    {"names", t_names, 0},
    {"link", t_link, 0},
    {"symlink", t_symlink, 0},
    {"loops", t_loops, 0},
    {"mknod", t_mknod, 0},
    {"rename", t_rename, 0},
    {"rename_flags", t_rename_flags, 0},
    {"rename_whiteout", t_rename_whiteout, 0},
    {"unlink_open", t_unlink_open, 0},
    {"tmpfile", t_tmpfile, 0},
    {"many_unlinked_open", t_many_unlinked_open, 0},
    {"forget", t_forget, 0},
    {NULL, NULL, 0},
};

int main(int argc, char **argv)
{
	return t_main(argc, argv, cases);
}

/* test_img: image files for the tests/fs unit tests (see test_img.h). */
#include "test_img.h"

#include <check.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "fs/mkfs.h"

void timg_create(char *path, const char *tag, uint64_t bytes)
{
	snprintf(path, TIMG_PATH_MAX, "/var/tmp/sanfs-%s-XXXXXX", tag);
	int fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(ftruncate(fd, (off_t)bytes), 0);
	close(fd);
}

void timg_mkfs(char *path, const char *tag, uint64_t bytes, const struct mkfs_opts *o,
	       struct sfs_super *sb)
{
	timg_create(path, tag, bytes);
	const char *why = NULL;
	int rc = mkfs_format(path, o, sb, &why);
	ck_assert_msg(rc == 0, "mkfs: %s", why ? why : "?");
}

void timg_peek(const char *path, uint64_t blk, void *p)
{
	int fd = open(path, O_RDONLY);
	ck_assert_int_eq(pread(fd, p, 4096, (off_t)(blk * 4096)), 4096);
	close(fd);
}

void timg_poke(const char *path, uint64_t blk, const void *p)
{
	int fd = open(path, O_WRONLY);
	ck_assert_int_eq(pwrite(fd, p, 4096, (off_t)(blk * 4096)), 4096);
	close(fd);
}

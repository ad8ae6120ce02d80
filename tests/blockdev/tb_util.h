/* Helpers shared by the blockdev unit tests: scratch image files under
 * /var/tmp (ext4 here; O_DIRECT works on it, unlike overlayfs). */
#ifndef SANFS_TESTS_BLOCKDEV_TB_UTIL_H
#define SANFS_TESTS_BLOCKDEV_TB_UTIL_H

#include <check.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Create a sparse image of size bytes; its path is written to path (>= 64). */
static inline void tb_image(char *path, uint64_t size)
{
	snprintf(path, 64, "/var/tmp/sanfs-tb-XXXXXX");
	int fd = mkstemp(path);
	ck_assert_msg(fd >= 0, "mkstemp under /var/tmp failed");
	ck_assert_int_eq(ftruncate(fd, (off_t)size), 0);
	close(fd);
}

/* Read bytes straight from the image file, bypassing blockdev. */
static inline void tb_peek(const char *path, uint64_t off, void *buf, size_t len)
{
	int fd = open(path, O_RDONLY);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(pread(fd, buf, len, (off_t)off), (ssize_t)len);
	close(fd);
}

static inline void tb_poke(const char *path, uint64_t off, const void *buf, size_t len)
{
	int fd = open(path, O_WRONLY);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(pwrite(fd, buf, len, (off_t)off), (ssize_t)len);
	close(fd);
}

static inline void tb_fill(void *buf, size_t len, unsigned seed)
{
	uint8_t *b = buf;
	for (size_t i = 0; i < len; i++) {
		seed = seed * 1103515245u + 12345u;
		b[i] = (uint8_t)(seed >> 16);
	}
}

#endif

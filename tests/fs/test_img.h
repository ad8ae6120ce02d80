/* Image files under /var/tmp for the tests/fs unit tests that run the real
 * engine: create, mkfs, and read or write a block behind the engine's back.
 * Every failure fails the calling test (Check assertions). */
#ifndef SANFS_TESTS_FS_TEST_IMG_H
#define SANFS_TESTS_FS_TEST_IMG_H

#include <stdint.h>

struct mkfs_opts;
struct sfs_super;

#define TIMG_PATH_MAX 64

/* An empty (sparse) file of bytes named "/var/tmp/sanfs-TAG-XXXXXX"; its name
 * goes into path (TIMG_PATH_MAX bytes). The caller unlinks it. */
void timg_create(char *path, const char *tag, uint64_t bytes);
/* timg_create, then mkfs_format with o (sb, when not NULL, gets the
 * superblock written). */
void timg_mkfs(char *path, const char *tag, uint64_t bytes, const struct mkfs_opts *o,
	       struct sfs_super *sb);
/* Read or write the 4 KiB block blk of the image at path. */
void timg_peek(const char *path, uint64_t blk, void *p);
void timg_poke(const char *path, uint64_t blk, const void *p);

#endif

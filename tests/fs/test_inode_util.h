/* A real filesystem over an image file in /var/tmp for the inode part's
 * tests (mkfs + sfs_open with the inode hooks, local mode). */
#ifndef SANFS_TESTS_FS_TEST_INODE_UTIL_H
#define SANFS_TESTS_FS_TEST_INODE_UTIL_H

#include <stdint.h>

struct sfs;
struct sfs_inode;
struct lcl;

struct tfs {
	char path[128];
	struct lcl *lcl;
	struct sfs *fs;
};

/* mkfs an image of size bytes and mount it; exits 77 (skip) when /var/tmp
 * cannot hold an O_DIRECT image. */
void tfs_make(struct tfs *t, uint64_t size);
void tfs_mount(struct tfs *t);
void tfs_umount(struct tfs *t);
void tfs_crash(struct tfs *t);	 /* sfs_crash: as if the process died */
void tfs_destroy(struct tfs *t); /* unmount if mounted, remove the image */
/* Unmount and run fsck (no repair): every error other than link counts
 * (the test inodes are in no directory) fails the test. */
void tfs_fsck(struct tfs *t);
/* A new regular file (not linked in any directory), one reference. */
struct sfs_inode *tfs_new(struct tfs *t, uint32_t mode);
uint64_t tfs_free_blocks(struct tfs *t);
/* Change nlink and write the inode in its own transaction. */
void tfs_set_nlink(struct tfs *t, struct sfs_inode *ip, uint32_t nlink);

#endif

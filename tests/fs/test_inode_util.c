/* Test filesystem helper (test_inode_util.h). */
#include "test_inode_util.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "fs/fsck.h"
#include "fs/inode.h"
#include "fs/jnl.h"
#include "fs/mkfs.h"
#include "fs/sfs.h"
#include "locks/lcl.h"

void tfs_make(struct tfs *t, uint64_t size)
{
	memset(t, 0, sizeof(*t));
	snprintf(t->path, sizeof(t->path), "/var/tmp/sanfs-inode-test-XXXXXX");
	int fd = mkstemp(t->path);
	if (fd < 0 || ftruncate(fd, (off_t)size) != 0) {
		printf("skip: cannot create an image in /var/tmp: %s\n", strerror(errno));
		exit(77);
	}
	close(fd);
	struct mkfs_opts mo = {.label = "inodetest", .slots = 2, .root_init = mkfs_root_default};
	struct sfs_super sb;
	const char *why = NULL;
	int r = mkfs_format(t->path, &mo, &sb, &why);
	if (r == -EINVAL && why && strstr(why, "O_DIRECT")) {
		printf("skip: %s\n", why);
		unlink(t->path);
		exit(77);
	}
	ck_assert_msg(r == 0, "mkfs: %d %s", r, why ? why : "");
	ck_assert_int_eq(lcl_create_local(&t->lcl), 0);
	tfs_mount(t);
}

void tfs_mount(struct tfs *t)
{
	static struct sfs_ops ops;
	inode_sfs_ops(&ops);
	struct sfs_mount_opts o = {.local = true, .slot = 0, .ops = &ops, .hb_wait_ms = 1};
	int r = sfs_open(t->path, &o, t->lcl, &t->fs);
	ck_assert_msg(r == 0, "sfs_open: %d %s", r, sfs_last_error());
}

void tfs_umount(struct tfs *t)
{
	ck_assert_int_eq(sfs_close(t->fs), 0);
	t->fs = NULL;
}

void tfs_crash(struct tfs *t)
{
	sfs_crash(t->fs);
	t->fs = NULL;
}

void tfs_destroy(struct tfs *t)
{
	if (t->fs)
		tfs_umount(t);
	if (t->lcl)
		lcl_destroy(t->lcl);
	unlink(t->path);
}

struct sfs_inode *tfs_new(struct tfs *t, uint32_t mode)
{
	struct txn *tx;
	struct sfs_inode *ip;
	ck_assert_int_eq(txn_begin(t->fs, 16, &tx), 0);
	ck_assert_int_eq(inode_create(t->fs, tx, NULL, mode, 1000, 1000, 0, &ip), 0);
	ck_assert_int_eq(txn_end(tx, NULL), 0);
	return ip;
}

uint64_t tfs_free_blocks(struct tfs *t)
{
	struct statvfs st;
	ck_assert_int_eq(sfs_statfs(t->fs, &st), 0);
	return st.f_bfree;
}

void tfs_set_nlink(struct tfs *t, struct sfs_inode *ip, uint32_t nlink)
{
	struct txn *tx;
	ck_assert_int_eq(txn_begin(t->fs, inode_write_max_blocks(), &tx), 0);
	ip->nlink = nlink;
	ck_assert_int_eq(inode_write(t->fs, tx, ip), 0);
	ck_assert_int_eq(txn_end(tx, NULL), 0);
}

static void fsck_msg(void *arg, enum fsck_kind kind, const char *text)
{
	unsigned *errors = arg;
	if (kind == FSCK_ERROR && !strstr(text, "link") && !strstr(text, "director")) {
		printf("fsck: %s\n", text);
		(*errors)++;
	}
}

void tfs_fsck(struct tfs *t)
{
	if (t->fs)
		tfs_umount(t);
	unsigned errors = 0;
	struct fsck_opts o = {.msg = fsck_msg, .msg_arg = &errors};
	struct fsck_result res;
	ck_assert_int_eq(fsck_run(t->path, &o, &res), 0);
	ck_assert_uint_eq(errors, 0);
}

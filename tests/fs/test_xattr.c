/* Extended attributes on the real engine (fs/xattr.h): flags, errors, limits,
 * the spill to the xattr block, persistence, ACL names. */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>

#include "common/log.h"
#include "fs/inode.h"
#include "fs/sfs.h"
#include "fs/xattr.h"
#include "test_inode_util.h"

static struct tfs T;

static void setup(void)
{
	tfs_make(&T, 64 << 20);
}

static void teardown(void)
{
	tfs_fsck(&T); /* no block leaked or used twice */
	tfs_destroy(&T);
}

static void get_eq(struct sfs_inode *ip, const char *name, const void *val, size_t len)
{
	char buf[8192];
	size_t n = 0;
	int r = xattr_get(T.fs, ip, name, buf, sizeof(buf), &n);
	ck_assert_msg(r == 0, "get %s: %d", name, r);
	ck_assert_uint_eq(n, len);
	ck_assert_mem_eq(buf, val, len);
}

START_TEST(basic_and_flags)
{
	struct sfs_inode *ip = tfs_new(&T, S_IFREG | 0644);
	char buf[64];
	size_t n;
	ck_assert_int_eq(xattr_get(T.fs, ip, "user.a", buf, sizeof(buf), &n), -ENODATA);
	ck_assert_int_eq(xattr_set(T.fs, ip, "user.a", "one", 3, 0), 0);
	get_eq(ip, "user.a", "one", 3);
	ck_assert_int_eq(xattr_set(T.fs, ip, "user.a", "two", 3, XATTR_CREATE), -EEXIST);
	ck_assert_int_eq(xattr_set(T.fs, ip, "user.b", "two", 3, XATTR_REPLACE), -ENODATA);
	ck_assert_int_eq(xattr_set(T.fs, ip, "user.a", "three", 5, XATTR_REPLACE), 0);
	get_eq(ip, "user.a", "three", 5);
	/* Size queries and ERANGE. */
	ck_assert_int_eq(xattr_get(T.fs, ip, "user.a", NULL, 0, &n), 0);
	ck_assert_uint_eq(n, 5);
	ck_assert_int_eq(xattr_get(T.fs, ip, "user.a", buf, 4, &n), -ERANGE);
	/* Empty values exist. */
	ck_assert_int_eq(xattr_set(T.fs, ip, "trusted.empty", NULL, 0, 0), 0);
	get_eq(ip, "trusted.empty", "", 0);
	ck_assert_int_eq(xattr_set(T.fs, ip, "security.selinux", "ctx", 3, 0), 0);
	ck_assert_int_eq(xattr_set(T.fs, ip, "system.posix_acl_access", "\2\0\0\0", 4, 0), 0);
	ck_assert_int_eq(xattr_set(T.fs, ip, "system.posix_acl_default", "\2\0\0\1", 4, 0), 0);
	/* List: every name, NUL-terminated. */
	const char want[] = "user.a\0trusted.empty\0security.selinux\0system.posix_acl_access\0"
			    "system.posix_acl_default";
	char list[256];
	ck_assert_int_eq(xattr_list(T.fs, ip, NULL, 0, &n), 0);
	ck_assert_uint_eq(n, sizeof(want));
	ck_assert_int_eq(xattr_list(T.fs, ip, list, sizeof(list), &n), 0);
	ck_assert_mem_eq(list, want, sizeof(want));
	ck_assert_int_eq(xattr_list(T.fs, ip, list, sizeof(want) - 1, &n), -ERANGE);
	/* Names. */
	ck_assert_int_eq(xattr_set(T.fs, ip, "system.other", "x", 1, 0), -EOPNOTSUPP);
	ck_assert_int_eq(xattr_set(T.fs, ip, "os2.x", "x", 1, 0), -EOPNOTSUPP);
	ck_assert_int_eq(xattr_set(T.fs, ip, "user.", "x", 1, 0), -EINVAL);
	ck_assert_int_eq(xattr_set(T.fs, ip, "", "x", 1, 0), -EINVAL);
	char longname[300] = "user.";
	memset(longname + 5, 'n', 250);
	ck_assert_int_eq(xattr_set(T.fs, ip, longname, "x", 1, 0), 0); /* 255: the limit */
	longname[255] = 'n';
	ck_assert_int_eq(xattr_set(T.fs, ip, longname, "x", 1, 0), -ERANGE);
	ck_assert_int_eq(xattr_set(T.fs, ip, "user.a", "x", 1, 0x40), -EINVAL);
	/* Remove. */
	ck_assert_int_eq(xattr_remove(T.fs, ip, "user.a"), 0);
	ck_assert_int_eq(xattr_remove(T.fs, ip, "user.a"), -ENODATA);
	ck_assert_int_eq(xattr_get(T.fs, ip, "user.a", buf, sizeof(buf), &n), -ENODATA);
	get_eq(ip, "security.selinux", "ctx", 3);
	/* Persistence. */
	uint64_t ino = ip->ino;
	inode_put(T.fs, ip);
	tfs_umount(&T);
	tfs_mount(&T);
	ck_assert_int_eq(inode_get(T.fs, ino, &ip), 0);
	get_eq(ip, "system.posix_acl_default", "\2\0\0\1", 4);
	get_eq(ip, "trusted.empty", "", 0);
	ck_assert_int_eq(xattr_get(T.fs, ip, "user.a", buf, sizeof(buf), &n), -ENODATA);
	inode_put(T.fs, ip);
}
END_TEST

START_TEST(spill_and_limits)
{
	struct sfs_inode *ip = tfs_new(&T, S_IFREG | 0644);
	static char big[70000];
	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (char)(i * 13);
	ck_assert_int_eq(xattr_set(T.fs, ip, "user.huge", big, 65537, 0), -E2BIG);
	/* Fill the inline area, then the block. */
	char name[32];
	int i;
	for (i = 0; i < 100; i++) {
		snprintf(name, sizeof(name), "user.k%03d", i);
		int r = xattr_set(T.fs, ip, name, big + i, 200, 0);
		if (r == -ENOSPC)
			break;
		ck_assert_int_eq(r, 0);
	}
	/* inline 2816 + block 4032 bytes; an entry is 4 + 4 + 200 bytes */
	ck_assert_int_eq(i, 2816 / 208 + 4032 / 208);
	ck_assert_uint_ne(ip->xattr_blk, 0);
	ck_assert_uint_eq(ip->blocks, 8);
	for (int k = 0; k < i; k++) {
		snprintf(name, sizeof(name), "user.k%03d", k);
		get_eq(ip, name, big + k, 200);
	}
	/* A value larger than any area: no room. */
	ck_assert_int_eq(xattr_set(T.fs, ip, "user.big", big, 5000, 0), -ENOSPC);
	/* Removing every block entry frees the block. */
	uint64_t free0 = tfs_free_blocks(&T);
	for (int k = 0; k < i; k++) {
		snprintf(name, sizeof(name), "user.k%03d", k);
		ck_assert_int_eq(xattr_remove(T.fs, ip, name), 0);
	}
	ck_assert_uint_eq(ip->xattr_blk, 0);
	ck_assert_uint_eq(ip->blocks, 0);
	ck_assert_uint_eq(ip->ixattr_len, 0);
	ck_assert_uint_eq(tfs_free_blocks(&T), free0 + 1);
	/* The largest value that fits in the block alone. */
	size_t maxv = 4032 - 4 - 3;
	ck_assert_int_eq(xattr_set(T.fs, ip, "user.max", big, maxv + 1, 0), -ENOSPC);
	ck_assert_int_eq(xattr_set(T.fs, ip, "user.max", big, maxv, 0), 0);
	get_eq(ip, "user.max", big, maxv);
	/* Replacing a value moves it between areas as needed. */
	ck_assert_int_eq(xattr_set(T.fs, ip, "user.max", "tiny", 4, 0), 0);
	get_eq(ip, "user.max", "tiny", 4);
	uint64_t ino = ip->ino;
	inode_put(T.fs, ip);
	tfs_umount(&T);
	tfs_mount(&T);
	ck_assert_int_eq(inode_get(T.fs, ino, &ip), 0);
	get_eq(ip, "user.max", "tiny", 4);
	inode_put(T.fs, ip);
}
END_TEST

int main(void)
{
	log_setup("test_xattr", 0, getenv("VERBOSE") ? LOG_DEBUG : LOG_ERROR);
	Suite *s = suite_create("xattr");
	TCase *tc = tcase_create("xattr");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, basic_and_flags);
	tcase_add_test(tc, spill_and_limits);
	tcase_set_timeout(tc, 60);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}

/* Extended attributes on the real engine (fs/xattr.h): flags, errors, limits,
 * the spill to the xattr run, a thousand attributes and XATTR_SIZE_MAX,
 * persistence, ACL names, a random model. */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/xattr.h>

#include "common/log.h"
#include "fs/inode.h"
#include "fs/inode_format.h"
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
	/* Fill the inline area, then the run. */
	uint64_t free0 = tfs_free_blocks(&T);
	char name[32];
	int i;
	for (i = 0; i < 1000; i++) {
		snprintf(name, sizeof(name), "user.k%03d", i);
		int r = xattr_set(T.fs, ip, name, big + i, 200, 0);
		if (r == -ENOSPC)
			break;
		ck_assert_int_eq(r, 0);
		ck_assert_uint_eq(ip->blocks, 8ull * ip->xattr_nblk);
	}
	/* inline 2816 + 32 blocks of 4032 bytes; an entry is 6 + 4 + 200 bytes */
	ck_assert_int_eq(i, 2816 / 210 + XATTR_RUN_MAX * 4032 / 210);
	ck_assert_uint_eq(ip->xattr_nblk, XATTR_RUN_MAX);
	ck_assert_uint_eq(ip->blocks, 8 * XATTR_RUN_MAX);
	ck_assert_uint_eq(tfs_free_blocks(&T), free0 - XATTR_RUN_MAX);
	for (int k = 0; k < i; k++) {
		snprintf(name, sizeof(name), "user.k%03d", k);
		get_eq(ip, name, big + k, 200);
	}
	/* No room: nothing changes. */
	ck_assert_int_eq(xattr_set(T.fs, ip, "user.big", big, 5000, 0), -ENOSPC);
	ck_assert_int_eq(xattr_set(T.fs, ip, "user.k000", big, 5000, 0), -ENOSPC);
	get_eq(ip, "user.k000", big, 200);
	/* Removing entries from the end gives the run's last blocks back; removing
	 * the rest frees it. */
	for (int k = i - 1; k >= 0; k--) {
		snprintf(name, sizeof(name), "user.k%03d", k);
		ck_assert_int_eq(xattr_remove(T.fs, ip, name), 0);
		ck_assert_uint_eq(ip->blocks, 8ull * ip->xattr_nblk);
		ck_assert_uint_eq(tfs_free_blocks(&T), free0 - ip->xattr_nblk);
		if (k == i / 2)
			ck_assert(ip->xattr_nblk > 1 && ip->xattr_nblk < XATTR_RUN_MAX);
	}
	ck_assert_uint_eq(ip->xattr_blk, 0);
	ck_assert_uint_eq(ip->blocks, 0);
	ck_assert_uint_eq(ip->ixattr_len, 0);
	ck_assert_uint_eq(tfs_free_blocks(&T), free0);
	/* The largest value there is (XATTR_SIZE_MAX), alone and replaced. */
	ck_assert_int_eq(xattr_set(T.fs, ip, "user.max", big, 65536, 0), 0);
	ck_assert_uint_eq(ip->xattr_nblk, 17); /* 65536 + 6 + 3 bytes */
	static char out[65536];
	size_t n;
	ck_assert_int_eq(xattr_get(T.fs, ip, "user.max", out, sizeof(out), &n), 0);
	ck_assert_uint_eq(n, 65536);
	ck_assert_mem_eq(out, big, 65536);
	ck_assert_int_eq(xattr_set(T.fs, ip, "user.max", big + 1, 65536, XATTR_REPLACE), 0);
	ck_assert_int_eq(xattr_get(T.fs, ip, "user.max", out, sizeof(out), &n), 0);
	ck_assert_mem_eq(out, big + 1, 65536);
	/* Replacing a value moves it between areas as needed. */
	ck_assert_int_eq(xattr_set(T.fs, ip, "user.max", "tiny", 4, 0), 0);
	get_eq(ip, "user.max", "tiny", 4);
	ck_assert_uint_eq(ip->xattr_blk, 0);
	ck_assert_uint_eq(tfs_free_blocks(&T), free0);
	uint64_t ino = ip->ino;
	inode_put(T.fs, ip);
	tfs_umount(&T);
	tfs_mount(&T);
	ck_assert_int_eq(inode_get(T.fs, ino, &ip), 0);
	get_eq(ip, "user.max", "tiny", 4);
	inode_put(T.fs, ip);
}
END_TEST

/* The names of an inode never outgrow what listxattr(2) can return
 * (XATTR_LIST_MAX, 65,536 bytes): one name more is ENOSPC, a new value for
 * a name it has is fine. */
START_TEST(list_stays_listable)
{
	struct sfs_inode *ip = tfs_new(&T, S_IFREG | 0644);
	char name[300];
	memset(name, 'n', sizeof(name));
	memcpy(name, "user.", 5);
	name[255] = 0;
	for (int i = 0; i < 256; i++) { /* 256 names of 255 bytes + NUL: 65,536 */
		snprintf(name + 5, 4, "%03d", i);
		name[8] = 'n';
		ck_assert_int_eq(xattr_set(T.fs, ip, name, NULL, 0, XATTR_CREATE), 0);
	}
	size_t n;
	ck_assert_int_eq(xattr_list(T.fs, ip, NULL, 0, &n), 0);
	ck_assert_uint_eq(n, 65536);
	memcpy(name + 5, "zzz", 3);
	ck_assert_int_eq(xattr_set(T.fs, ip, name, "v", 1, 0), -ENOSPC);
	ck_assert_int_eq(xattr_set(T.fs, ip, "user.z", "v", 1, 0), -ENOSPC);
	memcpy(name + 5, "007", 3);
	ck_assert_int_eq(xattr_set(T.fs, ip, name, "value", 5, XATTR_REPLACE), 0);
	get_eq(ip, name, "value", 5);
	ck_assert_int_eq(xattr_remove(T.fs, ip, name), 0);
	ck_assert_int_eq(xattr_set(T.fs, ip, "user.z", "v", 1, 0), 0);
	inode_put(T.fs, ip);
}
END_TEST

/* What xfstests' generic/020 asks of a FUSE filesystem: a thousand
 * attributes and a value of XATTR_SIZE_MAX on one file, listed, read back
 * after a remount, removed; the inode freed with its run. */
START_TEST(thousand_and_max)
{
	struct sfs_inode *ip = tfs_new(&T, S_IFREG | 0644);
	uint64_t free0 = tfs_free_blocks(&T);
	char name[64], val[32];
	size_t listlen = 0;
	for (int i = 0; i < 1000; i++) {
		snprintf(name, sizeof(name), "user.attribute_%d", i);
		int vl = snprintf(val, sizeof(val), "value_%d", i);
		ck_assert_int_eq(xattr_set(T.fs, ip, name, val, (size_t)vl, XATTR_CREATE), 0);
		listlen += strlen(name) + 1;
	}
	static char big[65536];
	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (char)('a' + i % 23);
	ck_assert_int_eq(xattr_set(T.fs, ip, "user.long_attr", big, sizeof(big), 0), 0);
	listlen += strlen("user.long_attr") + 1;
	uint64_t ino = ip->ino;
	inode_put(T.fs, ip);
	tfs_umount(&T);
	tfs_mount(&T);
	ck_assert_int_eq(inode_get(T.fs, ino, &ip), 0);
	static char list[65536];
	size_t n;
	ck_assert_int_eq(xattr_list(T.fs, ip, list, sizeof(list), &n), 0);
	ck_assert_uint_eq(n, listlen);
	unsigned seen = 0;
	for (size_t off = 0; off < n; off += strlen(list + off) + 1)
		seen++;
	ck_assert_uint_eq(seen, 1001);
	for (int i = 0; i < 1000; i++) {
		snprintf(name, sizeof(name), "user.attribute_%d", i);
		int vl = snprintf(val, sizeof(val), "value_%d", i);
		get_eq(ip, name, val, (size_t)vl);
	}
	static char out[65536];
	ck_assert_int_eq(xattr_get(T.fs, ip, "user.long_attr", out, sizeof(out), &n), 0);
	ck_assert_uint_eq(n, sizeof(big));
	ck_assert_mem_eq(out, big, sizeof(big));
	for (int i = 0; i < 1000; i += 2) {
		snprintf(name, sizeof(name), "user.attribute_%d", i);
		ck_assert_int_eq(xattr_remove(T.fs, ip, name), 0);
	}
	get_eq(ip, "user.attribute_999", "value_999", 9);
	ck_assert_uint_eq(ip->blocks, 8ull * ip->xattr_nblk);
	ck_assert_uint_gt(ip->xattr_nblk, 17);
	/* The inode goes: its run goes with it. */
	tfs_set_nlink(&T, ip, 0);
	inode_put(T.fs, ip);
	ck_assert_uint_eq(tfs_free_blocks(&T), free0 + 1); /* and the inode block */
}
END_TEST

/* Random sets, replaces and removes against a model, with remounts: every
 * value, the list and the block count stay right. */
START_TEST(random_model)
{
	unsigned seed = getenv("SEED") ? (unsigned)atoi(getenv("SEED")) : (unsigned)getpid();
	printf("xattr random_model seed %u\n", seed);
	srand(seed);
	enum { NAMES = 64 };
	static char *model[NAMES];
	static size_t mlen[NAMES];
	static char val[65536], out[65536];
	struct sfs_inode *ip = tfs_new(&T, S_IFREG | 0644);
	uint64_t ino = ip->ino, free0 = tfs_free_blocks(&T);
	char name[32];
	for (int op = 0; op < 3000; op++) {
		int k = rand() % NAMES;
		snprintf(name, sizeof(name), "%s.n%d", k % 3 ? "user" : "trusted", k);
		int what = rand() % 10;
		if (what < 6) {
			size_t len = rand() % 8 == 0   ? (size_t)(rand() % 65537)
				     : rand() % 2 == 0 ? (size_t)(rand() % 64)
						       : (size_t)(rand() % 3000);
			for (size_t b = 0; b < len; b++)
				val[b] = (char)rand();
			int r = xattr_set(T.fs, ip, name, val, len, 0);
			ck_assert_msg(r == 0 || r == -ENOSPC, "op %d set %s (%zu): %d", op, name,
				      len, r);
			if (r == 0) {
				free(model[k]);
				model[k] = malloc(len ? len : 1);
				memcpy(model[k], val, len);
				mlen[k] = len;
			}
		} else if (what < 9) {
			int r = xattr_remove(T.fs, ip, name);
			ck_assert_int_eq(r, model[k] ? 0 : -ENODATA);
			free(model[k]);
			model[k] = NULL;
		} else {
			inode_put(T.fs, ip);
			tfs_umount(&T);
			tfs_mount(&T);
			ck_assert_int_eq(inode_get(T.fs, ino, &ip), 0);
		}
		ck_assert_uint_eq(ip->blocks, 8ull * ip->xattr_nblk);
		ck_assert_uint_eq(tfs_free_blocks(&T), free0 - ip->xattr_nblk);
		int c = rand() % NAMES;
		snprintf(name, sizeof(name), "%s.n%d", c % 3 ? "user" : "trusted", c);
		size_t n = 0;
		int r = xattr_get(T.fs, ip, name, out, sizeof(out), &n);
		if (!model[c]) {
			ck_assert_int_eq(r, -ENODATA);
			continue;
		}
		ck_assert_msg(r == 0, "op %d get %s: %d", op, name, r);
		ck_assert_uint_eq(n, mlen[c]);
		ck_assert_mem_eq(out, model[c], n);
	}
	size_t want = 0, n;
	for (int k = 0; k < NAMES; k++) {
		if (!model[k])
			continue;
		snprintf(name, sizeof(name), "%s.n%d", k % 3 ? "user" : "trusted", k);
		want += strlen(name) + 1;
		ck_assert_int_eq(xattr_get(T.fs, ip, name, out, sizeof(out), &n), 0);
		ck_assert_uint_eq(n, mlen[k]);
		ck_assert_mem_eq(out, model[k], n);
		free(model[k]);
		model[k] = NULL;
	}
	ck_assert_int_eq(xattr_list(T.fs, ip, NULL, 0, &n), 0);
	ck_assert_uint_eq(n, want);
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
	tcase_add_test(tc, thousand_and_max);
	tcase_add_test(tc, list_stays_listable);
	tcase_add_test(tc, random_model);
	tcase_set_timeout(tc, 60);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}

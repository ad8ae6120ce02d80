/* In-core inodes on the real engine (fs/inode.h): the cache, create/stat,
 * freeing at the last put, orphans across a crash, symlinks, corrupt blocks
 * met at run time. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/log.h"
#include "fs/extent.h"
#include "fs/file.h"
#include "fs/inode.h"
#include "fs/jnl.h"
#include "fs/orphan.h"
#include "fs/sfs.h"
#include "fs/symlink.h"
#include "fs/xattr.h"
#include "test_inode_util.h"

static struct tfs T;

static void setup(void)
{
	tfs_make(&T, 64 << 20);
}

static void teardown(void)
{
	tfs_destroy(&T);
}

START_TEST(create_stat_cache)
{
	struct sfs_inode *a = tfs_new(&T, S_IFREG | 0640), *b;
	struct stat st;
	ck_assert_int_eq(inode_stat(a, &st), 0);
	ck_assert_uint_eq(st.st_ino, a->ino);
	ck_assert_uint_eq(st.st_mode, S_IFREG | 0640);
	ck_assert_uint_eq(st.st_nlink, 1);
	ck_assert_uint_eq(st.st_uid, 1000);
	ck_assert_uint_eq(st.st_size, 0);
	ck_assert_uint_eq(st.st_blksize, 4096);
	ck_assert_int_ne(st.st_mtim.tv_sec, 0);
	/* Same number, same in-core inode. */
	ck_assert_int_eq(inode_get(T.fs, a->ino, &b), 0);
	ck_assert_ptr_eq(a, b);
	inode_put(T.fs, b);
	/* Directories start with nlink 2; types are checked. */
	struct sfs_inode *d = tfs_new(&T, S_IFDIR | 0755);
	ck_assert_uint_eq(d->nlink, 2);
	ck_assert_uint_ne(d->generation, a->generation);
	struct txn *t;
	ck_assert_int_eq(txn_begin(T.fs, 16, &t), 0);
	ck_assert_int_eq(inode_create(T.fs, t, NULL, 0777, 0, 0, 0, &b), -EINVAL);
	txn_abort(t);
	/* Numbers that are no inode. */
	ck_assert_int_eq(inode_get(T.fs, 0, &b), -ENOENT);
	ck_assert_int_eq(inode_get(T.fs, 1ull << 40, &b), -ENOENT);
	ck_assert_int_eq(inode_get(T.fs, a->ino + 100, &b), -ENOENT);
	/* Fields survive eviction from the cache and a remount. */
	uint64_t ino = a->ino;
	a->uid = 77;
	a->mtime.tv_nsec = 123456789;
	ck_assert_int_eq(txn_begin(T.fs, inode_write_max_blocks(), &t), 0);
	ck_assert_int_eq(inode_write(T.fs, t, a), 0);
	ck_assert_int_eq(txn_end(t, NULL), 0);
	inode_put(T.fs, a);
	inode_put(T.fs, d);
	inode_cache_bound(T.fs, 1);
	unsigned long cached;
	unsigned unused;
	inode_cache_counts(T.fs, &cached, &unused);
	ck_assert_uint_le(unused, 1);
	tfs_umount(&T);
	tfs_mount(&T);
	ck_assert_int_eq(inode_get(T.fs, ino, &a), 0);
	ck_assert_uint_eq(a->uid, 77);
	ck_assert_int_eq(a->mtime.tv_nsec, 123456789);
	inode_put(T.fs, a);
}
END_TEST

START_TEST(lru_bound)
{
	inode_cache_bound(T.fs, 10);
	uint64_t inos[50];
	for (int i = 0; i < 50; i++) {
		struct sfs_inode *ip = tfs_new(&T, S_IFREG | 0644);
		inos[i] = ip->ino;
		inode_put(T.fs, ip);
	}
	unsigned long cached;
	unsigned unused;
	inode_cache_counts(T.fs, &cached, &unused);
	ck_assert_uint_eq(unused, 10);
	ck_assert_uint_eq(cached, 10);
	for (int i = 0; i < 50; i++) { /* evicted ones are read again */
		struct sfs_inode *ip;
		ck_assert_int_eq(inode_get(T.fs, inos[i], &ip), 0);
		ck_assert_uint_eq(ip->ino, inos[i]);
		inode_put(T.fs, ip);
	}
}
END_TEST

/* Many threads getting, putting and invalidating a small set of inodes
 * through a tiny LRU: every get returns the right inode with its fields. */
static uint64_t conc_inos[16];

static void *conc_worker(void *arg)
{
	unsigned seed = (unsigned)(uintptr_t)arg;
	for (int i = 0; i < 3000; i++) {
		unsigned k = (unsigned)rand_r(&seed) % 16;
		struct sfs_inode *ip;
		int r = inode_get(T.fs, conc_inos[k], &ip);
		if (r)
			return (void *)(intptr_t)r;
		if (ip->ino != conc_inos[k] || ip->uid != 1000 + k)
			return (void *)(intptr_t)-1000;
		if (rand_r(&seed) % 8 == 0)
			inode_invalidate(T.fs, conc_inos[(k + 1) % 16]);
		if (rand_r(&seed) % 4 == 0)
			ck_assert_int_eq(inode_revalidate(T.fs, ip), 0);
		inode_put(T.fs, ip);
	}
	return NULL;
}

START_TEST(concurrent_cache)
{
	for (unsigned k = 0; k < 16; k++) {
		struct sfs_inode *ip = tfs_new(&T, S_IFREG | 0644);
		struct txn *t;
		ip->uid = 1000 + k;
		ck_assert_int_eq(txn_begin(T.fs, inode_write_max_blocks(), &t), 0);
		ck_assert_int_eq(inode_write(T.fs, t, ip), 0);
		ck_assert_int_eq(txn_end(t, NULL), 0);
		conc_inos[k] = ip->ino;
		inode_put(T.fs, ip);
	}
	inode_cache_bound(T.fs, 4);
	pthread_t th[6];
	for (uintptr_t i = 0; i < 6; i++)
		ck_assert_int_eq(pthread_create(&th[i], NULL, conc_worker, (void *)(i + 1)), 0);
	for (int i = 0; i < 6; i++) {
		void *ret;
		pthread_join(th[i], &ret);
		ck_assert_int_eq((int)(intptr_t)ret, 0);
	}
	unsigned long cached;
	unsigned unused;
	inode_cache_counts(T.fs, &cached, &unused);
	ck_assert_uint_le(unused, 4);
	ck_assert_uint_eq(cached, unused); /* nothing left referenced */
}
END_TEST

START_TEST(free_at_last_put)
{
	uint64_t free0 = tfs_free_blocks(&T);
	struct sfs_inode *ip = tfs_new(&T, S_IFREG | 0644), *again;
	static char buf[1 << 20];
	size_t done;
	memset(buf, 1, sizeof(buf));
	ck_assert_int_eq(file_write(T.fs, ip, buf, sizeof(buf), 0, &done), 0);
	ck_assert_int_eq(xattr_set(T.fs, ip, "user.big", buf, 2000, 0), 0);
	ck_assert_int_eq(xattr_set(T.fs, ip, "user.big2", buf, 2000, 0), 0); /* block */
	ck_assert_uint_ne(ip->xattr_blk, 0);
	ck_assert_uint_lt(tfs_free_blocks(&T), free0 - 256);
	inode_ref(T.fs, ip); /* "open" */
	tfs_set_nlink(&T, ip, 0);
	ck_assert(ip->lflags & INODE_LF_ORPHAN);
	inode_put(T.fs, ip); /* still open: stays readable */
	ck_assert_int_eq(file_read(T.fs, ip, buf, 10, 0, &done), 0);
	ck_assert_uint_eq(done, 10);
	uint64_t ino = ip->ino;
	inode_put(T.fs, ip); /* the last close frees everything */
	ck_assert_uint_eq(tfs_free_blocks(&T), free0);
	ck_assert_int_eq(inode_get(T.fs, ino, &again), -ENOENT);
	/* An inode that reached the disk, then was unlinked, checkpointed and
	 * freed, is gone for good after a remount too. */
	struct sfs_inode *old = tfs_new(&T, S_IFREG | 0644);
	uint64_t oino = old->ino;
	inode_put(T.fs, old);
	tfs_umount(&T);
	tfs_mount(&T);
	ck_assert_int_eq(inode_get(T.fs, oino, &old), 0);
	tfs_set_nlink(&T, old, 0);
	ck_assert_int_eq(jnl_checkpoint_all(T.fs), 0);
	inode_put(T.fs, old);
	tfs_umount(&T);
	tfs_mount(&T);
	ck_assert_int_eq(inode_get(T.fs, oino, &old), -ENOENT);
	ck_assert_int_eq(inode_get(T.fs, ino, &again), -ENOENT);
	/* The number can be reused. */
	struct sfs_inode *n = tfs_new(&T, S_IFREG | 0600);
	inode_put(T.fs, n);
}
END_TEST

START_TEST(orphan_after_crash)
{
	uint64_t free0 = tfs_free_blocks(&T);
	struct sfs_inode *ip = tfs_new(&T, S_IFREG | 0644);
	static char buf[256 << 10];
	size_t done;
	memset(buf, 2, sizeof(buf));
	ck_assert_int_eq(file_write(T.fs, ip, buf, sizeof(buf), 0, &done), 0);
	tfs_set_nlink(&T, ip, 0); /* unlinked while open */
	ck_assert_int_eq(inode_fsync(T.fs, ip), 0);
	/* A second file in the middle of a long truncation. */
	struct sfs_inode *tr = tfs_new(&T, S_IFREG | 0644);
	for (int i = 0; i < 100; i++) /* 100 extents: a tree */
		ck_assert_int_eq(file_write(T.fs, tr, buf, 4096, (uint64_t)i * 8192, &done), 0);
	ck_assert_int_eq(inode_fsync(T.fs, tr), 0);
	/* tr: the first step of a truncation to 8192 bytes as file_truncate
	 * does it (size cut, orphan listed), then the crash before any extent
	 * is freed. */
	struct txn *t;
	ck_assert_int_eq(txn_begin(T.fs, 8, &t), 0);
	ck_assert_int_eq(orphan_add(T.fs, t, tr->ino), 0);
	tr->lflags |= INODE_LF_ORPHAN;
	tr->size = 8192;
	ck_assert_int_eq(inode_write(T.fs, t, tr), 0);
	ck_assert_int_eq(txn_end(t, NULL), 0);
	ck_assert_int_eq(inode_fsync(T.fs, tr), 0);
	uint64_t free1 = tfs_free_blocks(&T);
	uint64_t tr_ino = tr->ino, nodes = tr->fork.nnodes;
	ck_assert_uint_gt(nodes, 0);
	tfs_crash(&T); /* the in-core inodes die with the process */
	tfs_mount(&T);
	/* The unlinked file (64 data blocks + its inode) and 99 extents of the
	 * truncated one (and its tree nodes) came back. */
	ck_assert_uint_eq(tfs_free_blocks(&T), free1 + 64 + 1 + 99 + nodes);
	ck_assert_uint_eq(tfs_free_blocks(&T), free0 - 2);
	ck_assert_int_eq(inode_get(T.fs, tr_ino, &tr), 0);
	ck_assert_uint_eq(tr->size, 8192);
	ck_assert_uint_eq(extent_count(tr), 1);
	ck_assert(!(tr->lflags & INODE_LF_ORPHAN));
	ck_assert_uint_eq(tr->blocks, 8);
	inode_put(T.fs, tr);
}
END_TEST

START_TEST(symlinks)
{
	char target[4096], out[4200];
	size_t n;
	for (int i = 0; i < 4095; i++)
		target[i] = (char)('a' + i % 26);
	size_t lens[] = {1, 100, 1024, 1025, 3000, 4095};
	uint64_t inos[6];
	for (int k = 0; k < 6; k++) {
		struct sfs_inode *ip = tfs_new(&T, S_IFLNK | 0777);
		struct txn *t;
		ck_assert_int_eq(txn_begin(T.fs, symlink_max_blocks(), &t), 0);
		ck_assert_int_eq(symlink_set(T.fs, t, ip, target, lens[k]), 0);
		ck_assert_int_eq(txn_end(t, NULL), 0);
		ck_assert_uint_eq(ip->size, lens[k]);
		ck_assert_uint_eq(ip->blocks, lens[k] > 1024 ? 8 : 0);
		inos[k] = ip->ino;
		inode_put(T.fs, ip);
	}
	tfs_umount(&T);
	tfs_mount(&T);
	for (int k = 0; k < 6; k++) {
		struct sfs_inode *ip;
		ck_assert_int_eq(inode_get(T.fs, inos[k], &ip), 0);
		memset(out, 0x55, sizeof(out));
		ck_assert_int_eq(symlink_read(T.fs, ip, out, sizeof(out), &n), 0);
		ck_assert_uint_eq(n, lens[k]);
		ck_assert_mem_eq(out, target, lens[k]);
		ck_assert_int_eq(out[lens[k]], 0);
		/* A short buffer gets the head, as readlink(2). */
		memset(out, 0, sizeof(out));
		ck_assert_int_eq(symlink_read(T.fs, ip, out, 1030, &n), 0);
		ck_assert_mem_eq(out, target, lens[k] < 1030 ? lens[k] : 1030);
		inode_put(T.fs, ip);
	}
	struct sfs_inode *ip = tfs_new(&T, S_IFLNK | 0777), *f = tfs_new(&T, S_IFREG | 0644);
	struct txn *t;
	ck_assert_int_eq(txn_begin(T.fs, symlink_max_blocks(), &t), 0);
	ck_assert_int_eq(symlink_set(T.fs, t, ip, target, 4096), -ENAMETOOLONG);
	ck_assert_int_eq(symlink_set(T.fs, t, ip, target, 0), -EINVAL);
	ck_assert_int_eq(symlink_set(T.fs, t, f, target, 3), -EINVAL);
	ck_assert_int_eq(symlink_set(T.fs, t, ip, "a\0b", 3), -EINVAL);
	ck_assert_int_eq(txn_end(t, NULL), 0);
	ck_assert_int_eq(symlink_read(T.fs, f, out, sizeof(out), &n), -EINVAL);
	inode_put(T.fs, ip);
	inode_put(T.fs, f);
}
END_TEST

START_TEST(corrupt_on_disk)
{
	struct sfs_inode *ip = tfs_new(&T, S_IFREG | 0644), *b;
	uint64_t ino = ip->ino;
	inode_put(T.fs, ip);
	tfs_umount(&T);
	/* Flip a payload byte of the inode block behind the filesystem's back. */
	int fd = open(T.path, O_RDWR);
	ck_assert_int_ge(fd, 0);
	char c;
	ck_assert_int_eq(pread(fd, &c, 1, (off_t)(ino * 4096 + 60)), 1);
	c ^= 0x40;
	ck_assert_int_eq(pwrite(fd, &c, 1, (off_t)(ino * 4096 + 60)), 1);
	close(fd);
	tfs_mount(&T);
	ck_assert_int_eq(inode_get(T.fs, ino, &b), -EIO);
	/* The rest of the filesystem keeps working. */
	struct sfs_inode *other = tfs_new(&T, S_IFREG | 0644);
	inode_put(T.fs, other);
}
END_TEST

/* A corrupt extent tree node met at run time: that file's operations fail
 * with -EIO, nothing crashes, the rest keeps working. */
START_TEST(corrupt_tree_node)
{
	struct sfs_inode *ip = tfs_new(&T, S_IFREG | 0644), *b;
	static char buf[4096];
	size_t done;
	memset(buf, 3, sizeof(buf));
	for (int i = 0; i < 100; i++)
		ck_assert_int_eq(file_write(T.fs, ip, buf, 4096, (uint64_t)i * 8192, &done), 0);
	ck_assert(ip->lflags & INODE_LF_EXT_TREE);
	uint64_t ino = ip->ino, root = ip->fork.root;
	inode_put(T.fs, ip);
	tfs_umount(&T);
	int fd = open(T.path, O_RDWR);
	ck_assert_int_ge(fd, 0);
	char c;
	ck_assert_int_eq(pread(fd, &c, 1, (off_t)(root * 4096 + 200)), 1);
	c ^= 0x10;
	ck_assert_int_eq(pwrite(fd, &c, 1, (off_t)(root * 4096 + 200)), 1);
	close(fd);
	tfs_mount(&T);
	ck_assert_int_eq(inode_get(T.fs, ino, &ip), 0); /* the inode block is fine */
	ck_assert_int_eq(file_read(T.fs, ip, buf, 100, 8192, &done), -EIO);
	ck_assert_int_eq(file_write(T.fs, ip, buf, 100, 8192 + 4096, &done), -EIO);
	ck_assert_int_eq(file_truncate(T.fs, ip, 0), -EIO);
	uint64_t pos;
	ck_assert_int_eq(file_seek_data_hole(T.fs, ip, 0, SEEK_HOLE, &pos), -EIO);
	inode_put(T.fs, ip);
	struct sfs_inode *other = tfs_new(&T, S_IFREG | 0644);
	ck_assert_int_eq(file_write(T.fs, other, "ok", 2, 0, &done), 0);
	ck_assert_int_eq(inode_get(T.fs, ino, &b), 0);
	inode_put(T.fs, b);
	inode_put(T.fs, other);
}
END_TEST

int main(void)
{
	log_setup("test_inode_fs", 0, getenv("VERBOSE") ? LOG_DEBUG : LOG_ERROR);
	Suite *s = suite_create("inode_fs");
	TCase *tc = tcase_create("inode");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, create_stat_cache);
	tcase_add_test(tc, lru_bound);
	tcase_add_test(tc, concurrent_cache);
	tcase_add_test(tc, free_at_last_put);
	tcase_add_test(tc, orphan_after_crash);
	tcase_add_test(tc, symlinks);
	tcase_add_test(tc, corrupt_on_disk);
	tcase_add_test(tc, corrupt_tree_node);
	tcase_set_timeout(tc, 60);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}

/* Crash consistency of the inode part on the real engine: random writes,
 * truncates, punches and fsyncs on a few files, an unlinked-while-open file,
 * then a crash (sfs_crash: nothing more reaches the disk). After replay every
 * file fsynced since its last change has exactly its fsynced contents, and
 * fsck finds every block referenced once and no leak. Seed printed. */
#include <check.h>
#include <errno.h>
#include <linux/falloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "common/log.h"
#include "fs/file.h"
#include "fs/fsck.h"
#include "fs/inode.h"
#include "fs/sfs.h"
#include "test_inode_util.h"

#define NF   4
#define FMAX (2u << 20)

static struct tfs T;

struct mfile {
	uint64_t ino;
	uint8_t *m, *d; /* model now, model at the last fsync */
	uint64_t msize, dsize;
	bool synced; /* no change since the last fsync */
};

static void fsck_msg(void *arg, enum fsck_kind kind, const char *text)
{
	unsigned *errors = arg;
	if (getenv("VERBOSE"))
		printf("fsck[%d]: %s\n", kind, text);
	/* Link counts need directory entries, which these bare test inodes do
	 * not have: only the block accounting matters here. */
	if (kind == FSCK_ERROR && !strstr(text, "link") && !strstr(text, "director")) {
		printf("fsck: %s\n", text);
		(*errors)++;
	}
}

static void check_fsck(void)
{
	unsigned errors = 0;
	struct fsck_opts o = {.msg = fsck_msg, .msg_arg = &errors};
	struct fsck_result res;
	ck_assert_int_eq(fsck_run(T.path, &o, &res), 0);
	ck_assert_uint_eq(errors, 0);
}

START_TEST(crash_rounds)
{
	unsigned seed = getenv("SEED") ? (unsigned)atoi(getenv("SEED")) : (unsigned)time(NULL);
	printf("inode crash_rounds seed %u\n", seed);
	fflush(stdout);
	srand(seed);
	tfs_make(&T, 128 << 20);
	struct mfile f[NF];
	uint8_t *buf = malloc(FMAX), *tmp = malloc(FMAX);
	for (int i = 0; i < NF; i++) {
		struct sfs_inode *ip = tfs_new(&T, S_IFREG | 0644);
		f[i] = (struct mfile){ip->ino, calloc(1, FMAX), calloc(1, FMAX), 0, 0, true};
		ck_assert_int_eq(inode_fsync(T.fs, ip), 0);
		inode_put(T.fs, ip);
	}
	for (int round = 0; round < 4; round++) {
		struct sfs_inode *ips[NF];
		for (int i = 0; i < NF; i++)
			ck_assert_int_eq(inode_get(T.fs, f[i].ino, &ips[i]), 0);
		/* An unlinked file still open at the crash. */
		struct sfs_inode *gone = tfs_new(&T, S_IFREG | 0644);
		size_t done;
		memset(buf, 9, 300000);
		ck_assert_int_eq(file_write(T.fs, gone, buf, 300000, 0, &done), 0);
		tfs_set_nlink(&T, gone, 0);
		for (int op = 0; op < 150; op++) {
			int k = rand() % NF;
			struct mfile *mf = &f[k];
			struct sfs_inode *ip = ips[k];
			uint64_t off = (uint64_t)rand() % FMAX, len = 1 + (uint64_t)rand() % 70000;
			if (len > FMAX - off)
				len = FMAX - off;
			int c = rand() % 10;
			if (c < 5) {
				for (uint64_t i = 0; i < len; i++)
					buf[i] = (uint8_t)(rand() | 1);
				ck_assert_int_eq(file_write(T.fs, ip, buf, len, off, &done), 0);
				ck_assert_uint_eq(done, len);
				memcpy(mf->m + off, buf, len);
				if (off + len > mf->msize)
					mf->msize = off + len;
			} else if (c < 6) {
				ck_assert_int_eq(file_truncate(T.fs, ip, off), 0);
				if (off < mf->msize)
					memset(mf->m + off, 0, mf->msize - off);
				mf->msize = off;
			} else if (c < 7) {
				ck_assert_int_eq(
				    file_fallocate(T.fs, ip,
						   FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, off,
						   len),
				    0);
				memset(mf->m + off, 0, len);
			} else {
				ck_assert_int_eq(inode_fsync(T.fs, ip), 0);
				memcpy(mf->d, mf->m, FMAX);
				mf->dsize = mf->msize;
				mf->synced = true;
				continue;
			}
			mf->synced = false;
		}
		tfs_crash(&T); /* frees the in-core inodes; the disk stops here */
		tfs_mount(&T);
		for (int i = 0; i < NF; i++) {
			struct mfile *mf = &f[i];
			struct sfs_inode *ip;
			ck_assert_int_eq(inode_get(T.fs, mf->ino, &ip), 0);
			if (mf->synced) {
				ck_assert_uint_eq(ip->size, mf->dsize);
				ck_assert_int_eq(file_read(T.fs, ip, tmp, FMAX, 0, &done), 0);
				ck_assert_uint_eq(done, mf->dsize);
				if (memcmp(tmp, mf->d, done))
					ck_abort_msg("round %d file %d: fsynced data differs",
						     round, i);
			}
			/* Continue from what the disk holds. */
			ck_assert_int_eq(file_read(T.fs, ip, tmp, FMAX, 0, &done), 0);
			memset(mf->m, 0, FMAX);
			memcpy(mf->m, tmp, done);
			mf->msize = ip->size;
			memcpy(mf->d, mf->m, FMAX);
			mf->dsize = mf->msize;
			mf->synced = true;
			inode_put(T.fs, ip);
		}
		tfs_umount(&T);
		check_fsck();
		tfs_mount(&T);
	}
	for (int i = 0; i < NF; i++) {
		free(f[i].m);
		free(f[i].d);
	}
	free(buf);
	free(tmp);
	tfs_destroy(&T);
}
END_TEST

int main(void)
{
	log_setup("test_inode_crash", 0, getenv("VERBOSE") ? LOG_DEBUG : LOG_ERROR);
	Suite *s = suite_create("inode_crash");
	TCase *tc = tcase_create("crash");
	tcase_add_test(tc, crash_rounds);
	tcase_set_timeout(tc, 150);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}

/* Crash test of the engine with the inode part on top (DESIGN §3, issue 2
 * point 5): files are written block by block and fsync'ed now and then
 * while blockdev fault injection kills the device at a random point (EIO
 * after N writes, or a torn write). After every crash the filesystem mounts
 * (replay), fsck finds no error, and every fsync'ed block reads back with
 * the version it had at the fsync or a later one, never garbage. 12 lives.
 * Randomized: prints its seed (SANFS_TEST_SEED overrides). */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "blockdev/bdev.h"
#include "common/endian_le.h"
#include "common/log.h"
#include <dirent.h>

#include "fs/dir.h"
#include "fs/file.h"
#include "fs/fsck.h"
#include "fs/inode.h"
#include "fs/jnl.h"
#include "fs/mkfs.h"
#include "fs/sfs.h"
#include "locks/lcl.h"
#include "test_img.h"

#define NFILES 6
#define NBLKS  48

static char img[TIMG_PATH_MAX];

struct model {
	uint64_t ino[NFILES];
	uint32_t latest[NFILES][NBLKS]; /* newest version written (maybe lost) */
	uint32_t acked[NFILES][NBLKS];	/* version durable by an fsync */
	uint32_t next_version;
};

static void fill(uint8_t *b, unsigned f, unsigned blk, uint32_t v)
{
	for (unsigned i = 0; i < 4096; i += 16) {
		le32_put(b + i, 0x5AFE0000u | f);
		le32_put(b + i + 4, blk);
		le32_put(b + i + 8, v);
		le32_put(b + i + 12, ~v);
	}
}

/* The version in a 512-byte sector read back; UINT32_MAX for garbage, 0 for
 * zeros. An overwrite torn by the crash leaves sectors of two versions (data
 * is not journaled, as in ext4's ordered mode), so sectors are judged alone. */
static uint32_t version_of(const uint8_t *b, unsigned f, unsigned blk)
{
	uint32_t v = le32_get(b + 8);
	bool zero = true;
	for (unsigned i = 0; i < 512 && zero; i++)
		zero = b[i] == 0;
	if (zero)
		return 0;
	for (unsigned i = 0; i < 512; i += 16)
		if (le32_get(b + i) != (0x5AFE0000u | f) || le32_get(b + i + 4) != blk ||
		    le32_get(b + i + 8) != v || le32_get(b + i + 12) != ~v)
			return UINT32_MAX;
	return v;
}

static struct sfs *mount_img(struct lcl **lcl)
{
	ck_assert_int_eq(lcl_create_local(lcl), 0);
	struct sfs_ops ops = {0};
	inode_sfs_ops(&ops);
	struct sfs_mount_opts mo = {.local = true, .hb_wait_ms = 1, .commit_ms = 30, .ops = &ops};
	struct sfs *fs;
	int rc = sfs_open(img, &mo, *lcl, &fs);
	ck_assert_msg(rc == 0, "mount after crash: %s", sfs_last_error());
	return fs;
}

static void fsck_msg(void *arg, enum fsck_kind kind, const char *text)
{
	(void)arg;
	if (kind == FSCK_ERROR)
		fprintf(stderr, "fsck error: %s\n", text);
}

static void check_clean(void)
{
	struct fsck_opts fo = {.msg = fsck_msg};
	struct fsck_result r;
	fsck_run(img, &fo, &r);
	ck_assert_msg(r.exit_code == FSCK_EXIT_CLEAN, "fsck after recovery: exit %d, %u errors",
		      r.exit_code, r.errors);
}

static void check_data(struct model *m)
{
	struct lcl *lcl;
	struct sfs *fs = mount_img(&lcl);
	static uint8_t b[4096];
	for (unsigned f = 0; f < NFILES; f++) {
		struct sfs_inode *ip;
		ck_assert_int_eq(inode_get(fs, m->ino[f], &ip), 0);
		for (unsigned k = 0; k < NBLKS; k++) {
			size_t done = 0;
			memset(b, 0xee, sizeof(b));
			ck_assert_int_eq(file_read(fs, ip, b, 4096, (uint64_t)k * 4096, &done), 0);
			if (done < 4096)
				memset(b + done, 0, 4096 - done);
			uint32_t v = 0, vmax = 0;
			for (unsigned sec = 0; sec < 8; sec++) {
				uint32_t sv = version_of(b + sec * 512, f, k);
				ck_assert_msg(sv != UINT32_MAX,
					      "file %u block %u sector %u: garbage", f, k, sec);
				ck_assert_msg(
				    sv >= m->acked[f][k] && sv <= m->latest[f][k],
				    "file %u block %u: version %u, fsync'ed %u, newest %u", f, k,
				    sv, m->acked[f][k], m->latest[f][k]);
				if (sv < v || sec == 0)
					v = sv;
				if (sv > vmax)
					vmax = sv;
			}
			/* What survived is the new truth (a torn block keeps both versions). */
			m->acked[f][k] = v;
			m->latest[f][k] = vmax;
		}
		inode_put(fs, ip);
	}
	ck_assert_int_eq(sfs_close(fs), 0);
	lcl_destroy(lcl);
}

static uint64_t hits;

static void life(struct model *m, unsigned *seed)
{
	struct lcl *lcl;
	struct sfs *fs = mount_img(&lcl);
	struct bdev_fault flt = {0};
	if (rand_r(seed) % 2) {
		flt.kind = BDEV_FAULT_EIO_AFTER;
		flt.n = 20 + rand_r(seed) % 300;
	} else {
		flt.kind = BDEV_FAULT_TORN;
		flt.n = rand_r(seed) % 8;
	}
	ck_assert_int_eq(bdev_fault_add(fs->dev, &flt), 0);
	static uint8_t b[4 * 4096];
	uint32_t pending[NFILES][NBLKS];
	memcpy(pending, m->acked, sizeof(pending));
	for (int op = 0; op < 400; op++) {
		unsigned f = rand_r(seed) % NFILES;
		struct sfs_inode *ip;
		if (inode_get(fs, m->ino[f], &ip))
			break;
		struct lcl_handle *h;
		ck_assert_int_eq(lcl_lock(lcl, inode_res(m->ino[f]), LCL_EX, &h), 0);
		int rc;
		if (rand_r(seed) % 5 == 0) {
			rc = inode_fsync(fs, ip);
			if (!rc)
				memcpy(m->acked[f], pending[f], sizeof(pending[f]));
		} else {
			unsigned k = rand_r(seed) % NBLKS, n = 1 + rand_r(seed) % 4;
			if (k + n > NBLKS)
				n = NBLKS - k;
			uint32_t v = ++m->next_version;
			for (unsigned i = 0; i < n; i++) {
				fill(b + i * 4096, f, k + i, v);
				m->latest[f][k + i] = v;
			}
			size_t done = 0;
			rc = file_write(fs, ip, b, n * 4096, (uint64_t)k * 4096, &done);
			if (!rc)
				for (unsigned i = 0; i < n; i++)
					pending[f][k + i] = v;
		}
		lcl_unlock(h);
		inode_put(fs, ip);
		if (rc)
			break;
	}
	hits += bdev_fault_hits(fs->dev);
	sfs_crash(fs);
	lcl_destroy(lcl);
}

START_TEST(crash_lives)
{
	unsigned seed = (unsigned)time(NULL);
	if (getenv("SANFS_TEST_SEED"))
		seed = (unsigned)strtoul(getenv("SANFS_TEST_SEED"), NULL, 0);
	printf("test_crash_engine seed %u\n", seed);
	fflush(stdout);
	static struct model m;
	memset(&m, 0, sizeof(m));
	struct lcl *lcl;
	struct sfs *fs = mount_img(&lcl);
	struct sfs_inode *root;
	ck_assert_int_eq(inode_get(fs, sfs_root_ino(fs), &root), 0);
	for (unsigned f = 0; f < NFILES; f++) {
		struct txn *t;
		ck_assert_int_eq(txn_begin(fs, 16 + dir_max_blocks_per_op(), &t), 0);
		struct sfs_inode *ip;
		ck_assert_int_eq(inode_create(fs, t, root, S_IFREG | 0644, 0, 0, 0, &ip), 0);
		m.ino[f] = ip->ino;
		char name[16];
		snprintf(name, sizeof(name), "f%u", f);
		ck_assert_int_eq(dir_add(fs, t, root, name, strlen(name), ip->ino, DT_REG), 0);
		ck_assert_int_eq(inode_write(fs, t, root), 0);
		ck_assert_int_eq(txn_end(t, NULL), 0);
		inode_put(fs, ip);
	}
	inode_put(fs, root);
	ck_assert_int_eq(sfs_close(fs), 0);
	lcl_destroy(lcl);
	for (int round = 0; round < 12; round++) {
		life(&m, &seed);
		check_data(&m);
		check_clean();
	}
	printf("test_crash_engine: %llu faulted I/Os\n", (unsigned long long)hits);
	ck_assert_uint_ge(hits, 6); /* the device did die in most lives */
}
END_TEST

/* A read-only mount cannot replay: after a crash it must refuse, with the
 * reason, until a read-write mount has replayed; then it works. */
START_TEST(readonly_after_crash)
{
	struct lcl *lcl;
	struct sfs *fs = mount_img(&lcl);
	struct sfs_inode *root;
	ck_assert_int_eq(inode_get(fs, sfs_root_ino(fs), &root), 0);
	struct txn *t;
	ck_assert_int_eq(txn_begin(fs, 16 + dir_max_blocks_per_op(), &t), 0);
	struct sfs_inode *ip;
	ck_assert_int_eq(inode_create(fs, t, root, S_IFREG | 0644, 0, 0, 0, &ip), 0);
	ck_assert_int_eq(dir_add(fs, t, root, "ro", 2, ip->ino, DT_REG), 0);
	ck_assert_int_eq(inode_write(fs, t, root), 0);
	uint64_t tid;
	ck_assert_int_eq(txn_end(t, &tid), 0);
	ck_assert_int_eq(jnl_wait(fs, tid), 0);
	inode_put(fs, ip);
	inode_put(fs, root);
	sfs_crash(fs);
	lcl_destroy(lcl);

	struct sfs_ops ops = {0};
	inode_sfs_ops(&ops);
	struct sfs_mount_opts ro = {.local = true, .readonly = true, .hb_wait_ms = 1, .ops = &ops};
	ck_assert_int_eq(lcl_create_local(&lcl), 0);
	ck_assert_int_eq(sfs_open(img, &ro, lcl, &fs), -EUCLEAN);
	ck_assert_msg(strstr(sfs_last_error(), "mount read-write once"), "%s", sfs_last_error());
	lcl_destroy(lcl);

	fs = mount_img(&lcl); /* replays */
	ck_assert_int_eq(sfs_close(fs), 0);
	lcl_destroy(lcl);
	ck_assert_int_eq(lcl_create_local(&lcl), 0);
	ck_assert_msg(sfs_open(img, &ro, lcl, &fs) == 0, "%s", sfs_last_error());
	uint64_t ino;
	ck_assert_int_eq(inode_get(fs, sfs_root_ino(fs), &root), 0);
	ck_assert_int_eq(dir_lookup(fs, root, "ro", 2, &ino, NULL), 0);
	inode_put(fs, root);
	ck_assert_int_eq(sfs_close(fs), 0);
	lcl_destroy(lcl);
}
END_TEST

static void setup(void)
{
	struct mkfs_opts o = {.slots = 2, .journal_bytes = 1 << 20, .root_init = mkfs_root_default};
	timg_mkfs(img, "crash", 64 << 20, &o, NULL);
}

static void teardown(void)
{
	unlink(img);
}

int main(void)
{
	log_setup("test_crash_engine", 0, LOG_ERROR);
	log_set_level((enum log_level) - 1);
	Suite *s = suite_create("crash_engine");
	TCase *tc = tcase_create("crash");
	tcase_set_timeout(tc, 110);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, crash_lives);
	tcase_add_test(tc, readonly_after_crash);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}

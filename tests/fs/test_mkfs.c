/* Unit tests of fs/mkfs and sfs_open/sfs_close on image files under /var/tmp:
 * a new filesystem opens and reports its space; every refusal of DESIGN §3 /
 * issue 2 (not sanfs, bad checksum, unknown incompatible feature, newer
 * version, device too small, live mount elsewhere) gives its one-line reason. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/wait.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "blockdev/bdev.h"
#include "common/endian_le.h"
#include "common/log.h"
#include "fs/alloc.h"
#include "fs/format.h"
#include "fs/mkfs.h"
#include "fs/sfs.h"
#include "locks/lcl.h"
#include "test_img.h"

static char img[TIMG_PATH_MAX];

static void teardown(void)
{
	unlink(img);
}

static void poke(uint64_t off, const void *p, size_t n)
{
	int fd = open(img, O_WRONLY);
	ck_assert_int_eq(pwrite(fd, p, n, (off_t)off), (ssize_t)n);
	close(fd);
}

static void peek(uint64_t off, void *p, size_t n)
{
	int fd = open(img, O_RDONLY);
	ck_assert_int_eq(pread(fd, p, n, (off_t)off), (ssize_t)n);
	close(fd);
}

static void do_mkfs(unsigned slots, struct sfs_super *sb)
{
	struct mkfs_opts o = {.slots = slots, .label = "t"};
	const char *why;
	int rc = mkfs_format(img, &o, sb, &why);
	ck_assert_msg(rc == 0, "mkfs: %s", why ? why : "?");
}

static int try_open(struct sfs **fs, struct lcl *lcl)
{
	struct sfs_mount_opts mo = {.local = true, .hb_wait_ms = 1200, .commit_ms = 100};
	return sfs_open(img, &mo, lcl, fs);
}

START_TEST(mkfs_open_close)
{
	timg_create(img, "mkfs", 128ull << 20);
	struct sfs_super sb;
	do_mkfs(16, &sb);
	struct lcl *lcl;
	ck_assert_int_eq(lcl_create_local(&lcl), 0);
	struct sfs *fs;
	ck_assert_msg(try_open(&fs, lcl) == 0, "%s", sfs_last_error());
	ck_assert_uint_eq(fs->sb.slot_count, 16);
	ck_assert_str_eq(fs->sb.label, "t");
	ck_assert_uint_eq(sfs_root_ino(fs), sb.root_ino);
	struct statvfs st;
	ck_assert_int_eq(sfs_statfs(fs, &st), 0);
	ck_assert_uint_eq(st.f_blocks, sb.blocks);
	uint64_t meta = sb.ag_start + (uint64_t)sb.ag_count * sfs_ag_meta_blocks(&sb) + 1;
	/* The allocator's reserve (fs/alloc.h) is not free space for users. */
	uint64_t per = (sb.blocks / 64 < 4096 ? sb.blocks / 64 : 4096) / sb.ag_count;
	uint64_t floor = sfs_ag_size(&sb, 0) / 64 < 16 ? sfs_ag_size(&sb, 0) / 64 : 16;
	uint64_t reserve = (per > floor ? per : floor) * sb.ag_count;
	ck_assert_uint_eq(alloc_reserve_blocks(fs), reserve);
	ck_assert_uint_eq(st.f_bfree, sb.blocks - meta - reserve);
	ck_assert_int_eq(alloc_is_inode(fs, sb.root_ino), 1);
	/* Mounted: the superblock is not clean. */
	static uint8_t blk[4096];
	peek(4096, blk, 4096);
	ck_assert_uint_eq(le32_get(blk + SFS_SB_OFF_STATE) & SFS_SB_CLEAN, 0);
	ck_assert_int_eq(sfs_close(fs), 0);
	peek(4096, blk, 4096);
	ck_assert_uint_eq(le32_get(blk + SFS_SB_OFF_STATE) & SFS_SB_CLEAN, SFS_SB_CLEAN);
	/* Heartbeat says CLEAN after close. */
	peek(sfs_slot_base(&sb, 0) * 4096, blk, 4096);
	struct bdev_hb hb;
	ck_assert_int_eq(bdev_hb_decode(blk, 4096, sfs_slot_base(&sb, 0) * 4096, &hb), 0);
	ck_assert_uint_eq(hb.state, BDEV_HB_CLEAN);
	/* The device label names the filesystem. */
	peek(0, blk, 4096);
	struct bdev_label l;
	ck_assert_int_eq(bdev_label_decode(blk, 4096, &l), 0);
	ck_assert_str_eq(l.label, "t");
	ck_assert_mem_eq(l.uuid, sb.uuid, 16);
	/* And it opens again. */
	ck_assert_int_eq(try_open(&fs, lcl), 0);
	ck_assert_int_eq(sfs_close(fs), 0);
	lcl_destroy(lcl);
}
END_TEST

static void expect_refusal(const char *needle)
{
	struct sfs *fs = NULL;
	int rc = try_open(&fs, NULL);
	ck_assert_int_lt(rc, 0);
	ck_assert_msg(strstr(sfs_last_error(), needle), "reason '%s' lacks '%s'", sfs_last_error(),
		      needle);
	ck_assert_ptr_null(strchr(sfs_last_error(), '\n'));
}

START_TEST(refusals)
{
	timg_create(img, "mkfs", 64ull << 20);
	/* Not sanfs at all. */
	expect_refusal("not a sanfs");
	struct sfs_super sb;
	do_mkfs(4, &sb);
	static uint8_t good[4096], blk[4096];
	peek(4096, good, 4096);
	/* Bad checksum. */
	memcpy(blk, good, 4096);
	blk[3000] ^= 0xff;
	poke(4096, blk, 4096);
	expect_refusal("checksum");
	/* Unknown incompatible feature, newer version (correctly sealed). */
	struct sfs_super x = sb;
	x.incompat = 1ull << 33;
	sfs_super_encode(&x, 1, blk);
	poke(4096, blk, 4096);
	expect_refusal("incompatible feature");
	x = sb;
	x.version = SFS_VERSION + 1;
	sfs_super_encode(&x, 1, blk);
	poke(4096, blk, 4096);
	expect_refusal("newer");
	/* Device smaller than the superblock says. */
	poke(4096, good, 4096);
	ck_assert_int_eq(truncate(img, (off_t)((sb.blocks - 1) * 4096)), 0);
	expect_refusal("smaller");
	ck_assert_int_eq(truncate(img, (off_t)(64ull << 20)), 0);
	struct sfs *fs;
	ck_assert_msg(try_open(&fs, NULL) == 0, "%s", sfs_last_error());
	ck_assert_int_eq(sfs_close(fs), 0);
}
END_TEST

START_TEST(live_mount_refused_crashed_taken_over)
{
	timg_create(img, "mkfs", 64ull << 20);
	struct sfs_super sb;
	do_mkfs(2, &sb);
	struct sfs *a, *b;
	ck_assert_int_eq(try_open(&a, NULL), 0);
	/* A second mount of the same slot sees the heartbeat advance. */
	int rc = try_open(&b, NULL);
	ck_assert_int_eq(rc, -EBUSY);
	ck_assert_ptr_nonnull(strstr(sfs_last_error(), "device is mounted on"));
	char pid[32];
	snprintf(pid, sizeof(pid), "pid %d", getpid());
	ck_assert_ptr_nonnull(strstr(sfs_last_error(), pid));
	/* A crashed mount leaves LIVE without progress: taken over. */
	sfs_crash(a);
	ck_assert_msg(try_open(&b, NULL) == 0, "%s", sfs_last_error());
	ck_assert_int_eq(sfs_close(b), 0);
}
END_TEST

/* A new 2-slot filesystem, mounted; *hb_off: slot 0's heartbeat block. */
static struct sfs *fresh_mount(uint64_t *hb_off)
{
	timg_create(img, "mkfs", 64ull << 20);
	struct sfs_super sb;
	do_mkfs(2, &sb);
	struct sfs *fs;
	ck_assert_msg(try_open(&fs, NULL) == 0, "%s", sfs_last_error());
	*hb_off = (sfs_slot_base(&sb, 0) + SFS_SLOT_HB) * SFS_BLOCK_SIZE;
	return fs;
}

/* Another host takes the slot over while this mount still runs (it was
 * stalled, say): the mount notices at its next renewal, closes its I/O gate
 * and never writes over the new claim, not even when it unmounts. */
START_TEST(taken_over_mount_fences_itself)
{
	uint64_t off;
	struct sfs *a = fresh_mount(&off);
	struct bdev *other;
	ck_assert_int_eq(bdev_open(img, 0, &other), 0);
	struct bdev_hb hb;
	ck_assert_int_eq(bdev_hb_read(other, off, &hb, 0), 0);
	ck_assert_int_eq(hb.pid, getpid());
	hb.incarnation++;
	hb.sequence = 1;
	hb.pid = 999999;
	strcpy(hb.hostname, "other-host");
	ck_assert_int_eq(bdev_hb_write(other, off, &hb, BDEV_HB_FLUSH), 0);
	for (int i = 0; i < 40 && bdev_gate_is_open(a->dev); i++)
		usleep(50000);
	ck_assert_msg(!bdev_gate_is_open(a->dev), "the mount did not notice the takeover");
	ck_assert_int_ne(sfs_close(a), 0);
	struct bdev_hb now;
	ck_assert_int_eq(bdev_hb_read(other, off, &now, 0), 0);
	ck_assert_int_eq(now.pid, 999999);
	ck_assert_uint_eq(now.sequence, 1);
	ck_assert_str_eq(now.hostname, "other-host");
	bdev_close(other);
}
END_TEST

/* Two mounts claim a clean slot at the same moment (two hosts): both read it
 * free and write their claims, but only one survives its read-back; the
 * other gives up before touching the journal. */
struct claim_job {
	struct sfs *fs;
	int rc;
	char err[256];
};

static void *claim_main(void *arg)
{
	struct claim_job *j = arg;
	struct sfs_mount_opts mo = {.local = true, .commit_ms = 100}; /* a real mount's claim */
	j->rc = sfs_open(img, &mo, NULL, &j->fs);
	snprintf(j->err, sizeof(j->err), "%s", sfs_last_error());
	return NULL;
}

START_TEST(simultaneous_claims_one_wins)
{
	timg_create(img, "mkfs", 64ull << 20);
	struct sfs_super sb;
	do_mkfs(2, &sb);
	struct claim_job j[2] = {{0}, {0}};
	pthread_t t[2];
	for (int i = 0; i < 2; i++)
		ck_assert_int_eq(pthread_create(&t[i], NULL, claim_main, &j[i]), 0);
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	int won = (j[0].rc == 0) + (j[1].rc == 0);
	ck_assert_msg(won == 1, "%d mounts of one slot succeeded (%d: %s / %d: %s)", won, j[0].rc,
		      j[0].err, j[1].rc, j[1].err);
	struct claim_job *lost = j[0].rc ? &j[0] : &j[1];
	ck_assert_int_eq(lost->rc, -EBUSY);
	ck_assert_ptr_nonnull(strstr(lost->err, "device is mounted on"));
	ck_assert_int_eq(sfs_close(j[0].rc ? j[1].fs : j[0].fs), 0);
}
END_TEST

/* A heartbeat write that completes too late (a stalled path) may have landed
 * over another mount's confirmed claim: the mount fences itself. */
START_TEST(late_heartbeat_write_fences)
{
	uint64_t off;
	struct sfs *a = fresh_mount(&off);
	struct bdev_fault slow = {.kind = BDEV_FAULT_DELAY, .ops = BDEV_FAULT_WRITE, .us = 1800000};
	ck_assert_int_eq(bdev_fault_add(a->dev, &slow), 0);
	for (int i = 0; i < 100 && bdev_gate_is_open(a->dev); i++)
		usleep(50000);
	ck_assert_msg(!bdev_gate_is_open(a->dev), "a late heartbeat write did not fence");
	bdev_fault_clear(a->dev);
	ck_assert_int_ne(sfs_close(a), 0);
	/* Its last heartbeat is LIVE: the next mount takes the slot over. */
	struct bdev *other;
	ck_assert_int_eq(bdev_open(img, 0, &other), 0);
	struct bdev_hb hb;
	ck_assert_int_eq(bdev_hb_read(other, off, &hb, 0), 0);
	ck_assert_int_eq(hb.state, BDEV_HB_LIVE);
	bdev_close(other);
	ck_assert_msg(try_open(&a, NULL) == 0, "%s", sfs_last_error());
	ck_assert_int_eq(sfs_close(a), 0);
}
END_TEST

struct hook_ctx {
	unsigned calls;
	uint64_t root;
};

static void prog(void *arg, uint64_t done, uint64_t total)
{
	struct hook_ctx *c = arg;
	ck_assert_uint_le(done, total);
	c->calls++;
}

static int root_hook(struct sfs *fs, uint64_t ino, void *arg)
{
	struct hook_ctx *c = arg;
	c->root = ino;
	return alloc_is_inode(fs, ino) == 1 ? 0 : -EIO;
}

START_TEST(progress_and_root_hook)
{
	timg_create(img, "mkfs", 256ull << 20);
	struct hook_ctx c = {0, 0};
	struct mkfs_opts o = {.slots = 4,
			      .ag_blocks = 4096,
			      .progress = prog,
			      .progress_arg = &c,
			      .root_init = root_hook,
			      .root_arg = &c};
	struct sfs_super sb;
	const char *why;
	ck_assert_int_eq(mkfs_format(img, &o, &sb, &why), 0);
	ck_assert_uint_eq(c.calls, sb.ag_count);
	ck_assert_uint_gt(sb.ag_count, 10);
	ck_assert_uint_eq(c.root, sb.root_ino);
}
END_TEST

/* sanctl mkfs / fsck as users run them (SANCTL names the built binary). */
static int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int sh(const char *fmt, ...)
{
	char cmd[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	int st = system(cmd);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

START_TEST(cli_mkfs_fsck)
{
	const char *s = getenv("SANCTL");
	if (!s) {
		printf("SANCTL not set: cli checks skipped\n");
		return;
	}
	timg_create(img, "mkfs", 128ull << 20);
	const char *q = ">/dev/null 2>&1";
	/* Usage errors: 2; bad values: 1 with one line. */
	ck_assert_int_eq(sh("%s mkfs %s", s, q), 2);
	ck_assert_int_eq(sh("%s mkfs %s %s extra %s", s, img, img, q), 2);
	ck_assert_int_eq(sh("%s mkfs %s --bogus %s", s, img, q), 2);
	ck_assert_int_eq(sh("%s mkfs %s --slots 0 %s", s, img, q), 1);
	ck_assert_int_eq(sh("%s mkfs %s --slots 257 %s", s, img, q), 1);
	ck_assert_int_eq(sh("%s mkfs %s --slots 3x %s", s, img, q), 1);
	ck_assert_int_eq(sh("%s mkfs %s --journal-size 12 %s", s, img, q), 1);
	ck_assert_int_eq(sh("%s mkfs %s --journal-size 2G %s", s, img, q), 1);
	ck_assert_int_eq(sh("%s mkfs %s --label $(printf 'x%%.0s' $(seq 70)) %s", s, img, q), 1);
	ck_assert_int_eq(sh("%s mkfs /nonexistent/dev %s", s, q), 1);
	ck_assert_int_eq(sh("%s mkfs --help %s", s, q), 0);
	ck_assert_int_eq(sh("%s mkfs %s 2>&1 | wc -l | grep -qx 1", s, "/nonexistent/x"),
			 0); /* one line */
	/* A good one, then the device is in use. */
	ck_assert_int_eq(sh("%s mkfs %s --label cli --slots 8 --journal-size 2M %s", s, img, q), 0);
	ck_assert_int_eq(sh("%s mkfs %s %s", s, img, q), 1);
	ck_assert_int_eq(sh("%s mkfs %s 2>&1 >/dev/null | grep -q -- --force", s, img), 0);
	ck_assert_int_eq(sh("%s fsck %s %s", s, img, q), 0);
	ck_assert_int_eq(
	    sh("%s fsck --json %s | python3 -c 'import json,sys; d=json.load(sys.stdin); "
	       "sys.exit(0 if d[\"exit_code\"]==0 and d[\"inodes\"]==1 else 1)'",
	       s, img),
	    0);
	/* Damage an AG count: fsck finds it (4), --repair fixes it (1), then clean (0). */
	struct sfs_super sb;
	static uint8_t blk[4096];
	peek(4096, blk, 4096);
	const char *why;
	ck_assert_int_eq(sfs_super_decode(blk, 1, &sb, &why), 0);
	ck_assert_uint_eq(sb.slot_count, 8);
	ck_assert_str_eq(sb.label, "cli");
	peek(sfs_ag_base(&sb, 2) * 4096, blk, 4096);
	le32_put(blk + 56, 1);
	sfs_blk_reseal(blk);
	poke(sfs_ag_base(&sb, 2) * 4096, blk, 4096);
	ck_assert_int_eq(sh("%s fsck %s %s", s, img, q), 4);
	ck_assert_int_eq(sh("%s fsck --repair %s | grep -q '^fixed: AG 2'", s, img), 0);
	ck_assert_int_eq(sh("%s fsck %s %s", s, img, q), 0);
	ck_assert_int_eq(sh("%s fsck %s", s, q), 8);
	/* Over an ext4 filesystem: refused without --force. */
	if (sh("mkfs.ext4 -q -F %s %s", img, q) == 0) {
		ck_assert_int_eq(sh("%s mkfs %s 2>&1 | grep -q ext4", s, img), 0);
		ck_assert_int_eq(sh("%s mkfs --force %s %s", s, img, q), 0);
	}
}
END_TEST

int main(void)
{
	log_setup("test_mkfs", 0, LOG_ERROR);
	log_set_level((enum log_level) - 1);
	Suite *s = suite_create("mkfs");
	TCase *tc = tcase_create("mkfs");
	tcase_set_timeout(tc, 60);
	tcase_add_checked_fixture(tc, NULL, teardown);
	tcase_add_test(tc, mkfs_open_close);
	tcase_add_test(tc, refusals);
	tcase_add_test(tc, live_mount_refused_crashed_taken_over);
	tcase_add_test(tc, taken_over_mount_fences_itself);
	tcase_add_test(tc, simultaneous_claims_one_wins);
	tcase_add_test(tc, late_heartbeat_write_fences);
	tcase_add_test(tc, progress_and_root_hook);
	tcase_add_test(tc, cli_mkfs_fsck);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}

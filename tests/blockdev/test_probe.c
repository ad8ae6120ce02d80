/* Unit tests of bdev_probe_foreign on real images made by the formatting
 * tools (mkfs.ext4, mkswap, mkfs.xfs, ...), plus a hand-made LVM2 label.
 * mkfs.ext4 and mkswap are required; a missing optional tool is reported
 * and its case skipped (scripts/deps.sh installs them for CI). */
#include <errno.h>
#include <sys/wait.h>

#include "blockdev/bdev.h"
#include "tb_util.h"

static bool have(const char *tool)
{
	char cmd[256];
	snprintf(cmd, sizeof(cmd), "command -v %s >/dev/null 2>&1", tool);
	return system(cmd) == 0;
}

static void run(const char *fmt, const char *img)
{
	char cmd[512];
	snprintf(cmd, sizeof(cmd), fmt, img, img);
	char full[600];
	snprintf(full, sizeof(full), "(%s) >/dev/null 2>&1", cmd);
	int st = system(full);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "command failed: %s", cmd);
}

/* Make an image of size bytes, run fmt (with %s = image path, twice at most)
 * and probe it; returns the probe result and the name in what. */
static int probe_made(const char *fmt, uint64_t size, char *what, size_t wlen)
{
	char img[64];
	tb_image(img, size);
	if (fmt)
		run(fmt, img);
	struct bdev *dev;
	ck_assert_int_eq(bdev_open(img, BDEV_RDONLY, &dev), 0);
	int rc = bdev_probe_foreign(dev, what, wlen);
	bdev_close(dev);
	unlink(img);
	return rc;
}

#define MiB (1024ull * 1024ull)

struct tool_case {
	const char *tool;
	const char *cmd;
	uint64_t size;
	const char *expect;
	bool required;
};

static const struct tool_case cases[] = {
    {"mkfs.ext4", "mkfs.ext4 -q -F %s", 64 * MiB, "ext4 filesystem", true},
    {"mke2fs", "mke2fs -q -F -t ext3 %s", 64 * MiB, "ext3 filesystem", true},
    {"mke2fs", "mke2fs -q -F -t ext2 %s", 64 * MiB, "ext2 filesystem", true},
    {"mkswap", "mkswap %s", 16 * MiB, "swap area", true},
    {"mkfs.xfs", "mkfs.xfs -q -f %s", 320 * MiB, "xfs filesystem", false},
    {"mkfs.btrfs", "mkfs.btrfs -q -f %s", 128 * MiB, "btrfs filesystem", false},
    {"mkfs.vfat", "mkfs.vfat %s", 64 * MiB, "vfat filesystem", false},
    {"mkfs.vfat", "mkfs.vfat -F 32 %s", 64 * MiB, "vfat filesystem", false},
    {"cryptsetup",
     "printf secretsecret > %s.key && cryptsetup luksFormat -q --type luks2 --pbkdf pbkdf2 "
     "--pbkdf-force-iterations 1000 --key-file %s.key IMG; rc=$?; rm -f IMG.key; exit $rc",
     32 * MiB, "LUKS encrypted volume", false},
    {"sfdisk", "echo ',,L' | sfdisk -q %s", 16 * MiB, "MBR partition table", false},
    {"sfdisk", "echo ',,L' | sfdisk -q --label gpt %s", 16 * MiB, "GPT partition table", false},
    {"genisoimage",
     "mkdir -p %s.d && genisoimage -quiet -o %s IMG.d; rc=$?; rm -rf IMG.d; exit $rc", 0,
     "iso9660 filesystem", false},
};

/* Expand IMG in a command too (for commands that need the path 3+ times). */
static void expand(const char *in, const char *img, char *out, size_t outlen)
{
	size_t o = 0;
	for (const char *p = in; *p && o + 1 < outlen;) {
		if (!strncmp(p, "IMG", 3)) {
			o += (size_t)snprintf(out + o, outlen - o, "%s", img);
			p += 3;
		} else if (!strncmp(p, "%s", 2)) {
			o += (size_t)snprintf(out + o, outlen - o, "%s", img);
			p += 2;
		} else {
			out[o++] = *p++;
		}
	}
	out[o < outlen ? o : outlen - 1] = 0;
}

START_TEST(probe_real_images)
{
	const struct tool_case *c = &cases[_i];
	if (!have(c->tool)) {
		ck_assert_msg(!c->required, "%s is required for this test", c->tool);
		printf("probe: %s not installed, case '%s' skipped\n", c->tool, c->expect);
		return;
	}
	char img[64], cmd[1024], full[1100], what[64];
	tb_image(img, c->size);
	expand(c->cmd, img, cmd, sizeof(cmd));
	snprintf(full, sizeof(full), "(%s) >/dev/null 2>&1", cmd);
	int st = system(full);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "command failed: %s", cmd);
	struct bdev *dev;
	ck_assert_int_eq(bdev_open(img, BDEV_RDONLY, &dev), 0);
	ck_assert_int_eq(bdev_probe_foreign(dev, what, sizeof(what)), 1);
	ck_assert_str_eq(what, c->expect);
	bdev_close(dev);
	/* After wipefs removed every signature nothing is recognised (this is
	 * what makes the check above mean something). */
	if (have("wipefs")) {
		snprintf(full, sizeof(full), "wipefs -q -a -f %s >/dev/null 2>&1", img);
		ck_assert_int_eq(system(full), 0);
		ck_assert_int_eq(bdev_open(img, BDEV_RDONLY, &dev), 0);
		int rc = bdev_probe_foreign(dev, what, sizeof(what));
		ck_assert_msg(rc == 0, "after wipefs of %s: still '%s'", c->expect, what);
		bdev_close(dev);
	}
	unlink(img);
}
END_TEST

START_TEST(probe_empty_and_small)
{
	char what[64] = "junk";
	ck_assert_int_eq(probe_made(NULL, 1 * MiB, what, sizeof(what)), 0);
	ck_assert_str_eq(what, "");
	ck_assert_int_eq(probe_made(NULL, 4096, what, sizeof(what)), 0);
	/* Random bytes are nothing. */
	uint8_t buf[70000];
	tb_fill(buf, sizeof(buf), 99);
	ck_assert_int_eq(bdev_probe_foreign_buf(buf, sizeof(buf), what, sizeof(what)), 0);
	ck_assert_int_eq(bdev_probe_foreign_buf(buf, 0, NULL, 0), 0);
}
END_TEST

START_TEST(probe_sanfs_and_lvm)
{
	char img[64], what[64];
	tb_image(img, 1 * MiB);
	struct bdev *dev;
	ck_assert_int_eq(bdev_open(img, 0, &dev), 0);
	struct bdev_label l;
	ck_assert_int_eq(bdev_label_init(&l, "mine", bdev_size(dev)), 0);
	ck_assert_int_eq(bdev_label_write(dev, &l), 0);
	ck_assert_int_eq(bdev_probe_foreign(dev, what, sizeof(what)), 1);
	ck_assert_str_eq(what, "sanfs device label");
	/* LVM2 PV label in sector 1 (where pvcreate puts it). */
	uint8_t *b = bdev_alloc(4096);
	memcpy(b + 512, "LABELONE", 8);
	memcpy(b + 512 + 24, "LVM2 001", 8);
	ck_assert_int_eq(bdev_write(dev, 0, b, 4096), 0);
	ck_assert_int_eq(bdev_probe_foreign(dev, what, sizeof(what)), 1);
	ck_assert_str_eq(what, "LVM2 physical volume");
	/* Read errors come through. */
	bdev_gate_close(dev, 0);
	ck_assert_int_eq(bdev_probe_foreign(dev, what, sizeof(what)), -EIO);
	bdev_free(b);
	bdev_close(dev);
	unlink(img);
}
END_TEST

START_TEST(probe_truncated_buffers)
{
	/* A real ext4 image cut at every length: never reads past len. */
	char img[64];
	tb_image(img, 64 * MiB);
	run("mkfs.ext4 -q -F %s", img);
	uint8_t *full = malloc(70000);
	tb_peek(img, 0, full, 70000);
	char what[64];
	for (size_t len = 0; len <= 70000; len += (len < 1200 ? 1 : 977)) {
		uint8_t *cut = malloc(len ? len : 1);
		memcpy(cut, full, len);
		int rc = bdev_probe_foreign_buf(cut, len, what, sizeof(what));
		ck_assert_int_eq(rc, len >= 1024 + 0x68 ? 1 : 0);
		free(cut);
	}
	free(full);
	unlink(img);
}
END_TEST

Suite *probe_suite(void)
{
	Suite *s = suite_create("probe");
	TCase *tc = tcase_create("probe");
	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, probe_real_images, 0, (int)(sizeof(cases) / sizeof(cases[0])));
	tcase_add_test(tc, probe_empty_and_small);
	tcase_add_test(tc, probe_sanfs_and_lvm);
	tcase_add_test(tc, probe_truncated_buffers);
	suite_add_tcase(s, tc);
	return s;
}

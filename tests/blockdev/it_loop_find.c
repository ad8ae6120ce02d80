/* Integration test (suite 'integration'): a real loop device over an image
 * in /var/tmp; write a label through O_DIRECT, find it with bdev_find by
 * scanning /dev, by label and by UUID; heartbeat and probe on the block
 * device. The loop device is detached in every case (atexit and on
 * SIGINT/SIGTERM). Exits 77 when not root or without loop devices. */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "blockdev/bdev.h"

static char img[64];
static char loopdev[64];

static void cleanup(void)
{
	if (loopdev[0]) {
		char cmd[128];
		snprintf(cmd, sizeof(cmd), "losetup -d %s", loopdev);
		if (system(cmd) != 0)
			fprintf(stderr, "it_loop_find: could not detach %s\n", loopdev);
		loopdev[0] = 0;
	}
	if (img[0]) {
		unlink(img);
		img[0] = 0;
	}
}

static void on_signal(int sig)
{
	cleanup();
	signal(sig, SIG_DFL);
	raise(sig);
}

static void fail(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "FAIL: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
	exit(1); /* atexit detaches */
}

#define CHECK(cond, ...)                                                                           \
	do {                                                                                       \
		if (!(cond))                                                                       \
			fail(__VA_ARGS__);                                                         \
	} while (0)

static int attach(const char *image, char *out, size_t outlen)
{
	char cmd[256];
	snprintf(cmd, sizeof(cmd), "losetup -f --show %s", image);
	FILE *p = popen(cmd, "r");
	if (!p)
		return -1;
	if (!fgets(out, (int)outlen, p))
		out[0] = 0;
	int st = pclose(p);
	out[strcspn(out, "\n")] = 0;
	return (st == 0 && out[0]) ? 0 : -1;
}

int main(void)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	if (geteuid() != 0) {
		printf("SKIP: needs root for losetup\n");
		return 77;
	}
	if (access("/dev/loop-control", F_OK) != 0 ||
	    system("command -v losetup >/dev/null") != 0) {
		printf("SKIP: no loop devices (/dev/loop-control or losetup missing)\n");
		return 77;
	}
	atexit(cleanup);
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);

	snprintf(img, sizeof(img), "/var/tmp/sanfs-it-XXXXXX");
	int fd = mkstemp(img);
	CHECK(fd >= 0, "mkstemp: %s", strerror(errno));
	CHECK(ftruncate(fd, 64 << 20) == 0, "ftruncate");
	close(fd);
	if (attach(img, loopdev, sizeof(loopdev)) != 0) {
		loopdev[0] = 0;
		printf("SKIP: losetup -f could not attach a loop device\n");
		return 77;
	}
	printf("attached %s over %s\n", loopdev, img);

	struct bdev *dev;
	CHECK(bdev_open(loopdev, 0, &dev) == 0, "open %s", loopdev);
	CHECK(bdev_size(dev) == 64 << 20, "size %llu", (unsigned long long)bdev_size(dev));
	CHECK(bdev_align(dev) >= 512, "align %u", bdev_align(dev));
	char what[64];
	CHECK(bdev_probe_foreign(dev, what, sizeof(what)) == 0, "fresh device holds '%s'", what);

	/* A label nobody else has: random name and UUID. */
	struct bdev_label l;
	uint8_t r[16];
	bdev_uuid_generate(r);
	char name[32];
	snprintf(name, sizeof(name), "it-%02x%02x%02x%02x", r[0], r[1], r[2], r[3]);
	CHECK(bdev_label_init(&l, name, bdev_size(dev)) == 0, "label init");
	CHECK(bdev_label_write(dev, &l) == 0, "label write");
	CHECK(bdev_probe_foreign(dev, what, sizeof(what)) == 1 &&
		  !strcmp(what, "sanfs device label"),
	      "probe after label: '%s'", what);

	char found[256];
	int rc = bdev_find(name, NULL, found, sizeof(found));
	CHECK(rc == 0, "bdev_find(%s) by scanning /dev: %d", name, rc);
	CHECK(!strcmp(found, loopdev), "found %s, expected %s", found, loopdev);
	char us[BDEV_UUID_STR];
	bdev_uuid_format(l.uuid, us);
	rc = bdev_find(us, NULL, found, sizeof(found));
	CHECK(rc == 0 && !strcmp(found, loopdev), "bdev_find(uuid %s): %d %s", us, rc, found);
	printf("found %s by label %s and by UUID %s\n", found, name, us);

	/* The image file and the loop device over it are two paths that both
	 * carry the label: ambiguous. */
	const char *both[] = {img, loopdev, NULL};
	rc = bdev_find(name, both, found, sizeof(found));
	CHECK(rc == -EEXIST, "image + loop device: %d, expected -EEXIST", rc);

	/* A heartbeat written through one open is seen through another. */
	struct bdev *other;
	CHECK(bdev_open(loopdev, BDEV_RDONLY, &other) == 0, "second open");
	struct bdev_hb hb = {.state = BDEV_HB_LIVE,
			     .node_id = 1,
			     .incarnation = 1,
			     .sequence = 5,
			     .mode = BDEV_HB_LOCAL};
	strcpy(hb.hostname, "it");
	CHECK(bdev_hb_write(dev, 1 << 20, &hb, BDEV_HB_FLUSH) == 0, "hb write");
	struct bdev_hb got;
	CHECK(bdev_hb_read(other, 1 << 20, &got, 0) == 0 && got.sequence == 5, "hb read");
	bdev_close(other);

	/* The gate fences the block device too. */
	bdev_gate_close(dev, 0);
	CHECK(bdev_hb_write(dev, 1 << 20, &hb, 0) == -EIO, "write through closed gate");
	bdev_close(dev);

	cleanup();
	rc = bdev_find(name, NULL, found, sizeof(found));
	CHECK(rc == -ENOENT, "after detach: %d, expected -ENOENT", rc);

	/* A device with 4096-byte logical sectors: alignment comes from
	 * BLKSSZGET, and 512-byte I/O is refused before it reaches the kernel. */
	snprintf(img, sizeof(img), "/var/tmp/sanfs-it-XXXXXX");
	fd = mkstemp(img);
	CHECK(fd >= 0 && ftruncate(fd, 16 << 20) == 0, "second image");
	close(fd);
	char cmd[256];
	snprintf(cmd, sizeof(cmd), "losetup -f --show --sector-size 4096 %s", img);
	FILE *p = popen(cmd, "r");
	CHECK(p && fgets(loopdev, sizeof(loopdev), p), "losetup --sector-size 4096");
	loopdev[strcspn(loopdev, "\n")] = 0;
	CHECK(pclose(p) == 0, "losetup --sector-size 4096 failed");
	CHECK(bdev_open(loopdev, 0, &dev) == 0, "open %s", loopdev);
	CHECK(bdev_align(dev) == 4096, "align %u on a 4K-sector device", bdev_align(dev));
	uint8_t *b = bdev_alloc(8192);
	CHECK(bdev_write(dev, 512, b, 512) == -EINVAL, "512-byte write accepted");
	CHECK(bdev_write(dev, 4096, b, 4096) == 0, "4096-byte write");
	CHECK(bdev_label_init(&l, name, bdev_size(dev)) == 0 && bdev_label_write(dev, &l) == 0,
	      "label on 4K device");
	CHECK(bdev_label_read(dev, &l) == 0 && !strcmp(l.label, name), "label read on 4K device");
	bdev_free(b);
	bdev_close(dev);
	printf("4K-sector %s: align 4096\n", loopdev);
	cleanup();
	printf("OK\n");
	return 0;
}

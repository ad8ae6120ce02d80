/* blockdev: find a device by label or UUID (bdev.h bdev_find).
 *
 * Every candidate is opened read-only with O_DIRECT (so a label written by
 * another host is seen, not a stale page-cache copy) and its block 0 decoded.
 * Candidates are identified by device number (block devices) or inode
 * (image files), so two paths to one device count once. */
#include "blockdev/bdev_int.h"

#include <dirent.h>
#include <errno.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "common/log.h"

#define SUB "bdev"

struct cand {
	char *path;
	dev_t id_dev; /* st_rdev for block devices, st_dev for files */
	ino_t id_ino; /* 0 for block devices */
	bool blk;
};

struct cands {
	struct cand *v;
	size_t n, cap;
};

static void cands_free(struct cands *c)
{
	for (size_t i = 0; i < c->n; i++)
		free(c->v[i].path);
	free(c->v);
}

static int cands_add(struct cands *c, const char *path)
{
	struct stat st;
	if (stat(path, &st) < 0 || (!S_ISBLK(st.st_mode) && !S_ISREG(st.st_mode)))
		return 0;
	struct cand k = {.blk = S_ISBLK(st.st_mode)};
	k.id_dev = k.blk ? st.st_rdev : st.st_dev;
	k.id_ino = k.blk ? 0 : st.st_ino;
	for (size_t i = 0; i < c->n; i++)
		if (c->v[i].blk == k.blk && c->v[i].id_dev == k.id_dev &&
		    c->v[i].id_ino == k.id_ino)
			return 0;
	if (c->n == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 16;
		struct cand *v = realloc(c->v, cap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		c->v = v;
		c->cap = cap;
	}
	k.path = strdup(path);
	if (!k.path)
		return -ENOMEM;
	c->v[c->n++] = k;
	return 0;
}

static const char *const scan_patterns[] = {"loop[0-9]*", "sd*",  "vd*", "nvme*n*",
					    "xvd*",	  "dm-*", NULL};

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int scan_dev(struct cands *c)
{
	DIR *d = opendir("/dev");
	if (!d)
		return -errno;
	char **names = NULL;
	size_t n = 0, cap = 0;
	int rc = 0;
	for (struct dirent *e; (e = readdir(d));) {
		bool want = false;
		for (const char *const *p = scan_patterns; *p && !want; p++)
			want = fnmatch(*p, e->d_name, 0) == 0;
		if (!want)
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 64;
			char **nn = realloc(names, cap * sizeof(*nn));
			if (!nn) {
				rc = -ENOMEM;
				break;
			}
			names = nn;
		}
		if (!(names[n] = strdup(e->d_name))) {
			rc = -ENOMEM;
			break;
		}
		n++;
	}
	closedir(d);
	if (rc == 0 && n)
		qsort(names, n, sizeof(*names), name_cmp);
	for (size_t i = 0; i < n; i++) {
		char path[300];
		snprintf(path, sizeof(path), "/dev/%s", names[i]);
		if (rc == 0)
			rc = cands_add(c, path);
		free(names[i]);
	}
	free(names);
	return rc;
}

/* Is the block device `lower` one of the devices under device-mapper device
 * `upper` (/sys/dev/block/MAJ:MIN/slaves/NAME)? */
static bool dm_holds(const struct cand *upper, const struct cand *lower)
{
	if (!upper->blk || !lower->blk)
		return false;
	char dir[128], link[128], target[256];
	snprintf(dir, sizeof(dir), "/sys/dev/block/%u:%u/slaves", major(upper->id_dev),
		 minor(upper->id_dev));
	snprintf(link, sizeof(link), "/sys/dev/block/%u:%u", major(lower->id_dev),
		 minor(lower->id_dev));
	ssize_t n = readlink(link, target, sizeof(target) - 1);
	if (n <= 0)
		return false;
	target[n] = 0;
	const char *name = strrchr(target, '/');
	name = name ? name + 1 : target;
	char slave[512];
	snprintf(slave, sizeof(slave), "%s/%s", dir, name);
	return access(slave, F_OK) == 0;
}

/* A suspended device-mapper device blocks every read until it is resumed:
 * a scan must not hang on one (libblkid skips them too). */
static bool dm_suspended(const struct cand *c)
{
	if (!c->blk)
		return false;
	char path[128], v[8] = "";
	snprintf(path, sizeof(path), "/sys/dev/block/%u:%u/dm/suspended", major(c->id_dev),
		 minor(c->id_dev));
	FILE *f = fopen(path, "re");
	if (!f)
		return false;
	bool susp = fgets(v, sizeof(v), f) && v[0] == '1';
	fclose(f);
	return susp;
}

static bool label_matches(const struct bdev_label *l, const char *want, bool want_is_uuid,
			  const uint8_t *want_uuid)
{
	if (want_is_uuid && memcmp(l->uuid, want_uuid, 16) == 0)
		return true;
	return l->label[0] && strcmp(l->label, want) == 0;
}

int bdev_find(const char *label_or_uuid, const char *const *paths, char *out, size_t outlen)
{
	if (!label_or_uuid || !*label_or_uuid)
		return -EINVAL;
	uint8_t want_uuid[16];
	bool want_is_uuid = bdev_uuid_parse(label_or_uuid, want_uuid) == 0;
	struct cands c = {0};
	int rc = 0;
	if (paths) {
		for (const char *const *p = paths; *p && rc == 0; p++)
			rc = cands_add(&c, *p);
	} else {
		rc = scan_dev(&c);
	}
	if (rc < 0) {
		cands_free(&c);
		return rc;
	}
	const struct cand *found = NULL;
	bool ambiguous = false;
	for (size_t i = 0; i < c.n; i++) {
		struct bdev *dev;
		if (dm_suspended(&c.v[i])) {
			log_info(SUB, "%s: suspended device-mapper device, skipped", c.v[i].path);
			continue;
		}
		if (bdev_open(c.v[i].path, BDEV_RDONLY | BDEV_QUIET, &dev) < 0)
			continue;
		struct bdev_label l;
		int lr = bdev_label_read(dev, &l);
		bdev_close(dev);
		if (lr < 0 || !label_matches(&l, label_or_uuid, want_is_uuid, want_uuid))
			continue;
		if (!found) {
			found = &c.v[i];
		} else if (dm_holds(&c.v[i], found)) {
			found = &c.v[i]; /* multipath: the dm device over its paths */
		} else if (!dm_holds(found, &c.v[i])) {
			log_error(SUB, "%s: carried by both %s and %s", label_or_uuid, found->path,
				  c.v[i].path);
			ambiguous = true;
		}
	}
	if (ambiguous)
		rc = -EEXIST;
	else if (!found)
		rc = -ENOENT;
	else if (strlen(found->path) >= outlen)
		rc = -ENAMETOOLONG;
	else
		strcpy(out, found->path);
	cands_free(&c);
	return rc;
}

/* sanctl mkfs DEVICE [--label L] [--slots N] [--journal-size SIZE] [--force]
 * (DESIGN §8): write a new sanfs filesystem. Refuses a device that holds a
 * filesystem, a partition table or a sanfs label unless --force; refuses
 * (even with --force) a device whose sanfs slots show a live mount. */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "blockdev/bdev.h"
#include "cli/commands.h"
#include "fs/format.h"
#include "fs/mkfs.h"

static void usage(FILE *f)
{
	fprintf(
	    f,
	    "usage: sanctl mkfs DEVICE [--label L] [--slots N] [--journal-size SIZE] [--force]\n"
	    "\n"
	    "Write a new sanfs filesystem on DEVICE (a block device or an image file).\n"
	    "  --label L          name of the filesystem (printable ASCII, at most 63 bytes)\n"
	    "  --slots N          node slots: nodes that may mount at once (1..256, default 16)\n"
	    "  --journal-size S   journal per slot, with K/M/G suffix (1M..1G; default from size)\n"
	    "  --force            overwrite a device that holds a filesystem or partition table\n"
	    "  --verbose          progress lines (also shown when stderr is a terminal)\n");
}

/* "64M" -> bytes; -EINVAL on anything else. */
static int parse_size(const char *s, uint64_t *out)
{
	char *end;
	errno = 0;
	if (!*s || *s == '-')
		return -EINVAL;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || end == s)
		return -EINVAL;
	uint64_t mul = 1;
	if (*end) {
		/* K, M, G, T: 1024 to the power of the letter's place. */
		static const char units[] = "KMGT";
		const char *u = strchr(units, toupper((unsigned char)*end));
		if (!u)
			return -EINVAL;
		mul = 1ull << (10 * (u - units + 1));
		end++;
		if (*end == 'i' || *end == 'I')
			end++;
		if (*end == 'b' || *end == 'B')
			end++;
		if (*end)
			return -EINVAL;
	}
	if (v > UINT64_MAX / mul)
		return -EINVAL;
	*out = v * mul;
	return 0;
}

struct progress {
	bool on;
	uint64_t last_pct;
};

static void progress(void *arg, uint64_t done, uint64_t total)
{
	struct progress *p = arg;
	if (!p->on)
		return;
	uint64_t pct = done * 100 / total;
	if (pct / 10 != p->last_pct / 10 || done == total) {
		fprintf(stderr,
			"sanctl mkfs: allocation groups %" PRIu64 "/%" PRIu64 " (%" PRIu64 "%%)\n",
			done, total, pct);
		p->last_pct = pct;
	}
}

int cmd_mkfs(const struct sanctl_globals *g, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"label", required_argument, NULL, 'L'},
	    {"slots", required_argument, NULL, 'n'},
	    {"journal-size", required_argument, NULL, 'J'},
	    {"force", no_argument, NULL, 'f'},
	    {"verbose", no_argument, NULL, 'v'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct mkfs_opts mo = {0};
	bool force = false, verbose = g->verbose;
	optind = 1;
	opterr = 0;
	int c;
	while ((c = getopt_long(argc, argv, "L:n:J:fvh", opts, NULL)) != -1) {
		switch (c) {
		case 'L':
			if (strlen(optarg) > SFS_LABEL_MAX || !bdev_label_valid(optarg)) {
				fprintf(stderr,
					"sanctl mkfs: label must be printable ASCII, at most "
					"63 bytes\n");
				return 1;
			}
			mo.label = optarg;
			break;
		case 'n': {
			char *end;
			errno = 0;
			long v = strtol(optarg, &end, 10);
			if (errno || *end || end == optarg || v < 1 || v > (long)SFS_MAX_SLOTS) {
				fprintf(stderr,
					"sanctl mkfs: --slots must be a number from 1 to %u\n",
					SFS_MAX_SLOTS);
				return 1;
			}
			mo.slots = (unsigned)v;
			break;
		}
		case 'J': {
			uint64_t v;
			if (parse_size(optarg, &v) || v < MKFS_MIN_JOURNAL_BYTES ||
			    v > MKFS_MAX_JOURNAL_BYTES || v % SFS_BLOCK_SIZE) {
				fprintf(stderr,
					"sanctl mkfs: --journal-size must be a size from 1M to 1G "
					"in 4K units (e.g. 64M)\n");
				return 1;
			}
			mo.journal_bytes = v;
			break;
		}
		case 'f':
			force = true;
			break;
		case 'v':
			verbose = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			fprintf(stderr,
				"sanctl mkfs: unknown or incomplete option '%s' (see sanctl mkfs "
				"--help)\n",
				argv[optind - 1]);
			return 2;
		}
	}
	if (optind + 1 != argc) {
		fprintf(stderr, optind >= argc
				    ? "sanctl mkfs: missing DEVICE (see sanctl mkfs --help)\n"
				    : "sanctl mkfs: too many arguments (see sanctl mkfs --help)\n");
		return 2;
	}
	const char *dev = argv[optind];
	struct stat st;
	if (stat(dev, &st) != 0) {
		fprintf(stderr, "sanctl mkfs: %s: %s\n", dev, strerror(errno));
		return 1;
	}
	if (!S_ISBLK(st.st_mode) && !S_ISREG(st.st_mode)) {
		fprintf(stderr, "sanctl mkfs: %s: not a block device or image file\n", dev);
		return 1;
	}
	/* What is on it now? */
	struct bdev *bd;
	int rc = bdev_open(dev, BDEV_RDONLY, &bd);
	if (rc) {
		fprintf(stderr, "sanctl mkfs: %s: %s\n", dev, strerror(-rc));
		return 1;
	}
	char what[128] = "";
	int found = bdev_probe_foreign(bd, what, sizeof(what));
	char live[256] = "";
	int lrc = mkfs_live_check(bd, live, sizeof(live));
	uint64_t size = bdev_size(bd);
	bdev_close(bd);
	if (found < 0) {
		fprintf(stderr, "sanctl mkfs: %s: cannot read: %s\n", dev, strerror(-found));
		return 1;
	}
	if (lrc > 0) {
		fprintf(stderr, "sanctl mkfs: %s: refusing: %s\n", dev, live);
		return 1;
	}
	if (found > 0 && !force) {
		fprintf(stderr,
			"sanctl mkfs: %s is in use (%s found); use --force to overwrite it\n", dev,
			what);
		return 1;
	}
	struct sfs_super sb;
	const char *why = NULL;
	if (mkfs_geometry(size, &mo, &sb, &why)) {
		fprintf(stderr, "sanctl mkfs: %s: %s\n", dev, why);
		return 1;
	}
	struct progress pr = {.on = verbose || (isatty(2) && size >= (16ull << 30)), .last_pct = 0};
	mo.progress = progress;
	mo.progress_arg = &pr;
	mo.root_init = mkfs_root_default;
	rc = mkfs_format(dev, &mo, &sb, &why);
	if (rc) {
		fprintf(stderr, "sanctl mkfs: %s: %s\n", dev, why ? why : strerror(-rc));
		return 1;
	}
	char uuid[BDEV_UUID_STR];
	bdev_uuid_format(sb.uuid, uuid);
	printf("%s: sanfs, label '%s', uuid %s, %" PRIu64 " blocks of 4 KiB, %u slots, journal "
	       "%u KiB per slot, %u allocation groups\n",
	       dev, sb.label, uuid, sb.blocks, sb.slot_count, sb.journal_blocks * 4, sb.ag_count);
	return 0;
}

/* mkfs: geometry and the writing of a new filesystem (mkfs.h). */
#include "fs/mkfs.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>

#include "blockdev/bdev.h"
#include "common/endian_le.h"
#include "common/log.h"
#include "fs/dir.h"
#include "fs/inode.h"
#include "fs/jnl.h"
#include "fs/sfs.h"
#include "locks/lcl.h"

#define AG_MAX_BLOCKS 262144u /* 1 GiB */
#define AG_MIN_BLOCKS 1024u

static uint64_t div_up(uint64_t a, uint64_t b)
{
	return (a + b - 1) / b;
}

int mkfs_geometry(uint64_t dev_bytes, const struct mkfs_opts *o, struct sfs_super *sb,
		  const char **why)
{
	memset(sb, 0, sizeof(*sb));
	uint64_t bytes = o->size_bytes ? o->size_bytes : dev_bytes;
	if (o->size_bytes > dev_bytes) {
		*why = "requested size is larger than the device";
		return -EINVAL;
	}
	uint64_t blocks = bytes / SFS_BLOCK_SIZE;
	unsigned slots = o->slots ? o->slots : SFS_DEFAULT_SLOTS;
	if (slots > SFS_MAX_SLOTS) {
		*why = "too many slots (at most 256)";
		return -EINVAL;
	}
	if (o->label && strlen(o->label) > SFS_LABEL_MAX) {
		*why = "label longer than 63 bytes";
		return -EINVAL;
	}
	if (o->label && !bdev_label_valid(o->label)) {
		*why = "label must be printable ASCII";
		return -EINVAL;
	}
	uint64_t jb;
	if (o->journal_bytes) {
		if (o->journal_bytes < MKFS_MIN_JOURNAL_BYTES ||
		    o->journal_bytes > MKFS_MAX_JOURNAL_BYTES) {
			*why = "journal size must be between 1 MiB and 1 GiB";
			return -EINVAL;
		}
		jb = o->journal_bytes / SFS_BLOCK_SIZE;
	} else {
		jb = blocks / (16ull * slots);
		if (jb < 256)
			jb = 256;
		if (jb > 16384)
			jb = 16384;
	}
	sb->version = SFS_VERSION;
	sb->block_size = SFS_BLOCK_SIZE;
	sb->slot_count = slots;
	sb->orphan_blocks = SFS_DEFAULT_ORPHAN_BLOCKS;
	sb->journal_blocks = (uint32_t)jb;
	sb->slot_blocks = 3 + sb->orphan_blocks + sb->journal_blocks;
	sb->slot_start = SFS_FIRST_SLOT_BLKNO;
	sb->ag_start = sb->slot_start + (uint64_t)slots * sb->slot_blocks;
	if (blocks <= sb->ag_start + 64) {
		*why = "device too small for the slots and journals (fewer slots or a smaller "
		       "journal?)";
		return -ENOSPC;
	}
	uint64_t data = blocks - sb->ag_start;
	uint32_t agb = o->ag_blocks;
	if (!agb) {
		uint64_t count = data / AG_MAX_BLOCKS;
		if (count < slots)
			count = slots;
		uint64_t a = div_up(data, count);
		if (a < AG_MIN_BLOCKS)
			a = AG_MIN_BLOCKS;
		if (a > AG_MAX_BLOCKS)
			a = AG_MAX_BLOCKS;
		if (a > data)
			a = data;
		agb = (uint32_t)a;
	} else if (agb < 64 || agb > 64u * SFS_BM_BITS) {
		*why = "allocation group size out of range";
		return -EINVAL;
	}
	sb->ag_blocks = agb;
	sb->bitmap_blocks = (uint32_t)div_up(agb, SFS_BM_BITS);
	uint32_t meta = 1 + 2 * sb->bitmap_blocks;
	uint64_t count = div_up(data, agb);
	/* A last AG too small to hold anything is left out. */
	uint64_t last = data - (count - 1) * agb;
	if (last <= meta + 8 && count > 1) {
		count--;
		blocks = sb->ag_start + count * agb;
	}
	if (count > UINT32_MAX || (count == 1 && data <= meta + 8)) {
		*why = "device too small";
		return -ENOSPC;
	}
	sb->ag_count = (uint32_t)count;
	sb->blocks = blocks;
	sb->root_ino = sb->ag_start + meta; /* first data block of AG 0 */
	sb->state = SFS_SB_CLEAN;
	sb->ctime = sb->mtime = (uint64_t)time(NULL);
	if (o->label)
		snprintf(sb->label, sizeof(sb->label), "%s", o->label);
	if (o->uuid) {
		memcpy(sb->uuid, o->uuid, 16);
	} else if (getrandom(sb->uuid, 16, 0) != 16) {
		*why = "no random bytes for the uuid";
		return -EIO;
	}
	if (getrandom(sb->dir_hash_seed, 16, 0) != 16) {
		*why = "no random bytes for the hash seed";
		return -EIO;
	}
	sb->uuid[6] = (uint8_t)((sb->uuid[6] & 0x0f) | 0x40); /* RFC 4122 v4 */
	sb->uuid[8] = (uint8_t)((sb->uuid[8] & 0x3f) | 0x80);
	*why = NULL;
	return 0;
}

static int write_blocks(struct bdev *dev, uint64_t blkno, const void *buf, uint64_t n)
{
	int rc = bdev_write(dev, blkno * SFS_BLOCK_SIZE, buf, n * SFS_BLOCK_SIZE);
	if (rc)
		log_error("fs", "mkfs: write of block %" PRIu64 "+%" PRIu64 " failed: %s", blkno, n,
			  strerror(-rc));
	return rc;
}

static int write_slot(struct bdev *dev, const struct sfs_super *sb, unsigned s, uint8_t *buf)
{
	uint64_t base = sfs_slot_base(sb, s), owner = sfs_owner_slot(s);
	unsigned n = SFS_SLOT_ORPHAN + sb->orphan_blocks;
	memset(buf, 0, (size_t)n * SFS_BLOCK_SIZE);
	struct bdev_hb hb = {.state = BDEV_HB_FREE, .slot = s, .mode = BDEV_HB_LOCAL};
	memcpy(hb.uuid, sb->uuid, 16);
	int rc = bdev_hb_encode(&hb, (base + SFS_SLOT_HB) * SFS_BLOCK_SIZE, buf);
	if (rc)
		return rc;
	uint8_t *jh = buf + SFS_SLOT_JHDR * SFS_BLOCK_SIZE;
	struct sfs_jhdr h = {.ring_blocks = sb->journal_blocks,
			     .flags = SFS_JH_CLEAN,
			     .tail_seq = 1,
			     .tail = 0,
			     .mount_gen = 0};
	sfs_jhdr_encode(&h, jh);
	sfs_blk_seal(jh, sb->uuid, SFS_BT_JHDR, base + SFS_SLOT_JHDR, owner);
	uint8_t *la = buf + SFS_SLOT_LALLOC * SFS_BLOCK_SIZE;
	uint32_t ag = s % sb->ag_count;
	le32_put(la + SFS_LA_OFF_AG, ag);
	le64_put(la + SFS_LA_OFF_GOAL, sfs_ag_base(sb, ag));
	sfs_blk_seal(la, sb->uuid, SFS_BT_LALLOC, base + SFS_SLOT_LALLOC, owner);
	for (unsigned i = 0; i < sb->orphan_blocks; i++) {
		uint8_t *ob = buf + (SFS_SLOT_ORPHAN + i) * SFS_BLOCK_SIZE;
		sfs_blk_seal(ob, sb->uuid, SFS_BT_ORPHAN, base + SFS_SLOT_ORPHAN + i, owner);
	}
	return write_blocks(dev, base, buf, n);
}

/* Header + block bitmap + inode bitmap of one AG, in buf. */
static void build_ag(const struct sfs_super *sb, uint32_t ag, uint8_t *buf)
{
	uint64_t base = sfs_ag_base(sb, ag), owner = sfs_owner_ag(ag);
	uint32_t nblocks = sfs_ag_size(sb, ag), meta = sfs_ag_meta_blocks(sb);
	memset(buf, 0, (size_t)meta * SFS_BLOCK_SIZE);
	struct sfs_ag a = {.index = ag,
			   .nblocks = nblocks,
			   .free_blocks = nblocks - meta,
			   .inodes = 0,
			   .bitmap_blocks = sb->bitmap_blocks};
	bool root = ag == 0;
	uint32_t root_off = (uint32_t)(sb->root_ino - base);
	if (root) {
		a.free_blocks--;
		a.inodes = 1;
	}
	for (uint32_t k = 0; k < 2; k++) {
		for (uint32_t i = 0; i < sb->bitmap_blocks; i++) {
			uint64_t blk = 1 + k * sb->bitmap_blocks + i;
			uint8_t *p = buf + blk * SFS_BLOCK_SIZE;
			uint8_t *bits = p + SFS_BM_OFF;
			uint64_t first = (uint64_t)i * SFS_BM_BITS;
			for (uint32_t b = 0; b < SFS_BM_BITS; b++) {
				uint64_t off = first + b;
				if (k == 0 && off >= meta && off < nblocks) {
					/* Skip the free middle a byte at a time. */
					if ((b & 7) == 0 && off + 8 <= nblocks) {
						b += 7;
						continue;
					}
					continue;
				}
				if (k == 1)
					break;
				sfs_bit_set(bits, b);
			}
			if (root && root_off / SFS_BM_BITS == i)
				sfs_bit_set(bits, root_off % SFS_BM_BITS);
			sfs_blk_seal(p, sb->uuid, SFS_BT_BITMAP, base + blk, owner);
		}
	}
	sfs_ag_encode(&a, buf);
	sfs_blk_seal(buf, sb->uuid, SFS_BT_AG, base, owner);
}

int mkfs_format(const char *path, const struct mkfs_opts *o, struct sfs_super *out,
		const char **why)
{
	struct bdev *dev;
	int rc = bdev_open(path, o->buffered ? BDEV_BUFFERED : 0, &dev);
	if (rc) {
		*why = strerror(-rc);
		return rc;
	}
	struct sfs_super sb;
	rc = mkfs_geometry(bdev_size(dev), o, &sb, why);
	if (rc) {
		bdev_close(dev);
		return rc;
	}
	size_t bufblocks = SFS_SLOT_ORPHAN + sb.orphan_blocks;
	if (sfs_ag_meta_blocks(&sb) > bufblocks)
		bufblocks = sfs_ag_meta_blocks(&sb);
	uint8_t *buf = bdev_alloc(bufblocks * SFS_BLOCK_SIZE);
	if (!buf) {
		bdev_close(dev);
		*why = "out of memory";
		return -ENOMEM;
	}
	*why = "write failed";
	/* Block 0 and both superblock places: zero first, so an interrupted
	 * mkfs leaves no filesystem signature behind. */
	memset(buf, 0, 3 * SFS_BLOCK_SIZE);
	rc = write_blocks(dev, 0, buf, 3);
	for (unsigned s = 0; s < sb.slot_count && !rc; s++)
		rc = write_slot(dev, &sb, s, buf);
	for (uint32_t ag = 0; ag < sb.ag_count && !rc; ag++) {
		build_ag(&sb, ag, buf);
		rc = write_blocks(dev, sfs_ag_base(&sb, ag), buf, sfs_ag_meta_blocks(&sb));
		if (o->progress)
			o->progress(o->progress_arg, ag + 1, sb.ag_count);
	}
	if (!rc) {
		/* The root inode block: zeroed until root_init writes it. */
		memset(buf, 0, SFS_BLOCK_SIZE);
		rc = write_blocks(dev, sb.root_ino, buf, 1);
	}
	if (!rc)
		rc = bdev_flush(dev);
	for (uint64_t at = SFS_SUPER_BLKNO; at <= SFS_SUPER_BACKUP && !rc; at++) {
		sfs_super_encode(&sb, at, buf);
		rc = write_blocks(dev, at, buf, 1);
	}
	if (!rc) {
		/* The device label in block 0 names the device (blockdev/). */
		struct bdev_label l;
		rc = bdev_label_init(&l, sb.label, bdev_size(dev));
		if (!rc) {
			memcpy(l.uuid, sb.uuid, 16);
			rc = bdev_label_write(dev, &l);
		}
	}
	if (!rc)
		rc = bdev_flush(dev);
	bdev_free(buf);
	bdev_close(dev);
	if (rc)
		return rc;
	if (o->root_init) {
		struct sfs_ops ops = {0};
		inode_sfs_ops(&ops);
		struct sfs_mount_opts mo = {
		    .local = true, .buffered = o->buffered, .hb_wait_ms = 1, .ops = &ops};
		struct sfs *fs;
		struct lcl *lcl;
		rc = lcl_create_local(&lcl);
		if (rc) {
			*why = "cannot create the local lock layer";
			return rc;
		}
		rc = sfs_open(path, &mo, lcl, &fs);
		if (rc) {
			*why = sfs_last_error();
			lcl_destroy(lcl);
			return rc;
		}
		rc = o->root_init(fs, sb.root_ino, o->root_arg);
		int rc2 = sfs_close(fs);
		lcl_destroy(lcl);
		if (rc) {
			*why = "cannot create the root directory";
			return rc;
		}
		if (rc2) {
			*why = "cannot close the new filesystem";
			return rc2;
		}
	}
	if (out)
		*out = sb;
	*why = NULL;
	return 0;
}

/* The root directory: an inode at the block mkfs reserved, mode 0755 owned
 * by root, its own parent. */
static int root_default(struct sfs *fs, uint64_t root_ino, void *arg)
{
	(void)arg;
	struct txn *t;
	int rc = txn_begin(fs, 16, &t);
	if (rc)
		return rc;
	struct sfs_inode *ip = NULL;
	rc = inode_create_at(fs, t, root_ino, S_IFDIR | 0755, 0, 0, 0, &ip);
	if (!rc) {
		rc = dir_init(fs, t, ip, root_ino); /* its own parent */
		if (!rc)
			rc = inode_write(fs, t, ip);
	}
	uint64_t tid = 0;
	if (rc)
		txn_abort(t);
	else
		rc = txn_end(t, &tid);
	if (ip)
		inode_put(fs, ip);
	if (!rc)
		rc = jnl_wait(fs, tid);
	return rc;
}

int (*const mkfs_root_default)(struct sfs *fs, uint64_t root_ino, void *arg) = root_default;

int mkfs_live_check(struct bdev *dev, char *what, size_t len)
{
	struct sfs_super sb;
	const char *why;
	uint8_t *b2 = bdev_alloc(SFS_BLOCK_SIZE);
	if (!b2)
		return -ENOMEM;
	int rc = bdev_read(dev, SFS_SUPER_BLKNO * SFS_BLOCK_SIZE, b2, SFS_BLOCK_SIZE);
	int dec = rc ? rc : sfs_super_decode(b2, SFS_SUPER_BLKNO, &sb, &why);
	bdev_free(b2);
	if (rc)
		return rc;
	if (dec)
		return 0; /* not sanfs (or unreadable superblock): nothing mounted */
	if ((uint64_t)sb.slot_count * sb.slot_blocks + sb.slot_start >
	    bdev_size(dev) / SFS_BLOCK_SIZE)
		return 0;
	struct bdev_hb *first = calloc(sb.slot_count, sizeof(*first));
	if (!first)
		return -ENOMEM;
	bool any = false;
	for (unsigned s = 0; s < sb.slot_count; s++) {
		uint64_t off = (sfs_slot_base(&sb, s) + SFS_SLOT_HB) * SFS_BLOCK_SIZE;
		if (bdev_hb_read(dev, off, &first[s], 0) == 0 && first[s].state == BDEV_HB_LIVE)
			any = true;
		else
			first[s].state = BDEV_HB_FREE;
	}
	int live = 0;
	for (int tries = 0; any && tries < 15 && !live; tries++) {
		struct timespec ts = {0, 100000000};
		nanosleep(&ts, NULL);
		for (unsigned s = 0; s < sb.slot_count && !live; s++) {
			if (first[s].state != BDEV_HB_LIVE)
				continue;
			uint64_t off = (sfs_slot_base(&sb, s) + SFS_SLOT_HB) * SFS_BLOCK_SIZE;
			struct bdev_hb now;
			if (bdev_hb_read(dev, off, &now, 0) == 0 && now.state == BDEV_HB_LIVE &&
			    bdev_hb_newer(&now, &first[s])) {
				snprintf(what, len, "slot %u is mounted on %s pid %u", s,
					 now.hostname[0] ? now.hostname : "?", now.pid);
				live = 1;
			}
		}
	}
	free(first);
	return live;
}

/* fsck phase 4: every inode block named by the inode bitmaps is decoded with
 * the inode part's decoder (fs/inode_format.h); every block hanging off it
 * (extents, extent and directory tree nodes, xattr and symlink blocks) is
 * checked through the parts' walkers (extent_walk, btree_walk) and marked
 * referenced, so phase 5 can compare the bitmaps with what is used. Every
 * directory entry is decoded (dir_rec_decode: name, hash key, type) and must
 * name an inode of the right type; a directory is named by exactly one entry,
 * in the directory its ".." says; link counts must equal the entries naming
 * the inode (2 + subdirectories for a directory), fixed with --repair;
 * unlinked inodes must be on an orphan list and inodes named by nothing are
 * reported. The walkers read through a read-only struct sfs (bc_read checks
 * every header). */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "blockdev/bdev.h"
#include "fs/bcache.h"
#include "fs/btree.h"
#include "fs/dir.h"
#include "fs/extent.h"
#include "fs/fsck_int.h"
#include "fs/inode.h"
#include "fs/inode_format.h"
#include "fs/sfs.h"

struct iinfo {
	uint32_t mode, nlink;
	uint32_t refs;	   /* directory entries naming it */
	uint32_t subdirs;  /* for a directory: entries naming directories */
	uint64_t parent;   /* for a directory: its ".." (fork aux) */
	uint64_t named_in; /* the directory whose entry names it (directories) */
	bool ok;	   /* decoded */
};

struct iwalk {
	struct fsck *ck;
	uint64_t ino;
	uint64_t blocks;
	int bad;
	struct iinfo *info;
};

static int64_t idx_of(struct fsck *ck, uint64_t ino)
{
	uint64_t lo = 0, hi = ck->ninodes;
	while (lo < hi) {
		uint64_t mid = (lo + hi) / 2;
		if (ck->inodes[mid] < ino)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < ck->ninodes && ck->inodes[lo] == ino ? (int64_t)lo : -1;
}

static unsigned dtype_of(uint32_t mode)
{
	switch (mode & S_IFMT) {
	case S_IFREG:
		return DT_REG;
	case S_IFDIR:
		return DT_DIR;
	case S_IFLNK:
		return DT_LNK;
	case S_IFCHR:
		return DT_CHR;
	case S_IFBLK:
		return DT_BLK;
	case S_IFIFO:
		return DT_FIFO;
	case S_IFSOCK:
		return DT_SOCK;
	default:
		return DT_UNKNOWN;
	}
}

/* One directory entry (pass 2). */
static int on_dir_rec(void *arg, const struct btree_key *k, const void *val, size_t len)
{
	struct iwalk *w = arg;
	struct fsck *ck = w->ck;
	struct dir_rec r;
	if (dir_rec_decode(ck->sb.dir_hash_seed, w->ino, k, val, len, &r)) {
		fsck_say(ck, FSCK_ERROR, "directory %" PRIu64 ": corrupt entry", w->ino);
		w->bad = 1;
		return 0;
	}
	int64_t t = idx_of(ck, r.ino);
	if (t < 0 || !w->info[t].ok) {
		fsck_say(ck, FSCK_ERROR,
			 "directory %" PRIu64 ": entry '%s' names %" PRIu64
			 ", which is not a valid inode",
			 w->ino, r.name, r.ino);
		return 0;
	}
	struct iinfo *ti = &w->info[t];
	if (dtype_of(ti->mode) != r.dtype)
		fsck_say(ck, FSCK_ERROR,
			 "directory %" PRIu64 ": entry '%s' has type %u, inode %" PRIu64
			 " is type %u",
			 w->ino, r.name, r.dtype, r.ino, dtype_of(ti->mode));
	ti->refs++;
	if (S_ISDIR(ti->mode)) {
		int64_t d = idx_of(ck, w->ino);
		if (d >= 0)
			w->info[d].subdirs++;
		if (ti->refs > 1)
			fsck_say(ck, FSCK_ERROR,
				 "directory %" PRIu64 " has more than one name ('%s' in %" PRIu64
				 ")",
				 r.ino, r.name, w->ino);
		else if (ti->parent != w->ino)
			fsck_say(ck, FSCK_ERROR,
				 "directory %" PRIu64 " ('%s' in %" PRIu64
				 "): its '..' says %" PRIu64,
				 r.ino, r.name, w->ino, ti->parent);
		ti->named_in = w->ino;
	}
	return 0;
}

/* Rewrite the link count of ino (repair). */
static bool fix_nlink(struct fsck *ck, uint64_t ino, uint32_t nlink)
{
	if (!ck->rw || bdev_read(ck->dev, ino * SFS_BLOCK_SIZE, ck->blk, SFS_BLOCK_SIZE))
		return false;
	struct sfs_inode ip;
	memset(&ip, 0, sizeof(ip));
	if (inode_block_decode(ck->blk, ck->sb.uuid, ino, &ip))
		return false;
	ip.nlink = nlink;
	inode_encode(&ip, ck->blk);
	inode_decoded_release(&ip);
	sfs_blk_reseal(ck->blk);
	return bdev_write(ck->dev, ino * SFS_BLOCK_SIZE, ck->blk, SFS_BLOCK_SIZE) == 0;
}

static int on_extent(void *arg, const struct sfs_extent *e)
{
	struct iwalk *w = arg;
	if (fsck_ref(w->ck, e->pblk, e->len, "extent", w->ino))
		w->bad = 1;
	w->blocks += e->len;
	return 0;
}

static int on_ext_node(void *arg, uint64_t blkno, unsigned level)
{
	struct iwalk *w = arg;
	(void)level;
	if (fsck_ref(w->ck, blkno, 1, "extent tree node", w->ino))
		w->bad = 1;
	w->blocks++;
	return 0;
}

static int on_dir_node(void *arg, uint64_t blkno, unsigned level, unsigned nrecs)
{
	struct iwalk *w = arg;
	(void)level;
	(void)nrecs;
	if (fsck_ref(w->ck, blkno, 1, "directory tree node", w->ino))
		w->bad = 1;
	w->blocks++;
	return 0;
}

static bool on_orphan_list(struct fsck *ck, uint64_t ino)
{
	for (uint64_t k = 0; k + 1 < ck->norphans; k += 2)
		if (ck->orphans[k] == ino)
			return true;
	return false;
}

/* A block hanging off the inode by number (xattr, symlink tail). */
static void side_block(struct fsck *ck, struct sfs *fs, uint64_t ino, uint64_t blk, uint16_t type,
		       const char *what, struct iwalk *w)
{
	if (!blk)
		return;
	if (fsck_ref(ck, blk, 1, what, ino)) {
		w->bad = 1;
		return;
	}
	struct buf *b;
	if (bc_read(fs, blk, type, sfs_owner_inode(ino), &b)) {
		fsck_say(ck, FSCK_ERROR, "inode %" PRIu64 ": %s %" PRIu64 " unreadable or corrupt",
			 ino, what, blk);
		w->bad = 1;
		return;
	}
	bc_put(b);
	w->blocks++;
}

int fsck_inodes(struct fsck *ck)
{
	struct sfs_mount_opts mo = {.readonly = true, .buffered = ck->o->buffered};
	struct sfs *fs = NULL;
	bool complete = true;
	if (sfs_open(ck->path, &mo, NULL, &fs)) {
		fsck_say(ck, FSCK_ERROR, "cannot open the filesystem to walk inodes: %s",
			 sfs_last_error());
		fs = NULL;
		complete = false;
	}
	uint8_t *blk = ck->blk;
	struct iinfo *info = calloc(ck->ninodes ? ck->ninodes : 1, sizeof(*info));
	if (!info) {
		if (fs)
			sfs_close(fs);
		return -ENOMEM;
	}
	for (uint64_t i = 0; i < ck->ninodes; i++) {
		uint64_t ino = ck->inodes[i];
		if (ck->o->progress && (i & 1023) == 0)
			ck->o->progress(ck->o->progress_arg, 4, i, ck->ninodes);
		fsck_ref(ck, ino, 1, "inode block", ino);
		if (bdev_read(ck->dev, ino * SFS_BLOCK_SIZE, blk, SFS_BLOCK_SIZE)) {
			fsck_say(ck, FSCK_ERROR, "inode %" PRIu64 ": read error", ino);
			complete = false;
			continue;
		}
		struct sfs_inode ip;
		memset(&ip, 0, sizeof(ip));
		if (inode_block_decode(blk, ck->sb.uuid, ino, &ip)) {
			const char *why = NULL;
			sfs_blk_verify(blk, ck->sb.uuid, SFS_BT_INODE, ino, sfs_owner_inode(ino),
				       &why);
			fsck_say(ck, FSCK_ERROR, "inode %" PRIu64 ": %s", ino,
				 why ? why : "inode fields inconsistent");
			complete = false;
			continue;
		}
		info[i] = (struct iinfo){.mode = ip.mode,
					 .nlink = ip.nlink,
					 .ok = true,
					 .parent = S_ISDIR(ip.mode) ? ip.fork.aux : 0};
		if (ip.nlink == 0 && !on_orphan_list(ck, ino))
			fsck_say(ck, FSCK_ERROR,
				 "inode %" PRIu64 ": unlinked (nlink 0) but on no orphan list",
				 ino);
		if (ino == ck->sb.root_ino && !S_ISDIR(ip.mode))
			fsck_say(ck, FSCK_ERROR, "root inode %" PRIu64 " is not a directory", ino);
		struct iwalk w = {.ck = ck, .ino = ino, .info = info};
		if (fs) {
			int rc;
			if (S_ISDIR(ip.mode)) {
				struct btree_walk_ops bo = {.node = on_dir_node, .rec = NULL};
				/* Entries are judged in pass 2, once every inode is known. */
				rc = btree_walk(fs, &ip.fork, ino, &bo, &w);
			} else {
				struct extent_walk_ops eo = {.extent = on_extent,
							     .node = on_ext_node};
				rc = extent_walk(fs, &ip, &eo, &w);
			}
			if (rc) {
				fsck_say(ck, FSCK_ERROR, "inode %" PRIu64 ": %s tree corrupt (%d)",
					 ino, S_ISDIR(ip.mode) ? "directory" : "extent", rc);
				w.bad = 1;
			}
			side_block(ck, fs, ino, ip.xattr_blk, SFS_BT_XATTR, "xattr block", &w);
			side_block(ck, fs, ino, ip.symlink_blk, SFS_BT_SYMLINK, "symlink block",
				   &w);
			bc_drop_res(fs, sfs_owner_inode(ino));
		}
		if (w.bad)
			complete = false;
		inode_decoded_release(&ip);
	}
	/* Pass 2: directory entries, names and link counts. */
	for (uint64_t i = 0; fs && i < ck->ninodes; i++) {
		uint64_t ino = ck->inodes[i];
		if (!info[i].ok || !S_ISDIR(info[i].mode))
			continue;
		if (bdev_read(ck->dev, ino * SFS_BLOCK_SIZE, blk, SFS_BLOCK_SIZE))
			continue;
		struct sfs_inode ip;
		memset(&ip, 0, sizeof(ip));
		if (inode_block_decode(blk, ck->sb.uuid, ino, &ip))
			continue;
		struct iwalk w = {.ck = ck, .ino = ino, .info = info};
		struct btree_walk_ops bo = {.node = NULL, .rec = on_dir_rec};
		if (btree_walk(fs, &ip.fork, ino, &bo, &w) || w.bad)
			complete = false;
		bc_drop_res(fs, sfs_owner_inode(ino));
		inode_decoded_release(&ip);
	}
	for (uint64_t i = 0; fs && complete && i < ck->ninodes; i++) {
		struct iinfo *in = &info[i];
		uint64_t ino = ck->inodes[i];
		if (!in->ok)
			continue;
		bool root = ino == ck->sb.root_ino;
		if (root && in->parent != ino)
			fsck_say(ck, FSCK_ERROR, "root directory's '..' is %" PRIu64, in->parent);
		if (in->nlink == 0) {
			if (in->refs)
				fsck_say(ck, FSCK_ERROR,
					 "inode %" PRIu64 ": link count 0 but named by %u entries",
					 ino, in->refs);
			continue; /* an orphan: reclaimed at the next mount */
		}
		if (in->refs == 0 && !root) {
			fsck_say(ck, FSCK_ERROR,
				 "inode %" PRIu64 " (link count %u) is named by no directory", ino,
				 in->nlink);
			continue;
		}
		uint32_t want = S_ISDIR(in->mode) ? 2 + in->subdirs : in->refs;
		if (in->nlink != want) {
			bool ok = fix_nlink(ck, ino, want);
			fsck_say(ck, ok ? FSCK_FIXED : FSCK_ERROR,
				 "inode %" PRIu64 ": link count %u, should be %u%s", ino, in->nlink,
				 want, ok ? "; corrected" : "");
		}
	}
	free(info);
	if (fs)
		sfs_close(fs);
	ck->refs_complete = complete && fs != NULL;
	return 0;
}

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
 * reported; st_blocks must be 8 per block the inode holds (FORMAT-inode.md).
 * The walkers read through a read-only struct sfs (bc_read checks every
 * header). A repair walks first silently to list what fsck_repair.c repairs,
 * then once more to report (fsck_inodes). */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
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
#include "fs/xattr.h"

struct iinfo {
	uint32_t mode, nlink;
	uint32_t refs;	   /* directory entries naming it */
	uint32_t subdirs;  /* for a directory: entries naming directories */
	uint64_t parent;   /* for a directory: its ".." (fork aux) */
	uint64_t named_in; /* the directory whose entry names it (directories) */
	char *name;	   /* that entry's name (directories; owned) */
	bool ok;	   /* decoded */
	bool corrupt;	   /* its block failed its checks (repair drops it) */
	bool listed;	   /* INODE_LF_ORPHAN: its mount listed it as an orphan */
};

struct iwalk {
	struct fsck *ck;
	uint64_t ino;
	uint64_t blocks;
	int bad;
	bool badref; /* a block number outside the data area or on AG metadata */
	struct iinfo *info;
	struct fsck_fixes *fx; /* first walk of a repair: collect, change nothing */
	bool names_bad;	       /* a directory could not be read whole */
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

uint8_t fsck_dtype_of(uint32_t mode)
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
		w->names_bad = true;
		if (w->fx && fsck_fixes_bad_rec(w->fx, w->ino, k->hi, k->lo))
			return -ENOMEM;
		return 0;
	}
	int64_t t = idx_of(ck, r.ino);
	if (t < 0 || !w->info[t].ok) {
		/* Not an inode at all, or one whose block is corrupt (the
		 * repair drops it): the entry goes. A read error is left. */
		if (w->fx && (t < 0 || w->info[t].corrupt) && r.ino != ck->sb.root_ino &&
		    fsck_fixes_dent(w->fx, FSCK_DENT_INVALID, w->ino, r.ino, r.name))
			w->bad = 1;
		fsck_say(ck, FSCK_ERROR,
			 "directory %" PRIu64 ": entry '%s' names %" PRIu64
			 ", which is not a valid inode",
			 w->ino, r.name, r.ino);
		return 0;
	}
	struct iinfo *ti = &w->info[t];
	if (fsck_dtype_of(ti->mode) != r.dtype) {
		if (w->fx) {
			if (fsck_fixes_dent(w->fx, FSCK_DENT_RETYPE, w->ino, r.ino, r.name))
				return -ENOMEM;
			w->fx->dents[w->fx->ndents - 1].dtype = (uint8_t)fsck_dtype_of(ti->mode);
		}
		fsck_say(ck, FSCK_ERROR,
			 "directory %" PRIu64 ": entry '%s' has type %u, inode %" PRIu64
			 " is type %u",
			 w->ino, r.name, r.dtype, r.ino, fsck_dtype_of(ti->mode));
	}
	ti->refs++;
	if (S_ISDIR(ti->mode)) {
		int64_t d = idx_of(ck, w->ino);
		if (d >= 0)
			w->info[d].subdirs++;
		if (ti->refs > 1) {
			/* The name its '..' agrees with stays; else the first. */
			bool keep_new = w->ino == ti->parent && ti->named_in != ti->parent;
			const char *drop = keep_new ? ti->name : r.name;
			if (w->fx && drop &&
			    fsck_fixes_dent(w->fx, FSCK_DENT_EXTRA,
					    keep_new ? ti->named_in : w->ino, r.ino, drop))
				return -ENOMEM;
			fsck_say(ck, FSCK_ERROR,
				 "directory %" PRIu64 " has more than one name ('%s' in %" PRIu64
				 ")",
				 r.ino, r.name, w->ino);
			if (!keep_new)
				return 0;
		}
		/* '..' against this name is judged once every name is known. */
		ti->named_in = w->ino;
		free(ti->name);
		ti->name = strdup(r.name);
	}
	return 0;
}

int fsck_inode_set(struct fsck *ck, uint64_t ino, enum fsck_ifield f, uint64_t v)
{
	int r = bdev_read(ck->dev, ino * SFS_BLOCK_SIZE, ck->blk, SFS_BLOCK_SIZE);
	if (r)
		return r;
	struct sfs_inode ip;
	memset(&ip, 0, sizeof(ip));
	if (inode_block_decode(ck->blk, ck->sb.uuid, ino, &ip))
		return -EIO;
	switch (f) {
	case FSCK_IF_NLINK:
		ip.nlink = (uint32_t)v;
		break;
	case FSCK_IF_BLOCKS:
		ip.blocks = v;
		break;
	case FSCK_IF_PARENT:
		ip.fork.aux = v;
		break;
	case FSCK_IF_XATTR:
		ip.xattr_blk = v;
		ip.xattr_nblk = v ? ip.xattr_nblk : 0;
		break;
	case FSCK_IF_EMPTY_DIR:
		if (!S_ISDIR(ip.mode)) {
			inode_decoded_release(&ip);
			return -ENOTDIR;
		}
		ip.fork.root = 0;
		ip.fork.nrecs = 0;
		ip.fork.nnodes = 0;
		ip.fork.depth = 0;
		break;
	case FSCK_IF_UNORPHAN:
		ip.lflags &= (uint16_t)~INODE_LF_ORPHAN;
		break;
	}
	inode_encode(&ip, ck->blk);
	inode_decoded_release(&ip);
	sfs_blk_reseal(ck->blk);
	return bdev_write(ck->dev, ino * SFS_BLOCK_SIZE, ck->blk, SFS_BLOCK_SIZE);
}

/* Rewrite the link count (blocks: false) or st_blocks (true) of ino in place
 * (repair; the block is one inode's own, nothing else names the field). */
static bool fix_field(struct fsck *ck, uint64_t ino, bool blocks, uint64_t v)
{
	return ck->rw && !ck->mute &&
	       fsck_inode_set(ck, ino, blocks ? FSCK_IF_BLOCKS : FSCK_IF_NLINK, v) == 0;
}

/* Point the '..' of directory ino at parent in place (repair). */
static bool fix_parent(struct fsck *ck, uint64_t ino, uint64_t parent)
{
	return ck->rw && !ck->mute && fsck_inode_set(ck, ino, FSCK_IF_PARENT, parent) == 0;
}

/* Filesystem metadata at block b, when it is: the superblocks and slots
 * before the first AG, an AG's header and bitmaps. NULL for the data area. */
static const char *fs_meta_at(struct fsck *ck, uint64_t b, char *buf, size_t size)
{
	if (b < ck->sb.ag_start)
		return "filesystem metadata before the first AG (superblocks, slots, journals)";
	uint32_t ag = sfs_ag_of(&ck->sb, b);
	if (ag == UINT32_MAX || b - sfs_ag_base(&ck->sb, ag) >= sfs_ag_meta_blocks(&ck->sb))
		return NULL;
	snprintf(buf, size, "AG %u's header and bitmaps", ag);
	return buf;
}

/* An extent inside the device: its data-area runs are referenced; runs on
 * filesystem metadata are reported, and the repair unmaps them from the file
 * (the metadata keeps its blocks, fs/INTERNALS.md). */
static int extent_runs(struct iwalk *w, const struct sfs_extent *e)
{
	struct fsck *ck = w->ck;
	char b1[48], b2[48];
	for (uint64_t i = 0, j; i < e->len; i = j) {
		const char *what = fs_meta_at(ck, e->pblk + i, b1, sizeof(b1));
		for (j = i + 1; j < e->len; j++) {
			const char *next = fs_meta_at(ck, e->pblk + j, b2, sizeof(b2));
			if (!what != !next || (what && strcmp(what, next) != 0))
				break;
		}
		if (!what) {
			if (fsck_ref(ck, e->pblk + i, j - i, "extent", w->ino))
				w->bad = 1, w->badref = true;
			continue;
		}
		fsck_say(ck, FSCK_ERROR,
			 "inode %" PRIu64 ": extent blocks %" PRIu64 "+%" PRIu64
			 " (file block %" PRIu64 ") are %s",
			 w->ino, e->pblk + i, j - i, e->lblk + i, what);
		w->bad = 1;
		if (w->fx && fsck_fixes_unmap(w->fx, w->ino, e->lblk + i, e->pblk + i, j - i, what))
			return -ENOMEM;
	}
	return 0;
}

static int on_extent(void *arg, const struct sfs_extent *e)
{
	struct iwalk *w = arg;
	w->blocks += e->len;
	if (e->pblk < w->ck->sb.blocks && e->len <= w->ck->sb.blocks - e->pblk)
		return extent_runs(w, e);
	if (fsck_ref(w->ck, e->pblk, e->len, "extent", w->ino))
		w->bad = 1, w->badref = true;
	return 0;
}

static int on_ext_node(void *arg, uint64_t blkno, unsigned level)
{
	struct iwalk *w = arg;
	(void)level;
	if (fsck_ref(w->ck, blkno, 1, "extent tree node", w->ino))
		w->bad = 1, w->badref = true;
	w->blocks++;
	return 0;
}

static int on_dir_node(void *arg, uint64_t blkno, unsigned level, unsigned nrecs)
{
	struct iwalk *w = arg;
	(void)level;
	(void)nrecs;
	if (fsck_ref(w->ck, blkno, 1, "directory tree node", w->ino))
		w->bad = 1, w->badref = true;
	w->blocks++;
	return 0;
}

static bool on_orphan_list(struct fsck *ck, uint64_t ino)
{
	for (uint64_t k = 0; k + 1 < ck->norphans; k += 2)
		if (ck->orphans[k] == ino && ck->orphans[k + 1] != UINT64_MAX)
			return true;
	return false;
}

/* A block hanging off the inode by number (xattr, symlink tail): 0 when
 * fine or absent, -1 for a bad number (reported), 1 when the block fails its
 * checks (the caller reports it). */
static int side_block(struct fsck *ck, struct sfs *fs, uint64_t ino, uint64_t blk, uint16_t type,
		      const char *what, struct iwalk *w)
{
	if (!blk)
		return 0;
	if (fsck_ref(ck, blk, 1, what, ino)) {
		w->bad = 1;
		return -1;
	}
	struct buf *b;
	if (bc_read(fs, blk, type, sfs_owner_inode(ino), &b))
		return 1;
	bc_put(b);
	w->blocks++;
	return 0;
}

/* The xattr run of an inode: 0 when fine or absent, -1 for a bad range
 * (reported), 1 when a block or the entries fail their checks (the caller
 * reports it; a name both inline and in the run is such a failure: the run
 * goes), -ENOMEM. */
static int xattr_run(struct fsck *ck, struct sfs *fs, uint64_t ino, const struct sfs_inode *ip,
		     struct iwalk *w)
{
	if (!ip->xattr_blk)
		return 0;
	if (fsck_ref(ck, ip->xattr_blk, ip->xattr_nblk, "xattr block", ino)) {
		w->bad = 1;
		return -1;
	}
	uint8_t *area;
	size_t len, cap = (size_t)ip->xattr_nblk * XATTR_BLK_SIZE + ip->ixattr_len;
	int r = xattr_run_read(fs, ino, ip->xattr_blk, ip->xattr_nblk, cap, false, &area, &len);
	if (r == 0) {
		if (ip->ixattr_len)
			memcpy(area + len, ip->ixattr, ip->ixattr_len);
		r = xattr_area_check(area, len + ip->ixattr_len, ip->xattr_blk);
		free(area);
	}
	if (r == -ENOMEM)
		return r;
	if (r)
		return 1;
	w->blocks += ip->xattr_nblk;
	return 0;
}

/* Repair of a corrupt xattr run: the inode lets go of it (its extended
 * attributes beyond the inline area are lost; the file's data is not), and
 * its blocks are no longer referenced, so phase 5 frees them. st_blocks is
 * then corrected by the caller's check. */
static bool drop_xattr_run(struct fsck *ck, uint64_t ino, uint64_t xblk, unsigned n)
{
	if (!ck->rw || ck->mute || fsck_inode_set(ck, ino, FSCK_IF_XATTR, 0))
		return false;
	for (uint64_t b = xblk; b < xblk + n; b++)
		if (!(ck->dup[b >> 3] & (1u << (b & 7))))
			ck->refs[b >> 3] &= (uint8_t) ~(1u << (b & 7));
	return true;
}

/* One walk over every inode (passes 1 and 2 and the link counts). With fx
 * (first walk of a repair, ck->mute set) it changes nothing and lists in fx
 * what only the engine can repair: corrupt inode blocks, the entries naming
 * them, inodes named by no directory. */
static void free_info(struct fsck *ck, struct iinfo *info)
{
	for (uint64_t i = 0; i < ck->ninodes; i++)
		free(info[i].name);
	free(info);
}

/* Directory structure once every name is known: each directory's '..' names
 * the directory whose entry names it (fixed in place), and following those
 * entries up from any directory reaches the root: a cycle of directories cut
 * from it is reported, and the repair removes the entry closing the cycle and
 * reconnects that directory in /lost+found. Each directory is visited once. */
static int check_tree(struct fsck *ck, struct iinfo *info, struct fsck_fixes *fx)
{
	enum { UNKNOWN = 0, REACHED, ON_PATH, CUT };
	uint8_t *st = calloc(ck->ninodes ? ck->ninodes : 1, 1);
	uint64_t *path = malloc((ck->ninodes ? ck->ninodes : 1) * sizeof(*path));
	if (!st || !path) {
		free(st);
		free(path);
		return -ENOMEM;
	}
	int64_t root = idx_of(ck, ck->sb.root_ino);
	if (root >= 0)
		st[root] = REACHED;
	for (uint64_t i = 0; i < ck->ninodes; i++) {
		struct iinfo *in = &info[i];
		if (!in->ok || !S_ISDIR(in->mode) || in->refs == 0 || (int64_t)i == root)
			continue;
		if (in->parent != in->named_in) {
			bool ok = fix_parent(ck, ck->inodes[i], in->named_in);
			fsck_say(ck, ok ? FSCK_FIXED : FSCK_ERROR,
				 "directory %" PRIu64 " ('%s' in %" PRIu64
				 "): its '..' says %" PRIu64 "%s",
				 ck->inodes[i], in->name ? in->name : "?", in->named_in, in->parent,
				 ok ? "; corrected" : "");
		}
		if (st[i] != UNKNOWN)
			continue;
		uint64_t n = 0, cur = i;
		int res;
		for (;;) {
			if (st[cur] == REACHED || st[cur] == CUT) {
				res = st[cur];
				break;
			}
			if (st[cur] == ON_PATH) { /* back on the path: a cycle closes at cur */
				res = CUT;
				uint64_t ino = ck->inodes[cur];
				struct iinfo *c = &info[cur];
				fsck_say(ck, FSCK_ERROR,
					 "directory %" PRIu64 " ('%s' in %" PRIu64
					 ") is in a cycle of directories cut from the root",
					 ino, c->name ? c->name : "?", c->named_in);
				if (fx && c->name &&
				    (fsck_fixes_dent(fx, FSCK_DENT_CYCLE, c->named_in, ino,
						     c->name) ||
				     fsck_fixes_push(&fx->lost, &fx->nlost, &fx->caplost, ino))) {
					free(st);
					free(path);
					return -ENOMEM;
				}
				break;
			}
			st[cur] = ON_PATH;
			path[n++] = cur;
			int64_t up = info[cur].refs ? idx_of(ck, info[cur].named_in) : -1;
			if (up < 0 || !info[up].ok) {
				res = CUT; /* below an unnamed directory: reconnected with it */
				break;
			}
			cur = (uint64_t)up;
		}
		for (uint64_t k = 0; k < n; k++)
			st[path[k]] = (uint8_t)res;
	}
	free(st);
	free(path);
	return 0;
}

static int walk(struct fsck *ck, struct fsck_fixes *fx)
{
	/* Through fsck's own device: it may hold a journal replayed in memory. */
	struct sfs_mount_opts mo = {.readonly = true, .buffered = ck->o->buffered, .dev = ck->dev};
	struct sfs *fs = NULL;
	bool complete = true, names_bad = false;
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
			names_bad = true;
			continue;
		}
		struct sfs_inode ip;
		memset(&ip, 0, sizeof(ip));
		int dr = inode_block_decode(blk, ck->sb.uuid, ino, &ip);
		if (dr == -ENOMEM) { /* not the inode's fault: never cleared for it */
			free_info(ck, info);
			if (fs)
				sfs_close(fs);
			return -ENOMEM;
		}
		if (dr) {
			const char *why = NULL;
			sfs_blk_verify(blk, ck->sb.uuid, SFS_BT_INODE, ino, sfs_owner_inode(ino),
				       &why);
			fsck_say(ck, FSCK_ERROR, "inode %" PRIu64 ": %s", ino,
				 why ? why : "inode fields inconsistent");
			complete = false;
			info[i].corrupt = true;
			if (fx && ino == ck->sb.root_ino)
				fx->root_bad = true;
			if (fx && ino != ck->sb.root_ino &&
			    fsck_fixes_push(&fx->drop, &fx->ndrop, &fx->capdrop, ino)) {
				free_info(ck, info);
				if (fs)
					sfs_close(fs);
				return -ENOMEM;
			}
			continue;
		}
		info[i] = (struct iinfo){.mode = ip.mode,
					 .nlink = ip.nlink,
					 .ok = true,
					 .listed = ip.lflags & INODE_LF_ORPHAN,
					 .parent = S_ISDIR(ip.mode) ? ip.fork.aux : 0};
		if (ino == ck->sb.root_ino && !S_ISDIR(ip.mode))
			fsck_say(ck, FSCK_ERROR, "root inode %" PRIu64 " is not a directory", ino);
		struct iwalk w = {.ck = ck, .ino = ino, .info = info, .fx = fx};
		uint64_t dirnodes = 0, unmaps = fx ? fx->nunmap : 0;
		if (fs) {
			int rc;
			if (S_ISDIR(ip.mode)) {
				struct btree_walk_ops bo = {.node = on_dir_node, .rec = NULL};
				/* Entries are judged in pass 2, once every inode is known. */
				rc = btree_walk(fs, &ip.fork, ino, &bo, &w);
				dirnodes = w.blocks;
				if (rc)
					names_bad = true;
				if (rc && fx &&
				    fsck_fixes_push(&fx->reset, &fx->nreset, &fx->capreset, ino)) {
					inode_decoded_release(&ip);
					free_info(ck, info);
					sfs_close(fs);
					return -ENOMEM;
				}
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
			int xr = xattr_run(ck, fs, ino, &ip, &w);
			if (xr == -ENOMEM) {
				inode_decoded_release(&ip);
				free_info(ck, info);
				sfs_close(fs);
				return -ENOMEM;
			}
			if (xr < 0 && fx &&
			    fsck_fixes_push(&fx->xdrop, &fx->nxdrop, &fx->capxdrop, ino)) {
				inode_decoded_release(&ip);
				free_info(ck, info);
				sfs_close(fs);
				return -ENOMEM;
			}
			if (xr == 1) {
				bool ok = drop_xattr_run(ck, ino, ip.xattr_blk, ip.xattr_nblk);
				fsck_say(ck, ok ? FSCK_FIXED : FSCK_ERROR,
					 "inode %" PRIu64 ": xattr run %" PRIu64
					 " (%u blocks) unreadable or corrupt%s",
					 ino, ip.xattr_blk, ip.xattr_nblk,
					 ok ? "; dropped (the attributes it held are lost)" : "");
				if (!ok)
					w.bad = 1;
			}
			int sr = side_block(ck, fs, ino, ip.symlink_blk, SFS_BT_SYMLINK,
					    "symlink block", &w);
			if (sr == 1) {
				fsck_say(ck, FSCK_ERROR,
					 "inode %" PRIu64 ": symlink block %" PRIu64
					 " unreadable or corrupt",
					 ino, ip.symlink_blk);
				w.bad = 1;
			}
			/* An inode that cannot be kept as it is: a file whose extents
			 * cannot be read or name blocks outside the device, a
			 * symlink whose target is lost. The repair clears it as it
			 * does a corrupt inode block (a directory is emptied instead:
			 * the inodes it named survive). */
			bool clear = sr != 0 || (!S_ISDIR(ip.mode) && (rc || w.badref));
			if (S_ISDIR(ip.mode) && !rc && w.badref && fx &&
			    fsck_fixes_push(&fx->reset, &fx->nreset, &fx->capreset, ino)) {
				inode_decoded_release(&ip);
				free_info(ck, info);
				sfs_close(fs);
				return -ENOMEM;
			}
			if (clear && fx && ino != ck->sb.root_ino) {
				info[i].ok = false;
				info[i].corrupt = true;
				fx->nunmap = unmaps; /* cleared whole: no run unmapped */
				if (fsck_fixes_push(&fx->drop, &fx->ndrop, &fx->capdrop, ino)) {
					inode_decoded_release(&ip);
					free_info(ck, info);
					sfs_close(fs);
					return -ENOMEM;
				}
			}
			bc_drop_res(fs, sfs_owner_inode(ino));
			/* st_blocks (FORMAT-inode.md): 8 per block the inode holds;
			 * a directory's tree nodes are not counted. */
			uint64_t want = 8 * (w.blocks - dirnodes);
			if (!w.bad && ip.blocks != want) {
				bool ok = fix_field(ck, ino, true, want);
				fsck_say(ck, ok ? FSCK_FIXED : FSCK_ERROR,
					 "inode %" PRIu64 ": st_blocks %" PRIu64
					 ", its blocks make %" PRIu64 "%s",
					 ino, ip.blocks, want, ok ? "; corrected" : "");
			}
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
		struct iwalk w = {.ck = ck, .ino = ino, .info = info, .fx = fx};
		struct btree_walk_ops bo = {.node = NULL, .rec = on_dir_rec};
		if (btree_walk(fs, &ip.fork, ino, &bo, &w) || w.bad) {
			complete = false;
			names_bad = true;
		}
		if (w.names_bad)
			names_bad = true;
		bc_drop_res(fs, sfs_owner_inode(ino));
		inode_decoded_release(&ip);
	}
	/* Names are known for every inode when every directory was read whole
	 * (inodes only corrupt are dropped by the repair, and what they named
	 * has lost that name for good). */
	bool names_known = fs && !names_bad;
	bool judge = fs && (complete || (fx && names_known));
	for (uint64_t i = 0; !judge && i < ck->ninodes; i++)
		/* Else judged with the names below (a name or lost+found). */
		if (info[i].ok && info[i].nlink == 0 && !on_orphan_list(ck, ck->inodes[i]))
			fsck_say(ck, FSCK_ERROR,
				 "inode %" PRIu64 ": unlinked (nlink 0) but on no orphan list",
				 ck->inodes[i]);
	if (judge && check_tree(ck, info, fx) == -ENOMEM) {
		free_info(ck, info);
		sfs_close(fs);
		return -ENOMEM;
	}
	for (uint64_t i = 0; judge && i < ck->ninodes; i++) {
		struct iinfo *in = &info[i];
		uint64_t ino = ck->inodes[i];
		if (!in->ok)
			continue;
		bool root = ino == ck->sb.root_ino;
		if (root && in->parent != ino)
			fsck_say(ck, FSCK_ERROR, "root directory's '..' is %" PRIu64, in->parent);
		if (in->refs == 0 && !root && in->nlink == 0 && in->listed && !S_ISDIR(in->mode) &&
		    !on_orphan_list(ck, ino)) {
			/* Unlinked while open, its last close never came, and
			 * it was listed in memory only (the slot's orphan
			 * blocks were full) or in an orphan block fsck
			 * emptied: the user removed it, so it is freed as its
			 * orphan list would have had it freed, not brought
			 * back in lost+found. Link count 0 without the orphan
			 * flag is damage the engine never writes, and a
			 * directory may name more: those are reconnected. */
			if (fx &&
			    fsck_fixes_push(&fx->unlinked, &fx->nunlinked, &fx->capunlinked, ino)) {
				free_info(ck, info);
				sfs_close(fs);
				return -ENOMEM;
			}
			fsck_say(ck, FSCK_ERROR,
				 "inode %" PRIu64 ": unlinked (link count 0), named by nothing and "
				 "on no orphan list",
				 ino);
			continue;
		}
		if (in->refs == 0 && !root && !(in->nlink == 0 && on_orphan_list(ck, ino))) {
			/* Allocated, valid, named by nothing: lost+found. */
			if (fx && fsck_fixes_push(&fx->lost, &fx->nlost, &fx->caplost, ino)) {
				free_info(ck, info);
				sfs_close(fs);
				return -ENOMEM;
			}
			fsck_say(ck, FSCK_ERROR,
				 "inode %" PRIu64 " (link count %u) is named by no directory", ino,
				 in->nlink);
			continue;
		}
		if (in->nlink == 0 && in->refs == 0)
			continue; /* an orphan: reclaimed at the next mount */
		/* A link count of 0 with names is raised to them: the next mount
		 * then takes the inode off its orphan list instead of freeing it. */
		uint32_t want = S_ISDIR(in->mode) ? 2 + in->subdirs : in->refs;
		if (in->nlink != want) {
			bool ok = fix_field(ck, ino, false, want);
			fsck_say(ck, ok ? FSCK_FIXED : FSCK_ERROR,
				 "inode %" PRIu64 ": link count %u, should be %u%s", ino, in->nlink,
				 want, ok ? "; corrected" : "");
		}
		/* Named, flagged as an orphan, on no list (reconnected, its
		 * count raised, or listed in memory only for a truncation):
		 * left so, its next unlink would not list it and its free
		 * would fail to take it off a list, stopping the journal. */
		if (in->listed && !on_orphan_list(ck, ino)) {
			bool ok = ck->rw && !ck->mute &&
				  fsck_inode_set(ck, ino, FSCK_IF_UNORPHAN, 0) == 0;
			fsck_say(ck, ok ? FSCK_FIXED : FSCK_ERROR,
				 "inode %" PRIu64 ": marked as an orphan but on no orphan list%s",
				 ino, ok ? "; mark cleared" : "");
		}
	}
	free_info(ck, info);
	if (fs)
		sfs_close(fs);
	ck->refs_complete = complete && fs != NULL;
	return 0;
}

int fsck_fixes_push(uint64_t **v, uint64_t *n, uint64_t *cap, uint64_t x)
{
	if (*n == *cap) {
		uint64_t c = *cap ? *cap * 2 : 64;
		uint64_t *nv = realloc(*v, c * sizeof(**v));
		if (!nv)
			return -ENOMEM;
		*v = nv;
		*cap = c;
	}
	(*v)[(*n)++] = x;
	return 0;
}

int fsck_fixes_dent(struct fsck_fixes *fx, enum fsck_dent_fix fix, uint64_t dir, uint64_t ino,
		    const char *name)
{
	if (fx->ndents == fx->capdents) {
		uint64_t c = fx->capdents ? fx->capdents * 2 : 64;
		struct fsck_dent *nv = realloc(fx->dents, c * sizeof(*nv));
		if (!nv)
			return -ENOMEM;
		fx->dents = nv;
		fx->capdents = c;
	}
	struct fsck_dent *d = &fx->dents[fx->ndents++];
	memset(d, 0, sizeof(*d));
	d->fix = (uint8_t)fix;
	d->dir = dir;
	d->ino = ino;
	snprintf(d->name, sizeof(d->name), "%s", name);
	return 0;
}

int fsck_fixes_unmap(struct fsck_fixes *fx, uint64_t ino, uint64_t lblk, uint64_t pblk, uint64_t n,
		     const char *what)
{
	if (fx->nunmap == fx->capunmap) {
		uint64_t c = fx->capunmap ? fx->capunmap * 2 : 16;
		struct fsck_unmap *nv = realloc(fx->unmap, c * sizeof(*nv));
		if (!nv)
			return -ENOMEM;
		fx->unmap = nv;
		fx->capunmap = c;
	}
	struct fsck_unmap *u = &fx->unmap[fx->nunmap++];
	*u = (struct fsck_unmap){.ino = ino, .lblk = lblk, .pblk = pblk, .n = n};
	snprintf(u->what, sizeof(u->what), "%s", what);
	return 0;
}

int fsck_fixes_bad_rec(struct fsck_fixes *fx, uint64_t dir, uint64_t key_hi, uint64_t key_lo)
{
	int r = fsck_fixes_dent(fx, FSCK_DENT_BADREC, dir, 0, "");
	if (!r) {
		fx->dents[fx->ndents - 1].key_hi = key_hi;
		fx->dents[fx->ndents - 1].key_lo = key_lo;
	}
	return r;
}

static bool has_dup(struct fsck *ck)
{
	for (uint64_t i = 0; i < (ck->sb.blocks + 7) / 8; i++)
		if (ck->dup[i])
			return true;
	return false;
}

int fsck_inodes(struct fsck *ck)
{
	if (!ck->rw)
		return walk(ck, NULL);
	/* Repair: a first walk, silent, lists what only the engine can repair
	 * (names: entries removed, lost+found); those repairs are made through
	 * the engine, and a last walk then checks (and reports) everything,
	 * the repaired names included, and fixes counts in place. */
	int rc = 0;
	uint64_t mapbytes = (ck->sb.blocks + 7) / 8;
	/* A repair can reveal more to repair (an emptied directory leaves its
	 * entries' inodes unnamed): rounds until one repairs nothing, bounded. */
	for (int round = 0; round < 5 && rc == 0; round++) {
		struct fsck_fixes fx = {0};
		ck->mute = true;
		rc = walk(ck, &fx);
		ck->mute = false;
		unsigned fixed = ck->r->fixed;
		/* Unlinked inodes are freed in a round without blocks
		 * claimed twice: the repair of those settles first which
		 * claim keeps a block (freeing would take it from both). */
		if (has_dup(ck))
			fx.nunlinked = 0;
		bool names = fx.ndrop || fx.ndents || fx.nlost || fx.nreset || fx.nxdrop ||
			     fx.nunmap || fx.nunlinked || fx.root_bad;
		if (rc == 0 && names)
			rc = fsck_repair_names(ck, &fx);
		/* Blocks referenced twice once the names stand (a repair of
		 * names may clear one claimant): all claimants known. */
		else if (rc == 0 && has_dup(ck))
			rc = fsck_repair_dups(ck);
		free(fx.drop);
		free(fx.dents);
		free(fx.lost);
		free(fx.unlinked);
		free(fx.reset);
		free(fx.xdrop);
		free(fx.unmap);
		memset(ck->refs, 0, mapbytes);
		memset(ck->dup, 0, mapbytes);
		if (ck->r->fixed == fixed)
			break;
	}
	if (rc)
		return rc;
	return walk(ck, NULL);
}

/* fsck repairs of names (fs/INTERNALS.md "fsck and lost+found"): what the
 * first inode walk of `fsck --repair` listed (fsck_inode.c) and only the
 * engine can change, because it means editing directory trees:
 *  - entries naming a number that is not an inode, or an inode whose block is
 *    corrupt, are removed from their directory;
 *  - a file's extent runs on filesystem metadata (superblocks, slots, an AG's
 *    header and bitmaps) are unmapped from the file, the metadata untouched;
 *  - inodes that cannot be kept (block corrupt; a file whose extents cannot be
 *    read or name blocks outside the device; a symlink whose target block
 *    is corrupt; never the root) leave the inode and block bitmaps; what hung
 *    off them is then referenced by nothing and phase 5 frees it, so only
 *    blocks no valid inode references are freed;
 *  - records that do not decode are removed by their key; a directory whose
 *    tree is corrupt is emptied (written in place, before the engine mounts);
 *    an invalid xattr block number is dropped; a corrupt root is made anew;
 *  - valid inodes named by no directory get the name '#INO' in /lost+found
 *    (created, mode 0700, when absent); a directory reconnected gets its '..'
 *    pointed there, a file gets link count 1 (its only name now).
 * Blocks referenced twice are repaired here too, through the engine (see
 * fsck_repair_dups below).
 * The engine is mounted read-write in local mode for this, with no orphan
 * reclaim (fsck reports orphans, it does not finish them). Before that, every
 * block the first walk found referenced is marked in use, so the allocator
 * cannot hand out a block some inode still uses. A repair that fails is
 * reported as INFO: the second walk reports the problem as an ERROR. */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "blockdev/bdev.h"
#include "fs/alloc.h"
#include "fs/bcache.h"
#include "fs/btree.h"
#include "fs/dir.h"
#include "fs/extent.h"
#include "fs/fsck_int.h"
#include "fs/inode.h"
#include "fs/inode_format.h"
#include "fs/jnl.h"
#include "fs/mkfs.h"
#include "fs/sfs.h"
#include "locks/lcl.h"

#define LOST_FOUND "lost+found"

static const char *kind_of(uint32_t mode)
{
	return S_ISDIR(mode)   ? "directory"
	       : S_ISREG(mode) ? "file"
	       : S_ISLNK(mode) ? "symlink"
			       : "special file";
}

/* Blocks one name change may add to a transaction: two inodes (the directory,
 * the inode named) and the directory tree. */
static unsigned txn_blocks(void)
{
	return 2 * inode_write_max_blocks() + dir_max_blocks_per_op() + 8;
}

/* Finish a handle: commit it, or abort it (which stops the journal: the
 * caller makes no further change then). */
static int finish(struct txn *t, int r)
{
	if (r) {
		txn_abort(t);
		return r;
	}
	return txn_end(t, NULL);
}

static int remove_entry(struct fsck *ck, struct sfs *fs, const struct fsck_dent *d)
{
	struct sfs_inode *dir;
	int r = inode_get(fs, d->dir, &dir);
	if (r)
		return r;
	struct txn *t;
	r = txn_begin(fs, txn_blocks(), &t);
	if (r) {
		inode_put(fs, dir);
		return r;
	}
	if (d->fix == FSCK_DENT_BADREC) {
		/* A record that does not decode has no name to remove it by. */
		struct btree bt;
		struct btree_key k = {.hi = d->key_hi, .lo = d->key_lo};
		btree_open(&bt, fs, &dir->fork, dir->ino);
		r = btree_delete(&bt, t, &k, NULL, 0, NULL);
	} else {
		/* Still the entry the walk saw? Asked before anything changes
		 * (a failed change would abort the journal). */
		uint64_t cur;
		uint8_t dt;
		r = dir_lookup(fs, dir, d->name, strlen(d->name), &cur, &dt);
		if (!r && cur != d->ino)
			r = -ESTALE;
		if (r) {
			txn_abort(t); /* no buffer added: aborts alone */
			inode_put(fs, dir);
			return r;
		}
		if (d->fix == FSCK_DENT_RETYPE)
			r = dir_set(fs, t, dir, d->name, strlen(d->name), d->ino, d->dtype);
		else
			r = dir_remove(fs, t, dir, d->name, strlen(d->name), NULL);
	}
	if (!r) {
		inode_now(&dir->mtime);
		dir->ctime = dir->mtime;
		r = inode_write(fs, t, dir);
	}
	r = finish(t, r);
	inode_put(fs, dir);
	if (r)
		return r;
	switch (d->fix) {
	case FSCK_DENT_BADREC:
		fsck_say(ck, FSCK_FIXED,
			 "directory %" PRIu64 ": corrupt entry (key %016" PRIx64 ":%016" PRIx64
			 ") removed",
			 d->dir, d->key_hi, d->key_lo);
		break;
	case FSCK_DENT_RETYPE:
		fsck_say(ck, FSCK_FIXED,
			 "directory %" PRIu64 ": entry '%s' (inode %" PRIu64
			 ") had the wrong type; set to %u",
			 d->dir, d->name, d->ino, d->dtype);
		break;
	case FSCK_DENT_EXTRA:
		fsck_say(ck, FSCK_FIXED,
			 "directory %" PRIu64 ": entry '%s' was a second name of directory %" PRIu64
			 "; removed",
			 d->dir, d->name, d->ino);
		break;
	case FSCK_DENT_CYCLE:
		fsck_say(ck, FSCK_FIXED,
			 "directory %" PRIu64 ": entry '%s' closed a cycle of directories cut from "
			 "the root (%" PRIu64 "); removed",
			 d->dir, d->name, d->ino);
		break;
	default:
		fsck_say(ck, FSCK_FIXED,
			 "directory %" PRIu64 ": entry '%s' named %" PRIu64
			 ", which is not a valid inode; entry removed",
			 d->dir, d->name, d->ino);
	}
	return 0;
}

/* /lost+found: found or created. *created says which. */
static int lost_found(struct fsck *ck, struct sfs *fs, struct sfs_inode *root,
		      struct sfs_inode **out, bool *created)
{
	uint64_t ino;
	uint8_t dt;
	*created = false;
	int r = dir_lookup(fs, root, LOST_FOUND, strlen(LOST_FOUND), &ino, &dt);
	if (r == 0) {
		if (dt != DT_DIR)
			return -ENOTDIR;
		r = inode_get(fs, ino, out);
		if (!r && !S_ISDIR((*out)->mode)) {
			inode_put(fs, *out);
			return -ENOTDIR;
		}
		return r;
	}
	if (r != -ENOENT)
		return r;
	struct txn *t;
	r = txn_begin(fs, txn_blocks(), &t);
	if (r)
		return r;
	struct sfs_inode *lf = NULL;
	r = inode_create(fs, t, root, S_IFDIR | 0700, 0, 0, 0, &lf);
	if (!r)
		r = dir_init(fs, t, lf, root->ino);
	if (!r)
		r = dir_add(fs, t, root, LOST_FOUND, strlen(LOST_FOUND), lf->ino, DT_DIR);
	if (!r) {
		root->nlink++;
		inode_now(&root->mtime);
		root->ctime = root->mtime;
		r = inode_write(fs, t, root);
	}
	if (!r)
		r = inode_write(fs, t, lf);
	r = finish(t, r);
	if (r) {
		if (lf)
			inode_put(fs, lf);
		return r;
	}
	fsck_say(ck, FSCK_FIXED, "/" LOST_FOUND " created (inode %" PRIu64 ")", lf->ino);
	*out = lf;
	*created = true;
	return 0;
}

static int reconnect(struct fsck *ck, struct sfs *fs, struct sfs_inode *lf, uint64_t ino)
{
	struct sfs_inode *ip;
	int r = inode_get(fs, ino, &ip);
	if (r)
		return r;
	char name[32];
	snprintf(name, sizeof(name), "#%" PRIu64, ino);
	uint32_t was = ip->nlink;
	struct txn *t;
	r = txn_begin(fs, txn_blocks(), &t);
	if (r) {
		if (ip->nlink == 0)
			ip->nlink = 1; /* in core only: inode_put must not free it */
		inode_put(fs, ip);
		return r;
	}
	r = dir_add(fs, t, lf, name, strlen(name), ino, fsck_dtype_of(ip->mode));
	if (!r && S_ISDIR(ip->mode)) {
		/* Its '..' now names lost+found, which gains a subdirectory. */
		r = dir_set(fs, t, ip, "..", 2, lf->ino, DT_DIR);
		lf->nlink++;
		if (ip->nlink < 2)
			ip->nlink = 2; /* the second walk counts its subdirectories */
	} else if (!r) {
		ip->nlink = 1; /* the one name it has now */
	}
	if (!r) {
		inode_now(&lf->mtime);
		lf->ctime = lf->mtime;
		ip->ctime = lf->mtime;
		r = inode_write(fs, t, lf);
	}
	if (!r)
		r = inode_write(fs, t, ip);
	r = finish(t, r);
	if (!r)
		fsck_say(ck, FSCK_FIXED,
			 "inode %" PRIu64 " (%s, link count %u) unreachable from the root; "
			 "reconnected as /" LOST_FOUND "/%s",
			 ino, kind_of(ip->mode), was, name);
	else if (ip->nlink == 0)
		ip->nlink = 1; /* in core only: inode_put must not free what stays lost */
	inode_put(fs, ip);
	return r;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* The engine mounted read-write for repairs: local mode, slot 0, the inode
 * part's ops without orphan reclaim (fsck reports orphans, it does not
 * finish them). what names the repairs in the INFO line of a failure. 0, or
 * -1 when it could not be mounted (reported). */
static int repair_mount(struct fsck *ck, const char *what, struct lcl **lcl, struct sfs **fs)
{
	struct sfs_ops ops = {0};
	inode_sfs_ops(&ops);
	ops.reclaim = NULL;
	struct sfs_mount_opts mo = {
	    .local = true, .hb_wait_ms = 1, .buffered = ck->o->buffered, .ops = &ops};
	*lcl = NULL;
	*fs = NULL;
	if (lcl_create_local(lcl)) {
		fsck_say(ck, FSCK_INFO, "%s not repaired: out of memory", what);
		return -1;
	}
	if (sfs_open(ck->path, &mo, *lcl, fs)) {
		fsck_say(ck, FSCK_INFO, "%s not repaired: cannot mount to repair: %s", what,
			 sfs_last_error());
		lcl_destroy(*lcl);
		return -1;
	}
	return 0;
}

static void repair_unmount(struct fsck *ck, const char *what, struct lcl *lcl, struct sfs *fs)
{
	if (sfs_close(fs))
		fsck_say(ck, FSCK_INFO, "unmounting after the repairs of %s failed", what);
	lcl_destroy(lcl);
}

/* Unmap file blocks [lblk, lblk+n) of ip, one extent's run, without freeing
 * the device blocks (metadata holds them): a hole that reads zeros. */
static int unmap_run(struct sfs *fs, struct sfs_inode *ip, uint64_t lblk, uint64_t n)
{
	struct txn *t;
	int r = txn_begin(fs, extent_op_blocks(ip) + inode_write_max_blocks() + 4, &t);
	if (r)
		return r;
	bool more;
	r = extent_remove(fs, t, ip, lblk, n, 1, false, &more);
	if (!r && more)
		r = -EIO; /* the run lies inside one extent: never */
	if (!r) {
		ip->blocks -= ip->blocks >= 8 * n ? 8 * n : ip->blocks;
		inode_now(&ip->ctime);
		r = inode_write(fs, t, ip);
	}
	return finish(t, r);
}

/* A file's extent run on filesystem metadata (superblocks, slots, an AG's
 * header and bitmaps) leaves the file; the metadata keeps its blocks. */
static int unmap_meta(struct fsck *ck, struct sfs *fs, const struct fsck_unmap *u)
{
	struct sfs_inode *ip;
	int r = inode_get(fs, u->ino, &ip);
	if (r)
		return r;
	uint32_t nlink = ip->nlink;
	r = unmap_run(fs, ip, u->lblk, u->n);
	if (nlink == 0)
		ip->nlink = 1; /* in core only: the next mount reclaims an orphan */
	inode_put(fs, ip);
	if (!r)
		fsck_say(ck, FSCK_FIXED,
			 "inode %" PRIu64 ": extent blocks %" PRIu64 "+%" PRIu64
			 " (file block %" PRIu64
			 ") are %s; unmapped from the file (it reads zeros there)",
			 u->ino, u->pblk, u->n, u->lblk, u->what);
	return r;
}

/* Through the engine: entries removed, lost inodes reconnected. *lf_new gets
 * the inode of a /lost+found created (0: none). */
static void engine_repairs(struct fsck *ck, struct fsck_fixes *fx, uint64_t *lf_new)
{
	struct lcl *lcl;
	struct sfs *fs;
	if (repair_mount(ck, "names", &lcl, &fs))
		return;
	int r = 0;
	for (uint64_t i = 0; i < fx->nunmap && r != -EIO; i++) {
		r = unmap_meta(ck, fs, &fx->unmap[i]);
		if (r)
			fsck_say(ck, FSCK_INFO,
				 "inode %" PRIu64 ": extent blocks %" PRIu64 "+%" PRIu64
				 " not unmapped: %s",
				 fx->unmap[i].ino, fx->unmap[i].pblk, fx->unmap[i].n, strerror(-r));
	}
	if (fx->root_bad && r != -EIO) {
		/* As mkfs makes it; what it named is reconnected below. */
		r = mkfs_root_default(fs, sfs_root_ino(fs), NULL);
		if (r)
			fsck_say(ck, FSCK_INFO, "root inode %" PRIu64 " not made anew: %s",
				 sfs_root_ino(fs), strerror(-r));
		else
			fsck_say(ck, FSCK_FIXED,
				 "root inode %" PRIu64 " corrupt; made anew as an empty directory "
				 "(what it named goes to /" LOST_FOUND ")",
				 sfs_root_ino(fs));
	}
	for (uint64_t i = 0; i < fx->ndents && r != -EIO; i++) {
		r = remove_entry(ck, fs, &fx->dents[i]);
		if (r)
			fsck_say(ck, FSCK_INFO, "directory %" PRIu64 ": entry '%s' not removed: %s",
				 fx->dents[i].dir,
				 fx->dents[i].fix != FSCK_DENT_BADREC ? fx->dents[i].name
								      : "(corrupt)",
				 strerror(-r));
	}
	struct sfs_inode *root = NULL, *lf = NULL;
	bool created = false;
	if (fx->nlost && r != -EIO) {
		r = inode_get(fs, sfs_root_ino(fs), &root);
		if (!r)
			r = lost_found(ck, fs, root, &lf, &created);
		if (r)
			fsck_say(ck, FSCK_INFO,
				 "%" PRIu64 " inode(s) not reconnected: /" LOST_FOUND ": %s",
				 fx->nlost, strerror(-r));
	}
	if (created)
		*lf_new = lf->ino;
	for (uint64_t i = 0; lf && i < fx->nlost; i++) {
		if (fx->lost[i] == lf->ino)
			continue; /* never: it was found by its name; a guard against naming itself
				   */
		r = reconnect(ck, fs, lf, fx->lost[i]);
		if (r)
			fsck_say(ck, FSCK_INFO, "inode %" PRIu64 " not reconnected: %s",
				 fx->lost[i], strerror(-r));
		if (r == -EIO)
			break; /* the journal may be aborted: nothing more goes through it */
	}
	if (lf)
		inode_put(fs, lf);
	if (root)
		inode_put(fs, root);
	repair_unmount(ck, "names", lcl, fs);
}

/* A directory whose tree is corrupt loses it: the fork is made empty in the
 * inode block (its '..' kept), written in place before the engine mounts. */
static int empty_dir(struct fsck *ck, uint64_t ino)
{
	return fsck_inode_set(ck, ino, FSCK_IF_EMPTY_DIR, 0);
}

/* An inode whose xattr block number points outside the data area lets go of
 * it (st_blocks is then corrected by the last walk). */
static int drop_xattr_ptr(struct fsck *ck, uint64_t ino)
{
	return fsck_inode_set(ck, ino, FSCK_IF_XATTR, 0);
}

int fsck_repair_names(struct fsck *ck, struct fsck_fixes *fx)
{
	if (ck->journal_dirty) {
		fsck_say(ck, FSCK_INFO, "names not repaired: a journal was not replayed");
		return 0;
	}
	fsck_mark_referenced(ck);
	for (uint64_t i = 0; i < fx->nreset; i++) {
		int r = empty_dir(ck, fx->reset[i]);
		if (r)
			fsck_say(ck, FSCK_INFO, "directory %" PRIu64 " not emptied: %s",
				 fx->reset[i], strerror(-r));
		else
			fsck_say(ck, FSCK_FIXED,
				 "directory %" PRIu64
				 ": tree corrupt; emptied (the inodes it named "
				 "go to /" LOST_FOUND ", its blocks are freed as unreferenced)",
				 fx->reset[i]);
	}
	for (uint64_t i = 0; i < fx->nxdrop; i++) {
		int r = drop_xattr_ptr(ck, fx->xdrop[i]);
		if (r)
			fsck_say(ck, FSCK_INFO, "inode %" PRIu64 ": xattr block not dropped: %s",
				 fx->xdrop[i], strerror(-r));
		else
			fsck_say(ck, FSCK_FIXED,
				 "inode %" PRIu64 ": xattr block number invalid; dropped (the "
				 "attributes it held are lost)",
				 fx->xdrop[i]);
	}
	uint64_t lf_new = 0;
	if (fx->ndents || fx->nlost || fx->root_bad || fx->nunmap)
		engine_repairs(ck, fx, &lf_new);
	/* The corrupt inode blocks, once nothing names them. */
	uint64_t kept = 0;
	for (uint64_t i = 0; i < fx->ndrop; i++) {
		uint64_t ino = fx->drop[i];
		int r = fsck_drop_inode(ck, ino);
		if (r) {
			fsck_say(ck, FSCK_INFO, "corrupt inode %" PRIu64 " not cleared: %s", ino,
				 strerror(-r));
			continue;
		}
		fsck_say(ck, FSCK_FIXED,
			 "inode %" PRIu64 ": corrupt, cleared (blocks only it used are freed as "
			 "unreferenced)",
			 ino);
		fx->drop[kept++] = ino;
	}
	/* ck->inodes without the inodes cleared, with the new lost+found. */
	uint64_t n = 0;
	for (uint64_t i = 0; i < ck->ninodes; i++)
		if (!(kept && bsearch(&ck->inodes[i], fx->drop, kept, sizeof(uint64_t), cmp_u64)))
			ck->inodes[n++] = ck->inodes[i];
	ck->ninodes = n;
	if (lf_new && fsck_fixes_push(&ck->inodes, &ck->ninodes, &ck->capinodes, lf_new))
		return -ENOMEM;
	if (ck->ninodes)
		qsort(ck->inodes, ck->ninodes, sizeof(uint64_t), cmp_u64);
	ck->r->inodes = ck->ninodes;
	fsck_recheck_orphans(ck);
	return 0;
}

/* ---- blocks claimed twice (fs/INTERNALS.md "fsck and lost+found") ----
 *
 * As e2fsck's passes 1B-1D, in our own shape: the walk marked every block
 * referenced more than once in ck->dup; a second scan of every inode lists
 * each claim of such a block (which inode, as what: file data at which file
 * block, or a metadata structure); per block one claimant keeps it (the
 * metadata structure when there is one, else the first claim in inode order)
 * and every other data claim lets go of it: a file sharing data with another
 * file gets a private copy, a file whose data lies on a metadata block has
 * that range unmapped. Both go through the engine, one handle per change. */

struct claim {
	uint64_t blk;	  /* the device block claimed */
	uint64_t seq;	  /* order of the claim in the scan (inode order) */
	uint64_t ino;	  /* the claimant */
	uint64_t lblk;	  /* file data: the file block */
	uint64_t elblk;	  /* file data: first file block of the extent */
	uint32_t flags;	  /* file data: the extent's flags */
	const char *what; /* NULL: file data; else the metadata structure */
};

/* What one inode has to change for a run of blocks of one extent. */
struct dup_fix {
	uint64_t ino, lblk, pblk, n, elblk;
	uint32_t flags;
	uint64_t keeper;	 /* the inode that keeps the blocks */
	const char *keeper_what; /* NULL: its file data; else its metadata */
};

struct claims {
	struct fsck *ck;
	struct claim *v;
	uint64_t n, cap, seq;
	uint64_t ino; /* the inode being scanned */
	int err;
};

static bool is_dup(struct fsck *ck, uint64_t b)
{
	return b < ck->sb.blocks && (ck->dup[b >> 3] >> (b & 7)) & 1;
}

static void claim_add(struct claims *c, uint64_t blk, const char *what, const struct sfs_extent *e,
		      uint64_t lblk)
{
	if (c->err)
		return;
	if (c->n == c->cap) {
		uint64_t cap = c->cap ? 2 * c->cap : 64;
		struct claim *nv = realloc(c->v, cap * sizeof(*nv));
		if (!nv) {
			c->err = -ENOMEM;
			return;
		}
		c->v = nv;
		c->cap = cap;
	}
	c->v[c->n++] = (struct claim){.blk = blk,
				      .seq = c->seq++,
				      .ino = c->ino,
				      .lblk = lblk,
				      .elblk = e ? e->lblk : 0,
				      .flags = e ? e->flags : 0,
				      .what = what};
}

static void claim_meta(struct claims *c, uint64_t blk, const char *what)
{
	if (is_dup(c->ck, blk))
		claim_add(c, blk, what, NULL, 0);
}

static int on_dup_extent(void *arg, const struct sfs_extent *e)
{
	struct claims *c = arg;
	for (uint64_t i = 0; i < e->len && !c->err; i++)
		if (is_dup(c->ck, e->pblk + i))
			claim_add(c, e->pblk + i, NULL, e, e->lblk + i);
	return c->err;
}

static int on_dup_ext_node(void *arg, uint64_t blkno, unsigned level)
{
	(void)level;
	claim_meta(arg, blkno, "extent tree node");
	return ((struct claims *)arg)->err;
}

static int on_dup_dir_node(void *arg, uint64_t blkno, unsigned level, unsigned nrecs)
{
	(void)level;
	(void)nrecs;
	claim_meta(arg, blkno, "directory tree node");
	return ((struct claims *)arg)->err;
}

static bool side_valid(struct sfs *fs, uint64_t blk, uint16_t type, uint64_t ino)
{
	struct buf *b;
	if (!blk || blk >= fs->sb.blocks || bc_read(fs, blk, type, sfs_owner_inode(ino), &b))
		return false;
	bc_put(b);
	return true;
}

/* Every claim of a block marked in ck->dup, in inode order, through a
 * read-only mount (as the walk reads). 0, -ENOMEM, or -EIO when an inode
 * the walk read cannot be read now. */
static int dup_scan(struct fsck *ck, struct claims *c)
{
	struct sfs_mount_opts mo = {.readonly = true, .buffered = ck->o->buffered};
	struct sfs *fs;
	if (sfs_open(ck->path, &mo, NULL, &fs))
		return -EIO;
	int rc = 0;
	for (uint64_t i = 0; i < ck->ninodes && !rc; i++) {
		uint64_t ino = ck->inodes[i];
		struct sfs_inode ip;
		memset(&ip, 0, sizeof(ip));
		if (bdev_read(ck->dev, ino * SFS_BLOCK_SIZE, ck->blk, SFS_BLOCK_SIZE) ||
		    inode_block_decode(ck->blk, ck->sb.uuid, ino, &ip)) {
			rc = -EIO;
			break;
		}
		c->ino = ino;
		claim_meta(c, ino, "inode block");
		if (S_ISDIR(ip.mode)) {
			struct btree_walk_ops bo = {.node = on_dup_dir_node};
			rc = btree_walk(fs, &ip.fork, ino, &bo, c);
		} else {
			struct extent_walk_ops eo = {.extent = on_dup_extent,
						     .node = on_dup_ext_node};
			rc = extent_walk(fs, &ip, &eo, c);
		}
		/* A side block holds the block only when it is what it claims
		 * to be: a corrupt xattr block is dropped by the last walk. */
		if (side_valid(fs, ip.xattr_blk, SFS_BT_XATTR, ino))
			claim_meta(c, ip.xattr_blk, "xattr block");
		if (side_valid(fs, ip.symlink_blk, SFS_BT_SYMLINK, ino))
			claim_meta(c, ip.symlink_blk, "symlink block");
		if (c->err)
			rc = c->err;
		bc_drop_res(fs, sfs_owner_inode(ino));
		inode_decoded_release(&ip);
	}
	sfs_close(fs);
	return rc;
}

static int cmp_claim(const void *a, const void *b)
{
	const struct claim *x = a, *y = b;
	if (x->blk != y->blk)
		return x->blk < y->blk ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static int cmp_fix(const void *a, const void *b)
{
	const struct dup_fix *x = a, *y = b;
	if (x->ino != y->ino)
		return x->ino < y->ino ? -1 : 1;
	return x->lblk < y->lblk ? -1 : x->lblk > y->lblk;
}

/* Per block, who keeps it and which data claims let go of it: one dup_fix
 * per block, sorted by inode and file block, then runs of one extent with
 * the same keeper merged. *out is malloc'ed (the caller frees it). A block
 * held by two metadata structures is reported and left. */
static int dup_decide(struct fsck *ck, struct claims *c, struct dup_fix **out, uint64_t *nout)
{
	struct dup_fix *v = malloc((c->n ? c->n : 1) * sizeof(*v));
	if (!v)
		return -ENOMEM;
	uint64_t n = 0;
	qsort(c->v, c->n, sizeof(*c->v), cmp_claim);
	for (uint64_t i = 0, j; i < c->n; i = j) {
		uint64_t meta = 0, keep = i;
		for (j = i; j < c->n && c->v[j].blk == c->v[i].blk; j++)
			if (c->v[j].what && meta++ == 0)
				keep = j;
		if (j - i < 2)
			continue; /* its other claimant is gone (cleared by a repair) */
		if (meta > 1) {
			fsck_say(ck, FSCK_INFO,
				 "block %" PRIu64 " is held by %" PRIu64
				 " metadata structures; not repaired (no structure is copied)",
				 c->v[i].blk, meta);
			continue;
		}
		for (uint64_t k = i; k < j; k++) {
			const struct claim *x = &c->v[k];
			if (k == keep)
				continue;
			v[n++] = (struct dup_fix){.ino = x->ino,
						  .lblk = x->lblk,
						  .pblk = x->blk,
						  .n = 1,
						  .elblk = x->elblk,
						  .flags = x->flags,
						  .keeper = c->v[keep].ino,
						  .keeper_what = c->v[keep].what};
		}
	}
	qsort(v, n, sizeof(*v), cmp_fix);
	uint64_t m = 0;
	for (uint64_t i = 0; i < n; i++) {
		struct dup_fix *p = m ? &v[m - 1] : NULL;
		if (p && p->ino == v[i].ino && p->elblk == v[i].elblk &&
		    p->lblk + p->n == v[i].lblk && p->pblk + p->n == v[i].pblk &&
		    p->keeper == v[i].keeper && p->keeper_what == v[i].keeper_what)
			p->n++;
		else
			v[m++] = v[i];
	}
	*out = v;
	*nout = m;
	return 0;
}

/* Blocks copied per handle (the copy buffer is this many blocks). */
#define DUP_COPY_MAX 256u

/* Give inode ip private copies of f's blocks: allocate, copy the contents,
 * point the file blocks at the copies, one handle per run allocated. 0,
 * -ENOSPC (reported as INFO, nothing changed for the rest), or another
 * error (after which the journal may be aborted). */
static int dup_copy(struct fsck *ck, struct sfs *fs, struct sfs_inode *ip, const struct dup_fix *f,
		    uint8_t *buf)
{
	uint64_t done = 0;
	while (done < f->n) {
		uint64_t lblk = f->lblk + done, old = f->pblk + done;
		uint32_t want = (uint32_t)(f->n - done < DUP_COPY_MAX ? f->n - done : DUP_COPY_MAX);
		struct txn *t;
		int r = txn_begin(
		    fs, 2 * extent_op_blocks(ip) + ALLOC_MAX_BLOCKS + inode_write_max_blocks() + 4,
		    &t);
		if (r)
			return r;
		uint64_t start;
		uint32_t got;
		r = alloc_blocks(fs, t, extent_goal(fs, ip, lblk), want, 1, &start, &got);
		if (r) {
			txn_abort(t); /* nothing added: aborts alone */
			if (r == -ENOSPC)
				fsck_say(ck, FSCK_INFO,
					 "inode %" PRIu64 ": blocks %" PRIu64 "+%" PRIu64
					 " shared with inode %" PRIu64
					 " not copied: no space left for the copy",
					 f->ino, old, f->n - done, f->keeper);
			return r;
		}
		r = bdev_read(fs->dev, old * SFS_BLOCK_SIZE, buf, (size_t)got * SFS_BLOCK_SIZE);
		if (!r)
			r = bdev_write(fs->dev, start * SFS_BLOCK_SIZE, buf,
				       (size_t)got * SFS_BLOCK_SIZE);
		if (r) {
			/* Nothing points at the new blocks yet: give them back. */
			return finish(t, alloc_free(fs, t, start, got)) ? -EIO : r;
		}
		jnl_note_data(fs); /* ordered data: the copy is on the device before the commit */
		bool more;
		struct sfs_extent e = {.lblk = lblk, .pblk = start, .len = got, .flags = f->flags};
		r = extent_remove(fs, t, ip, lblk, got, 1, false, &more);
		if (!r && more)
			r = -EIO; /* the run lies inside one extent: never */
		if (!r)
			r = extent_insert(fs, t, ip, &e);
		if (!r) {
			inode_now(&ip->ctime);
			r = inode_write(fs, t, ip);
		}
		r = finish(t, r);
		if (r)
			return r;
		fsck_say(ck, FSCK_FIXED,
			 "inode %" PRIu64 ": blocks %" PRIu64 "+%u (file block %" PRIu64
			 ") shared with inode %" PRIu64 "; copied to %" PRIu64 "+%u",
			 f->ino, old, got, lblk, f->keeper, start, got);
		done += got;
	}
	return 0;
}

/* Unmap f's blocks from inode ip: they hold a metadata structure, which
 * keeps them; the file reads zeros there (a hole). */
static int dup_unmap(struct fsck *ck, struct sfs *fs, struct sfs_inode *ip, const struct dup_fix *f)
{
	int r = unmap_run(fs, ip, f->lblk, f->n);
	if (!r)
		fsck_say(ck, FSCK_FIXED,
			 "inode %" PRIu64 ": blocks %" PRIu64 "+%" PRIu64 " (file block %" PRIu64
			 ") are the %s of inode %" PRIu64
			 ", which keeps them; unmapped from the file (it reads zeros there)",
			 f->ino, f->pblk, f->n, f->lblk, f->keeper_what, f->keeper);
	return r;
}

/* The changes of dup_decide, through the engine. */
static void dup_repair(struct fsck *ck, const struct dup_fix *v, uint64_t n)
{
	fsck_mark_referenced(ck);
	struct lcl *lcl;
	struct sfs *fs;
	if (repair_mount(ck, "blocks referenced twice", &lcl, &fs))
		return;
	uint8_t *buf = bdev_alloc((size_t)DUP_COPY_MAX * SFS_BLOCK_SIZE);
	for (uint64_t i = 0; buf && i < n; i++) {
		const struct dup_fix *f = &v[i];
		struct sfs_inode *ip;
		int r = inode_get(fs, f->ino, &ip);
		if (!r) {
			uint32_t nlink = ip->nlink;
			if (!f->keeper_what)
				r = dup_copy(ck, fs, ip, f, buf);
			else
				r = dup_unmap(ck, fs, ip, f);
			/* An orphan keeps nlink 0 on disk; in core it must not
			 * be freed by this put (the next mount reclaims it). */
			if (nlink == 0)
				ip->nlink = 1;
			inode_put(fs, ip);
		}
		if (r == -ENOSPC)
			continue; /* reported by dup_copy; the next may fit */
		if (r)
			fsck_say(ck, FSCK_INFO,
				 "inode %" PRIu64 ": blocks %" PRIu64 "+%" PRIu64
				 " also held by inode %" PRIu64 " not repaired: %s",
				 f->ino, f->pblk, f->n, f->keeper, strerror(-r));
		if (r == -EIO || jnl_aborted(fs))
			break; /* nothing more goes through the journal */
	}
	if (!buf)
		fsck_say(ck, FSCK_INFO, "blocks referenced twice not repaired: out of memory");
	bdev_free(buf);
	repair_unmount(ck, "blocks referenced twice", lcl, fs);
}

int fsck_repair_dups(struct fsck *ck)
{
	if (ck->journal_dirty) {
		fsck_say(ck, FSCK_INFO,
			 "blocks referenced twice not repaired: a journal was not replayed");
		return 0;
	}
	if (!ck->refs_complete) {
		/* A claimant the walk could not read could lose its block. */
		fsck_say(ck, FSCK_INFO,
			 "blocks referenced twice not repaired: the inode walk was incomplete");
		return 0;
	}
	struct claims c = {.ck = ck};
	int rc = dup_scan(ck, &c);
	struct dup_fix *v = NULL;
	uint64_t n = 0;
	if (!rc)
		rc = dup_decide(ck, &c, &v, &n);
	free(c.v);
	if (rc == -ENOMEM)
		return rc;
	if (rc) {
		fsck_say(
		    ck, FSCK_INFO,
		    "blocks referenced twice not repaired: the inodes could not be read again");
		return 0;
	}
	if (n)
		dup_repair(ck, v, n);
	free(v);
	return 0;
}

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
 * Blocks referenced twice are repaired by fsck_dup.c, with the helpers
 * exported here (fsck_int.h).
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

#include "fs/alloc.h"
#include "fs/dir.h"
#include "fs/extent.h"
#include "fs/fsck_int.h"
#include "fs/inode.h"
#include "fs/inode_format.h"
#include "fs/jnl.h"
#include "fs/mkfs.h"
#include "fs/orphan.h"
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

int fsck_txn_finish(struct txn *t, int r)
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
	r = fsck_txn_finish(t, r);
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
	r = fsck_txn_finish(t, r);
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
	r = fsck_txn_finish(t, r);
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

/* An unlinked inode on no orphan list: listed on slot 0's, then its last
 * reference frees it and takes it off the list, as at the last close. One
 * already listed (a free that failed in an earlier round) stays so. */
static int free_unlinked(struct fsck *ck, struct sfs *fs, uint64_t ino)
{
	struct sfs_inode *ip;
	int r = inode_get(fs, ino, &ip);
	if (r)
		return r;
	if (ip->nlink != 0) {
		inode_put(fs, ip);
		return -ESTALE; /* the walk saw link count 0: never */
	}
	struct txn *t;
	r = txn_begin(fs, ORPHAN_MAX_BLOCKS, &t);
	if (!r) {
		r = orphan_add(fs, t, ino);
		r = fsck_txn_finish(t, r == -EEXIST ? 0 : r);
	}
	if (r)
		ip->nlink = 1; /* in core only: inode_put must not free it unlisted */
	inode_put(fs, ip);
	if (r)
		return r;
	if (alloc_is_inode(fs, ino) != 0)
		return -EAGAIN; /* freeing failed (logged): listed for the next mount */
	fsck_say(ck, FSCK_FIXED,
		 "inode %" PRIu64 ": unlinked (link count 0) and on no orphan list; freed", ino);
	return 0;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

int fsck_repair_mount(struct fsck *ck, const char *what, struct lcl **lcl, struct sfs **fs)
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

void fsck_repair_unmount(struct fsck *ck, const char *what, struct lcl *lcl, struct sfs *fs)
{
	if (sfs_close(fs))
		fsck_say(ck, FSCK_INFO, "unmounting after the repairs of %s failed", what);
	lcl_destroy(lcl);
}

int fsck_unmap_run(struct sfs *fs, struct sfs_inode *ip, uint64_t lblk, uint64_t n)
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
	return fsck_txn_finish(t, r);
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
	r = fsck_unmap_run(fs, ip, u->lblk, u->n);
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
	uint64_t unlinked = fx->nunlinked;
	fx->nunlinked = 0;
	if (fsck_repair_mount(ck, "names", &lcl, &fs))
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
	/* fx->unlinked keeps the inodes freed. */
	uint64_t freed = 0;
	for (uint64_t i = 0; i < unlinked && r != -EIO; i++) {
		/* Not with an extent on metadata to unmap this round: its
		 * free would meet that run (and stop the journal) had the
		 * unmap failed; the next round frees it. */
		bool unmapping = false;
		for (uint64_t k = 0; k < fx->nunmap && !unmapping; k++)
			unmapping = fx->unmap[k].ino == fx->unlinked[i];
		if (unmapping)
			continue;
		r = free_unlinked(ck, fs, fx->unlinked[i]);
		if (r)
			fsck_say(ck, FSCK_INFO, "unlinked inode %" PRIu64 " not freed: %s",
				 fx->unlinked[i], strerror(-r));
		else
			fx->unlinked[freed++] = fx->unlinked[i];
	}
	fx->nunlinked = freed;
	fsck_repair_unmount(ck, "names", lcl, fs);
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
	if (fx->ndents || fx->nlost || fx->root_bad || fx->nunmap || fx->nunlinked)
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
	/* ck->inodes without the inodes cleared or freed, with the new
	 * lost+found. */
	if (fx->nunlinked)
		qsort(fx->unlinked, fx->nunlinked, sizeof(uint64_t), cmp_u64);
	uint64_t n = 0;
	for (uint64_t i = 0; i < ck->ninodes; i++) {
		const uint64_t *ino = &ck->inodes[i];
		if ((kept && bsearch(ino, fx->drop, kept, sizeof(uint64_t), cmp_u64)) ||
		    (fx->nunlinked &&
		     bsearch(ino, fx->unlinked, fx->nunlinked, sizeof(uint64_t), cmp_u64)))
			continue;
		ck->inodes[n++] = *ino;
	}
	ck->ninodes = n;
	if (lf_new && fsck_fixes_push(&ck->inodes, &ck->ninodes, &ck->capinodes, lf_new))
		return -ENOMEM;
	if (ck->ninodes)
		qsort(ck->inodes, ck->ninodes, sizeof(uint64_t), cmp_u64);
	ck->r->inodes = ck->ninodes;
	fsck_recheck_orphans(ck);
	return 0;
}

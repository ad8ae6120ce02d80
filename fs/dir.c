/* Indexed directories on the B+tree (dir.h; layout in fs/FORMAT-dir.md). */
#include "fs/dir.h"

#include "common/endian_le.h"
#include "common/log.h"
#include "fs/btree_eng.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <string.h>

/* 1 for ".", 2 for "..", 0 for any other name. */
static int dot_kind(const char *name, size_t len)
{
	if (len == 1 && name[0] == '.')
		return 1;
	if (len == 2 && name[0] == '.' && name[1] == '.')
		return 2;
	return 0;
}

/* The chain of one hash: is name in it, and which counters are taken. */
struct find {
	const uint8_t *seed;
	uint64_t dir_ino, h;
	const char *name;
	size_t len;
	bool found;
	struct btree_key key;
	struct dir_rec rec;
	uint64_t used[2]; /* counters seen (bit per counter) */
};

static int find_cb(void *arg, const struct btree_key *k, const void *val, size_t len)
{
	struct find *f = arg;
	if (k->hi != f->h)
		return 1; /* past the chain */
	int rc = dir_rec_decode(f->seed, f->dir_ino, k, val, len, &f->rec);
	if (rc < 0)
		return rc;
	f->used[k->lo / 64] |= 1ull << (k->lo % 64);
	if (f->rec.namelen == f->len && memcmp(f->rec.name, f->name, f->len) == 0) {
		f->found = true;
		f->key = *k;
		return 1;
	}
	return 0;
}

static int find(struct sfs *fs, struct sfs_inode *dir, const char *name, size_t len, struct find *f)
{
	memset(f, 0, sizeof(*f));
	f->seed = sfs_dir_hash_seed(fs);
	f->dir_ino = dir->ino;
	f->h = dir_hash(f->seed, name, len);
	f->name = name;
	f->len = len;
	struct btree bt;
	btree_open(&bt, fs, &dir->fork, dir->ino);
	struct btree_key k = {f->h, 0};
	return btree_iterate(&bt, &k, find_cb, f);
}

static int parent_of(struct sfs_inode *dir, uint64_t *ino)
{
	if (dir->fork.aux == 0) {
		log_error("dir", "directory %" PRIu64 ": no parent recorded", dir->ino);
		return -EIO;
	}
	*ino = dir->fork.aux;
	return 0;
}

int dir_init(struct sfs *fs, struct txn *t, struct sfs_inode *dir, uint64_t parent_ino)
{
	(void)fs;
	(void)t;
	if (parent_ino == 0)
		return -EINVAL;
	memset(&dir->fork, 0, sizeof(dir->fork));
	dir->fork.aux = parent_ino;
	return 0;
}

int dir_lookup(struct sfs *fs, struct sfs_inode *dir, const char *name, size_t len, uint64_t *ino,
	       uint8_t *dtype)
{
	int rc = dir_name_check(name, len);
	if (rc < 0)
		return rc;
	int dot = dot_kind(name, len);
	if (dot) {
		if (dtype)
			*dtype = DT_DIR;
		if (dot == 1) {
			*ino = dir->ino;
			return 0;
		}
		return parent_of(dir, ino);
	}
	struct find f;
	rc = find(fs, dir, name, len, &f);
	if (rc < 0)
		return rc;
	if (!f.found)
		return -ENOENT;
	*ino = f.rec.ino;
	if (dtype)
		*dtype = f.rec.dtype;
	return 0;
}

int dir_add(struct sfs *fs, struct txn *t, struct sfs_inode *dir, const char *name, size_t len,
	    uint64_t ino, uint8_t dtype)
{
	int rc = dir_name_check(name, len);
	if (rc < 0)
		return rc;
	if (dot_kind(name, len))
		return -EEXIST;
	if (ino == 0 || !dir_dtype_valid(dtype))
		return -EINVAL;
	struct find f;
	rc = find(fs, dir, name, len, &f);
	if (rc < 0)
		return rc;
	if (f.found)
		return -EEXIST;
	unsigned ctr = 0;
	while (ctr < (1u << DIR_CTR_BITS) && (f.used[ctr / 64] >> (ctr % 64) & 1))
		ctr++;
	if (ctr == (1u << DIR_CTR_BITS)) {
		log_error("dir", "directory %" PRIu64 ": %u names share hash %#" PRIx64, dir->ino,
			  ctr, f.h);
		return -ENOSPC;
	}
	uint8_t v[DIR_REC_HDR + DIR_NAME_MAX];
	size_t vlen = dir_rec_encode(ino, dtype, name, len, v);
	struct btree bt;
	btree_open(&bt, fs, &dir->fork, dir->ino);
	struct btree_key k = {f.h, ctr};
	rc = btree_insert(&bt, t, &k, v, vlen);
	if (rc == -EEXIST) {
		log_error("dir", "directory %" PRIu64 ": key (%#" PRIx64 ", %u) taken but not seen",
			  dir->ino, f.h, ctr);
		rc = -EIO;
	}
	return rc;
}

int dir_remove(struct sfs *fs, struct txn *t, struct sfs_inode *dir, const char *name, size_t len,
	       uint64_t *ino_out)
{
	int rc = dir_name_check(name, len);
	if (rc < 0)
		return rc;
	if (dot_kind(name, len))
		return -EINVAL;
	struct find f;
	rc = find(fs, dir, name, len, &f);
	if (rc < 0)
		return rc;
	if (!f.found)
		return -ENOENT;
	struct btree bt;
	btree_open(&bt, fs, &dir->fork, dir->ino);
	rc = btree_delete(&bt, t, &f.key, NULL, 0, NULL);
	if (rc == 0 && ino_out)
		*ino_out = f.rec.ino;
	return rc;
}

int dir_set(struct sfs *fs, struct txn *t, struct sfs_inode *dir, const char *name, size_t len,
	    uint64_t ino, uint8_t dtype)
{
	int rc = dir_name_check(name, len);
	if (rc < 0)
		return rc;
	if (ino == 0 || !dir_dtype_valid(dtype))
		return -EINVAL;
	int dot = dot_kind(name, len);
	if (dot == 1)
		return -EINVAL;
	if (dot == 2) {
		if (dtype != DT_DIR)
			return -EINVAL;
		dir->fork.aux = ino; /* lives in the inode: the caller writes it */
		return 0;
	}
	struct find f;
	rc = find(fs, dir, name, len, &f);
	if (rc < 0)
		return rc;
	if (!f.found)
		return -ENOENT;
	uint8_t v[DIR_REC_HDR + DIR_NAME_MAX];
	size_t vlen = dir_rec_encode(ino, dtype, name, len, v);
	struct btree bt;
	btree_open(&bt, fs, &dir->fork, dir->ino);
	return btree_update(&bt, t, &f.key, v, vlen);
}

int dir_is_empty(struct sfs *fs, struct sfs_inode *dir)
{
	(void)fs;
	if (dir->fork.nrecs)
		return 0;
	if (dir->fork.root) {
		log_error("dir", "directory %" PRIu64 ": tree without entries", dir->ino);
		return -EIO;
	}
	return 1;
}

struct iter {
	const uint8_t *seed;
	uint64_t dir_ino;
	dir_iter_fn fn;
	void *arg;
};

static int iter_cb(void *arg, const struct btree_key *k, const void *val, size_t len)
{
	struct iter *it = arg;
	struct dir_rec r;
	int rc = dir_rec_decode(it->seed, it->dir_ino, k, val, len, &r);
	if (rc < 0)
		return rc;
	return it->fn(it->arg, r.name, r.namelen, r.ino, r.dtype, dir_cookie_after(k));
}

int dir_iterate(struct sfs *fs, struct sfs_inode *dir, uint64_t cookie, dir_iter_fn fn, void *arg)
{
	int rc;
	if (cookie == 0) {
		rc = fn(arg, ".", 1, dir->ino, DT_DIR, 1);
		if (rc)
			return rc < 0 ? rc : 0;
	}
	if (cookie <= 1) {
		uint64_t parent;
		rc = parent_of(dir, &parent);
		if (rc < 0)
			return rc;
		rc = fn(arg, "..", 2, parent, DT_DIR, 2);
		if (rc)
			return rc < 0 ? rc : 0;
	}
	struct btree_key k = {0, 0};
	if (cookie >= (1u << DIR_CTR_BITS)) {
		k.hi = cookie >> DIR_CTR_BITS;
		k.lo = cookie & ((1u << DIR_CTR_BITS) - 1);
	}
	struct iter it = {sfs_dir_hash_seed(fs), dir->ino, fn, arg};
	struct btree bt;
	btree_open(&bt, fs, &dir->fork, dir->ino);
	return btree_iterate(&bt, &k, iter_cb, &it);
}

int dir_destroy(struct sfs *fs, struct txn *t, struct sfs_inode *dir)
{
	struct btree bt;
	btree_open(&bt, fs, &dir->fork, dir->ino);
	return btree_destroy(&bt, t);
}

unsigned dir_max_blocks_per_op(void)
{
	return btree_max_blocks();
}

unsigned dir_max_blocks(const struct sfs_inode *dir)
{
	return btree_max_blocks_depth(dir->fork.depth);
}

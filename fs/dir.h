/* dir: indexed directories (DESIGN §3 "Indexed directories"; fs/INTERNALS.md;
 * byte layout in fs/FORMAT-dir.md).
 *
 * A directory is a B+tree (btree.h) in the directory inode's fork. Each entry
 * is one record: key (hash of the name, collision counter), value (inode
 * number, dtype, name). The hash is SipHash-2-4 keyed with the filesystem's
 * 16-byte seed (superblock, sfs_dir_hash_seed), cut to 56 bits; names with the
 * same hash get counters 0..127. Lookup, add and remove cost one descent of
 * the tree: O(log n) in the size of the directory.
 *
 * "." and ".." are not stored. dir_iterate synthesizes them; ".." comes from
 * the fork's aux word, which dir_init sets to the parent and dir_set(dir,
 * "..") changes (rename of a directory to a new parent). dir_lookup answers
 * "." and ".." as well.
 *
 * Readdir cookies (the offsets FUSE hands to the kernel, 63-bit positive):
 * 0 is the start, 1 follows ".", 2 follows "..", and an entry with key
 * (hash, ctr) is followed by cookie ((hash << 7) | ctr) + 1. dir_iterate
 * resumes at the first entry whose key is at or after the one the cookie
 * names, so an entry that exists for a whole listing is returned exactly once
 * whatever is created or deleted meanwhile, and cookies stay valid for as
 * long as the directory exists (they name keys, not positions in blocks).
 *
 * Names: 1..255 bytes without '/' or NUL: -ENAMETOOLONG above 255, -EINVAL
 * for an empty name or one holding '/' or NUL.
 *
 * Inodes and transactions: the caller holds the directory inode's lock (PR
 * for dir_lookup/dir_is_empty/dir_iterate, EX for the rest, DESIGN §3). The
 * changing calls update dir->fork in core; the caller writes the inode
 * (inode_write) in the same transaction, as it does anyway for mtime/ctime.
 * dir_max_blocks_per_op() bounds what one dir_add/dir_remove/dir_set adds to
 * a transaction (the inode block not included). -EEXIST, -ENOENT, -EINVAL,
 * -ENAMETOOLONG and -ENOSPC leave the directory unchanged; -EIO or -ENOMEM
 * from a changing call may leave a half-done change: the caller must
 * txn_abort the handle (jnl.h).
 *
 * A corrupt node or entry is -EIO with a log line naming the block or the
 * directory; it never crashes.
 *
 * Errors: 0 or negative errno. Thread-safe as btree.h (no state of its own). */
#ifndef SANFS_FS_DIR_H
#define SANFS_FS_DIR_H

#include <stddef.h>
#include <stdint.h>

#include "fs/btree.h"
#include "fs/inode.h"

struct sfs;
struct txn;

#define DIR_NAME_MAX 255
#define DIR_CTR_BITS 7 /* collision counter bits: up to 128 names per hash */
#ifndef DIR_HASH_BITS
#define DIR_HASH_BITS 56 /* tests build a copy with 8 to force collision chains */
#endif

/* Make dir an empty directory whose ".." is parent_ino (no block is
 * allocated: an empty directory has no tree). */
int dir_init(struct sfs *fs, struct txn *t, struct sfs_inode *dir, uint64_t parent_ino);

/* A directory entry type sanfs stores: DT_FIFO, DT_CHR, DT_DIR, DT_BLK,
 * DT_REG, DT_LNK or DT_SOCK. */
bool dir_dtype_valid(unsigned t);

/* -ENOENT when absent. "." gives dir itself, ".." the parent (DT_DIR). */
int dir_lookup(struct sfs *fs, struct sfs_inode *dir, const char *name, size_t len, uint64_t *ino,
	       uint8_t *dtype);

/* -EEXIST when the name is there ("." and ".." always are). ino != 0, dtype
 * one of DT_FIFO, DT_CHR, DT_DIR, DT_BLK, DT_REG, DT_LNK, DT_SOCK (-EINVAL
 * otherwise). -ENOSPC also when 128 names share one hash (never seen in
 * practice: that needs 128 names colliding in a 56-bit keyed hash). */
int dir_add(struct sfs *fs, struct txn *t, struct sfs_inode *dir, const char *name, size_t len,
	    uint64_t ino, uint8_t dtype);

/* -ENOENT when absent, -EINVAL for "." and "..". *ino_out (may be NULL) gets
 * the inode the entry named. */
int dir_remove(struct sfs *fs, struct txn *t, struct sfs_inode *dir, const char *name, size_t len,
	       uint64_t *ino_out);

/* Point an existing entry at another inode (rename over it); -ENOENT when
 * absent. dir_set(dir, "..", parent, DT_DIR) changes the parent. */
int dir_set(struct sfs *fs, struct txn *t, struct sfs_inode *dir, const char *name, size_t len,
	    uint64_t ino, uint8_t dtype);

/* 1 when the directory has no entries besides "." and "..", 0 if it has, or
 * -EIO. */
int dir_is_empty(struct sfs *fs, struct sfs_inode *dir);

/* Calls fn for ".", ".." and every entry from cookie on (see the top). name
 * is NUL-terminated and valid during the call only; next_cookie resumes after
 * this entry. fn returns 0 to go on; a positive value stops the listing
 * (dir_iterate returns 0), a negative one stops it and is returned. fn must
 * not change this directory. */
typedef int (*dir_iter_fn)(void *arg, const char *name, size_t len, uint64_t ino, uint8_t dtype,
			   uint64_t next_cookie);
int dir_iterate(struct sfs *fs, struct sfs_inode *dir, uint64_t cookie, dir_iter_fn fn, void *arg);

/* Free every block of the directory's tree (rmdir; also a non-empty tree).
 * The fork becomes empty. */
int dir_destroy(struct sfs *fs, struct txn *t, struct sfs_inode *dir);

/* txn_begin bound for one dir_add/dir_remove/dir_set (inode block excluded). */
unsigned dir_max_blocks_per_op(void);
/* A tighter bound for this directory as it is now (caller holds its lock
 * from before txn_begin until the change is done). */
unsigned dir_max_blocks(const struct sfs_inode *dir);

/* ---- for fsck and tests ---- */

/* The 56-bit key hash of a name (never 0 nor 2^56 - 1). */
uint64_t dir_hash(const uint8_t seed[16], const char *name, size_t len);

/* SipHash-2-4 (Aumasson, Bernstein) of msg with a 16-byte key. */
uint64_t dir_siphash24(const uint8_t key[16], const void *msg, size_t len);

/* A decoded directory record. */
struct dir_rec {
	uint64_t ino;
	uint8_t dtype;
	uint8_t namelen;
	char name[DIR_NAME_MAX + 1]; /* NUL-terminated */
};

#define DIR_REC_HDR 10 /* value bytes before the name */

/* Encode a record's value into out (DIR_REC_HDR + len bytes); returns its
 * length. The name must be valid (dir_name_check). */
size_t dir_rec_encode(uint64_t ino, uint8_t dtype, const char *name, size_t len, uint8_t *out);

/* Decode and check one record (value bytes val[0..len)): name valid, length
 * consistent, ino nonzero, dtype known. When seed is not NULL the key must
 * also match the name's hash and a counter < 128. -EIO (logged, naming the
 * directory inode dir_ino) on any inconsistency. */
int dir_rec_decode(const uint8_t seed[16], uint64_t dir_ino, const struct btree_key *k,
		   const void *val, size_t len, struct dir_rec *out);

/* 0, -ENAMETOOLONG or -EINVAL as described at the top ("." and ".." pass). */
int dir_name_check(const char *name, size_t len);

/* The cookie that resumes after the entry with key k. */
uint64_t dir_cookie_after(const struct btree_key *k);

#endif

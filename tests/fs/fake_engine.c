/* In-memory fake of the engine for the btree/dir unit tests (fake_engine.h). */
#include "tests/fs/fake_engine.h"

#include "common/endian_le.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct fake;

struct fbuf {
	struct buf b; /* first: a struct buf * is a struct fbuf * */
	struct fake *fk;
	int ref;
	uint8_t *shadow; /* committed image (check_txn) */
	uint64_t txn_id; /* the transaction that added it, 0: none */
};

struct txn {
	struct fake *fs;
	uint64_t id;
	unsigned max, used;
	struct fbuf **added;
	unsigned nadded, capadded;
};

/* The fake's state; hangs off a real (zeroed) struct sfs as fs->user. */
struct fake {
	struct sfs *sfs;
	uint64_t nblocks;
	bool check_txn;
	struct fbuf **blk;
	uint8_t *used;
	uint64_t nused;
	long refs;
	uint64_t reads;
	unsigned long violations;
	long fail_alloc;
	unsigned max_txn;
	uint64_t next_txn;
	struct txn *cur;
};

static struct fake *F(struct sfs *fs)
{
	return fs->user;
}

#define VIOLATION(fs, ...)                                                                         \
	do {                                                                                       \
		(fs)->violations++;                                                                \
		fprintf(stderr, "fake_engine: VIOLATION: " __VA_ARGS__);                           \
		fputc('\n', stderr);                                                               \
	} while (0)

struct sfs *fake_sfs_new(uint64_t nblocks, bool check_txn)
{
	struct sfs *sfs = calloc(1, sizeof(*sfs));
	struct fake *fs = calloc(1, sizeof(*fs));
	sfs->user = fs;
	fs->sfs = sfs;
	fs->nblocks = nblocks;
	fs->check_txn = check_txn;
	fs->blk = calloc(nblocks, sizeof(*fs->blk));
	fs->used = calloc(nblocks, 1);
	fs->fail_alloc = -1;
	fs->next_txn = 1;
	for (unsigned i = 0; i < 16; i++)
		sfs->sb.dir_hash_seed[i] = (uint8_t)(0x11 * i + 7);
	/* Blocks below 16 stand for the superblock and inodes: never allocated. */
	for (uint64_t i = 0; i < 16 && i < nblocks; i++)
		fs->used[i] = 1;
	return sfs;
}

void fake_sfs_free(struct sfs *sfs)
{
	struct fake *fs = F(sfs);
	for (uint64_t i = 0; i < fs->nblocks; i++) {
		if (fs->blk[i]) {
			free(fs->blk[i]->b.data);
			free(fs->blk[i]->shadow);
			free(fs->blk[i]);
		}
	}
	free(fs->blk);
	free(fs->used);
	free(fs);
	free(sfs);
}

uint64_t fake_reads(struct sfs *fs)
{
	return F(fs)->reads;
}
unsigned long fake_violations(struct sfs *fs)
{
	return F(fs)->violations;
}
uint64_t fake_blocks_used(struct sfs *fs)
{
	return F(fs)->nused;
}
long fake_refs(struct sfs *fs)
{
	return F(fs)->refs;
}
void fake_fail_alloc_after(struct sfs *fs, long n)
{
	F(fs)->fail_alloc = n;
}
unsigned fake_max_txn_blocks(struct sfs *fs)
{
	return F(fs)->max_txn;
}
void fake_set_seed(struct sfs *fs, const uint8_t seed[16])
{
	memcpy(fs->sb.dir_hash_seed, seed, 16);
}
const uint8_t *sfs_dir_hash_seed(struct sfs *fs)
{
	return fs->sb.dir_hash_seed;
}

uint8_t *fake_block(struct sfs *fs, uint64_t blkno)
{
	struct fake *fk = F(fs);
	return blkno < fk->nblocks && fk->blk[blkno] ? fk->blk[blkno]->b.data : NULL;
}

static void hdr_fill(uint8_t *d, uint16_t type, uint64_t blkno, uint64_t owner)
{
	le32_put(d, 0x53464E53);
	le16_put(d + 4, type);
	le64_put(d + 8, blkno);
	le64_put(d + 32, owner);
}

int bc_read(struct sfs *sfs, uint64_t blkno, uint16_t type, uint64_t owner, struct buf **out)
{
	struct fake *fs = F(sfs);
	if (blkno >= fs->nblocks || !fs->blk[blkno] || !fs->used[blkno]) {
		return -EIO; /* quiet: corruption tests make thousands */
	}
	struct fbuf *f = fs->blk[blkno];
	const uint8_t *d = f->b.data;
	if (le32_get(d) != 0x53464E53 || le16_get(d + 4) != type || le64_get(d + 8) != blkno ||
	    (owner != UINT64_MAX && le64_get(d + 32) != owner)) {
		return -EIO;
	}
	f->ref++;
	fs->refs++;
	fs->reads++;
	*out = &f->b;
	return 0;
}

int bc_new(struct sfs *sfs, uint64_t blkno, uint16_t type, uint64_t owner, struct buf **out)
{
	struct fake *fs = F(sfs);
	if (blkno >= fs->nblocks || !fs->used[blkno]) {
		VIOLATION(fs, "bc_new of unallocated block %" PRIu64, blkno);
		return -EIO;
	}
	struct fbuf *f = fs->blk[blkno];
	if (!f) {
		f = calloc(1, sizeof(*f));
		f->fk = fs;
		f->b.blkno = blkno;
		f->b.data = malloc(SFS_BLOCK_SIZE);
		fs->blk[blkno] = f;
	} else if (f->ref) {
		VIOLATION(fs, "bc_new of referenced block %" PRIu64, blkno);
	}
	memset(f->b.data, 0, SFS_BLOCK_SIZE);
	hdr_fill(f->b.data, type, blkno, owner);
	if (fs->check_txn) {
		if (!f->shadow)
			f->shadow = malloc(SFS_BLOCK_SIZE);
		memcpy(f->shadow, f->b.data, SFS_BLOCK_SIZE);
	}
	f->ref++;
	fs->refs++;
	*out = &f->b;
	return 0;
}

void bc_get(struct buf *b)
{
	struct fbuf *f = (struct fbuf *)b;
	f->ref++;
	f->fk->refs++;
}

void bc_put(struct buf *b)
{
	struct fbuf *f = (struct fbuf *)b;
	struct fake *fs = f->fk;
	if (f->ref <= 0) {
		VIOLATION(fs, "bc_put of unreferenced block %" PRIu64, b->blkno);
		return;
	}
	f->ref--;
	fs->refs--;
	bool in_txn = fs->cur && f->txn_id == fs->cur->id;
	if (fs->check_txn && !in_txn && f->shadow && memcmp(f->shadow, b->data, SFS_BLOCK_SIZE))
		VIOLATION(fs, "block %" PRIu64 " changed outside a transaction", b->blkno);
}

void bc_forget(struct sfs *sfs, uint64_t blkno)
{
	struct fake *fs = F(sfs);
	if (blkno < fs->nblocks && fs->blk[blkno] && fs->blk[blkno]->ref)
		VIOLATION(fs, "bc_forget of referenced block %" PRIu64, blkno);
	if (blkno < fs->nblocks && fs->blk[blkno])
		memset(fs->blk[blkno]->b.data, 0xEE, SFS_BLOCK_SIZE); /* stale reads fail */
}

int txn_begin(struct sfs *sfs, unsigned max_blocks, struct txn **out)
{
	struct fake *fs = F(sfs);
	if (fs->cur) {
		VIOLATION(fs, "nested transaction");
		return -EBUSY;
	}
	struct txn *t = calloc(1, sizeof(*t));
	t->fs = fs;
	t->id = fs->next_txn++;
	t->max = max_blocks;
	fs->cur = t;
	*out = t;
	return 0;
}

static void txn_charge(struct txn *t, unsigned n)
{
	t->used += n;
	if (t->used > t->fs->max_txn)
		t->fs->max_txn = t->used;
	if (t->used > t->max)
		VIOLATION(t->fs, "transaction adds %u blocks, more than its %u", t->used, t->max);
}

int txn_add(struct txn *t, struct buf *b)
{
	struct fbuf *f = (struct fbuf *)b;
	if (t->fs->cur != t) {
		VIOLATION(t->fs, "txn_add to a closed transaction");
		return -EINVAL;
	}
	if (f->txn_id == t->id)
		return 0;
	f->txn_id = t->id;
	if (t->nadded == t->capadded) {
		t->capadded = t->capadded ? 2 * t->capadded : 16;
		t->added = realloc(t->added, t->capadded * sizeof(*t->added));
	}
	t->added[t->nadded++] = f;
	txn_charge(t, 1);
	return 0;
}

int txn_end(struct txn *t, uint64_t *tid_out)
{
	struct fake *fs = t->fs;
	for (unsigned i = 0; i < t->nadded; i++) {
		struct fbuf *f = t->added[i];
		if (fs->check_txn && f->shadow)
			memcpy(f->shadow, f->b.data, SFS_BLOCK_SIZE);
		f->txn_id = 0;
	}
	if (tid_out)
		*tid_out = t->id;
	fs->cur = NULL;
	free(t->added);
	free(t);
	return 0;
}

int alloc_blocks(struct sfs *sfs, struct txn *t, uint64_t goal, uint32_t want, uint32_t min,
		 uint64_t *start, uint32_t *got)
{
	struct fake *fs = F(sfs);
	if (fs->cur != t || want == 0 || min == 0 || min > want) {
		VIOLATION(fs, "bad alloc_blocks call");
		return -EINVAL;
	}
	txn_charge(t, BTREE_ALLOC_CALL_BLOCKS);
	if (fs->fail_alloc == 0)
		return -ENOSPC;
	if (fs->fail_alloc > 0)
		fs->fail_alloc--;
	if (goal >= fs->nblocks)
		goal = 0;
	for (uint64_t n = 0; n < fs->nblocks; n++) {
		uint64_t b = (goal + n) % fs->nblocks;
		if (fs->used[b])
			continue;
		uint32_t len = 0;
		while (len < want && b + len < fs->nblocks && !fs->used[b + len])
			len++;
		if (len < min)
			continue;
		for (uint32_t i = 0; i < len; i++)
			fs->used[b + i] = 1;
		fs->nused += len;
		*start = b;
		*got = len;
		return 0;
	}
	return -ENOSPC;
}

/* The fake has no reserve: metadata blocks come from the same pool. */
int alloc_meta(struct sfs *sfs, struct txn *t, uint64_t goal, uint32_t want, uint32_t min,
	       uint64_t *start, uint32_t *got)
{
	return alloc_blocks(sfs, t, goal, want, min, start, got);
}

int alloc_reserved(struct sfs *sfs, struct txn *t, uint64_t goal, uint32_t want, uint32_t min,
		   uint64_t *start, uint32_t *got)
{
	return alloc_blocks(sfs, t, goal, want, min, start, got);
}

int alloc_free(struct sfs *sfs, struct txn *t, uint64_t start, uint32_t len)
{
	struct fake *fs = F(sfs);
	if (fs->cur != t) {
		VIOLATION(fs, "alloc_free outside its transaction");
		return -EINVAL;
	}
	txn_charge(t, BTREE_ALLOC_CALL_BLOCKS);
	for (uint32_t i = 0; i < len; i++) {
		if (start + i >= fs->nblocks || !fs->used[start + i]) {
			VIOLATION(fs, "free of free block %" PRIu64, start + i);
			return -EIO;
		}
		fs->used[start + i] = 0;
	}
	fs->nused -= len;
	return 0;
}

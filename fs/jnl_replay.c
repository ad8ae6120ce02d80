/* jnl_replay: apply the committed transactions of a slot's journal (DESIGN
 * §3: "Replay applies committed transactions in sequence order and stops at
 * the first invalid one").
 *
 * Pass 1 walks the ring from the tail: a transaction is a run of JDESC
 * blocks (each followed by its images) and JREVOKE blocks, closed by a
 * JCOMMIT whose crc covers every block of the run. The first transaction
 * must have seq >= tail_seq and every next one a larger seq (empty
 * transactions consume a number without writing anything); a bad header,
 * a wrong seq, a count that overruns the ring or a crc mismatch ends the
 * walk. Revoke records are collected. Pass 2 writes the images home in
 * order, skipping every image of a block revoked by the same or a later
 * transaction; then the device is flushed and the header moved past the
 * last valid transaction. */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "blockdev/bdev.h"
#include "common/crc32c.h"
#include "common/endian_le.h"
#include "common/log.h"
#include "fs/format.h"
#include "fs/jnl.h"

struct rtx {
	uint64_t start; /* ring position of its first block */
	uint64_t seq;
	uint64_t nblocks; /* before the commit */
};

struct revoke {
	uint64_t blkno, seq;
};

struct ring {
	struct bdev *dev;
	uint64_t start, len;
	uint8_t *win; /* read window */
	uint64_t win_pos, win_n;
};

#define WIN_BLOCKS 256

static int ring_block(struct ring *r, uint64_t pos, const uint8_t **out)
{
	uint64_t idx = pos % r->len;
	if (!(r->win_n && idx >= r->win_pos && idx < r->win_pos + r->win_n)) {
		uint64_t n = r->len - idx < WIN_BLOCKS ? r->len - idx : WIN_BLOCKS;
		int rc = bdev_read(r->dev, (r->start + idx) * SFS_BLOCK_SIZE, r->win,
				   n * SFS_BLOCK_SIZE);
		if (rc) {
			r->win_n = 0;
			return rc;
		}
		r->win_pos = idx;
		r->win_n = n;
	}
	*out = r->win + (idx - r->win_pos) * SFS_BLOCK_SIZE;
	return 0;
}

static int cmp_rev(const void *a, const void *b)
{
	const struct revoke *x = a, *y = b;
	if (x->blkno != y->blkno)
		return x->blkno < y->blkno ? -1 : 1;
	return x->seq < y->seq ? 1 : x->seq > y->seq ? -1 : 0; /* newest first */
}

static bool revoked(const struct revoke *rv, size_t n, uint64_t blkno, uint64_t seq)
{
	size_t lo = 0, hi = n;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (rv[mid].blkno < blkno)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < n && rv[lo].blkno == blkno && rv[lo].seq >= seq;
}

/* Walk one transaction at pos. 1: valid (tx filled), 0: end of the log. */
static int walk_one(struct ring *r, const struct sfs_super *sb, uint64_t owner, uint64_t pos,
		    uint64_t min_seq, struct rtx *tx, struct revoke **rv, size_t *nrv,
		    size_t *caprv)
{
	uint32_t crc = 0;
	uint64_t seq = 0, n = 0;
	size_t rv_mark = *nrv;
	const uint8_t *b;
	for (;;) {
		if (n >= r->len)
			goto end;
		uint64_t abs = r->start + (pos + n) % r->len;
		if (ring_block(r, pos + n, &b))
			goto end;
		const char *why;
		if (sfs_blk_verify(b, sb->uuid, SFS_ANY_TYPE, abs, owner, &why))
			goto end;
		uint16_t type = sfs_blk_type(b);
		uint64_t s = le64_get(b + SFS_JREC_OFF_SEQ);
		if (n == 0) {
			if (s < min_seq)
				goto end;
			seq = s;
		} else if (s != seq) {
			goto end;
		}
		if (type == SFS_BT_JCOMMIT) {
			if (n == 0 || le32_get(b + SFS_JC_OFF_NBLOCKS) != n ||
			    le32_get(b + SFS_JC_OFF_DCRC) != crc)
				goto end;
			tx->start = pos;
			tx->seq = seq;
			tx->nblocks = n;
			return 1;
		}
		if (type != SFS_BT_JDESC && type != SFS_BT_JREVOKE)
			goto end;
		uint32_t cnt = le32_get(b + SFS_JREC_OFF_COUNT);
		if (cnt == 0 || cnt > SFS_JREC_TAGS)
			goto end;
		for (uint32_t i = 0; i < cnt; i++) {
			uint64_t t = le64_get(b + SFS_JREC_OFF_TAGS + 8 * i);
			if (t == 0 || t >= sb->blocks)
				goto end;
		}
		crc = crc32c(crc, b, SFS_BLOCK_SIZE);
		if (type == SFS_BT_JREVOKE) {
			for (uint32_t i = 0; i < cnt; i++) {
				if (*nrv == *caprv) {
					size_t cap = *caprv ? *caprv * 2 : 256;
					struct revoke *nv = realloc(*rv, cap * sizeof(**rv));
					if (!nv)
						goto end;
					*rv = nv;
					*caprv = cap;
				}
				(*rv)[(*nrv)++] =
				    (struct revoke){le64_get(b + SFS_JREC_OFF_TAGS + 8 * i), seq};
			}
			n++;
			continue;
		}
		/* The images follow the descriptor. */
		if (n + 1 + cnt >= r->len)
			goto end;
		for (uint32_t i = 0; i < cnt; i++) {
			const uint8_t *img;
			if (ring_block(r, pos + n + 1 + i, &img))
				goto end;
			crc = crc32c(crc, img, SFS_BLOCK_SIZE);
		}
		/* The window may have moved: nothing of b is used after this. */
		n += 1 + cnt;
	}
end:
	*nrv = rv_mark; /* revokes of an invalid transaction do not count */
	return 0;
}

int jnl_replay(struct bdev *dev, const struct sfs_super *sb, unsigned slot, bool write,
	       unsigned *replayed)
{
	uint64_t owner = sfs_owner_slot(slot);
	uint64_t jh_blk = sfs_slot_base(sb, slot) + SFS_SLOT_JHDR;
	struct ring r = {
	    .dev = dev, .start = sfs_slot_journal(sb, slot), .len = sb->journal_blocks};
	struct rtx *txs = NULL;
	size_t ntx = 0, captx = 0, nrv = 0, caprv = 0;
	struct revoke *rv = NULL;
	uint8_t *hblk = bdev_alloc(SFS_BLOCK_SIZE);
	uint8_t *img = bdev_alloc(SFS_BLOCK_SIZE);
	r.win = bdev_alloc(WIN_BLOCKS * SFS_BLOCK_SIZE);
	int rc = 0;
	*replayed = 0;
	if (!hblk || !img || !r.win) {
		rc = -ENOMEM;
		goto out;
	}
	rc = bdev_read(dev, jh_blk * SFS_BLOCK_SIZE, hblk, SFS_BLOCK_SIZE);
	if (!rc)
		rc = sfs_blk_check(hblk, sb->uuid, SFS_BT_JHDR, jh_blk, owner);
	struct sfs_jhdr h;
	if (!rc)
		rc = sfs_jhdr_decode(hblk, sb, &h);
	if (rc)
		goto out;

	/* Pass 1. */
	uint64_t pos = h.tail, min_seq = h.tail_seq, used = 0;
	for (;;) {
		struct rtx tx;
		if (!walk_one(&r, sb, owner, pos, min_seq, &tx, &rv, &nrv, &caprv))
			break;
		if (used + tx.nblocks + 1 > r.len)
			break;
		if (ntx == captx) {
			size_t cap = captx ? captx * 2 : 64;
			struct rtx *nt = realloc(txs, cap * sizeof(*txs));
			if (!nt) {
				rc = -ENOMEM;
				goto out;
			}
			txs = nt;
			captx = cap;
		}
		txs[ntx++] = tx;
		used += tx.nblocks + 1;
		pos += tx.nblocks + 1;
		min_seq = tx.seq + 1;
	}
	if (nrv)
		qsort(rv, nrv, sizeof(*rv), cmp_rev);
	if (ntx)
		log_info("fs",
			 "journal of slot %u: %zu transaction(s) to replay (seq %" PRIu64
			 "..%" PRIu64 ")",
			 slot, ntx, txs[0].seq, txs[ntx - 1].seq);
	if (!write || !ntx) { /* nothing to write: the header stays as it is */
		*replayed = (unsigned)ntx;
		goto out;
	}

	/* Pass 2. */
	for (size_t t = 0; t < ntx; t++) {
		uint64_t p = txs[t].start, endp = txs[t].start + txs[t].nblocks;
		while (p < endp) {
			const uint8_t *d;
			rc = ring_block(&r, p, &d);
			if (rc)
				goto out;
			uint16_t type = sfs_blk_type(d);
			uint32_t cnt = le32_get(d + SFS_JREC_OFF_COUNT);
			if (type == SFS_BT_JREVOKE) {
				p++;
				continue;
			}
			uint64_t tags[SFS_JREC_TAGS];
			for (uint32_t i = 0; i < cnt; i++)
				tags[i] = le64_get(d + SFS_JREC_OFF_TAGS + 8 * i);
			for (uint32_t i = 0; i < cnt; i++) {
				if (revoked(rv, nrv, tags[i], txs[t].seq))
					continue;
				const uint8_t *src;
				rc = ring_block(&r, p + 1 + i, &src);
				if (rc)
					goto out;
				memcpy(img, src, SFS_BLOCK_SIZE);
				rc = bdev_write(dev, tags[i] * SFS_BLOCK_SIZE, img, SFS_BLOCK_SIZE);
				if (rc) {
					log_error("fs",
						  "block %" PRIu64 ": replay write failed: %s",
						  tags[i], strerror(-rc));
					goto out;
				}
			}
			p += 1 + cnt;
		}
	}
	rc = bdev_flush(dev);
	if (rc)
		goto out;
	h.tail = pos % r.len;
	if (ntx)
		h.tail_seq = txs[ntx - 1].seq + 1;
	sfs_jhdr_encode(&h, hblk);
	sfs_blk_seal(hblk, sb->uuid, SFS_BT_JHDR, jh_blk, owner);
	rc = bdev_write(dev, jh_blk * SFS_BLOCK_SIZE, hblk, SFS_BLOCK_SIZE);
	if (!rc)
		rc = bdev_flush(dev);
	if (!rc)
		*replayed = (unsigned)ntx;
out:
	free(txs);
	free(rv);
	bdev_free(hblk);
	bdev_free(img);
	bdev_free(r.win);
	return rc;
}

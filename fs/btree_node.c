/* One B+tree node image: decode checks, search, rebuild (fs/FORMAT-dir.md). */
#include "fs/btree_int.h"

#include "common/log.h"

#include <errno.h>
#include <inttypes.h>
#include <string.h>

#define BAD(...)                                                                                   \
	do {                                                                                       \
		log_error("btree", __VA_ARGS__);                                                   \
		return -EIO;                                                                       \
	} while (0)

static bool key_zero(const struct btree_key *k)
{
	return k->hi == 0 && k->lo == 0;
}

int bn_check(const uint8_t *d, uint64_t blkno, int level, const struct bn_bound *b)
{
	unsigned lvl = bn_level(d), n = bn_nrecs(d);
	if (lvl >= BTREE_MAX_DEPTH)
		BAD("block %" PRIu64 ": node level %u too deep", blkno, lvl);
	if (level >= 0 && lvl != (unsigned)level)
		BAD("block %" PRIu64 ": node level %u, expected %d", blkno, lvl, level);
	if (le16_get(d + BN_OFF_FLAGS) != 0 || le64_get(d + BN_OFF_RSV) != 0)
		BAD("block %" PRIu64 ": node flags/reserved not zero", blkno);
	if (n == 0)
		BAD("block %" PRIu64 ": empty node", blkno);
	if (lvl == 0) {
		unsigned dstart = le16_get(d + BN_OFF_DSTART);
		if (n > BN_LEAF_MAX || BN_HDR + n * BN_LEAF_SLOT > dstart ||
		    dstart > SFS_BLOCK_SIZE)
			BAD("block %" PRIu64 ": leaf count %u / value start %u out of range", blkno,
			    n, dstart);
		/* Values are packed from the block end in slot order: each one ends
		 * where the previous one starts, the last one starts at dstart. */
		unsigned end = SFS_BLOCK_SIZE;
		for (unsigned i = 0; i < n; i++) {
			const uint8_t *s = d + BN_HDR + i * BN_LEAF_SLOT;
			unsigned voff = le16_get(s + 16), vlen = le16_get(s + 18);
			if (vlen > BTREE_MAX_VAL || vlen > end || voff != end - vlen)
				BAD("block %" PRIu64 ": record %u value at %u+%u misplaced", blkno,
				    i, voff, vlen);
			end = voff;
		}
		if (end != dstart)
			BAD("block %" PRIu64 ": value area starts at %u, header says %u", blkno,
			    end, dstart);
	} else {
		if (n > BN_INT_MAX)
			BAD("block %" PRIu64 ": %u children", blkno, n);
		if (le16_get(d + BN_OFF_DSTART) != 0)
			BAD("block %" PRIu64 ": interior value start not zero", blkno);
		struct btree_key k0 = bn_key(d, 0);
		if (!key_zero(&k0))
			BAD("block %" PRIu64 ": first separator not zero", blkno);
		for (unsigned i = 0; i < n; i++) {
			uint64_t c = bn_child(d, i);
			if (c == 0 || c == blkno)
				BAD("block %" PRIu64 ": child %u is block %" PRIu64, blkno, i, c);
		}
	}
	/* Keys strictly increasing and inside [lo, hi). Interior key 0 is the
	 * node's own lower end (stored as zero) and is skipped. */
	unsigned first = lvl ? 1 : 0;
	for (unsigned i = first; i < n; i++) {
		struct btree_key k = bn_key(d, i);
		if (i > first) {
			struct btree_key p = bn_key(d, i - 1);
			if (btree_key_cmp(&p, &k) >= 0)
				BAD("block %" PRIu64 ": keys %u and %u out of order", blkno, i - 1,
				    i);
		}
		if (b && b->has_lo) {
			int c = btree_key_cmp(&k, &b->lo);
			if (c < 0 || (lvl && c == 0))
				BAD("block %" PRIu64 ": key %u below the parent's range", blkno, i);
		}
		if (b && b->has_hi && btree_key_cmp(&k, &b->hi) >= 0)
			BAD("block %" PRIu64 ": key %u above the parent's range", blkno, i);
	}
	return 0;
}

int btree_node_check(const uint8_t *blk, uint64_t blkno, int level)
{
	return bn_check(blk, blkno, level, NULL);
}

unsigned bn_leaf_search(const uint8_t *d, const struct btree_key *k, bool *found)
{
	unsigned lo = 0, hi = bn_nrecs(d);
	*found = false;
	while (lo < hi) {
		unsigned mid = lo + (hi - lo) / 2;
		struct btree_key m = bn_key(d, mid);
		int c = btree_key_cmp(&m, k);
		if (c == 0) {
			*found = true;
			return mid;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

unsigned bn_int_search(const uint8_t *d, const struct btree_key *k)
{
	/* Last i >= 1 with key[i] <= k, else 0. */
	unsigned lo = 1, hi = bn_nrecs(d);
	while (lo < hi) {
		unsigned mid = lo + (hi - lo) / 2;
		struct btree_key m = bn_key(d, mid);
		if (btree_key_cmp(&m, k) <= 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo - 1;
}

unsigned bn_leaf_used(const uint8_t *d)
{
	return bn_nrecs(d) * BN_LEAF_SLOT + (SFS_BLOCK_SIZE - le16_get(d + BN_OFF_DSTART));
}

size_t bn_recs_used(const struct bn_rec *r, unsigned n)
{
	size_t s = 0;
	for (unsigned i = 0; i < n; i++)
		s += BN_LEAF_SLOT + r[i].len;
	return s;
}

unsigned bn_load(const uint8_t *d, struct bn_rec *r)
{
	unsigned n = bn_nrecs(d);
	for (unsigned i = 0; i < n; i++) {
		r[i].k = bn_key(d, i);
		if (bn_level(d)) {
			r[i].child = bn_child(d, i);
			r[i].v = NULL;
			r[i].len = 0;
		} else {
			r[i].v = bn_val(d, i, &r[i].len);
			r[i].child = 0;
		}
	}
	return n;
}

static void write_hdr(uint8_t *d, unsigned level, unsigned n, unsigned dstart)
{
	memset(d + SFS_BLK_HDR_SIZE, 0, SFS_BLOCK_SIZE - SFS_BLK_HDR_SIZE);
	le16_put(d + BN_OFF_LEVEL, (uint16_t)level);
	le16_put(d + BN_OFF_NRECS, (uint16_t)n);
	le16_put(d + BN_OFF_DSTART, (uint16_t)dstart);
}

void bn_write_leaf(uint8_t *d, const struct bn_rec *r, unsigned n)
{
	unsigned end = SFS_BLOCK_SIZE;
	for (unsigned i = 0; i < n; i++)
		end -= r[i].len;
	write_hdr(d, 0, n, end);
	end = SFS_BLOCK_SIZE;
	for (unsigned i = 0; i < n; i++) {
		uint8_t *s = d + BN_HDR + i * BN_LEAF_SLOT;
		end -= r[i].len;
		le64_put(s, r[i].k.hi);
		le64_put(s + 8, r[i].k.lo);
		le16_put(s + 16, (uint16_t)end);
		le16_put(s + 18, r[i].len);
		if (r[i].len)
			memcpy(d + end, r[i].v, r[i].len);
	}
}

void bn_write_int(uint8_t *d, unsigned level, const struct bn_rec *r, unsigned n)
{
	write_hdr(d, level, n, 0);
	for (unsigned i = 0; i < n; i++) {
		uint8_t *s = d + BN_HDR + i * BN_INT_SLOT;
		le64_put(s, i ? r[i].k.hi : 0);
		le64_put(s + 8, i ? r[i].k.lo : 0);
		le64_put(s + 16, r[i].child);
	}
}

/* Balanced split point of n leaf records: both halves fit and are nonempty. */
unsigned bn_leaf_split_point(const struct bn_rec *r, unsigned n, bool append)
{
	size_t total = bn_recs_used(r, n), left = 0;
	if (append && total - (BN_LEAF_SLOT + r[n - 1].len) <= BN_CAP)
		return n - 1; /* sequential appends keep left leaves full */
	unsigned best = 1;
	size_t best_max = SIZE_MAX;
	for (unsigned m = 1; m < n; m++) {
		left += BN_LEAF_SLOT + r[m - 1].len;
		size_t right = total - left;
		if (left > BN_CAP)
			break;
		if (right > BN_CAP)
			continue;
		size_t mx = left > right ? left : right;
		if (mx < best_max) {
			best_max = mx;
			best = m;
		}
	}
	return best;
}

void bn_child_bound(const uint8_t *d, unsigned i, const struct bn_bound *b, struct bn_bound *out)
{
	*out = *b;
	if (i > 0) {
		out->has_lo = true;
		out->lo = bn_key(d, i);
	}
	if (i + 1 < bn_nrecs(d)) {
		out->has_hi = true;
		out->hi = bn_key(d, i + 1);
	}
}

/* Fuzz target: the B+tree node decoder (fs/btree_node.c, btree_node_check)
 * and the two record decoders that read what a checked leaf holds: a
 * directory entry (fs/dir_rec.c) and an extent (fs/extent.c). Input byte 0
 * is a mode: bit 0 accepts any level, else bits 1-3 give the level the
 * parent expects; the rest is one 4096-byte block. Never a crash; a node
 * that passes keeps every key slot, value and child inside the block, in
 * key order; a record that decodes is within its limits. */
#include <stdint.h>
#include <string.h>

#include "fs/btree.h"
#include "fs/btree_int.h"
#include "fs/dir.h"
#include "fs/extent.h"
#include "fs/format.h"
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const uint8_t seed[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};

static void leaf_records(const uint8_t *blk)
{
	unsigned n = bn_nrecs(blk);
	for (unsigned i = 0; i < n; i++) {
		uint16_t len;
		const uint8_t *v = bn_val(blk, i, &len);
		FUZZ_CHECK(len <= BTREE_MAX_VAL && v >= blk + BN_HDR && v + len <= blk + 4096);
		struct btree_key k = bn_key(blk, i);
		if (i) {
			struct btree_key p = bn_key(blk, i - 1);
			FUZZ_CHECK(btree_key_cmp(&p, &k) < 0);
		}
		struct dir_rec dr;
		if (dir_rec_decode(NULL, 5, &k, v, len, &dr) == 0) {
			FUZZ_CHECK(dr.ino != 0 && dr.namelen == strlen(dr.name));
			FUZZ_CHECK(dr.namelen >= 1 && dr.namelen <= DIR_NAME_MAX);
		}
		(void)dir_rec_decode(seed, 5, &k, v, len, &dr);
		struct sfs_extent e;
		if (extent_val_decode(k.hi, v, len, 5, &e) == 0)
			FUZZ_CHECK(e.len > 0 && e.pblk != 0 && e.lblk == k.hi);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t blk[SFS_BLOCK_SIZE];
	log_set_level((enum log_level) - 1);
	if (!fuzz_copy(data, size, blk))
		return 0;
	int level = (data[0] & 1) ? -1 : (data[0] >> 1) & 7;
	if (btree_node_check(blk, 7, level) != 0)
		return 0;
	FUZZ_CHECK(level < 0 || bn_level(blk) == (unsigned)level);
	unsigned n = bn_nrecs(blk);
	if (bn_level(blk) == 0) {
		FUZZ_CHECK(n <= BN_LEAF_MAX);
		leaf_records(blk);
		return 0;
	}
	FUZZ_CHECK(n >= 1 && n <= BN_INT_MAX);
	for (unsigned i = 0; i < n; i++) {
		FUZZ_CHECK(bn_child(blk, i) != 0 && bn_child(blk, i) != 7);
		if (i < 2)
			continue; /* separator 0 is the node's own (zero) lower end */
		struct btree_key p = bn_key(blk, i - 1), k = bn_key(blk, i);
		FUZZ_CHECK(btree_key_cmp(&p, &k) < 0);
	}
	return 0;
}

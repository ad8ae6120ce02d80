/* The directory name hash (dir.h): SipHash-2-4 keyed with the filesystem's
 * seed, cut to DIR_HASH_BITS; and the cookie arithmetic. */
#include "fs/dir.h"

#include "common/endian_le.h"

#define ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))
#define SIPROUND                                                                                   \
	do {                                                                                       \
		v0 += v1;                                                                          \
		v1 = ROTL(v1, 13);                                                                 \
		v1 ^= v0;                                                                          \
		v0 = ROTL(v0, 32);                                                                 \
		v2 += v3;                                                                          \
		v3 = ROTL(v3, 16);                                                                 \
		v3 ^= v2;                                                                          \
		v0 += v3;                                                                          \
		v3 = ROTL(v3, 21);                                                                 \
		v3 ^= v0;                                                                          \
		v2 += v1;                                                                          \
		v1 = ROTL(v1, 17);                                                                 \
		v1 ^= v2;                                                                          \
		v2 = ROTL(v2, 32);                                                                 \
	} while (0)

uint64_t dir_siphash24(const uint8_t key[16], const void *msg, size_t len)
{
	const uint8_t *in = msg;
	uint64_t k0 = le64_get(key), k1 = le64_get(key + 8);
	uint64_t v0 = 0x736f6d6570736575ull ^ k0, v1 = 0x646f72616e646f6dull ^ k1;
	uint64_t v2 = 0x6c7967656e657261ull ^ k0, v3 = 0x7465646279746573ull ^ k1;
	size_t full = len - len % 8;
	for (size_t i = 0; i < full; i += 8) {
		uint64_t m = le64_get(in + i);
		v3 ^= m;
		SIPROUND;
		SIPROUND;
		v0 ^= m;
	}
	uint64_t b = (uint64_t)len << 56;
	for (size_t i = 0; i < len % 8; i++)
		b |= (uint64_t)in[full + i] << (8 * i);
	v3 ^= b;
	SIPROUND;
	SIPROUND;
	v0 ^= b;
	v2 ^= 0xff;
	SIPROUND;
	SIPROUND;
	SIPROUND;
	SIPROUND;
	return v0 ^ v1 ^ v2 ^ v3;
}

uint64_t dir_hash(const uint8_t seed[16], const char *name, size_t len)
{
	uint64_t h = dir_siphash24(seed, name, len) >> (64 - DIR_HASH_BITS);
	/* Keep 0 (cookies 0..127 hold ".", "..") and the top value (its last
	 * cookie + 1 would leave 63 bits) free. */
	if (h == 0)
		h = 1;
	if (h == (1ull << DIR_HASH_BITS) - 1)
		h--;
	return h;
}

uint64_t dir_cookie_after(const struct btree_key *k)
{
	return ((k->hi << DIR_CTR_BITS) | k->lo) + 1;
}

#include "locks/dlm_master.h"

/* 64-bit FNV-1a, then a finaliser (splitmix64) for a good spread. */
static uint64_t mix64(uint64_t x)
{
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ull;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebull;
	x ^= x >> 31;
	return x;
}

uint64_t dlm_name_hash(const void *name, size_t len)
{
	const unsigned char *p = name;
	uint64_t h = 0xcbf29ce484222325ull;
	for (size_t i = 0; i < len; i++) {
		h ^= p[i];
		h *= 0x100000001b3ull;
	}
	return mix64(h);
}

uint32_t dlm_master_of(uint64_t name_hash, const uint32_t *members, size_t n)
{
	uint32_t best = 0;
	uint64_t best_w = 0;
	for (size_t i = 0; i < n; i++) {
		uint64_t w = mix64(name_hash ^ mix64((uint64_t)members[i] + 0x9e3779b97f4a7c15ull));
		/* Ties (astronomically rare) go to the lower id, in any order. */
		if (i == 0 || w > best_w || (w == best_w && members[i] < best)) {
			best = members[i];
			best_w = w;
		}
	}
	return best;
}

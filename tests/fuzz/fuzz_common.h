/* Shared by the fuzz targets: turn an input into one 4096-byte block.
 * Input byte 0 is a mode; the rest is the block (zero-padded, truncated).
 * With mode bit 0 set, the CRC32C at bytes 4092..4095 is recomputed after
 * the copy, so the fuzzer reaches the field checks behind the checksum. */
#ifndef SANFS_TESTS_FUZZ_COMMON_H
#define SANFS_TESTS_FUZZ_COMMON_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "common/crc32c.h"
#include "common/endian_le.h"
#include "common/log.h"

/* The block part alone, without the CRC: false for an empty input (no mode
 * byte; block is then all zero). */
static inline bool fuzz_copy(const uint8_t *data, size_t size, uint8_t block[4096])
{
	memset(block, 0, 4096);
	if (size == 0)
		return false;
	size_t n = size - 1 < 4096 ? size - 1 : 4096;
	memcpy(block, data + 1, n);
	return true;
}

static inline void fuzz_block(const uint8_t *data, size_t size, uint8_t block[4096])
{
	if (fuzz_copy(data, size, block) && (data[0] & 1))
		le32_put(block + 4092, crc32c(0, block, 4092));
}

/* Decoders log a warning per bad block: keep the fuzzer's output readable. */
static inline void fuzz_quiet(void)
{
	log_set_level(LOG_ERROR);
}

#define FUZZ_CHECK(cond)                                                                           \
	do {                                                                                       \
		if (!(cond))                                                                       \
			__builtin_trap();                                                          \
	} while (0)

#endif

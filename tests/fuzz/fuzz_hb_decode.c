/* Fuzz target: bdev_hb_decode. Any bytes give 0 or an error, never a crash;
 * a decoded block re-encodes at its own offset to one that decodes the same. */
#include "blockdev/bdev.h"
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t block[4096], again[4096];
	struct bdev_hb h, g;
	fuzz_quiet();
	int rc = bdev_hb_decode(data, size, UINT64_MAX, &h);
	FUZZ_CHECK(rc == 0 || rc == -EINVAL || rc == -ENODATA || rc == -EBADMSG || rc == -ENOTSUP);
	fuzz_block(data, size, block);
	uint64_t off = le64_get(block + 16);
	rc = bdev_hb_decode(block, sizeof(block), UINT64_MAX, &h);
	FUZZ_CHECK(rc == 0 || rc == -ENODATA || rc == -EBADMSG || rc == -ENOTSUP);
	if (rc == 0) {
		/* The stored offset is checked when one is expected. */
		FUZZ_CHECK(bdev_hb_decode(block, sizeof(block), off, &g) == 0);
		FUZZ_CHECK(bdev_hb_decode(block, sizeof(block), off + 4096, &g) == -EBADMSG);
		FUZZ_CHECK(bdev_hb_encode(&h, off, again) == 0);
		memset(&g, 0xff, sizeof(g));
		FUZZ_CHECK(bdev_hb_decode(again, sizeof(again), off, &g) == 0);
		FUZZ_CHECK(memcmp(&h, &g, sizeof(h)) == 0);
		(void)bdev_hb_newer(&h, &g);
		(void)bdev_hb_state_name(h.state);
	}
	return 0;
}
